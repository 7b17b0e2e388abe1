// The tables the codec is generated from, checked against the specifications:
// the property table (MQTT 5 §2.2.2.2, Table 2-4), the reason code table
// (MQTT 5 §2.4, Table 2-6, and the per-packet tables of §3.2.2.2 - §3.15.2.1),
// the 3.1.1 CONNACK return codes (3.1.1 §3.2.2.3, Table 3.1), which scopes
// allow which property (compile time and run time), and the error messages.
// The expected values are written out here from the specification text.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include <ctmqtt/ctmqtt.hpp>

using namespace ctmqtt;
using namespace std::string_view_literals;
using Catch::Matchers::Contains;

namespace {

using ps = property_scope;
using pw = property_wire;

constexpr ps all_scopes[] = {ps::will,       ps::connect, ps::connack,     ps::publish,
                             ps::puback,     ps::pubrec,  ps::pubrel,      ps::pubcomp,
                             ps::subscribe,  ps::suback,  ps::unsubscribe, ps::unsuback,
                             ps::disconnect, ps::auth};

struct property_spec {
    std::uint8_t id;
    std::string_view name;
    property_wire wire;
    std::initializer_list<property_scope> scopes;
};

// MQTT 5 §2.2.2.2, Table 2-4: identifier, name, type, packet / will properties.
const property_spec spec_properties[] = {
    {0x01, "Payload Format Indicator", pw::byte, {ps::publish, ps::will}},
    {0x02, "Message Expiry Interval", pw::four_byte, {ps::publish, ps::will}},
    {0x03, "Content Type", pw::utf8, {ps::publish, ps::will}},
    {0x08, "Response Topic", pw::utf8, {ps::publish, ps::will}},
    {0x09, "Correlation Data", pw::binary, {ps::publish, ps::will}},
    {0x0B, "Subscription Identifier", pw::varint, {ps::publish, ps::subscribe}},
    {0x11, "Session Expiry Interval", pw::four_byte, {ps::connect, ps::connack, ps::disconnect}},
    {0x12, "Assigned Client Identifier", pw::utf8, {ps::connack}},
    {0x13, "Server Keep Alive", pw::two_byte, {ps::connack}},
    {0x15, "Authentication Method", pw::utf8, {ps::connect, ps::connack, ps::auth}},
    {0x16, "Authentication Data", pw::binary, {ps::connect, ps::connack, ps::auth}},
    {0x17, "Request Problem Information", pw::byte, {ps::connect}},
    {0x18, "Will Delay Interval", pw::four_byte, {ps::will}},
    {0x19, "Request Response Information", pw::byte, {ps::connect}},
    {0x1A, "Response Information", pw::utf8, {ps::connack}},
    {0x1C, "Server Reference", pw::utf8, {ps::connack, ps::disconnect}},
    {0x1F,
     "Reason String",
     pw::utf8,
     {ps::connack, ps::puback, ps::pubrec, ps::pubrel, ps::pubcomp, ps::suback, ps::unsuback,
      ps::disconnect, ps::auth}},
    {0x21, "Receive Maximum", pw::two_byte, {ps::connect, ps::connack}},
    {0x22, "Topic Alias Maximum", pw::two_byte, {ps::connect, ps::connack}},
    {0x23, "Topic Alias", pw::two_byte, {ps::publish}},
    {0x24, "Maximum QoS", pw::byte, {ps::connack}},
    {0x25, "Retain Available", pw::byte, {ps::connack}},
    {0x26,
     "User Property",
     pw::string_pair,
     {ps::connect, ps::connack, ps::publish, ps::will, ps::puback, ps::pubrec, ps::pubrel,
      ps::pubcomp, ps::subscribe, ps::suback, ps::unsubscribe, ps::unsuback, ps::disconnect,
      ps::auth}},
    {0x27, "Maximum Packet Size", pw::four_byte, {ps::connect, ps::connack}},
    {0x28, "Wildcard Subscription Available", pw::byte, {ps::connack}},
    {0x29, "Subscription Identifier Available", pw::byte, {ps::connack}},
    {0x2A, "Shared Subscription Available", pw::byte, {ps::connack}},
};

bool spec_allows(property_scope scope, std::uint8_t id) {
    for (const auto& p : spec_properties)
        if (p.id == id)
            for (auto s : p.scopes)
                if (s == scope)
                    return true;
    return false;
}

// The 27 identifiers, for compile-time iteration.
constexpr property_id all_ids[] = {
    property_id::payload_format_indicator,
    property_id::message_expiry_interval,
    property_id::content_type,
    property_id::response_topic,
    property_id::correlation_data,
    property_id::subscription_identifier,
    property_id::session_expiry_interval,
    property_id::assigned_client_identifier,
    property_id::server_keep_alive,
    property_id::authentication_method,
    property_id::authentication_data,
    property_id::request_problem_information,
    property_id::will_delay_interval,
    property_id::request_response_information,
    property_id::response_information,
    property_id::server_reference,
    property_id::reason_string,
    property_id::receive_maximum,
    property_id::topic_alias_maximum,
    property_id::topic_alias,
    property_id::maximum_qos,
    property_id::retain_available,
    property_id::user_property,
    property_id::maximum_packet_size,
    property_id::wildcard_subscription_available,
    property_id::subscription_identifier_available,
    property_id::shared_subscription_available,
};
static_assert(std::size(all_ids) == 27);

// property_set<S>::allows<Id> for every Id, as a run-time row.
template <property_scope S, std::size_t... I>
std::array<bool, 27> allows_row(std::index_sequence<I...>) {
    return {property_set<S>::template allows<all_ids[I]>...};
}
template <property_scope S>
std::array<bool, 27> allows_row() {
    return allows_row<S>(std::make_index_sequence<27>{});
}

std::array<bool, 27> allows_row(property_scope s) {
    switch (s) {
    case ps::will: return allows_row<ps::will>();
    case ps::connect: return allows_row<ps::connect>();
    case ps::connack: return allows_row<ps::connack>();
    case ps::publish: return allows_row<ps::publish>();
    case ps::puback: return allows_row<ps::puback>();
    case ps::pubrec: return allows_row<ps::pubrec>();
    case ps::pubrel: return allows_row<ps::pubrel>();
    case ps::pubcomp: return allows_row<ps::pubcomp>();
    case ps::subscribe: return allows_row<ps::subscribe>();
    case ps::suback: return allows_row<ps::suback>();
    case ps::unsubscribe: return allows_row<ps::unsubscribe>();
    case ps::unsuback: return allows_row<ps::unsuback>();
    case ps::disconnect: return allows_row<ps::disconnect>();
    case ps::auth: return allows_row<ps::auth>();
    }
    return {};
}

using bytes = std::vector<std::byte>;

void put(bytes& b, std::initializer_list<unsigned> values) {
    for (auto v : values)
        b.push_back(static_cast<std::byte>(v));
}
void put(bytes& b, std::string_view s) {
    for (char c : s)
        b.push_back(static_cast<std::byte>(c));
}
void put_varint(bytes& b, std::size_t v) {
    // test-side encoding of a variable byte integer (MQTT 5 §1.5.5 algorithm)
    do {
        auto digit = static_cast<unsigned>(v % 128);
        v /= 128;
        if (v > 0)
            digit |= 0x80;
        b.push_back(static_cast<std::byte>(digit));
    } while (v > 0);
}

// One valid value of each wire type (1 satisfies "non-zero" and "0 or 1").
bytes sample_value(property_wire w) {
    bytes b;
    switch (w) {
    case pw::byte: put(b, {0x01}); break;
    case pw::two_byte: put(b, {0x00, 0x01}); break;
    case pw::four_byte: put(b, {0x00, 0x00, 0x00, 0x01}); break;
    case pw::varint: put(b, {0x01}); break;
    case pw::utf8: put(b, {0x00, 0x01, 'x'}); break;
    case pw::binary: put(b, {0x00, 0x01, 'x'}); break;
    case pw::string_pair: put(b, {0x00, 0x01, 'k', 0x00, 0x01, 'v'}); break;
    }
    return b;
}

// A minimal 5.0 packet of the scope's type carrying `props` (a property block
// without its length) where the scope's properties go.
bytes packet_with_properties(property_scope scope, const bytes& props) {
    bytes block;
    put_varint(block, props.size());
    block.insert(block.end(), props.begin(), props.end());
    bytes body;
    unsigned first = static_cast<unsigned>(scope) << 4;
    switch (scope) {
    case ps::will:
        first = 0x10;
        put(body, {0x00, 0x04});
        put(body, "MQTT");
        put(body, {0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x01,
                   'a'}); // will flag, clean start; no properties
        body.insert(body.end(), block.begin(), block.end());
        put(body, {0x00, 0x01, 't', 0x00, 0x00});
        break;
    case ps::connect:
        put(body, {0x00, 0x04});
        put(body, "MQTT");
        put(body, {0x05, 0x02, 0x00, 0x00});
        body.insert(body.end(), block.begin(), block.end());
        put(body, {0x00, 0x01, 'a'});
        break;
    case ps::connack:
        put(body, {0x00, 0x00});
        body.insert(body.end(), block.begin(), block.end());
        break;
    case ps::publish:
        put(body, {0x00, 0x01, 't'});
        body.insert(body.end(), block.begin(), block.end());
        break;
    case ps::puback:
    case ps::pubrec:
    case ps::pubrel:
    case ps::pubcomp:
        if (scope == ps::pubrel)
            first |= 0x02;
        put(body, {0x00, 0x01, 0x00});
        body.insert(body.end(), block.begin(), block.end());
        break;
    case ps::subscribe:
        first |= 0x02;
        put(body, {0x00, 0x01});
        body.insert(body.end(), block.begin(), block.end());
        put(body, {0x00, 0x01, 'a', 0x00});
        break;
    case ps::suback:
    case ps::unsuback:
        put(body, {0x00, 0x01});
        body.insert(body.end(), block.begin(), block.end());
        put(body, {0x00});
        break;
    case ps::unsubscribe:
        first |= 0x02;
        put(body, {0x00, 0x01});
        body.insert(body.end(), block.begin(), block.end());
        put(body, {0x00, 0x01, 'a'});
        break;
    case ps::disconnect:
    case ps::auth:
        put(body, {0x00});
        body.insert(body.end(), block.begin(), block.end());
        break;
    }
    bytes frame;
    put(frame, {first});
    put_varint(frame, body.size());
    frame.insert(frame.end(), body.begin(), body.end());
    return frame;
}

// The identifiers present in the decoded packet's properties for the scope.
std::vector<property_id> present_properties(property_scope scope, const any_packet& packet) {
    std::vector<property_id> ids;
    auto add = [&](property_id id, const auto&) { ids.push_back(id); };
    std::visit(
        [&](const auto& p) {
            using P = std::remove_cvref_t<decltype(p)>;
            if constexpr (std::is_same_v<P, connect>) {
                if (scope == ps::will) {
                    if (p.will)
                        p.will->properties.for_each(add);
                } else {
                    p.properties.for_each(add);
                }
            } else if constexpr (requires { p.properties; }) {
                p.properties.for_each(add);
            }
        },
        packet);
    return ids;
}

struct reason_spec {
    std::uint8_t value;
    std::string_view name;
};

// MQTT 5 Table 2-6 names. 0x00 has three names, handled per packet.
const reason_spec spec_reason_names[] = {
    {0x01, "Granted QoS 1"},
    {0x02, "Granted QoS 2"},
    {0x04, "Disconnect with Will Message"},
    {0x10, "No matching subscribers"},
    {0x11, "No subscription existed"},
    {0x18, "Continue authentication"},
    {0x19, "Re-authenticate"},
    {0x80, "Unspecified error"},
    {0x81, "Malformed Packet"},
    {0x82, "Protocol Error"},
    {0x83, "Implementation specific error"},
    {0x84, "Unsupported Protocol Version"},
    {0x85, "Client Identifier not valid"},
    {0x86, "Bad User Name or Password"},
    {0x87, "Not authorized"},
    {0x88, "Server unavailable"},
    {0x89, "Server busy"},
    {0x8A, "Banned"},
    {0x8B, "Server shutting down"},
    {0x8C, "Bad authentication method"},
    {0x8D, "Keep Alive timeout"},
    {0x8E, "Session taken over"},
    {0x8F, "Topic Filter invalid"},
    {0x90, "Topic Name invalid"},
    {0x91, "Packet Identifier in use"},
    {0x92, "Packet Identifier not found"},
    {0x93, "Receive Maximum exceeded"},
    {0x94, "Topic Alias invalid"},
    {0x95, "Packet too large"},
    {0x96, "Message rate too high"},
    {0x97, "Quota exceeded"},
    {0x98, "Administrative action"},
    {0x99, "Payload format invalid"},
    {0x9A, "Retain not supported"},
    {0x9B, "QoS not supported"},
    {0x9C, "Use another server"},
    {0x9D, "Server moved"},
    {0x9E, "Shared Subscriptions not supported"},
    {0x9F, "Connection rate exceeded"},
    {0xA0, "Maximum connect time"},
    {0xA1, "Subscription Identifiers not supported"},
    {0xA2, "Wildcard Subscriptions not supported"},
};

std::string_view spec_reason_name(packet_type packet, std::uint8_t value) {
    if (value == 0x00) {
        if (packet == packet_type::disconnect)
            return "Normal disconnection";
        if (packet == packet_type::suback)
            return "Granted QoS 0";
        return "Success";
    }
    for (const auto& r : spec_reason_names)
        if (r.value == value)
            return r.name;
    return "?";
}

struct packet_reasons {
    packet_type packet;
    std::vector<std::uint8_t> allowed;
};

// The reason codes each packet may carry: MQTT 5 §3.2.2.2 (CONNACK), §3.4.2.1
// (PUBACK), §3.5.2.1 (PUBREC), §3.6.2.1 (PUBREL), §3.7.2.1 (PUBCOMP), §3.9.3
// (SUBACK), §3.11.3 (UNSUBACK), §3.14.2.1 (DISCONNECT), §3.15.2.1 (AUTH).
// DISCONNECT also lists 0x8C Bad authentication method, which Table 2-6 gives
// to DISCONNECT although the §3.14.2.1 table does not list it; the library
// follows Table 2-6.
const packet_reasons spec_packet_reasons[] = {
    {packet_type::connack, {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                            0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F}},
    {packet_type::puback, {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}},
    {packet_type::pubrec, {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}},
    {packet_type::pubrel, {0x00, 0x92}},
    {packet_type::pubcomp, {0x00, 0x92}},
    {packet_type::suback, {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2}},
    {packet_type::unsuback, {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91}},
    {packet_type::disconnect,
     {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F, 0x90, 0x93,
      0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2}},
    {packet_type::auth, {0x00, 0x18, 0x19}},
};

bool spec_reason_allowed(packet_type packet, std::uint8_t value) {
    for (const auto& p : spec_packet_reasons)
        if (p.packet == packet)
            for (auto v : p.allowed)
                if (v == value)
                    return true;
    return false;
}

template <packet_type P>
std::set<unsigned> from_value_accepts() {
    std::set<unsigned> out;
    for (unsigned v = 0; v < 256; ++v) {
        auto c = basic_reason_code<P>::from_value(static_cast<std::uint8_t>(v));
        if (c) {
            out.insert(v);
            CHECK(c->value() == v);
            CHECK(c->is_error() == (v >= 0x80));
            CHECK(c->name() == spec_reason_name(P, static_cast<std::uint8_t>(v)));
        }
    }
    return out;
}

std::set<unsigned> spec_set(packet_type packet) {
    std::set<unsigned> out;
    for (const auto& p : spec_packet_reasons)
        if (p.packet == packet)
            out.insert(p.allowed.begin(), p.allowed.end());
    return out;
}

template <class P>
std::error_code decode_error(const bytes& b, protocol_version v) {
    auto r = decode<P>(b, v);
    return r ? std::error_code{} : r.error();
}

bytes hexbytes(std::initializer_list<unsigned> values) {
    bytes b;
    put(b, values);
    return b;
}

} // namespace

