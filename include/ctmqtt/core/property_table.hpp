// The 27 MQTT 5 properties, described once (MQTT 5 §2.2.2.2): identifier,
// name, wire type, the packets that may carry each, and where it may repeat.
// Everything else about properties (storage types, encoders, decoders,
// validity checks, compile-time "not allowed in this packet" errors) is
// derived from this table.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include <ctmqtt/core/types.hpp>

namespace ctmqtt {

/// Property identifiers (MQTT 5 §2.2.2.2).
enum class property_id : std::uint8_t {
    payload_format_indicator = 0x01,
    message_expiry_interval = 0x02,
    content_type = 0x03,
    response_topic = 0x08,
    correlation_data = 0x09,
    subscription_identifier = 0x0B,
    session_expiry_interval = 0x11,
    assigned_client_identifier = 0x12,
    server_keep_alive = 0x13,
    authentication_method = 0x15,
    authentication_data = 0x16,
    request_problem_information = 0x17,
    will_delay_interval = 0x18,
    request_response_information = 0x19,
    response_information = 0x1A,
    server_reference = 0x1C,
    reason_string = 0x1F,
    receive_maximum = 0x21,
    topic_alias_maximum = 0x22,
    topic_alias = 0x23,
    maximum_qos = 0x24,
    retain_available = 0x25,
    user_property = 0x26,
    maximum_packet_size = 0x27,
    wildcard_subscription_available = 0x28,
    subscription_identifier_available = 0x29,
    shared_subscription_available = 0x2A,
};

/// Wire data types of property values (MQTT 5 §1.5).
enum class property_wire : std::uint8_t {
    byte,        ///< one byte
    two_byte,    ///< two byte integer
    four_byte,   ///< four byte integer
    varint,      ///< variable byte integer
    utf8,        ///< UTF-8 encoded string
    binary,      ///< binary data
    string_pair, ///< UTF-8 string pair
};

/// Where a property may appear: a packet type, or the will properties of CONNECT.
/// Bit n stands for packet_type n; bit 0 (the reserved type) stands for "will".
using property_scope_mask = std::uint16_t;

/// The property scopes. Each property_set is parameterised by one.
enum class property_scope : std::uint8_t {
    will = 0,
    connect = 1,
    connack = 2,
    publish = 3,
    puback = 4,
    pubrec = 5,
    pubrel = 6,
    pubcomp = 7,
    subscribe = 8,
    suback = 9,
    unsubscribe = 10,
    unsuback = 11,
    disconnect = 14,
    auth = 15,
};

constexpr property_scope_mask scope_bit(property_scope s) noexcept {
    return static_cast<property_scope_mask>(1u << static_cast<unsigned>(s));
}

constexpr std::string_view to_string(property_scope s) noexcept {
    return s == property_scope::will ? std::string_view{"will properties"}
                                     : to_string(static_cast<packet_type>(s));
}

/// How a value constrained to a range is checked on decode and encode.
enum class property_range : std::uint8_t {
    any,         ///< every value of the wire type
    zero_or_one, ///< a boolean byte (e.g. Retain Available)
    non_zero,    ///< 0 is a protocol error (e.g. Receive Maximum, Topic Alias)
    topic_name,  ///< a topic name: no wildcards (Response Topic [MQTT-3.3.2-14])
};

struct property_info {
    property_id id;
    std::string_view name; ///< as the specification spells it
    property_wire wire;
    property_scope_mask allowed; ///< scopes that may carry it
    property_scope_mask repeats; ///< scopes where it may appear more than once
    property_range range;
};

namespace detail {
constexpr property_scope_mask scopes(std::initializer_list<property_scope> list) noexcept {
    property_scope_mask m = 0;
    for (auto s : list)
        m = static_cast<property_scope_mask>(m | scope_bit(s));
    return m;
}
using ps = property_scope;
inline constexpr property_scope_mask every_scope_with_properties =
    scopes({ps::will, ps::connect, ps::connack, ps::publish, ps::puback, ps::pubrec, ps::pubrel,
            ps::pubcomp, ps::subscribe, ps::suback, ps::unsubscribe, ps::unsuback, ps::disconnect,
            ps::auth});
inline constexpr property_scope_mask message_scopes = scopes({ps::publish, ps::will});
inline constexpr property_scope_mask ack_scopes =
    scopes({ps::connack, ps::puback, ps::pubrec, ps::pubrel, ps::pubcomp, ps::suback, ps::unsuback,
            ps::disconnect, ps::auth});
} // namespace detail

/// The property table (MQTT 5 §2.2.2.2, Table 2-4).
// clang-format off (one row a line, as the specification's table)
inline constexpr std::array<property_info, 27> property_table = [] {
    using enum property_id;
    using w = property_wire;
    using r = property_range;
    using detail::ps;
    using detail::scopes;
    return std::array<property_info, 27>{{
        {payload_format_indicator, "Payload Format Indicator", w::byte, detail::message_scopes, 0,
         r::zero_or_one},
        {message_expiry_interval, "Message Expiry Interval", w::four_byte, detail::message_scopes,
         0, r::any},
        {content_type, "Content Type", w::utf8, detail::message_scopes, 0, r::any},
        {response_topic, "Response Topic", w::utf8, detail::message_scopes, 0, r::topic_name},
        {correlation_data, "Correlation Data", w::binary, detail::message_scopes, 0, r::any},
        {subscription_identifier, "Subscription Identifier", w::varint,
         scopes({ps::publish, ps::subscribe}), scopes({ps::publish}), r::non_zero},
        {session_expiry_interval, "Session Expiry Interval", w::four_byte,
         scopes({ps::connect, ps::connack, ps::disconnect}), 0, r::any},
        {assigned_client_identifier, "Assigned Client Identifier", w::utf8, scopes({ps::connack}),
         0, r::any},
        {server_keep_alive, "Server Keep Alive", w::two_byte, scopes({ps::connack}), 0, r::any},
        {authentication_method, "Authentication Method", w::utf8,
         scopes({ps::connect, ps::connack, ps::auth}), 0, r::any},
        {authentication_data, "Authentication Data", w::binary,
         scopes({ps::connect, ps::connack, ps::auth}), 0, r::any},
        {request_problem_information, "Request Problem Information", w::byte, scopes({ps::connect}),
         0, r::zero_or_one},
        {will_delay_interval, "Will Delay Interval", w::four_byte, scopes({ps::will}), 0, r::any},
        {request_response_information, "Request Response Information", w::byte,
         scopes({ps::connect}), 0, r::zero_or_one},
        {response_information, "Response Information", w::utf8, scopes({ps::connack}), 0, r::any},
        {server_reference, "Server Reference", w::utf8, scopes({ps::connack, ps::disconnect}), 0,
         r::any},
        {reason_string, "Reason String", w::utf8, detail::ack_scopes, 0, r::any},
        {receive_maximum, "Receive Maximum", w::two_byte, scopes({ps::connect, ps::connack}), 0,
         r::non_zero},
        {topic_alias_maximum, "Topic Alias Maximum", w::two_byte,
         scopes({ps::connect, ps::connack}), 0, r::any},
        {topic_alias, "Topic Alias", w::two_byte, scopes({ps::publish}), 0, r::non_zero},
        {maximum_qos, "Maximum QoS", w::byte, scopes({ps::connack}), 0, r::zero_or_one},
        {retain_available, "Retain Available", w::byte, scopes({ps::connack}), 0, r::zero_or_one},
        {user_property, "User Property", w::string_pair, detail::every_scope_with_properties,
         detail::every_scope_with_properties, r::any},
        {maximum_packet_size, "Maximum Packet Size", w::four_byte,
         scopes({ps::connect, ps::connack}), 0, r::non_zero},
        {wildcard_subscription_available, "Wildcard Subscription Available", w::byte,
         scopes({ps::connack}), 0, r::zero_or_one},
        {subscription_identifier_available, "Subscription Identifier Available", w::byte,
         scopes({ps::connack}), 0, r::zero_or_one},
        {shared_subscription_available, "Shared Subscription Available", w::byte,
         scopes({ps::connack}), 0, r::zero_or_one},
    }};
}();
// clang-format on

/// Index into property_table by identifier byte; 0xFF for identifiers the
/// specification does not define.
inline constexpr std::array<std::uint8_t, 256> property_index = [] {
    std::array<std::uint8_t, 256> index{};
    for (auto& i : index)
        i = 0xFF;
    for (std::size_t i = 0; i < property_table.size(); ++i)
        index[static_cast<std::size_t>(property_table[i].id)] = static_cast<std::uint8_t>(i);
    return index;
}();

/// The table row for an identifier, or nullptr if it is not a property.
constexpr const property_info* find_property(std::uint32_t id) noexcept {
    if (id > 0xFF || property_index[id] == 0xFF)
        return nullptr;
    return &property_table[property_index[id]];
}

constexpr const property_info& info(property_id id) noexcept {
    return property_table[property_index[static_cast<std::size_t>(id)]];
}

constexpr std::string_view to_string(property_id id) noexcept {
    const auto* p = find_property(static_cast<std::uint32_t>(id));
    return p ? p->name : std::string_view{"unknown property"};
}

constexpr bool property_allowed(property_scope scope, property_id id) noexcept {
    return (info(id).allowed & scope_bit(scope)) != 0;
}

constexpr bool property_repeats(property_scope scope, property_id id) noexcept {
    return (info(id).repeats & scope_bit(scope)) != 0;
}

} // namespace ctmqtt
