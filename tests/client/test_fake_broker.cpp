// The Asio client against a scripted fake broker (tests/support/fake_broker.hpp):
// what a real broker never does. A malformed CONNACK, refusals (permanent or
// not), a second CONNACK, a PUBACK for an identifier never used, a server
// DISCONNECT, a broker that stops answering, a PUBLISH above the client's
// Maximum Packet Size; server redirection (CONNACK or DISCONNECT 0x9C / 0x9D,
// redirect loops, unusable Server References), the fallback from 5.0 to
// 3.1.1, enhanced authentication and re-authentication, a broker that never
// sends CONNACK. Each checks what the client reports and the bytes it sends.
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
            out += std::string{" "} + (i < std::size(names) ? names[i] : "?") + " [" +
                   s.broker.host + ":" + std::to_string(s.broker.port) + "]" +
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

TEST_CASE("fake broker: a malformed CONNACK with reconnect on is one failed attempt: reported "
          "as retrying with the error, and async_connect waits for a connection",
          "[fake_broker]") {
    // async_connect completes when a connection is up or the client gives
    // up, never with the error of one attempt while retries go on (the client
    // before this one completed it with the first attempt's error).
    fake_broker b;
    for (int i = 0; i < 2; ++i)
        b.script({expect(packet_type::connect), send_hex("20 03 02 00 00"), expect_disconnect(0x81),
                  wait_closed()});
    b.script(accept_until_disconnect());
    fixture f(b, protocol_version::v5, {50ms});
    const auto ec = f.connect();
    INFO(b.report() << f.describe_states());
    REQUIRE(ec);
    CHECK(*ec == std::error_code{});
    CHECK(b.connections() == 3);
    REQUIRE(f.states.size() == 3);
    for (std::size_t i = 0; i < 2; ++i) {
        CHECK(f.states[i].what == kind::retrying);
        CHECK_THAT(f.states[i].error.message(), Catch::Contains("[MQTT-3.2.2-1]"));
        CHECK(b.received(i + 1).at(1).bytes == hex("E0 01 81"));
    }
    CHECK(f.states[2].what == kind::connected);
    disconnect_and_check(f, b);
}

