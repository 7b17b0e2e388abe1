// PUBLISH (MQTT 5 §3.3; 3.1.1 §3.3).
#pragma once

#include <cstdint>
#include <string_view>

#include <ctmqtt/core/describe.hpp>
#include <ctmqtt/core/topic.hpp>

namespace ctmqtt {

struct publish {
    // User-provided, so value-initialisation (publish{}, a result's in-place
    // value) runs the member initialisers without first zeroing all ~180 bytes:
    // that memset was a `rep stos`, half the cost of a decode.
    publish() noexcept {}

    std::string_view topic; ///< may be empty in MQTT 5 when a Topic Alias is set
    bytes_view payload;     ///< never copied: a view into the caller's data or the receive buffer
    ctmqtt::qos qos = ctmqtt::qos::at_most_once;
    bool retain = false;
    bool dup = false;
    std::uint16_t packet_id = 0; ///< present when QoS > 0
    publish_properties properties;
};

namespace describe {

inline constexpr auto has_packet_id = [](const publish& p, protocol_version) {
    return p.qos != qos::at_most_once;
};

} // namespace describe

template <>
struct description<publish> {
    static constexpr packet_type type = packet_type::publish;
    using header =
        describe::header_bits<describe::bits<"retain", describe::member<&publish::retain>, 0, 1>,
                              describe::bits<"qos", describe::member<&publish::qos>, 1, 2,
                                             codec_errc::publish_qos_invalid>, // [MQTT-3.3.1-4]
                              describe::bits<"dup", describe::member<&publish::dup>, 3, 1>>;
    using fields = describe::field_list<
        // UTF-8 without wildcards [MQTT-3.3.2-2]; emptiness is a rule below.
        describe::field<"topic", describe::member<&publish::topic>, wire::topic>,
        describe::field<"packet_id", describe::member<&publish::packet_id>, wire::u16,
                        describe::when<describe::has_packet_id>, describe::non_zero_packet_id>,
        describe::properties<"properties", describe::member<&publish::properties>>,
        describe::payload<"payload", describe::member<&publish::payload>>>;
    using rules = describe::rule_list<
        // DUP must be 0 for QoS 0 [MQTT-3.3.1-2].
        describe::rule<[](const publish& p, protocol_version) {
            return !(p.dup && p.qos == qos::at_most_once);
        },
                       codec_errc::dup_on_qos_0>,
        // A topic name has at least one character [MQTT-4.7.3-1], unless MQTT 5
        // replaces it with a Topic Alias (MQTT 5 §3.3.2.1).
        describe::rule<[](const publish& p, protocol_version v) {
            return !p.topic.empty() || (v == protocol_version::v5 &&
                                        p.properties.get<property_id::topic_alias>().has_value());
        },
                       codec_errc::topic_name_empty>>;
};

} // namespace ctmqtt
