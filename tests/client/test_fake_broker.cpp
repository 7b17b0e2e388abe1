// The Asio client against a scripted fake broker (tests/support/fake_broker.hpp):
// what a real broker never does. A malformed CONNACK, refusals (permanent or
// not), a second CONNACK, a PUBACK for an identifier never used, a server
// DISCONNECT, a broker that stops answering, a PUBLISH above the client's
// Maximum Packet Size. Each checks what the client reports and the bytes it
// sends back.
#include <chrono>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <ctmqtt/client/client.hpp>

#include "../support/fake_broker.hpp"

using namespace ctmqtt;
using namespace std::chrono_literals;
using namespace ctmqtt_test::steps;
using ctmqtt_test::fake_broker;
using ctmqtt_test::fake_connection;
using ctmqtt_test::hex;
using kind = connection_state::kind;

namespace {

// One client on an io_context run by the test's thread, with every state
// change it reports.
class fixture {
public:
    fixture(const fake_broker& b, protocol_version v,
            std::vector<std::chrono::milliseconds> reconnect_delays,
            std::chrono::milliseconds connect_timeout = 2s,
            const std::function<void(client_options&)>& more = {}) {
        client_options o;
        o.host = b.host();
        o.port = b.port();
        o.version = v;
        o.client_id = "fake-broker-test";
        o.reconnect_delays = std::move(reconnect_delays);
        o.connect_timeout = connect_timeout;
        o.on_state = [this](const connection_state& s) { states.push_back(s); };
        if (more)
            more(o);
        mqtt.emplace(io.get_executor(), std::move(o));
    }

    /// Runs the io_context until `done` or `limit`; false on timeout.
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 3s) {
        const auto end = std::chrono::steady_clock::now() + limit;
        for (; !done(); io.run_for(5ms)) {
            io.restart();
            if (std::chrono::steady_clock::now() >= end)
                return false;
        }
        return true;
    }

    /// Runs the io_context for `d`, even when the client has nothing to do
    /// (then nothing would hold run_for until the time is up).
    void run_for(std::chrono::milliseconds d) {
        const auto guard = boost::asio::make_work_guard(io);
        io.restart();
        io.run_for(d);
    }

    /// Runs the io_context until every script of `b` has ended: the client
    /// must go on running to write what it sends and to close.
    bool broker_done(const fake_broker& b, std::chrono::milliseconds limit = 3s) {
        return run_until([&] { return b.wait_done(0ms); }, limit);
    }

    /// async_connect's result, or nullopt if it did not complete in time.
    /// (The result lives in a shared_ptr: a late completion finds it.)
    std::optional<std::error_code> connect(std::chrono::milliseconds limit = 3s) {
        auto result = std::make_shared<std::optional<std::error_code>>();
        mqtt->async_connect([result](std::error_code ec) { *result = ec; });
        run_until([&] { return result->has_value(); }, limit);
        return *result;
    }

    bool disconnect() {
        auto done = std::make_shared<bool>(false);
        mqtt->async_disconnect([done](std::error_code) { *done = true; });
        return run_until([&] { return *done; });
    }

    /// Whether a state of kind `k` was reported.
    bool saw(kind k) const { return first(k) != nullptr; }

    /// The first state of kind `k` reported.
    const connection_state* first(kind k) const {
        for (const auto& s : states)
            if (s.what == k)
                return &s;
        return nullptr;
    }

    std::string describe_states() const {
        static constexpr const char* names[] = {"connected", "lost", "retrying", "gave up"};
        std::string out = "states:";
        for (const auto& s : states) {
            const auto i = static_cast<std::size_t>(s.what);
            out += std::string{" "} + (i < std::size(names) ? names[i] : "?") +
                   (s.error ? " (" + s.error.message() + ")" : "");
        }
        return out;
    }

    boost::asio::io_context io;
    std::vector<connection_state> states; // before the client: outlives its callbacks
    std::optional<client> mqtt;
};

const char* version_name(protocol_version v) {
    return v == protocol_version::v5 ? "5.0" : "3.1.1";
}

