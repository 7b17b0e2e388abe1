// Human text for connection and publish results: what every MQTT 3.1/3.1.1
// CONNACK return code and every MQTT 5 reason code means (as each packet uses
// it), what a connect or publish error says, and whether a publish got
// through. The ReMoni gateway's connection_rc_str / publish_rc_str /
// publish_rc_bool and the DL-7450's ErrorDescription, for any ctmqtt client.
//
//     describe_connack(protocol_version::v3_1_1, 5)
//       -> "Connection Refused, not authorized (CONNACK return code 5): the
//           client is not authorised to connect"
//     describe_reason_code(packet_type::puback, 0x97)
//       -> "Quota exceeded (PUBACK 0x97): an implementation or administrative
//           quota is exceeded"
//     describe_publish_result(ec)   // the error a publish completed with
//     was_sent(ec)                  // true when the broker took the message
//
// The names come from core/reason_codes.hpp (its table is the one list of
// codes); this header adds what each code means. Standard library and
// core/ only: no Asio.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <ctmqtt/core/error.hpp>
#include <ctmqtt/core/reason_codes.hpp>
#include <ctmqtt/core/session_error.hpp>
#include <ctmqtt/core/types.hpp>

namespace ctmqtt {

namespace detail {

struct reason_code_meaning_row {
    std::uint8_t value;
    std::uint16_t packets; ///< bit n: the meaning as packet_type n uses the code
    std::string_view meaning;
};

// What each MQTT 5 reason code means, per packet where the meaning differs
// (MQTT 5 §3.2.2.2, §3.4.2.1, §3.5.2.1, §3.6.2.1, §3.7.2.1, §3.9.3, §3.11.3,
// §3.14.2.1, §3.15.2.1). The first row with the value and the packet wins.
// clang-format off (one row a line)
inline constexpr auto reason_code_meanings = [] {
    using enum packet_type;
    return std::to_array<reason_code_meaning_row>({
        {0x00, packets({connack}), "the connection is accepted"},
        {0x00, packets({puback, pubrec}), "the message is accepted"},
        {0x00, packets({pubrel}), "the message is released"},
        {0x00, packets({pubcomp}), "the QoS 2 exchange is complete"},
        {0x00, packets({unsuback}), "the subscription is deleted"},
        {0x00, packets({auth}), "the authentication succeeded"},
        {0x00, packets({disconnect}),
         "the connection is closed normally; the will is not published"},
        {0x00, packets({suback}), "the subscription is accepted with a maximum QoS of 0"},
        {0x01, packets({suback}), "the subscription is accepted with a maximum QoS of 1"},
        {0x02, packets({suback}), "the subscription is accepted with a maximum QoS of 2"},
        {0x04, packets({disconnect}),
         "the client closes the connection and wants its will published"},
        {0x10, packets({puback, pubrec}),
         "the message is accepted, but nobody subscribes to its topic"},
        {0x11, packets({unsuback}), "no subscription to this topic filter existed"},
        {0x18, packets({auth}), "the authentication goes on with another step"},
        {0x19, packets({auth}), "the client starts a re-authentication"},
        {0x80, packets({connack}), "the server refuses the connection and does not say why"},
        {0x80, packets({puback, pubrec}), "the receiver refuses the message and does not say why"},
        {0x80, packets({suback}), "the server refuses the subscription and does not say why"},
        {0x80, packets({unsuback}), "the server could not unsubscribe and does not say why"},
        {0x80, packets({disconnect}), "the connection is closed and the sender does not say why"},
        {0x81, packets({connack}), "the server could not parse the CONNECT packet"},
        {0x81, packets({disconnect}), "the sender received a packet it could not parse"},
        {0x82, packets({connack}), "the CONNECT packet broke the protocol"},
        {0x82, packets({disconnect}), "the sender received a packet that broke the protocol"},
        {0x83, packets({connack}), "the CONNECT is valid, but the server does not accept it"},
        {0x83, packets({puback, pubrec}),
         "the message is valid, but the receiver does not accept it"},
        {0x83, packets({suback}), "the SUBSCRIBE is valid, but the server does not accept it"},
        {0x83, packets({unsuback}), "the UNSUBSCRIBE is valid, but the server does not accept it"},
        {0x83, packets({disconnect}), "the sender received a valid packet it does not accept"},
        {0x84, packets({connack}),
         "the server does not speak the MQTT version the client asked for"},
        {0x85, packets({connack}),
         "the client identifier is well-formed, but the server does not allow it"},
        {0x86, packets({connack}), "the server does not accept the user name or password"},
        {0x87, packets({connack}), "the client is not authorised to connect"},
        {0x87, packets({puback, pubrec}), "the client is not authorised to publish this message"},
        {0x87, packets({suback}), "the client is not authorised to make this subscription"},
        {0x87, packets({unsuback}), "the client is not authorised to unsubscribe"},
        {0x87, packets({disconnect}), "the request is not authorised"},
        {0x88, packets({connack}), "the server is not available"},
        {0x89, packets({connack, disconnect}), "the server is busy; try again later"},
        {0x8A, packets({connack}), "the client is banned by an administrator"},
        {0x8B, packets({disconnect}), "the server is shutting down"},
        {0x8C, packets({connack}),
         "the authentication method is not supported or is not the one in use"},
        {0x8C, packets({disconnect}), "the authentication method is not the one in use"},
        {0x8D, packets({disconnect}), "no packet came within 1.5 times the keep alive"},
        {0x8E, packets({disconnect}),
         "another connection with the same client identifier took over the session"},
        {0x8F, packets({suback, unsuback, disconnect}),
         "the topic filter is well-formed, but the server does not accept it"},
        {0x90, packets({connack}),
         "the will topic is well-formed, but the server does not accept it"},
        {0x90, packets({puback, pubrec, disconnect}),
         "the topic name is well-formed, but the receiver does not accept it"},
        {0x91, packets({puback, pubrec, suback, unsuback}),
         "the packet identifier is already in use (the two sides' session states differ)"},
        {0x92, packets({pubrel, pubcomp}),
         "the packet identifier is not known (the two sides' session states differ)"},
        {0x93, packets({disconnect}),
         "more QoS 1/2 messages arrived at once than the Receive Maximum allows"},
        {0x94, packets({disconnect}),
         "a topic alias is 0, above the Topic Alias Maximum, or never set"},
        {0x95, packets({connack}), "the CONNECT packet is larger than the server accepts"},
        {0x95, packets({disconnect}), "a packet is larger than the Maximum Packet Size"},
        {0x96, packets({disconnect}), "messages arrive faster than the receiver accepts them"},
        {0x97, packets({connack, puback, pubrec, suback, disconnect}),
         "an implementation or administrative quota is exceeded"},
        {0x98, packets({disconnect}), "an administrator closed the connection"},
        {0x99, packets({connack}),
         "the will's payload does not match its Payload Format Indicator"},
        {0x99, packets({puback, pubrec, disconnect}),
         "the payload does not match its Payload Format Indicator"},
        {0x9A, packets({connack}),
         "the will is retained, but the server does not support retained messages"},
        {0x9A, packets({disconnect}),
         "a message is retained, but the server does not support retained messages"},
        {0x9B, packets({connack}), "the will's QoS is above what the server supports"},
        {0x9B, packets({disconnect}), "a message's QoS is above the server's Maximum QoS"},
        {0x9C, packets({connack, disconnect}), "the client should use another server for now"},
        {0x9D, packets({connack, disconnect}),
         "the server has moved: the client should use another server from now on"},
        {0x9E, packets({suback, disconnect}), "the server does not support shared subscriptions"},
        {0x9F, packets({connack, disconnect}),
         "the client connects more often than the server allows"},
        {0xA0, packets({disconnect}), "the connection has reached its maximum connect time"},
        {0xA1, packets({suback, disconnect}),
         "the server does not support subscription identifiers"},
        {0xA2, packets({suback, disconnect}), "the server does not support wildcard subscriptions"},
    });
}();

// What the 3.1/3.1.1 CONNACK return codes 0-5 mean (3.1.1 §3.2.2.3).
inline constexpr std::array<std::string_view, 6> connack_return_code_meanings = {
    "the connection is accepted",
    "the server does not support the MQTT protocol level the client asked for",
    "the client identifier is correct UTF-8, but the server does not allow it",
    "the network connection is up, but the MQTT service is unavailable",
    "the user name or password is malformed or not accepted",
    "the client is not authorised to connect",
};
// clang-format on

constexpr std::string_view find_meaning(packet_type packet, std::uint8_t value) noexcept {
    const auto bit = static_cast<std::uint16_t>(1u << static_cast<unsigned>(packet));
    for (const auto& row : reason_code_meanings)
        if (row.value == value && (row.packets & bit) != 0)
            return row.meaning;
    return {};
}

inline std::string hex_code(std::uint8_t v) {
    return "0x" + hex_byte(v);
}

} // namespace detail

/// What an MQTT 5 reason code means in `packet` ("the client is not
/// authorised to connect"); empty when the packet may not carry it.
constexpr std::string_view reason_code_meaning(packet_type packet, std::uint8_t value) noexcept {
    if (!reason_code_allowed(packet, value))
        return {};
    return detail::find_meaning(packet, value);
}

/// What a 3.1/3.1.1 CONNACK return code means; 6-255 are reserved.
constexpr std::string_view connack_return_code_meaning(std::uint8_t code) noexcept {
    if (code > 5)
        return "a reserved return code (3.1.1 §3.2.2.3): the connection is refused";
    return detail::connack_return_code_meanings[code];
}

/// "Not authorized (PUBACK 0x87): the client is not authorised to publish
/// this message"; a code the packet may not carry says so.
inline std::string describe_reason_code(packet_type packet, std::uint8_t value) {
    const auto where = " (" + std::string{to_string(packet)} + " " + detail::hex_byte(value) + ")";
    const auto meaning = reason_code_meaning(packet, value);
    if (meaning.empty())
        return "Unknown reason code" + where + ": not a reason code this packet may carry";
    return std::string{to_string(packet, value)} + where + ": " + std::string{meaning};
}

/// A CONNACK's code as text: a 3.1/3.1.1 return code ("Connection Refused,
/// not authorized (CONNACK return code 5): the client is not authorised to
/// connect") or an MQTT 5 reason code.
inline std::string describe_connack(protocol_version version, std::uint8_t code) {
    if (version == protocol_version::v5)
        return describe_reason_code(packet_type::connack, code);
    const auto name = code <= 5 ? to_string(static_cast<connect_return_code>(code))
                                : std::string_view{"Connection Refused, reserved return code"};
    return std::string{name} + " (CONNACK return code " + std::to_string(code) +
           "): " + std::string{connack_return_code_meaning(code)};
}

/// The CONNACK code of a refused connection (session_errc::connection_refused
/// or connection_refused_v3): the 3.1/3.1.1 return code (1-5) or the MQTT 5
/// reason code (0x80 and up); the ranges do not overlap. nullopt for any
/// other error.
inline std::optional<std::uint8_t> refusal_code(std::error_code ec) noexcept {
    if (ec.category() != session_category())
        return std::nullopt;
    if (ec != session_errc::connection_refused && ec != session_errc::connection_refused_v3)
        return std::nullopt;
    // session_error.hpp packs the CONNACK code as the detail byte (bits 8-15).
    return static_cast<std::uint8_t>((ec.value() >> 8) & 0xFF);
}

/// A connect result as text: "Connection accepted", the CONNACK's code
/// described (describe_connack), or the error's own message (the network,
/// TLS, a timeout).
inline std::string describe_connect_result(std::error_code ec) {
    if (!ec)
        return "Connection accepted";
    if (const auto code = refusal_code(ec)) {
        const bool v5 = ec == session_errc::connection_refused;
        return describe_connack(v5 ? protocol_version::v5 : protocol_version::v3_1_1, *code);
    }
    return ec.message();
}

/// True when a publish completed without error: written to the connection
/// (QoS 0) or acknowledged by the broker with a success code (QoS 1 and 2).
/// ReMoni's publish_rc_bool.
inline bool was_sent(std::error_code ec) noexcept {
    return !ec;
}

/// What became of a published message, from the error its publish completed
/// with: "Message sent"; "Message refused by the broker: Quota exceeded
/// (PUBACK 0x97): ..." for a PUBACK/PUBREC/PUBCOMP error code; otherwise
/// "Message not sent: " and the error's message (the offline queue was full,
/// the client was disconnected or gave up, the message expired, ...).
inline std::string describe_publish_result(std::error_code ec) {
    if (!ec)
        return "Message sent";
    if (ec.category() == session_category() && ec == session_errc::publish_refused) {
        const auto code = static_cast<std::uint8_t>((ec.value() >> 8) & 0xFF);
        // PUBACK and PUBREC carry the same codes; PUBCOMP's 0x92 ends a QoS 2 exchange too.
        const auto packet = reason_code_allowed(packet_type::puback, code) ? packet_type::puback
                                                                           : packet_type::pubcomp;
        return "Message refused by the broker: " + describe_reason_code(packet, code);
    }
    return "Message not sent: " + ec.message();
}

} // namespace ctmqtt
