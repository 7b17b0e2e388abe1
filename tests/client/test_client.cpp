// The Asio client against a real mosquitto started by the test
// (tests/support/mosquitto_broker.hpp): every QoS both ways in 3.1, 3.1.1
// and 5.0, a permanent refusal, reconnect after the broker is killed, the
// offline queue, keep alive against a stopped broker, and the completion
// token flavours (callbacks, use_future, use_awaitable).
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <optional>
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

#include "../support/client_support.hpp"
#include "../support/mosquitto_broker.hpp"

using namespace ctmqtt;
using namespace std::chrono_literals;
using ctmqtt_test::mosquitto_broker;
using ctmqtt_test::options_for;
using ctmqtt_test::run_until;

namespace {

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
    auto guard = boost::asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    // Stops and joins the runner however the test ends (a failed REQUIRE throws;
    // a joinable std::thread destroyed by that unwinding would call terminate).
    struct joiner {
        boost::asio::io_context& io;
        std::thread& t;
        ~joiner() {
            io.stop();
            if (t.joinable())
                t.join();
        }
    } join_at_exit{io, runner};

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
            // An error must fail the test, not escape io.run() on the runner thread (terminate).
            try {
                auto codes = co_await c.async_subscribe("co", qos::at_least_once,
                                                        boost::asio::use_awaitable);
                co_await c.async_publish(make_message("co", "from a coroutine", qos::at_least_once),
                                         boost::asio::use_awaitable);
                auto m = co_await c.async_receive(boost::asio::use_awaitable);
                result.set_value(std::to_string(codes.size()) + ":" +
                                 std::string{m.payload_text()});
            } catch (const boost::system::system_error& e) {
                result.set_value(std::string{"error: "} + e.code().message());
            }
        },
        boost::asio::detached);
    auto f = result.get_future();
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    CHECK(f.get() == "1:from a coroutine");
    guard.reset();
}

namespace {

bool disconnect_and_wait(boost::asio::io_context& io, client& c) {
    bool done = false;
    c.async_disconnect([&](std::error_code) { done = true; });
    return run_until(io, [&] { return done; });
}

std::vector<std::byte> bytes_of(std::string_view text) {
    std::vector<std::byte> out(text.size());
    std::memcpy(out.data(), text.data(), text.size());
    return out;
}

} // namespace

TEST_CASE("client: will on abnormal disconnect, none on a normal one", "[client][will]") {
    mosquitto_broker broker;
    for (auto v : {protocol_version::v3_1_1, protocol_version::v5}) {
        INFO("version " << to_string(v));
        boost::asio::io_context io;
        const std::string tag{to_string(v)};
        client watcher(io.get_executor(), options_for(broker, v, "will-watcher-" + tag));
        std::error_code ec;
        REQUIRE(connect_and_wait(io, watcher, ec));
        REQUIRE_FALSE(ec);
        REQUIRE(subscribe_and_wait(io, watcher, "will/" + tag + "/#", qos::at_least_once));
        collector inbox;
        inbox.start(watcher);

        // A normal DISCONNECT: no will. The watcher's own marker, published
        // after the DISCONNECT went out, arrives and nothing before it.
        {
            auto o = options_for(broker, v, "will-polite-" + tag);
            o.will = make_message("will/" + tag + "/polite", "polite died", qos::at_least_once);
            client polite(io.get_executor(), o);
            REQUIRE(connect_and_wait(io, polite, ec));
            REQUIRE_FALSE(ec);
            REQUIRE(disconnect_and_wait(io, polite));
            watcher.async_publish(
                make_message("will/" + tag + "/marker", "marker", qos::at_least_once),
                [](std::error_code) {});
            REQUIRE(run_until(io, [&] { return inbox.messages.size() == 1; }));
            CHECK(inbox.messages[0].topic == "will/" + tag + "/marker");
            inbox.messages.clear();
        }

        // The transport closes without DISCONNECT: the broker publishes the will.
        auto o = options_for(broker, v, "will-crash-" + tag);
        auto will = make_message("will/" + tag + "/crash", "crashed", qos::at_least_once);
        if (v == protocol_version::v5) {
            will.content_type = "text/plain";
            will.user_properties = {{"reason", "test"}};
        }
        o.will = will;
        o.reconnect_delays = {}; // stays down, as a crashed process would
        client crasher(io.get_executor(), o);
        REQUIRE(connect_and_wait(io, crasher, ec));
        REQUIRE_FALSE(ec);
        crasher.abort_connection();
        REQUIRE(run_until(io, [&] { return inbox.messages.size() == 1; }));
        const auto& m = inbox.messages[0];
        CHECK(m.topic == "will/" + tag + "/crash");
        CHECK(m.payload_text() == "crashed");
        if (v == protocol_version::v5) {
            CHECK(m.content_type == std::optional<std::string>{"text/plain"});
            REQUIRE(m.user_properties.size() == 1);
            CHECK(m.user_properties[0].second == "test");
        }
        CHECK_FALSE(crasher.connected());
        REQUIRE(disconnect_and_wait(io, watcher));
    }
}

