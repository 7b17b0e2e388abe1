// Codec errors. Every malformed packet, and every packet the encoder refuses
// to build, is reported as a std::error_code whose message names the packet,
// what was wrong and the specification statement, e.g.
//   "PUBLISH: topic name contains a wildcard [MQTT-3.3.2-2]".
// The error value packs the rule (bits 0-7), the packet type (bits 8-15) and
// a detail byte (bits 16-23: a property identifier or a reason code), so
// errors never allocate. Compare with a rule: `ec == codec_errc::topic_name_wildcard`.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

#include <ctmqtt/core/property_table.hpp>
#include <ctmqtt/core/types.hpp>

namespace ctmqtt {

/// The rules the codec checks. Each value's message is in rule_message().
enum class codec_errc : std::uint8_t {
    // framing and primitives
    varint_too_long = 1,
    varint_not_minimal,
    incomplete_packet,
    field_truncated,
    trailing_bytes,
    remaining_length_not_zero,
    reserved_packet_type,
    fixed_header_flags,
    packet_too_large,
    buffer_too_small,
    value_too_large,
    string_too_long,
    utf8_malformed,
    utf8_null,
    packet_id_zero,
    // properties
    property_unknown,
    property_duplicate,
    property_not_allowed,
    property_length,
    property_value,
    reason_code_not_allowed,
    // topics
    topic_name_empty,
    topic_name_wildcard,
    topic_filter_empty,
    topic_filter_multi_level_wildcard,
    topic_filter_single_level_wildcard,
    shared_subscription_invalid,
    // CONNECT / CONNACK
    protocol_name,
    protocol_level,
    connect_reserved_flag,
    will_flags_without_will,
    will_qos_invalid,
    password_without_user_name,
    client_identifier_length,
    empty_client_id_without_clean_session,
    connack_reserved_flags,
    session_present_on_refusal,
    return_code_reserved,
    // PUBLISH
    publish_qos_invalid,
    dup_on_qos_0,
    // SUBSCRIBE / UNSUBSCRIBE and acknowledgements
    no_topic_filters,
    no_reason_codes,
    subscription_options_reserved,
    subscription_qos_invalid,
    retain_handling_invalid,
    no_local_on_shared_subscription,
    requires_v5,
    packet_type_mismatch,
};

namespace detail {

inline std::string hex_byte(unsigned v) {
    constexpr char digits[] = "0123456789ABCDEF";
    return std::string{"0x"} + digits[(v >> 4) & 0xF] + digits[v & 0xF];
}

// Statement for a property whose value is out of range (MQTT 5 §3.x.2.x).
inline std::string property_value_message(unsigned id) {
    const auto* p = find_property(id);
    if (!p)
        return "property value out of range";
    std::string m = "property " + std::string{p->name};
    switch (static_cast<property_id>(id)) {
    case property_id::payload_format_indicator: return m + " must be 0 or 1 (MQTT 5 §3.3.2.3.2)";
    case property_id::subscription_identifier: return m + " must not be 0 (MQTT 5 §3.8.2.1.2)";
    case property_id::topic_alias: return m + " must not be 0 [MQTT-3.3.2-8]";
    case property_id::receive_maximum: return m + " must not be 0 (MQTT 5 §3.1.2.11.3)";
    case property_id::maximum_packet_size: return m + " must not be 0 (MQTT 5 §3.1.2.11.4)";
    case property_id::response_topic:
        return m + " must be a topic name: not empty [MQTT-4.7.3-1], no wildcards [MQTT-3.3.2-14]";
    default: break;
    }
    return m + (p->range == property_range::zero_or_one
                    ? " must be 0 or 1 (MQTT 5 §2.2.2.2)"
                    : " has a value out of range (MQTT 5 §2.2.2.2)");
}

// The statement listing the reason codes a packet may carry.
inline std::string reason_code_statement(packet_type packet) {
    switch (packet) {
    case packet_type::connack: return "[MQTT-3.2.2-8]";
    case packet_type::puback: return "[MQTT-3.4.2-1]";
    case packet_type::pubrec: return "[MQTT-3.5.2-1]";
    case packet_type::pubrel: return "[MQTT-3.6.2-1]";
    case packet_type::pubcomp: return "[MQTT-3.7.2-1]";
    case packet_type::suback: return "[MQTT-3.9.3-2]";
    case packet_type::unsuback: return "[MQTT-3.11.3-2]";
    case packet_type::disconnect: return "[MQTT-3.14.2-1]";
    case packet_type::auth: return "[MQTT-3.15.2-1]";
    default: return "(MQTT 5 §2.4)";
    }
}

} // namespace detail

/// What a rule says, with the specification statement, independent of packet.
/// `packet` and `value` (a property identifier, reason code or level) refine it where the statement
/// depends on them.
inline std::string rule_message(codec_errc rule, packet_type packet = packet_type::reserved,
                                unsigned value = 0) {
    using enum codec_errc;
    switch (rule) {
    case varint_too_long: return "variable byte integer longer than 4 bytes (MQTT 5 §1.5.5)";
    case varint_not_minimal: return "variable byte integer not in its shortest form [MQTT-1.5.5-1]";
    case incomplete_packet: return "remaining length goes beyond the data (MQTT 5 §2.1.4)";
    case field_truncated: return "a field runs past the end of the packet (MQTT 5 §1.5)";
    case trailing_bytes: return "bytes left over after the last field (MQTT 5 §2.1.4)";
    case remaining_length_not_zero: return "remaining length must be 0 (MQTT 5 §2.1.4)";
    case reserved_packet_type:
        return "reserved packet type " + std::to_string(value) + " (MQTT 5 §2.1.2)";
    case fixed_header_flags:
        switch (packet) {
        case packet_type::pubrel: return "fixed header flags must be 0010 [MQTT-3.6.1-1]";
        case packet_type::subscribe: return "fixed header flags must be 0010 [MQTT-3.8.1-1]";
        case packet_type::unsubscribe: return "fixed header flags must be 0010 [MQTT-3.10.1-1]";
        case packet_type::disconnect: return "fixed header flags must be 0000 [MQTT-3.14.1-1]";
        case packet_type::auth: return "fixed header flags must be 0000 [MQTT-3.15.1-1]";
        default: return "fixed header flags must be 0000 [MQTT-2.1.3-1] (3.1.1: [MQTT-2.2.2-1])";
        }
    case packet_too_large: return "remaining length over 268,435,455 bytes (MQTT 5 §1.5.5)";
    case buffer_too_small: return "output buffer too small for the encoded packet";
    case value_too_large:
        return "value over 268,435,455 does not fit a variable byte integer (MQTT 5 §1.5.5)";
    case string_too_long: return "string or binary data longer than 65,535 bytes (MQTT 5 §1.5.4)";
    case utf8_malformed: return "malformed UTF-8 string [MQTT-1.5.4-1] (3.1.1: [MQTT-1.5.3-1])";
    case utf8_null: return "UTF-8 string contains U+0000 [MQTT-1.5.4-2] (3.1.1: [MQTT-1.5.3-2])";
    case packet_id_zero:
        return "packet identifier 0 where a non-zero one is required [MQTT-2.2.1-3] (3.1.1: "
               "[MQTT-2.3.1-1])";
    case property_unknown:
        return "unknown property identifier " + detail::hex_byte(value) + " (MQTT 5 §2.2.2.2)";
    case property_duplicate:
        return "property " + std::string{to_string(static_cast<property_id>(value))} +
               " appears more than once (MQTT 5 §2.2.2.2)";
    case property_not_allowed:
        return "property " + std::string{to_string(static_cast<property_id>(value))} +
               " is not allowed in this packet (MQTT 5 §2.2.2.2)";
    case property_length: return "property length goes beyond the packet (MQTT 5 §2.2.2.1)";
    case property_value: return detail::property_value_message(value);
    case reason_code_not_allowed:
        return "reason code " + detail::hex_byte(value) + " is not allowed in this packet " +
               detail::reason_code_statement(packet);
    case topic_name_empty: return "empty topic name without a topic alias [MQTT-4.7.3-1]";
    case topic_name_wildcard: return "topic name contains a wildcard [MQTT-3.3.2-2]";
    case topic_filter_empty: return "empty topic filter [MQTT-4.7.3-1]";
    case topic_filter_multi_level_wildcard:
        return "topic filter: '#' must be alone in the last level [MQTT-4.7.1-1]";
    case topic_filter_single_level_wildcard:
        return "topic filter: '+' must occupy a whole level [MQTT-4.7.1-2]";
    case shared_subscription_invalid:
        return "shared subscription must be $share/{ShareName}/{filter} with a ShareName free of "
               "'/', '+' "
               "and '#' [MQTT-4.8.2-1] [MQTT-4.8.2-2]";
    case protocol_name: return "protocol name must be \"MQTT\" (\"MQIsdp\" for 3.1) [MQTT-3.1.2-1]";
    case protocol_level:
        return "unsupported protocol level " + std::to_string(value) + " [MQTT-3.1.2-2]";
    case connect_reserved_flag: return "reserved connect flag must be 0 [MQTT-3.1.2-3]";
    case will_flags_without_will:
        return "will QoS or will retain set without the will flag [MQTT-3.1.2-11] [MQTT-3.1.2-13] "
               "(3.1.1: [MQTT-3.1.2-13] [MQTT-3.1.2-15])";
    case will_qos_invalid:
        return "will QoS 3 is not allowed [MQTT-3.1.2-12] (3.1.1: [MQTT-3.1.2-14])";
    case password_without_user_name:
        return "password flag set without the user name flag (MQTT 3.1.1) [MQTT-3.1.2-22]";
    case client_identifier_length:
        return "client identifier must be 1 to 23 bytes long (MQTT 3.1 §3.1)";
    case empty_client_id_without_clean_session:
        return "zero-byte client identifier without clean session (MQTT 3.1.1) [MQTT-3.1.3-7]";
    case connack_reserved_flags: return "reserved acknowledge flags must be 0 [MQTT-3.2.2-1]";
    case session_present_on_refusal:
        return "session present set on a refused connection [MQTT-3.2.2-6] (3.1.1: [MQTT-3.2.2-4])";
    case return_code_reserved:
        return "return code " + std::to_string(value) + " is reserved (MQTT 3.1.1 §3.2.2.3)";
    case publish_qos_invalid: return "QoS 3 is not allowed [MQTT-3.3.1-4]";
    case dup_on_qos_0: return "DUP flag set on a QoS 0 message [MQTT-3.3.1-2]";
    case no_topic_filters:
        return packet == packet_type::unsubscribe
                   ? "no topic filter in the payload [MQTT-3.10.3-2]"
                   : "no topic filter in the payload [MQTT-3.8.3-2] (3.1.1: [MQTT-3.8.3-3])";
    case no_reason_codes: return "no reason code in the payload (MQTT 5 §3.9.3, §3.11.3)";
    case subscription_options_reserved:
        return "reserved subscription option bits must be 0 [MQTT-3.8.3-5] (3.1.1: [MQTT-3-8.3-4])";
    case subscription_qos_invalid: return "maximum QoS 3 in subscription options (MQTT 5 §3.8.3.1)";
    case retain_handling_invalid: return "retain handling 3 is not allowed (MQTT 5 §3.8.3.1)";
    case no_local_on_shared_subscription:
        return "no local set on a shared subscription [MQTT-3.8.3-4]";
    case requires_v5:
        return "a field set that only MQTT 5 has: reason code, property or subscription option "
               "(MQTT 5 §2.2.2, §2.4, §3.8.3.1)";
    case packet_type_mismatch:
        return std::string{"the packet is a "} +
               std::string{to_string(static_cast<packet_type>(value))} +
               ", not of this type (MQTT 5 §2.1.2)";
    }
    return "unknown codec error";
}

namespace detail {

class codec_rule_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "ctmqtt.codec.rule"; }
    std::string message(int v) const override {
        return rule_message(static_cast<codec_errc>(v & 0xFF));
    }
};

} // namespace detail