// ------------------------------------------------------------------ property table

TEST_CASE("property table: 27 entries as MQTT 5 Table 2-4 lists them", "[tables][properties]") {
    REQUIRE(property_table.size() == 27u);
    REQUIRE(std::size(spec_properties) == 27u);
    std::set<unsigned> ids;
    std::set<std::string_view> names;
    for (const auto& row : property_table) {
        ids.insert(static_cast<unsigned>(row.id));
        names.insert(row.name);
    }
    CHECK(ids.size() == 27u);   // identifiers unique
    CHECK(names.size() == 27u); // names unique
    for (const auto& spec : spec_properties) {
        INFO("property " << spec.name);
        const auto* row = find_property(spec.id);
        REQUIRE(row != nullptr);
        CHECK(static_cast<unsigned>(row->id) == spec.id);
        CHECK(row->name == spec.name);
        CHECK(row->wire == spec.wire);
        CHECK(to_string(static_cast<property_id>(spec.id)) == spec.name);
        CHECK(&info(static_cast<property_id>(spec.id)) == row);
        for (auto scope : all_scopes) {
            INFO("scope " << to_string(scope));
            CHECK(property_allowed(scope, row->id) == spec_allows(scope, spec.id));
            // Only User Property repeats (everywhere it is allowed), and
            // Subscription Identifier in PUBLISH (MQTT 5 §3.3.2.3.8) but not in SUBSCRIBE.
            const bool repeats = (spec.id == 0x26 && spec_allows(scope, spec.id)) ||
                                 (spec.id == 0x0B && scope == ps::publish);
            CHECK(property_repeats(scope, row->id) == repeats);
        }
    }
    // Every other identifier is not a property.
    std::size_t defined = 0;
    for (unsigned id = 0; id < 256; ++id) {
        const bool in_spec = std::any_of(std::begin(spec_properties), std::end(spec_properties),
                                         [&](const property_spec& p) { return p.id == id; });
        if ((find_property(id) != nullptr) != in_spec)
            FAIL_CHECK("find_property disagrees for identifier " << id);
        defined += find_property(id) != nullptr;
    }
    CHECK(defined == 27u);
    CHECK(find_property(0x100) == nullptr);
    CHECK(find_property(0x126) == nullptr);
    CHECK(to_string(static_cast<property_id>(0x05)) == "unknown property");
}