TEST_CASE("client: a persistent session survives a broker restart: QoS 1 at least once, QoS "
          "2 exactly once",
          "[client][reconnect][persistence]") {
    // No outbound inflight limit: mosquitto 2.0.11 (older than 2.0.13's inflight quota fixes)
    // does not deliver QoS 1 messages that were queued behind a full quota when it saved
    // them, after a restart.
    mosquitto_broker broker({.persistence = true, .extra_config = {"max_inflight_messages 0"}});
    constexpr int n = 50;
    for (auto v : {protocol_version::v5, protocol_version::v3_1_1}) {
        INFO("version " << to_string(v));
        const std::string tag{to_string(v)};
        boost::asio::io_context io;
        auto persistent = [&](std::string id) {
            auto o = options_for(broker, v, std::move(id));
            if (v == protocol_version::v5)
                o.session_expiry_interval = 300; // clean start only the first time
            else
                o.clean_start = false;
            return o;
        };
        client sub(io.get_executor(), persistent("persist-sub-" + tag));
        client pub(io.get_executor(), persistent("persist-pub-" + tag));
        std::error_code ec;
        REQUIRE(connect_and_wait(io, sub, ec));
        REQUIRE_FALSE(ec);
        REQUIRE(connect_and_wait(io, pub, ec));
        REQUIRE_FALSE(ec);
        const std::string q1 = "persist/" + tag + "/q1";
        const std::string q2 = "persist/" + tag + "/q2";
        REQUIRE(subscribe_and_wait(io, sub, q1, qos::at_least_once));
        REQUIRE(subscribe_and_wait(io, sub, q2, qos::exactly_once));
        collector inbox;
        inbox.start(sub);

        std::vector<std::error_code> results;
        auto publish = [&](int i) {
            pub.async_publish(make_message(q1, std::to_string(i), qos::at_least_once),
                              [&](std::error_code e) { results.push_back(e); });
            pub.async_publish(make_message(q2, std::to_string(i), qos::exactly_once),
                              [&](std::error_code e) { results.push_back(e); });
        };
        for (int i = 0; i < n / 2; ++i)
            publish(i);
        // Some messages are through, others still in flight, when the broker goes down.
        REQUIRE(run_until(io, [&] { return inbox.messages.size() >= 10; }));
        broker.stop();
        for (int i = n / 2; i < n; ++i)
            publish(i);
        io.restart();
        io.run_for(50ms); // both clients notice the broker is gone
        broker.start();
        // The last message on q2 comes after every resend: duplicates would arrive before it.
        pub.async_publish(make_message(q2, "end", qos::exactly_once),
                          [&](std::error_code e) { results.push_back(e); });
        const bool settled = run_until(
            io,
            [&] {
                return results.size() == 2 * n + 1 && !inbox.messages.empty() &&
                       inbox.messages.back().payload_text() == "end";
            },
            8s);
        INFO("results " << results.size() << " received " << inbox.messages.size()
                        << (inbox.messages.empty()
                                ? ""
                                : " last " + std::string{inbox.messages.back().payload_text()}));
        REQUIRE(settled);
        for (const auto& r : results)
            CHECK_FALSE(r);
        std::vector<int> seen1(n, 0);
        std::vector<int> seen2(n, 0);
        for (const auto& m : inbox.messages) {
            if (m.payload_text() == "end")
                continue;
            const int i = std::stoi(std::string{m.payload_text()});
            REQUIRE(i >= 0);
            REQUIRE(i < n);
            ++(m.topic == q1 ? seen1 : seen2)[static_cast<std::size_t>(i)];
        }
        for (int i = 0; i < n; ++i) {
            INFO("message " << i);
            CHECK(seen1[static_cast<std::size_t>(i)] >= 1); // QoS 1: none lost
            CHECK(seen2[static_cast<std::size_t>(i)] == 1); // QoS 2: exactly once
        }
        REQUIRE(disconnect_and_wait(io, sub));
        REQUIRE(disconnect_and_wait(io, pub));
    }
}