TEST_CASE("fake broker: no CONNACK within the connect timeout: the attempt is retried, and "
          "async_connect completes with the connection that follows",
          "[fake_broker]") {
    fake_broker b;
    b.script({expect(packet_type::connect), wait_closed(1s)}); // silent until the client gives up
    b.script(accept_until_disconnect());
    fixture f(b, protocol_version::v5, {50ms}, 300ms);
    const auto t0 = std::chrono::steady_clock::now();
    const auto ec = f.connect();
    const auto took = std::chrono::steady_clock::now() - t0;
    INFO(b.report() << f.describe_states());
    REQUIRE(ec);
    CHECK(*ec == std::error_code{});
    CHECK(took >= 300ms); // the timeout, then 50 ms
    CHECK(took < 1s);
    CHECK(b.connections() == 2);
    REQUIRE(f.states.size() == 2);
    CHECK(f.states[0].what == kind::retrying);
    CHECK(f.states[0].error == make_error_code(client_errc::connect_timeout));
    CHECK(f.states[0].retry_in == 50ms);
    CHECK(f.states[1].what == kind::connected);
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
        const auto ec = f.connect(); // completes once the retry is accepted
        INFO(b.report() << f.describe_states());
        REQUIRE(ec);
        CHECK(*ec == std::error_code{});
        CHECK(f.mqtt->connected());
        CHECK(b.connections() == 2);
        REQUIRE(f.states.size() == 2);
        CHECK(f.states[0].what == kind::retrying);
        CHECK(f.states[0].retry_in == 50ms);
        CHECK(f.states[0].error == (v == protocol_version::v5
                                        ? make_error_code(session_errc::connection_refused, 0x88)
                                        : make_error_code(session_errc::connection_refused_v3, 3)));
        CHECK_THAT(f.states[0].error.message(),
                   Catch::StartsWith("connection refused: ") &&
                       Catch::Contains(v == protocol_version::v5 ? "(CONNACK 0x88)"
                                                                 : "(CONNACK return code 3)"));
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

// ------------------------------------------------------------ redirection, fallback,
// enhanced authentication, connect timeouts

namespace {

// The broker's address as a Server Reference names it ("host:port").
std::string reference_to(const fake_broker& b) {
    return b.host() + ":" + std::to_string(b.port());
}

bool is_at(const connection_state& s, const fake_broker& b) {
    return s.broker.host == b.host() && s.broker.port == b.port();
}

// CONNACK refusing with `code`, naming `reference` (none if empty); the view
// must outlive the script.
connack refusal(std::uint8_t code, std::string_view reference = {}) {
    connack ack;
    ack.reason_code = *connack_reason_code::from_value(code);
    if (!reference.empty())
        ack.properties.set<property_id::server_reference>(reference);
    return ack;
}

// What the client's CONNECT said, decoded in the test's thread.
struct connect_seen {
    protocol_version version = protocol_version::v5;
    std::string client_id;
    std::optional<std::string> auth_method;
    std::optional<std::string> auth_data;
};

connect_seen decode_connect(const ctmqtt_test::received_packet& p) {
    const auto c = p.as<ctmqtt::connect>();
    connect_seen out;
    out.version = c.version;
    out.client_id = std::string{c.client_id};
    if (auto m = c.properties.get<property_id::authentication_method>())
        out.auth_method = std::string{*m};
    if (auto d = c.properties.get<property_id::authentication_data>())
        out.auth_data = std::string{as_string(*d)};
    return out;
}

// Where the server's redirection comes in: the CONNACK that refuses the
// connection, or a DISCONNECT once it is up.
enum class redirect_in : std::uint8_t { connack, disconnect };

// Broker A redirects the client to broker B with `code` (0x9C Use another
// server or 0x9D Server moved); B accepts, then drops the connection; the
// reconnect goes back to A after 0x9C (for this connection only) and to B
// after 0x9D (for good), and the test disconnects there.
void check_redirect(std::uint8_t code, redirect_in where) {
    const bool moved = code == 0x9D;
    fake_broker b;
    const std::string reference = reference_to(b); // outlives a's scripts
    fake_broker a;
    if (where == redirect_in::connack) {
        a.script({expect(packet_type::connect), send(refusal(code, reference)), wait_closed()});
    } else {
        disconnect redirect;
        redirect.reason_code = *disconnect_reason_code::from_value(code);
        redirect.properties.set<property_id::server_reference>(std::string_view{reference});
        a.script({expect(packet_type::connect), send(accepted_connack()), send(redirect),
                  wait_closed()});
    }
    b.script({expect(packet_type::connect), send(accepted_connack()), close_connection()});
    fake_broker& back = moved ? b : a;
    back.script(accept_until_disconnect());

    fixture f(a, protocol_version::v5, {300ms});
    const auto ec = f.connect();
    INFO(a.report() << b.report() << f.describe_states());
    REQUIRE(ec);
    CHECK(*ec == std::error_code{});
    const std::size_t expected_states = where == redirect_in::connack ? 5 : 7;
    REQUIRE(f.run_until([&] {
        return f.states.size() >= expected_states && f.states.back().what == kind::connected;
    }));
    INFO(a.report() << b.report() << f.describe_states());
    REQUIRE(f.states.size() == expected_states);
    std::size_t i = 0;
    if (where == redirect_in::connack) {
        // The refusal is one failed attempt: retrying, at B, at once.
        CHECK(f.states[0].what == kind::retrying);
        CHECK(f.states[0].error == make_error_code(session_errc::connection_refused, code));
        CHECK(f.states[0].retry_in == 0ms);
        CHECK(is_at(f.states[0], b));
        i = 1;
        // At once: well within the 300 ms of the reconnect delay.
        const auto first = a.received(1);
        const auto second = b.received(1);
        REQUIRE(!first.empty());
        REQUIRE(!second.empty());
        CHECK(second[0].at - first[0].at < 200ms);
    } else {
        CHECK(f.states[0].what == kind::connected);
        CHECK(is_at(f.states[0], a));
        CHECK(f.states[1].what == kind::lost);
        CHECK(f.states[1].error == make_error_code(session_errc::server_disconnected, code));
        CHECK(f.states[2].what == kind::retrying);
        CHECK(is_at(f.states[2], b));
        i = 3;
    }
    CHECK(f.states[i].what == kind::connected);
    CHECK(is_at(f.states[i], b));
    CHECK(f.states[i + 1].what == kind::lost);
    // After B dropped the connection: the schedule's delay, then A again
    // (0x9C) or B (0x9D).
    CHECK(f.states[i + 2].what == kind::retrying);
    CHECK(f.states[i + 2].retry_in == 300ms);
    CHECK(is_at(f.states[i + 2], back));
    CHECK(f.states[i + 3].what == kind::connected);
    CHECK(is_at(f.states[i + 3], back));
    REQUIRE(f.disconnect());
    REQUIRE(f.run_until([&] { return a.wait_done(0ms) && b.wait_done(0ms); }));
    CHECK(a.errors().empty());
    CHECK(b.errors().empty());
    CHECK(a.connections() == (moved ? 1u : 2u));
    CHECK(b.connections() == (moved ? 2u : 1u));
    // No DISCONNECT from the client after a refusal or the server's DISCONNECT.
    CHECK(a.received_types(1) == std::vector{packet_type::connect});
    CHECK(b.received_types(1) == std::vector{packet_type::connect});
    // The redirected CONNECT is the same one the first server got.
    CHECK(b.received(1).at(0).bytes == a.received(1).at(0).bytes);
    const auto last = back.received(2);
    REQUIRE(last.size() == 2);
    CHECK(last[0].bytes == a.received(1).at(0).bytes);
    CHECK(last[1].bytes == hex("E0 00"));
}

} // namespace

TEST_CASE("fake broker: CONNACK 0x9C Use another server: the client connects to the Server "
          "Reference at once, and later reconnects go back to the first server",
          "[fake_broker]") {
    check_redirect(0x9C, redirect_in::connack);
}

TEST_CASE("fake broker: CONNACK 0x9D Server moved: the client connects to the Server Reference "
          "at once, and later reconnects go there too",
          "[fake_broker]") {
    check_redirect(0x9D, redirect_in::connack);
}

TEST_CASE("fake broker: the server's DISCONNECT 0x9C Use another server: the next connection "
          "goes to the Server Reference, the one after back to the first server",
          "[fake_broker]") {
    check_redirect(0x9C, redirect_in::disconnect);
}

TEST_CASE("fake broker: the server's DISCONNECT 0x9D Server moved: every later connection goes "
          "to the Server Reference",
          "[fake_broker]") {
    check_redirect(0x9D, redirect_in::disconnect);
}

TEST_CASE("fake broker: two servers redirecting to each other: after redirect_limit redirects "
          "the client gives up with too_many_redirects",
          "[fake_broker]") {
    fake_broker a;
    fake_broker b;
    const auto redirect_to = [](std::string reference) {
        return [reference](fake_connection& c) {
            c.expect(packet_type::connect);
            c.send(refusal(0x9C, reference));
            c.wait_closed();
        };
    };
    a.on_other_connections(redirect_to(reference_to(b)));
    b.on_other_connections(redirect_to(reference_to(a)));
    fixture f(a, protocol_version::v5, {50ms}, 2s, [](client_options& o) { o.redirect_limit = 3; });
    const auto ec = f.connect();
    INFO(a.report() << b.report() << f.describe_states());
    REQUIRE(ec);
    CHECK(*ec == make_error_code(client_errc::too_many_redirects));
    CHECK_THAT(ec->message(), Catch::Contains("redirect_limit"));
    // Nothing more comes: 50 ms reconnect delays would show within 300 ms.
    f.run_for(300ms);
    INFO(a.report() << b.report() << f.describe_states());
    // Three redirects followed (A -> B -> A -> B), the fourth not.
    CHECK(a.connections() == 2);
    CHECK(b.connections() == 2);
    for (std::size_t n : {1u, 2u}) {
        CHECK(a.received_types(n) == std::vector{packet_type::connect});
        CHECK(b.received_types(n) == std::vector{packet_type::connect});
    }
    REQUIRE(f.states.size() == 4);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(f.states[i].what == kind::retrying);
        CHECK(f.states[i].retry_in == 0ms);
        CHECK(is_at(f.states[i], i % 2 == 0 ? b : a));
    }
    CHECK(f.states[3].what == kind::gave_up);
    CHECK(f.states[3].error == make_error_code(client_errc::too_many_redirects));
    CHECK(a.errors().empty());
    CHECK(b.errors().empty());
}