TEST_CASE("property table: value ranges", "[tables][properties]") {
    // 0 or 1: MQTT 5 §3.1.2.11.6-7, §3.2.2.3.4-5, .11-13, §3.3.2.3.2; non-zero: §3.1.2.11.3-4,
    // §3.3.2.3.4 (Topic Alias), §3.8.2.1.2 (Subscription Identifier).
    const std::set<unsigned> zero_or_one = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A};
    const std::set<unsigned> non_zero = {0x0B, 0x21, 0x23, 0x27};
    for (const auto& row : property_table) {
        INFO(row.name);
        const auto id = static_cast<unsigned>(row.id);
        const auto expected = zero_or_one.count(id) ? property_range::zero_or_one
                              : non_zero.count(id)  ? property_range::non_zero
                              : id == 0x08          ? property_range::topic_name // [MQTT-3.3.2-14]
                                                    : property_range::any;
        CHECK(row.range == expected);
    }
    // The decoder enforces them: value 2 for a "0 or 1" byte, 0 for a non-zero one,
    // a wildcard in Response Topic.
    const auto pfi2 = packet_with_properties(ps::publish, hexbytes({0x01, 0x02}));
    CHECK(decode_error<publish>(pfi2, protocol_version::v5) == codec_errc::property_value);
    const auto rm0 = packet_with_properties(ps::connack, hexbytes({0x21, 0x00, 0x00}));
    CHECK(decode_error<connack>(rm0, protocol_version::v5) == codec_errc::property_value);
    const auto mps0 = packet_with_properties(ps::connect, hexbytes({0x27, 0x00, 0x00, 0x00, 0x00}));
    CHECK(decode_error<connect>(mps0, protocol_version::v5) == codec_errc::property_value);
    const auto rt = packet_with_properties(ps::will, hexbytes({0x08, 0x00, 0x03, 'a', '/', '#'}));
    const auto rt_error = decode_error<connect>(rt, protocol_version::v5);
    CHECK(rt_error == codec_errc::property_value);
    CHECK_THAT(rt_error.message(), Contains("Response Topic") && Contains("[MQTT-3.3.2-14]"));
    const auto tam0 = packet_with_properties(ps::connack, hexbytes({0x22, 0x00, 0x00}));
    CHECK_FALSE(decode_error<connack>(tam0, protocol_version::v5)); // Topic Alias Maximum 0 is fine
    const auto ska0 = packet_with_properties(ps::connack, hexbytes({0x13, 0x00, 0x00}));
    CHECK_FALSE(decode_error<connack>(ska0, protocol_version::v5));
}

