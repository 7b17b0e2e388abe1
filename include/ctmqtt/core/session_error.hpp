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
    authentication_failed, ///< the authenticator rejected the server; detail: 1 challenge, 2
                           ///< success
    session_expired,       ///< the server has no session (Session Present 0) and kept none of ours
    subscription_identifier_in_publish, ///< a client's PUBLISH carried a Subscription Identifier
    outbound_topic_alias_invalid, ///< a Topic Alias above the server's maximum (detail 0) or unset
                                  ///< (1)
    session_present_unexpected,   ///< Session Present 1 answering Clean Start 1
    reason_code_count_mismatch,   ///< SUBACK/UNSUBACK without one code per filter; detail: type
    auth_without_method, ///< AUTH, or a CONNACK method, though CONNECT had none; detail: type
    authentication_method_mismatch, ///< AUTH/CONNACK without CONNECT's method; detail: type
    unexpected_auth,              ///< AUTH outside an authentication exchange; detail: reason code
    reauthentication_unavailable, ///< no authenticator (detail 0) or method (1) in CONNECT
    authentication_in_progress,   ///< reauthenticate() while one is under way
    restore_refused,              ///< restore_in_flight() refused; detail: why (1-5)
    session_expiry_in_server_disconnect, ///< the server's DISCONNECT set Session Expiry Interval
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
        return "no packet from the server within 1.5 times the keep alive: connection closed "
               "(MQTT 5 §3.1.2.10)";
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
    case session_errc::authentication_failed:
        switch (value) {
        case 1:
            return "authentication failed: the authenticator rejected the server's AUTH Continue "
                   "authentication (MQTT 5 §4.12, DISCONNECT 0x80)";
        case 2:
            return "authentication failed: the authenticator rejected the server's Success "
                   "(CONNACK or AUTH 0x00) (MQTT 5 §4.12, DISCONNECT 0x80)";
        default: return "authentication failed (AUTH)";
        }
    case session_errc::subscription_identifier_in_publish:
        return "a client's PUBLISH must not carry a Subscription Identifier [MQTT-3.3.4-6]";
    case session_errc::outbound_topic_alias_invalid:
        if (value == 1)
            return "Topic Alias with an empty topic, but this connection never set that alias "
                   "(MQTT 5 §3.3.2.3.4)";
        return "Topic Alias above the server's Topic Alias Maximum [MQTT-3.3.2-9] [MQTT-3.2.2-18]";
    case session_errc::session_present_unexpected:
        return "the server answered Clean Start 1 with Session Present 1, but the client has no "
               "session state [MQTT-3.2.2-4] [MQTT-3.2.2-2] (3.1.1: [MQTT-3.2.2-1]; protocol "
               "error, DISCONNECT 0x82)";
    case session_errc::reason_code_count_mismatch:
        if (static_cast<packet_type>(value) == packet_type::unsuback)
            return "the server's UNSUBACK does not carry one reason code per topic filter of the "
                   "UNSUBSCRIBE [MQTT-3.11.3-1] (protocol error, DISCONNECT 0x82)";
        return "the server's SUBACK does not carry one reason code per topic filter of the "
               "SUBSCRIBE [MQTT-3.8.4-6] [MQTT-3.9.3-1] (3.1.1: [MQTT-3.8.4-5]; protocol error, "
               "DISCONNECT 0x82)";
    case session_errc::auth_without_method:
        if (static_cast<packet_type>(value) == packet_type::connack)
            return "the server's CONNACK carries an Authentication Method, but CONNECT carried "
                   "none [MQTT-4.12.0-6] (protocol error, DISCONNECT 0x82)";
        return "the server sent AUTH, but CONNECT carried no Authentication Method "
               "[MQTT-4.12.0-6] (protocol error, DISCONNECT 0x82)";
    case session_errc::authentication_method_mismatch:
        return "the server's " + std::string{to_string(static_cast<packet_type>(value))} +
               " does not carry the Authentication Method of CONNECT [MQTT-4.12.0-5] (protocol "
               "error, DISCONNECT 0x82)";
    case session_errc::unexpected_auth:
        return "the server sent AUTH " +
               std::string{to_string(packet_type::auth, static_cast<std::uint8_t>(value))} + " (" +
               hex() +
               ") outside an authentication exchange it may end or continue (MQTT 5 "
               "§4.12; protocol error, DISCONNECT 0x82)";
    case session_errc::reauthentication_unavailable:
        if (value == 1)
            return "AUTH may only be sent when CONNECT carried an Authentication Method "
                   "[MQTT-4.12.0-7]";
        return "re-authentication needs the authenticator whose Authentication Method CONNECT "
               "carried [MQTT-4.12.1-1]";
    case session_errc::authentication_in_progress:
        return "a re-authentication is already in progress (MQTT 5 §4.12.1)";
    case session_errc::session_expiry_in_server_disconnect:
        return "the server's DISCONNECT carries a Session Expiry Interval [MQTT-3.14.2-2] "
               "(protocol error, DISCONNECT 0x82)";
    case session_errc::restore_refused: {
        const char* why = "";
        switch (value) {
        case 1: why = "session state is restored only while disconnected"; break;
        case 2: why = "packet identifier 0 [MQTT-2.2.1-3]"; break;
        case 3: why = "the packet identifier is already in flight"; break;
        case 4: why = "the packet is not a QoS 1/2 PUBLISH with that packet identifier"; break;
        case 5:
            why = "the PUBLISH has a Topic Alias or no topic, which a new connection cannot "
                  "resolve [MQTT-3.3.2-7]";
            break;
        default: break;
        }
        return std::string{"cannot restore the in-flight packet: "} + why;
    }
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