TEST_CASE("fake broker: with follow_redirects off, CONNACK 0x9C is a refusal like any other: "
          "retried at the same server by the schedule",
          "[fake_broker]") {
    fake_broker b; // never contacted
    const std::string reference = reference_to(b);
    fake_broker a;
    a.script({expect(packet_type::connect), send(refusal(0x9C, reference)), wait_closed()});
    a.script(accept_until_disconnect());
    fixture f(a, protocol_version::v5, {100ms}, 2s,
              [](client_options& o) { o.follow_redirects = false; });
    const auto ec = f.connect();
    INFO(a.report() << b.report() << f.describe_states());
    REQUIRE(ec);
    CHECK(*ec == std::error_code{});
    REQUIRE(f.states.size() == 2);
    CHECK(f.states[0].what == kind::retrying);
    CHECK(f.states[0].error == make_error_code(session_errc::connection_refused, 0x9C));
    CHECK(f.states[0].retry_in == 100ms);
    CHECK(is_at(f.states[0], a));
    CHECK(f.states[1].what == kind::connected);
    CHECK(is_at(f.states[1], a));
    disconnect_and_check(f, a);
    CHECK(b.connections() == 0);
    CHECK(a.connections() == 2);
    CHECK(a.received_types(1) == std::vector{packet_type::connect});
    CHECK(a.received_types(2) == std::vector{packet_type::connect, packet_type::disconnect});
}

