// The Asio client against a real mosquitto started by the test
// (tests/support/mosquitto_broker.hpp): every QoS both ways in 3.1, 3.1.1
// and 5.0, a permanent refusal, reconnect after the broker is killed, the
// offline queue, keep alive against a stopped broker, and the completion
// token flavours (callbacks, use_future, use_awaitable).
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>

#include <ctmqtt/client/client.hpp>

#include "../support/mosquitto_broker.hpp"

using namespace ctmqtt;
using namespace std::chrono_literals;
using ctmqtt_test::mosquitto_broker;

namespace {

// Runs the io_context until `done` holds or `limit` passes; false on timeout.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds limit = 5s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    io.restart();
    while (!done()) {
        if (std::chrono::steady_clock::now() >= end)
            return false;
        io.run_for(10ms);
        io.restart();
    }
    return true;
}

client_options options_for(const mosquitto_broker& broker, protocol_version v, std::string id) {
    client_options o;
    o.host = broker.host();
    o.port = broker.port();
    o.version = v;
    o.client_id = std::move(id);
    o.reconnect_delays = {50ms, 100ms, 200ms};
    o.connect_timeout = 2s;
    return o;
}

message make_message(std::string topic, std::string text, qos q) {
    message m;
    m.topic = std::move(topic);
    m.payload.resize(text.size());
    std::memcpy(m.payload.data(), text.data(), text.size());
    m.qos = q;
    return m;
}

struct collector {
    std::vector<message> messages;
    void start(client& c) {
        c.async_receive([this, &c](std::error_code ec, message m) {
            if (ec)
                return;
            messages.push_back(std::move(m));
            start(c);
        });
    }
};

bool connect_and_wait(boost::asio::io_context& io, client& c, std::error_code& result) {
    bool done = false;
    c.async_connect([&](std::error_code ec) {
        result = ec;
        done = true;
    });
    return run_until(io, [&] { return done; });
}

bool subscribe_and_wait(boost::asio::io_context& io, client& c, const std::string& filter, qos q) {
    bool done = false;
    bool ok = false;
    c.async_subscribe(filter, q, [&](std::error_code ec, std::vector<suback_reason_code> codes) {
        ok = !ec && codes.size() == 1 && !codes[0].is_error();
        done = true;
    });
    return run_until(io, [&] { return done; }) && ok;
}

} // namespace

TEST_CASE("client: every QoS both ways, in 3.1, 3.1.1 and 5.0", "[client]") {
    mosquitto_broker broker;
    for (auto v : {protocol_version::v3_1, protocol_version::v3_1_1, protocol_version::v5}) {
        INFO("version " << to_string(v));
        boost::asio::io_context io;
        client c(io.get_executor(), options_for(broker, v, "qos-" + std::string{to_string(v)}));
        std::error_code ec;
        REQUIRE(connect_and_wait(io, c, ec));
        REQUIRE_FALSE(ec);
        REQUIRE(subscribe_and_wait(io, c, "t/#", qos::exactly_once));
        collector inbox;
        inbox.start(c);
        std::vector<std::error_code> results;
        for (auto q : {qos::at_most_once, qos::at_least_once, qos::exactly_once}) {
            c.async_publish(make_message("t/" + std::to_string(static_cast<int>(q)), "payload", q),
                            [&](std::error_code e) { results.push_back(e); });
        }
        REQUIRE(run_until(io, [&] { return inbox.messages.size() == 3 && results.size() == 3; }));
        for (const auto& r : results)
            CHECK_FALSE(r);
        for (const auto& m : inbox.messages) {
            CHECK(m.payload_text() == "payload");
            CHECK(m.topic == "t/" + std::to_string(static_cast<int>(m.qos)));
        }
        bool disconnected = false;
        c.async_disconnect([&](std::error_code e) {
            CHECK_FALSE(e);
            disconnected = true;
        });
        REQUIRE(run_until(io, [&] { return disconnected; }));
    }
}

TEST_CASE("client: user properties travel in MQTT 5", "[client]") {
    mosquitto_broker broker;
    boost::asio::io_context io;
    client c(io.get_executor(), options_for(broker, protocol_version::v5, "props"));
    std::error_code ec;
    REQUIRE(connect_and_wait(io, c, ec));
    REQUIRE(subscribe_and_wait(io, c, "p", qos::at_least_once));
    collector inbox;
    inbox.start(c);
    auto m = make_message("p", "x", qos::at_least_once);
    m.user_properties = {{"sensor", "t-17"}, {"unit", "C"}};
    c.async_publish(m, [](std::error_code) {});
    REQUIRE(run_until(io, [&] { return inbox.messages.size() == 1; }));
    REQUIRE(inbox.messages[0].user_properties.size() == 2);
    CHECK(inbox.messages[0].user_properties[0].first == "sensor");
    CHECK(inbox.messages[0].user_properties[1].second == "C");
}

