// Byte-exact vectors for every packet type in every protocol version that has
// it. The expected bytes are written by hand from the field tables of the
// MQTT 3.1.1 (OASIS, 2014) and MQTT 5.0 (OASIS, 2019) specifications and the
// MQTT 3.1 (IBM) specification; none of them was produced by the encoder.
// Each vector is encoded (header + payload compared with the expected bytes)
// and decoded (every field checked), and the decoded packet is encoded again.
//
// Notation of hx(): two hex digits per byte, 'text' for ASCII characters.
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include <ctmqtt/ctmqtt.hpp>

using namespace ctmqtt;
using namespace std::string_view_literals;

namespace {

using bytes = std::vector<std::byte>;

constexpr auto v31 = protocol_version::v3_1;
constexpr auto v311 = protocol_version::v3_1_1;
constexpr auto v5 = protocol_version::v5;

unsigned hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return static_cast<unsigned>(c - '0');
    if (c >= 'A' && c <= 'F')
        return static_cast<unsigned>(c - 'A' + 10);
    if (c >= 'a' && c <= 'f')
        return static_cast<unsigned>(c - 'a' + 10);
    throw std::invalid_argument("bad hex digit in test vector");
}

// "10 0F 00 04 'MQTT'" -> bytes
bytes hx(std::string_view spec) {
    bytes out;
    std::size_t i = 0;
    while (i < spec.size()) {
        const char c = spec[i];
        if (c == ' ' || c == '\n') {
            ++i;
        } else if (c == '\'') {
            const auto end = spec.find('\'', i + 1);
            if (end == std::string_view::npos)
                throw std::invalid_argument("unterminated text in test vector");
            for (std::size_t k = i + 1; k < end; ++k)
                out.push_back(static_cast<std::byte>(spec[k]));
            i = end + 1;
        } else {
            if (i + 1 >= spec.size())
                throw std::invalid_argument("odd hex digit in test vector");
            out.push_back(static_cast<std::byte>(hex_digit(spec[i]) * 16 + hex_digit(spec[i + 1])));
            i += 2;
        }
    }
    return out;
}

bytes operator+(bytes a, const bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

std::string hex(bytes_view b) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (i != 0)
            out += ' ';
        const auto v = static_cast<unsigned>(b[i]);
        out += digits[v >> 4];
        out += digits[v & 0xF];
    }
    return out;
}

std::string str(bytes_view b) {
    return std::string{as_string(b)};
}

template <class P>
bytes encode_bytes(const P& p, protocol_version v) {
    std::vector<std::byte> buffer(encoded_size(p, v) + 8);
    auto r = encode(p, v, buffer);
    if (!r)
        FAIL("encode failed: " << r.error().message());
    bytes out(r->header.begin(), r->header.end());
    out.insert(out.end(), r->payload.begin(), r->payload.end());
    return out;
}

// Encodes p and compares with the expected bytes.
template <class P>
void check_encode(const P& p, protocol_version v, const bytes& expected) {
    INFO("version " << to_string(v));
    CHECK(hex(encode_bytes(p, v)) == hex(expected));
    CHECK(encoded_size(p, v) == expected.size());
    CHECK(remaining_length(p, v) + 2u <= expected.size());
    CHECK_FALSE(check(p, v));
}

// Decoded packets are views into their input: the vectors' bytes are kept
// here until the end of the test run, so callers may pass temporaries.
const bytes& keep(const bytes& b) {
    static std::deque<bytes> store;
    return store.emplace_back(b);
}

// Decodes the expected bytes with decode<P> and decode_packet (which must agree).
template <class P>
P decode_ok(const bytes& b_in, protocol_version v) {
    const bytes& b = keep(b_in);
    INFO("version " << to_string(v) << ", bytes " << hex(b));
    auto any = decode_packet(b, v);
    if (!any)
        FAIL("decode_packet failed: " << any.error().message());
    CHECK(any->size == b.size());
    CHECK(std::holds_alternative<P>(any->packet));
    auto r = decode<P>(b, v);
    if (!r)
        FAIL("decode failed: " << r.error().message());
    return *r;
}

// The full vector: encode p, decode the bytes, re-encode the decoded packet.
template <class P>
P vector_both_ways(const P& p, protocol_version v, const bytes& expected_in) {
    const bytes& expected = keep(expected_in);
    check_encode(p, v, expected);
    P d = decode_ok<P>(expected, v);
    CHECK(to_string(d, v) == to_string(p, v));
    CHECK(hex(encode_bytes(d, v)) == hex(expected));
    return d;
}

template <class L>
auto collect(const L& l) {
    std::vector<typename L::value_type> out;
    for (auto e : l)
        out.push_back(e);
    return out;
}

template <class P>
std::error_code decode_error(const bytes& b, protocol_version v) {
    auto r = decode<P>(b, v);
    if (r)
        return {};
    return r.error();
}

template <class P>
std::error_code encode_error(const P& p, protocol_version v) {
    std::array<std::byte, 256> buffer{};
    auto r = encode(p, v, buffer);
    if (r)
        return {};
    return r.error();
}

} // namespace

// ------------------------------------------------------------------ CONNECT

TEST_CASE("vectors: CONNECT 3.1.1 minimal", "[vectors][connect]") {
    connect c;
    c.version = v311;
    c.client_id = "abc";
    c.keep_alive = 60;
    // 3.1.1 §3.1.2: protocol name, level 4, flags (clean session), keep alive; payload: client id
    const auto expected = hx("10 0F 00 04 'MQTT' 04 02 00 3C 00 03 'abc'");
    auto d = vector_both_ways(c, v311, expected);
    CHECK(d.version == v311);
    CHECK(d.clean_start);
    CHECK(d.keep_alive == 60u);
    CHECK(d.client_id == "abc");
    CHECK_FALSE(d.will);
    CHECK_FALSE(d.user_name);
    CHECK_FALSE(d.password);
    CHECK(d.properties.empty());
}

TEST_CASE("vectors: CONNECT 3.1.1 with will, user name and password (flags CE)",
          "[vectors][connect]") {
    connect c;
    c.version = v311;
    c.client_id = "cid";
    c.keep_alive = 10;
    c.will.emplace();
    c.will->topic = "w/t";
    c.will->payload = as_bytes("bye");
    c.will->qos = qos::at_least_once;
    c.user_name = "u";
    c.password = as_bytes("pw");
    // 3.1.1 §3.1.2.10 example: flags 0xCE = user name, password, will QoS 1, will, clean session
    const auto expected = hx("10 20 00 04 'MQTT' 04 CE 00 0A"
                             " 00 03 'cid' 00 03 'w/t' 00 03 'bye' 00 01 'u' 00 02 'pw'");
    auto d = vector_both_ways(c, v311, expected);
    CHECK(d.clean_start);
    CHECK(d.keep_alive == 10u);
    CHECK(d.client_id == "cid");
    REQUIRE(d.will);
    CHECK(d.will->topic == "w/t");
    CHECK(str(d.will->payload) == "bye");
    CHECK(d.will->qos == qos::at_least_once);
    CHECK_FALSE(d.will->retain);
    REQUIRE(d.user_name);
    CHECK(*d.user_name == "u");
    REQUIRE(d.password);
    CHECK(str(*d.password) == "pw");
}

TEST_CASE("vectors: CONNECT 3.1.1 will QoS 2 retained, empty will payload, no clean session",
          "[vectors][connect]") {
    connect c;
    c.version = v311;
    c.clean_start = false;
    c.keep_alive = 0;
    c.client_id = "x";
    c.will.emplace();
    c.will->topic = "t";
    c.will->qos = qos::exactly_once;
    c.will->retain = true;
    // flags: will retain 0x20 | will QoS 2 0x10 | will flag 0x04
    const auto expected = hx("10 12 00 04 'MQTT' 04 34 00 00 00 01 'x' 00 01 't' 00 00");
    auto d = vector_both_ways(c, v311, expected);
    CHECK_FALSE(d.clean_start);
    CHECK(d.keep_alive == 0u);
    REQUIRE(d.will);
    CHECK(d.will->qos == qos::exactly_once);
    CHECK(d.will->retain);
    CHECK(d.will->topic == "t");
    CHECK(d.will->payload.empty());
}