TEST_CASE("fake broker: a redirect without a usable Server Reference fails with "
          "bad_server_reference",
          "[fake_broker]") {
    // None at all; a port out of range; an IPv6 literal never closed.
    for (std::string_view reference : {"", "127.0.0.1:99999", "[::1"}) {
        INFO("Server Reference \"" << reference << "\"");
        fake_broker a;
        a.script({expect(packet_type::connect), send(refusal(0x9C, reference)), wait_closed()});
        fixture f(a, protocol_version::v5, {}); // no reconnects: the redirect was the only way on
        const auto ec = f.connect();
        INFO(a.report() << f.describe_states());
        REQUIRE(ec);
        CHECK(*ec == make_error_code(client_errc::bad_server_reference));
        CHECK_THAT(ec->message(), Catch::Contains("Server Reference"));
        REQUIRE(f.broker_done(a));
        f.run_for(100ms);
        CHECK(a.connections() == 1);
        CHECK(a.errors().empty());
        CHECK(a.received_types(1) == std::vector{packet_type::connect});
        REQUIRE(f.states.size() == 1);
        CHECK(f.states[0].what == kind::gave_up);
        CHECK(f.states[0].error == make_error_code(client_errc::bad_server_reference));
    }
}

namespace {

// The broker refuses the client's MQTT 5 CONNECT with `refusal` (raw
// bytes), then accepts its 3.1.1 CONNECT; the client publishes once and
// disconnects. `expected` is the error the refusal stands for.
void check_fallback(std::string_view refusal_hex, std::error_code expected) {
    fake_broker a;
    a.script({expect(packet_type::connect), send_hex(refusal_hex), wait_closed()});
    a.script({expect(packet_type::connect), send_hex("20 02 00 00"), expect(packet_type::publish),
              expect(packet_type::disconnect), wait_closed()});
    fixture f(a, protocol_version::v5, {50ms}, 2s,
              [](client_options& o) { o.fallback_to_v311 = true; });
    const auto ec = f.connect();
    INFO(a.report() << f.describe_states());
    REQUIRE(ec);
    REQUIRE(*ec == std::error_code{});
    auto published = std::make_shared<std::optional<std::error_code>>();
    f.mqtt->async_publish("t", std::string_view{"hello"}, qos::at_most_once, false,
                          [published](std::error_code e) { *published = e; });
    REQUIRE(f.run_until([&] { return published->has_value(); }));
    CHECK(**published == std::error_code{});
    const auto states = f.states; // before the user's disconnect adds "gave up"
    disconnect_and_check(f, a);
    INFO(a.report() << f.describe_states());
    CHECK(a.connections() == 2);
    const auto first = a.received(1);
    REQUIRE(first.size() == 1); // the refusal closes the connection: no DISCONNECT
    CHECK(decode_connect(first[0]).version == protocol_version::v5);
    const auto second = a.received(2);
    REQUIRE(second.size() == 3);
    const auto c = decode_connect(second[0]);
    CHECK(c.version == protocol_version::v3_1_1);
    CHECK(c.client_id == "fake-broker-test");
    CHECK(second[0].bytes.at(8) == std::byte{4}); // the protocol level byte
    // 3.1.1: no property length after the topic (5.0 would have a 0 there).
    CHECK(second[1].bytes == hex("30 08 00 01 74 68 65 6C 6C 6F"));
    CHECK(second[2].bytes == hex("E0 00"));
    REQUIRE(!states.empty());
    CHECK(states.back().what == kind::connected);
    for (const auto& s : states) {
        CHECK(s.what != kind::gave_up);
        if (s.what == kind::retrying)
            CHECK(s.error == expected);
    }
}

} // namespace

TEST_CASE("fake broker: CONNACK 0x84 with fallback_to_v311: the next CONNECT is 3.1.1, and "
          "the connection speaks 3.1.1",
          "[fake_broker]") {
    check_fallback("20 03 00 84 00", make_error_code(session_errc::connection_refused, 0x84));
}

