// Every well-formedness rule the codec enforces, fed as bytes to the decoder
// (and, below, as structs to the encoder), with the error it must give: the
// rule, the packet it names, and a message citing the specification.
#include <array>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <ctmqtt/core.hpp>

#include "hex.hpp"

using namespace ctmqtt;
using ctmqtt_test::hex;

namespace {

constexpr auto v3 = protocol_version::v3_1;
constexpr auto v4 = protocol_version::v3_1_1;
constexpr auto v5 = protocol_version::v5;

struct bad_input {
    const char* what;
    protocol_version version;
    const char* bytes;
    codec_errc rule;
    const char* message; ///< a substring the error message must contain
};

// clang-format off
const bad_input bad_inputs[] = {
    // Fixed header and remaining length
    {"remaining length of 5 bytes", v4, "30 FF FF FF FF 7F", codec_errc::varint_too_long, "PUBLISH: variable byte integer longer than 4 bytes"},
    {"remaining length not in shortest form", v5, "C0 80 00", codec_errc::varint_not_minimal, "[MQTT-1.5.5-1]"},
    {"remaining length beyond the data", v4, "30 0A 00 03 61 2F 62", codec_errc::incomplete_packet, "PUBLISH: remaining length goes beyond the data"},
    {"reserved packet type 0", v4, "00 00", codec_errc::reserved_packet_type, "reserved packet type 0"},
    {"packet type 15 before MQTT 5", v4, "F0 00", codec_errc::reserved_packet_type, "reserved packet type 15"},
    {"PUBREL flags 0000", v5, "60 02 00 01", codec_errc::fixed_header_flags, "PUBREL: fixed header flags must be 0010 [MQTT-3.6.1-1]"},
    {"SUBSCRIBE flags 0000", v4, "80 06 00 01 00 01 61 00", codec_errc::fixed_header_flags, "SUBSCRIBE: fixed header flags must be 0010 [MQTT-3.8.1-1]"},
    {"UNSUBSCRIBE flags 0011", v4, "A3 05 00 01 00 01 61", codec_errc::fixed_header_flags, "UNSUBSCRIBE: fixed header flags must be 0010 [MQTT-3.10.1-1]"},
    {"PUBACK flags 0001", v4, "41 02 00 01", codec_errc::fixed_header_flags, "PUBACK: fixed header flags must be 0000"},
    {"PINGREQ flags 0001", v4, "C1 00", codec_errc::fixed_header_flags, "PINGREQ: fixed header flags"},
    {"DISCONNECT flags 0010", v5, "E2 00", codec_errc::fixed_header_flags, "[MQTT-3.14.1-1]"},
    {"AUTH flags 0001", v5, "F1 00", codec_errc::fixed_header_flags, "[MQTT-3.15.1-1]"},
    {"CONNECT flags 0001", v4, "11 0D 00 04 4D 51 54 54 04 02 00 3C 00 01 61", codec_errc::fixed_header_flags, "CONNECT: fixed header flags"},
    {"PINGREQ with a body", v4, "C0 01 00", codec_errc::remaining_length_not_zero, "PINGREQ: remaining length must be 0"},
    {"PINGRESP with a body", v5, "D0 02 00 00", codec_errc::remaining_length_not_zero, "PINGRESP: remaining length must be 0"},
    {"3.1.1 DISCONNECT with a body", v4, "E0 01 00", codec_errc::remaining_length_not_zero, "DISCONNECT: remaining length must be 0"},
    {"3.1.1 PUBACK with 3 bytes", v4, "40 03 00 01 00", codec_errc::trailing_bytes, "PUBACK: bytes left over"},
    {"3.1.1 UNSUBACK with a reason code", v4, "B0 03 00 01 00", codec_errc::trailing_bytes, "UNSUBACK: bytes left over"},

    // PUBLISH
    {"QoS 3", v4, "36 05 00 01 61 00 01", codec_errc::publish_qos_invalid, "PUBLISH: QoS 3 is not allowed [MQTT-3.3.1-4]"},
    {"DUP on QoS 0", v4, "38 03 00 01 61", codec_errc::dup_on_qos_0, "PUBLISH: DUP flag set on a QoS 0 message [MQTT-3.3.1-2]"},
    {"packet identifier 0 at QoS 1", v4, "32 05 00 01 61 00 00", codec_errc::packet_id_zero, "PUBLISH: packet identifier 0"},
    {"packet identifier 0 at QoS 2", v5, "34 06 00 01 61 00 00 00", codec_errc::packet_id_zero, "[MQTT-2.2.1-3]"},
    {"'+' in the topic name", v4, "30 05 00 03 61 2F 2B", codec_errc::topic_name_wildcard, "PUBLISH: topic name contains a wildcard [MQTT-3.3.2-2]"},
    {"'#' in the topic name", v5, "30 04 00 01 23 00", codec_errc::topic_name_wildcard, "[MQTT-3.3.2-2]"},
    {"empty topic name (3.1.1)", v4, "30 02 00 00", codec_errc::topic_name_empty, "PUBLISH: empty topic name"},
    {"empty topic name without topic alias", v5, "30 03 00 00 00", codec_errc::topic_name_empty, "[MQTT-4.7.3-1]"},
    {"topic alias 0", v5, "30 07 00 01 61 03 23 00 00", codec_errc::property_value, "PUBLISH: property Topic Alias must not be 0 [MQTT-3.3.2-8]"},
    {"payload format indicator 2", v5, "30 06 00 01 61 02 01 02", codec_errc::property_value, "PUBLISH: property Payload Format Indicator must be 0 or 1"},
    {"topic length beyond the packet", v4, "30 03 00 05 61", codec_errc::field_truncated, "PUBLISH: a field runs past the end"},
    {"packet identifier cut off", v4, "32 04 00 01 61 00", codec_errc::field_truncated, "PUBLISH: a field runs past the end"},
    {"overlong UTF-8 in the topic", v4, "30 04 00 02 C0 80", codec_errc::utf8_malformed, "PUBLISH: malformed UTF-8 string [MQTT-1.5.4-1]"},
    {"UTF-16 surrogate in the topic", v4, "30 05 00 03 ED A0 80", codec_errc::utf8_malformed, "malformed UTF-8"},
    {"code point above U+10FFFF in the topic", v5, "30 07 00 04 F4 90 80 80 00", codec_errc::utf8_malformed, "malformed UTF-8"},
    {"truncated UTF-8 sequence in the topic", v4, "30 04 00 02 61 E2", codec_errc::utf8_malformed, "malformed UTF-8"},
    {"U+0000 in the topic", v4, "30 05 00 03 61 00 62", codec_errc::utf8_null, "PUBLISH: UTF-8 string contains U+0000 [MQTT-1.5.4-2]"},

    // Properties
    {"unknown property 0x05", v5, "30 06 00 01 61 02 05 00", codec_errc::property_unknown, "PUBLISH: unknown property identifier 0x05"},
    {"unknown property 0x7F", v5, "30 05 00 01 61 01 7F", codec_errc::property_unknown, "0x7F"},
    {"property id of 5 bytes", v5, "30 09 00 01 61 05 FF FF FF FF 7F", codec_errc::varint_too_long, "PUBLISH: variable byte integer longer than 4 bytes"},
    {"Content Type twice", v5, "30 0C 00 01 61 08 03 00 01 78 03 00 01 79", codec_errc::property_duplicate, "PUBLISH: property Content Type appears more than once"},
    {"Session Expiry Interval in PUBLISH", v5, "30 09 00 01 61 05 11 00 00 00 0A", codec_errc::property_not_allowed, "PUBLISH: property Session Expiry Interval is not allowed in this packet"},
    {"Topic Alias in a will", v5, "10 17 00 04 4D 51 54 54 05 06 00 3C 00 00 01 61 03 23 00 01 00 01 74 00 00", codec_errc::property_not_allowed, "CONNECT: property Topic Alias is not allowed"},
    {"Will Delay Interval in CONNECT properties", v5, "10 12 00 04 4D 51 54 54 05 02 00 3C 05 18 00 00 00 01 00 00", codec_errc::property_not_allowed, "CONNECT: property Will Delay Interval is not allowed"},
    {"property length beyond the packet", v5, "30 06 00 01 61 05 23 00", codec_errc::property_length, "PUBLISH: property length goes beyond the packet"},
    {"property value cut off", v5, "30 06 00 01 61 02 23 00", codec_errc::field_truncated, "PUBLISH: a field runs past the end"},
    {"malformed UTF-8 in a user property name", v5, "30 0C 00 01 61 08 26 00 01 FF 00 01 62 00", codec_errc::utf8_malformed, "PUBLISH: malformed UTF-8"},
    {"U+0000 in a user property value", v5, "30 0B 00 01 61 07 26 00 01 61 00 01 00", codec_errc::utf8_null, "U+0000"},
    {"malformed UTF-8 in Content Type", v5, "30 0A 00 01 61 06 03 00 03 61 ED BF", codec_errc::utf8_malformed, "PUBLISH: malformed UTF-8"},
    {"wildcard in Response Topic", v5, "30 0A 00 01 61 06 08 00 03 72 2F 2B", codec_errc::property_value, "PUBLISH: property Response Topic must be a topic name: not empty [MQTT-4.7.3-1], no wildcards [MQTT-3.3.2-14]"},
    {"empty Response Topic", v5, "30 07 00 01 74 03 08 00 00", codec_errc::property_value, "PUBLISH: property Response Topic must be a topic name: not empty"},
    {"wildcard in a will's Response Topic", v5, "10 18 00 04 4D 51 54 54 05 06 00 3C 00 00 01 61 04 08 00 01 23 00 01 74 00 00", codec_errc::property_value, "CONNECT: property Response Topic must be a topic name"},
    {"subscription identifier 0", v5, "82 09 00 01 02 0B 00 00 01 61 00", codec_errc::property_value, "SUBSCRIBE: property Subscription Identifier must not be 0"},
    {"subscription identifier twice in SUBSCRIBE", v5, "82 0B 00 01 04 0B 01 0B 02 00 01 61 00", codec_errc::property_duplicate, "SUBSCRIBE: property Subscription Identifier appears more than once"},
    {"Receive Maximum 0", v5, "10 11 00 04 4D 51 54 54 05 02 00 3C 03 21 00 00 00 01 61", codec_errc::property_value, "CONNECT: property Receive Maximum must not be 0"},
    {"Maximum Packet Size 0", v5, "20 08 00 00 05 27 00 00 00 00", codec_errc::property_value, "CONNACK: property Maximum Packet Size must not be 0"},
    {"Request Problem Information 2", v5, "10 10 00 04 4D 51 54 54 05 02 00 3C 02 17 02 00 01 61", codec_errc::property_value, "CONNECT: property Request Problem Information must be 0 or 1"},
    {"Maximum QoS 2", v5, "20 05 00 00 02 24 02", codec_errc::property_value, "CONNACK: property Maximum QoS must be 0 or 1"},
    {"Retain Available 3", v5, "20 05 00 00 02 25 03", codec_errc::property_value, "CONNACK: property Retain Available must be 0 or 1"},

    // Reason codes
    {"PUBACK reason 0x04", v5, "40 03 00 01 04", codec_errc::reason_code_not_allowed, "PUBACK: reason code 0x04 is not allowed in this packet [MQTT-3.4.2-1]"},
    {"PUBREC reason 0x92", v5, "50 03 00 01 92", codec_errc::reason_code_not_allowed, "PUBREC: reason code 0x92 is not allowed in this packet [MQTT-3.5.2-1]"},
    {"PUBCOMP reason 0x10", v5, "70 03 00 01 10", codec_errc::reason_code_not_allowed, "PUBCOMP: reason code 0x10 is not allowed in this packet [MQTT-3.7.2-1]"},
    {"PUBREL reason 0x10", v5, "62 03 00 01 10", codec_errc::reason_code_not_allowed, "PUBREL: reason code 0x10 is not allowed in this packet [MQTT-3.6.2-1]"},
    {"CONNACK reason 0x10", v5, "20 03 00 10 00", codec_errc::reason_code_not_allowed, "CONNACK: reason code 0x10 is not allowed in this packet [MQTT-3.2.2-8]"},
    {"SUBACK reason 0x92", v5, "90 04 00 01 00 92", codec_errc::reason_code_not_allowed, "SUBACK: reason code 0x92 is not allowed in this packet [MQTT-3.9.3-2]"},
    {"3.1.1 SUBACK return code 0x03", v4, "90 03 00 01 03", codec_errc::reason_code_not_allowed, "SUBACK: reason code 0x03"},
    {"3.1.1 SUBACK return code 0x87", v4, "90 03 00 01 87", codec_errc::reason_code_not_allowed, "SUBACK: reason code 0x87"},
    {"3.1 SUBACK failure 0x80", v3, "90 03 00 01 80", codec_errc::reason_code_not_allowed, "SUBACK: reason code 0x80"},
    {"UNSUBACK reason 0x01", v5, "B0 04 00 01 00 01", codec_errc::reason_code_not_allowed, "[MQTT-3.11.3-2]"},
    {"DISCONNECT reason 0x10", v5, "E0 01 10", codec_errc::reason_code_not_allowed, "DISCONNECT: reason code 0x10 is not allowed in this packet [MQTT-3.14.2-1]"},
    {"AUTH reason 0x80", v5, "F0 01 80", codec_errc::reason_code_not_allowed, "AUTH: reason code 0x80 is not allowed in this packet [MQTT-3.15.2-1]"},

    // CONNECT
    {"protocol name MQTX", v4, "10 0D 00 04 4D 51 54 58 04 02 00 3C 00 01 61", codec_errc::protocol_name, "CONNECT: protocol name must be \"MQTT\""},
    {"protocol level 6", v5, "10 0D 00 04 4D 51 54 54 06 02 00 3C 00 01 61", codec_errc::protocol_level, "CONNECT: unsupported protocol level 6 [MQTT-3.1.2-2]"},
    {"MQIsdp with level 4", v3, "10 0F 00 06 4D 51 49 73 64 70 04 02 00 3C 00 01 61", codec_errc::protocol_level, "unsupported protocol level 4"},
    {"reserved connect flag", v4, "10 0D 00 04 4D 51 54 54 04 03 00 3C 00 01 61", codec_errc::connect_reserved_flag, "CONNECT: reserved connect flag must be 0 [MQTT-3.1.2-3]"},
    {"will QoS without will flag", v4, "10 0D 00 04 4D 51 54 54 04 0A 00 3C 00 01 61", codec_errc::will_flags_without_will, "CONNECT: will QoS or will retain set without the will flag"},
    {"will retain without will flag", v5, "10 0E 00 04 4D 51 54 54 05 22 00 3C 00 00 01 61", codec_errc::will_flags_without_will, "[MQTT-3.1.2-13]"},
    {"will QoS 3", v4, "10 13 00 04 4D 51 54 54 04 1E 00 3C 00 01 61 00 01 74 00 01 78", codec_errc::will_qos_invalid, "CONNECT: will QoS 3 is not allowed [MQTT-3.1.2-12]"},
    {"wildcard in the will topic", v4, "10 13 00 04 4D 51 54 54 04 06 00 3C 00 01 61 00 01 23 00 01 78", codec_errc::topic_name_wildcard, "CONNECT: topic name contains a wildcard"},
    {"password without user name (3.1.1)", v4, "10 10 00 04 4D 51 54 54 04 42 00 3C 00 01 61 00 01 70", codec_errc::password_without_user_name, "CONNECT: password flag set without the user name flag"},
    {"empty client id without clean session (3.1.1)", v4, "10 0C 00 04 4D 51 54 54 04 00 00 3C 00 00", codec_errc::empty_client_id_without_clean_session, "[MQTT-3.1.3-7]"},
    {"3.1 client id of 24 bytes", v3, "10 26 00 06 4D 51 49 73 64 70 03 02 00 3C 00 18 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61", codec_errc::client_identifier_length, "CONNECT: client identifier must be 1 to 23 bytes"},
    {"user name flag without user name", v4, "10 0D 00 04 4D 51 54 54 04 82 00 3C 00 01 61", codec_errc::field_truncated, "CONNECT: a field runs past the end"},
    {"malformed UTF-8 in the client id", v4, "10 0D 00 04 4D 51 54 54 04 02 00 3C 00 01 80", codec_errc::utf8_malformed, "CONNECT: malformed UTF-8"},
    {"malformed UTF-8 in the user name", v4, "10 10 00 04 4D 51 54 54 04 82 00 3C 00 01 61 00 01 C1", codec_errc::utf8_malformed, "CONNECT: malformed UTF-8"},

    // CONNACK
    {"reserved acknowledge flags", v4, "20 02 02 00", codec_errc::connack_reserved_flags, "CONNACK: reserved acknowledge flags must be 0 [MQTT-3.2.2-1]"},
    {"session present on a refusal (3.1.1)", v4, "20 02 01 05", codec_errc::session_present_on_refusal, "CONNACK: session present set on a refused connection"},
    {"session present on a refusal (5.0)", v5, "20 03 01 87 00", codec_errc::session_present_on_refusal, "[MQTT-3.2.2-6]"},
    {"return code 6", v4, "20 02 00 06", codec_errc::return_code_reserved, "CONNACK: return code 6 is reserved"},

    // SUBSCRIBE / UNSUBSCRIBE / acknowledgements
    {"SUBSCRIBE without filters", v4, "82 02 00 01", codec_errc::no_topic_filters, "SUBSCRIBE: no topic filter in the payload"},
    {"SUBSCRIBE without filters (5.0)", v5, "82 03 00 01 00", codec_errc::no_topic_filters, "[MQTT-3.8.3-2]"},
    {"UNSUBSCRIBE without filters", v4, "A2 02 00 01", codec_errc::no_topic_filters, "UNSUBSCRIBE: no topic filter in the payload [MQTT-3.10.3-2]"},
    {"SUBSCRIBE packet identifier 0", v4, "82 06 00 00 00 01 61 00", codec_errc::packet_id_zero, "SUBSCRIBE: packet identifier 0"},
    {"UNSUBSCRIBE packet identifier 0", v4, "A2 05 00 00 00 01 61", codec_errc::packet_id_zero, "UNSUBSCRIBE: packet identifier 0"},
    {"PUBACK packet identifier 0", v4, "40 02 00 00", codec_errc::packet_id_zero, "PUBACK: packet identifier 0"},
    {"PUBREC packet identifier 0", v5, "50 02 00 00", codec_errc::packet_id_zero, "PUBREC: packet identifier 0"},
    {"PUBREL packet identifier 0", v5, "62 02 00 00", codec_errc::packet_id_zero, "PUBREL: packet identifier 0"},
    {"PUBCOMP packet identifier 0", v4, "70 02 00 00", codec_errc::packet_id_zero, "PUBCOMP: packet identifier 0"},
    {"SUBACK packet identifier 0", v4, "90 03 00 00 00", codec_errc::packet_id_zero, "SUBACK: packet identifier 0"},
    {"UNSUBACK packet identifier 0", v4, "B0 02 00 00", codec_errc::packet_id_zero, "UNSUBACK: packet identifier 0"},
    {"SUBACK without return codes", v4, "90 02 00 01", codec_errc::no_reason_codes, "SUBACK: no reason code"},
    {"UNSUBACK without reason codes (5.0)", v5, "B0 03 00 01 00", codec_errc::no_reason_codes, "UNSUBACK: no reason code"},
    {"subscription QoS 3", v4, "82 06 00 01 00 01 61 03", codec_errc::subscription_qos_invalid, "SUBSCRIBE: maximum QoS 3"},
    {"3.1.1 subscription option bit 2", v4, "82 06 00 01 00 01 61 04", codec_errc::subscription_options_reserved, "SUBSCRIBE: reserved subscription option bits must be 0"},
    {"5.0 subscription option bit 6", v5, "82 07 00 01 00 00 01 61 40", codec_errc::subscription_options_reserved, "[MQTT-3.8.3-5]"},
    {"retain handling 3", v5, "82 07 00 01 00 00 01 61 30", codec_errc::retain_handling_invalid, "SUBSCRIBE: retain handling 3"},
    {"no local on a shared subscription", v5, "82 10 00 01 00 00 0A 24 73 68 61 72 65 2F 67 2F 61 04", codec_errc::no_local_on_shared_subscription, "SUBSCRIBE: no local set on a shared subscription [MQTT-3.8.3-4]"},
    {"'#' not last", v4, "82 08 00 01 00 03 23 2F 61 00", codec_errc::topic_filter_multi_level_wildcard, "SUBSCRIBE: topic filter: '#' must be alone in the last level [MQTT-4.7.1-1]"},
    {"'#' not alone in its level", v4, "82 07 00 01 00 02 61 23 00", codec_errc::topic_filter_multi_level_wildcard, "[MQTT-4.7.1-1]"},
    {"'+' not alone in its level", v4, "A2 06 00 01 00 02 61 2B", codec_errc::topic_filter_single_level_wildcard, "UNSUBSCRIBE: topic filter: '+' must occupy a whole level [MQTT-4.7.1-2]"},
    {"empty topic filter", v4, "82 05 00 01 00 00 00", codec_errc::topic_filter_empty, "SUBSCRIBE: empty topic filter [MQTT-4.7.3-1]"},
    {"shared subscription without filter", v5, "82 0E 00 01 00 00 08 24 73 68 61 72 65 2F 67 00", codec_errc::shared_subscription_invalid, "SUBSCRIBE: shared subscription must be $share/{ShareName}/{filter}"},
    {"shared subscription with empty share name", v5, "82 0F 00 01 00 00 09 24 73 68 61 72 65 2F 2F 61 00", codec_errc::shared_subscription_invalid, "[MQTT-4.8.2-1]"},
    {"shared subscription with '+' in the share name", v5, "A2 0F 00 01 00 00 0A 24 73 68 61 72 65 2F 2B 2F 61", codec_errc::shared_subscription_invalid, "UNSUBSCRIBE: shared subscription"},
    {"malformed UTF-8 in a topic filter", v4, "82 06 00 01 00 01 FE 00", codec_errc::utf8_malformed, "SUBSCRIBE: malformed UTF-8"},
    {"malformed UTF-8 in an UNSUBSCRIBE filter", v5, "A2 06 00 01 00 00 01 C2", codec_errc::utf8_malformed, "UNSUBSCRIBE: malformed UTF-8"},
    {"U+0000 in a topic filter", v4, "82 07 00 01 00 02 61 00 00", codec_errc::utf8_null, "SUBSCRIBE: UTF-8 string contains U+0000"},
    {"SUBSCRIBE entry without options byte", v4, "82 05 00 01 00 01 61", codec_errc::field_truncated, "SUBSCRIBE: a field runs past the end"},
};
// clang-format on

} // namespace