connack accepted_connack() {
    return connack{};
}

// What the broker expects of a client it accepted and the test then
// disconnects: CONNECT, CONNACK, and the client's DISCONNECT.
std::vector<ctmqtt_test::step> accept_until_disconnect() {
    return {expect(packet_type::connect), send(accepted_connack()), expect(packet_type::disconnect),
            wait_closed()};
}

// The next connection is refused: CONNACK with the reason code in 5.0, the
// return code before; then the client closes.
void refuse(fake_broker& b, protocol_version v, connack_reason_code v5, connect_return_code v3) {
    connack ack;
    if (v == protocol_version::v5)
        ack.reason_code = v5;
    else
        ack.return_code = v3;
    b.script({expect(packet_type::connect), send(ack), wait_closed()});
}

// The end of a test whose client is connected: the client disconnects, the
// broker's last script sees it, and no step failed.
void disconnect_and_check(fixture& f, const fake_broker& b) {
    REQUIRE(f.disconnect());
    REQUIRE(f.broker_done(b));
    CHECK(b.errors().empty());
}

} // namespace

TEST_CASE("fake broker: a malformed CONNACK fails async_connect with the rule; in 5.0 the "
          "client sends DISCONNECT 0x81",
          "[fake_broker]") {
    for (auto v : {protocol_version::v3_1_1, protocol_version::v5}) {
        INFO("MQTT " << version_name(v));
        fake_broker b;
        // Acknowledge flags 0x02: a reserved bit set [MQTT-3.2.2-1].
        if (v == protocol_version::v5)
            b.script({expect(packet_type::connect), send_hex("20 03 02 00 00"),
                      expect_disconnect(0x81), wait_closed()});
        else // before 5.0 a client closes without DISCONNECT [MQTT-4.8.0-1]
            b.script({expect(packet_type::connect), send_hex("20 02 02 00"), wait_closed()});
        fixture f(b, v, {});
        const auto ec = f.connect();
        REQUIRE(ec);
        REQUIRE(*ec);
        CHECK_THAT(ec->message(), Catch::Contains("CONNACK") &&
                                      Catch::Contains("reserved acknowledge flags") &&
                                      Catch::Contains("[MQTT-3.2.2-1]"));
        CHECK_FALSE(f.mqtt->connected());
        REQUIRE(f.broker_done(b));
        INFO(b.report());
        CHECK(b.errors().empty());
        const auto got = b.received(1);
        if (v == protocol_version::v5) {
            REQUIRE(got.size() == 2);
            CHECK(got[1].bytes == hex("E0 01 81"));
        } else {
            CHECK(got.size() == 1);
        }
        CHECK(b.connections() == 1);
    }
}

TEST_CASE("fake broker: a malformed CONNACK with reconnect on still completes async_connect "
          "with the error",
          "[fake_broker]") {
    // The attempt ended with an error: async_connect says so, as it does for a
    // refusal or a connect timeout, rather than waiting for a later attempt.
    // (The first client, before basic_client, left async_connect waiting: the
    // error showed only in on_state's "retrying".)
    fake_broker b;
    b.script({expect(packet_type::connect), send_hex("20 03 02 00 00"), expect_disconnect(0x81),
              wait_closed()});
    b.on_other_connections([](fake_connection& c) {
        c.expect(packet_type::connect);
        c.send(hex("20 03 02 00 00"));
        c.wait_closed();
    });
    fixture f(b, protocol_version::v5, {50ms});
    const auto ec = f.connect(1s);
    INFO(b.report() << f.describe_states());
    REQUIRE(ec);
    CHECK_THAT(ec->message(), Catch::Contains("[MQTT-3.2.2-1]"));
}