TEST_CASE("property value types follow the wire types", "[tables][properties]") {
    static_assert(
        std::is_same_v<property_value_t<property_id::payload_format_indicator>, std::uint8_t>);
    static_assert(std::is_same_v<property_value_t<property_id::server_keep_alive>, std::uint16_t>);
    static_assert(
        std::is_same_v<property_value_t<property_id::session_expiry_interval>, std::uint32_t>);
    static_assert(
        std::is_same_v<property_value_t<property_id::subscription_identifier>, std::uint32_t>);
    static_assert(std::is_same_v<property_value_t<property_id::content_type>, std::string_view>);
    static_assert(std::is_same_v<property_value_t<property_id::correlation_data>, bytes_view>);
    static_assert(std::is_same_v<property_value_t<property_id::user_property>, string_pair>);
    // Slots: a std::optional, or a repeated_property where the property may repeat.
    static_assert(std::is_same_v<
                  std::remove_cvref_t<decltype(std::declval<publish_properties&>()
                                                   .get<property_id::subscription_identifier>())>,
                  repeated_property<property_id::subscription_identifier>>);
    static_assert(std::is_same_v<
                  std::remove_cvref_t<decltype(std::declval<subscribe_properties&>()
                                                   .get<property_id::subscription_identifier>())>,
                  std::optional<std::uint32_t>>);
    static_assert(
        std::is_same_v<std::remove_cvref_t<decltype(std::declval<auth_properties&>()
                                                        .get<property_id::user_property>())>,
                       repeated_property<property_id::user_property>>);
    static_assert(
        std::is_same_v<std::remove_cvref_t<decltype(std::declval<connack_properties&>()
                                                        .get<property_id::maximum_qos>())>,
                       std::optional<std::uint8_t>>);
    SUCCEED();
}