TEST_CASE("fake broker: CONNACK 0x84 without fallback_to_v311: the client gives up with the "
          "refusal",
          "[fake_broker]") {
    fake_broker a;
    a.script({expect(packet_type::connect), send_hex("20 03 00 84 00"), wait_closed()});
    fixture f(a, protocol_version::v5, {50ms});
    const auto ec = f.connect();
    REQUIRE(ec);
    CHECK(*ec == make_error_code(session_errc::connection_refused, 0x84));
    CHECK(ec->message() == "connection refused: Unsupported Protocol Version (CONNACK 0x84)");
    f.run_for(300ms); // a retry would show
    INFO(a.report() << f.describe_states());
    CHECK(a.connections() == 1);
    REQUIRE(f.states.size() == 1);
    CHECK(f.states[0].what == kind::gave_up);
    CHECK(f.states[0].error == *ec);
    CHECK(a.received_types(1) == std::vector{packet_type::connect});
}

TEST_CASE("fake broker: a 3.1.1 CONNACK (return code 1) answering a 5.0 CONNECT is the 0x84 "
          "refusal: fallback with fallback_to_v311, else gave up",
          "[fake_broker]") {
    // A 3.1.1 broker answers "20 02 00 01": read as 5.0 that is reason code
    // 0x01, which no CONNACK may carry.
    const auto refused = make_error_code(session_errc::connection_refused, 0x84);
    SECTION("fallback") {
        check_fallback("20 02 00 01", refused);
    }
    SECTION("no fallback") {
        fake_broker a;
        a.script({expect(packet_type::connect), send_hex("20 02 00 01"), wait_closed()});
        fixture f(a, protocol_version::v5, {50ms});
        const auto ec = f.connect();
        INFO(a.report() << f.describe_states());
        REQUIRE(ec);
        CHECK(*ec == refused);
        f.run_for(300ms);
        CHECK(a.connections() == 1);
        REQUIRE(f.states.size() == 1);
        CHECK(f.states[0].what == kind::gave_up);
        CHECK(f.states[0].error == refused);
        CHECK(a.received_types(1) == std::vector{packet_type::connect});
    }
}

namespace {

// Enhanced authentication, method "TEST": CONNECT and AUTH 0x19 carry
// "hello"; a challenge X is answered "re:X". Calls are logged in order.
class test_authenticator final : public authenticator {
public:
    std::vector<std::string> calls;

    std::string_view method() const override { return "TEST"; }
    std::error_code initial_data(std::vector<std::byte>& out) override {
        set(out, "hello");
        return {};
    }
    std::error_code on_challenge(bytes_view data, std::vector<std::byte>& response) override {
        calls.push_back("challenge " + std::string{as_string(data)});
        set(response, "re:" + std::string{as_string(data)});
        return {};
    }
    std::error_code on_success(bytes_view data) override {
        calls.push_back("success " + std::string{as_string(data)});
        return {};
    }

private:
    static void set(std::vector<std::byte>& out, std::string_view text) {
        const auto b = as_bytes(text);
        out.assign(b.begin(), b.end());
    }
};

// AUTH with reason `code`, method and data (views into string literals).
ctmqtt::auth auth_from_server(std::uint8_t code, std::string_view method, std::string_view data) {
    ctmqtt::auth a;
    a.reason_code = *auth_reason_code::from_value(code);
    a.properties.set<property_id::authentication_method>(method);
    a.properties.set<property_id::authentication_data>(as_bytes(data));
    return a;
}

connack accepted_with_method(std::string_view method, std::string_view data) {
    connack ack;
    ack.properties.set<property_id::authentication_method>(method);
    ack.properties.set<property_id::authentication_data>(as_bytes(data));
    return ack;
}

// What an AUTH from the client said.
struct auth_seen {
    std::uint8_t reason = 0;
    std::optional<std::string> method;
    std::optional<std::string> data;
    friend bool operator==(const auth_seen&, const auth_seen&) = default;
};

auth_seen decode_auth(const ctmqtt_test::received_packet& p) {
    const auto a = p.as<ctmqtt::auth>();
    auth_seen out;
    out.reason = a.reason_code.value();
    if (auto m = a.properties.get<property_id::authentication_method>())
        out.method = std::string{*m};
    if (auto d = a.properties.get<property_id::authentication_data>())
        out.data = std::string{as_string(*d)};
    return out;
}

std::optional<std::error_code> run_async_auth(fixture& f) {
    auto result = std::make_shared<std::optional<std::error_code>>();
    f.mqtt->async_auth([result](std::error_code ec) { *result = ec; });
    f.run_until([&] { return result->has_value(); });
    return *result;
}

} // namespace