TEST_CASE("vectors: CONNECT 3.1 (MQIsdp, level 3)", "[vectors][connect]") {
    connect c;
    c.version = v31;
    c.client_id = "c1";
    c.keep_alive = 30;
    c.user_name = "u";
    c.password = as_bytes("p");
    // 3.1: protocol name "MQIsdp", version 3, flags 0xC2 (user name, password, clean session)
    const auto expected = hx("10 16 00 06 'MQIsdp' 03 C2 00 1E 00 02 'c1' 00 01 'u' 00 01 'p'");
    auto d = vector_both_ways(c, v31, expected);
    CHECK(d.version == v31);
    CHECK(d.client_id == "c1");
    CHECK(d.keep_alive == 30u);
    REQUIRE(d.user_name);
    CHECK(*d.user_name == "u");
    REQUIRE(d.password);
    CHECK(str(*d.password) == "p");
    // The version passed to decode is ignored for CONNECT: the packet says its own.
    auto again = decode<connect>(expected, v5);
    REQUIRE(again);
    CHECK(again->version == v31);
}

TEST_CASE("vectors: CONNECT 3.1 with will", "[vectors][connect]") {
    connect c;
    c.version = v31;
    c.client_id = "client-with-23-chars-ok";
    c.keep_alive = 0x1234;
    c.will.emplace();
    c.will->topic = "a";
    c.will->payload = as_bytes("z");
    c.will->qos = qos::at_least_once;
    c.will->retain = true;
    // flags: retain 0x20 | QoS 1 0x08 | will 0x04 | clean 0x02 = 0x2E; RL = 12 + 25 + 3 + 3 = 43
    const auto expected =
        hx("10 2B 00 06 'MQIsdp' 03 2E 12 34 00 17 'client-with-23-chars-ok' 00 01 'a' 00 01 'z'");
    auto d = vector_both_ways(c, v31, expected);
    CHECK(d.client_id.size() == 23u);
    REQUIRE(d.will);
    CHECK(d.will->retain);
    CHECK(d.will->qos == qos::at_least_once);
}

TEST_CASE("vectors: CONNECT 5.0 minimal, empty client id", "[vectors][connect]") {
    connect c;
    c.version = v5;
    c.keep_alive = 0;
    const auto expected = hx("10 0D 00 04 'MQTT' 05 02 00 00 00 00 00");
    auto d = vector_both_ways(c, v5, expected);
    CHECK(d.version == v5);
    CHECK(d.client_id.empty());
    CHECK(d.properties.empty());
}

TEST_CASE("vectors: CONNECT 5.0 password without user name", "[vectors][connect]") {
    connect c;
    c.version = v5;
    c.client_id = "a";
    c.keep_alive = 5;
    c.password = as_bytes("p");
    // flags 0x42: password, clean start (allowed in 5.0, MQTT 5 §3.1.2.9)
    const auto expected = hx("10 11 00 04 'MQTT' 05 42 00 05 00 00 01 'a' 00 01 'p'");
    auto d = vector_both_ways(c, v5, expected);
    CHECK_FALSE(d.user_name);
    REQUIRE(d.password);
    CHECK(str(*d.password) == "p");

    // The same in 3.1.1 is refused on both sides [MQTT-3.1.2-22].
    c.version = v311;
    CHECK(encode_error(c, v311) == codec_errc::password_without_user_name);
    CHECK(decode_error<connect>(hx("10 10 00 04 'MQTT' 04 42 00 05 00 01 'a' 00 01 'p'"), v311) ==
          codec_errc::password_without_user_name);
}

TEST_CASE("vectors: CONNECT 5.0 spec example variable header (flags CE, session expiry 10)",
          "[vectors][connect]") {
    // MQTT 5 §3.1.2.11 example: 00 04 'MQTT' 05 CE 00 0A 05 11 00 00 00 0A
    connect c;
    c.version = v5;
    c.keep_alive = 10;
    c.client_id = "cid";
    c.properties.set<property_id::session_expiry_interval>(std::uint32_t{10});
    c.will.emplace();
    c.will->topic = "w/t";
    c.will->payload = as_bytes("bye");
    c.will->qos = qos::at_least_once;
    c.user_name = "u";
    c.password = as_bytes("pw");
    // RL = 10 + 6 + 5 + 1 (will property length) + 5 + 5 + 3 + 4 = 39
    const auto expected = hx("10 27 00 04 'MQTT' 05 CE 00 0A 05 11 00 00 00 0A"
                             " 00 03 'cid' 00 00 03 'w/t' 00 03 'bye' 00 01 'u' 00 02 'pw'");
    auto d = vector_both_ways(c, v5, expected);
    CHECK(d.properties.get<property_id::session_expiry_interval>() == 10u);
    REQUIRE(d.will);
    CHECK(d.will->properties.empty());
}

TEST_CASE("vectors: CONNECT 5.0 with every CONNECT property and every will property",
          "[vectors][connect]") {
    const string_pair ups[] = {{"k", "v"}};
    const string_pair will_ups[] = {{"a", "b"}};
    connect c;
    c.version = v5;
    c.keep_alive = 10;
    c.client_id = "cid";
    c.properties.set<property_id::session_expiry_interval>(std::uint32_t{10})
        .set<property_id::authentication_method>("m"sv)
        .set<property_id::authentication_data>(as_bytes("d"))
        .set<property_id::request_problem_information>(std::uint8_t{0})
        .set<property_id::request_response_information>(std::uint8_t{1})
        .set<property_id::receive_maximum>(std::uint16_t{20})
        .set<property_id::topic_alias_maximum>(std::uint16_t{5})
        .set<property_id::user_property>(ups)
        .set<property_id::maximum_packet_size>(std::uint32_t{1024});
    c.will.emplace();
    c.will->topic = "w/t";
    c.will->payload = as_bytes("bye");
    c.will->qos = qos::at_least_once;
    c.will->retain = true;
    c.will->properties.set<property_id::payload_format_indicator>(std::uint8_t{1})
        .set<property_id::message_expiry_interval>(std::uint32_t{3600})
        .set<property_id::content_type>("text"sv)
        .set<property_id::response_topic>("r"sv)
        .set<property_id::correlation_data>(as_bytes("cd"))
        .set<property_id::will_delay_interval>(std::uint32_t{5})
        .set<property_id::user_property>(will_ups);
    c.user_name = "u";
    c.password = as_bytes("pw");
    // Properties in ascending identifier order (35 bytes each block).
    // flags 0xEE: user name, password, will retain, will QoS 1, will, clean start.
    // RL = 10 + 36 + 5 + 36 + 5 + 5 + 3 + 4 = 104
    const auto expected =
        hx("10 68 00 04 'MQTT' 05 EE 00 0A"
           " 23 11 00 00 00 0A 15 00 01 'm' 16 00 01 'd' 17 00 19 01 21 00 14 22 00 05"
           " 26 00 01 'k' 00 01 'v' 27 00 00 04 00"
           " 00 03 'cid'"
           " 23 01 01 02 00 00 0E 10 03 00 04 'text' 08 00 01 'r' 09 00 02 'cd' 18 00 00 00 05"
           " 26 00 01 'a' 00 01 'b'"
           " 00 03 'w/t' 00 03 'bye' 00 01 'u' 00 02 'pw'");
    auto d = vector_both_ways(c, v5, expected);
    const auto& p = d.properties;
    CHECK(p.get<property_id::session_expiry_interval>() == 10u);
    CHECK(p.get<property_id::authentication_method>() == "m"sv);
    REQUIRE(p.get<property_id::authentication_data>());
    CHECK(str(*p.get<property_id::authentication_data>()) == "d");
    CHECK(p.get<property_id::request_problem_information>() == std::uint8_t{0});
    CHECK(p.get<property_id::request_response_information>() == std::uint8_t{1});
    CHECK(p.get<property_id::receive_maximum>() == std::uint16_t{20});
    CHECK(p.get<property_id::topic_alias_maximum>() == std::uint16_t{5});
    CHECK(p.get<property_id::maximum_packet_size>() == 1024u);
    auto users = collect(p.get<property_id::user_property>());
    REQUIRE(users.size() == 1u);
    CHECK(users[0] == string_pair{"k", "v"});
    REQUIRE(d.will);
    const auto& w = d.will->properties;
    CHECK(w.get<property_id::payload_format_indicator>() == std::uint8_t{1});
    CHECK(w.get<property_id::message_expiry_interval>() == 3600u);
    CHECK(w.get<property_id::content_type>() == "text"sv);
    CHECK(w.get<property_id::response_topic>() == "r"sv);
    REQUIRE(w.get<property_id::correlation_data>());
    CHECK(str(*w.get<property_id::correlation_data>()) == "cd");
    CHECK(w.get<property_id::will_delay_interval>() == 5u);
    auto will_users = collect(w.get<property_id::user_property>());
    REQUIRE(will_users.size() == 1u);
    CHECK(will_users[0] == string_pair{"a", "b"});
    CHECK(d.will->retain);
    CHECK(d.will->qos == qos::at_least_once);
    CHECK(d.will->topic == "w/t");
    CHECK(str(d.will->payload) == "bye");
}