TEST_CASE("fake broker: no CONNACK within the connect timeout fails async_connect, and the "
          "attempt is retried",
          "[fake_broker]") {
    fake_broker b;
    b.script({expect(packet_type::connect), wait_closed(1s)}); // silent until the client gives up
    b.script(accept_until_disconnect());
    fixture f(b, protocol_version::v5, {50ms}, 300ms);
    const auto t0 = std::chrono::steady_clock::now();
    const auto ec = f.connect();
    const auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE(ec);
    CHECK(*ec == make_error_code(client_errc::connect_timeout));
    CHECK(took >= 250ms);
    CHECK(took < 1s);
    INFO(b.report() << f.describe_states());
    REQUIRE(f.run_until([&] { return f.mqtt->connected(); }));
    CHECK(b.connections() == 2);
    CHECK(b.received_types(1) == std::vector{packet_type::connect}); // closed, no DISCONNECT
    disconnect_and_check(f, b);
}

TEST_CASE("fake broker: a refusal for bad credentials is reported and not retried",
          "[fake_broker]") {
    for (auto v : {protocol_version::v3_1_1, protocol_version::v5}) {
        INFO("MQTT " << version_name(v));
        fake_broker b;
        refuse(b, v, reason::bad_user_name_or_password,         // 0x86
               connect_return_code::bad_user_name_or_password); // 4
        fixture f(b, v, {50ms});
        const auto ec = f.connect();
        REQUIRE(ec);
        CHECK(ec->message() ==
              (v == protocol_version::v5
                   ? "connection refused: Bad User Name or Password (CONNACK 0x86)"
                   : "connection refused: bad user name or password (CONNACK return code 4)"));
        // Reconnect delays are 50 ms: a retry would show within 300 ms.
        f.run_for(300ms);
        INFO(b.report() << f.describe_states());
        CHECK(b.connections() == 1);
        // Never connected, so nothing was lost: only "gave up", with the refusal.
        REQUIRE(f.states.size() == 1);
        CHECK(f.states[0].what == kind::gave_up);
        CHECK(f.states[0].error == *ec);
        CHECK(f.broker_done(b));
        CHECK(b.errors().empty());
        CHECK(b.received_types(1) == std::vector{packet_type::connect}); // no DISCONNECT
    }
}

TEST_CASE("fake broker: a refusal for server unavailable is retried", "[fake_broker]") {
    for (auto v : {protocol_version::v3_1_1, protocol_version::v5}) {
        INFO("MQTT " << version_name(v));
        fake_broker b;
        refuse(b, v, reason::server_unavailable,         // 0x88
               connect_return_code::server_unavailable); // 3
        b.script(accept_until_disconnect());
        fixture f(b, v, {50ms});
        const auto ec = f.connect();
        REQUIRE(ec);
        CHECK_THAT(ec->message(),
                   Catch::StartsWith("connection refused: ") &&
                       Catch::Contains(v == protocol_version::v5 ? "(CONNACK 0x88)"
                                                                 : "(CONNACK return code 3)"));
        INFO(b.report() << f.describe_states());
        REQUIRE(f.run_until([&] { return f.mqtt->connected(); }));
        CHECK(b.connections() == 2);
        REQUIRE(f.states.size() == 2);
        CHECK(f.states[0].what == kind::retrying);
        CHECK(f.states[0].retry_in == 50ms);
        CHECK(f.states[0].error == *ec);
        CHECK(f.states[1].what == kind::connected);
        disconnect_and_check(f, b);
    }
}

TEST_CASE("fake broker: a second CONNACK is a protocol error: DISCONNECT 0x82 and lost",
          "[fake_broker]") {
    for (auto v : {protocol_version::v3_1_1, protocol_version::v5}) {
        INFO("MQTT " << version_name(v));
        fake_broker b;
        if (v == protocol_version::v5)
            b.script({expect(packet_type::connect), send(accepted_connack()),
                      send(accepted_connack()), expect_disconnect(0x82), wait_closed()});
        else
            b.script({expect(packet_type::connect), send(accepted_connack()),
                      send(accepted_connack()), wait_closed()});
        fixture f(b, v, {});
        const auto ec = f.connect();
        REQUIRE(ec);
        CHECK_FALSE(*ec);
        REQUIRE(f.run_until([&] { return f.saw(kind::lost); }));
        INFO(b.report() << f.describe_states());
        const auto* lost = f.first(kind::lost);
        CHECK(lost->error == session_errc::unexpected_packet);
        CHECK(lost->error.message() == "the server sent a CONNACK packet where none may come "
                                       "(protocol error, DISCONNECT 0x82)");
        REQUIRE(f.broker_done(b));
        CHECK(b.errors().empty());
        const auto got = b.received(1);
        if (v == protocol_version::v5) {
            REQUIRE(got.size() == 2);
            CHECK(got[1].bytes == hex("E0 01 82"));
        } else {
            CHECK(got.size() == 1);
        }
    }
}