TEST_CASE("fake broker: enhanced authentication at connect (AUTH 0x18 both ways, CONNACK with "
          "the method), then async_auth re-authenticates (AUTH 0x19, 0x18, 0x00)",
          "[fake_broker]") {
    fake_broker b;
    b.script({expect(packet_type::connect), send(auth_from_server(0x18, "TEST", "challenge-1")),
              expect(packet_type::auth), send(accepted_with_method("TEST", "welcome")),
              // re-authentication
              expect(packet_type::auth), send(auth_from_server(0x18, "TEST", "challenge-2")),
              expect(packet_type::auth), delay(100ms), send(auth_from_server(0x00, "TEST", "done")),
              expect(packet_type::disconnect), wait_closed()});
    test_authenticator authn; // outlives the client
    fixture f(b, protocol_version::v5, {}, 2s, [&](client_options& o) { o.auth = &authn; });
    const auto ec = f.connect();
    INFO(b.report() << f.describe_states());
    REQUIRE(ec);
    REQUIRE(*ec == std::error_code{});
    CHECK(authn.calls == std::vector<std::string>{"challenge challenge-1", "success welcome"});
    const auto reauth = run_async_auth(f);
    INFO(b.report() << f.describe_states());
    REQUIRE(reauth);
    CHECK(*reauth == std::error_code{});
    // Completed on AUTH 0x00, which the authenticator saw first.
    CHECK(authn.calls == std::vector<std::string>{"challenge challenge-1", "success welcome",
                                                  "challenge challenge-2", "success done"});
    CHECK(f.mqtt->connected());
    disconnect_and_check(f, b);
    const auto got = b.received(1);
    REQUIRE(got.size() == 5);
    const auto c = decode_connect(got[0]);
    CHECK(c.auth_method == "TEST");
    CHECK(c.auth_data == "hello");
    CHECK(decode_auth(got[1]) == auth_seen{0x18, "TEST", "re:challenge-1"});
    CHECK(decode_auth(got[2]) == auth_seen{0x19, "TEST", "hello"});
    CHECK(decode_auth(got[3]) == auth_seen{0x18, "TEST", "re:challenge-2"});
    CHECK(got[4].bytes == hex("E0 00"));
    REQUIRE(f.states.size() == 2);
    CHECK(f.states[0].what == kind::connected);
    CHECK(f.states[1].what == kind::gave_up); // the user's disconnect
}

TEST_CASE("fake broker: a server answering CONNECT with another Authentication Method is "
          "refused: DISCONNECT 0x82, and async_connect says why",
          "[fake_broker]") {
    for (auto answer : {packet_type::auth, packet_type::connack}) {
        INFO("the server's " << to_string(answer) << " carries method OTHER");
        fake_broker b;
        if (answer == packet_type::auth)
            b.script({expect(packet_type::connect), send(auth_from_server(0x18, "OTHER", "x")),
                      expect_disconnect(0x82), wait_closed()});
        else
            b.script({expect(packet_type::connect), send(accepted_with_method("OTHER", "x")),
                      expect_disconnect(0x82), wait_closed()});
        test_authenticator authn;
        fixture f(b, protocol_version::v5, {}, 2s, [&](client_options& o) { o.auth = &authn; });
        const auto ec = f.connect();
        REQUIRE(f.broker_done(b));
        INFO(b.report() << f.describe_states());
        REQUIRE(ec);
        const auto mismatch = make_error_code(session_errc::authentication_method_mismatch,
                                              static_cast<unsigned>(answer));
        CHECK(*ec == mismatch);
        CHECK_THAT(ec->message(), Catch::Contains(std::string{to_string(answer)}) &&
                                      Catch::Contains("Authentication Method") &&
                                      Catch::Contains("[MQTT-4.12.0-5]") &&
                                      Catch::Contains("DISCONNECT 0x82"));
        CHECK(b.errors().empty());
        CHECK(b.received_types(1) == std::vector{packet_type::connect, packet_type::disconnect});
        CHECK(authn.calls.empty()); // the server's data never reached the authenticator
        CHECK_FALSE(f.mqtt->connected());
        REQUIRE(f.states.size() == 1);
        CHECK(f.states[0].what == kind::gave_up);
        CHECK(f.states[0].error == mismatch);
    }
}