TEST_CASE("vectors: CONNECT 5.0 properties in another order decode the same",
          "[vectors][connect]") {
    // Receive Maximum before Session Expiry Interval: the specification fixes no order.
    const auto b = hx("10 16 00 04 'MQTT' 05 02 00 3C 08 21 00 14 11 00 00 00 0A 00 01 'x'");
    auto d = decode_ok<connect>(b, v5);
    CHECK(d.properties.get<property_id::receive_maximum>() == std::uint16_t{20});
    CHECK(d.properties.get<property_id::session_expiry_interval>() == 10u);
    CHECK(d.client_id == "x");
}

// ------------------------------------------------------------------ CONNACK

TEST_CASE("vectors: CONNACK 3.1.1 and 3.1", "[vectors][connack]") {
    for (auto v : {v31, v311}) {
        INFO(to_string(v));
        connack a;
        vector_both_ways(a, v, hx("20 02 00 00"));
        a.session_present = true;
        auto d = vector_both_ways(a, v, hx("20 02 01 00"));
        CHECK(d.session_present);
        CHECK(d.return_code == connect_return_code::accepted);
        CHECK(d.accepted(v));

        const connect_return_code refusals[] = {
            connect_return_code::unacceptable_protocol_version,
            connect_return_code::identifier_rejected, connect_return_code::server_unavailable,
            connect_return_code::bad_user_name_or_password, connect_return_code::not_authorized};
        std::uint8_t code = 1;
        for (auto rc : refusals) {
            connack r;
            r.return_code = rc;
            bytes expected = hx("20 02 00");
            expected.push_back(std::byte{code});
            auto dr = vector_both_ways(r, v, expected);
            CHECK(dr.return_code == rc);
            CHECK_FALSE(dr.session_present);
            CHECK_FALSE(dr.accepted(v));
            ++code;
        }
    }
    // Return code 6 is reserved; session present on a refusal is an error [MQTT-3.2.2-4].
    CHECK(decode_error<connack>(hx("20 02 00 06"), v311) == codec_errc::return_code_reserved);
    CHECK(decode_error<connack>(hx("20 02 01 05"), v311) == codec_errc::session_present_on_refusal);
    CHECK(decode_error<connack>(hx("20 02 02 00"), v311) == codec_errc::connack_reserved_flags);
}

TEST_CASE("vectors: CONNACK 5.0", "[vectors][connack]") {
    SECTION("success") {
        connack a;
        auto d = vector_both_ways(a, v5, hx("20 03 00 00 00"));
        CHECK(d.reason_code == reason::success);
        CHECK(d.accepted(v5));
    }
    SECTION("session present") {
        connack a;
        a.session_present = true;
        auto d = vector_both_ways(a, v5, hx("20 03 01 00 00"));
        CHECK(d.session_present);
    }
    SECTION("refusal: Not authorized") {
        connack a;
        a.reason_code = reason::not_authorized;
        auto d = vector_both_ways(a, v5, hx("20 03 00 87 00"));
        CHECK(d.reason_code.value() == 0x87u);
        CHECK_FALSE(d.accepted(v5));
    }
    SECTION("refusal: Use another server with Server Reference") {
        connack a;
        a.reason_code = reason::use_another_server;
        a.properties.set<property_id::server_reference>("other"sv);
        auto d = vector_both_ways(a, v5, hx("20 0B 00 9C 08 1C 00 05 'other'"));
        CHECK(d.reason_code == reason::use_another_server);
        CHECK(d.properties.get<property_id::server_reference>() == "other"sv);
    }
    SECTION("many properties") {
        const string_pair ups[] = {{"k", "v"}};
        connack a;
        a.session_present = true;
        a.properties.set<property_id::session_expiry_interval>(std::uint32_t{120})
            .set<property_id::assigned_client_identifier>("xyz"sv)
            .set<property_id::server_keep_alive>(std::uint16_t{30})
            .set<property_id::reason_string>("ok"sv)
            .set<property_id::receive_maximum>(std::uint16_t{10})
            .set<property_id::topic_alias_maximum>(std::uint16_t{8})
            .set<property_id::maximum_qos>(std::uint8_t{1})
            .set<property_id::retain_available>(std::uint8_t{0})
            .set<property_id::user_property>(ups)
            .set<property_id::maximum_packet_size>(std::uint32_t{65536})
            .set<property_id::wildcard_subscription_available>(std::uint8_t{1})
            .set<property_id::subscription_identifier_available>(std::uint8_t{0})
            .set<property_id::shared_subscription_available>(std::uint8_t{1});
        // 47 bytes of properties; RL = 1 + 1 + 1 + 47 = 50
        const auto expected =
            hx("20 32 01 00 2F"
               " 11 00 00 00 78 12 00 03 'xyz' 13 00 1E 1F 00 02 'ok' 21 00 0A 22 00 08"
               " 24 01 25 00 26 00 01 'k' 00 01 'v' 27 00 01 00 00 28 01 29 00 2A 01");
        auto d = vector_both_ways(a, v5, expected);
        const auto& p = d.properties;
        CHECK(p.get<property_id::session_expiry_interval>() == 120u);
        CHECK(p.get<property_id::assigned_client_identifier>() == "xyz"sv);
        CHECK(p.get<property_id::server_keep_alive>() == std::uint16_t{30});
        CHECK(p.get<property_id::reason_string>() == "ok"sv);
        CHECK(p.get<property_id::receive_maximum>() == std::uint16_t{10});
        CHECK(p.get<property_id::topic_alias_maximum>() == std::uint16_t{8});
        CHECK(p.get<property_id::maximum_qos>() == std::uint8_t{1});
        CHECK(p.get<property_id::retain_available>() == std::uint8_t{0});
        CHECK(p.get<property_id::maximum_packet_size>() == 65536u);
        CHECK(p.get<property_id::wildcard_subscription_available>() == std::uint8_t{1});
        CHECK(p.get<property_id::subscription_identifier_available>() == std::uint8_t{0});
        CHECK(p.get<property_id::shared_subscription_available>() == std::uint8_t{1});
        CHECK_FALSE(p.get<property_id::authentication_method>());
        auto users = collect(p.get<property_id::user_property>());
        REQUIRE(users.size() == 1u);
        CHECK(users[0] == string_pair{"k", "v"});
    }
    SECTION("errors") {
        CHECK(decode_error<connack>(hx("20 03 01 80 00"), v5) ==
              codec_errc::session_present_on_refusal);
        CHECK(decode_error<connack>(hx("20 03 00 10 00"), v5) ==
              codec_errc::reason_code_not_allowed);
        CHECK(decode_error<connack>(hx("20 03 80 00 00"), v5) ==
              codec_errc::connack_reserved_flags);
        // Maximum QoS 2 is not a valid value (0 or 1)
        CHECK(decode_error<connack>(hx("20 05 00 00 02 24 02"), v5) == codec_errc::property_value);
        // 5.0 CONNACK needs its properties (the property length is not optional)
        CHECK(decode_error<connack>(hx("20 02 00 00"), v5));
    }
}

// ------------------------------------------------------------------ PUBLISH

TEST_CASE("vectors: PUBLISH 3.1.1 and 3.1", "[vectors][publish]") {
    for (auto v : {v31, v311}) {
        INFO(to_string(v));
        SECTION("QoS 0") {
            publish p;
            p.topic = "a/b";
            p.payload = as_bytes("hi");
            auto d = vector_both_ways(p, v, hx("30 07 00 03 'a/b' 'hi'"));
            CHECK(d.topic == "a/b");
            CHECK(str(d.payload) == "hi");
            CHECK(d.qos == qos::at_most_once);
            CHECK_FALSE(d.retain);
            CHECK_FALSE(d.dup);
            CHECK(d.packet_id == 0u);
        }
        SECTION("QoS 1 retain") {
            publish p;
            p.topic = "a/b";
            p.payload = as_bytes("hi");
            p.qos = qos::at_least_once;
            p.retain = true;
            p.packet_id = 10;
            auto d = vector_both_ways(p, v, hx("33 09 00 03 'a/b' 00 0A 'hi'"));
            CHECK(d.qos == qos::at_least_once);
            CHECK(d.retain);
            CHECK(d.packet_id == 10u);
        }
        SECTION("QoS 2 dup") {
            publish p;
            p.topic = "a/b";
            p.payload = as_bytes("hi");
            p.qos = qos::exactly_once;
            p.dup = true;
            p.packet_id = 0x1234;
            auto d = vector_both_ways(p, v, hx("3C 09 00 03 'a/b' 12 34 'hi'"));
            CHECK(d.qos == qos::exactly_once);
            CHECK(d.dup);
            CHECK_FALSE(d.retain);
            CHECK(d.packet_id == 0x1234u);
        }
        SECTION("QoS 1 dup retain") {
            publish p;
            p.topic = "x";
            p.qos = qos::at_least_once;
            p.dup = true;
            p.retain = true;
            p.packet_id = 0xFFFF;
            auto d = vector_both_ways(p, v, hx("3B 05 00 01 'x' FF FF"));
            CHECK(d.dup);
            CHECK(d.retain);
            CHECK(d.packet_id == 0xFFFFu);
            CHECK(d.payload.empty());
        }
        SECTION("empty payload") {
            publish p;
            p.topic = "a/b";
            auto d = vector_both_ways(p, v, hx("30 05 00 03 'a/b'"));
            CHECK(d.payload.empty());
        }
    }
}