TEST_CASE("client: a retained message reaches a later subscriber with retain set",
          "[client][retain]") {
    mosquitto_broker broker;
    for (auto v : {protocol_version::v3_1_1, protocol_version::v5}) {
        INFO("version " << to_string(v));
        const std::string tag{to_string(v)};
        boost::asio::io_context io;
        client pub(io.get_executor(), options_for(broker, v, "retain-pub-" + tag));
        std::error_code ec;
        REQUIRE(connect_and_wait(io, pub, ec));
        REQUIRE_FALSE(ec);
        auto m = make_message("retained/" + tag, "last known", qos::at_least_once);
        m.retain = true;
        bool published = false;
        pub.async_publish(m, [&](std::error_code e) {
            CHECK_FALSE(e);
            published = true;
        });
        REQUIRE(run_until(io, [&] { return published; }));

        client sub(io.get_executor(), options_for(broker, v, "retain-sub-" + tag));
        REQUIRE(connect_and_wait(io, sub, ec));
        REQUIRE_FALSE(ec);
        collector inbox;
        inbox.start(sub);
        REQUIRE(subscribe_and_wait(io, sub, "retained/" + tag, qos::at_least_once));
        REQUIRE(run_until(io, [&] { return inbox.messages.size() == 1; }));
        CHECK(inbox.messages[0].retain);
        CHECK(inbox.messages[0].payload_text() == "last known");
        // A live message to the same topic is not flagged retained.
        pub.async_publish(make_message("retained/" + tag, "live", qos::at_least_once),
                          [](std::error_code) {});
        REQUIRE(run_until(io, [&] { return inbox.messages.size() == 2; }));
        CHECK_FALSE(inbox.messages[1].retain);
    }
}

TEST_CASE("client: a 16 MiB payload round trip at QoS 1", "[client][large]") {
    mosquitto_broker broker;
    boost::asio::io_context io;
    client c(io.get_executor(), options_for(broker, protocol_version::v5, "large"));
    std::error_code ec;
    REQUIRE(connect_and_wait(io, c, ec));
    REQUIRE_FALSE(ec);
    REQUIRE(subscribe_and_wait(io, c, "big", qos::at_least_once));
    collector inbox;
    inbox.start(c);
    message m;
    m.topic = "big";
    m.qos = qos::at_least_once;
    m.payload.resize(16u * 1024 * 1024);
    for (std::size_t i = 0; i < m.payload.size(); ++i)
        m.payload[i] = static_cast<std::byte>((i * 31 + i / 4096) & 0xff);
    std::optional<std::error_code> result;
    c.async_publish(m, [&](std::error_code e) { result = e; });
    REQUIRE(run_until(
        io, [&] { return result && inbox.messages.size() == 1; }, 15s));
    CHECK_FALSE(*result);
    CHECK(inbox.messages[0].payload.size() == m.payload.size());
    CHECK(inbox.messages[0].payload == m.payload); // assembled from 16 KiB reads
}

