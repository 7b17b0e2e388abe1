// The sans-I/O session (include/ctmqtt/core/session.hpp), driven by bytes:
// server packets are built with the codec (or written as hex), everything the
// session writes is decoded back, and a recording handler logs what it was
// told. No clock, no socket: every test is deterministic.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <ctmqtt/core.hpp>

#include "hex.hpp"

using namespace ctmqtt;
using namespace std::chrono_literals;
using ctmqtt_test::hex;

namespace {

constexpr auto v4 = protocol_version::v3_1_1;
constexpr auto v5 = protocol_version::v5;

const session_time t0 = session_time{} + 1000s;

std::string text_of(bytes_view b) {
    return std::string{reinterpret_cast<const char*>(b.data()), b.size()};
}

/// Everything the session told its handler, in order (`log`) and by kind.
struct recorder final : session_handler {
    explicit recorder(protocol_version v) : version(v) {}

    struct message {
        std::string topic;
        std::string payload;
        ctmqtt::qos qos = qos::at_most_once;
        bool dup = false;
        std::uint16_t packet_id = 0;
    };

    protocol_version version;
    std::vector<std::string> log;
    std::vector<std::error_code> connacks;
    std::vector<std::pair<std::uint8_t, connect_return_code>>
        connack_codes;                           ///< reason, return code
    std::optional<std::string> server_reference; ///< from the last CONNACK
    std::vector<message> messages;
    std::vector<std::pair<std::uint16_t, std::error_code>> done;
    std::vector<std::uint16_t> subacks;
    std::vector<std::uint16_t> unsubacks;
    std::vector<std::uint8_t> auths;
    std::vector<std::error_code> closed;
    struct server_disconnect {
        std::uint8_t reason = 0;
        std::string server_reference;
        std::string reason_string;
    };
    std::vector<server_disconnect> server_disconnects;
    std::vector<std::error_code> reauthenticated;
    struct stored_packet {
        bool pubrel = false;
        std::vector<std::byte> packet;
    };
    std::map<std::uint16_t, stored_packet> store; ///< what a persistent store would hold
    std::vector<std::string> store_log;
    std::function<void()> after_connack; ///< runs inside on_connack, e.g. to publish

    void on_connack(const connack& ack, std::error_code ec) override {
        connacks.push_back(ec);
        connack_codes.emplace_back(ack.reason_code.value(), ack.return_code);
        server_reference.reset();
        if (auto r = ack.properties.get<property_id::server_reference>())
            server_reference = std::string{*r};
        log.push_back("connack " + to_string(ack, version) + " / " + ec.message());
        if (after_connack)
            after_connack();
    }
    void on_message(const publish& p) override {
        messages.push_back({std::string{p.topic}, text_of(p.payload), p.qos, p.dup, p.packet_id});
        log.push_back("message " + to_string(p, version));
    }
    void on_publish_done(std::uint16_t id, std::error_code ec) override {
        done.emplace_back(id, ec);
        log.push_back("done " + std::to_string(id) + " / " + ec.message());
    }
    void on_suback(const suback& ack) override {
        subacks.push_back(ack.packet_id);
        log.push_back("suback " + to_string(ack, version));
    }
    void on_unsuback(const unsuback& ack) override {
        unsubacks.push_back(ack.packet_id);
        log.push_back("unsuback " + to_string(ack, version));
    }
    void on_auth(const auth& a) override {
        auths.push_back(a.reason_code.value());
        log.push_back("auth " + to_string(a, version));
    }
    void on_server_disconnect(const disconnect& d) override {
        server_disconnect sd;
        sd.reason = d.reason_code.value();
        if (auto r = d.properties.get<property_id::server_reference>())
            sd.server_reference = std::string{*r};
        if (auto r = d.properties.get<property_id::reason_string>())
            sd.reason_string = std::string{*r};
        server_disconnects.push_back(sd);
        log.push_back("server disconnect " + detail::hex_byte(sd.reason));
    }
    void on_stored(std::uint16_t id, bool pubrel, bytes_view packet) override {
        store[id] = {pubrel, {packet.begin(), packet.end()}};
        store_log.push_back((pubrel ? "pubrel " : "stored ") + std::to_string(id));
    }
    void on_released(std::uint16_t id) override {
        store.erase(id);
        store_log.push_back("released " + std::to_string(id));
    }
    void on_inbound_qos2(std::uint16_t id, bool awaiting) override {
        store_log.push_back((awaiting ? "inbound " : "inbound done ") + std::to_string(id));
    }
    void on_reauthenticated(std::error_code ec) override {
        reauthenticated.push_back(ec);
        log.push_back("reauthenticated " + ec.message());
    }
    void on_connection_closed(std::error_code ec) override {
        closed.push_back(ec);
        log.push_back("closed " + ec.message());
    }
};

/// One packet the session wrote, copied out of its output.
struct sent {
    std::vector<std::byte> bytes;
    packet_type type = packet_type::reserved;
    std::string text;

    template <class P>
    P as(protocol_version v) const {
        auto r = decode<P>(bytes_view{bytes}, v);
        INFO(text);
        REQUIRE(r);
        return *r;
    }
};

template <class P>
std::vector<std::byte> bytes_of(const P& p, protocol_version v) {
    std::vector<std::byte> out(encoded_size(p, v));
    auto e = encode(p, v, std::span{out});
    REQUIRE(e);
    std::copy(e->payload.begin(), e->payload.end(),
              out.begin() + static_cast<std::ptrdiff_t>(e->header.size()));
    return out;
}

session::options options_for(protocol_version v) {
    session::options o;
    o.version = v;
    o.connect.client_id = "c1";
    o.connect.keep_alive = 60;
    return o;
}

/// A session with its recorder, its clock and helpers to feed and read it.
struct harness {
    explicit harness(protocol_version v) : harness(options_for(v)) {}
    explicit harness(session::options o) : v(o.version), rec(o.version), s(std::move(o), rec) {}

    protocol_version v;
    recorder rec;
    session s;
    session_time now = t0;

    /// Decodes and consumes everything written so far.
    std::vector<sent> out() {
        std::vector<sent> packets;
        const auto data = s.output();
        std::size_t at = 0;
        while (at < data.size()) {
            auto d = decode_packet(data.subspan(at), v);
            INFO("output at " << at);
            REQUIRE(d);
            sent p;
            p.bytes.assign(data.begin() + static_cast<std::ptrdiff_t>(at),
                           data.begin() + static_cast<std::ptrdiff_t>(at + d->size));
            p.type = static_cast<packet_type>(std::to_integer<unsigned>(data[at]) >> 4);
            p.text = to_string(d->packet, v);
            packets.push_back(std::move(p));
            at += d->size;
        }
        s.consume_output(data.size());
        return packets;
    }

    /// The single packet written since the last out(); valid until the next one().
    const sent& one() {
        auto o = out();
        REQUIRE(o.size() == 1);
        last = std::move(o[0]);
        return last;
    }
    sent last;

    void feed(bytes_view b) { s.receive(b, now); }
    void feed(const std::vector<std::byte>& b) { s.receive(bytes_view{b}, now); }
    void feed_hex(const char* h) { feed(hex(h)); }
    template <class P>
    void feed_packet(const P& p) {
        feed(bytes_of(p, v));
    }

    /// CONNECT written and taken from the output: the CONNACK is awaited.
    void start() {
        REQUIRE_FALSE(s.connect(now));
        REQUIRE(one().type == packet_type::connect);
    }

    /// CONNECT, then the given CONNACK; leaves the output empty.
    void connect(const connack& ack = {}) {
        REQUIRE_FALSE(s.connect(now));
        REQUIRE(one().type == packet_type::connect);
        feed_packet(ack);
        REQUIRE(s.current_state() == session::state::connected);
    }

    /// The transport closed; the next connection is answered with `ack` (its
    /// CONNECT taken from the output; what follows the CONNACK is left there).
    void reconnect(const connack& ack = {}) {
        s.connection_lost();
        REQUIRE_FALSE(s.connect(now));
        REQUIRE(one().type == packet_type::connect);
        feed_packet(ack);
    }

    std::uint16_t publish(std::string_view topic, ctmqtt::qos q, std::string_view payload = "m",
                          const publish_properties& props = {}) {
        ctmqtt::publish p;
        p.topic = topic;
        p.qos = q;
        p.payload = as_bytes(payload);
        p.properties = props;
        auto id = s.publish(p, now);
        REQUIRE(id);
        return *id;
    }

    /// The reason code of the DISCONNECT written last (MQTT 5).
    std::uint8_t disconnect_reason() {
        auto o = out();
        REQUIRE_FALSE(o.empty());
        REQUIRE(o.back().type == packet_type::disconnect);
        return o.back().as<ctmqtt::disconnect>(v).reason_code.value();
    }
};

template <packet_type T>
std::vector<std::byte> ack_bytes(std::uint16_t id, std::uint8_t code, protocol_version v) {
    basic_publish_ack<T> a;
    a.packet_id = id;
    a.reason_code = *basic_reason_code<T>::from_value(code);
    return bytes_of(a, v);
}

std::vector<std::byte> publish_bytes(std::string_view topic, ctmqtt::qos q, std::uint16_t id,
                                     protocol_version v, bool dup = false,
                                     std::string_view payload = "x") {
    ctmqtt::publish p;
    p.topic = topic;
    p.qos = q;
    p.packet_id = id;
    p.dup = dup;
    p.payload = as_bytes(payload);
    return bytes_of(p, v);
}

const subscription one_subscription[] = {{"a/b", qos::at_least_once}};

/// A server's DISCONNECT (MQTT 5) with the given Server Reference and Reason String, if any.
std::vector<std::byte> disconnect_bytes(reason code, std::string_view server_reference = {},
                                        std::string_view reason_string = {}) {
    ctmqtt::disconnect d;
    d.reason_code = *disconnect_reason_code::from_reason(code);
    if (!server_reference.empty())
        d.properties.set<property_id::server_reference>(server_reference);
    if (!reason_string.empty())
        d.properties.set<property_id::reason_string>(reason_string);
    return bytes_of(d, protocol_version::v5);
}

/// `ack` with Session Present 1: the server resumed the session.
connack resumed(connack ack = {}) {
    ack.session_present = true;
    return ack;
}

} // namespace

// ---------------------------------------------------------------- CONNECT / CONNACK

TEST_CASE("CONNECT carries Receive Maximum, Maximum Packet Size and Topic Alias Maximum only "
          "when set",
          "[session]") {
    SECTION("MQTT 5, defaults: no properties") {
        harness h{v5};
        REQUIRE_FALSE(h.s.connect(h.now));
        auto c = h.one().as<ctmqtt::connect>(v5);
        CHECK(c.version == v5);
        CHECK(c.client_id == "c1");
        CHECK(c.keep_alive == 60);
        CHECK(c.properties.empty());
        CHECK(h.s.current_state() == session::state::connecting);
        CHECK(h.s.connect(h.now) == session_errc::already_connecting);
    }
    SECTION("MQTT 5, limits set") {
        auto o = options_for(v5);
        o.receive_maximum = 10;
        o.maximum_packet_size = 1000;
        o.topic_alias_maximum = 5;
        harness h{o};
        REQUIRE_FALSE(h.s.connect(h.now));
        auto c = h.one().as<ctmqtt::connect>(v5);
        CHECK(c.properties.get<property_id::receive_maximum>() == std::uint16_t{10});
        CHECK(c.properties.get<property_id::maximum_packet_size>() == 1000u);
        CHECK(c.properties.get<property_id::topic_alias_maximum>() == std::uint16_t{5});
    }
    SECTION("MQTT 3.1.1 has no properties, whatever is set") {
        auto o = options_for(v4);
        o.receive_maximum = 10;
        o.maximum_packet_size = 1000;
        o.topic_alias_maximum = 5;
        harness h{o};
        REQUIRE_FALSE(h.s.connect(h.now));
        auto c = h.one().as<ctmqtt::connect>(v4);
        CHECK(c.version == v4);
        CHECK(c.properties.empty());
    }
}

TEST_CASE("set_client_id changes the Client Identifier of the next CONNECT, as set_clean_start "
          "its flag: a reconnect with the Assigned Client Identifier resumes the session",
          "[session]") {
    // the CONNECT a session with these settings must write, encoded on its own
    const auto expected = [](protocol_version v, std::string_view id, bool clean_start) {
        ctmqtt::connect c;
        c.version = v;
        c.client_id = id;
        c.keep_alive = 60;
        c.clean_start = clean_start;
        return bytes_of(c, v);
    };
    SECTION("MQTT 5: an empty identifier, then the one the server assigned") {
        auto o = options_for(v5);
        o.connect.client_id = {};
        harness h{o};
        REQUIRE_FALSE(h.s.connect(h.now));
        CHECK(h.one().bytes == expected(v5, "", true));
        connack ack;
        ack.properties.set<property_id::assigned_client_identifier>(std::string_view{"auto-42"});
        h.feed_packet(ack);
        REQUIRE(h.s.current_state() == session::state::connected);
        const auto id = h.publish("t", qos::at_least_once, "kept");
        h.out();

        const std::string assigned = h.s.limits().assigned_client_id; // outlives the session
        h.s.set_client_id(assigned);
        h.s.set_clean_start(false);
        h.s.connection_lost();
        REQUIRE_FALSE(h.s.connect(h.now));
        CHECK(h.one().bytes == expected(v5, "auto-42", false));
        h.feed_packet(resumed());
        const auto resent = h.one().as<ctmqtt::publish>(v5);
        CHECK(resent.packet_id == id);
        CHECK(resent.dup);
        CHECK(h.rec.connacks.size() == 2);
    }
    SECTION("MQTT 3.1.1, changed while connected: the CONNECT already sent is not touched") {
        harness h{v4};
        REQUIRE_FALSE(h.s.connect(h.now));
        h.s.set_client_id("other");
        CHECK(h.one().bytes == expected(v4, "c1", true));
        h.feed_packet(connack{});
        h.s.connection_lost();
        REQUIRE_FALSE(h.s.connect(h.now));
        CHECK(h.one().bytes == expected(v4, "other", true));
    }
}