TEST_CASE("vectors: PUBLISH 5.0", "[vectors][publish]") {
    SECTION("QoS 0 without properties") {
        publish p;
        p.topic = "a/b";
        p.payload = as_bytes("hi");
        auto d = vector_both_ways(p, v5, hx("30 08 00 03 'a/b' 00 'hi'"));
        CHECK(d.properties.empty());
        CHECK(str(d.payload) == "hi");
    }
    SECTION("QoS 2 retain, empty payload") {
        publish p;
        p.topic = "t";
        p.qos = qos::exactly_once;
        p.retain = true;
        p.packet_id = 1;
        auto d = vector_both_ways(p, v5, hx("35 06 00 01 't' 00 01 00"));
        CHECK(d.qos == qos::exactly_once);
        CHECK(d.retain);
        CHECK(d.payload.empty());
    }
    SECTION("every PUBLISH property, two user properties, two subscription identifiers") {
        const string_pair ups[] = {{"a", "1"}, {"b", "2"}};
        const std::uint32_t ids[] = {5, 200};
        const std::byte corr[] = {std::byte{0x01}, std::byte{0x02}};
        publish p;
        p.topic = "a/b";
        p.qos = qos::at_least_once;
        p.packet_id = 7;
        p.payload = as_bytes("hi");
        p.properties.set<property_id::payload_format_indicator>(std::uint8_t{1})
            .set<property_id::message_expiry_interval>(std::uint32_t{60})
            .set<property_id::content_type>("json"sv)
            .set<property_id::response_topic>("r/t"sv)
            .set<property_id::correlation_data>(bytes_view{corr})
            .set<property_id::subscription_identifier>(ids)
            .set<property_id::topic_alias>(std::uint16_t{2})
            .set<property_id::user_property>(ups);
        // 47 bytes of properties; RL = 5 + 2 + 1 + 47 + 2 = 57
        const auto expected =
            hx("32 39 00 03 'a/b' 00 07 2F"
               " 01 01 02 00 00 00 3C 03 00 04 'json' 08 00 03 'r/t' 09 00 02 01 02"
               " 0B 05 0B C8 01 23 00 02"
               " 26 00 01 'a' 00 01 '1' 26 00 01 'b' 00 01 '2'"
               " 'hi'");
        auto d = vector_both_ways(p, v5, expected);
        const auto& q = d.properties;
        CHECK(q.get<property_id::payload_format_indicator>() == std::uint8_t{1});
        CHECK(q.get<property_id::message_expiry_interval>() == 60u);
        CHECK(q.get<property_id::content_type>() == "json"sv);
        CHECK(q.get<property_id::response_topic>() == "r/t"sv);
        REQUIRE(q.get<property_id::correlation_data>());
        CHECK(hex(*q.get<property_id::correlation_data>()) == "01 02");
        CHECK(q.get<property_id::topic_alias>() == std::uint16_t{2});
        auto sub_ids = collect(q.get<property_id::subscription_identifier>());
        REQUIRE(sub_ids.size() == 2u);
        CHECK(sub_ids[0] == 5u);
        CHECK(sub_ids[1] == 200u);
        auto users = collect(q.get<property_id::user_property>());
        REQUIRE(users.size() == 2u);
        CHECK(users[0] == string_pair{"a", "1"});
        CHECK(users[1] == string_pair{"b", "2"});
        CHECK(str(d.payload) == "hi");
        CHECK(d.packet_id == 7u);
    }
    SECTION("repeated properties interleaved with others decode in order") {
        // user property, topic alias, user property, subscription id, user property
        const auto b = hx("30 1D 00 01 't' 18 26 00 01 'x' 00 00 23 00 09 26 00 00 00 01 'y'"
                          " 0B 7F 26 00 01 'z' 00 01 'w' 'P'");
        auto d = decode_ok<publish>(b, v5);
        auto users = collect(d.properties.get<property_id::user_property>());
        REQUIRE(users.size() == 3u);
        CHECK(users[0] == string_pair{"x", ""});
        CHECK(users[1] == string_pair{"", "y"});
        CHECK(users[2] == string_pair{"z", "w"});
        auto sub_ids = collect(d.properties.get<property_id::subscription_identifier>());
        REQUIRE(sub_ids.size() == 1u);
        CHECK(sub_ids[0] == 127u);
        CHECK(d.properties.get<property_id::topic_alias>() == std::uint16_t{9});
        CHECK(str(d.payload) == "P");
    }
    SECTION("topic alias with an empty topic name") {
        publish p;
        p.payload = as_bytes("hi");
        p.properties.set<property_id::topic_alias>(std::uint16_t{5});
        auto d = vector_both_ways(p, v5, hx("30 08 00 00 03 23 00 05 'hi'"));
        CHECK(d.topic.empty());
        CHECK(d.properties.get<property_id::topic_alias>() == std::uint16_t{5});
        // Without the alias, or in 3.1.1, an empty topic is refused [MQTT-4.7.3-1].
        CHECK(decode_error<publish>(hx("30 05 00 00 00 'hi'"), v5) == codec_errc::topic_name_empty);
        CHECK(decode_error<publish>(hx("30 04 00 00 'hi'"), v311) == codec_errc::topic_name_empty);
        publish q;
        q.payload = as_bytes("hi");
        CHECK(encode_error(q, v5) == codec_errc::topic_name_empty);
        CHECK(encode_error(q, v311) == codec_errc::topic_name_empty);
    }
    SECTION("errors") {
        CHECK(decode_error<publish>(hx("36 05 00 01 't' 00 01"), v311) ==
              codec_errc::publish_qos_invalid);
        CHECK(decode_error<publish>(hx("38 03 00 01 't'"), v311) == codec_errc::dup_on_qos_0);
        CHECK(decode_error<publish>(hx("32 05 00 01 't' 00 00"), v311) ==
              codec_errc::packet_id_zero);
        CHECK(decode_error<publish>(hx("30 05 00 03 'a/#'"), v311) ==
              codec_errc::topic_name_wildcard);
        CHECK(decode_error<publish>(hx("30 05 00 03 'a/+'"), v5) ==
              codec_errc::topic_name_wildcard);
        // Topic Alias 0 [MQTT-3.3.2-8], Subscription Identifier 0, PFI 2
        CHECK(decode_error<publish>(hx("30 07 00 01 't' 03 23 00 00"), v5) ==
              codec_errc::property_value);
        CHECK(decode_error<publish>(hx("30 06 00 01 't' 02 0B 00"), v5) ==
              codec_errc::property_value);
        CHECK(decode_error<publish>(hx("30 06 00 01 't' 02 01 02"), v5) ==
              codec_errc::property_value);
        // Duplicate Topic Alias; Receive Maximum not allowed in PUBLISH; unknown identifier 0x05
        CHECK(decode_error<publish>(hx("30 0A 00 01 't' 06 23 00 01 23 00 02"), v5) ==
              codec_errc::property_duplicate);
        CHECK(decode_error<publish>(hx("30 07 00 01 't' 03 21 00 01"), v5) ==
              codec_errc::property_not_allowed);
        CHECK(decode_error<publish>(hx("30 06 00 01 't' 02 05 00"), v5) ==
              codec_errc::property_unknown);
        // property length beyond the packet
        CHECK(decode_error<publish>(hx("30 05 00 01 't' 05 01"), v5) ==
              codec_errc::property_length);
        // invalid UTF-8 in the topic, U+0000 in the topic
        CHECK(decode_error<publish>(hx("30 03 00 01 FF"), v311) == codec_errc::utf8_malformed);
        CHECK(decode_error<publish>(hx("30 03 00 01 00"), v311) == codec_errc::utf8_null);
    }
}