TEST_CASE("fake broker: a PUBACK for a packet identifier not in use: DISCONNECT 0x82",
          "[fake_broker]") {
    std::uint16_t used_id = 0; // set by the script, read after broker_done(); outlives the broker
    fake_broker b;
    b.on_connection([&used_id](fake_connection& c) {
        c.expect(packet_type::connect);
        c.send(accepted_connack());
        const auto p = c.expect(packet_type::publish);
        used_id = p.as<publish>().packet_id;
        puback wrong;
        wrong.packet_id = static_cast<std::uint16_t>(used_id + 1);
        c.send(wrong);
        const auto d = c.expect(packet_type::disconnect);
        if (d.bytes != hex("E0 01 82"))
            throw ctmqtt_test::step_failure("expected DISCONNECT 0x82, got " + d.to_string());
        c.wait_closed();
    });
    std::optional<std::error_code> published; // outlives the client
    fixture f(b, protocol_version::v5, {});
    REQUIRE(f.connect() == std::error_code{});
    message m;
    m.topic = "t";
    m.qos = qos::at_least_once;
    f.mqtt->async_publish(m, [&](std::error_code ec) { published = ec; });
    REQUIRE(f.run_until([&] { return f.saw(kind::lost); }));
    INFO(b.report() << f.describe_states());
    const auto* lost = f.first(kind::lost);
    CHECK(lost->error == session_errc::unknown_packet_id);
    CHECK_THAT(lost->error.message(), Catch::Contains("packet identifier not in use: PUBACK") &&
                                          Catch::Contains("DISCONNECT 0x82"));
    // No reconnect will come: the unacknowledged publish fails rather than waits.
    REQUIRE(f.run_until([&] { return published.has_value(); }));
    CHECK(*published);
    REQUIRE(f.broker_done(b));
    CHECK(b.errors().empty());
    CHECK(used_id != 0);
}

TEST_CASE("fake broker: a PUBLISH above the client's Maximum Packet Size: DISCONNECT 0x95",
          "[fake_broker]") {
    fake_broker b;
    std::optional<std::uint32_t> announced; // set by the script; outlives the broker
    b.on_connection([&announced](fake_connection& c) {
        const auto connect_packet = c.expect(packet_type::connect);
        announced =
            connect_packet.as<ctmqtt::connect>().properties.get<property_id::maximum_packet_size>();
        c.send(accepted_connack());
        // 2 + 1 + 2 + 1 + 100 = 106 bytes: QoS 0, topic "t", no properties.
        publish big;
        big.topic = "t";
        static const std::vector<std::byte> payload(100, std::byte{'x'});
        big.payload = payload;
        c.send(big);
        const auto d = c.expect(packet_type::disconnect);
        if (d.bytes != hex("E0 01 95"))
            throw ctmqtt_test::step_failure("expected DISCONNECT 0x95, got " + d.to_string());
        c.wait_closed();
    });
    fixture f(b, protocol_version::v5, {}, 2s,
              [](client_options& o) { o.maximum_packet_size = 64; });
    REQUIRE(f.connect() == std::error_code{});
    REQUIRE(f.run_until([&] { return f.saw(kind::lost); }));
    INFO(b.report() << f.describe_states());
    CHECK(f.first(kind::lost)->error == session_errc::packet_too_large);
    REQUIRE(f.broker_done(b));
    CHECK(b.errors().empty());
    CHECK(announced == 64u);
}