TEST_CASE("client: a shared subscription splits messages between its members (MQTT 5)",
          "[client][shared]") {
    mosquitto_broker broker;
    boost::asio::io_context io;
    client a(io.get_executor(), options_for(broker, protocol_version::v5, "shared-a"));
    client b(io.get_executor(), options_for(broker, protocol_version::v5, "shared-b"));
    client pub(io.get_executor(), options_for(broker, protocol_version::v5, "shared-pub"));
    std::error_code ec;
    for (client* c : {&a, &b, &pub}) {
        REQUIRE(connect_and_wait(io, *c, ec));
        REQUIRE_FALSE(ec);
    }
    REQUIRE(subscribe_and_wait(io, a, "$share/g/s/#", qos::at_least_once));
    REQUIRE(subscribe_and_wait(io, b, "$share/g/s/#", qos::at_least_once));
    collector inbox_a;
    collector inbox_b;
    inbox_a.start(a);
    inbox_b.start(b);
    constexpr int n = 20;
    int done = 0;
    for (int i = 0; i < n; ++i)
        pub.async_publish(make_message("s/" + std::to_string(i), "x", qos::at_least_once),
                          [&](std::error_code e) {
                              CHECK_FALSE(e);
                              ++done;
                          });
    REQUIRE(run_until(
        io, [&] { return done == n && inbox_a.messages.size() + inbox_b.messages.size() >= n; }));
    std::vector<int> seen(n, 0);
    for (const auto* inbox : {&inbox_a, &inbox_b})
        for (const auto& m : inbox->messages)
            ++seen[static_cast<std::size_t>(std::stoi(m.topic.substr(2)))];
    for (int i = 0; i < n; ++i)
        CHECK(seen[static_cast<std::size_t>(i)] == 1);
    CHECK_FALSE(inbox_a.messages.empty());
    CHECK_FALSE(inbox_b.messages.empty());
}

TEST_CASE("client: request/response with response topic and correlation data (MQTT 5)",
          "[client][request]") {
    mosquitto_broker broker;
    boost::asio::io_context io;
    client requester(io.get_executor(), options_for(broker, protocol_version::v5, "requester"));
    client responder(io.get_executor(), options_for(broker, protocol_version::v5, "responder"));
    std::error_code ec;
    for (client* c : {&requester, &responder}) {
        REQUIRE(connect_and_wait(io, *c, ec));
        REQUIRE_FALSE(ec);
    }
    REQUIRE(subscribe_and_wait(io, responder, "service/time", qos::at_least_once));
    REQUIRE(subscribe_and_wait(io, requester, "reply/requester", qos::at_least_once));

    // The responder answers every request on its response topic, with its correlation data.
    std::optional<message> request;
    responder.async_receive([&](std::error_code e, message m) {
        REQUIRE_FALSE(e);
        request = m;
        REQUIRE(m.response_topic);
        auto reply = make_message(*m.response_topic, "12:00", qos::at_least_once);
        reply.correlation_data = m.correlation_data;
        reply.content_type = "text/plain";
        responder.async_publish(std::move(reply), [](std::error_code) {});
    });
    std::optional<message> response;
    requester.async_receive([&](std::error_code e, message m) {
        CHECK_FALSE(e);
        response = std::move(m);
    });

    auto req = make_message("service/time", "what time is it?", qos::at_least_once);
    req.response_topic = "reply/requester";
    req.correlation_data = bytes_of("request-42");
    req.content_type = "text/plain";
    req.message_expiry_interval = 60;
    requester.async_publish(req, [](std::error_code e) { CHECK_FALSE(e); });
    REQUIRE(run_until(io, [&] { return response.has_value(); }));

    REQUIRE(request);
    CHECK(request->response_topic == std::optional<std::string>{"reply/requester"});
    CHECK(request->correlation_data == req.correlation_data);
    CHECK(request->content_type == std::optional<std::string>{"text/plain"});
    REQUIRE(request->message_expiry_interval);
    CHECK(*request->message_expiry_interval <= 60);
    CHECK(*request->message_expiry_interval >= 58);
    CHECK(response->payload_text() == "12:00");
    CHECK(response->correlation_data == req.correlation_data);
    CHECK(response->content_type == std::optional<std::string>{"text/plain"});
    CHECK_FALSE(response->response_topic);
    CHECK_FALSE(response->message_expiry_interval);
}