TEST_CASE("vectors: PUBLISH with multi-byte remaining lengths", "[vectors][publish][varint]") {
    SECTION("200-byte payload: RL 205 = CD 01") {
        const std::string payload(200, 'x');
        publish p;
        p.topic = "a/b";
        p.payload = as_bytes(payload);
        for (auto v : {v311, v5}) {
            INFO(to_string(v));
            const auto head = v == v5 ? hx("30 CE 01 00 03 'a/b' 00") : hx("30 CD 01 00 03 'a/b'");
            const auto expected = head + bytes(as_bytes(payload).begin(), as_bytes(payload).end());
            std::vector<std::byte> buffer(64);
            auto r = encode(p, v, buffer);
            REQUIRE(r);
            CHECK(hex(r->header) == hex(head));
            CHECK(r->payload.data() == p.payload.data()); // not copied
            CHECK(r->payload.size() == 200u);
            CHECK(header_size(p, v) == head.size());
            CHECK(encoded_size(p, v) == expected.size());
            decode_ok<publish>(expected, v);
            auto r2 = decode<publish>(expected, v);
            REQUIRE(r2);
            const auto& d = *r2;
            CHECK(d.payload.size() == 200u);
            CHECK(d.payload.data() == expected.data() + head.size()); // a view into the input
            CHECK(str(d.payload) == payload);
        }
    }
    SECTION("20000-byte payload: RL 20005 = A5 9C 01") {
        const std::string payload(20000, 'y');
        publish p;
        p.topic = "a/b";
        p.payload = as_bytes(payload);
        const auto head = hx("30 A5 9C 01 00 03 'a/b'");
        const auto expected = head + bytes(as_bytes(payload).begin(), as_bytes(payload).end());
        check_encode(p, v311, expected);
        auto d = decode_ok<publish>(expected, v311);
        CHECK(d.payload.size() == 20000u);
        CHECK(d.topic == "a/b");
    }
    SECTION("RL 16384 (three bytes 80 80 01)") {
        // topic "t" (3) + payload 16381 = 16384
        const std::string payload(16381, 'z');
        publish p;
        p.topic = "t";
        p.payload = as_bytes(payload);
        const auto head = hx("30 80 80 01 00 01 't'");
        check_encode(p, v311, head + bytes(as_bytes(payload).begin(), as_bytes(payload).end()));
        p.payload = p.payload.first(16380); // RL 16383: FF 7F
        const auto head2 = hx("30 FF 7F 00 01 't'");
        check_encode(p, v311,
                     head2 + bytes(as_bytes(payload).begin(), as_bytes(payload).begin() + 16380));
    }
}

TEST_CASE("vectors: variable byte integer boundaries", "[vectors][varint]") {
    struct vec {
        std::uint32_t value;
        const char* encoded;
    };
    // MQTT 5 §1.5.5, Table 1-1 and the examples of 3.1.1 §2.2.3
    const vec table[] = {
        {0, "00"},
        {1, "01"},
        {127, "7F"},
        {128, "80 01"},
        {16383, "FF 7F"},
        {16384, "80 80 01"},
        {2097151, "FF FF 7F"},
        {2097152, "80 80 80 01"},
        {268435455, "FF FF FF 7F"},
        {321, "C1 02"},
    };
    for (const auto& t : table) {
        INFO("value " << t.value);
        const auto expected = hx(t.encoded);
        std::array<std::byte, 8> buf{};
        auto* end = wire::varint::write(t.value, buf.data());
        CHECK(hex(bytes_view{buf.data(), static_cast<std::size_t>(end - buf.data())}) ==
              hex(expected));
        CHECK(wire::varint::size(t.value) == expected.size());
        CHECK_FALSE(wire::varint::check(t.value));
        std::uint32_t back = 0;
        wire::reader r{expected};
        CHECK_FALSE(wire::varint::read(r, back));
        CHECK(back == t.value);
        CHECK(r.empty());

        // As a remaining length in a fixed header (no body needed to parse the header).
        const auto header = hx("30") + expected;
        auto h = parse_fixed_header(header, v5);
        REQUIRE(h);
        REQUIRE(*h);
        CHECK((*h)->type == packet_type::publish);
        CHECK((*h)->remaining_length == t.value);
        CHECK((*h)->length == header.size());
        CHECK((*h)->packet_size() == header.size() + t.value);
        // Cut inside the varint: the header cannot be known yet.
        if (expected.size() > 1) {
            auto partial = parse_fixed_header(bytes_view{header}.first(header.size() - 1), v5);
            REQUIRE(partial);
            CHECK_FALSE(*partial);
        }
    }
    CHECK(wire::varint::check(268435456u).rule == codec_errc::value_too_large);

    SECTION("malformed") {
        auto h = parse_fixed_header(hx("30 FF FF FF FF 7F"), v5);
        REQUIRE_FALSE(h);
        CHECK(h.error() == codec_errc::varint_too_long);
        auto h2 = parse_fixed_header(hx("30 80 00"), v5);
        REQUIRE_FALSE(h2);
        CHECK(h2.error() == codec_errc::varint_not_minimal);
        auto h3 = parse_fixed_header(hx("30 FF FF FF 00"), v5);
        REQUIRE_FALSE(h3);
        CHECK(h3.error() == codec_errc::varint_not_minimal);
        CHECK(decode_error<publish>(hx("30 80 00"), v5) == codec_errc::varint_not_minimal);
        // Subscription Identifier 1 in a two-byte form (81 00) is not minimal either
        CHECK(decode_error<publish>(hx("30 07 00 01 't' 03 0B 81 00"), v5) ==
              codec_errc::varint_not_minimal);
    }
}

// ------------------------------------------------------------------ PUBACK, PUBREC, PUBREL,
// PUBCOMP

TEST_CASE("vectors: PUBACK/PUBREC/PUBREL/PUBCOMP 3.1.1 and 3.1", "[vectors][ack]") {
    for (auto v : {v31, v311}) {
        INFO(to_string(v));
        puback a;
        a.packet_id = 7;
        CHECK(vector_both_ways(a, v, hx("40 02 00 07")).packet_id == 7u);
        pubrec b;
        b.packet_id = 0x0102;
        CHECK(vector_both_ways(b, v, hx("50 02 01 02")).packet_id == 0x0102u);
        pubrel c;
        c.packet_id = 0xFFFF;
        CHECK(vector_both_ways(c, v, hx("62 02 FF FF")).packet_id == 0xFFFFu);
        pubcomp e;
        e.packet_id = 1;
        CHECK(vector_both_ways(e, v, hx("70 02 00 01")).packet_id == 1u);
        // No reason code before 5.0
        CHECK(decode_error<puback>(hx("40 03 00 07 00"), v) == codec_errc::trailing_bytes);
        a.reason_code = reason::no_matching_subscribers;
        CHECK(encode_error(a, v) == codec_errc::requires_v5);
    }
    CHECK(decode_error<pubrel>(hx("60 02 00 01"), v311) == codec_errc::fixed_header_flags);
    CHECK(decode_error<puback>(hx("42 02 00 01"), v311) == codec_errc::fixed_header_flags);
    CHECK(decode_error<puback>(hx("40 02 00 00"), v311) == codec_errc::packet_id_zero);
    CHECK(decode_error<puback>(hx("40 01 00"), v311) == codec_errc::field_truncated);
}