TEST_CASE("property_set<scope>::allows matches Table 2-4 for every scope and identifier",
          "[tables][properties]") {
    for (auto scope : all_scopes) {
        const auto row = allows_row(scope);
        for (std::size_t i = 0; i < 27; ++i) {
            INFO(to_string(scope) << ": " << to_string(all_ids[i]));
            CHECK(row[i] == spec_allows(scope, static_cast<std::uint8_t>(all_ids[i])));
        }
    }
    // A few spelled out at compile time
    static_assert(!connect_properties::allows<property_id::topic_alias>);
    static_assert(publish_properties::allows<property_id::topic_alias>);
    static_assert(will_properties::allows<property_id::will_delay_interval>);
    static_assert(!connect_properties::allows<property_id::will_delay_interval>);
    static_assert(!will_properties::allows<property_id::session_expiry_interval>);
    static_assert(!puback_properties::allows<property_id::session_expiry_interval>);
    static_assert(disconnect_properties::allows<property_id::session_expiry_interval>);
    static_assert(!disconnect_properties::allows<property_id::authentication_method>);
    static_assert(subscribe_properties::allows<property_id::subscription_identifier>);
    static_assert(!unsubscribe_properties::allows<property_id::subscription_identifier>);
    static_assert(!unsubscribe_properties::allows<property_id::reason_string>);
    static_assert(auth_properties::allows<property_id::reason_string>);
    static_assert(connect_properties::scope == property_scope::connect);
}

TEST_CASE("the decoder allows and refuses each property per scope as Table 2-4 says",
          "[tables][properties]") {
    std::size_t checked = 0;
    for (auto scope : all_scopes) {
        for (const auto& spec : spec_properties) {
            INFO(to_string(scope) << ": " << spec.name);
            bytes props;
            put(props, {spec.id});
            const auto value = sample_value(spec.wire);
            props.insert(props.end(), value.begin(), value.end());
            const auto frame = packet_with_properties(scope, props);
            auto d = decode_packet(frame, protocol_version::v5);
            ++checked;
            if (spec_allows(scope, spec.id)) {
                if (!d)
                    FAIL_CHECK("refused: " << d.error().message());
                else
                    CHECK(present_properties(scope, d->packet) ==
                          std::vector<property_id>{static_cast<property_id>(spec.id)});
            } else {
                REQUIRE_FALSE(d);
                CHECK(d.error() == codec_errc::property_not_allowed);
                CHECK_THAT(d.error().message(), Contains(std::string{spec.name}));
            }
            // Twice: only User Property (and Subscription Identifier in PUBLISH) may repeat.
            if (spec_allows(scope, spec.id)) {
                bytes twice = props;
                twice.insert(twice.end(), props.begin(), props.end());
                const auto frame2 =
                    packet_with_properties(scope, twice); // the decoded views point into it
                auto d2 = decode_packet(frame2, protocol_version::v5);
                const bool may_repeat =
                    spec.id == 0x26 || (spec.id == 0x0B && scope == ps::publish);
                if (may_repeat) {
                    if (!d2)
                        FAIL_CHECK("repeat refused: " << d2.error().message());
                    else
                        CHECK(present_properties(scope, d2->packet).size() == 2u);
                } else {
                    REQUIRE_FALSE(d2);
                    CHECK(d2.error() == codec_errc::property_duplicate);
                }
            }
        }
        // An empty property block is fine everywhere
        auto empty = decode_packet(packet_with_properties(scope, {}), protocol_version::v5);
        if (!empty)
            FAIL_CHECK(to_string(scope)
                       << " without properties refused: " << empty.error().message());
    }
    CHECK(checked == 14u * 27u);
}

// ------------------------------------------------------------------ reason codes

TEST_CASE("reason codes: from_value accepts exactly the codes each packet may carry",
          "[tables][reasons]") {
    CHECK(from_value_accepts<packet_type::connack>() == spec_set(packet_type::connack));
    CHECK(from_value_accepts<packet_type::puback>() == spec_set(packet_type::puback));
    CHECK(from_value_accepts<packet_type::pubrec>() == spec_set(packet_type::pubrec));
    CHECK(from_value_accepts<packet_type::pubrel>() == spec_set(packet_type::pubrel));
    CHECK(from_value_accepts<packet_type::pubcomp>() == spec_set(packet_type::pubcomp));
    CHECK(from_value_accepts<packet_type::suback>() == spec_set(packet_type::suback));
    CHECK(from_value_accepts<packet_type::unsuback>() == spec_set(packet_type::unsuback));
    CHECK(from_value_accepts<packet_type::disconnect>() == spec_set(packet_type::disconnect));
    CHECK(from_value_accepts<packet_type::auth>() == spec_set(packet_type::auth));
    // from_reason agrees
    CHECK(puback_reason_code::from_reason(reason::no_matching_subscribers).has_value());
    CHECK_FALSE(puback_reason_code::from_reason(reason::banned).has_value());
    CHECK_FALSE(pubrel_reason_code::from_reason(reason::unspecified_error).has_value());
    CHECK(disconnect_reason_code::from_reason(reason::disconnect_with_will_message).has_value());
    CHECK_FALSE(connack_reason_code::from_reason(reason::disconnect_with_will_message).has_value());
}

