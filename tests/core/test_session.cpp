// The sans-I/O session (include/ctmqtt/core/session.hpp), driven by bytes:
// server packets are built with the codec (or written as hex), everything the
// session writes is decoded back, and a recording handler logs what it was
// told. No clock, no socket: every test is deterministic.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
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
    std::optional<std::string> server_reference; ///< from the last CONNACK
    std::vector<message> messages;
    std::vector<std::pair<std::uint16_t, std::error_code>> done;
    std::vector<std::uint16_t> subacks;
    std::vector<std::uint16_t> unsubacks;
    std::vector<std::uint8_t> auths;
    std::vector<std::error_code> closed;
    std::function<void()> after_connack; ///< runs inside on_connack, e.g. to publish

    void on_connack(const connack& ack, std::error_code ec) override {
        connacks.push_back(ec);
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

    /// CONNECT, then the given CONNACK; leaves the output empty.
    void connect(const connack& ack = {}) {
        REQUIRE_FALSE(s.connect(now));
        REQUIRE(one().type == packet_type::connect);
        feed_packet(ack);
        REQUIRE(s.current_state() == session::state::connected);
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
        REQUIRE_FALSE(h.s.connect(h.now));
        h.out();
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
        REQUIRE_FALSE(h.s.connect(h.now));
        h.out();
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
    REQUIRE_FALSE(h.s.connect(h.now));
    h.out();
    connack ack;
    ack.reason_code = reason::bad_user_name_or_password;
    h.feed_packet(ack);
    CHECK(h.rec.closed.at(0).message() ==
          "connection refused: Bad User Name or Password (CONNACK 0x86)");
}

TEST_CASE("CONNACK 0x9C with a Server Reference: the handler sees the reference", "[session]") {
    harness h{v5};
    REQUIRE_FALSE(h.s.connect(h.now));
    h.out();
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
        REQUIRE_FALSE(h.s.connect(h.now));
        h.out();
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
            REQUIRE_FALSE(h.s.connect(h.now));
            h.out();
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
            REQUIRE_FALSE(h.s.connect(h.now));
            h.out();
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
        // connack, 3 messages (the DUP resend is not one), done 1, (5.0) closed
        CHECK(whole.log.size() == (v == v5 ? 6u : 5u));
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

TEST_CASE("keep alive: PINGREQ when idle, PINGRESP clears it, timeout after 1.5 ×", "[session]") {
    {
        const auto v = GENERATE(v4, v5);
        INFO(to_string(v));
        auto o = options_for(v);
        o.connect.keep_alive = 10;
        harness h{o};
        REQUIRE_FALSE(h.s.connect(h.now));
        h.out();
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
            if (v == v5)
                CHECK(h.disconnect_reason() == 0x8D);
            else
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
    h.s.connection_lost();
    REQUIRE_FALSE(h.s.connect(h.now));
    h.out();
    connack ack;
    ack.session_present = true;
    h.feed_packet(ack);
    auto o = h.out();
    REQUIRE(o.size() == 3);
    CHECK(text_of(o[0].as<ctmqtt::publish>(v5).payload) == "b");
    CHECK(text_of(o[1].as<ctmqtt::publish>(v5).payload) == "d");
    REQUIRE(o[2].type == packet_type::pubrel);
    CHECK(o[2].as<pubrel>(v5).packet_id == c);
    CHECK(b != d);
}

TEST_CASE("resumption counts Message Expiry down and drops expired messages", "[session]") {
    harness h{v5};
    h.connect();
    publish_properties props;
    props.set<property_id::payload_format_indicator>(std::uint8_t{1});
    props.set<property_id::message_expiry_interval>(100u);
    const auto expiring = h.publish("t", qos::at_least_once, "expiring", props);
    const auto lasting = h.publish("t", qos::exactly_once, "lasting");
    h.out();

    connack ack;
    ack.session_present = true;
    h.s.connection_lost();
    h.now += 30s;
    REQUIRE_FALSE(h.s.connect(h.now));
    h.out();
    h.feed_packet(ack);
    auto o = h.out();
    REQUIRE(o.size() == 2);
    auto p = o[0].as<ctmqtt::publish>(v5);
    CHECK(p.packet_id == expiring);
    CHECK(p.properties.get<property_id::message_expiry_interval>() == 70u);
    CHECK(p.properties.get<property_id::payload_format_indicator>() == std::uint8_t{1});
    CHECK(text_of(p.payload) == "expiring");

    h.s.connection_lost();
    h.now += 70s; // 100 s in all
    REQUIRE_FALSE(h.s.connect(h.now));
    h.out();
    h.feed_packet(ack);
    o = h.out();
    REQUIRE(o.size() == 1);
    CHECK(o[0].as<ctmqtt::publish>(v5).packet_id == lasting);
    REQUIRE(h.rec.done.size() == 1);
    CHECK(h.rec.done[0].first == expiring);
    CHECK(h.rec.done[0].second == session_errc::message_expired);
    CHECK(h.s.publishes_in_flight() == 1);
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
            h.s.connection_lost();
            REQUIRE_FALSE(h.s.connect(h.now));
            h.out();
            connack resumed;
            resumed.session_present = true;
            h.feed_packet(resumed);
            CHECK(h.out().size() == 3);
            // ... then the server loses the session
            h.s.connection_lost();
            REQUIRE_FALSE(h.s.connect(h.now));
            h.out();
            h.feed_packet(connack{});
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
            h.s.connection_lost();
            REQUIRE_FALSE(h.s.connect(h.now));
            h.out();
            h.feed_packet(connack{});
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
            h.s.connection_lost();
            REQUIRE_FALSE(h.s.connect(h.now));
            h.out();
            h.feed_packet(connack{});
            h.feed(publish_bytes("a", qos::exactly_once, 7, v));
            CHECK(h.rec.messages.size() == 2); // a new message in a new session
        }
    }
}

TEST_CASE("resumption: inbound QoS 2 awaiting PUBREL is kept with Session Present 1", "[session]") {
    harness h{v5};
    h.connect();
    h.feed(publish_bytes("a", qos::exactly_once, 7, v5));
    h.s.connection_lost();
    REQUIRE_FALSE(h.s.connect(h.now));
    h.out();
    connack ack;
    ack.session_present = true;
    h.feed_packet(ack);
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
        ctmqtt::disconnect d;
        d.reason_code = reason::server_shutting_down;
        d.properties.set<property_id::reason_string>(std::string_view{"maintenance"});
        h.feed_packet(d);
        REQUIRE(h.rec.closed.size() == 1);
        CHECK(h.rec.closed[0] == session_errc::server_disconnected);
        CHECK(h.rec.closed[0].message() ==
              "the server disconnected: Server shutting down (DISCONNECT 0x8B)");
    }
    SECTION("Use another server, with a Server Reference") {
        // The reference is not passed on yet: the client layer will need it.
        ctmqtt::disconnect d;
        d.reason_code = reason::use_another_server;
        d.properties.set<property_id::server_reference>(std::string_view{"other:1883"});
        h.feed_packet(d);
        REQUIRE(h.rec.closed.size() == 1);
        CHECK_THAT(h.rec.closed[0].message(),
                   Catch::Contains("Use another server (DISCONNECT 0x9C)"));
    }
    SECTION("Normal disconnection, short form") {
        h.feed_hex("E0 00");
        CHECK(h.rec.closed.at(0).message() ==
              "the server disconnected: Normal disconnection (DISCONNECT 0x00)");
    }
    CHECK(h.s.current_state() == session::state::disconnected);
    CHECK(h.s.output().empty()); // no DISCONNECT in reply
}

TEST_CASE("AUTH: the server's reaches on_auth, send_auth writes one", "[session]") {
    auto o = options_for(v5);
    o.connect.properties.set<property_id::authentication_method>(std::string_view{"SCRAM"});
    harness h{o};
    REQUIRE_FALSE(h.s.connect(h.now));
    h.out();
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

    h.feed_packet(connack{});
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
