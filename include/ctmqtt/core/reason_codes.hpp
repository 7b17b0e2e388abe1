// Reason codes, described once (MQTT 5 §2.4, Table 2-6): value, name and the
// packets that may carry each. basic_reason_code<P> is the reason code type of
// packet P: it accepts at compile time only the codes P may carry, and
// from_value() checks wire values at run time. Also the MQTT 3.1/3.1.1
// CONNACK return codes (3.1.1 §3.2.2.3).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include <ctmqtt/core/types.hpp>

namespace ctmqtt {

/// Every MQTT 5 reason code by name. Some values have one name per packet
/// (0x00 is Success, Normal disconnection or Granted QoS 0).
enum class reason : std::uint8_t {
    success = 0x00,
    normal_disconnection = 0x00,
    granted_qos_0 = 0x00,
    granted_qos_1 = 0x01,
    granted_qos_2 = 0x02,
    disconnect_with_will_message = 0x04,
    no_matching_subscribers = 0x10,
    no_subscription_existed = 0x11,
    continue_authentication = 0x18,
    re_authenticate = 0x19,
    unspecified_error = 0x80,
    malformed_packet = 0x81,
    protocol_error = 0x82,
    implementation_specific_error = 0x83,
    unsupported_protocol_version = 0x84,
    client_identifier_not_valid = 0x85,
    bad_user_name_or_password = 0x86,
    not_authorized = 0x87,
    server_unavailable = 0x88,
    server_busy = 0x89,
    banned = 0x8A,
    server_shutting_down = 0x8B,
    bad_authentication_method = 0x8C,
    keep_alive_timeout = 0x8D,
    session_taken_over = 0x8E,
    topic_filter_invalid = 0x8F,
    topic_name_invalid = 0x90,
    packet_identifier_in_use = 0x91,
    packet_identifier_not_found = 0x92,
    receive_maximum_exceeded = 0x93,
    topic_alias_invalid = 0x94,
    packet_too_large = 0x95,
    message_rate_too_high = 0x96,
    quota_exceeded = 0x97,
    administrative_action = 0x98,
    payload_format_invalid = 0x99,
    retain_not_supported = 0x9A,
    qos_not_supported = 0x9B,
    use_another_server = 0x9C,
    server_moved = 0x9D,
    shared_subscriptions_not_supported = 0x9E,
    connection_rate_exceeded = 0x9F,
    maximum_connect_time = 0xA0,
    subscription_identifiers_not_supported = 0xA1,
    wildcard_subscriptions_not_supported = 0xA2,
};

struct reason_code_info {
    std::uint8_t value;
    std::string_view name;
    std::uint16_t packets; ///< bit n: packet_type n may carry it
};

namespace detail {
constexpr std::uint16_t packets(std::initializer_list<packet_type> list) noexcept {
    std::uint16_t m = 0;
    for (auto t : list)
        m = static_cast<std::uint16_t>(m | (1u << static_cast<unsigned>(t)));
    return m;
}
} // namespace detail

/// The reason code table (MQTT 5 §2.4, Table 2-6).
// clang-format off (one row a line, as the specification's table)
inline constexpr auto reason_code_table = [] {
    using enum packet_type;
    using detail::packets;
    return std::array<reason_code_info, 45>{{
        {0x00, "Success", packets({connack, puback, pubrec, pubrel, pubcomp, unsuback, auth})},
        {0x00, "Normal disconnection", packets({disconnect})},
        {0x00, "Granted QoS 0", packets({suback})},
        {0x01, "Granted QoS 1", packets({suback})},
        {0x02, "Granted QoS 2", packets({suback})},
        {0x04, "Disconnect with Will Message", packets({disconnect})},
        {0x10, "No matching subscribers", packets({puback, pubrec})},
        {0x11, "No subscription existed", packets({unsuback})},
        {0x18, "Continue authentication", packets({auth})},
        {0x19, "Re-authenticate", packets({auth})},
        {0x80, "Unspecified error",
         packets({connack, puback, pubrec, suback, unsuback, disconnect})},
        {0x81, "Malformed Packet", packets({connack, disconnect})},
        {0x82, "Protocol Error", packets({connack, disconnect})},
        {0x83, "Implementation specific error",
         packets({connack, puback, pubrec, suback, unsuback, disconnect})},
        {0x84, "Unsupported Protocol Version", packets({connack})},
        {0x85, "Client Identifier not valid", packets({connack})},
        {0x86, "Bad User Name or Password", packets({connack})},
        {0x87, "Not authorized", packets({connack, puback, pubrec, suback, unsuback, disconnect})},
        {0x88, "Server unavailable", packets({connack})},
        {0x89, "Server busy", packets({connack, disconnect})},
        {0x8A, "Banned", packets({connack})},
        {0x8B, "Server shutting down", packets({disconnect})},
        {0x8C, "Bad authentication method", packets({connack, disconnect})},
        {0x8D, "Keep Alive timeout", packets({disconnect})},
        {0x8E, "Session taken over", packets({disconnect})},
        {0x8F, "Topic Filter invalid", packets({suback, unsuback, disconnect})},
        {0x90, "Topic Name invalid", packets({connack, puback, pubrec, disconnect})},
        {0x91, "Packet Identifier in use", packets({puback, pubrec, suback, unsuback})},
        {0x92, "Packet Identifier not found", packets({pubrel, pubcomp})},
        {0x93, "Receive Maximum exceeded", packets({disconnect})},
        {0x94, "Topic Alias invalid", packets({disconnect})},
        {0x95, "Packet too large", packets({connack, disconnect})},
        {0x96, "Message rate too high", packets({disconnect})},
        {0x97, "Quota exceeded", packets({connack, puback, pubrec, suback, disconnect})},
        {0x98, "Administrative action", packets({disconnect})},
        {0x99, "Payload format invalid", packets({connack, puback, pubrec, disconnect})},
        {0x9A, "Retain not supported", packets({connack, disconnect})},
        {0x9B, "QoS not supported", packets({connack, disconnect})},
        {0x9C, "Use another server", packets({connack, disconnect})},
        {0x9D, "Server moved", packets({connack, disconnect})},
        {0x9E, "Shared Subscriptions not supported", packets({suback, disconnect})},
        {0x9F, "Connection rate exceeded", packets({connack, disconnect})},
        {0xA0, "Maximum connect time", packets({disconnect})},
        {0xA1, "Subscription Identifiers not supported", packets({suback, disconnect})},
        {0xA2, "Wildcard Subscriptions not supported", packets({suback, disconnect})},
    }};
}();
// clang-format on

/// The table row of a value in a packet, or nullptr if the packet may not carry it.
constexpr const reason_code_info* find_reason_code(packet_type packet,
                                                   std::uint8_t value) noexcept {
    const auto bit = static_cast<std::uint16_t>(1u << static_cast<unsigned>(packet));
    for (const auto& row : reason_code_table)
        if (row.value == value && (row.packets & bit) != 0)
            return &row;
    return nullptr;
}

constexpr bool reason_code_allowed(packet_type packet, std::uint8_t value) noexcept {
    return find_reason_code(packet, value) != nullptr;
}

/// The name of a reason code as carried by a packet ("Success", "Normal
/// disconnection", ...), or "Unknown reason code" if the packet may not carry it.
constexpr std::string_view to_string(packet_type packet, std::uint8_t value) noexcept {
    const auto* row = find_reason_code(packet, value);
    return row ? row->name : std::string_view{"Unknown reason code"};
}

/// The name of a reason code regardless of packet (the first name it has).
constexpr std::string_view to_string(reason r) noexcept {
    for (const auto& row : reason_code_table)
        if (row.value == static_cast<std::uint8_t>(r))
            return row.name;
    return "Unknown reason code";
}

namespace detail {
// Called only when a reason code that the packet may not carry is used in a
// constant expression: the compiler names this function in its error.
inline void reason_code_not_allowed_in_this_packet() {}
} // namespace detail

/// The reason code of packet P. Constructing it from a `reason` the packet may
/// not carry does not compile; wire values are checked by from_value().
template <packet_type P>
class basic_reason_code {
public:
    static constexpr packet_type packet = P;