TEST_CASE("fake broker: a re-authentication answered with another Authentication Method: "
          "DISCONNECT 0x82, and async_auth says why",
          "[fake_broker]") {
    fake_broker b;
    b.script({expect(packet_type::connect), send(accepted_with_method("TEST", "welcome")),
              expect(packet_type::auth), send(auth_from_server(0x18, "OTHER", "x")),
              expect_disconnect(0x82), wait_closed()});
    test_authenticator authn;
    fixture f(b, protocol_version::v5, {}, 2s, [&](client_options& o) { o.auth = &authn; });
    REQUIRE(f.connect() == std::error_code{});
    const auto ec = run_async_auth(f);
    REQUIRE(f.broker_done(b));
    INFO(b.report() << f.describe_states());
    REQUIRE(ec);
    const auto mismatch = make_error_code(session_errc::authentication_method_mismatch,
                                          static_cast<unsigned>(packet_type::auth));
    CHECK(*ec == mismatch);
    CHECK_THAT(ec->message(), Catch::Contains("AUTH") && Catch::Contains("[MQTT-4.12.0-5]"));
    CHECK(b.errors().empty());
    const auto got = b.received(1);
    REQUIRE(got.size() == 3);
    CHECK(decode_auth(got[1]) == auth_seen{0x19, "TEST", "hello"});
    CHECK(got[2].bytes == hex("E0 01 82"));
    CHECK(authn.calls == std::vector<std::string>{"success welcome"});
    REQUIRE(f.run_until([&] { return f.saw(kind::gave_up); }));
    REQUIRE(f.states.size() == 3);
    CHECK(f.states[0].what == kind::connected);
    CHECK(f.states[1].what == kind::lost);
    CHECK(f.states[1].error == mismatch);
    CHECK(f.states[2].what == kind::gave_up);
}

TEST_CASE("fake broker: async_auth without client_options::auth fails with no_authenticator "
          "and sends nothing",
          "[fake_broker]") {
    fake_broker b;
    b.script(accept_until_disconnect());
    fixture f(b, protocol_version::v5, {});
    REQUIRE(f.connect() == std::error_code{});
    const auto ec = run_async_auth(f);
    REQUIRE(ec);
    CHECK(*ec == make_error_code(client_errc::no_authenticator));
    f.run_for(100ms); // an AUTH, had one been sent, reaches the broker meanwhile
    CHECK(f.mqtt->connected());
    disconnect_and_check(f, b);
    INFO(b.report());
    CHECK(b.received_types(1) == std::vector{packet_type::connect, packet_type::disconnect});
    CHECK_FALSE(decode_connect(b.received(1).at(0)).auth_method.has_value());
}

TEST_CASE("fake broker: a broker that never sends CONNACK: each attempt times out and is "
          "retried, async_connect waits, and async_disconnect ends it",
          "[fake_broker]") {
    fake_broker b;
    const auto silent = [](fake_connection& c) { // until the client closes
        c.expect(packet_type::connect);
        c.wait_closed(std::chrono::milliseconds{3s});
    };
    for (int i = 0; i < 3; ++i)
        b.on_connection(silent);
    b.on_other_connections(silent); // a fourth attempt, if the third timed out meanwhile
    fixture f(b, protocol_version::v5, {50ms}, 300ms);
    auto result = std::make_shared<std::optional<std::error_code>>();
    f.mqtt->async_connect([result](std::error_code ec) { *result = ec; });
    // Two attempts timed out, and the third has sent its CONNECT.
    REQUIRE(f.run_until([&] { return b.received().size() >= 3; }, 3s));
    INFO(b.report() << f.describe_states());
    CHECK_FALSE(result->has_value()); // still trying
    REQUIRE(f.disconnect());
    REQUIRE(f.run_until([&] { return result->has_value(); }));
    CHECK(**result == make_error_code(client_errc::disconnected));
    REQUIRE(f.broker_done(b)); // the client closed the third connection
    f.run_for(200ms);
    INFO(b.report() << f.describe_states());
    CHECK(b.errors().empty());
    const auto n = b.connections();
    CHECK(n >= 3);
    const auto all = b.received();
    CHECK(all.size() == n);
    for (std::size_t i = 1; i <= n; ++i)
        CHECK(b.received_types(i) == std::vector{packet_type::connect}); // never a DISCONNECT
    // Each attempt waited the connect timeout, then the reconnect delay.
    for (std::size_t i = 1; i < all.size(); ++i)
        CHECK(all[i].at - all[i - 1].at >= 300ms);
    REQUIRE(f.states.size() >= 3);
    for (std::size_t i = 0; i + 1 < f.states.size(); ++i) {
        CHECK(f.states[i].what == kind::retrying);
        CHECK(f.states[i].error == make_error_code(client_errc::connect_timeout));
        CHECK(f.states[i].retry_in == 50ms);
    }
    CHECK(f.states.back().what == kind::gave_up);
    CHECK(f.states.back().error == make_error_code(client_errc::disconnected));
}

