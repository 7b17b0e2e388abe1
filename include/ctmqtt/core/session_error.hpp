// Session errors: what the protocol engine reports when a connection is
// refused, the server breaks the protocol, a limit is hit or the connection
// dies. Like codec errors, each value packs the rule and a detail byte (a
// reason code), so making one never allocates, and the message says what
// happened and cites the specification:
//   "connection refused: Bad User Name or Password (CONNACK 0x86)".
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

#include <ctmqtt/core/error.hpp>
#include <ctmqtt/core/reason_codes.hpp>

namespace ctmqtt {

enum class session_errc : std::uint8_t {
    connection_refused = 1, ///< CONNACK refused; detail: reason or return code
    connection_refused_v3,  ///< 3.1/3.1.1 return code in detail
    not_connected,          ///< an operation that needs a connection
    already_connecting,     ///< connect() while a connection is open
    keep_alive_timeout,     ///< nothing from the server within 1.5 × keep alive
    server_disconnected,    ///< the server sent DISCONNECT; detail: reason code
    connection_lost,        ///< the transport closed
    malformed_packet,       ///< the server sent a malformed packet (see the log for which)
    unexpected_packet, ///< a packet the client never receives, or one out of order; detail: type
    unknown_packet_id, ///< an acknowledgement for no packet in flight; detail: type
    receive_maximum_exceeded,  ///< the server sent more QoS>0 PUBLISHes than we allow
    topic_alias_invalid,       ///< an inbound alias of 0, above our maximum, or unknown
    packet_too_large,          ///< inbound above our maximum packet size
    outbound_packet_too_large, ///< outbound above the server's maximum packet size
    send_quota_exhausted, ///< the server's Receive Maximum is reached: wait for an acknowledgement
    packet_ids_exhausted, ///< every packet identifier is in use
    qos_not_supported,    ///< above the server's Maximum QoS
    retain_not_supported, ///< retain with Retain Available 0
    message_expired,      ///< the Message Expiry Interval ran out before delivery
    publish_refused,      ///< PUBACK/PUBREC with an error reason code; detail: reason
    subscription_identifiers_not_supported,
    shared_subscriptions_not_supported,
    wildcard_subscriptions_not_supported,
    authentication_failed, ///< an AUTH exchange the authenticator rejected
    session_expired,       ///< the server has no session (Session Present 0) and kept none of ours
    subscription_identifier_in_publish, ///< a client's PUBLISH carried a Subscription Identifier
    outbound_topic_alias_invalid,       ///< a Topic Alias above the server's Topic Alias Maximum
};

namespace detail {

inline std::string session_rule_message(session_errc e, unsigned value) {
    const auto hex = [&] { return detail::hex_byte(value); };
    switch (e) {
    case session_errc::connection_refused:
        return "connection refused: " +
               std::string{to_string(packet_type::connack, static_cast<std::uint8_t>(value))} +
               " (CONNACK " + hex() + ")";
    case session_errc::connection_refused_v3: {
        std::string text{to_string(static_cast<connect_return_code>(value))};
        const std::string prefix = "Connection Refused, "; // the table's wording; said once already
        if (text.starts_with(prefix))
            text.erase(0, prefix.size());
        return "connection refused: " + text + " (CONNACK return code " + std::to_string(value) +
               ")";
    }
    case session_errc::not_connected: return "not connected";
    case session_errc::already_connecting: return "a connection is already open or being opened";
    case session_errc::keep_alive_timeout:
        return "no packet from the server within 1.5 times the keep alive (MQTT 5 §3.1.2.10)";
    case session_errc::server_disconnected:
        return "the server disconnected: " +
               std::string{to_string(packet_type::disconnect, static_cast<std::uint8_t>(value))} +
               " (DISCONNECT " + hex() + ")";
    case session_errc::connection_lost: return "the connection was lost";
    case session_errc::malformed_packet:
        return "the server sent a malformed packet (DISCONNECT 0x81)";
    case session_errc::unexpected_packet:
        return "the server sent a " + std::string{to_string(static_cast<packet_type>(value))} +
               " packet where none may come (protocol error, DISCONNECT 0x82)";
    case session_errc::unknown_packet_id:
        return "the server acknowledged a packet identifier not in use: " +
               std::string{to_string(static_cast<packet_type>(value))} +
               " (protocol error, DISCONNECT 0x82)";
    case session_errc::receive_maximum_exceeded:
        return "the server sent more unacknowledged QoS 1/2 messages than our Receive Maximum "
               "[MQTT-3.3.4-9] "
               "(DISCONNECT 0x93)";
    case session_errc::topic_alias_invalid:
        return "the server used a topic alias of 0, above our Topic Alias Maximum, or never set "
               "(MQTT 5 §3.3.2.3.4, DISCONNECT 0x94)";
    case session_errc::packet_too_large:
        return "the server sent a packet larger than our Maximum Packet Size [MQTT-3.1.2-24] "
               "(DISCONNECT 0x95)";
    case session_errc::outbound_packet_too_large:
        return "packet larger than the server's Maximum Packet Size [MQTT-3.2.2-15]";
    case session_errc::send_quota_exhausted:
        return "the server's Receive Maximum is reached: no more QoS 1/2 messages until one is "
               "acknowledged "
               "[MQTT-4.9.0-2]";
    case session_errc::packet_ids_exhausted: return "every packet identifier is in use";
    case session_errc::qos_not_supported:
        return "QoS above the server's Maximum QoS [MQTT-3.2.2-11]";
    case session_errc::retain_not_supported:
        return "retain is not available on this server [MQTT-3.2.2-14]";
    case session_errc::message_expired:
        return "the message expired before it could be delivered (MQTT 5 §3.3.2.3.3)";
    case session_errc::publish_refused:
        return "the server refused the message: " +
               std::string{to_string(packet_type::puback, static_cast<std::uint8_t>(value))} +
               " (" + hex() + ")";
    case session_errc::subscription_identifiers_not_supported:
        return "the server does not support subscription identifiers (MQTT 5 §3.2.2.3.12)";
    case session_errc::shared_subscriptions_not_supported:
        return "the server does not support shared subscriptions (MQTT 5 §3.2.2.3.13)";
    case session_errc::wildcard_subscriptions_not_supported:
        return "the server does not support wildcard subscriptions (MQTT 5 §3.2.2.3.11)";
    case session_errc::authentication_failed: return "authentication failed (AUTH)";
    case session_errc::subscription_identifier_in_publish:
        return "a client's PUBLISH must not carry a Subscription Identifier [MQTT-3.3.4-6]";
    case session_errc::outbound_topic_alias_invalid:
        return "Topic Alias above the server's Topic Alias Maximum [MQTT-3.3.2-9] [MQTT-3.2.2-18]";
    case session_errc::session_expired:
        return "the server kept no session state for this client (Session Present 0)";
    }
    return "unknown session error";
}

class session_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "ctmqtt.session"; }
    std::string message(int v) const override {
        return session_rule_message(static_cast<session_errc>(v & 0xFF),
                                    static_cast<unsigned>((v >> 8) & 0xFF));
    }
    std::error_condition default_error_condition(int v) const noexcept override {
        return {v & 0xFF, *this};
    }
};

} // namespace detail

inline const std::error_category& session_category() noexcept {
    static const detail::session_category_impl category;
    return category;
}

inline std::error_code make_error_code(session_errc e, unsigned detail = 0) noexcept {
    return {static_cast<int>(static_cast<unsigned>(e) | ((detail & 0xFF) << 8)),
            session_category()};
}

inline std::error_condition make_error_condition(session_errc e) noexcept {
    return {static_cast<int>(e), session_category()};
}

} // namespace ctmqtt

template <>
struct std::is_error_condition_enum<ctmqtt::session_errc> : std::true_type {};