TEST_CASE("reason codes: to_string for every value and packet", "[tables][reasons]") {
    const packet_type all_types[] = {
        packet_type::connect,     packet_type::connack,    packet_type::publish,
        packet_type::puback,      packet_type::pubrec,     packet_type::pubrel,
        packet_type::pubcomp,     packet_type::subscribe,  packet_type::suback,
        packet_type::unsubscribe, packet_type::unsuback,   packet_type::pingreq,
        packet_type::pingresp,    packet_type::disconnect, packet_type::auth};
    std::size_t named = 0;
    for (auto packet : all_types) {
        for (unsigned v = 0; v < 256; ++v) {
            const auto value = static_cast<std::uint8_t>(v);
            const bool allowed = spec_reason_allowed(packet, value);
            const auto expected =
                allowed ? spec_reason_name(packet, value) : "Unknown reason code"sv;
            if (to_string(packet, value) != expected ||
                reason_code_allowed(packet, value) != allowed)
                FAIL_CHECK(to_string(packet)
                           << " reason code " << v << ": got \"" << to_string(packet, value)
                           << "\", expected \"" << expected << '"');
            named += allowed;
        }
    }
    // 22 + 9 + 9 + 2 + 2 + 12 + 7 + 30 + 3
    CHECK(named == 96u);
    CHECK(reason_code_table.size() == 45u);
    CHECK(to_string(reason::banned) == "Banned");
    CHECK(to_string(reason::wildcard_subscriptions_not_supported) ==
          "Wildcard Subscriptions not supported");
    CHECK(to_string(reason::granted_qos_2) == "Granted QoS 2");
    CHECK(to_string(reason::re_authenticate) == "Re-authenticate");
    CHECK(to_string(static_cast<reason>(0x03)) == "Unknown reason code");
    CHECK(to_string(puback_reason_code{reason::packet_identifier_in_use}) ==
          "Packet Identifier in use");
    CHECK(disconnect_reason_code{}.name() == "Normal disconnection");
    CHECK(suback_reason_code{}.name() == "Granted QoS 0");
    CHECK(auth_reason_code{}.name() == "Success");
    CHECK_FALSE(disconnect_reason_code{}.is_error());
}

TEST_CASE("reason codes: the allowed variants compile (positive counterpart of tests/compile_fail)",
          "[tables][reasons][compile]") {
    puback a;
    a.reason_code = reason::no_matching_subscribers;
    CHECK(a.reason_code.value() == 0x10u);
    pubrec b;
    b.reason_code = reason::quota_exceeded;
    CHECK(b.reason_code == reason::quota_exceeded);
    pubrel c;
    c.reason_code = reason::packet_identifier_not_found;
    pubcomp d;
    d.reason_code = reason::success;
    connack e;
    e.reason_code = reason::banned;
    CHECK(e.reason_code.value() == 0x8Au);
    disconnect f;
    f.reason_code = reason::server_shutting_down;
    auth g;
    g.reason_code = reason::continue_authentication;
    constexpr suback_reason_code h = reason::granted_qos_2;
    static_assert(h.value() == 2);
    constexpr unsuback_reason_code i = reason::no_subscription_existed;
    static_assert(i.value() == 0x11);
    static_assert(disconnect_reason_code{reason::disconnect_with_will_message}.value() == 0x04);
    CHECK(c.reason_code.value() == 0x92u);
    CHECK(d.reason_code.value() == 0x00u);
    CHECK(f.reason_code.value() == 0x8Bu);
    CHECK(g.reason_code.value() == 0x18u);

    // Properties the scopes allow compile (Topic Alias on CONNECT does not: compile_fail/)
    connect con;
    con.properties.set<property_id::session_expiry_interval>(std::uint32_t{1})
        .set<property_id::receive_maximum>(std::uint16_t{2});
    con.will.emplace();
    con.will->properties.set<property_id::will_delay_interval>(std::uint32_t{3});
    publish pub;
    pub.properties.set<property_id::topic_alias>(std::uint16_t{4});
    CHECK(con.properties.get<property_id::session_expiry_interval>() == 1u);
    CHECK(con.will->properties.get<property_id::will_delay_interval>() == 3u);
    CHECK(pub.properties.get<property_id::topic_alias>() == std::uint16_t{4});
    CHECK_FALSE(con.properties.empty());
    CHECK(connect_properties{}.empty());
}

TEST_CASE("CONNACK return codes of 3.1 and 3.1.1 (Table 3.1)", "[tables][reasons]") {
    CHECK(to_string(connect_return_code::accepted) == "Connection Accepted");
    CHECK(to_string(connect_return_code::unacceptable_protocol_version) ==
          "Connection Refused, unacceptable protocol version");
    CHECK(to_string(connect_return_code::identifier_rejected) ==
          "Connection Refused, identifier rejected");
    CHECK(to_string(connect_return_code::server_unavailable) ==
          "Connection Refused, Server unavailable");
    CHECK(to_string(connect_return_code::bad_user_name_or_password) ==
          "Connection Refused, bad user name or password");
    CHECK(to_string(connect_return_code::not_authorized) == "Connection Refused, not authorized");
    CHECK(static_cast<unsigned>(connect_return_code::not_authorized) == 5u);
    CHECK_THAT(std::string{to_string(static_cast<connect_return_code>(6))}, Contains("unknown"));
    connack a;
    a.return_code = connect_return_code::identifier_rejected;
    CHECK_THAT(to_string(a, protocol_version::v3_1_1),
               Contains("Connection Refused, identifier rejected"));
    CHECK_FALSE(a.accepted(protocol_version::v3_1_1));
    CHECK(a.accepted(protocol_version::v5)); // 5.0 looks at the reason code
}