TEST_CASE("fake broker: QoS 0 publishes past write_high_water complete only once written; a "
          "broker that stops reading holds them back, and the lost connection fails them",
          "[fake_broker][backpressure]") {
    fake_broker b;
    // The broker takes CONNECT, answers, then reads nothing more for 1.5 s
    // (the socket buffers fill up), then closes the connection.
    b.script({expect(packet_type::connect), send(accepted_connack()), delay(1500ms),
              close_connection()});
    fixture f(b, protocol_version::v5, {}, 2s,
              [](client_options& o) { o.write_high_water = 256 * 1024; });
    REQUIRE(f.connect() == std::error_code{});

    const std::string payload(64 * 1024, 'x');
    constexpr int total = 400; // 26 MB: far more than the loopback socket buffers hold
    int succeeded = 0, failed = 0;
    std::error_code failure;
    for (int i = 0; i < total; ++i)
        f.mqtt->async_publish("bulk", payload, qos::at_most_once, false, [&](std::error_code ec) {
            if (ec) {
                ++failed;
                failure = ec;
            } else {
                ++succeeded;
            }
        });
    f.run_for(500ms);
    INFO("completed before the broker closed: " << succeeded);
    // Some were written into the socket buffers, the rest wait for the broker.
    CHECK(succeeded > 0);
    CHECK(succeeded < total);
    CHECK(failed == 0);
    // The broker closes without having read them: those still waiting fail, none is
    // reported written that was not.
    REQUIRE(f.run_until([&] { return succeeded + failed == total; }, 5s));
    INFO("the error of those that failed: " << failure.message());
    CHECK(failed > 0);
    CHECK(failure);
}

TEST_CASE("fake broker: with write_high_water 0 a QoS 0 publish completes after its write",
          "[fake_broker][backpressure]") {
    fake_broker b;
    b.script({expect(packet_type::connect), send(accepted_connack()), expect(packet_type::publish),
              expect(packet_type::disconnect), wait_closed()});
    fixture f(b, protocol_version::v3_1_1, {}, 2s,
              [](client_options& o) { o.write_high_water = 0; });
    REQUIRE(f.connect() == std::error_code{});
    std::optional<std::error_code> result;
    f.mqtt->async_publish("t", "hello", qos::at_most_once, false,
                          [&](std::error_code ec) { result = ec; });
    REQUIRE(f.run_until([&] { return result.has_value(); }));
    CHECK(*result == std::error_code{});
    disconnect_and_check(f, b);
    CHECK(b.received_types(1) ==
          std::vector{packet_type::connect, packet_type::publish, packet_type::disconnect});
}

TEST_CASE("fake broker: a connect of the user's after a disconnect while retrying starts the "
          "reconnect schedule over",
          "[fake_broker][reconnect]") {
    const auto v = protocol_version::v5;
    fake_broker b;
    refuse(b, v, reason::server_unavailable, connect_return_code::server_unavailable);
    refuse(b, v, reason::server_unavailable, connect_return_code::server_unavailable);
    refuse(b, v, reason::server_unavailable, connect_return_code::server_unavailable);
    b.script(accept_until_disconnect());
    fixture f(b, v, {30ms, 2s});
    std::optional<std::error_code> first;
    f.mqtt->async_connect([&](std::error_code ec) { first = ec; });
    // Two refusals: retrying in 30 ms, then in 2 s; the user gives up meanwhile.
    REQUIRE(f.run_until([&] {
        int retrying = 0;
        for (const auto& s : f.states)
            retrying += s.what == kind::retrying;
        return retrying == 2;
    }));
    REQUIRE(f.disconnect());
    REQUIRE(f.run_until([&] { return first.has_value(); }));
    CHECK(*first == make_error_code(client_errc::disconnected));
    f.states.clear();
    // Connecting again: the third refusal waits the first delay again, not the 2 s.
    const auto ec = f.connect();
    INFO(b.report() << f.describe_states());
    REQUIRE(ec);
    CHECK(*ec == std::error_code{});
    REQUIRE(f.first(kind::retrying) != nullptr);
    CHECK(f.first(kind::retrying)->retry_in == 30ms);
    disconnect_and_check(f, b);
}