    /// Success / Normal disconnection / Granted QoS 0: valid for every packet that has one.
    constexpr basic_reason_code() noexcept = default;

    /// Compile-time checked: `puback.reason_code = reason::banned;` does not compile.
    consteval basic_reason_code(reason r) : value_(static_cast<std::uint8_t>(r)) {
        if (!reason_code_allowed(P, value_))
            detail::reason_code_not_allowed_in_this_packet();
    }

    /// Run-time checked construction from a wire value.
    static constexpr std::optional<basic_reason_code> from_value(std::uint8_t v) noexcept {
        if (!reason_code_allowed(P, v))
            return std::nullopt;
        basic_reason_code c;
        c.value_ = v;
        return c;
    }

    /// Run-time checked construction from a name.
    static constexpr std::optional<basic_reason_code> from_reason(reason r) noexcept {
        return from_value(static_cast<std::uint8_t>(r));
    }

    constexpr std::uint8_t value() const noexcept { return value_; }
    constexpr bool is_error() const noexcept { return value_ >= 0x80; }
    constexpr std::string_view name() const noexcept { return to_string(P, value_); }

    friend constexpr bool operator==(basic_reason_code a, basic_reason_code b) noexcept {
        return a.value_ == b.value_;
    }
    friend constexpr bool operator==(basic_reason_code a, reason b) noexcept {
        return a.value_ == static_cast<std::uint8_t>(b);
    }

private:
    std::uint8_t value_ = 0;
};

template <packet_type P>
constexpr std::string_view to_string(basic_reason_code<P> code) noexcept {
    return code.name();
}

using connack_reason_code = basic_reason_code<packet_type::connack>;
using puback_reason_code = basic_reason_code<packet_type::puback>;
using pubrec_reason_code = basic_reason_code<packet_type::pubrec>;
using pubrel_reason_code = basic_reason_code<packet_type::pubrel>;
using pubcomp_reason_code = basic_reason_code<packet_type::pubcomp>;
using suback_reason_code = basic_reason_code<packet_type::suback>;
using unsuback_reason_code = basic_reason_code<packet_type::unsuback>;
using disconnect_reason_code = basic_reason_code<packet_type::disconnect>;
using auth_reason_code = basic_reason_code<packet_type::auth>;

/// CONNACK return codes of MQTT 3.1 and 3.1.1 (3.1.1 §3.2.2.3, Table 3.1).
enum class connect_return_code : std::uint8_t {
    accepted = 0,
    unacceptable_protocol_version = 1,
    identifier_rejected = 2,
    server_unavailable = 3,
    bad_user_name_or_password = 4,
    not_authorized = 5,
};

constexpr std::string_view to_string(connect_return_code c) noexcept {
    switch (c) {
    case connect_return_code::accepted: return "Connection Accepted";
    case connect_return_code::unacceptable_protocol_version:
        return "Connection Refused, unacceptable protocol version";
    case connect_return_code::identifier_rejected: return "Connection Refused, identifier rejected";
    case connect_return_code::server_unavailable: return "Connection Refused, Server unavailable";
    case connect_return_code::bad_user_name_or_password:
        return "Connection Refused, bad user name or password";
    case connect_return_code::not_authorized: return "Connection Refused, not authorized";
    }
    return "Connection Refused, unknown return code";
}

} // namespace ctmqtt