TEST_CASE("names of packet types, versions and scopes", "[tables]") {
    CHECK(to_string(packet_type::connect) == "CONNECT");
    CHECK(to_string(packet_type::pubcomp) == "PUBCOMP");
    CHECK(to_string(packet_type::unsubscribe) == "UNSUBSCRIBE");
    CHECK(to_string(packet_type::auth) == "AUTH");
    CHECK(to_string(packet_type::reserved) == "RESERVED");
    CHECK(to_string(static_cast<packet_type>(16)) == "UNKNOWN");
    CHECK(to_string(protocol_version::v3_1) == "3.1");
    CHECK(to_string(protocol_version::v3_1_1) == "3.1.1");
    CHECK(to_string(protocol_version::v5) == "5.0");
    CHECK(to_string(property_scope::will) == "will properties");
    CHECK(to_string(property_scope::disconnect) == "DISCONNECT");
    CHECK(packet_type_of<connect> == packet_type::connect);
    CHECK(packet_type_of<pubrel> == packet_type::pubrel);
    CHECK(packet_type_of<auth> == packet_type::auth);
}

// ------------------------------------------------------------------ error codes

TEST_CASE("error messages name the packet and the rule", "[tables][errors]") {
    SECTION("the example of error.hpp, from the encoder") {
        publish p;
        p.topic = "a/+";
        std::array<std::byte, 64> buf{};
        auto r = encode(p, protocol_version::v5, buf);
        REQUIRE_FALSE(r);
        CHECK(r.error().message() == "PUBLISH: topic name contains a wildcard [MQTT-3.3.2-2]");
        CHECK(r.error() == codec_errc::topic_name_wildcard);
        CHECK(r.error() != codec_errc::topic_name_empty);
        CHECK(rule_of(r.error()) == codec_errc::topic_name_wildcard);
        CHECK(packet_of(r.error()) == packet_type::publish);
    }
    struct vec {
        bytes input;
        protocol_version v;
        codec_errc rule;
        std::vector<std::string> parts; // each must appear in the message
    };
    const vec table[] = {
        {hexbytes({0x30, 0x05, 0x00, 0x03, 'a', '/', '#'}),
         protocol_version::v3_1_1,
         codec_errc::topic_name_wildcard,
         {"PUBLISH: ", "wildcard", "[MQTT-3.3.2-2]"}},
        {hexbytes({0x60, 0x02, 0x00, 0x01}),
         protocol_version::v5,
         codec_errc::fixed_header_flags,
         {"PUBREL: ", "0010", "[MQTT-3.6.1-1]"}},
        {hexbytes({0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00}),
         protocol_version::v3_1_1,
         codec_errc::fixed_header_flags,
         {"SUBSCRIBE: ", "[MQTT-3.8.1-1]"}},
        {hexbytes({0x38, 0x03, 0x00, 0x01, 't'}),
         protocol_version::v3_1_1,
         codec_errc::dup_on_qos_0,
         {"PUBLISH: ", "DUP", "[MQTT-3.3.1-2]"}},
        {hexbytes({0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01}),
         protocol_version::v3_1_1,
         codec_errc::publish_qos_invalid,
         {"PUBLISH: ", "QoS", "[MQTT-3.3.1-4]"}},
        {hexbytes({0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00}),
         protocol_version::v5,
         codec_errc::packet_id_zero,
         {"PUBLISH: ", "packet identifier", "[MQTT-2.2.1-3]"}},
        {hexbytes({0x30, 0x07, 0x00, 0x01, 't', 0x03, 0x23, 0x00, 0x00}),
         protocol_version::v5,
         codec_errc::property_value,
         {"PUBLISH: ", "Topic Alias", "[MQTT-3.3.2-8]"}},
        {hexbytes({0x30, 0x0A, 0x00, 0x01, 't', 0x06, 0x23, 0x00, 0x01, 0x23, 0x00, 0x02}),
         protocol_version::v5,
         codec_errc::property_duplicate,
         {"PUBLISH: ", "Topic Alias", "more than once"}},
        {hexbytes({0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x05, 0x00}),
         protocol_version::v5,
         codec_errc::property_unknown,
         {"PUBLISH: ", "0x05"}},
        {hexbytes({0x40, 0x07, 0x00, 0x07, 0x00, 0x03, 0x23, 0x00, 0x01}),
         protocol_version::v5,
         codec_errc::property_not_allowed,
         {"PUBACK: ", "Topic Alias", "not allowed"}},
        {hexbytes({0x40, 0x03, 0x00, 0x07, 0x8A}),
         protocol_version::v5,
         codec_errc::reason_code_not_allowed,
         {"PUBACK: ", "0x8A", "[MQTT-3.4.2-1]"}},
        {hexbytes({0xE0, 0x01, 0x10}),
         protocol_version::v5,
         codec_errc::reason_code_not_allowed,
         {"DISCONNECT: ", "0x10"}},
        {hexbytes(
             {0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x3C, 0x00, 0x01, 'a'}),
         protocol_version::v5,
         codec_errc::protocol_level,
         {"CONNECT: ", "6", "[MQTT-3.1.2-2]"}},
        {hexbytes(
             {0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'X', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 'a'}),
         protocol_version::v3_1_1,
         codec_errc::protocol_name,
         {"CONNECT: ", "[MQTT-3.1.2-1]"}},
        {hexbytes(
             {0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x03, 0x00, 0x3C, 0x00, 0x01, 'a'}),
         protocol_version::v3_1_1,
         codec_errc::connect_reserved_flag,
         {"CONNECT: ", "[MQTT-3.1.2-3]"}},
        {hexbytes({0x20, 0x02, 0x01, 0x05}),
         protocol_version::v3_1_1,
         codec_errc::session_present_on_refusal,
         {"CONNACK: ", "session present", "[MQTT-3.2.2-4]"}},
        {hexbytes({0x20, 0x03, 0x01, 0x80, 0x00}),
         protocol_version::v5,
         codec_errc::session_present_on_refusal,
         {"CONNACK: ", "[MQTT-3.2.2-6]"}},
        {hexbytes({0x82, 0x02, 0x00, 0x01}),
         protocol_version::v3_1_1,
         codec_errc::no_topic_filters,
         {"SUBSCRIBE: ", "topic filter"}},
        {hexbytes({0xA2, 0x02, 0x00, 0x01}),
         protocol_version::v3_1_1,
         codec_errc::no_topic_filters,
         {"UNSUBSCRIBE: ", "[MQTT-3.10.3-2]"}},
        {hexbytes({0x82, 0x07, 0x00, 0x01, 0x00, 0x02, 'a', '#', 0x00}),
         protocol_version::v3_1_1,
         codec_errc::topic_filter_multi_level_wildcard,
         {"SUBSCRIBE: ", "'#'", "[MQTT-4.7.1-1]"}},
        {hexbytes({0x30, 0x03, 0x00, 0x01, 0xFF}),
         protocol_version::v3_1_1,
         codec_errc::utf8_malformed,
         {"PUBLISH: ", "UTF-8", "[MQTT-1.5.4-1]"}},
        {hexbytes({0x30, 0x03, 0x00, 0x01, 0x00}),
         protocol_version::v3_1_1,
         codec_errc::utf8_null,
         {"PUBLISH: ", "U+0000", "[MQTT-1.5.4-2]"}},
        {hexbytes({0x30, 0x80, 0x00}),
         protocol_version::v5,
         codec_errc::varint_not_minimal,
         {"PUBLISH: ", "[MQTT-1.5.5-1]"}},
        {hexbytes({0xC0, 0x01, 0x00}),
         protocol_version::v5,
         codec_errc::remaining_length_not_zero,
         {"PINGREQ: "}},
        {hexbytes({0x00, 0x00}),
         protocol_version::v5,
         codec_errc::reserved_packet_type,
         {"packet: ", "reserved packet type 0"}},
        {hexbytes({0xF0, 0x00}),
         protocol_version::v3_1_1,
         codec_errc::reserved_packet_type,
         {"reserved packet type 15"}},
    };
    for (const auto& t : table) {
        auto r = decode_packet(t.input, t.v);
        REQUIRE_FALSE(r);
        const auto ec = r.error();
        INFO(ec.message());
        CHECK(ec == t.rule);
        for (const auto& part : t.parts)
            CHECK_THAT(ec.message(), Contains(part));
    }
}