TEST_CASE("fake broker: the server's DISCONNECT 0x8B is reported as lost, then the client "
          "reconnects",
          "[fake_broker]") {
    fake_broker b;
    disconnect shutting_down;
    shutting_down.reason_code = reason::server_shutting_down;
    b.script({expect(packet_type::connect), send(accepted_connack()), send(shutting_down),
              wait_closed()});
    b.script(accept_until_disconnect());
    fixture f(b, protocol_version::v5, {50ms});
    REQUIRE(f.connect() == std::error_code{});
    REQUIRE(f.run_until([&] { return f.states.size() >= 4; }));
    INFO(b.report() << f.describe_states());
    REQUIRE(f.states.size() == 4);
    CHECK(f.states[0].what == kind::connected);
    CHECK(f.states[1].what == kind::lost);
    CHECK(f.states[1].error == session_errc::server_disconnected);
    CHECK(f.states[1].error.message() ==
          "the server disconnected: Server shutting down (DISCONNECT 0x8B)");
    CHECK(f.states[2].what == kind::retrying);
    CHECK(f.states[2].retry_in == 50ms);
    CHECK(f.states[3].what == kind::connected);
    CHECK(b.connections() == 2);
    // The client does not answer the server's DISCONNECT with one of its own.
    CHECK(b.received_types(1) == std::vector{packet_type::connect});
    disconnect_and_check(f, b);
    CHECK(b.received(2).back().bytes == hex("E0 00")); // a normal disconnection
}

// A CONNACK with Server Keep Alive 1 s; then the broker reads and never answers.
std::vector<ctmqtt_test::step> silent_after_connack() {
    connack keep_alive_1;
    keep_alive_1.properties.set<property_id::server_keep_alive>(std::uint16_t{1});
    return {expect(packet_type::connect), send(keep_alive_1), expect(packet_type::pingreq),
            wait_closed(3s)};
}

TEST_CASE("fake broker: a broker that stops answering is noticed after 1.5 x the server keep "
          "alive, then the client reconnects",
          "[fake_broker]") {
    fake_broker b;
    b.script(silent_after_connack()); // PINGREQ after 1 s, dead after 1.5 s
    b.script(accept_until_disconnect());
    fixture f(b, protocol_version::v5, {50ms}); // asks for 60 s; the server's 1 s wins
    REQUIRE(f.connect() == std::error_code{});
    const auto connected_at = std::chrono::steady_clock::now();
    REQUIRE(f.run_until([&] { return f.saw(kind::lost); }, 3s));
    const auto lost_after = std::chrono::steady_clock::now() - connected_at;
    INFO(b.report() << f.describe_states());
    CHECK(lost_after >= 1400ms);
    CHECK(lost_after < 2s);
    CHECK(f.first(kind::lost)->error == session_errc::keep_alive_timeout);
    REQUIRE(f.run_until([&] { return f.states.back().what == kind::connected; }));
    CHECK(b.connections() == 2);
    disconnect_and_check(f, b);
    const auto got = b.received(1);
    REQUIRE(got.size() >= 2);
    CHECK(got[1].bytes == hex("C0 00"));
    const auto ping_after = got[1].at - got[0].at; // CONNACK went out right after CONNECT
    CHECK(ping_after >= 900ms);
    CHECK(ping_after < 1300ms);
}

TEST_CASE("fake broker: a keep-alive timeout closes the connection without DISCONNECT (0x8D is "
          "a server's reason code)",
          "[fake_broker]") {
    // MQTT 5 §3.14.2.1 (Table 3-10): Keep Alive timeout (0x8D) is sent by the
    // server only. A client that gets no PINGRESP closes the network
    // connection (§3.1.2.10), with no DISCONNECT to say why.
    // (The first client, before basic_client, sent DISCONNECT 0x8D.)
    fake_broker b;
    b.script(silent_after_connack());
    fixture f(b, protocol_version::v5, {});
    REQUIRE(f.connect() == std::error_code{});
    REQUIRE(f.run_until([&] { return f.saw(kind::lost); }, 3s));
    REQUIRE(f.broker_done(b));
    INFO(b.report() << f.describe_states());
    CHECK(b.errors().empty());
    CHECK(b.received_types(1) == std::vector{packet_type::connect, packet_type::pingreq});
}