TEST_CASE("client: a permanent refusal is reported and not retried", "[client]") {
    mosquitto_broker broker({.allow_anonymous = false});
    for (auto v : {protocol_version::v3_1_1, protocol_version::v5}) {
        boost::asio::io_context io;
        client c(io.get_executor(), options_for(broker, v, "refused"));
        std::error_code ec;
        REQUIRE(connect_and_wait(io, c, ec));
        REQUIRE(ec);
        CHECK_THAT(ec.message(),
                   Catch::Contains("connection refused: ") && Catch::Contains("ot authorized"));
        CHECK_THAT(ec.message(),
                   Catch::Contains(v == protocol_version::v5 ? "(CONNACK 0x87)"
                                                             : "(CONNACK return code 5)"));
        // No retry: the log shows one connection from this client.
        io.restart();
        io.run_for(400ms);
        CHECK_FALSE(c.connected());
    }
}

TEST_CASE("client: reconnects after the broker is killed, restores subscriptions, sends the "
          "offline queue",
          "[client][reconnect]") {
    mosquitto_broker broker;
    boost::asio::io_context io;
    client c(io.get_executor(), options_for(broker, protocol_version::v5, "reconnect"));
    std::error_code ec;
    REQUIRE(connect_and_wait(io, c, ec));
    REQUIRE(subscribe_and_wait(io, c, "r/#", qos::at_least_once));
    collector inbox;
    inbox.start(c);

    broker.kill();
    REQUIRE(run_until(io, [&] { return !c.connected(); }));
    // Published while disconnected: waits in the offline queue, sent in order after reconnect.
    std::vector<std::error_code> results;
    for (int i = 0; i < 3; ++i)
        c.async_publish(make_message("r/" + std::to_string(i), "queued", qos::at_least_once),
                        [&](std::error_code e) { results.push_back(e); });
    io.restart();
    io.run_for(100ms);
    CHECK(results.empty());
    broker.start();
    REQUIRE(run_until(
        io, [&] { return inbox.messages.size() == 3 && results.size() == 3; }, 10s));
    for (int i = 0; i < 3; ++i)
        CHECK(inbox.messages[static_cast<std::size_t>(i)].topic == "r/" + std::to_string(i));
    for (const auto& r : results)
        CHECK_FALSE(r);
}

TEST_CASE("client: the offline queue is bounded", "[client][reconnect]") {
    mosquitto_broker broker;
    boost::asio::io_context io;
    auto o = options_for(broker, protocol_version::v3_1_1, "bounded");
    o.offline_queue_messages = 2;
    client c(io.get_executor(), o);
    broker.stop();
    std::vector<std::error_code> results;
    for (int i = 0; i < 3; ++i)
        c.async_publish(make_message("q", "m", qos::at_least_once),
                        [&](std::error_code e) { results.push_back(e); });
    REQUIRE(run_until(io, [&] { return results.size() == 1; }));
    CHECK(results[0] == make_error_code(client_errc::offline_queue_full));
    CHECK_THAT(results[0].message(), Catch::Contains("offline queue is full"));
}

TEST_CASE("client: keep alive notices a broker that stopped answering", "[client][keepalive]") {
    mosquitto_broker broker;
    boost::asio::io_context io;
    auto o = options_for(broker, protocol_version::v5, "keepalive");
    o.keep_alive = 1;
    client c(io.get_executor(), o);
    std::error_code ec;
    REQUIRE(connect_and_wait(io, c, ec));
    REQUIRE_FALSE(ec);
    const auto connack_at = std::chrono::steady_clock::now(); // the last packet from the broker
    broker.pause();
    REQUIRE(run_until(
        io, [&] { return !c.connected(); }, 4s));
    const auto silent = std::chrono::steady_clock::now() - connack_at;
    CHECK(silent >= 1400ms); // dead only after 1.5 × keep alive without a packet
    CHECK(silent < 3s);
    broker.resume();
    REQUIRE(run_until(
        io, [&] { return c.connected(); }, 5s));
}

TEST_CASE("client: completion tokens: use_future and use_awaitable", "[client]") {
    mosquitto_broker broker;
    boost::asio::io_context io;
    client c(io.get_executor(), options_for(broker, protocol_version::v5, "tokens"));
    std::thread runner;
    auto guard = boost::asio::make_work_guard(io);
    runner = std::thread([&] { io.run(); });

    auto connected = c.async_connect(boost::asio::use_future);
    REQUIRE(connected.wait_for(5s) == std::future_status::ready);
    connected.get();
    auto published =
        c.async_publish(make_message("f", "x", qos::at_least_once), boost::asio::use_future);
    REQUIRE(published.wait_for(5s) == std::future_status::ready);
    published.get();

    std::promise<std::string> result;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            auto codes =
                co_await c.async_subscribe("co", qos::at_least_once, boost::asio::use_awaitable);
            co_await c.async_publish(make_message("co", "from a coroutine", qos::at_least_once),
                                     boost::asio::use_awaitable);
            auto m = co_await c.async_receive(boost::asio::use_awaitable);
            result.set_value(std::to_string(codes.size()) + ":" + std::string{m.payload_text()});
        },
        boost::asio::detached);
    auto f = result.get_future();
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    CHECK(f.get() == "1:from a coroutine");
    guard.reset();
    io.stop();
    runner.join();
}