TEST_CASE("vectors: PUBACK/PUBREC/PUBREL/PUBCOMP 5.0 short forms", "[vectors][ack]") {
    SECTION("RL 2: success, no properties") {
        puback a;
        a.packet_id = 7;
        auto d = vector_both_ways(a, v5, hx("40 02 00 07"));
        CHECK(d.reason_code == reason::success);
        CHECK(d.properties.empty());
        pubrel r;
        r.packet_id = 7;
        CHECK(vector_both_ways(r, v5, hx("62 02 00 07")).reason_code == reason::success);
    }
    SECTION("RL 3: reason code, no properties") {
        puback a;
        a.packet_id = 7;
        a.reason_code = reason::no_matching_subscribers;
        auto d = vector_both_ways(a, v5, hx("40 03 00 07 10"));
        CHECK(d.reason_code.value() == 0x10u);
        CHECK(d.properties.empty());
        pubrec b;
        b.packet_id = 1;
        b.reason_code = reason::unspecified_error;
        CHECK(vector_both_ways(b, v5, hx("50 03 00 01 80")).reason_code.value() == 0x80u);
        pubrel c;
        c.packet_id = 1;
        c.reason_code = reason::packet_identifier_not_found;
        CHECK(vector_both_ways(c, v5, hx("62 03 00 01 92")).reason_code.value() == 0x92u);
        pubcomp e;
        e.packet_id = 1;
        e.reason_code = reason::packet_identifier_not_found;
        CHECK(vector_both_ways(e, v5, hx("70 03 00 01 92")).reason_code.value() == 0x92u);
    }
    SECTION("RL 4 with an empty property block decodes to the short form") {
        auto d = decode_ok<puback>(hx("40 04 00 07 00 00"), v5);
        CHECK(d.packet_id == 7u);
        CHECK(d.reason_code == reason::success);
        CHECK(d.properties.empty());
        CHECK(hex(encode_bytes(d, v5)) == "40 02 00 07");
        auto c = decode_ok<pubcomp>(hx("70 04 00 01 92 00"), v5);
        CHECK(c.reason_code.value() == 0x92u);
        CHECK(hex(encode_bytes(c, v5)) == "70 03 00 01 92");
    }
    SECTION("RL 4+: reason code and properties") {
        puback a;
        a.packet_id = 7;
        a.reason_code = reason::unspecified_error;
        a.properties.set<property_id::reason_string>("bad"sv);
        auto d = vector_both_ways(a, v5, hx("40 0A 00 07 80 06 1F 00 03 'bad'"));
        CHECK(d.reason_code.value() == 0x80u);
        CHECK(d.properties.get<property_id::reason_string>() == "bad"sv);

        // Success with properties: the reason code must then be written.
        puback s;
        s.packet_id = 7;
        s.properties.set<property_id::reason_string>("bad"sv);
        CHECK(vector_both_ways(s, v5, hx("40 0A 00 07 00 06 1F 00 03 'bad'")).reason_code ==
              reason::success);

        const string_pair ups[] = {{"a", "b"}};
        pubrel r;
        r.packet_id = 1;
        r.properties.set<property_id::user_property>(ups);
        auto dr = vector_both_ways(r, v5, hx("62 0B 00 01 00 07 26 00 01 'a' 00 01 'b'"));
        auto users = collect(dr.properties.get<property_id::user_property>());
        REQUIRE(users.size() == 1u);
        CHECK(users[0] == string_pair{"a", "b"});
    }
    SECTION("errors") {
        CHECK(decode_error<puback>(hx("40 03 00 07 92"), v5) ==
              codec_errc::reason_code_not_allowed);
        CHECK(decode_error<pubrel>(hx("62 03 00 07 10"), v5) ==
              codec_errc::reason_code_not_allowed);
        CHECK(decode_error<puback>(hx("40 05 00 07 00 03 1F"), v5) == codec_errc::property_length);
        CHECK(decode_error<puback>(hx("40 06 00 07 00 00 00 00"), v5) ==
              codec_errc::trailing_bytes);
        CHECK(decode_error<puback>(hx("40 07 00 07 00 03 23 00 01"), v5) ==
              codec_errc::property_not_allowed);
    }
}

// ------------------------------------------------------------------ SUBSCRIBE / SUBACK

TEST_CASE("vectors: SUBSCRIBE 3.1.1 and 3.1", "[vectors][subscribe]") {
    const subscription subs[] = {
        {"a/b", qos::at_most_once}, {"c/+", qos::at_least_once}, {"#", qos::exactly_once}};
    subscribe s;
    s.packet_id = 10;
    s.subscriptions = subs;
    for (auto v : {v31, v311}) {
        INFO(to_string(v));
        auto d =
            vector_both_ways(s, v, hx("82 12 00 0A 00 03 'a/b' 00 00 03 'c/+' 01 00 01 '#' 02"));
        CHECK(d.packet_id == 10u);
        auto got = collect(d.subscriptions);
        REQUIRE(got.size() == 3u);
        CHECK(got[0].topic_filter == "a/b");
        CHECK(got[0].max_qos == qos::at_most_once);
        CHECK(got[1].topic_filter == "c/+");
        CHECK(got[1].max_qos == qos::at_least_once);
        CHECK(got[2].topic_filter == "#");
        CHECK(got[2].max_qos == qos::exactly_once);
        // MQTT 5 option bits are reserved before 5.0 [MQTT-3-8.3-4]
        CHECK(decode_error<subscribe>(hx("82 06 00 0A 00 01 'a' 04"), v) ==
              codec_errc::subscription_options_reserved);
    }
    CHECK(decode_error<subscribe>(hx("80 06 00 0A 00 01 'a' 00"), v311) ==
          codec_errc::fixed_header_flags);
    CHECK(decode_error<subscribe>(hx("82 02 00 0A"), v311) == codec_errc::no_topic_filters);
    CHECK(decode_error<subscribe>(hx("82 06 00 0A 00 01 'a' 03"), v311) ==
          codec_errc::subscription_qos_invalid);
    CHECK(decode_error<subscribe>(hx("82 07 00 0A 00 02 'a#' 00"), v311) ==
          codec_errc::topic_filter_multi_level_wildcard);
}

TEST_CASE("vectors: SUBSCRIBE 5.0 with every subscription option", "[vectors][subscribe]") {
    const string_pair ups[] = {{"k", "v"}};
    const subscription subs[] = {
        {"a/b", qos::at_most_once, false, false, retain_handling::send_on_subscribe},
        {"c/+", qos::at_least_once, true, false, retain_handling::send_on_subscribe},
        {"d/#", qos::exactly_once, false, true, retain_handling::send_if_new_subscription},
        {"$share/g/e", qos::at_least_once, false, false, retain_handling::do_not_send},
        {"f", qos::exactly_once, true, true, retain_handling::do_not_send},
    };
    subscribe s;
    s.packet_id = 10;
    s.subscriptions = subs;
    s.properties.set<property_id::subscription_identifier>(std::uint32_t{128})
        .set<property_id::user_property>(ups);
    // options: 00, 05 (QoS 1 | No Local), 1A (QoS 2 | RAP | RH 1), 21 (QoS 1 | RH 2), 2E (QoS 2 |
    // NL | RAP | RH 2) RL = 2 + 1 + 10 + 35 = 48
    const auto expected =
        hx("82 30 00 0A 0A 0B 80 01 26 00 01 'k' 00 01 'v'"
           " 00 03 'a/b' 00 00 03 'c/+' 05 00 03 'd/#' 1A 00 0A '$share/g/e' 21 00 01 'f' 2E");
    auto d = vector_both_ways(s, v5, expected);
    CHECK(d.properties.get<property_id::subscription_identifier>() == 128u);
    auto got = collect(d.subscriptions);
    REQUIRE(got.size() == 5u);
    for (std::size_t i = 0; i < 5; ++i) {
        INFO("subscription " << i);
        CHECK(got[i].topic_filter == subs[i].topic_filter);
        CHECK(got[i].max_qos == subs[i].max_qos);
        CHECK(got[i].no_local == subs[i].no_local);
        CHECK(got[i].retain_as_published == subs[i].retain_as_published);
        CHECK(got[i].retain_handling == subs[i].retain_handling);
    }
    // errors: retain handling 3, reserved bits 6-7, No Local on a shared subscription
    // [MQTT-3.8.3-4]
    CHECK(decode_error<subscribe>(hx("82 07 00 0A 00 00 01 'a' 30"), v5) ==
          codec_errc::retain_handling_invalid);
    CHECK(decode_error<subscribe>(hx("82 07 00 0A 00 00 01 'a' 40"), v5) ==
          codec_errc::subscription_options_reserved);
    CHECK(decode_error<subscribe>(hx("82 10 00 0A 00 00 0A '$share/g/a' 04"), v5) ==
          codec_errc::no_local_on_shared_subscription);
    CHECK(decode_error<subscribe>(hx("82 0E 00 0A 00 00 08 '$share/g' 00"), v5) ==
          codec_errc::shared_subscription_invalid);
    // Subscription Identifier may appear once in SUBSCRIBE
    CHECK(decode_error<subscribe>(hx("82 0B 00 0A 04 0B 01 0B 02 00 01 'a' 00"), v5) ==
          codec_errc::property_duplicate);
}