/// The category of codec_errc conditions (the rule alone).
inline const std::error_category& codec_rule_category() noexcept {
    static const detail::codec_rule_category_impl category;
    return category;
}

namespace detail {

class codec_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "ctmqtt.codec"; }
    std::string message(int v) const override {
        const auto rule = static_cast<codec_errc>(v & 0xFF);
        const auto packet = static_cast<packet_type>((v >> 8) & 0xFF);
        const auto detail = static_cast<unsigned>((v >> 16) & 0xFF);
        std::string prefix{to_string(packet)};
        if (packet == packet_type::reserved)
            prefix = "packet";
        return prefix + ": " + rule_message(rule, packet, detail);
    }
    std::error_condition default_error_condition(int v) const noexcept override {
        return {v & 0xFF, codec_rule_category()};
    }
};

} // namespace detail

/// The category of codec errors: the message names packet, rule and statement.
inline const std::error_category& codec_category() noexcept {
    static const detail::codec_category_impl category;
    return category;
}

/// An error for `rule` found in a packet of type `packet`; `detail` is the
/// property identifier or reason code the rule is about, if any.
inline std::error_code make_error_code(codec_errc rule, packet_type packet,
                                       unsigned detail = 0) noexcept {
    return {static_cast<int>(static_cast<unsigned>(rule) | (static_cast<unsigned>(packet) << 8) |
                             ((detail & 0xFF) << 16)),
            codec_category()};
}

inline std::error_condition make_error_condition(codec_errc rule) noexcept {
    return {static_cast<int>(rule), codec_rule_category()};
}

/// The rule an error from the codec is about.
inline codec_errc rule_of(const std::error_code& ec) noexcept {
    return static_cast<codec_errc>(ec.value() & 0xFF);
}

/// The packet type an error from the codec is about.
inline packet_type packet_of(const std::error_code& ec) noexcept {
    return static_cast<packet_type>((ec.value() >> 8) & 0xFF);
}

/// A rule found broken during decoding or encoding, with its detail byte;
/// becomes a std::error_code once the packet type is known. Empty means OK.
struct fault {
    codec_errc rule{};
    std::uint8_t detail = 0;

    constexpr fault() noexcept = default;
    constexpr fault(codec_errc r, std::uint8_t d = 0) noexcept : rule(r), detail(d) {}
    constexpr explicit operator bool() const noexcept { return rule != codec_errc{}; }
    std::error_code in(packet_type packet) const noexcept {
        return make_error_code(rule, packet, detail);
    }
};

} // namespace ctmqtt

template <>
struct std::is_error_condition_enum<ctmqtt::codec_errc> : std::true_type {};