TEST_CASE("every malformed packet is refused with the rule it breaks", "[malformed]") {
    for (const auto& bad : bad_inputs) {
        INFO(bad.what << " (" << to_string(bad.version) << "): " << bad.bytes);
        const auto bytes = hex(bad.bytes);
        auto decoded = decode_packet(bytes, bad.version);
        REQUIRE_FALSE(decoded);
        const auto ec = decoded.error();
        CHECK(ec.category() == codec_category());
        CHECK(ec == bad.rule);
        CHECK_THAT(ec.message(), Catch::Contains(bad.message));
        // Every message cites the specification: a statement or a section.
        const auto message = ec.message();
        CHECK((message.find("[MQTT-") != std::string::npos ||
               message.find("§") != std::string::npos));
    }
}

TEST_CASE("the same bytes are valid where the rule does not apply", "[malformed]") {
    // Guards against rules that reject everything: each is a near neighbour of a case above.
    const std::pair<protocol_version, const char*> good[] = {
        {v4, "30 05 00 03 61 2F 62"},    // a/b
        {v5, "30 06 00 00 03 23 00 01"}, // empty topic with Topic Alias 1
        {v5, "30 06 00 01 61 02 01 01"}, // payload format indicator 1
        {v5, "30 10 00 01 61 0C 26 00 01 6B 00 01 76 26 00 00 00 00"}, // user property twice
                                                                       // (second empty)
        {v5, "30 08 00 01 61 04 0B 01 0B 02"}, // subscription identifier twice in PUBLISH
        {v5, "82 10 00 01 00 00 0A 24 73 68 61 72 65 2F 67 2F 61 00"}, // $share/g/a
        {v4,
         "82 0D 00 01 00 08 24 73 68 61 72 65 2F 2B 00"}, // 3.1.1: "$share/+" is an ordinary filter
        {v5, "90 04 00 01 00 91"},                        // SUBACK 0x91 Packet Identifier in use
        {v4, "90 03 00 01 80"},                           // 3.1.1 SUBACK failure
        {v5, "E0 01 04"},                                 // DISCONNECT with will message
        {v5, "F0 00"},                                    // AUTH short form
        {v5, "40 03 00 01 10"},                           // PUBACK no matching subscribers
        {v5, "10 11 00 04 4D 51 54 54 05 42 00 3C 00 00 01 61 00 01 70"}, // 5.0: password without
                                                                          // user name
        {v5,
         "10 0D 00 04 4D 51 54 54 05 00 00 3C 00 00 00"}, // 5.0: empty client id, no clean start
        {v3, "10 0F 00 06 4D 51 49 73 64 70 03 02 00 3C 00 01 61"}, // 3.1 CONNECT
        {v4, "20 02 01 00"},                                        // session present on acceptance
    };
    for (const auto& [version, text] : good) {
        INFO(text);
        auto decoded = decode_packet(hex(text), version);
        CHECK(decoded.error().message() == std::error_code{}.message());
        CHECK(decoded);
    }
}