TEST_CASE("client: a burst of QoS 0 publishes arrives whole and in order", "[client]") {
    // Publishing faster than the socket drains makes the session's output grow while a
    // write is in flight; the bytes being written must not move (they once did).
    mosquitto_broker broker;
    boost::asio::io_context io;
    client sub(io.get_executor(), options_for(broker, protocol_version::v5, "burst-sub"));
    client pub(io.get_executor(), options_for(broker, protocol_version::v5, "burst-pub"));
    std::error_code ec;
    REQUIRE(connect_and_wait(io, sub, ec));
    REQUIRE(connect_and_wait(io, pub, ec));
    REQUIRE(subscribe_and_wait(io, sub, "burst", qos::at_most_once));
    collector inbox;
    inbox.start(sub);
    constexpr int count = 5000;
    int completed = 0;
    for (int i = 0; i < count; ++i)
        pub.async_publish(make_message("burst", std::to_string(i), qos::at_most_once),
                          [&](std::error_code e) {
                              CHECK_FALSE(e);
                              ++completed;
                          });
    REQUIRE(run_until(
        io, [&] { return inbox.messages.size() == count; }, 20s));
    CHECK(completed == count);
    for (int i = 0; i < count; ++i) {
        if (inbox.messages[static_cast<std::size_t>(i)].payload_text() != std::to_string(i)) {
            FAIL("message " << i << " out of order or corrupt");
        }
    }
    CHECK(pub.connected());
}

TEST_CASE("client: without reconnect, publishes waiting for a connection fail instead of hanging",
          "[client]") {
    mosquitto_broker broker;
    boost::asio::io_context io;
    auto o = options_for(broker, protocol_version::v3_1_1, "no-reconnect");
    o.reconnect_delays.clear();
    client c(io.get_executor(), o);
    std::error_code ec;
    REQUIRE(connect_and_wait(io, c, ec));
    broker.kill();
    REQUIRE(run_until(io, [&] { return !c.connected(); }));
    std::vector<std::error_code> results;
    c.async_publish(make_message("x", "y", qos::at_least_once),
                    [&](std::error_code e) { results.push_back(e); });
    REQUIRE(run_until(io, [&] { return results.size() == 1; }));
    CHECK(results[0]);
}