TEST_CASE("vectors: SUBACK", "[vectors][suback]") {
    SECTION("3.1.1 and 3.1") {
        const suback_reason_code codes[] = {reason::granted_qos_0, reason::granted_qos_1,
                                            reason::granted_qos_2, reason::unspecified_error};
        suback a;
        a.packet_id = 10;
        a.reason_codes = codes;
        // 3.1.1 §3.9.3: 0x00, 0x01, 0x02 and Failure 0x80 [MQTT-3.9.3-2]
        auto d = vector_both_ways(a, v311, hx("90 06 00 0A 00 01 02 80"));
        auto got = collect(d.reason_codes);
        REQUIRE(got.size() == 4u);
        CHECK(got[0].value() == 0x00u);
        CHECK(got[1].value() == 0x01u);
        CHECK(got[2].value() == 0x02u);
        CHECK(got[3].value() == 0x80u);
        // 3.1 grants QoS only: no Failure code
        a.reason_codes = std::span{codes}.first(3);
        auto d31 = vector_both_ways(a, v31, hx("90 05 00 0A 00 01 02"));
        CHECK(collect(d31.reason_codes).size() == 3u);
        CHECK(decode_error<suback>(hx("90 03 00 0A 80"), v31) ==
              codec_errc::reason_code_not_allowed);
        a.reason_codes = codes;
        CHECK(encode_error(a, v31) == codec_errc::reason_code_not_allowed);
        for (auto v : {v31, v311}) {
            INFO(to_string(v));
            // 5.0-only codes are refused before 5.0 [MQTT-3.9.3-2]
            CHECK(decode_error<suback>(hx("90 03 00 0A 87"), v) ==
                  codec_errc::reason_code_not_allowed);
        }
        const suback_reason_code v5_only[] = {reason::not_authorized};
        suback b;
        b.packet_id = 1;
        b.reason_codes = v5_only;
        CHECK(encode_error(b, v311) == codec_errc::reason_code_not_allowed);
        CHECK(decode_error<suback>(hx("90 02 00 0A"), v311) == codec_errc::no_reason_codes);
    }
    SECTION("5.0 with every SUBACK reason code and a Reason String") {
        const suback_reason_code codes[] = {
            reason::granted_qos_0,
            reason::granted_qos_1,
            reason::granted_qos_2,
            reason::unspecified_error,
            reason::implementation_specific_error,
            reason::not_authorized,
            reason::topic_filter_invalid,
            reason::packet_identifier_in_use,
            reason::quota_exceeded,
            reason::shared_subscriptions_not_supported,
            reason::subscription_identifiers_not_supported,
            reason::wildcard_subscriptions_not_supported,
        };
        suback a;
        a.packet_id = 10;
        a.reason_codes = codes;
        a.properties.set<property_id::reason_string>("no"sv);
        auto d = vector_both_ways(
            a, v5, hx("90 14 00 0A 05 1F 00 02 'no' 00 01 02 80 83 87 8F 91 97 9E A1 A2"));
        CHECK(d.properties.get<property_id::reason_string>() == "no"sv);
        auto got = collect(d.reason_codes);
        const std::uint8_t expected[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
                                         0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
        REQUIRE(got.size() == std::size(expected));
        for (std::size_t i = 0; i < got.size(); ++i)
            CHECK(got[i].value() == expected[i]);
        CHECK(decode_error<suback>(hx("90 04 00 0A 00 04"), v5) ==
              codec_errc::reason_code_not_allowed);
    }
    SECTION("5.0 without properties") {
        const suback_reason_code codes[] = {reason::granted_qos_1};
        suback a;
        a.packet_id = 0xABCD;
        a.reason_codes = codes;
        auto d = vector_both_ways(a, v5, hx("90 04 AB CD 00 01"));
        CHECK(d.packet_id == 0xABCDu);
    }
}

// ------------------------------------------------------------------ UNSUBSCRIBE / UNSUBACK

TEST_CASE("vectors: UNSUBSCRIBE", "[vectors][unsubscribe]") {
    const std::string_view filters[] = {"a/b", "#"};
    unsubscribe u;
    u.packet_id = 11;
    u.topic_filters = filters;
    for (auto v : {v31, v311}) {
        INFO(to_string(v));
        auto d = vector_both_ways(u, v, hx("A2 0A 00 0B 00 03 'a/b' 00 01 '#'"));
        CHECK(d.packet_id == 11u);
        auto got = collect(d.topic_filters);
        REQUIRE(got.size() == 2u);
        CHECK(got[0] == "a/b");
        CHECK(got[1] == "#");
    }
    const string_pair ups[] = {{"k", "v"}};
    u.properties.set<property_id::user_property>(ups);
    auto d =
        vector_both_ways(u, v5, hx("A2 12 00 0B 07 26 00 01 'k' 00 01 'v' 00 03 'a/b' 00 01 '#'"));
    auto got = collect(d.topic_filters);
    REQUIRE(got.size() == 2u);
    CHECK(got[1] == "#");
    auto users = collect(d.properties.get<property_id::user_property>());
    REQUIRE(users.size() == 1u);
    CHECK(users[0] == string_pair{"k", "v"});
    CHECK(decode_error<unsubscribe>(hx("A0 05 00 0B 00 01 'a'"), v311) ==
          codec_errc::fixed_header_flags);
    CHECK(decode_error<unsubscribe>(hx("A2 02 00 0B"), v311) == codec_errc::no_topic_filters);
    CHECK(decode_error<unsubscribe>(hx("A2 03 00 0B 00"), v5) == codec_errc::no_topic_filters);
    CHECK(decode_error<unsubscribe>(hx("A2 06 00 0B 00 02 '+a'"), v311) ==
          codec_errc::topic_filter_single_level_wildcard);
}

TEST_CASE("vectors: UNSUBACK", "[vectors][unsuback]") {
    SECTION("3.1.1 and 3.1: remaining length 2") {
        unsuback a;
        a.packet_id = 11;
        for (auto v : {v31, v311}) {
            auto d = vector_both_ways(a, v, hx("B0 02 00 0B"));
            CHECK(d.packet_id == 11u);
            CHECK(d.reason_codes.empty());
        }
        CHECK(decode_error<unsuback>(hx("B0 03 00 0B 00"), v311) == codec_errc::trailing_bytes);
    }
    SECTION("5.0 with every UNSUBACK reason code") {
        const unsuback_reason_code codes[] = {reason::success,
                                              reason::no_subscription_existed,
                                              reason::unspecified_error,
                                              reason::implementation_specific_error,
                                              reason::not_authorized,
                                              reason::topic_filter_invalid,
                                              reason::packet_identifier_in_use};
        unsuback a;
        a.packet_id = 11;
        a.reason_codes = codes;
        auto d = vector_both_ways(a, v5, hx("B0 0A 00 0B 00 00 11 80 83 87 8F 91"));
        auto got = collect(d.reason_codes);
        const std::uint8_t expected[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
        REQUIRE(got.size() == std::size(expected));
        for (std::size_t i = 0; i < got.size(); ++i)
            CHECK(got[i].value() == expected[i]);
        // an UNSUBACK in 3.1.1 has no reason codes
        CHECK(encode_error(a, v311) == codec_errc::requires_v5);
    }
    SECTION("5.0 with a Reason String") {
        const unsuback_reason_code codes[] = {reason::success};
        unsuback a;
        a.packet_id = 11;
        a.reason_codes = codes;
        a.properties.set<property_id::reason_string>("ok"sv);
        auto d = vector_both_ways(a, v5, hx("B0 09 00 0B 05 1F 00 02 'ok' 00"));
        CHECK(d.properties.get<property_id::reason_string>() == "ok"sv);
    }
    SECTION("5.0 errors") {
        CHECK(decode_error<unsuback>(hx("B0 03 00 0B 00"), v5) == codec_errc::no_reason_codes);
        CHECK(decode_error<unsuback>(hx("B0 04 00 0B 00 01"), v5) ==
              codec_errc::reason_code_not_allowed);
        unsuback a;
        a.packet_id = 1;
        CHECK(encode_error(a, v5) == codec_errc::no_reason_codes);
    }
}

// ------------------------------------------------------------------ PINGREQ / PINGRESP

TEST_CASE("vectors: PINGREQ and PINGRESP", "[vectors][ping]") {
    for (auto v : {v31, v311, v5}) {
        INFO(to_string(v));
        vector_both_ways(pingreq{}, v, hx("C0 00"));
        vector_both_ways(pingresp{}, v, hx("D0 00"));
        CHECK(decode_error<pingreq>(hx("C0 01 00"), v) == codec_errc::remaining_length_not_zero);
        CHECK(decode_error<pingresp>(hx("D1 00"), v) == codec_errc::fixed_header_flags);
    }
}

// ------------------------------------------------------------------ DISCONNECT

TEST_CASE("vectors: DISCONNECT", "[vectors][disconnect]") {
    SECTION("3.1.1 and 3.1") {
        for (auto v : {v31, v311}) {
            vector_both_ways(disconnect{}, v, hx("E0 00"));
            CHECK(decode_error<disconnect>(hx("E0 01 00"), v) ==
                  codec_errc::remaining_length_not_zero);
            CHECK(decode_error<disconnect>(hx("E2 00"), v) == codec_errc::fixed_header_flags);
        }
    }
    SECTION("5.0 RL 0: Normal disconnection") {
        auto d = vector_both_ways(disconnect{}, v5, hx("E0 00"));
        CHECK(d.reason_code == reason::normal_disconnection);
        CHECK(d.properties.empty());
    }
    SECTION("5.0 RL 1: reason code only") {
        disconnect a;
        a.reason_code = reason::disconnect_with_will_message;
        CHECK(vector_both_ways(a, v5, hx("E0 01 04")).reason_code.value() == 0x04u);
        disconnect b;
        b.reason_code = reason::session_taken_over;
        CHECK(vector_both_ways(b, v5, hx("E0 01 8E")).reason_code.value() == 0x8Eu);
        auto n = decode_ok<disconnect>(hx("E0 01 00"), v5);
        CHECK(n.reason_code == reason::normal_disconnection);
        CHECK(hex(encode_bytes(n, v5)) == "E0 00");
        auto n2 = decode_ok<disconnect>(hx("E0 02 00 00"), v5);
        CHECK(n2.properties.empty());
    }
    SECTION("5.0 with properties") {
        const string_pair ups[] = {{"k", "v"}};
        disconnect a;
        a.reason_code = reason::server_shutting_down;
        a.properties.set<property_id::session_expiry_interval>(std::uint32_t{0})
            .set<property_id::server_reference>("srv"sv)
            .set<property_id::reason_string>("bye"sv)
            .set<property_id::user_property>(ups);
        auto d = vector_both_ways(
            a, v5,
            hx("E0 1A 8B 18 11 00 00 00 00 1C 00 03 'srv' 1F 00 03 'bye' 26 00 01 'k' 00 01 'v'"));
        CHECK(d.reason_code.value() == 0x8Bu);
        CHECK(d.properties.get<property_id::session_expiry_interval>() == 0u);
        CHECK(d.properties.get<property_id::server_reference>() == "srv"sv);
        CHECK(d.properties.get<property_id::reason_string>() == "bye"sv);
        auto users = collect(d.properties.get<property_id::user_property>());
        REQUIRE(users.size() == 1u);
        CHECK(users[0] == string_pair{"k", "v"});

        disconnect n;
        n.properties.set<property_id::reason_string>("x"sv);
        CHECK(vector_both_ways(n, v5, hx("E0 06 00 04 1F 00 01 'x'")).reason_code ==
              reason::normal_disconnection);
        CHECK(encode_error(n, v311) == codec_errc::requires_v5);
    }
    SECTION("5.0 errors") {
        CHECK(decode_error<disconnect>(hx("E0 01 10"), v5) == codec_errc::reason_code_not_allowed);
        CHECK(decode_error<disconnect>(hx("E0 03 00 01 01"), v5) ==
              codec_errc::property_not_allowed);
    }
}

// ------------------------------------------------------------------ AUTH

TEST_CASE("vectors: AUTH", "[vectors][auth]") {
    SECTION("RL 0: Success") {
        auto d = vector_both_ways(auth{}, v5, hx("F0 00"));
        CHECK(d.reason_code == reason::success);
        CHECK(d.properties.empty());
    }
    SECTION("RL 1: Re-authenticate") {
        auth a;
        a.reason_code = reason::re_authenticate;
        CHECK(vector_both_ways(a, v5, hx("F0 01 19")).reason_code.value() == 0x19u);
    }
    SECTION("with properties") {
        const std::byte data[] = {std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
        auth a;
        a.reason_code = reason::continue_authentication;
        a.properties.set<property_id::authentication_method>("SCRAM"sv)
            .set<property_id::authentication_data>(bytes_view{data})
            .set<property_id::reason_string>("hi"sv);
        auto d = vector_both_ways(
            a, v5, hx("F0 16 18 14 15 00 05 'SCRAM' 16 00 04 01 02 03 04 1F 00 02 'hi'"));
        CHECK(d.reason_code.value() == 0x18u);
        CHECK(d.properties.get<property_id::authentication_method>() == "SCRAM"sv);
        REQUIRE(d.properties.get<property_id::authentication_data>());
        CHECK(hex(*d.properties.get<property_id::authentication_data>()) == "01 02 03 04");
        CHECK(d.properties.get<property_id::reason_string>() == "hi"sv);
    }
    SECTION("packet type 15 is reserved before 5.0") {
        CHECK(encode_error(auth{}, v311) == codec_errc::reserved_packet_type);
        CHECK(encode_error(auth{}, v31) == codec_errc::reserved_packet_type);
        CHECK(decode_error<auth>(hx("F0 00"), v311) == codec_errc::reserved_packet_type);
        auto r = decode_packet(hx("F0 00"), v311);
        REQUIRE_FALSE(r);
        CHECK(r.error() == codec_errc::reserved_packet_type);
    }
    SECTION("errors") {
        CHECK(decode_error<auth>(hx("F0 01 00"), v5).value() == 0); // Success in RL 1 is valid
        CHECK(decode_error<auth>(hx("F0 01 87"), v5) == codec_errc::reason_code_not_allowed);
        CHECK(decode_error<auth>(hx("F1 00"), v5) == codec_errc::fixed_header_flags);
    }
}

// ------------------------------------------------------------------ framing

TEST_CASE("vectors: framing errors and decode_packet over a stream", "[vectors]") {
    CHECK(decode_packet(hx("00 00"), v5).error() == codec_errc::reserved_packet_type);
    CHECK(decode_packet(hx(""), v5).error() == codec_errc::incomplete_packet);
    CHECK(decode_packet(hx("30"), v5).error() == codec_errc::incomplete_packet);
    CHECK(decode_packet(hx("30 05 00 03 'a/'"), v5).error() == codec_errc::incomplete_packet);
    CHECK(decode<pingreq>(hx("C0 00 C0"), v5).error() == codec_errc::trailing_bytes);
    CHECK(decode<puback>(hx("C0 00"), v5).error() == codec_errc::packet_type_mismatch);

    // decode_packet takes the first of several packets and says how long it was.
    const auto stream = hx("40 02 00 07 C0 00 E0 00");
    auto first = decode_packet(stream, v311);
    REQUIRE(first);
    CHECK(first->size == 4u);
    REQUIRE(std::holds_alternative<puback>(first->packet));
    CHECK(std::get<puback>(first->packet).packet_id == 7u);
    auto second = decode_packet(bytes_view{stream}.subspan(4), v311);
    REQUIRE(second);
    CHECK(second->size == 2u);
    CHECK(std::holds_alternative<pingreq>(second->packet));

    // CONNECT protocol name and level
    CHECK(decode_error<connect>(hx("10 0D 00 04 'MQTX' 04 02 00 3C 00 01 'a'"), v311) ==
          codec_errc::protocol_name);
    CHECK(decode_error<connect>(hx("10 0D 00 04 'MQTT' 06 02 00 3C 00 01 'a'"), v311) ==
          codec_errc::protocol_level);
    CHECK(decode_error<connect>(hx("10 0D 00 04 'MQTT' 03 02 00 3C 00 01 'a'"), v311) ==
          codec_errc::protocol_level);
    CHECK(decode_error<connect>(hx("10 0F 00 06 'MQIsdp' 04 02 00 3C 00 01 'a'"), v311) ==
          codec_errc::protocol_level);
    CHECK(decode_error<connect>(hx("10 0D 00 04 'MQTT' 04 03 00 3C 00 01 'a'"), v311) ==
          codec_errc::connect_reserved_flag);
    CHECK(decode_error<connect>(hx("10 0D 00 04 'MQTT' 04 0A 00 3C 00 01 'a'"), v311) ==
          codec_errc::will_flags_without_will);
    CHECK(decode_error<connect>(hx("10 0D 00 04 'MQTT' 04 22 00 3C 00 01 'a'"), v311) ==
          codec_errc::will_flags_without_will);
    CHECK(decode_error<connect>(hx("10 12 00 04 'MQTT' 04 1E 00 3C 00 01 'a' 00 01 't' 00 00"),
                                v311) == codec_errc::will_qos_invalid);
    CHECK(decode_error<connect>(hx("10 0C 00 04 'MQTT' 04 00 00 3C 00 00"), v311) ==
          codec_errc::empty_client_id_without_clean_session);
    CHECK(decode_error<connect>(hx("10 0E 00 06 'MQIsdp' 03 02 00 3C 00 00"), v31) ==
          codec_errc::client_identifier_length);
    CHECK(decode_error<connect>(hx("10 12 00 04 'MQTT' 04 06 00 3C 00 01 'a' 00 01 '#' 00 00"),
                                v311) == codec_errc::topic_name_wildcard);
}
