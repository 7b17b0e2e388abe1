// Vocabulary types shared by every layer: protocol versions, QoS, packet types
// and the views the codec hands out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ctmqtt {

/// Protocol level as carried in CONNECT (MQTT 5 §3.1.2.2, 3.1.1 §3.1.2.2).
enum class protocol_version : std::uint8_t {
    v3_1 = 3,   ///< MQTT 3.1, protocol name "MQIsdp"
    v3_1_1 = 4, ///< MQTT 3.1.1, protocol name "MQTT"
    v5 = 5,     ///< MQTT 5.0, protocol name "MQTT"
};

constexpr std::string_view to_string(protocol_version v) noexcept {
    switch (v) {
    case protocol_version::v3_1: return "3.1";
    case protocol_version::v3_1_1: return "3.1.1";
    case protocol_version::v5: return "5.0";
    }
    return "unknown";
}

/// Quality of service (MQTT 5 §4.3).
enum class qos : std::uint8_t { at_most_once = 0, at_least_once = 1, exactly_once = 2 };

/// Retain handling subscription option (MQTT 5 §3.8.3.1).
enum class retain_handling : std::uint8_t {
    send_on_subscribe = 0,
    send_if_new_subscription = 1,
    do_not_send = 2,
};

/// Control packet types (MQTT 5 §2.1.2). 0 is reserved; 15 is AUTH in 5.0 and
/// reserved before it.
enum class packet_type : std::uint8_t {
    reserved = 0,
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
    pingreq = 12,
    pingresp = 13,
    disconnect = 14,
    auth = 15,
};

constexpr std::string_view to_string(packet_type t) noexcept {
    constexpr std::string_view names[] = {"RESERVED",  "CONNECT",  "CONNACK",     "PUBLISH",
                                          "PUBACK",    "PUBREC",   "PUBREL",      "PUBCOMP",
                                          "SUBSCRIBE", "SUBACK",   "UNSUBSCRIBE", "UNSUBACK",
                                          "PINGREQ",   "PINGRESP", "DISCONNECT",  "AUTH"};
    auto i = static_cast<std::size_t>(t);
    return i < std::size(names) ? names[i] : std::string_view{"UNKNOWN"};
}

/// Binary data viewed in place (a decoded payload points into the receive buffer).
using bytes_view = std::span<const std::byte>;

/// Views a string's bytes as binary data (no copy).
inline bytes_view as_bytes(std::string_view s) noexcept {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

/// Views binary data as characters (no copy, no validation).
inline std::string_view as_string(bytes_view b) noexcept {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

/// A UTF-8 string pair, e.g. a user property (MQTT 5 §1.5.7).
struct string_pair {
    std::string_view name;
    std::string_view value;
    friend constexpr bool operator==(const string_pair&, const string_pair&) = default;
};

/// The largest remaining length a fixed header can express (MQTT 5 §1.5.5).
inline constexpr std::uint32_t max_variable_byte_integer = 268'435'455;
/// The largest UTF-8 string or binary data field (MQTT 5 §1.5.4, §1.5.6).
inline constexpr std::size_t max_string_length = 65'535;

} // namespace ctmqtt