TEST_CASE("a byte order mark is kept, not stripped [MQTT-1.5.4-3]", "[malformed]") {
    const auto bytes = hex("30 06 00 04 EF BB BF 61");
    auto decoded = decode<publish>(bytes, v4); // views into `bytes`
    REQUIRE(decoded);
    CHECK(decoded->topic == "\xEF\xBB\xBF"
                            "a");
}

TEST_CASE("stream framing: a partial fixed header asks for more bytes", "[malformed]") {
    const auto bytes = hex("30 80 01");
    auto header = parse_fixed_header(std::span{bytes}.first(2), v4);
    REQUIRE(header);
    CHECK_FALSE(header->has_value());
    header = parse_fixed_header(bytes, v4);
    REQUIRE(header);
    REQUIRE(header->has_value());
    CHECK((*header)->remaining_length == 128);
    CHECK((*header)->length == 3);
    CHECK(decode_packet({}, v4).error() == codec_errc::incomplete_packet);
}

TEST_CASE("decode<P> refuses another packet type and trailing data", "[malformed]") {
    const auto puback_bytes = hex("40 02 00 01");
    CHECK(decode<puback>(puback_bytes, v4));
    CHECK(decode<pubrec>(puback_bytes, v4).error() == codec_errc::packet_type_mismatch);
    CHECK_THAT(decode<pubrec>(puback_bytes, v4).error().message(),
               Catch::Contains("PUBREC: the packet is a PUBACK"));
    CHECK(decode<puback>(hex("40 02 00 01 C0 00"), v4).error() == codec_errc::trailing_bytes);
}