TEST_CASE("CONNACK: every negotiated value is honoured", "[session]") {
    harness h{v5};
    connack ack;

    SECTION("Receive Maximum limits QoS 1/2 publishes in flight [MQTT-3.3.4-7]") {
        ack.properties.set<property_id::receive_maximum>(std::uint16_t{2});
        h.connect(ack);
        CHECK(h.s.limits().receive_maximum == 2);
        const auto a = h.publish("t", qos::at_least_once);
        h.publish("t", qos::exactly_once);
        ctmqtt::publish p;
        p.topic = "t";
        p.qos = qos::at_least_once;
        CHECK(h.s.publish(p, h.now).error() == session_errc::send_quota_exhausted);
        CHECK(h.s.publishes_in_flight() == 2);
        p.qos = qos::at_most_once; // QoS 0 is not counted
        CHECK(h.s.publish(p, h.now));
        h.out();
        h.feed(ack_bytes<packet_type::puback>(a, 0, v5));
        p.qos = qos::at_least_once;
        CHECK(h.s.publish(p, h.now));
    }
    SECTION("Maximum Packet Size: a larger packet is refused and nothing is written "
            "[MQTT-3.2.2-15]") {
        ack.properties.set<property_id::maximum_packet_size>(20u);
        h.connect(ack);
        ctmqtt::publish p;
        p.topic = "t";
        p.payload = as_bytes("a payload that will not fit in twenty bytes");
        for (auto q : {qos::at_most_once, qos::at_least_once, qos::exactly_once}) {
            p.qos = q;
            CHECK(h.s.publish(p, h.now).error() == session_errc::outbound_packet_too_large);
            CHECK(h.s.output().empty());
            CHECK(h.s.publishes_in_flight() == 0);
        }
        p.payload = as_bytes("fits");
        p.qos = qos::at_least_once;
        auto id = h.s.publish(p, h.now);
        REQUIRE(id);
        CHECK(*id == 1); // the identifiers taken by the refused publishes came back
        CHECK(h.one().type == packet_type::publish);
    }
    SECTION("Maximum QoS [MQTT-3.2.2-11]") {
        ack.properties.set<property_id::maximum_qos>(std::uint8_t{1});
        h.connect(ack);
        ctmqtt::publish p;
        p.topic = "t";
        p.qos = qos::exactly_once;
        CHECK(h.s.publish(p, h.now).error() == session_errc::qos_not_supported);
        CHECK(h.s.output().empty());
        p.qos = qos::at_least_once;
        CHECK(h.s.publish(p, h.now));
    }
    SECTION("Maximum QoS 0") {
        ack.properties.set<property_id::maximum_qos>(std::uint8_t{0});
        h.connect(ack);
        ctmqtt::publish p;
        p.topic = "t";
        p.qos = qos::at_least_once;
        CHECK(h.s.publish(p, h.now).error() == session_errc::qos_not_supported);
        p.qos = qos::at_most_once;
        CHECK(h.s.publish(p, h.now));
    }
    SECTION("Retain Available 0 [MQTT-3.2.2-14]") {
        ack.properties.set<property_id::retain_available>(std::uint8_t{0});
        h.connect(ack);
        ctmqtt::publish p;
        p.topic = "t";
        p.retain = true;
        const auto r = h.s.publish(p, h.now);
        CHECK(r.error() == session_errc::retain_not_supported);
        CHECK_THAT(r.error().message(), Catch::Contains("[MQTT-3.2.2-14]"));
        CHECK(h.s.output().empty());
        p.retain = false;
        CHECK(h.s.publish(p, h.now));
    }
    SECTION("Server Keep Alive replaces ours [MQTT-3.1.2-21]") {
        ack.properties.set<property_id::server_keep_alive>(std::uint16_t{5});
        h.start();
        CHECK(h.s.deadline() == t0 + 90s); // 1.5 × 60 until CONNACK
        h.feed_packet(ack);
        CHECK(h.s.limits().keep_alive == 5);
        CHECK(h.s.deadline() == t0 + 5s);
        h.s.on_timer(t0 + 5s);
        CHECK(h.one().type == packet_type::pingreq);
    }
    SECTION("Server Keep Alive 0 turns keep alive off") {
        ack.properties.set<property_id::server_keep_alive>(std::uint16_t{0});
        h.connect(ack);
        CHECK(h.s.limits().keep_alive == 0);
        CHECK_FALSE(h.s.deadline());
    }
    SECTION("Assigned Client Identifier") {
        ack.properties.set<property_id::assigned_client_identifier>(std::string_view{"auto-42"});
        h.connect(ack);
        CHECK(h.s.limits().assigned_client_id == "auto-42");
    }
    SECTION("Wildcard Subscription Available 0") {
        ack.properties.set<property_id::wildcard_subscription_available>(std::uint8_t{0});
        h.connect(ack);
        for (const char* f : {"a/+", "a/#", "#"}) {
            const subscription sub[] = {{f, qos::at_most_once}};
            CHECK(h.s.subscribe(sub, {}, h.now).error() ==
                  session_errc::wildcard_subscriptions_not_supported);
        }
        CHECK(h.s.output().empty());
        CHECK(h.s.subscribe(one_subscription, {}, h.now));
    }
    SECTION("Subscription Identifier Available 0") {
        ack.properties.set<property_id::subscription_identifier_available>(std::uint8_t{0});
        h.connect(ack);
        subscribe_properties props;
        props.set<property_id::subscription_identifier>(std::uint32_t{7});
        CHECK(h.s.subscribe(one_subscription, props, h.now).error() ==
              session_errc::subscription_identifiers_not_supported);
        CHECK(h.s.output().empty());
        CHECK(h.s.subscribe(one_subscription, {}, h.now));
    }
    SECTION("Shared Subscription Available 0") {
        ack.properties.set<property_id::shared_subscription_available>(std::uint8_t{0});
        h.connect(ack);
        const subscription shared[] = {{"$share/g/a/b", qos::at_most_once}};
        CHECK(h.s.subscribe(shared, {}, h.now).error() ==
              session_errc::shared_subscriptions_not_supported);
        CHECK(h.s.output().empty());
        CHECK(h.s.subscribe(one_subscription, {}, h.now));
    }
    SECTION("absent properties: the specification's defaults") {
        h.connect();
        const auto& l = h.s.limits();
        CHECK(l.receive_maximum == 65'535);
        CHECK(l.maximum_packet_size == 0);
        CHECK(l.maximum_qos == qos::exactly_once);
        CHECK(l.retain_available);
        CHECK(l.wildcard_subscription_available);
        CHECK(l.subscription_identifier_available);
        CHECK(l.shared_subscription_available);
        CHECK(l.keep_alive == 60);
        CHECK(l.assigned_client_id.empty());
    }
    REQUIRE(h.rec.connacks.size() == 1);
    CHECK_FALSE(h.rec.connacks[0]);
    CHECK(h.rec.closed.empty());
}

TEST_CASE("CONNACK 3.1.1: accepted, no limits, wildcards allowed", "[session]") {
    harness h{v4};
    h.connect();
    CHECK_FALSE(h.rec.connacks.at(0));
    CHECK(h.s.limits().receive_maximum == 65'535);
    const subscription sub[] = {{"a/#", qos::exactly_once}, {"$share/g/b", qos::at_most_once}};
    auto id = h.s.subscribe(sub, {}, h.now);
    REQUIRE(id);
    auto s = h.one().as<ctmqtt::subscribe>(v4);
    CHECK(s.packet_id == *id);
    h.feed_hex("90 04 00 01 02 00");
    CHECK(h.rec.subacks == std::vector<std::uint16_t>{1});
}

TEST_CASE("every MQTT 5 CONNACK refusal is reported with its name and closes", "[session]") {
    int refusals = 0;
    for (const auto& row : reason_code_table) {
        if (row.value < 0x80 || !reason_code_allowed(packet_type::connack, row.value))
            continue;
        ++refusals;
        INFO(row.name);
        harness h{v5};
        h.start();
        connack ack;
        ack.reason_code = *connack_reason_code::from_value(row.value);
        h.feed_packet(ack);
        REQUIRE(h.rec.connacks.size() == 1);
        const auto ec = h.rec.connacks[0];
        CHECK(ec == session_errc::connection_refused);
        CHECK(ec.category() == session_category());
        CHECK(ec.message() == "connection refused: " + std::string{row.name} + " (CONNACK " +
                                  detail::hex_byte(row.value) + ")");
        REQUIRE(h.rec.closed.size() == 1);
        CHECK(h.rec.closed[0] == ec);
        CHECK(h.s.current_state() == session::state::disconnected);
        CHECK(h.s.output().empty()); // no DISCONNECT after a refusal
    }
    CHECK(refusals == 21);

    harness h{v5};
    h.start();
    connack ack;
    ack.reason_code = reason::bad_user_name_or_password;
    h.feed_packet(ack);
    CHECK(h.rec.closed.at(0).message() ==
          "connection refused: Bad User Name or Password (CONNACK 0x86)");
}

TEST_CASE("CONNACK 0x9C with a Server Reference: the handler sees the reference", "[session]") {
    harness h{v5};
    h.start();
    connack ack;
    ack.reason_code = reason::use_another_server;
    ack.properties.set<property_id::server_reference>(std::string_view{"other:1883"});
    h.feed_packet(ack);
    CHECK(h.rec.connacks.at(0) == session_errc::connection_refused);
    CHECK(h.rec.server_reference == "other:1883");
}

TEST_CASE("every MQTT 3.1.1 CONNACK return code 1-5 is reported and closes", "[session]") {
    const char* names[] = {"",
                           "unacceptable protocol version",
                           "identifier rejected",
                           "Server unavailable",
                           "bad user name or password",
                           "not authorized"};
    for (unsigned code = 1; code <= 5; ++code) {
        INFO(code);
        harness h{v4};
        h.start();
        auto b = hex("20 02 00 00");
        b[3] = static_cast<std::byte>(code);
        h.feed(b);
        REQUIRE(h.rec.connacks.size() == 1);
        const auto ec = h.rec.connacks[0];
        CHECK(ec == session_errc::connection_refused_v3);
        CHECK(ec.message() == "connection refused: " + std::string{names[code]} +
                                  " (CONNACK return code " + std::to_string(code) + ")");
        REQUIRE(h.rec.closed.size() == 1);
        CHECK(h.rec.closed[0] == ec);
        CHECK(h.s.current_state() == session::state::disconnected);
        CHECK(h.s.output().empty());
    }
}

TEST_CASE("a 3.1.1 server's CONNACK to a 5.0 CONNECT (return code 1) is the refusal 0x84",
          "[session]") {
    // What 0x84 Unsupported Protocol Version in a 5.0 CONNACK gives.
    harness v5_refusal{v5};
    v5_refusal.start();
    connack ack;
    ack.reason_code = reason::unsupported_protocol_version;
    v5_refusal.feed_packet(ack);
    REQUIRE(v5_refusal.rec.connacks.size() == 1);
    const auto expected = v5_refusal.rec.connacks[0];
    REQUIRE(expected == make_error_code(session_errc::connection_refused, 0x84));

    for (bool split : {false, true}) {
        INFO("fed " << (split ? "a byte at a time" : "whole"));
        harness h{v5};
        h.start();
        const auto bytes = hex("20 02 00 01"); // 3.1.1 §3.2: flags 0, return code 1
        if (split)
            for (std::size_t i = 0; i < bytes.size(); ++i)
                h.feed(bytes_view{bytes}.subspan(i, 1));
        else
            h.feed(bytes);
        REQUIRE(h.rec.connacks.size() == 1);
        const auto ec = h.rec.connacks[0];
        CHECK(ec == expected);
        CHECK(ec.message() == expected.message());
        CHECK(ec.message() == "connection refused: Unsupported Protocol Version (CONNACK 0x84)");
        // Both ways of asking "was the version refused?" say yes.
        REQUIRE(h.rec.connack_codes.size() == 1);
        CHECK(h.rec.connack_codes[0].first == 0x84);
        CHECK(h.rec.connack_codes[0].second == connect_return_code::unacceptable_protocol_version);
        REQUIRE(h.rec.closed.size() == 1);
        CHECK(h.rec.closed[0] == expected);
        CHECK(h.s.current_state() == session::state::disconnected);
        CHECK(h.s.output().empty()); // no DISCONNECT: the server does not speak 5.0
    }

    SECTION("a 3.1.1 session takes the same bytes as its own refusal") {
        harness h{v4};
        h.start();
        h.feed_hex("20 02 00 01");
        REQUIRE(h.rec.connacks.size() == 1);
        CHECK(h.rec.connacks[0] ==
              make_error_code(
                  session_errc::connection_refused_v3,
                  static_cast<unsigned>(connect_return_code::unacceptable_protocol_version)));
    }
    SECTION("once connected, the same bytes are a second CONNACK [MQTT-3.2.0-2]") {
        harness h{v5};
        h.connect();
        h.feed_hex("20 02 00 01");
        REQUIRE(h.rec.closed.size() == 1);
        CHECK(h.rec.closed[0] == session_errc::unexpected_packet);
        CHECK(h.rec.connacks.size() == 1);
        CHECK(h.disconnect_reason() == 0x82);
    }
}

TEST_CASE("other 2-byte CONNACKs to a 5.0 CONNECT stay malformed: DISCONNECT 0x81", "[session]") {
    struct bad {
        const char* bytes;
        codec_errc rule;
    };
    const bad inputs[] = {
        {"20 02 00 00", codec_errc::field_truncated},         // 3.1.1 accepted: no property length
        {"20 02 00 02", codec_errc::reason_code_not_allowed}, // 3.1.1 identifier rejected
        {"20 02 00 05", codec_errc::reason_code_not_allowed}, // 3.1.1 not authorized
        {"20 02 01 01", codec_errc::reason_code_not_allowed}, // return code 1 with Session Present
        {"20 02 00 84", codec_errc::field_truncated},         // 5.0 0x84 without property length
        {"20 02 02 01", codec_errc::connack_reserved_flags},  // return code 1, a reserved flag
    };
    for (const auto& in : inputs) {
        INFO(in.bytes);
        harness h{v5};
        h.start();
        h.feed_hex(in.bytes);
        CHECK(h.rec.connacks.empty());
        REQUIRE(h.rec.closed.size() == 1);
        const auto ec = h.rec.closed[0];
        CHECK(ec.category() == codec_category());
        CHECK(ec == in.rule);
        CHECK_THAT(ec.message(), Catch::Contains("CONNACK"));
        CHECK(h.s.current_state() == session::state::disconnected);
        CHECK(h.disconnect_reason() == 0x81);
    }
}

// ---------------------------------------------------------------- protocol errors

TEST_CASE("a second CONNACK is a protocol error [MQTT-3.2.0-2]", "[session]") {
    for (auto v : {v4, v5}) {
        INFO(to_string(v));
        harness h{v};
        h.connect();
        h.feed_packet(connack{});
        REQUIRE(h.rec.closed.size() == 1);
        CHECK(h.rec.closed[0] == session_errc::unexpected_packet);
        CHECK_THAT(h.rec.closed[0].message(), Catch::Contains("CONNACK"));
        CHECK(h.rec.connacks.size() == 1);
        CHECK(h.s.current_state() == session::state::disconnected);
        if (v == v5)
            CHECK(h.disconnect_reason() == 0x82);
        else
            CHECK(h.s.output().empty());
    }
}

TEST_CASE("packets before CONNACK are protocol errors [MQTT-3.2.0-1]", "[session]") {
    for (auto v : {v4, v5}) {
        for (const char* bytes : {"30 04 00 01 61 78", "40 02 00 01", "D0 00", "B0 02 00 01"}) {
            INFO(to_string(v) << " " << bytes);
            if (v == v5 && std::string_view{bytes} == "B0 02 00 01")
                continue;
            harness h{v};
            h.start();
            h.feed_hex(bytes);
            CHECK(h.rec.messages.empty());
            REQUIRE(h.rec.closed.size() == 1);
            CHECK(h.rec.closed[0] == session_errc::unexpected_packet);
            CHECK(h.s.current_state() == session::state::disconnected);
            if (v == v5)
                CHECK(h.disconnect_reason() == 0x82);
            else
                CHECK(h.s.output().empty());
        }
    }
}

TEST_CASE("packets only a client sends are protocol errors", "[session]") {
    for (auto v : {v4, v5}) {
        ctmqtt::connect c;
        c.version = v;
        c.client_id = "x";
        ctmqtt::subscribe sub;
        sub.packet_id = 1;
        sub.subscriptions = one_subscription;
        ctmqtt::unsubscribe unsub;
        const std::string_view filters[] = {"a"};
        unsub.packet_id = 1;
        unsub.topic_filters = filters;
        const std::vector<std::pair<const char*, std::vector<std::byte>>> packets = {
            {"CONNECT", bytes_of(c, v)},
            {"SUBSCRIBE", bytes_of(sub, v)},
            {"UNSUBSCRIBE", bytes_of(unsub, v)},
            {"PINGREQ", hex("C0 00")}};
        for (const auto& [name, bytes] : packets) {
            INFO(to_string(v) << " " << name);
            harness h{v};
            h.connect();
            h.feed(bytes);
            REQUIRE(h.rec.closed.size() == 1);
            CHECK(h.rec.closed[0] == session_errc::unexpected_packet);
            CHECK_THAT(h.rec.closed[0].message(), Catch::Contains(name));
            if (v == v5)
                CHECK(h.disconnect_reason() == 0x82);
            else
                CHECK(h.s.output().empty());
        }
    }
}

TEST_CASE("DISCONNECT from a 3.1.1 server is a protocol error", "[session]") {
    harness h{v4};
    h.connect();
    h.feed_hex("E0 00");
    REQUIRE(h.rec.closed.size() == 1);
    CHECK(h.rec.closed[0] == session_errc::unexpected_packet);
    CHECK_THAT(h.rec.closed[0].message(), Catch::Contains("DISCONNECT"));
    CHECK(h.s.output().empty());
}

// ---------------------------------------------------------------- QoS flows

TEST_CASE("outbound QoS 0, 1 and 2", "[session]") {
    for (auto v : {v4, v5}) {
        INFO(to_string(v));
        harness h{v};
        h.connect();

        // QoS 0: written, no identifier, never reported
        CHECK(h.publish("t", qos::at_most_once, "zero") == 0);
        auto p0 = h.one().as<ctmqtt::publish>(v);
        CHECK(p0.qos == qos::at_most_once);
        CHECK(text_of(p0.payload) == "zero");
        CHECK(h.s.publishes_in_flight() == 0);

        // QoS 1: PUBACK finishes it
        const auto id1 = h.publish("t", qos::at_least_once, "one");
        auto p1 = h.one().as<ctmqtt::publish>(v);
        CHECK(p1.packet_id == id1);
        CHECK(p1.qos == qos::at_least_once);
        CHECK_FALSE(p1.dup);
        CHECK(h.s.publishes_in_flight() == 1);
        h.feed(ack_bytes<packet_type::puback>(id1, 0, v));
        REQUIRE(h.rec.done.size() == 1);
        CHECK(h.rec.done[0] == std::pair{id1, std::error_code{}});
        CHECK(h.s.publishes_in_flight() == 0);
        CHECK(h.s.output().empty());

        // QoS 2: PUBREC -> PUBREL, PUBCOMP finishes it
        const auto id2 = h.publish("t", qos::exactly_once, "two");
        CHECK(h.one().as<ctmqtt::publish>(v).packet_id == id2);
        h.feed(ack_bytes<packet_type::pubrec>(id2, 0, v));
        auto rel = h.one();
        REQUIRE(rel.type == packet_type::pubrel);
        CHECK(rel.as<pubrel>(v).packet_id == id2);
        CHECK(h.rec.done.size() == 1);
        CHECK(h.s.publishes_in_flight() == 1); // until PUBCOMP
        h.feed(ack_bytes<packet_type::pubcomp>(id2, 0, v));
        REQUIRE(h.rec.done.size() == 2);
        CHECK(h.rec.done[1] == std::pair{id2, std::error_code{}});
        CHECK(h.s.publishes_in_flight() == 0);
        CHECK(h.rec.closed.empty());
    }
}

TEST_CASE("a QoS 0 message with DUP or a packet identifier goes without them", "[session]") {
    for (auto v : {v4, v5}) {
        INFO(to_string(v));
        harness h{v};
        h.connect();
        ctmqtt::publish p;
        p.topic = "t";
        p.payload = as_bytes(std::string_view{"zero"});
        p.dup = true;
        p.packet_id = 7;
        auto id = h.s.publish(p, h.now);
        REQUIRE(id);
        CHECK(*id == 0);
        auto sent = h.one().as<ctmqtt::publish>(v);
        CHECK_FALSE(sent.dup);
        CHECK(sent.packet_id == 0);
        CHECK(text_of(sent.payload) == "zero");
    }
}

TEST_CASE("take_output hands over what is pending; the session goes on in its own buffer",
          "[session]") {
    harness h{v5};
    h.connect();
    h.publish("first", qos::at_most_once, "one");
    const auto first_size = h.s.output().size();
    const auto id = h.publish("second", qos::at_least_once, "two");
    const std::vector<std::byte> pending(h.s.output().begin(), h.s.output().end());
    h.s.consume_output(3); // the transport wrote 3 bytes of the first PUBLISH

    byte_buffer taken;
    taken.append(hex("AA BB")); // old contents are dropped
    h.s.take_output(taken);
    CHECK(h.s.output().empty());
    REQUIRE(taken.size() == pending.size() - 3);
    CHECK(std::equal(taken.begin(), taken.end(), pending.begin() + 3));

    // More output goes to the session's buffer; the taken bytes do not move or change.
    const auto* before = taken.data();
    h.publish("third", qos::at_most_once, std::string(1000, 'x'));
    CHECK(taken.data() == before);
    CHECK(std::equal(taken.begin(), taken.end(), pending.begin() + 3));
    const auto third = h.one().as<ctmqtt::publish>(v5);
    CHECK(third.topic == "third");
    CHECK(third.payload.size() == 1000);

    // What was taken decodes to the rest of the first PUBLISH and the whole second one.
    auto second = decode_packet(bytes_view{taken}.subspan(first_size - 3), v5);
    REQUIRE(second);
    CHECK(std::get<ctmqtt::publish>(second->packet).packet_id == id);
}

TEST_CASE("MQTT 5 reason codes in PUBACK and PUBREC", "[session]") {
    harness h{v5};
    h.connect();

    SECTION("0x10 No matching subscribers is a success") {
        const auto id = h.publish("t", qos::at_least_once);
        h.out();
        h.feed(ack_bytes<packet_type::puback>(id, 0x10, v5));
        CHECK(h.rec.done.at(0) == std::pair{id, std::error_code{}});
    }
    SECTION("PUBACK with an error ends the flow with publish_refused") {
        const auto id = h.publish("t", qos::at_least_once);
        h.out();
        h.feed(ack_bytes<packet_type::puback>(id, 0x87, v5));
        REQUIRE(h.rec.done.size() == 1);
        const auto ec = h.rec.done[0].second;
        CHECK(ec == session_errc::publish_refused);
        CHECK(ec.message() == "the server refused the message: Not authorized (0x87)");
        CHECK(h.s.publishes_in_flight() == 0);
    }
    SECTION("PUBREC with an error ends the flow: no PUBREL (MQTT 5 §4.3.3)") {
        const auto id = h.publish("t", qos::exactly_once);
        h.out();
        h.feed(ack_bytes<packet_type::pubrec>(id, 0x97, v5));
        REQUIRE(h.rec.done.size() == 1);
        CHECK(h.rec.done[0].first == id);
        CHECK(h.rec.done[0].second == session_errc::publish_refused);
        CHECK_THAT(h.rec.done[0].second.message(), Catch::Contains("Quota exceeded (0x97)"));
        CHECK(h.s.output().empty());
        CHECK(h.s.publishes_in_flight() == 0);
        // the identifier is free again
        CHECK(h.publish("t", qos::exactly_once) == id);
    }
    SECTION("PUBCOMP 0x92 is reported") {
        const auto id = h.publish("t", qos::exactly_once);
        h.out();
        h.feed(ack_bytes<packet_type::pubrec>(id, 0, v5));
        h.out();
        h.feed(ack_bytes<packet_type::pubcomp>(id, 0x92, v5));
        CHECK(h.rec.done.at(0).second == session_errc::publish_refused);
    }
    CHECK(h.rec.closed.empty());
}

TEST_CASE("inbound QoS 0, 1 and 2; QoS 2 delivered exactly once", "[session]") {
    for (auto v : {v4, v5}) {
        INFO(to_string(v));
        harness h{v};
        h.connect();

        h.feed(publish_bytes("a", qos::at_most_once, 0, v, false, "zero"));
        REQUIRE(h.rec.messages.size() == 1);
        CHECK(h.rec.messages[0].payload == "zero");
        CHECK(h.s.output().empty());

        h.feed(publish_bytes("a", qos::at_least_once, 5, v, false, "one"));
        REQUIRE(h.rec.messages.size() == 2);
        CHECK(h.rec.messages[1].packet_id == 5);
        auto ack = h.one();
        REQUIRE(ack.type == packet_type::puback);
        CHECK(ack.as<puback>(v).packet_id == 5);

        h.feed(publish_bytes("a", qos::exactly_once, 7, v, false, "two"));
        CHECK(h.rec.messages.size() == 3);
        auto rec = h.one();
        REQUIRE(rec.type == packet_type::pubrec);
        CHECK(rec.as<pubrec>(v).packet_id == 7);

        // a resend before PUBREL: PUBREC again, not delivered again
        h.feed(publish_bytes("a", qos::exactly_once, 7, v, true, "two"));
        CHECK(h.rec.messages.size() == 3);
        auto rec2 = h.one();
        REQUIRE(rec2.type == packet_type::pubrec);
        CHECK(rec2.as<pubrec>(v).packet_id == 7);

        h.feed(ack_bytes<packet_type::pubrel>(7, 0, v));
        auto comp = h.one();
        REQUIRE(comp.type == packet_type::pubcomp);
        CHECK(comp.as<pubcomp>(v).packet_id == 7);
        CHECK(comp.as<pubcomp>(v).reason_code.value() == 0);

        // after PUBREL the identifier carries a new message
        h.feed(publish_bytes("a", qos::exactly_once, 7, v, false, "again"));
        CHECK(h.rec.messages.size() == 4);
        h.out();

        // PUBREL for an identifier not awaiting one: PUBCOMP (0x92 in MQTT 5, MQTT 5 §3.7.2.1)
        h.feed(ack_bytes<packet_type::pubrel>(9, 0, v));
        auto comp9 = h.one();
        REQUIRE(comp9.type == packet_type::pubcomp);
        CHECK(comp9.as<pubcomp>(v).packet_id == 9);
        CHECK(comp9.as<pubcomp>(v).reason_code.value() == (v == v5 ? 0x92 : 0));
        CHECK(h.rec.closed.empty());
    }
}

TEST_CASE("QoS 1 receiver: after the PUBACK, a PUBLISH with the same identifier is a new message, "
          "whatever its DUP [MQTT-4.3.2-5] (3.1.1: [MQTT-4.3.2-2])",
          "[session]") {
    for (auto v : {v4, v5}) {
        INFO(to_string(v));
        harness h{v};
        h.connect();
        const auto acknowledged = [&] {
            const auto& ack = h.one();
            REQUIRE(ack.type == packet_type::puback);
            return ack.as<puback>(v).packet_id;
        };
        h.feed(publish_bytes("a", qos::at_least_once, 5, v, false, "first"));
        CHECK(acknowledged() == 5);
        // the server resends it (DUP 1): delivered again, acknowledged again
        h.feed(publish_bytes("a", qos::at_least_once, 5, v, true, "first"));
        CHECK(acknowledged() == 5);
        // and a new message under the same identifier, DUP 0
        h.feed(publish_bytes("a", qos::at_least_once, 5, v, false, "second"));
        CHECK(acknowledged() == 5);
        REQUIRE(h.rec.messages.size() == 3);
        CHECK(h.rec.messages[0].payload == "first");
        CHECK_FALSE(h.rec.messages[0].dup);
        CHECK(h.rec.messages[1].payload == "first");
        CHECK(h.rec.messages[1].dup);
        CHECK(h.rec.messages[2].payload == "second");
        for (const auto& m : h.rec.messages)
            CHECK(m.packet_id == 5);
        CHECK(h.rec.closed.empty());
    }
}

TEST_CASE("QoS 2 receiver: the acknowledgement sequence goes on after the message expired "
          "[MQTT-4.3.3-13]; after the PUBCOMP the identifier carries a new message, whatever its "
          "DUP [MQTT-4.3.3-12]",
          "[session]") {
    harness h{v5};
    h.connect();
    ctmqtt::publish p;
    p.topic = "a";
    p.qos = qos::exactly_once;
    p.packet_id = 7;
    p.payload = as_bytes(std::string_view{"brief"});
    p.properties.set<property_id::message_expiry_interval>(1u);
    h.feed_packet(p);
    REQUIRE(h.rec.messages.size() == 1);
    CHECK(h.one().as<pubrec>(v5).packet_id == 7);

    // long past its expiry, across a resumed session: the server's resend gets
    // PUBREC and is not delivered again, its PUBREL gets PUBCOMP Success
    h.now += 30s;
    h.s.on_timer(h.now);
    h.out(); // PINGREQ, if any
    h.s.set_clean_start(false);
    h.now += 1h;
    h.reconnect(resumed());
    p.dup = true;
    h.feed_packet(p);
    CHECK(h.rec.messages.size() == 1);
    const auto& rec = h.one();
    REQUIRE(rec.type == packet_type::pubrec);
    CHECK(rec.as<pubrec>(v5).packet_id == 7);
    CHECK(rec.as<pubrec>(v5).reason_code.value() == 0);
    h.feed(ack_bytes<packet_type::pubrel>(7, 0, v5));
    const auto comp = h.one().as<pubcomp>(v5);
    CHECK(comp.packet_id == 7);
    CHECK(comp.reason_code.value() == 0);

    // after the PUBCOMP, even a PUBLISH with DUP 1 under that identifier is new
    h.feed(publish_bytes("a", qos::exactly_once, 7, v5, true, "next"));
    REQUIRE(h.rec.messages.size() == 2);
    CHECK(h.rec.messages[1].payload == "next");
    CHECK(h.one().type == packet_type::pubrec);
    CHECK(h.rec.closed.size() == 1); // the connection lost, nothing else
}

TEST_CASE("PUBACKs and PUBRECs go in the order their PUBLISHes arrived, QoS 1 and 2 mixed, several "
          "in one receive() [MQTT-4.6.0-2] [MQTT-4.6.0-3]",
          "[session]") {
    {
        const auto v = GENERATE(v4, v5);
        INFO(to_string(v));
        harness h{v};
        h.connect();
        // (QoS, identifier) in arrival order: neither identifiers nor QoS in order
        const std::vector<std::pair<ctmqtt::qos, std::uint16_t>> arriving = {
            {qos::exactly_once, 40}, {qos::at_least_once, 3},     {qos::at_least_once, 65'535},
            {qos::at_most_once, 0},  {qos::exactly_once, 1},      {qos::at_least_once, 40},
            {qos::exactly_once, 2},  {qos::exactly_once, 65'534}, {qos::at_least_once, 1}};
        std::vector<std::byte> bytes;
        std::vector<std::string> expected;
        for (const auto& [q, id] : arriving) {
            const auto b = publish_bytes("t", q, id, v);
            bytes.insert(bytes.end(), b.begin(), b.end());
            if (q != qos::at_most_once)
                expected.push_back((q == qos::at_least_once ? "PUBACK " : "PUBREC ") +
                                   std::to_string(id));
        }
        const auto acknowledgements = [&] {
            std::vector<std::string> seen;
            for (const auto& p : h.out()) {
                if (p.type == packet_type::puback)
                    seen.push_back("PUBACK " + std::to_string(p.as<puback>(v).packet_id));
                else if (p.type == packet_type::pubrec)
                    seen.push_back("PUBREC " + std::to_string(p.as<pubrec>(v).packet_id));
                else
                    seen.push_back(p.text);
            }
            return seen;
        };
        SECTION("all in one receive()") {
            h.feed(bytes);
            CHECK(acknowledgements() == expected);
        }
        SECTION("in two receive() calls, split inside a packet") {
            const auto half = static_cast<std::ptrdiff_t>(bytes.size() / 2 + 1);
            h.feed(std::vector<std::byte>(bytes.begin(), bytes.begin() + half));
            h.feed(std::vector<std::byte>(bytes.begin() + half, bytes.end()));
            CHECK(acknowledgements() == expected);
        }
        CHECK(h.rec.messages.size() == arriving.size());
        CHECK(h.rec.closed.empty());
    }
}

TEST_CASE("before any inbound QoS 2 message (the identifier table not allocated yet): a PUBREL "
          "gets PUBCOMP, none is listed, a restored one keeps its resend from being delivered",
          "[session]") {
    for (auto v : {v4, v5}) {
        INFO(to_string(v));
        harness h{v};
        h.connect();
        h.feed(ack_bytes<packet_type::pubrel>(65'535, 0, v));
        const auto comp = h.one().as<pubcomp>(v);
        CHECK(comp.packet_id == 65'535);
        CHECK(comp.reason_code.value() == (v == v5 ? 0x92 : 0));
        std::vector<std::uint16_t> listed;
        h.s.for_each_inbound_qos2([&](std::uint16_t id) { listed.push_back(id); });
        CHECK(listed.empty());
        h.s.connection_lost();
        REQUIRE_FALSE(h.s.connect(h.now)); // Clean Start 1: nothing to drop
        h.out();
        CHECK(h.rec.store_log.empty());

        auto o = options_for(v);
        o.connect.clean_start = false;
        harness restored{o};
        restored.s.restore_inbound_qos2(65'535);
        restored.s.restore_inbound_qos2(1);
        restored.s.for_each_inbound_qos2([&](std::uint16_t id) { listed.push_back(id); });
        CHECK(listed == std::vector<std::uint16_t>{1, 65'535});
        restored.connect(resumed());
        restored.feed(publish_bytes("a", qos::exactly_once, 65'535, v, true));
        CHECK(restored.rec.messages.empty());
        CHECK(restored.one().type == packet_type::pubrec);
        restored.feed(ack_bytes<packet_type::pubrel>(65'535, 0, v));
        CHECK(restored.one().as<pubcomp>(v).reason_code.value() == 0);
        restored.feed(publish_bytes("a", qos::exactly_once, 65'535, v, false, "new"));
        CHECK(restored.rec.messages.size() == 1);
    }
}

// [MQTT-3.4.2-2] [MQTT-3.4.2-3] [MQTT-3.5.2-2] [MQTT-3.5.2-3] [MQTT-3.6.2-2] [MQTT-3.6.2-3]
// [MQTT-3.7.2-2] [MQTT-3.7.2-3]: never sent, so never above the server's Maximum Packet Size.
TEST_CASE("the session's PUBACK, PUBREC, PUBREL and PUBCOMP carry no Reason String or User "
          "Property",
          "[session]") {
    harness h{v5};
    connack ack;
    ack.properties.set<property_id::maximum_packet_size>(5u); // PUBCOMP with 0x92 is 5 bytes
    h.connect(ack);
    h.feed(publish_bytes("a", qos::at_least_once, 5, v5));
    CHECK(h.one().bytes == hex("40 02 00 05")); // PUBACK
    h.feed(publish_bytes("a", qos::exactly_once, 6, v5));
    CHECK(h.one().bytes == hex("50 02 00 06")); // PUBREC
    h.feed(ack_bytes<packet_type::pubrel>(6, 0, v5));
    CHECK(h.one().bytes == hex("70 02 00 06")); // PUBCOMP
    h.feed(ack_bytes<packet_type::pubrel>(9, 0, v5));
    CHECK(h.one().bytes == hex("70 03 00 09 92")); // PUBCOMP, Packet Identifier not found
    ack.properties.set<property_id::maximum_packet_size>(20u);
    harness q{v5};
    q.connect(ack);
    const auto id = q.publish("t", qos::exactly_once);
    q.out();
    q.feed(ack_bytes<packet_type::pubrec>(id, 0, v5));
    CHECK(q.one().bytes == hex("62 02 00 01")); // PUBREL
    CHECK(h.rec.closed.empty());
}

TEST_CASE("acknowledgements for identifiers not in use are protocol errors", "[session]") {
    struct unknown_ack {
        const char* what;
        const char* v4_bytes;
        const char* v5_bytes;
        const char* name;
    };
    const unknown_ack acks[] = {
        {"PUBACK", "40 02 00 01", "40 02 00 01", "PUBACK"},
        {"PUBREC", "50 02 00 01", "50 02 00 01", "PUBREC"},
        {"PUBCOMP", "70 02 00 01", "70 02 00 01", "PUBCOMP"},
        {"SUBACK", "90 03 00 01 00", "90 04 00 01 00 00", "SUBACK"},
        {"UNSUBACK", "B0 02 00 01", "B0 04 00 01 00 00", "UNSUBACK"},
    };
    for (auto v : {v4, v5}) {
        for (const auto& a : acks) {
            INFO(to_string(v) << " " << a.what);
            harness h{v};
            h.connect();
            h.feed_hex(v == v5 ? a.v5_bytes : a.v4_bytes);
            REQUIRE(h.rec.closed.size() == 1);
            CHECK(h.rec.closed[0] == session_errc::unknown_packet_id);
            CHECK_THAT(h.rec.closed[0].message(), Catch::Contains(a.name));
            if (v == v5)
                CHECK(h.disconnect_reason() == 0x82);
            else
                CHECK(h.s.output().empty());
        }
    }
    SECTION("an acknowledgement of the wrong kind for an identifier in use") {
        for (auto v : {v4, v5}) {
            INFO(to_string(v));
            {
                harness h{v};
                h.connect();
                const auto id = h.publish("t", qos::at_least_once); // awaits PUBACK
                h.out();
                h.feed(ack_bytes<packet_type::pubcomp>(id, 0, v));
                CHECK(h.rec.closed.at(0) == session_errc::unknown_packet_id);
                CHECK(h.rec.done.empty());
            }
            {
                harness h{v};
                h.connect();
                const auto id = h.publish("t", qos::exactly_once); // awaits PUBREC
                h.out();
                h.feed(ack_bytes<packet_type::puback>(id, 0, v));
                CHECK(h.rec.closed.at(0) == session_errc::unknown_packet_id);
            }
            {
                harness h{v};
                h.connect();
                const auto id = h.publish("t", qos::exactly_once);
                h.feed(ack_bytes<packet_type::pubrec>(id, 0, v)); // now awaits PUBCOMP
                h.out();
                h.feed(ack_bytes<packet_type::pubrec>(id, 0, v));
                CHECK(h.rec.closed.at(0) == session_errc::unknown_packet_id);
            }
            {
                harness h{v};
                h.connect();
                REQUIRE(*h.s.subscribe(one_subscription, {}, h.now) == 1); // awaits SUBACK
                h.out();
                h.feed_hex(v == v5 ? "B0 04 00 01 00 00" : "B0 02 00 01");
                CHECK(h.rec.closed.at(0) == session_errc::unknown_packet_id);
                CHECK(h.rec.unsubacks.empty());
            }
        }
    }
}

// ---------------------------------------------------------------- packet identifiers

TEST_CASE("packet identifiers: unique, never 0, reused after completion", "[session]") {
    harness h{v5};
    h.connect();
    const auto a = h.publish("t", qos::at_least_once);
    const auto b = h.publish("t", qos::exactly_once);
    const auto c = *h.s.subscribe(one_subscription, {}, h.now);
    const std::string_view filters[] = {"a/b"};
    const auto d = *h.s.unsubscribe(filters, {}, h.now);
    std::vector<std::uint16_t> ids{a, b, c, d};
    CHECK(std::find(ids.begin(), ids.end(), std::uint16_t{0}) == ids.end());
    std::sort(ids.begin(), ids.end());
    CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());

    auto o = h.out();
    REQUIRE(o.size() == 4);
    CHECK(o[2].as<ctmqtt::subscribe>(v5).packet_id == c);
    CHECK(o[3].as<ctmqtt::unsubscribe>(v5).packet_id == d);

    h.feed(ack_bytes<packet_type::puback>(a, 0, v5));
    h.feed_hex("90 04 00 03 00 01");
    CHECK(h.rec.subacks == std::vector<std::uint16_t>{c});
    h.feed_hex("B0 04 00 04 00 00");
    CHECK(h.rec.unsubacks == std::vector<std::uint16_t>{d});
    const auto e = h.publish("t", qos::at_least_once);
    CHECK((e == a || e == c || e == d));
    CHECK(e != b);
}

TEST_CASE("packet identifiers: 65,535 in flight, then packet_ids_exhausted", "[session]") {
    harness h{v4};
    h.connect();
    std::vector<bool> seen(65'536, false);
    for (unsigned i = 0; i < 65'535; ++i) {
        auto id = h.s.subscribe(one_subscription, {}, h.now);
        REQUIRE(id);
        REQUIRE(*id != 0);
        REQUIRE_FALSE(seen[*id]);
        seen[*id] = true;
        if (i % 4096 == 0)
            h.s.consume_output(h.s.output().size());
    }
    h.s.consume_output(h.s.output().size());
    CHECK(h.s.subscribe(one_subscription, {}, h.now).error() == session_errc::packet_ids_exhausted);
    const std::string_view filters[] = {"a/b"};
    CHECK(h.s.unsubscribe(filters, {}, h.now).error() == session_errc::packet_ids_exhausted);
    ctmqtt::publish p;
    p.topic = "t";
    p.qos = qos::at_least_once;
    CHECK(h.s.publish(p, h.now).error() == session_errc::packet_ids_exhausted);
    CHECK(h.s.output().empty());
    p.qos = qos::at_most_once; // needs no identifier
    CHECK(h.s.publish(p, h.now));
    h.out();

    h.feed_hex("90 03 12 34 01"); // SUBACK for 0x1234 frees it
    CHECK(h.rec.subacks == std::vector<std::uint16_t>{0x1234});
    p.qos = qos::at_least_once;
    CHECK(*h.s.publish(p, h.now) == 0x1234);
    CHECK(h.rec.closed.empty());
}

// ---------------------------------------------------------------- malformed input

TEST_CASE("malformed packets from the server: DISCONNECT 0x81 (5.0), the codec's error",
          "[session]") {
    struct bad {
        const char* what;
        protocol_version version;
        bool before_connack;
        const char* bytes;
        codec_errc rule;
        const char* message;
    };
    // clang-format off
    const bad inputs[] = {
        {"remaining length of 5 bytes", v4, false, "30 FF FF FF FF 7F", codec_errc::varint_too_long, "variable byte integer longer than 4 bytes"},
        {"remaining length of 5 bytes", v5, false, "30 FF FF FF FF 7F", codec_errc::varint_too_long, "variable byte integer longer than 4 bytes"},
        {"remaining length not minimal", v5, false, "D0 80 00", codec_errc::varint_not_minimal, "[MQTT-1.5.5-1]"},
        {"reserved packet type 0", v4, false, "00 00", codec_errc::reserved_packet_type, "reserved packet type 0"},
        {"reserved packet type 0", v5, false, "00 00", codec_errc::reserved_packet_type, "reserved packet type 0"},
        {"packet type 15 before MQTT 5", v4, false, "F0 00", codec_errc::reserved_packet_type, "reserved packet type 15"},
        {"PUBREL flags 0000", v5, false, "60 02 00 01", codec_errc::fixed_header_flags, "PUBREL: fixed header flags must be 0010 [MQTT-3.6.1-1]"},
        {"PUBACK flags 0001", v4, false, "41 02 00 01", codec_errc::fixed_header_flags, "PUBACK: fixed header flags must be 0000"},
        {"DISCONNECT flags 0010", v5, false, "E2 00", codec_errc::fixed_header_flags, "[MQTT-3.14.1-1]"},
        {"AUTH flags 0001", v5, false, "F1 00", codec_errc::fixed_header_flags, "[MQTT-3.15.1-1]"},
        {"PINGRESP with a body", v5, false, "D0 02 00 00", codec_errc::remaining_length_not_zero, "PINGRESP: remaining length must be 0"},
        {"3.1.1 PUBACK with 3 bytes", v4, false, "40 03 00 01 00", codec_errc::trailing_bytes, "PUBACK: bytes left over"},
        {"3.1.1 UNSUBACK with a reason code", v4, false, "B0 03 00 01 00", codec_errc::trailing_bytes, "UNSUBACK: bytes left over"},
        {"QoS 3", v4, false, "36 05 00 01 61 00 01", codec_errc::publish_qos_invalid, "PUBLISH: QoS 3 is not allowed [MQTT-3.3.1-4]"},
        {"DUP on QoS 0", v5, false, "38 04 00 01 61 00", codec_errc::dup_on_qos_0, "[MQTT-3.3.1-2]"},
        {"packet identifier 0", v4, false, "32 05 00 01 61 00 00", codec_errc::packet_id_zero, "PUBLISH: packet identifier 0"},
        {"wildcard in the topic", v4, false, "30 05 00 03 61 2F 2B", codec_errc::topic_name_wildcard, "[MQTT-3.3.2-2]"},
        {"overlong UTF-8 in the topic", v4, false, "30 04 00 02 C0 80", codec_errc::utf8_malformed, "PUBLISH: malformed UTF-8 string [MQTT-1.5.4-1]"},
        {"surrogate in the topic", v5, false, "30 06 00 03 ED A0 80 00", codec_errc::utf8_malformed, "malformed UTF-8"},
        {"U+0000 in the topic", v4, false, "30 05 00 03 61 00 62", codec_errc::utf8_null, "[MQTT-1.5.4-2]"},
        {"unknown property 0x05", v5, false, "30 06 00 01 61 02 05 00", codec_errc::property_unknown, "PUBLISH: unknown property identifier 0x05"},
        {"Content Type twice", v5, false, "30 0C 00 01 61 08 03 00 01 78 03 00 01 79", codec_errc::property_duplicate, "appears more than once"},
        {"Session Expiry Interval in PUBLISH", v5, false, "30 09 00 01 61 05 11 00 00 00 0A", codec_errc::property_not_allowed, "is not allowed in this packet"},
        {"property length beyond the packet", v5, false, "30 06 00 01 61 05 23 00", codec_errc::property_length, "property length goes beyond the packet"},
        {"PUBACK reason 0x04", v5, false, "40 03 00 01 04", codec_errc::reason_code_not_allowed, "PUBACK: reason code 0x04 is not allowed in this packet [MQTT-3.4.2-1]"},
        {"SUBACK without reason codes", v5, false, "90 03 00 01 00", codec_errc::no_reason_codes, "SUBACK"},
        {"CONNACK reserved flags", v4, true, "20 02 02 00", codec_errc::connack_reserved_flags, "CONNACK"},
        {"CONNACK Maximum QoS 2", v5, true, "20 05 00 00 02 24 02", codec_errc::property_value, "CONNACK: property Maximum QoS must be 0 or 1"},
        {"CONNACK Session Present on a refusal", v5, true, "20 03 01 87 00", codec_errc::session_present_on_refusal, "CONNACK"},
    };
    // clang-format on
    for (const auto& in : inputs) {
        INFO(in.what << " (" << to_string(in.version) << ")");
        harness h{in.version};
        if (in.before_connack) {
            h.start();
        } else {
            h.connect();
        }
        h.feed_hex(in.bytes);
        REQUIRE(h.rec.closed.size() == 1);
        const auto ec = h.rec.closed[0];
        CHECK(ec.category() == codec_category());
        CHECK(ec == in.rule);
        CHECK_THAT(ec.message(), Catch::Contains(in.message));
        CHECK(h.rec.messages.empty());
        CHECK(h.s.current_state() == session::state::disconnected);
        if (in.version == v5)
            CHECK(h.disconnect_reason() == 0x81);
        else
            CHECK(h.s.output().empty());
        // nothing after the close
        h.feed_hex("30 04 00 01 61 78");
        CHECK(h.rec.closed.size() == 1);
        CHECK(h.rec.messages.empty());
        CHECK(h.s.output().empty());
    }
}

TEST_CASE("an inbound packet above our Maximum Packet Size: DISCONNECT 0x95", "[session]") {
    auto o = options_for(v5);
    o.maximum_packet_size = 16;
    harness h{o};
    h.connect();
    h.feed(publish_bytes("a", qos::at_most_once, 0, v5, false, "1234567890")); // 16 bytes
    CHECK(h.rec.messages.size() == 1);
    const auto big = publish_bytes("a", qos::at_most_once, 0, v5, false, "12345678901"); // 17
    h.feed(bytes_view{big}.first(2)); // refused as soon as the fixed header says the size
    CHECK(h.rec.messages.size() == 1);
    REQUIRE(h.rec.closed.size() == 1);
    CHECK(h.rec.closed[0] == session_errc::packet_too_large);
    CHECK_THAT(h.rec.closed[0].message(), Catch::Contains("[MQTT-3.1.2-24]"));
    CHECK(h.disconnect_reason() == 0x95);
}

TEST_CASE("inbound Receive Maximum exceeded: DISCONNECT 0x93 [MQTT-3.3.4-9]", "[session]") {
    auto o = options_for(v5);
    o.receive_maximum = 2;
    harness h{o};
    h.connect();
    h.feed(publish_bytes("a", qos::exactly_once, 1, v5));
    h.feed(publish_bytes("a", qos::exactly_once, 2, v5));
    h.feed(publish_bytes("a", qos::exactly_once, 2, v5, true)); // a resend is not a new one
    h.feed(publish_bytes("a", qos::at_least_once, 3, v5));      // QoS 1 is acknowledged at once
    CHECK(h.rec.messages.size() == 3);
    CHECK(h.rec.closed.empty());
    h.feed(ack_bytes<packet_type::pubrel>(1, 0, v5)); // frees one
    h.feed(publish_bytes("a", qos::exactly_once, 4, v5));
    CHECK(h.rec.messages.size() == 4);
    CHECK(h.rec.closed.empty());
    h.out();

    h.feed(publish_bytes("a", qos::exactly_once, 5, v5));
    CHECK(h.rec.messages.size() == 4);
    REQUIRE(h.rec.closed.size() == 1);
    CHECK(h.rec.closed[0] == session_errc::receive_maximum_exceeded);
    CHECK(h.disconnect_reason() == 0x93);
}

TEST_CASE("3.1.1 has no Receive Maximum: the option does not apply", "[session]") {
    auto o = options_for(v4);
    o.receive_maximum = 1;
    harness h{o};
    h.connect();
    h.feed(publish_bytes("a", qos::exactly_once, 1, v4));
    h.feed(publish_bytes("a", qos::exactly_once, 2, v4));
    CHECK(h.rec.messages.size() == 2);
    CHECK(h.rec.closed.empty());
}

TEST_CASE("inbound topic aliases (MQTT 5 §3.3.2.3.4)", "[session]") {
    auto o = options_for(v5);
    o.topic_alias_maximum = 2;
    harness h{o};
    h.connect();

    const auto aliased = [&](std::string_view topic, std::uint16_t alias) {
        ctmqtt::publish p;
        p.topic = topic;
        p.payload = as_bytes("x");
        p.properties.set<property_id::topic_alias>(alias);
        return bytes_of(p, v5);
    };
    const auto refused = [&](const char* what) {
        INFO(what);
        REQUIRE(h.rec.closed.size() == 1);
        CHECK(h.disconnect_reason() == 0x94);
    };

    SECTION("set, then used") {
        h.feed(aliased("a/b", 1));
        h.feed(aliased("", 1));
        h.feed(aliased("c", 2));
        h.feed(aliased("", 2));
        h.feed(aliased("d", 1)); // replaced
        h.feed(aliased("", 1));
        REQUIRE(h.rec.messages.size() == 6);
        CHECK(h.rec.messages[1].topic == "a/b");
        CHECK(h.rec.messages[3].topic == "c");
        CHECK(h.rec.messages[5].topic == "d");
        CHECK(h.rec.closed.empty());
    }
    SECTION("alias 0") {
        h.feed_hex("30 07 00 01 61 03 23 00 00");
        refused("alias 0");
        CHECK(h.rec.closed[0] == codec_errc::property_value);
        CHECK_THAT(h.rec.closed[0].message(), Catch::Contains("Topic Alias must not be 0"));
    }
    SECTION("alias above our maximum") {
        h.feed(aliased("a", 3));
        refused("alias 3");
        CHECK(h.rec.closed[0] == session_errc::topic_alias_invalid);
        CHECK(h.rec.messages.empty());
    }
    SECTION("empty topic with an alias never set") {
        h.feed(aliased("a", 1));
        h.feed(aliased("", 2));
        refused("unknown alias");
        CHECK(h.rec.closed[0] == session_errc::topic_alias_invalid);
        CHECK(h.rec.messages.size() == 1);
    }
    SECTION("aliases do not survive the connection [MQTT-3.3.2-7]") {
        h.feed(aliased("a", 1));
        h.s.connection_lost();
        h.rec.closed.clear();
        h.connect();
        h.feed(aliased("", 1));
        refused("alias from the last connection");
        CHECK(h.rec.closed[0] == session_errc::topic_alias_invalid);
    }
}

TEST_CASE("a topic alias when we allowed none: DISCONNECT 0x94", "[session]") {
    harness h{v5};
    h.connect();
    ctmqtt::publish p;
    p.topic = "a";
    p.properties.set<property_id::topic_alias>(std::uint16_t{1});
    h.feed_packet(p);
    CHECK(h.rec.messages.empty());
    CHECK(h.rec.closed.at(0) == session_errc::topic_alias_invalid);
    CHECK(h.disconnect_reason() == 0x94);
}

// ---------------------------------------------------------------- framing

TEST_CASE("bytes split anywhere give the same events", "[session]") {
    for (auto v : {v4, v5}) {
        INFO(to_string(v));
        // What a server might send after our CONNECT and one QoS 2 publish (id 1).
        std::vector<std::byte> stream;
        const auto add = [&](const std::vector<std::byte>& b) {
            stream.insert(stream.end(), b.begin(), b.end());
        };
        connack ack;
        if (v == v5)
            ack.properties.set<property_id::receive_maximum>(std::uint16_t{10});
        add(bytes_of(ack, v));
        add(publish_bytes("a/b", qos::at_most_once, 0, v, false, "zero"));
        add(publish_bytes("a/b", qos::at_least_once, 3, v, false, std::string(200, 'p')));
        add(publish_bytes("c", qos::exactly_once, 4, v, false, "two"));
        add(publish_bytes("c", qos::exactly_once, 4, v, true, "two"));
        add(ack_bytes<packet_type::pubrel>(4, 0, v));
        add(ack_bytes<packet_type::pubrec>(1, 0, v));
        add(hex("D0 00"));
        add(ack_bytes<packet_type::pubcomp>(1, 0, v));
        if (v == v5)
            add(hex("E0 01 8B"));

        struct run {
            std::vector<std::string> log;
            std::vector<std::byte> written;
        };
        const auto play = [&](const std::vector<std::size_t>& cuts) {
            harness h{v};
            // a QoS 2 publish (id 1) from inside on_connack, wherever the CONNACK is cut
            h.rec.after_connack = [&h] { h.publish("q", qos::exactly_once); };
            REQUIRE_FALSE(h.s.connect(h.now));
            h.s.consume_output(h.s.output().size());
            std::size_t at = 0;
            std::vector<std::byte> written;
            for (auto cut : cuts) {
                h.feed(bytes_view{stream}.subspan(at, cut - at));
                at = cut;
                const auto out = h.s.output();
                written.insert(written.end(), out.begin(), out.end());
                h.s.consume_output(out.size());
            }
            REQUIRE(at == stream.size());
            return run{h.rec.log, written};
        };

        const auto whole = play({stream.size()});
        INFO(whole.log.size());
        for (const auto& line : whole.log)
            UNSCOPED_INFO(line);
        // connack, 3 messages (the DUP resend is not one), done 1, (5.0) server disconnect, closed
        CHECK(whole.log.size() == (v == v5 ? 7u : 5u));
        CHECK(whole.log.back() == (v == v5 ? "closed the server disconnected: Server shutting down "
                                             "(DISCONNECT 0x8B)"
                                           : "done 1 / Success"));

        // several packets per chunk were handled in one receive(); now one byte at a time
        std::vector<std::size_t> bytewise;
        for (std::size_t i = 1; i <= stream.size(); ++i)
            bytewise.push_back(i);
        const auto one_by_one = play(bytewise);
        CHECK(one_by_one.log == whole.log);
        CHECK(one_by_one.written == whole.written);

        // every single split position
        for (std::size_t i = 1; i < stream.size(); ++i) {
            const auto split = play({i, stream.size()});
            INFO("split at " << i);
            REQUIRE(split.log == whole.log);
            REQUIRE(split.written == whole.written);
        }

        std::mt19937 random{v == v5 ? 5u : 4u};
        for (int round = 0; round < 100; ++round) {
            std::vector<std::size_t> cuts;
            std::size_t at = 0;
            while (at < stream.size()) {
                at = std::min(stream.size(),
                              at + std::uniform_int_distribution<std::size_t>{1, 40}(random));
                cuts.push_back(at);
            }
            const auto chunked = play(cuts);
            REQUIRE(chunked.log == whole.log);
            REQUIRE(chunked.written == whole.written);
        }
    }
}

// ---------------------------------------------------------------- keep alive

TEST_CASE("keep alive: PINGREQ when idle, PINGRESP clears it, closed without DISCONNECT after "
          "1.5 ×",
          "[session]") {
    {
        const auto v = GENERATE(v4, v5);
        INFO(to_string(v));
        auto o = options_for(v);
        o.connect.keep_alive = 10;
        harness h{o};
        h.start();
        CHECK(h.s.deadline() == t0 + 15s); // waiting for CONNACK
        h.feed_packet(connack{});
        CHECK(h.s.deadline() == t0 + 10s);

        h.s.on_timer(t0 + 9s);
        CHECK(h.s.output().empty());
        h.s.on_timer(t0 + 10s);
        CHECK(h.one().type == packet_type::pingreq);
        CHECK(h.s.deadline() == t0 + 15s);
        h.s.on_timer(t0 + 12s); // one PINGREQ at a time
        CHECK(h.s.output().empty());

        SECTION("PINGRESP clears it") {
            h.now = t0 + 12s;
            h.feed_hex("D0 00");
            CHECK(h.s.deadline() == t0 + 20s); // keep alive after our PINGREQ
            h.s.on_timer(t0 + 19s);
            CHECK(h.s.output().empty());
            h.s.on_timer(t0 + 20s);
            CHECK(h.one().type == packet_type::pingreq);
            CHECK(h.rec.closed.empty());
        }
        SECTION("no answer: keep_alive_timeout") {
            h.s.on_timer(t0 + 14s);
            CHECK(h.rec.closed.empty());
            h.s.on_timer(t0 + 15s);
            REQUIRE(h.rec.closed.size() == 1);
            CHECK(h.rec.closed[0] == session_errc::keep_alive_timeout);
            CHECK_THAT(h.rec.closed[0].message(), Catch::Contains("MQTT 5 §3.1.2.10"));
            // The client just closes: 0x8D Keep Alive timeout is the server's code
            // (MQTT 5 §3.14.2.1), and §3.1.2.10 asks the client to close the connection.
            CHECK(h.s.output().empty());
            CHECK(h.s.current_state() == session::state::disconnected);
            CHECK_FALSE(h.s.deadline());
            h.s.on_timer(t0 + 100s);
            CHECK(h.rec.closed.size() == 1);
        }
    }
}

TEST_CASE("keep alive: a client that only sends still pings, and stays up while answered",
          "[session]") {
    auto o = options_for(v5);
    o.connect.keep_alive = 10;
    harness h{o};
    h.connect();
    // QoS 0 every 4 s: nothing is ever idle on our side, and the server owes us nothing
    for (int i = 1; i <= 20; ++i) {
        h.now = t0 + std::chrono::seconds{4 * i};
        if (auto d = h.s.deadline(); d && *d <= h.now)
            h.s.on_timer(h.now);
        for (const auto& p : h.out())
            if (p.type == packet_type::pingreq)
                h.feed_hex("D0 00"); // the server answers at once
        h.publish("t", qos::at_most_once);
        h.out();
    }
    CHECK(h.rec.closed.empty());
}

TEST_CASE("keep alive 0: no deadline", "[session]") {
    auto o = options_for(v5);
    o.connect.keep_alive = 0;
    harness h{o};
    REQUIRE_FALSE(h.s.connect(h.now));
    CHECK_FALSE(h.s.deadline());
    h.out();
    h.feed_packet(connack{});
    CHECK_FALSE(h.s.deadline());
    h.s.on_timer(t0 + 100'000s);
    CHECK(h.s.output().empty());
    CHECK(h.rec.closed.empty());
}

// ---------------------------------------------------------------- resumption

TEST_CASE("resumption with Session Present 1: PUBLISH resent with DUP, PUBREL resent",
          "[session]") {
    for (auto v : {v4, v5}) {
        INFO(to_string(v));
        harness h{v};
        h.connect();
        const auto q1 = h.publish("t", qos::at_least_once, "one");
        const auto q2 = h.publish("t", qos::exactly_once, "two"); // before PUBREC
        const auto q2r = h.publish("t", qos::exactly_once, "three");
        h.feed(ack_bytes<packet_type::pubrec>(q2r, 0, v)); // after PUBREC
        h.out();
        h.s.connection_lost();
        h.s.set_clean_start(false); // resume the session
        REQUIRE(h.rec.closed.size() == 1);
        CHECK(h.rec.closed[0] == session_errc::connection_lost);
        CHECK(h.s.publishes_in_flight() == 3);

        h.now += 30s;
        connack ack;
        ack.session_present = true;
        REQUIRE_FALSE(h.s.connect(h.now));
        CHECK(h.one().type == packet_type::connect);
        h.feed_packet(ack);
        auto o = h.out();
        REQUIRE(o.size() == 3);
        auto p1 = o[0].as<ctmqtt::publish>(v);
        auto p2 = o[1].as<ctmqtt::publish>(v);
        CHECK(p1.packet_id == q1);
        CHECK(p1.dup);
        CHECK(text_of(p1.payload) == "one");
        CHECK(p2.packet_id == q2);
        CHECK(p2.dup);
        CHECK(p2.qos == qos::exactly_once);
        REQUIRE(o[2].type == packet_type::pubrel);
        CHECK(o[2].as<pubrel>(v).packet_id == q2r);
        CHECK(h.rec.done.empty());

        h.feed(ack_bytes<packet_type::puback>(q1, 0, v));
        h.feed(ack_bytes<packet_type::pubrec>(q2, 0, v));
        h.feed(ack_bytes<packet_type::pubcomp>(q2, 0, v));
        h.feed(ack_bytes<packet_type::pubcomp>(q2r, 0, v));
        CHECK(h.rec.done.size() == 3);
        CHECK(h.s.publishes_in_flight() == 0);
        CHECK(h.rec.closed.size() == 1);
    }
}

TEST_CASE("resumption resends in the original order though identifiers are reused "
          "[MQTT-4.6.0-1]",
          "[session]") {
    harness h{v5};
    h.connect();
    const auto a = h.publish("t", qos::at_least_once, "a");
    const auto b = h.publish("t", qos::at_least_once, "b");
    const auto c = h.publish("t", qos::exactly_once, "c");
    h.feed(ack_bytes<packet_type::puback>(a, 0, v5));
    const auto d = h.publish("t", qos::at_least_once, "d"); // reuses a's identifier
    CHECK(d == a);
    h.feed(ack_bytes<packet_type::pubrec>(c, 0, v5)); // c's PUBREL is the newest
    h.out();
    h.s.set_clean_start(false); // resume the session
    h.reconnect(resumed());
    auto o = h.out();
    REQUIRE(o.size() == 3);
    CHECK(text_of(o[0].as<ctmqtt::publish>(v5).payload) == "b");
    CHECK(text_of(o[1].as<ctmqtt::publish>(v5).payload) == "d");
    REQUIRE(o[2].type == packet_type::pubrel);
    CHECK(o[2].as<pubrel>(v5).packet_id == c);
    CHECK(b != d);
}

TEST_CASE("resumption counts Message Expiry down; a message already sent is resent however long "
          "it waited, its interval stopped at 1 second [MQTT-4.3.3-7] [MQTT-4.4.0-1]",
          "[session]") {
    harness h{v5};
    h.connect();
    publish_properties props;
    props.set<property_id::payload_format_indicator>(std::uint8_t{1});
    props.set<property_id::message_expiry_interval>(100u);
    const auto q1 = h.publish("t", qos::at_least_once, "one", props);
    props.set<property_id::message_expiry_interval>(50u);
    const auto q2 = h.publish("t", qos::exactly_once, "two", props);
    const auto lasting = h.publish("t", qos::exactly_once, "lasting");
    h.out();
    h.s.set_clean_start(false); // resume the session

    // the PUBLISHes in order, each with the interval it has left
    const auto resent = [&](std::vector<std::optional<std::uint32_t>> intervals) {
        auto o = h.out();
        REQUIRE(o.size() == 3);
        const std::uint16_t ids[] = {q1, q2, lasting};
        for (std::size_t i = 0; i < 3; ++i) {
            INFO(i);
            const auto p = o[i].as<ctmqtt::publish>(v5);
            CHECK(p.packet_id == ids[i]);
            CHECK(p.dup);
            CHECK(p.properties.get<property_id::message_expiry_interval>() == intervals[i]);
        }
        CHECK(
            o[0].as<ctmqtt::publish>(v5).properties.get<property_id::payload_format_indicator>() ==
            std::uint8_t{1});
        CHECK(text_of(o[1].as<ctmqtt::publish>(v5).payload) == "two");
    };
    h.now += 30s;
    h.reconnect(resumed());
    resent({70u, 20u, std::nullopt});
    h.now += 600ms; // less than a second each time: counted once they make one
    h.reconnect(resumed());
    resent({70u, 20u, std::nullopt});
    h.now += 600ms;
    h.reconnect(resumed());
    resent({69u, 19u, std::nullopt});
    h.now += 19s; // q2's interval has run out: it goes all the same
    h.reconnect(resumed());
    resent({50u, 1u, std::nullopt});
    h.now += 1h; // and so does q1's
    h.reconnect(resumed());
    resent({1u, 1u, std::nullopt});
    CHECK(h.rec.done.empty());
    CHECK(h.s.publishes_in_flight() == 3);

    // the QoS 2 flow goes on under its identifier, which no new message takes meanwhile
    h.feed(ack_bytes<packet_type::pubrec>(q2, 0, v5));
    const auto rel = h.one();
    REQUIRE(rel.type == packet_type::pubrel);
    CHECK(rel.as<pubrel>(v5).packet_id == q2);
    const auto fresh = h.publish("t", qos::exactly_once, "fresh");
    CHECK(fresh != q2);
    h.out();
    h.feed(ack_bytes<packet_type::puback>(q1, 0, v5));
    h.feed(ack_bytes<packet_type::pubcomp>(q2, 0, v5));
    REQUIRE(h.rec.done.size() == 2);
    CHECK(h.rec.done[0] == std::pair{q1, std::error_code{}});
    CHECK(h.rec.done[1] == std::pair{q2, std::error_code{}});
    CHECK(h.rec.closed.size() == 5); // the connections lost, nothing else
}

TEST_CASE("a message published again as new after the session was lost may expire until it is "
          "sent; sent, it goes with DUP 0 on the next resume, then like any other",
          "[session]") {
    harness h{v5};
    h.connect();
    h.s.set_clean_start(false);
    publish_properties props;
    props.set<property_id::message_expiry_interval>(10u);
    const auto gone = h.publish("t", qos::at_least_once, "gone", props);
    const auto a = h.publish("t", qos::at_least_once, "a");
    props.set<property_id::message_expiry_interval>(30u);
    const auto b = h.publish("t", qos::exactly_once, "b", props);
    props.set<property_id::message_expiry_interval>(40u);
    const auto c = h.publish("t", qos::at_least_once, "c", props);
    h.out();

    // Session Present 0 after 15 s: new messages; `gone` has expired and is not sent
    h.now += 15s;
    connack lost;
    lost.properties.set<property_id::receive_maximum>(std::uint16_t{1});
    h.reconnect(lost);
    const auto first = h.one().as<ctmqtt::publish>(v5);
    CHECK(first.packet_id == a);
    CHECK_FALSE(first.dup);
    REQUIRE(h.rec.done.size() == 1);
    CHECK(h.rec.done[0] == std::pair{gone, make_error_code(session_errc::message_expired)});

    // b and c wait for quota; lost again, then the session is resumed: `a` was
    // sent in this session (DUP 1), b and c were not (DUP 0); their intervals
    // are counted down
    h.now += 5s;
    h.reconnect(resumed());
    auto o = h.out();
    REQUIRE(o.size() == 3);
    CHECK(o[0].as<ctmqtt::publish>(v5).packet_id == a);
    CHECK(o[0].as<ctmqtt::publish>(v5).dup);
    const auto pb = o[1].as<ctmqtt::publish>(v5);
    CHECK(pb.packet_id == b);
    CHECK_FALSE(pb.dup);
    CHECK(pb.properties.get<property_id::message_expiry_interval>() == 10u);
    const auto pc = o[2].as<ctmqtt::publish>(v5);
    CHECK(pc.packet_id == c);
    CHECK_FALSE(pc.dup);
    CHECK(pc.properties.get<property_id::message_expiry_interval>() == 20u);

    // sent now: later resumes resend them however long they wait
    h.now += 1min;
    h.reconnect(resumed());
    o = h.out();
    REQUIRE(o.size() == 3);
    for (const auto& p : o)
        CHECK(p.as<ctmqtt::publish>(v5).dup);
    CHECK(o[1].as<ctmqtt::publish>(v5).properties.get<property_id::message_expiry_interval>() ==
          1u);
    CHECK(o[2].as<ctmqtt::publish>(v5).properties.get<property_id::message_expiry_interval>() ==
          1u);
    CHECK(h.rec.done.size() == 1);
    CHECK(h.s.publishes_in_flight() == 3);
}

TEST_CASE("resumption with Session Present 0", "[session]") {
    {
        const auto v = GENERATE(v4, v5);
        INFO(to_string(v));
        auto o = options_for(v);
        SECTION("republished as new messages by default, pending PUBREL reported done") {
            harness h{o};
            h.connect();
            const auto q1 = h.publish("t", qos::at_least_once, "one");
            const auto q2 = h.publish("t", qos::exactly_once, "two");
            h.feed(ack_bytes<packet_type::pubrec>(q2, 0, v)); // PUBREL pending
            const auto q3 = h.publish("t", qos::exactly_once, "three");
            h.out();
            // a first resume with Session Present 1 marks them DUP ...
            h.s.set_clean_start(false); // resume the session
            h.reconnect(resumed());
            CHECK(h.out().size() == 3);
            // ... then the server loses the session
            h.reconnect();
            auto out = h.out();
            REQUIRE(out.size() == 2);
            auto p1 = out[0].as<ctmqtt::publish>(v);
            auto p3 = out[1].as<ctmqtt::publish>(v);
            CHECK(p1.packet_id == q1);
            CHECK_FALSE(p1.dup); // a new message [MQTT-3.3.1-1]
            CHECK(text_of(p1.payload) == "one");
            CHECK(p3.packet_id == q3);
            CHECK_FALSE(p3.dup);
            REQUIRE(h.rec.done.size() == 1);
            CHECK(h.rec.done[0] == std::pair{q2, std::error_code{}});
            CHECK(h.s.publishes_in_flight() == 2);
        }
        SECTION("failed with session_expired when republish_after_session_loss is off") {
            o.republish_after_session_loss = false;
            harness h{o};
            h.connect();
            const auto q1 = h.publish("t", qos::at_least_once);
            const auto q2 = h.publish("t", qos::exactly_once);
            h.out();
            h.s.set_clean_start(false); // resume the session
            h.reconnect();
            CHECK(h.s.output().empty());
            REQUIRE(h.rec.done.size() == 2);
            CHECK(h.rec.done[0].first == q1);
            CHECK(h.rec.done[0].second == session_errc::session_expired);
            CHECK(h.rec.done[1].first == q2);
            CHECK(h.rec.done[1].second == session_errc::session_expired);
            CHECK(h.s.publishes_in_flight() == 0);
        }
        SECTION("inbound QoS 2 state is forgotten") {
            harness h{o};
            h.connect();
            h.feed(publish_bytes("a", qos::exactly_once, 7, v));
            h.s.set_clean_start(false); // resume the session
            h.reconnect();
            h.feed(publish_bytes("a", qos::exactly_once, 7, v));
            CHECK(h.rec.messages.size() == 2); // a new message in a new session
        }
    }
}

TEST_CASE("resumption: inbound QoS 2 awaiting PUBREL is kept with Session Present 1", "[session]") {
    harness h{v5};
    h.connect();
    h.feed(publish_bytes("a", qos::exactly_once, 7, v5));
    h.s.set_clean_start(false); // resume the session
    h.reconnect(resumed());
    h.feed(publish_bytes("a", qos::exactly_once, 7, v5, true)); // the server's resend
    CHECK(h.rec.messages.size() == 1);
    CHECK(h.one().type == packet_type::pubrec);
    h.feed(ack_bytes<packet_type::pubrel>(7, 0, v5));
    auto comp = h.one().as<pubcomp>(v5);
    CHECK(comp.packet_id == 7);
    CHECK(comp.reason_code.value() == 0);
}

TEST_CASE("reconnecting starts clean: output position and the last server's limits", "[session]") {
    SECTION("partly written output is dropped whole") {
        harness h{v5};
        h.connect();
        h.publish("a/long/topic/name", qos::at_most_once, "payload payload payload");
        h.publish("t", qos::at_most_once);
        h.s.consume_output(10); // the transport wrote part of the first PUBLISH
        h.s.connection_lost();
        REQUIRE_FALSE(h.s.connect(h.now));
        auto c = h.one(); // exactly one whole CONNECT
        CHECK(c.type == packet_type::connect);
    }
    SECTION("the previous server's Maximum Packet Size does not limit CONNECT") {
        auto o = options_for(v5);
        o.connect.client_id = "a-client-identifier-longer-than-twenty-bytes";
        harness h{o};
        connack ack;
        ack.properties.set<property_id::maximum_packet_size>(20u);
        h.connect(ack);
        h.s.connection_lost();
        CHECK_FALSE(h.s.connect(h.now));
        CHECK(h.one().type == packet_type::connect);
        CHECK(h.s.limits().maximum_packet_size == 0);
    }
}

// ---------------------------------------------------------------- DISCONNECT and AUTH

TEST_CASE("server DISCONNECT (5.0) closes with its reason", "[session]") {
    harness h{v5};
    h.connect();
    SECTION("Server shutting down, with a reason string") {
        h.feed(disconnect_bytes(reason::server_shutting_down, {}, "maintenance"));
        REQUIRE(h.rec.closed.size() == 1);
        CHECK(h.rec.closed[0] == session_errc::server_disconnected);
        CHECK(h.rec.closed[0].message() ==
              "the server disconnected: Server shutting down (DISCONNECT 0x8B)");
    }
    SECTION("Use another server, with a Server Reference: on_server_disconnect sees it") {
        h.feed(disconnect_bytes(reason::use_another_server, "other:1883", "rebalancing"));
        REQUIRE(h.rec.closed.size() == 1);
        CHECK_THAT(h.rec.closed[0].message(),
                   Catch::Contains("Use another server (DISCONNECT 0x9C)"));
        REQUIRE(h.rec.server_disconnects.size() == 1);
        CHECK(h.rec.server_disconnects[0].reason == 0x9C);
        CHECK(h.rec.server_disconnects[0].server_reference == "other:1883");
        CHECK(h.rec.server_disconnects[0].reason_string == "rebalancing");
        // before on_connection_closed
        CHECK(h.rec.log.at(h.rec.log.size() - 2) == "server disconnect 0x9C");
    }
    SECTION("Server moved") {
        h.feed(disconnect_bytes(reason::server_moved, "new.example:8883"));
        REQUIRE(h.rec.server_disconnects.size() == 1);
        CHECK(h.rec.server_disconnects[0].reason == 0x9D);
        CHECK(h.rec.server_disconnects[0].server_reference == "new.example:8883");
        CHECK(h.rec.closed.at(0).message() ==
              "the server disconnected: Server moved (DISCONNECT 0x9D)");
    }
    SECTION("Normal disconnection, short form") {
        h.feed_hex("E0 00");
        CHECK(h.rec.closed.at(0).message() ==
              "the server disconnected: Normal disconnection (DISCONNECT 0x00)");
    }
    CHECK(h.s.current_state() == session::state::disconnected);
    CHECK(h.s.output().empty()); // no DISCONNECT in reply
}

TEST_CASE("a server's DISCONNECT with a Session Expiry Interval is a protocol error "
          "[MQTT-3.14.2-2]",
          "[session]") {
    harness h{v5};
    h.connect();
    ctmqtt::disconnect d;
    d.reason_code = reason::server_shutting_down;
    d.properties.set<property_id::session_expiry_interval>(60u);
    h.feed_packet(d);
    REQUIRE(h.rec.closed.size() == 1);
    CHECK(h.rec.closed[0] == session_errc::session_expiry_in_server_disconnect);
    CHECK(h.rec.closed[0].message() ==
          "the server's DISCONNECT carries a Session Expiry Interval [MQTT-3.14.2-2] (protocol "
          "error, DISCONNECT 0x82)");
    CHECK(h.rec.server_disconnects.empty());
    CHECK(h.disconnect_reason() == 0x82);
}

TEST_CASE("AUTH: the server's reaches on_auth, send_auth writes one", "[session]") {
    auto o = options_for(v5);
    o.connect.properties.set<property_id::authentication_method>(std::string_view{"SCRAM"});
    harness h{o};
    h.start();
    ctmqtt::auth challenge;
    challenge.reason_code = reason::continue_authentication;
    challenge.properties.set<property_id::authentication_method>(std::string_view{"SCRAM"});
    h.feed_packet(challenge); // before CONNACK
    REQUIRE(h.rec.auths.size() == 1);
    CHECK(h.rec.auths[0] == 0x18);

    ctmqtt::auth response;
    response.reason_code = reason::continue_authentication;
    response.properties.set<property_id::authentication_method>(std::string_view{"SCRAM"});
    response.properties.set<property_id::authentication_data>(as_bytes("proof"));
    REQUIRE_FALSE(h.s.send_auth(response, h.now));
    auto a = h.one().as<ctmqtt::auth>(v5);
    CHECK(a.reason_code.value() == 0x18);
    CHECK(a.properties.get<property_id::authentication_method>() == std::string_view{"SCRAM"});
    CHECK(text_of(*a.properties.get<property_id::authentication_data>()) == "proof");

    connack ack; // a successful CONNACK repeats the method [MQTT-4.12.0-5]
    ack.properties.set<property_id::authentication_method>(std::string_view{"SCRAM"});
    h.feed_packet(ack);
    CHECK(h.s.current_state() == session::state::connected);
    CHECK(h.rec.closed.empty());
}

TEST_CASE("disconnect() writes DISCONNECT; then nothing more is processed", "[session]") {
    SECTION("MQTT 5, with a reason code") {
        harness h{v5};
        h.connect();
        CHECK_FALSE(h.s.disconnect(reason::disconnect_with_will_message));
        CHECK(h.disconnect_reason() == 0x04);
        CHECK(h.s.current_state() == session::state::closing);
        h.feed(publish_bytes("a", qos::at_least_once, 1, v5));
        CHECK(h.rec.messages.empty());
        CHECK(h.s.output().empty());
        h.s.connection_lost();
        REQUIRE(h.rec.closed.size() == 1);
        CHECK(h.rec.closed[0] == session_errc::connection_lost);
    }
    SECTION("MQTT 5, normal: the short form") {
        harness h{v5};
        h.connect();
        CHECK_FALSE(h.s.disconnect());
        CHECK(h.one().bytes == hex("E0 00"));
    }
    SECTION("MQTT 3.1.1: bare, whatever the reason") {
        harness h{v4};
        h.connect();
        CHECK_FALSE(h.s.disconnect(reason::disconnect_with_will_message));
        CHECK(h.one().bytes == hex("E0 00"));
    }
    SECTION("not connected") {
        harness h{v5};
        CHECK(h.s.disconnect() == session_errc::not_connected);
    }
}

TEST_CASE("after the connection closed: input ignored, operations refused", "[session]") {
    for (auto v : {v4, v5}) {
        INFO(to_string(v));
        harness h{v};
        // before any connection
        ctmqtt::publish p;
        p.topic = "t";
        CHECK(h.s.publish(p, h.now).error() == session_errc::not_connected);

        h.connect();
        h.feed_hex("C0 00"); // PINGREQ from the server: protocol error
        REQUIRE(h.rec.closed.size() == 1);
        h.out();
        const auto log_size = h.rec.log.size();

        h.feed(publish_bytes("a", qos::at_least_once, 1, v));
        h.feed_hex("00 00");
        CHECK(h.rec.log.size() == log_size);
        CHECK(h.s.output().empty());

        p.qos = qos::at_least_once;
        CHECK(h.s.publish(p, h.now).error() == session_errc::not_connected);
        CHECK(h.s.subscribe(one_subscription, {}, h.now).error() == session_errc::not_connected);
        const std::string_view filters[] = {"a"};
        CHECK(h.s.unsubscribe(filters, {}, h.now).error() == session_errc::not_connected);
        CHECK(h.s.disconnect() == session_errc::not_connected);
        CHECK(h.s.send_auth(ctmqtt::auth{}, h.now) == session_errc::not_connected);
        CHECK_THAT(h.s.disconnect().message(), Catch::Equals("not connected"));
        CHECK_FALSE(h.s.deadline());
        h.s.on_timer(h.now + 1000s);
        h.s.connection_lost(); // already closed: not reported twice
        CHECK(h.rec.closed.size() == 1);
        CHECK(h.s.output().empty());
        CHECK(h.s.current_state() == session::state::disconnected);
    }
}

TEST_CASE(
    "a client's PUBLISH: no Subscription Identifier, no Topic Alias above the server's maximum",
    "[session]") {
    harness h{v5};
    connack ack;
    ack.properties.set<property_id::topic_alias_maximum>(std::uint16_t{2});
    h.connect(ack);
    publish p;
    p.topic = "t";
    const std::uint32_t ids[] = {1};
    p.properties.set<property_id::subscription_identifier>(ids);
    auto r = h.s.publish(p, h.now);
    REQUIRE_FALSE(r);
    CHECK(r.error() == session_errc::subscription_identifier_in_publish);
    CHECK_THAT(r.error().message(), Catch::Contains("[MQTT-3.3.4-6]"));
    p.properties.set<property_id::subscription_identifier>(std::span<const std::uint32_t>{});
    p.properties.set<property_id::topic_alias>(std::uint16_t{3});
    r = h.s.publish(p, h.now);
    REQUIRE_FALSE(r);
    CHECK(r.error() == session_errc::outbound_topic_alias_invalid);
    CHECK_THAT(r.error().message(), Catch::Contains("[MQTT-3.3.2-9]"));
    CHECK(h.out().empty()); // nothing was written
    p.properties.set<property_id::topic_alias>(std::uint16_t{2});
    CHECK(h.s.publish(p, h.now));
    CHECK(h.out().size() == 1);
}

// ---------------------------------------------------------------- outbound topic aliases

namespace {

/// How a PUBLISH went on the wire: its topic and Topic Alias.
struct wire_topic {
    std::string topic;
    std::optional<std::uint16_t> alias;
    bool operator==(const wire_topic&) const = default;
};

std::ostream& operator<<(std::ostream& os, const wire_topic& w) {
    os << '"' << w.topic << "\" alias ";
    if (w.alias)
        os << *w.alias;
    else
        os << "none";
    return os;
}

wire_topic wire_topic_of(const std::vector<std::byte>& bytes) {
    const auto d = decode<ctmqtt::publish>(bytes_view{bytes}, v5);
    REQUIRE(d);
    return {std::string{d->topic}, d->properties.get<property_id::topic_alias>()};
}

wire_topic wire_topic_of(const sent& p) {
    return wire_topic_of(p.bytes);
}

connack alias_maximum(std::uint16_t n) {
    connack ack;
    ack.properties.set<property_id::topic_alias_maximum>(n);
    return ack;
}

session::options alias_options(topic_alias_policy policy) {
    auto o = options_for(v5);
    o.outbound_topic_aliases = policy;
    return o;
}

} // namespace

TEST_CASE("outbound topic aliases, never: topics go as given", "[session][alias]") {
    harness h{alias_options(topic_alias_policy::never)};
    h.connect(alias_maximum(5));
    for (int i = 0; i < 3; ++i) {
        h.publish("a/b", qos::at_least_once);
        CHECK(wire_topic_of(h.one()) == wire_topic{"a/b", std::nullopt});
    }
}

TEST_CASE("outbound topic aliases, when_free: topic and alias, then the alias alone; a full "
          "table sends topics (MQTT 5 §3.3.2.3.4)",
          "[session][alias]") {
    harness h{alias_options(topic_alias_policy::when_free)};
    h.connect(alias_maximum(2));
    const auto sent_as = [&](std::string_view topic, ctmqtt::qos q) {
        h.publish(topic, q);
        return wire_topic_of(h.one());
    };
    CHECK(sent_as("a/b", qos::at_most_once) == wire_topic{"a/b", 1});
    CHECK(sent_as("a/b", qos::at_least_once) == wire_topic{"", 1});
    CHECK(sent_as("c", qos::exactly_once) == wire_topic{"c", 2});
    CHECK(sent_as("d", qos::at_most_once) == wire_topic{"d", std::nullopt}); // the table is full
    CHECK(sent_as("d", qos::at_least_once) == wire_topic{"d", std::nullopt});
    CHECK(sent_as("c", qos::at_most_once) == wire_topic{"", 2});
    CHECK(sent_as("a/b", qos::at_most_once) == wire_topic{"", 1});
    CHECK(h.rec.closed.empty());
}

TEST_CASE("outbound topic aliases, always: a full table gives the least recently used alias "
          "the new topic",
          "[session][alias]") {
    harness h{alias_options(topic_alias_policy::always)};
    h.connect(alias_maximum(2));
    const auto sent_as = [&](std::string_view topic) {
        h.publish(topic, qos::at_most_once);
        return wire_topic_of(h.one());
    };
    CHECK(sent_as("a") == wire_topic{"a", 1});
    CHECK(sent_as("b") == wire_topic{"b", 2});
    CHECK(sent_as("a") == wire_topic{"", 1}); // b is now the least recently used
    CHECK(sent_as("c") == wire_topic{"c", 2});
    CHECK(sent_as("b") == wire_topic{"b", 1}); // a was
    CHECK(sent_as("c") == wire_topic{"", 2});
    CHECK(sent_as("a") == wire_topic{"a", 1}); // b was
    CHECK(sent_as("b") == wire_topic{"b", 2}); // c was
    CHECK(sent_as("a") == wire_topic{"", 1});
    CHECK(sent_as("b") == wire_topic{"", 2});
}

TEST_CASE("outbound topic aliases: none when the server allows none, and none in 3.1.1",
          "[session][alias]") {
    SECTION("Topic Alias Maximum absent (0) [MQTT-3.2.2-18]") {
        harness h{alias_options(topic_alias_policy::always)};
        h.connect();
        for (int i = 0; i < 2; ++i) {
            h.publish("t", qos::at_least_once);
            CHECK(wire_topic_of(h.one()) == wire_topic{"t", std::nullopt});
        }
    }
    SECTION("MQTT 3.1.1") {
        auto o = alias_options(topic_alias_policy::always);
        o.version = v4;
        harness h{o};
        h.connect();
        for (int i = 0; i < 2; ++i) {
            h.publish("t", qos::at_least_once);
            CHECK(h.one().as<ctmqtt::publish>(v4).topic == "t");
        }
    }
}

TEST_CASE("outbound topic aliases are per connection; a resent PUBLISH carries the full topic "
          "and no alias [MQTT-3.3.2-7]",
          "[session][alias]") {
    harness h{alias_options(topic_alias_policy::always)};
    h.connect(alias_maximum(5));
    h.s.set_clean_start(false);
    h.publish("t", qos::at_most_once);
    CHECK(wire_topic_of(h.one()) == wire_topic{"t", 1});
    const auto id = h.publish("t", qos::at_least_once, "kept");
    CHECK(wire_topic_of(h.one()) == wire_topic{"", 1});
    // the copy kept for resending (and given to a store) has the topic and no alias
    REQUIRE(h.rec.store.count(id) == 1);
    CHECK(wire_topic_of(h.rec.store[id].packet) == wire_topic{"t", std::nullopt});

    h.reconnect(resumed(alias_maximum(5)));
    const auto resent = h.one();
    CHECK(wire_topic_of(resent) == wire_topic{"t", std::nullopt});
    CHECK(resent.as<ctmqtt::publish>(v5).dup);
    CHECK(text_of(resent.as<ctmqtt::publish>(v5).payload) == "kept");
    // a fresh table on the new connection: the topic goes with its alias again
    h.publish("t", qos::at_most_once);
    CHECK(wire_topic_of(h.one()) == wire_topic{"t", 1});
}

TEST_CASE("outbound topic aliases: a message's own Topic Alias is honoured and remembered",
          "[session][alias]") {
    const auto with_alias = [](std::string_view topic, std::uint16_t alias) {
        ctmqtt::publish p;
        p.topic = topic;
        p.qos = qos::at_least_once;
        p.payload = as_bytes("m");
        p.properties.set<property_id::topic_alias>(alias);
        return p;
    };
    SECTION("never: sent as given; the stored copy gets the topic back") {
        harness h{alias_options(topic_alias_policy::never)};
        h.connect(alias_maximum(3));
        REQUIRE(h.s.publish(with_alias("x", 2), h.now));
        CHECK(wire_topic_of(h.one()) == wire_topic{"x", 2});
        const auto id = h.s.publish(with_alias("", 2), h.now);
        REQUIRE(id);
        CHECK(wire_topic_of(h.one()) == wire_topic{"", 2});
        CHECK(wire_topic_of(h.rec.store[*id].packet) == wire_topic{"x", std::nullopt});

        const auto r = h.s.publish(with_alias("", 3), h.now); // never set on this connection
        REQUIRE_FALSE(r);
        CHECK(r.error() == session_errc::outbound_topic_alias_invalid);
        CHECK(r.error().message() == "Topic Alias with an empty topic, but this connection never "
                                     "set that alias (MQTT 5 §3.3.2.3.4)");
        CHECK(h.out().empty());
        CHECK(h.s.publishes_in_flight() == 2);
    }
    SECTION("when_free: the session's aliases go around the message's") {
        harness h{alias_options(topic_alias_policy::when_free)};
        h.connect(alias_maximum(3));
        REQUIRE(h.s.publish(with_alias("x", 1), h.now));
        CHECK(wire_topic_of(h.one()) == wire_topic{"x", 1});
        h.publish("y", qos::at_most_once);
        CHECK(wire_topic_of(h.one()) == wire_topic{"y", 2});
        h.publish("x", qos::at_most_once);
        CHECK(wire_topic_of(h.one()) == wire_topic{"", 1});
        REQUIRE(h.s.publish(with_alias("z", 2), h.now)); // the message re-points alias 2
        CHECK(wire_topic_of(h.one()) == wire_topic{"z", 2});
        h.publish("z", qos::at_most_once);
        CHECK(wire_topic_of(h.one()) == wire_topic{"", 2});
        h.publish("y", qos::at_most_once);
        CHECK(wire_topic_of(h.one()) == wire_topic{"y", 3});
    }
}

// ---------------------------------------------------------------- enhanced authentication

namespace {

/// A challenge/response mechanism: answers "proof:<challenge>", records what it saw.
struct test_authenticator final : authenticator {
    std::string name = "SCRAM";
    std::string first = "client-first";
    std::vector<std::string> challenges;
    std::vector<std::string> successes;
    std::error_code initial_error, challenge_error, success_error;
    std::vector<std::string>* log = nullptr; ///< the recorder's, to check the order of calls

    std::string_view method() const override { return name; }
    std::error_code initial_data(std::vector<std::byte>& out) override {
        if (initial_error)
            return initial_error;
        const auto b = as_bytes(first);
        out.assign(b.begin(), b.end());
        return {};
    }
    std::error_code on_challenge(bytes_view data, std::vector<std::byte>& response) override {
        challenges.push_back(text_of(data));
        if (log)
            log->push_back("authenticator challenge " + text_of(data));
        if (challenge_error)
            return challenge_error;
        const auto proof = "proof:" + text_of(data);
        const auto b = as_bytes(proof);
        response.assign(b.begin(), b.end());
        return {};
    }
    std::error_code on_success(bytes_view data) override {
        successes.push_back(text_of(data));
        if (log)
            log->push_back("authenticator success " + text_of(data));
        return success_error;
    }
};

const auto denied = std::make_error_code(std::errc::permission_denied);

std::vector<std::byte> auth_bytes(reason code, std::string_view method,
                                  std::string_view data = {}) {
    ctmqtt::auth a;
    a.reason_code = *auth_reason_code::from_reason(code);
    if (!method.empty())
        a.properties.set<property_id::authentication_method>(method);
    if (!data.empty())
        a.properties.set<property_id::authentication_data>(as_bytes(data));
    return bytes_of(a, v5);
}

connack auth_connack(std::string_view method, std::string_view data = {}) {
    connack ack;
    ack.properties.set<property_id::authentication_method>(method);
    if (!data.empty())
        ack.properties.set<property_id::authentication_data>(as_bytes(data));
    return ack;
}

session::options auth_options(test_authenticator& a, protocol_version v = v5) {
    auto o = options_for(v);
    o.auth = &a;
    return o;
}

/// A session (MQTT 5) that authenticates through `authn`.
struct auth_fixture {
    test_authenticator authn;
    harness h{auth_options(authn)};
};

/// Index of the first log line starting with `prefix` (log.size() if none).
std::size_t log_index(const std::vector<std::string>& log, std::string_view prefix) {
    return static_cast<std::size_t>(
        std::find_if(log.begin(), log.end(),
                     [&](const std::string& l) { return l.starts_with(prefix); }) -
        log.begin());
}

} // namespace

TEST_CASE_METHOD(auth_fixture,
                 "enhanced authentication: CONNECT carries the method and data, each AUTH 0x18 is "
                 "answered, CONNACK's data reaches the authenticator",
                 "[session][auth]") {
    authn.log = &h.rec.log;
    REQUIRE_FALSE(h.s.connect(h.now));
    const auto c = h.one().as<ctmqtt::connect>(v5);
    CHECK(c.properties.get<property_id::authentication_method>() == std::string_view{"SCRAM"});
    CHECK(text_of(*c.properties.get<property_id::authentication_data>()) == "client-first");

    // Until CONNACK only AUTH or DISCONNECT may go [MQTT-3.1.2-30]
    ctmqtt::publish p;
    p.topic = "t";
    CHECK(h.s.publish(p, h.now).error() == session_errc::not_connected);
    CHECK(h.s.subscribe(one_subscription, {}, h.now).error() == session_errc::not_connected);
    const std::string_view filters[] = {"a"};
    CHECK(h.s.unsubscribe(filters, {}, h.now).error() == session_errc::not_connected);
    h.s.on_timer(t0 + 60s); // a keep-alive interval: no PINGREQ before CONNACK
    CHECK(h.s.output().empty());

    for (const char* challenge : {"server-first", "server-second"}) {
        h.feed(auth_bytes(reason::continue_authentication, "SCRAM", challenge));
        const auto a = h.one().as<ctmqtt::auth>(v5);
        CHECK(a.reason_code.value() == 0x18);
        CHECK(a.properties.get<property_id::authentication_method>() == std::string_view{"SCRAM"});
        CHECK(text_of(*a.properties.get<property_id::authentication_data>()) ==
              std::string{"proof:"} + challenge);
    }
    CHECK(authn.challenges == std::vector<std::string>{"server-first", "server-second"});
    CHECK(h.rec.auths == std::vector<std::uint8_t>{0x18, 0x18});
    // on_auth comes after the authenticator handled the AUTH
    CHECK(log_index(h.rec.log, "authenticator challenge") < log_index(h.rec.log, "auth "));

    h.feed_packet(auth_connack("SCRAM", "server-final"));
    CHECK(h.s.current_state() == session::state::connected);
    CHECK(authn.successes == std::vector<std::string>{"server-final"});
    REQUIRE(h.rec.connacks.size() == 1);
    CHECK_FALSE(h.rec.connacks[0]);
    CHECK(h.rec.closed.empty());
    CHECK(h.s.output().empty());
}

TEST_CASE("enhanced authentication: no initial data, or DISCONNECT before CONNACK",
          "[session][auth]") {
    test_authenticator authn;
    authn.first.clear();
    harness h{auth_options(authn)};
    REQUIRE_FALSE(h.s.connect(h.now));
    const auto c = h.one().as<ctmqtt::connect>(v5);
    CHECK(c.properties.get<property_id::authentication_method>() == std::string_view{"SCRAM"});
    CHECK_FALSE(c.properties.get<property_id::authentication_data>());
    CHECK_FALSE(h.s.disconnect()); // DISCONNECT may go before CONNACK [MQTT-3.1.2-30]
    CHECK(h.one().type == packet_type::disconnect);
}

TEST_CASE_METHOD(auth_fixture,
                 "enhanced authentication: the authenticator's refusal ends the connection with "
                 "DISCONNECT 0x80",
                 "[session][auth]") {
    h.start();
    SECTION("refused challenge") {
        authn.challenge_error = denied;
        h.feed(auth_bytes(reason::continue_authentication, "SCRAM", "server-first"));
        REQUIRE(h.rec.closed.size() == 1);
        const auto ec = h.rec.closed[0];
        CHECK(ec == session_errc::authentication_failed);
        CHECK(ec.message() == "authentication failed: the authenticator rejected the server's "
                              "AUTH Continue authentication (MQTT 5 §4.12, DISCONNECT 0x80)");
        CHECK(h.rec.auths.size() == 1); // on_auth still saw it
        CHECK(h.disconnect_reason() == 0x80);
    }
    SECTION("refused CONNACK: on_connack is told, the connection closes") {
        authn.success_error = denied;
        h.feed_packet(auth_connack("SCRAM", "bad signature"));
        REQUIRE(h.rec.connacks.size() == 1);
        CHECK(h.rec.connacks[0] == session_errc::authentication_failed);
        CHECK_THAT(h.rec.connacks[0].message(), Catch::Contains("Success (CONNACK or AUTH 0x00)"));
        REQUIRE(h.rec.closed.size() == 1);
        CHECK(h.rec.closed[0] == session_errc::authentication_failed);
        CHECK(h.disconnect_reason() == 0x80);
    }
    CHECK(h.s.authenticator_error() == denied);
    CHECK(h.s.current_state() == session::state::disconnected);
}

TEST_CASE_METHOD(auth_fixture,
                 "enhanced authentication: AUTH or CONNACK with another Authentication Method is a "
                 "protocol error [MQTT-4.12.0-5]",
                 "[session][auth]") {
    h.start();
    std::string what;
    SECTION("AUTH with another method") {
        h.feed(auth_bytes(reason::continue_authentication, "PLAIN", "x"));
        what = "AUTH";
    }
    SECTION("AUTH without a method") {
        h.feed(auth_bytes(reason::continue_authentication, ""));
        what = "AUTH";
    }
    SECTION("CONNACK without the method") {
        h.feed_packet(connack{});
        what = "CONNACK";
    }
    SECTION("CONNACK with another method") {
        h.feed_packet(auth_connack("PLAIN"));
        what = "CONNACK";
    }
    REQUIRE(h.rec.closed.size() == 1);
    const auto ec = h.rec.closed[0];
    CHECK(ec == session_errc::authentication_method_mismatch);
    CHECK(ec.message() == "the server's " + what +
                              " does not carry the Authentication Method of CONNECT "
                              "[MQTT-4.12.0-5] (protocol error, DISCONNECT 0x82)");
    CHECK(h.disconnect_reason() == 0x82);
    CHECK(authn.challenges.empty());
    CHECK(authn.successes.empty());
    CHECK(h.rec.auths.empty());
    CHECK(h.rec.connacks.empty());
}

TEST_CASE("AUTH, or an Authentication Method in CONNACK, when CONNECT carried none is a "
          "protocol error [MQTT-4.12.0-6]",
          "[session][auth]") {
    harness h{v5};
    SECTION("AUTH before CONNACK") {
        h.start();
        h.feed(auth_bytes(reason::continue_authentication, "SCRAM"));
        REQUIRE(h.rec.closed.size() == 1);
        CHECK(h.rec.closed[0] == session_errc::auth_without_method);
        CHECK(h.rec.closed[0].message() ==
              "the server sent AUTH, but CONNECT carried no Authentication Method "
              "[MQTT-4.12.0-6] (protocol error, DISCONNECT 0x82)");
    }
    SECTION("AUTH after CONNACK") {
        h.connect();
        h.feed(auth_bytes(reason::success, "SCRAM"));
        REQUIRE(h.rec.closed.size() == 1);
        CHECK(h.rec.closed[0] == session_errc::auth_without_method);
    }
    SECTION("CONNACK with a method") {
        h.start();
        h.feed_packet(auth_connack("SCRAM"));
        REQUIRE(h.rec.closed.size() == 1);
        CHECK(h.rec.closed[0] == session_errc::auth_without_method);
        CHECK_THAT(h.rec.closed[0].message(),
                   Catch::Contains("CONNACK carries an Authentication Method"));
        CHECK(h.rec.connacks.empty());
    }
    CHECK(h.rec.auths.empty());
    CHECK(h.disconnect_reason() == 0x82);
}

TEST_CASE_METHOD(auth_fixture,
                 "enhanced authentication: AUTH outside an exchange is a protocol error",
                 "[session][auth]") {
    std::string name;
    SECTION("Re-authenticate from the server (a client's code, MQTT 5 §3.15.2.1)") {
        h.start();
        h.feed(auth_bytes(reason::re_authenticate, "SCRAM"));
        name = "Re-authenticate (0x19)";
    }
    SECTION("Success before CONNACK") {
        h.start();
        h.feed(auth_bytes(reason::success, "SCRAM"));
        name = "Success (0x00)";
    }
    SECTION("Continue authentication after CONNACK, no re-authentication started") {
        h.connect(auth_connack("SCRAM"));
        h.feed(auth_bytes(reason::continue_authentication, "SCRAM", "x"));
        name = "Continue authentication (0x18)";
    }
    SECTION("Success after CONNACK, no re-authentication started") {
        h.connect(auth_connack("SCRAM"));
        h.feed(auth_bytes(reason::success, "SCRAM"));
        name = "Success (0x00)";
    }
    REQUIRE(h.rec.closed.size() == 1);
    CHECK(h.rec.closed[0] == session_errc::unexpected_auth);
    CHECK(h.rec.closed[0].message() == "the server sent AUTH " + name +
                                           " outside an authentication exchange it may end or "
                                           "continue (MQTT 5 §4.12; protocol error, DISCONNECT "
                                           "0x82)");
    CHECK(h.disconnect_reason() == 0x82);
    CHECK(authn.challenges.empty());
    CHECK(h.rec.auths.empty());
}

TEST_CASE_METHOD(
    auth_fixture,
    "re-authentication: AUTH 0x19 with the CONNECT's method, challenges answered, AUTH "
    "0x00 ends it [MQTT-4.12.1-1]",
    "[session][auth]") {
    h.connect(auth_connack("SCRAM"));
    authn.first = "again";
    CHECK_FALSE(h.s.reauthenticate(h.now));
    const auto start = h.one().as<ctmqtt::auth>(v5);
    CHECK(start.reason_code.value() == 0x19);
    CHECK(start.properties.get<property_id::authentication_method>() == std::string_view{"SCRAM"});
    CHECK(text_of(*start.properties.get<property_id::authentication_data>()) == "again");
    const auto busy = h.s.reauthenticate(h.now);
    CHECK(busy == session_errc::authentication_in_progress);
    CHECK(busy.message() == "a re-authentication is already in progress (MQTT 5 §4.12.1)");
    CHECK(h.s.output().empty());

    // other packets keep flowing meanwhile (MQTT 5 §4.12.1)
    const auto id = h.publish("t", qos::at_least_once);
    CHECK(h.one().type == packet_type::publish);
    h.feed(ack_bytes<packet_type::puback>(id, 0, v5));

    h.feed(auth_bytes(reason::continue_authentication, "SCRAM", "c2"));
    const auto answer = h.one().as<ctmqtt::auth>(v5);
    CHECK(answer.reason_code.value() == 0x18);
    CHECK(text_of(*answer.properties.get<property_id::authentication_data>()) == "proof:c2");
    CHECK(h.rec.reauthenticated.empty());

    h.feed(auth_bytes(reason::success, "SCRAM", "welcome back"));
    CHECK(authn.successes.back() == "welcome back");
    REQUIRE(h.rec.reauthenticated.size() == 1);
    CHECK_FALSE(h.rec.reauthenticated[0]);
    CHECK(h.rec.auths == std::vector<std::uint8_t>{0x18, 0x00});
    CHECK(log_index(h.rec.log, "auth ") < log_index(h.rec.log, "reauthenticated"));
    CHECK(h.s.output().empty());
    CHECK(h.s.current_state() == session::state::connected);
    CHECK_FALSE(h.s.reauthenticate(h.now)); // and again
    CHECK(h.one().as<ctmqtt::auth>(v5).reason_code.value() == 0x19);
    CHECK(h.rec.closed.empty());
}

TEST_CASE_METHOD(auth_fixture,
                 "re-authentication that fails ends the connection and is reported [MQTT-4.12.1-2]",
                 "[session][auth]") {
    h.connect(auth_connack("SCRAM"));
    REQUIRE_FALSE(h.s.reauthenticate(h.now));
    h.out();
    std::error_code expected;
    SECTION("the authenticator rejects AUTH 0x00") {
        authn.success_error = denied;
        h.feed(auth_bytes(reason::success, "SCRAM", "forged"));
        expected = make_error_code(session_errc::authentication_failed, 2);
        CHECK(h.disconnect_reason() == 0x80);
    }
    SECTION("the authenticator rejects a challenge") {
        authn.challenge_error = denied;
        h.feed(auth_bytes(reason::continue_authentication, "SCRAM", "odd"));
        expected = make_error_code(session_errc::authentication_failed, 1);
        CHECK(h.disconnect_reason() == 0x80);
    }
    SECTION("the server disconnects") {
        h.feed(disconnect_bytes(reason::not_authorized));
        expected = make_error_code(session_errc::server_disconnected, 0x87);
        CHECK(h.rec.server_disconnects.size() == 1);
        CHECK(h.s.output().empty());
    }
    SECTION("the connection is lost") {
        h.s.connection_lost();
        expected = make_error_code(session_errc::connection_lost);
    }
    REQUIRE(h.rec.reauthenticated.size() == 1);
    CHECK(h.rec.reauthenticated[0] == expected);
    REQUIRE(h.rec.closed.size() == 1);
    CHECK(h.rec.closed[0] == expected);
    CHECK(log_index(h.rec.log, "reauthenticated") < log_index(h.rec.log, "closed"));
    CHECK(h.s.current_state() == session::state::disconnected);
}

TEST_CASE("reauthenticate(): only while connected, with the authenticator that made CONNECT",
          "[session][auth]") {
    test_authenticator authn;
    SECTION("not connected, or still connecting") {
        harness h{auth_options(authn)};
        CHECK(h.s.reauthenticate(h.now) == session_errc::not_connected);
        h.start();
        CHECK(h.s.reauthenticate(h.now) == session_errc::not_connected);
        CHECK(h.s.output().empty());
    }
    SECTION("no authenticator; and no AUTH at all without a method in CONNECT") {
        harness h{v5};
        h.connect();
        const auto ec = h.s.reauthenticate(h.now);
        CHECK(ec == session_errc::reauthentication_unavailable);
        CHECK(ec.message() == "re-authentication needs the authenticator whose Authentication "
                              "Method CONNECT carried [MQTT-4.12.1-1]");
        ctmqtt::auth a;
        a.reason_code = reason::re_authenticate;
        a.properties.set<property_id::authentication_method>(std::string_view{"SCRAM"});
        const auto refused = h.s.send_auth(a, h.now);
        CHECK(refused == session_errc::reauthentication_unavailable);
        CHECK(refused.message() == "AUTH may only be sent when CONNECT carried an Authentication "
                                   "Method [MQTT-4.12.0-7]");
        CHECK(h.s.output().empty());
    }
    SECTION("MQTT 3.1.1: the authenticator is not used") {
        harness h{auth_options(authn, v4)};
        REQUIRE_FALSE(h.s.connect(h.now));
        CHECK(h.one().as<ctmqtt::connect>(v4).properties.empty());
        h.feed_packet(connack{});
        REQUIRE(h.s.current_state() == session::state::connected);
        CHECK(authn.successes.empty());
        CHECK(h.s.reauthenticate(h.now) == session_errc::reauthentication_unavailable);
    }
}

TEST_CASE_METHOD(auth_fixture,
                 "the authenticator's initial data error is returned and nothing is sent",
                 "[session][auth]") {
    SECTION("connect()") {
        authn.initial_error = denied;
        CHECK(h.s.connect(h.now) == denied);
        CHECK(h.s.output().empty());
        CHECK(h.s.current_state() == session::state::disconnected);
    }
    SECTION("reauthenticate()") {
        h.connect(auth_connack("SCRAM"));
        authn.initial_error = denied;
        CHECK(h.s.reauthenticate(h.now) == denied);
        CHECK(h.s.reauthenticate(h.now) == denied); // nothing started
        CHECK(h.s.output().empty());
        CHECK(h.s.current_state() == session::state::connected);
    }
}

// ---------------------------------------------------------------- Clean Start and Session Present

TEST_CASE("Clean Start 1 discards the client's session state at connect() [MQTT-3.1.2-4]",
          "[session]") {
    const auto v = GENERATE(v4, v5);
    INFO(to_string(v));
    auto o = options_for(v);
    SECTION("republished as new messages; pending PUBREL finished; inbound QoS 2 forgotten") {
        harness h{o};
        h.connect();
        h.s.set_clean_start(false);
        const auto q1 = h.publish("t", qos::at_least_once, "one");
        const auto q2 = h.publish("t", qos::exactly_once, "two");
        h.feed(ack_bytes<packet_type::pubrec>(q2, 0, v));
        const auto q3 = h.publish("t", qos::exactly_once, "three");
        h.feed(publish_bytes("in", qos::exactly_once, 7, v));
        h.out();
        // a resume marks the PUBLISHes DUP ...
        h.reconnect(resumed());
        CHECK(h.out().size() == 3);
        // ... then the client starts clean
        h.s.connection_lost();
        h.s.set_clean_start(true);
        REQUIRE_FALSE(h.s.connect(h.now));
        REQUIRE(h.rec.done.size() == 1); // at connect(), before any CONNACK
        CHECK(h.rec.done[0] == std::pair{q2, std::error_code{}});
        CHECK(h.s.publishes_in_flight() == 2);
        const auto c = h.one().as<ctmqtt::connect>(v);
        CHECK(c.clean_start);
        h.feed_packet(connack{});
        auto out = h.out();
        REQUIRE(out.size() == 2);
        const auto p1 = out[0].as<ctmqtt::publish>(v);
        const auto p3 = out[1].as<ctmqtt::publish>(v);
        CHECK(p1.packet_id == q1);
        CHECK_FALSE(p1.dup);
        CHECK(p3.packet_id == q3);
        CHECK_FALSE(p3.dup);
        h.feed(publish_bytes("in", qos::exactly_once, 7, v, true));
        CHECK(h.rec.messages.size() == 2); // a new message in a new session
    }
    SECTION("failed with session_expired when republish_after_session_loss is off") {
        o.republish_after_session_loss = false;
        harness h{o};
        h.connect();
        const auto q1 = h.publish("t", qos::at_least_once);
        const auto q2 = h.publish("t", qos::exactly_once);
        const auto q3 = h.publish("t", qos::exactly_once);
        h.feed(ack_bytes<packet_type::pubrec>(q2, 0, v));
        h.out();
        h.s.connection_lost();
        REQUIRE_FALSE(h.s.connect(h.now));
        REQUIRE(h.rec.done.size() == 3); // in resend order: q1, q3, then q2's PUBREL
        CHECK(h.rec.done[0] == std::pair{q1, make_error_code(session_errc::session_expired)});
        CHECK(h.rec.done[1] == std::pair{q3, make_error_code(session_errc::session_expired)});
        CHECK(h.rec.done[2] == std::pair{q2, std::error_code{}});
        CHECK(h.s.publishes_in_flight() == 0);
        h.out();
        h.feed_packet(connack{});
        CHECK(h.s.output().empty());
    }
}

TEST_CASE("Session Present 1 answering Clean Start 1 is a protocol error [MQTT-3.2.2-4]",
          "[session]") {
    for (auto v : {v4, v5}) {
        INFO(to_string(v));
        harness h{v};
        h.start();
        connack ack;
        ack.session_present = true;
        h.feed_packet(ack);
        REQUIRE(h.rec.closed.size() == 1);
        const auto ec = h.rec.closed[0];
        CHECK(ec == session_errc::session_present_unexpected);
        CHECK(ec.message() ==
              "the server answered Clean Start 1 with Session Present 1, but the client has no "
              "session state [MQTT-3.2.2-4] [MQTT-3.2.2-2] (3.1.1: [MQTT-3.2.2-1]; protocol "
              "error, DISCONNECT 0x82)");
        CHECK(h.rec.connacks.empty());
        CHECK(h.s.current_state() == session::state::disconnected);
        if (v == v5)
            CHECK(h.disconnect_reason() == 0x82);
        else
            CHECK(h.s.output().empty());

        // with Clean Start 0, Session Present 1 is the server's session resumed
        h.s.set_clean_start(false);
        h.start();
        h.feed_packet(ack);
        CHECK(h.s.current_state() == session::state::connected);
    }
}

// ---------------------------------------------------------------- flow control

TEST_CASE("resumption resends no more PUBLISHes than the new Receive Maximum; the rest follow "
          "acknowledgements, in order, before new messages [MQTT-3.3.4-7]",
          "[session]") {
    harness h{v5};
    h.connect();
    h.s.set_clean_start(false);
    const auto a = h.publish("t", qos::at_least_once, "a");
    const auto b = h.publish("t", qos::at_least_once, "b");
    const auto r = h.publish("t", qos::exactly_once, "r");
    h.feed(ack_bytes<packet_type::pubrec>(r, 0, v5)); // r: PUBREL pending, after b in order
    const auto c = h.publish("t", qos::at_least_once, "c");
    const auto d = h.publish("t", qos::at_least_once, "d");
    h.out();
    auto ack = resumed();
    ack.properties.set<property_id::receive_maximum>(std::uint16_t{3});
    h.reconnect(ack);

    const auto payloads = [&](const std::vector<sent>& packets) {
        std::vector<std::string> r;
        for (const auto& p : packets)
            r.push_back(p.type == packet_type::pubrel
                            ? "PUBREL " + std::to_string(p.as<pubrel>(v5).packet_id)
                            : text_of(p.as<ctmqtt::publish>(v5).payload));
        return r;
    };
    // the PUBREL is not held back, but holds its place in the quota
    CHECK(payloads(h.out()) == std::vector<std::string>{"a", "b", "PUBREL " + std::to_string(r)});
    CHECK(h.s.publishes_in_flight() == 5);
    ctmqtt::publish p;
    p.topic = "t";
    p.qos = qos::at_least_once;
    CHECK(h.s.publish(p, h.now).error() == session_errc::send_quota_exhausted);

    h.feed(ack_bytes<packet_type::puback>(a, 0, v5));
    auto o = h.out();
    REQUIRE(o.size() == 1);
    CHECK(text_of(o[0].as<ctmqtt::publish>(v5).payload) == "c");
    CHECK(o[0].as<ctmqtt::publish>(v5).dup);
    CHECK(h.s.publish(p, h.now).error() == session_errc::send_quota_exhausted); // d waits
    h.feed(ack_bytes<packet_type::pubcomp>(r, 0, v5));
    CHECK(payloads(h.out()) == std::vector<std::string>{"d"});
    CHECK(h.s.publish(p, h.now).error() == session_errc::send_quota_exhausted); // b, c, d: 3
    h.feed(ack_bytes<packet_type::puback>(b, 0, v5));
    CHECK(h.out().empty());
    CHECK(h.s.publish(p, h.now)); // quota again
    h.feed(ack_bytes<packet_type::puback>(c, 0, v5));
    h.feed(ack_bytes<packet_type::puback>(d, 0, v5));
    CHECK(h.rec.done.size() == 5);
    CHECK(h.rec.closed.size() == 1); // the connection lost before the resume
}

TEST_CASE("resumption under Receive Maximum, lost again while messages were held back: the "
          "next resume sends them",
          "[session]") {
    harness h{v5};
    h.connect();
    h.s.set_clean_start(false);
    std::vector<std::uint16_t> ids;
    for (const char* m : {"a", "b", "c"})
        ids.push_back(h.publish("t", qos::at_least_once, m));
    h.out();
    auto ack = resumed();
    for (const std::uint16_t maximum : {std::uint16_t{1}, std::uint16_t{65'535}}) {
        ack.properties.set<property_id::receive_maximum>(maximum);
        h.reconnect(ack);
        CHECK(h.out().size() == (maximum == 1 ? 1u : 3u));
    }
    for (const auto id : ids)
        h.feed(ack_bytes<packet_type::puback>(id, 0, v5));
    CHECK(h.rec.done.size() == 3);
    CHECK(h.s.publishes_in_flight() == 0);
    CHECK(h.publish("t", qos::at_least_once) != 0);
    CHECK(h.rec.closed.size() == 2);
}

TEST_CASE("resumption under Receive Maximum: a held-back message whose expiry runs out while it "
          "waits goes all the same [MQTT-4.3.3-7] [MQTT-4.4.0-1]; published again as new after "
          "the session was lost, it expires",
          "[session]") {
    harness h{v5};
    h.connect();
    h.s.set_clean_start(false);
    publish_properties expiring;
    expiring.set<property_id::message_expiry_interval>(10u);
    const auto a = h.publish("t", qos::at_least_once, "a");
    const auto b = h.publish("t", qos::exactly_once, "b", expiring);
    const auto c = h.publish("t", qos::at_least_once, "c");
    h.out();
    h.now += 1s;
    const bool session_present = GENERATE(true, false);
    INFO("Session Present " << session_present);
    connack ack; // Session Present 0: the three are new messages, not sent in this session
    ack.session_present = session_present;
    ack.properties.set<property_id::receive_maximum>(std::uint16_t{1});
    h.reconnect(ack);
    CHECK(text_of(h.one().as<ctmqtt::publish>(v5).payload) == "a");
    h.now += 20s;
    h.feed(ack_bytes<packet_type::puback>(a, 0, v5));
    const auto next = h.one().as<ctmqtt::publish>(v5);
    if (!session_present) {
        CHECK(next.packet_id == c);
        REQUIRE(h.rec.done.size() == 2);
        CHECK(h.rec.done[0] == std::pair{a, std::error_code{}});
        CHECK(h.rec.done[1] == std::pair{b, make_error_code(session_errc::message_expired)});
        return;
    }
    CHECK(next.packet_id == b); // sent before: it goes, its interval at 1 second
    CHECK(text_of(next.payload) == "b");
    CHECK(next.dup);
    CHECK(next.properties.get<property_id::message_expiry_interval>() == 1u);
    REQUIRE(h.rec.done.size() == 1);
    CHECK(h.rec.done[0] == std::pair{a, std::error_code{}});
    h.feed(ack_bytes<packet_type::pubrec>(b, 0, v5));
    CHECK(h.one().type == packet_type::pubrel);
    h.feed(ack_bytes<packet_type::pubcomp>(b, 0, v5));
    CHECK(h.one().as<ctmqtt::publish>(v5).packet_id == c);
    REQUIRE(h.rec.done.size() == 2);
    CHECK(h.rec.done[1] == std::pair{b, std::error_code{}});
}

TEST_CASE("a used-up send quota delays no packet but PUBLISH [MQTT-3.3.4-8]", "[session]") {
    auto o = options_for(v5);
    o.connect.keep_alive = 10;
    harness h{o};
    connack ack;
    ack.properties.set<property_id::receive_maximum>(std::uint16_t{1});
    h.connect(ack);
    h.publish("t", qos::exactly_once);
    h.out();
    ctmqtt::publish p;
    p.topic = "t";
    p.qos = qos::at_least_once;
    REQUIRE(h.s.publish(p, h.now).error() == session_errc::send_quota_exhausted);

    REQUIRE(h.s.subscribe(one_subscription, {}, h.now));
    CHECK(h.one().type == packet_type::subscribe);
    const std::string_view filters[] = {"a"};
    REQUIRE(h.s.unsubscribe(filters, {}, h.now));
    CHECK(h.one().type == packet_type::unsubscribe);
    h.feed(publish_bytes("in", qos::at_least_once, 3, v5));
    CHECK(h.one().type == packet_type::puback);
    h.feed(publish_bytes("in", qos::exactly_once, 4, v5));
    CHECK(h.one().type == packet_type::pubrec);
    h.feed(ack_bytes<packet_type::pubrel>(4, 0, v5));
    CHECK(h.one().type == packet_type::pubcomp);
    h.s.on_timer(h.now + 10s);
    CHECK(h.one().type == packet_type::pingreq);
    CHECK_FALSE(h.s.disconnect());
    CHECK(h.one().type == packet_type::disconnect);
}

// ---------------------------------------------------------------- SUBACK / UNSUBACK counts

TEST_CASE("SUBACK and UNSUBACK must carry one reason code per topic filter [MQTT-3.8.4-6] "
          "[MQTT-3.11.3-1]",
          "[session]") {
    const subscription two[] = {{"a", qos::at_least_once}, {"b", qos::exactly_once}};
    for (auto v : {v4, v5}) {
        // SUBACKs for identifier 1 with one and with three codes
        for (const char* bytes : {v == v5 ? "90 04 00 01 00 01" : "90 03 00 01 01",
                                  v == v5 ? "90 06 00 01 00 00 01 02" : "90 05 00 01 00 01 02"}) {
            INFO(to_string(v) << " " << bytes);
            harness h{v};
            h.connect();
            REQUIRE(*h.s.subscribe(two, {}, h.now) == 1);
            h.out();
            h.feed_hex(bytes);
            CHECK(h.rec.subacks.empty());
            REQUIRE(h.rec.closed.size() == 1);
            CHECK(h.rec.closed[0] == session_errc::reason_code_count_mismatch);
            CHECK(h.rec.closed[0].message() ==
                  "the server's SUBACK does not carry one reason code per topic filter of the "
                  "SUBSCRIBE [MQTT-3.8.4-6] [MQTT-3.9.3-1] (3.1.1: [MQTT-3.8.4-5]; protocol "
                  "error, DISCONNECT 0x82)");
            if (v == v5)
                CHECK(h.disconnect_reason() == 0x82);
            else
                CHECK(h.s.output().empty());
        }
        harness h{v};
        h.connect();
        REQUIRE(*h.s.subscribe(two, {}, h.now) == 1);
        h.feed_hex(v == v5 ? "90 05 00 01 00 01 02" : "90 04 00 01 01 02");
        CHECK(h.rec.subacks == std::vector<std::uint16_t>{1});
        CHECK(h.rec.closed.empty());
    }
    SECTION("UNSUBACK (5.0)") {
        harness h{v5};
        h.connect();
        const std::string_view filters[] = {"a"};
        REQUIRE(*h.s.unsubscribe(filters, {}, h.now) == 1);
        h.out();
        h.feed_hex("B0 05 00 01 00 00 00");
        CHECK(h.rec.unsubacks.empty());
        REQUIRE(h.rec.closed.size() == 1);
        CHECK(h.rec.closed[0] == session_errc::reason_code_count_mismatch);
        CHECK(h.rec.closed[0].message() ==
              "the server's UNSUBACK does not carry one reason code per topic filter of the "
              "UNSUBSCRIBE [MQTT-3.11.3-1] (protocol error, DISCONNECT 0x82)");
        CHECK(h.disconnect_reason() == 0x82);
    }
}

// ---------------------------------------------------------------- user-given properties

TEST_CASE("DISCONNECT and AUTH leave out the Reason String, then the User Properties, above "
          "the server's Maximum Packet Size [MQTT-3.14.2-3] [MQTT-3.14.2-4] [MQTT-3.15.2-2] "
          "[MQTT-3.15.2-3]",
          "[session]") {
    const std::string long_text(40, 'r');
    const string_pair small[] = {{"k", "v"}};
    const string_pair big[] = {{"key", std::string_view{long_text}}};
    const auto with = [&](std::span<const string_pair> users, std::string_view reason_string) {
        disconnect_properties p;
        if (!users.empty())
            p.set<property_id::user_property>(users);
        if (!reason_string.empty())
            p.set<property_id::reason_string>(reason_string);
        return p;
    };
    connack ack;
    ack.properties.set<property_id::maximum_packet_size>(30u);
    harness h{v5};
    h.connect(ack);
    SECTION("everything fits") {
        REQUIRE_FALSE(h.s.disconnect(reason::disconnect_with_will_message, with(small, "bye")));
        const auto d = h.one().as<ctmqtt::disconnect>(v5);
        CHECK(d.reason_code.value() == 0x04);
        CHECK(d.properties.get<property_id::reason_string>() == std::string_view{"bye"});
        CHECK(d.properties.get<property_id::user_property>().size() == 1);
    }
    SECTION("the Reason String goes first") {
        REQUIRE_FALSE(h.s.disconnect(reason::disconnect_with_will_message, with(small, long_text)));
        const auto d = h.one().as<ctmqtt::disconnect>(v5);
        CHECK(d.reason_code.value() == 0x04);
        CHECK_FALSE(d.properties.get<property_id::reason_string>());
        CHECK(d.properties.get<property_id::user_property>().size() == 1);
    }
    SECTION("then the User Properties") {
        REQUIRE_FALSE(h.s.disconnect(reason::disconnect_with_will_message, with(big, "bye")));
        const auto d = h.one();
        CHECK(d.bytes.size() <= 30);
        CHECK(d.as<ctmqtt::disconnect>(v5).reason_code.value() == 0x04);
        CHECK(d.as<ctmqtt::disconnect>(v5).properties.empty());
    }
}

TEST_CASE("send_auth leaves out the Reason String above the server's Maximum Packet Size "
          "[MQTT-3.15.2-2]",
          "[session][auth]") {
    auto o = options_for(v5);
    o.connect.properties.set<property_id::authentication_method>(std::string_view{"M"});
    harness h{o};
    auto ack = auth_connack("M");
    ack.properties.set<property_id::maximum_packet_size>(20u);
    h.connect(ack);
    const std::string long_text(40, 'r');
    ctmqtt::auth a;
    a.reason_code = reason::re_authenticate;
    a.properties.set<property_id::authentication_method>(std::string_view{"M"});
    a.properties.set<property_id::reason_string>(std::string_view{long_text});
    REQUIRE_FALSE(h.s.send_auth(a, h.now));
    const auto sent_auth = h.one().as<ctmqtt::auth>(v5);
    CHECK(sent_auth.reason_code.value() == 0x19);
    CHECK(sent_auth.properties.get<property_id::authentication_method>() == std::string_view{"M"});
    CHECK_FALSE(sent_auth.properties.get<property_id::reason_string>());
}

// ---------------------------------------------------------------- persistent session state

TEST_CASE("the store hooks follow every in-flight change; for_each_in_flight lists them in "
          "resend order",
          "[session][store]") {
    harness h{v5};
    h.connect();
    h.publish("t", qos::at_most_once);
    const auto x = h.publish("t", qos::at_least_once, "x");
    const auto y = h.publish("t", qos::exactly_once, "y");
    const auto z = h.publish("t", qos::at_least_once, "z");
    const auto written = h.out();
    REQUIRE(written.size() == 4);
    CHECK(h.rec.store[x].packet == written[1].bytes);
    CHECK_FALSE(h.rec.store[x].pubrel);
    h.feed(ack_bytes<packet_type::pubrec>(y, 0, v5)); // y's PUBREL is now the newest
    CHECK(h.rec.store[y].pubrel);
    CHECK(h.rec.store[y].packet.empty());
    REQUIRE(h.s.subscribe(one_subscription, {}, h.now)); // not stored
    h.out();

    std::vector<std::string> listed;
    h.s.for_each_in_flight([&](const in_flight_packet& p) {
        listed.push_back(std::to_string(p.packet_id) + (p.pubrel ? " pubrel" : " publish") +
                         (p.packet.empty()
                              ? ""
                              : " " + text_of(decode<ctmqtt::publish>(p.packet, v5)->payload)));
    });
    CHECK(listed == std::vector<std::string>{std::to_string(x) + " publish x",
                                             std::to_string(z) + " publish z",
                                             std::to_string(y) + " pubrel"});

    h.feed(ack_bytes<packet_type::puback>(x, 0, v5));
    h.feed(ack_bytes<packet_type::pubcomp>(y, 0, v5));
    h.feed(ack_bytes<packet_type::puback>(z, 0x80, v5)); // refused: released too
    CHECK(h.rec.store.empty());
    const auto id = [](std::uint16_t n) { return std::to_string(n); };
    CHECK(h.rec.store_log == std::vector<std::string>{"stored " + id(x), "stored " + id(y),
                                                      "stored " + id(z), "pubrel " + id(y),
                                                      "released " + id(x), "released " + id(y),
                                                      "released " + id(z)});

    h.rec.store_log.clear();
    h.feed(publish_bytes("in", qos::exactly_once, 300, v5));
    h.feed(publish_bytes("in", qos::exactly_once, 7, v5));
    h.feed(publish_bytes("in", qos::exactly_once, 7, v5, true)); // a resend: no change
    h.feed(publish_bytes("in", qos::exactly_once, 8, v5));
    h.feed(ack_bytes<packet_type::pubrel>(8, 0, v5));
    std::vector<std::uint16_t> inbound;
    h.s.for_each_inbound_qos2([&](std::uint16_t n) { inbound.push_back(n); });
    CHECK(inbound == std::vector<std::uint16_t>{7, 300});
    // Clean Start 1 forgets them
    h.s.connection_lost();
    REQUIRE_FALSE(h.s.connect(h.now));
    CHECK(h.rec.store_log == std::vector<std::string>{"inbound 300", "inbound 7", "inbound 8",
                                                      "inbound done 8", "inbound done 7",
                                                      "inbound done 300"});
    inbound.clear();
    h.s.for_each_inbound_qos2([&](std::uint16_t n) { inbound.push_back(n); });
    CHECK(inbound.empty());
}

TEST_CASE("a session restored from another's saved state resumes it", "[session][store]") {
    for (auto v : {v4, v5}) {
        INFO(to_string(v));
        // the first process
        harness first{v};
        first.connect();
        const auto q1 = first.publish("t", qos::at_least_once, "one");
        const auto q2 = first.publish("t", qos::exactly_once, "two");
        const auto q3 = first.publish("t", qos::exactly_once, "three");
        first.feed(ack_bytes<packet_type::pubrec>(q2, 0, v));
        first.feed(publish_bytes("in", qos::exactly_once, 9, v));
        first.out();
        struct saved {
            std::uint16_t id;
            bool pubrel;
            std::vector<std::byte> packet;
        };
        std::vector<saved> in_flight;
        first.s.for_each_in_flight([&](const in_flight_packet& p) {
            in_flight.push_back({p.packet_id, p.pubrel, {p.packet.begin(), p.packet.end()}});
        });
        std::vector<std::uint16_t> inbound;
        first.s.for_each_inbound_qos2([&](std::uint16_t id) { inbound.push_back(id); });
        REQUIRE(in_flight.size() == 3);
        REQUIRE(inbound == std::vector<std::uint16_t>{9});

        // the next process
        auto o = options_for(v);
        o.connect.clean_start = false;
        harness second{o};
        for (const auto& p : in_flight)
            REQUIRE_FALSE(second.s.restore_in_flight(p.id, p.pubrel, bytes_view{p.packet}));
        for (const auto id : inbound)
            second.s.restore_inbound_qos2(id);
        CHECK(second.s.publishes_in_flight() == 3);
        REQUIRE_FALSE(second.s.connect(second.now));
        CHECK_FALSE(second.one().as<ctmqtt::connect>(v).clean_start);
        connack ack;
        ack.session_present = true;
        second.feed_packet(ack);
        auto o2 = second.out();
        REQUIRE(o2.size() == 3);
        const auto p1 = o2[0].as<ctmqtt::publish>(v);
        const auto p3 = o2[1].as<ctmqtt::publish>(v);
        CHECK(p1.packet_id == q1);
        CHECK(p1.dup);
        CHECK(text_of(p1.payload) == "one");
        CHECK(p3.packet_id == q3);
        CHECK(p3.dup);
        CHECK(text_of(p3.payload) == "three");
        REQUIRE(o2[2].type == packet_type::pubrel);
        CHECK(o2[2].as<pubrel>(v).packet_id == q2);

        // the server's resend of the inbound message is not delivered again
        second.feed(publish_bytes("in", qos::exactly_once, 9, v, true));
        CHECK(second.rec.messages.empty());
        CHECK(second.one().type == packet_type::pubrec);
        // a new message gets an identifier not in use
        const auto fresh = second.publish("t", qos::at_least_once, "new");
        CHECK(fresh != q1);
        CHECK(fresh != q2);
        CHECK(fresh != q3);
        second.out();
        // the acknowledgements finish them on the new handler
        second.feed(ack_bytes<packet_type::puback>(q1, 0, v));
        second.feed(ack_bytes<packet_type::pubcomp>(q2, 0, v));
        second.feed(ack_bytes<packet_type::pubrec>(q3, 0, v));
        CHECK(second.one().type == packet_type::pubrel);
        second.feed(ack_bytes<packet_type::pubcomp>(q3, 0, v));
        second.feed(ack_bytes<packet_type::puback>(fresh, 0, v));
        REQUIRE(second.rec.done.size() == 4);
        for (const auto& [id, ec] : second.rec.done)
            CHECK_FALSE(ec);
        CHECK(second.s.publishes_in_flight() == 0);
        CHECK(second.rec.closed.empty());
    }
}

TEST_CASE("restore_in_flight refuses what it cannot resume", "[session][store]") {
    harness h{v5};
    const auto valid = publish_bytes("t", qos::at_least_once, 5, v5);
    const auto refused = [](std::error_code ec, const char* why) {
        CHECK(ec == session_errc::restore_refused);
        CHECK(ec.message() == std::string{"cannot restore the in-flight packet: "} + why);
    };
    refused(h.s.restore_in_flight(0, true, {}), "packet identifier 0 [MQTT-2.2.1-3]");
    REQUIRE_FALSE(h.s.restore_in_flight(5, false, bytes_view{valid}));
    refused(h.s.restore_in_flight(5, false, bytes_view{valid}),
            "the packet identifier is already in flight");
    refused(h.s.restore_in_flight(5, true, {}), "the packet identifier is already in flight");
    const auto qos0 = publish_bytes("t", qos::at_most_once, 0, v5);
    refused(h.s.restore_in_flight(6, false, bytes_view{qos0}),
            "the packet is not a QoS 1/2 PUBLISH with that packet identifier");
    const auto other_id = publish_bytes("t", qos::exactly_once, 7, v5);
    refused(h.s.restore_in_flight(8, false, bytes_view{other_id}),
            "the packet is not a QoS 1/2 PUBLISH with that packet identifier");
    ctmqtt::publish aliased;
    aliased.topic = "t";
    aliased.qos = qos::at_least_once;
    aliased.packet_id = 9;
    aliased.properties.set<property_id::topic_alias>(std::uint16_t{1});
    refused(h.s.restore_in_flight(9, false, bytes_view{bytes_of(aliased, v5)}),
            "the PUBLISH has a Topic Alias or no topic, which a new connection cannot resolve "
            "[MQTT-3.3.2-7]");
    // not a PUBLISH, or malformed: the codec's error
    const auto ec = h.s.restore_in_flight(10, false, bytes_view{hex("40 02 00 0A")});
    CHECK(ec.category() == codec_category());
    const auto cut = h.s.restore_in_flight(11, false, bytes_view{valid}.first(4));
    CHECK(cut.category() == codec_category());
    CHECK(h.s.publishes_in_flight() == 1);

    h.connect(); // Clean Start 1: the restored message goes again as a new one
    refused(h.s.restore_in_flight(12, true, {}),
            "session state is restored only while disconnected");
}