TEST_CASE("every rule has a message that cites the specification", "[tables][errors]") {
    const int last = static_cast<int>(codec_errc::requires_v5);
    std::set<std::string> messages;
    for (int r = 1; r <= last; ++r) {
        const auto rule = static_cast<codec_errc>(r);
        const auto text = rule_message(rule);
        INFO("rule " << r << ": " << text);
        CHECK(text != "unknown codec error");
        // buffer_too_small is not a protocol rule; property_value's statement
        // depends on the property, which a bare condition does not carry.
        if (rule != codec_errc::buffer_too_small && rule != codec_errc::property_value)
            CHECK((text.find("[MQTT-") != std::string::npos ||
                   text.find("(MQTT") != std::string::npos));
        messages.insert(text);
        // the condition's message is the rule alone; a code's message adds the packet
        CHECK(make_error_condition(rule).message() == text);
        const auto ec = make_error_code(rule, packet_type::pubcomp);
        CHECK(ec.message().rfind("PUBCOMP: ", 0) == 0u);
    }
    CHECK(messages.size() == static_cast<std::size_t>(last)); // all different
    CHECK(rule_message(static_cast<codec_errc>(0)) == "unknown codec error");
}

TEST_CASE("error codes compare with codec_errc conditions", "[tables][errors]") {
    const auto a = make_error_code(codec_errc::field_truncated, packet_type::publish);
    const auto b = make_error_code(codec_errc::field_truncated, packet_type::connect);
    const auto c = make_error_code(codec_errc::property_not_allowed, packet_type::puback, 0x23);
    CHECK(a == codec_errc::field_truncated);
    CHECK(codec_errc::field_truncated == a);
    CHECK(b == codec_errc::field_truncated);
    CHECK(a != b); // same rule, different packets: different codes, same condition
    CHECK(a != codec_errc::incomplete_packet);
    CHECK(c == codec_errc::property_not_allowed);
    CHECK(c.message() ==
          "PUBACK: property Topic Alias is not allowed in this packet (MQTT 5 §2.2.2.2)");
    CHECK(rule_of(c) == codec_errc::property_not_allowed);
    CHECK(packet_of(c) == packet_type::puback);
    CHECK(std::string{a.category().name()} == "ctmqtt.codec");
    CHECK(std::string{a.default_error_condition().category().name()} == "ctmqtt.codec.rule");
    CHECK(a.default_error_condition() == make_error_condition(codec_errc::field_truncated));
    const std::error_condition cond = codec_errc::trailing_bytes;
    CHECK(make_error_code(codec_errc::trailing_bytes, packet_type::suback) == cond);
    CHECK_FALSE(std::error_code{} == codec_errc::field_truncated);
    CHECK(std::error_code{} != codec_errc::field_truncated);
    CHECK(a); // non-zero: an error
    // not equal to a condition of another category with the same value
    CHECK(a != std::error_condition(static_cast<int>(codec_errc::field_truncated),
                                    std::generic_category()));
    CHECK(make_error_code(codec_errc::buffer_too_small, packet_type::connect).message() ==
          "CONNECT: output buffer too small for the encoded packet");
    CHECK_THAT(
        make_error_code(codec_errc::reason_code_not_allowed, packet_type::suback, 0x04).message(),
        Contains("0x04") && Contains("[MQTT-3.9.3-2]"));
}