TEST_CASE("the encoder refuses to build a malformed packet", "[malformed][encode]") {
    std::array<std::byte, 256> buffer{};
    auto refused = [&](const auto& packet, protocol_version v, codec_errc rule,
                       const char* message) {
        INFO(message);
        auto e = encode(packet, v, buffer);
        REQUIRE_FALSE(e);
        CHECK(e.error() == rule);
        CHECK_THAT(e.error().message(), Catch::Contains(message));
        CHECK(check(packet, v) == rule);
    };

    publish p;
    p.topic = "a/+";
    refused(p, v5, codec_errc::topic_name_wildcard,
            "PUBLISH: topic name contains a wildcard [MQTT-3.3.2-2]");
    p.topic = "";
    refused(p, v4, codec_errc::topic_name_empty, "PUBLISH: empty topic name");
    p.topic = "a";
    p.qos = static_cast<qos>(3);
    refused(p, v4, codec_errc::publish_qos_invalid, "PUBLISH: QoS 3");
    p.qos = qos::at_least_once;
    refused(p, v4, codec_errc::packet_id_zero, "PUBLISH: packet identifier 0");
    p.qos = qos::at_most_once;
    p.dup = true;
    refused(p, v4, codec_errc::dup_on_qos_0, "PUBLISH: DUP flag");
    p.dup = false;
    const std::string long_topic(65536, 'x');
    p.topic = long_topic;
    refused(p, v4, codec_errc::string_too_long,
            "PUBLISH: string or binary data longer than 65,535 bytes");
    p.topic = "a\xC0\x80";
    refused(p, v4, codec_errc::utf8_malformed, "PUBLISH: malformed UTF-8");
    p.topic = std::string_view{"a\0b", 3};
    refused(p, v4, codec_errc::utf8_null, "U+0000");
    p.topic = "a";
    p.properties.set<property_id::topic_alias>(std::uint16_t{0});
    refused(p, v5, codec_errc::property_value, "PUBLISH: property Topic Alias must not be 0");
    p.properties.get<property_id::topic_alias>().reset();
    p.properties.set<property_id::payload_format_indicator>(std::uint8_t{7});
    refused(p, v5, codec_errc::property_value, "Payload Format Indicator must be 0 or 1");
    p.properties.get<property_id::payload_format_indicator>().reset();
    const std::uint32_t sub_ids[] = {0};
    p.properties.set<property_id::subscription_identifier>(sub_ids);
    refused(p, v5, codec_errc::property_value, "Subscription Identifier must not be 0");
    const std::uint32_t big_ids[] = {268'435'456};
    p.properties.set<property_id::subscription_identifier>(big_ids);
    refused(p, v5, codec_errc::value_too_large, "PUBLISH: value over 268,435,455");
    p.properties.set<property_id::subscription_identifier>(std::span<const std::uint32_t>{});
    const string_pair bad_pair[] = {{"k", "\xFF"}};
    p.properties.set<property_id::user_property>(bad_pair);
    refused(p, v5, codec_errc::utf8_malformed, "PUBLISH: malformed UTF-8");
    // MQTT 3.1.1 cannot carry properties: refused, not silently dropped.
    const string_pair pair[] = {{"k", "v"}};
    p.properties.set<property_id::user_property>(pair);
    refused(p, v4, codec_errc::requires_v5, "PUBLISH: a field set that only MQTT 5 has");

    puback a;
    a.packet_id = 1;
    a.reason_code = reason::not_authorized;
    refused(a, v4, codec_errc::requires_v5, "PUBACK: a field set that only MQTT 5 has");

    connect c;
    c.client_id = "x";
    c.will.emplace();
    c.will->topic = "t/#";
    refused(c, v5, codec_errc::topic_name_wildcard, "CONNECT: topic name contains a wildcard");
    c.will->topic = "t";
    c.will->qos = static_cast<qos>(3);
    refused(c, v5, codec_errc::will_qos_invalid, "CONNECT: will QoS 3");
    c.will.reset();
    c.version = v4;
    c.password = as_bytes("p");
    refused(c, v4, codec_errc::password_without_user_name,
            "CONNECT: password flag set without the user name flag");
    c.password.reset();
    c.client_id = "";
    c.clean_start = false;
    refused(c, v4, codec_errc::empty_client_id_without_clean_session, "[MQTT-3.1.3-7]");
    c.version = v3;
    c.clean_start = true;
    c.client_id = "123456789012345678901234";
    refused(c, v3, codec_errc::client_identifier_length,
            "CONNECT: client identifier must be 1 to 23 bytes");
    c.version = static_cast<protocol_version>(7);
    c.client_id = "x";
    refused(c, v5, codec_errc::protocol_level, "CONNECT: unsupported protocol level 7");

    connack ca;
    ca.session_present = true;
    ca.return_code = connect_return_code::not_authorized;
    refused(ca, v4, codec_errc::session_present_on_refusal,
            "CONNACK: session present set on a refused connection");
    ca.session_present = false;
    ca.return_code = static_cast<connect_return_code>(9);
    refused(ca, v4, codec_errc::return_code_reserved, "CONNACK: return code 9 is reserved");

    subscribe s;
    s.packet_id = 1;
    refused(s, v4, codec_errc::no_topic_filters, "SUBSCRIBE: no topic filter in the payload");
    const subscription shared_no_local[] = {{"$share/g/a", qos::at_most_once, true}};
    s.subscriptions = shared_no_local;
    refused(s, v5, codec_errc::no_local_on_shared_subscription,
            "SUBSCRIBE: no local set on a shared subscription");
    const subscription bad_filter[] = {{"a/#/b"}};
    s.subscriptions = bad_filter;
    refused(s, v5, codec_errc::topic_filter_multi_level_wildcard, "SUBSCRIBE: topic filter: '#'");
    subscription bad_handling{"a"};
    bad_handling.retain_handling = static_cast<retain_handling>(3);
    const subscription handling[] = {bad_handling};
    s.subscriptions = handling;
    refused(s, v5, codec_errc::retain_handling_invalid, "SUBSCRIBE: retain handling 3");
    const subscription no_local[] = {{"a", qos::at_most_once, true}};
    s.subscriptions = no_local;
    refused(s, v4, codec_errc::requires_v5, "SUBSCRIBE: a field set that only MQTT 5 has");
    s.properties.set<property_id::subscription_identifier>(0u);
    refused(s, v5, codec_errc::property_value,
            "SUBSCRIBE: property Subscription Identifier must not be 0");

    unsubscribe u;
    u.packet_id = 2;
    refused(u, v5, codec_errc::no_topic_filters,
            "UNSUBSCRIBE: no topic filter in the payload [MQTT-3.10.3-2]");

    const suback_reason_code failure[] = {reason::unspecified_error};
    suback sa;
    sa.packet_id = 3;
    sa.reason_codes = failure;
    refused(sa, v3, codec_errc::reason_code_not_allowed, "SUBACK: reason code 0x80");
    const suback_reason_code quota[] = {reason::quota_exceeded};
    sa.reason_codes = quota;
    refused(sa, v4, codec_errc::reason_code_not_allowed, "SUBACK: reason code 0x97");

    const unsuback_reason_code codes[] = {reason::success};
    unsuback ua;
    ua.packet_id = 4;
    ua.reason_codes = codes;
    refused(ua, v4, codec_errc::requires_v5, "UNSUBACK: a field set that only MQTT 5 has");

    disconnect d;
    d.properties.set<property_id::reason_string>("bye");
    refused(d, v4, codec_errc::requires_v5, "DISCONNECT: a field set that only MQTT 5 has");

    refused(auth{}, v4, codec_errc::reserved_packet_type, "AUTH: reserved packet type 15");

    publish fits;
    fits.topic = "t";
    std::array<std::byte, 3> tiny{};
    auto e = encode(fits, v4, tiny);
    REQUIRE_FALSE(e);
    CHECK(e.error() == codec_errc::buffer_too_small);
}