TEST_CASE(
    "client: connection state: connected, lost, retrying, connected; gave up after a disconnect",
    "[client][state]") {
    mosquitto_broker broker;
    boost::asio::io_context io;
    auto o = options_for(broker, protocol_version::v5, "state");
    std::vector<connection_state> states;
    o.on_state = [&](const connection_state& s) { states.push_back(s); };
    client c(io.get_executor(), o);
    std::error_code ec;
    REQUIRE(connect_and_wait(io, c, ec));
    REQUIRE(states.size() == 1);
    CHECK(states[0].what == connection_state::kind::connected);
    broker.kill();
    REQUIRE(run_until(io, [&] { return states.size() >= 3; }));
    CHECK(states[1].what == connection_state::kind::lost);
    CHECK(states[1].error);
    CHECK(states[2].what == connection_state::kind::retrying);
    CHECK(states[2].retry_in == 50ms);
    broker.start();
    REQUIRE(run_until(
        io,
        [&] { return !states.empty() && states.back().what == connection_state::kind::connected; },
        10s));
    bool done = false;
    c.async_disconnect([&](std::error_code) { done = true; });
    REQUIRE(run_until(io, [&] { return done; }));
    CHECK(states.back().what == connection_state::kind::gave_up);
    CHECK(states.back().error == make_error_code(client_errc::disconnected));
    // A disconnected client can connect again.
    REQUIRE(connect_and_wait(io, c, ec));
    CHECK_FALSE(ec);
    CHECK(c.connected());
}

TEST_CASE("client: a refusal for good reports gave up", "[client][state]") {
    mosquitto_broker broker({.allow_anonymous = false});
    boost::asio::io_context io;
    auto o = options_for(broker, protocol_version::v5, "state-refused");
    std::vector<connection_state> states;
    o.on_state = [&](const connection_state& s) { states.push_back(s); };
    client c(io.get_executor(), o);
    std::error_code ec;
    REQUIRE(connect_and_wait(io, c, ec));
    REQUIRE(run_until(io, [&] {
        return !states.empty() && states.back().what == connection_state::kind::gave_up;
    }));
    CHECK_THAT(states.back().error.message(), Catch::Contains("Not authorized (CONNACK 0x87)"));
}

TEST_CASE("client: unsubscribe stops the messages and is not restored", "[client]") {
    mosquitto_broker broker;
    for (auto v : {protocol_version::v3_1_1, protocol_version::v5}) {
        boost::asio::io_context io;
        client c(io.get_executor(), options_for(broker, v, "unsub"));
        std::error_code ec;
        REQUIRE(connect_and_wait(io, c, ec));
        REQUIRE(subscribe_and_wait(io, c, "u/#", qos::at_least_once));
        REQUIRE(subscribe_and_wait(io, c, "end", qos::at_least_once));
        collector inbox;
        inbox.start(c);
        bool unsubscribed = false;
        c.async_unsubscribe("u/#", [&](std::error_code e, std::vector<unsuback_reason_code> codes) {
            CHECK_FALSE(e);
            CHECK(codes.size() == (v == protocol_version::v5 ? 1u : 0u));
            unsubscribed = true;
        });
        REQUIRE(run_until(io, [&] { return unsubscribed; }));
        c.async_publish(make_message("u/1", "gone", qos::at_least_once), [](std::error_code) {});
        c.async_publish(make_message("end", "marker", qos::at_least_once), [](std::error_code) {});
        REQUIRE(run_until(io, [&] { return !inbox.messages.empty(); }));
        CHECK(inbox.messages.size() == 1);
        CHECK(inbox.messages[0].topic == "end");
        // While disconnected the unsubscribe waits for the reconnect; the broker kept no
        // session, so the subscription is gone with it and is not restored.
        bool done = false;
        std::error_code unsub_error;
        c.abort_connection();
        c.async_unsubscribe("end", [&](std::error_code e, std::vector<unsuback_reason_code>) {
            unsub_error = e;
            done = true;
        });
        REQUIRE(run_until(io, [&] { return done; }));
        CHECK_FALSE(unsub_error);
        REQUIRE(run_until(io, [&] { return c.connected(); }));
        REQUIRE(subscribe_and_wait(io, c, "end2", qos::at_least_once));
        c.async_publish(make_message("end", "not restored", qos::at_least_once),
                        [](std::error_code) {});
        c.async_publish(make_message("end2", "marker", qos::at_least_once), [](std::error_code) {});
        REQUIRE(run_until(io, [&] { return inbox.messages.size() >= 2; }));
        CHECK(inbox.messages[1].topic == "end2");
    }
}
