// PUBACK, PUBREC, PUBREL and PUBCOMP (MQTT 5 §3.4-3.7; 3.1.1 §3.4-3.7): one
// description for the four acknowledgements of the QoS 1 and QoS 2 flows.
#pragma once

#include <cstdint>

#include <ctmqtt/core/describe.hpp>

namespace ctmqtt {

template <packet_type P>
struct basic_publish_ack {
    basic_publish_ack() noexcept {
    } // user-provided: value-initialisation skips a memset (see publish)

    std::uint16_t packet_id = 0;
    basic_reason_code<P> reason_code;                        ///< MQTT 5
    property_set<static_cast<property_scope>(P)> properties; ///< MQTT 5
};

using puback = basic_publish_ack<packet_type::puback>;
using pubrec = basic_publish_ack<packet_type::pubrec>;
using pubrel = basic_publish_ack<packet_type::pubrel>;
using pubcomp = basic_publish_ack<packet_type::pubcomp>;

namespace describe {
// The MQTT 5 short forms: the reason code may be left out when it is 0 and
// there are no properties, the property length when there are no properties
// (MQTT 5 §3.4.2.1, §3.4.2.2.1 and the same in §3.5-3.7).
inline constexpr auto reason_code_needed = [](const auto& p, protocol_version) {
    return p.reason_code.value() != 0 || !p.properties.empty();
};
inline constexpr auto properties_needed = [](const auto& p, protocol_version) {
    return !p.properties.empty();
};
} // namespace describe

template <packet_type P>
struct description<basic_publish_ack<P>> {
    static constexpr packet_type type = P;
    using a = basic_publish_ack<P>;
    // PUBREL's fixed header flags are 0010 [MQTT-3.6.1-1].
    using header = describe::fixed_flags<P == packet_type::pubrel ? 0b0010 : 0>;
    using fields = describe::field_list<
        describe::field<"packet_id", describe::member<&a::packet_id>, wire::u16,
                        describe::present_always, describe::non_zero_packet_id>,
        describe::field<"reason_code", describe::member<&a::reason_code>,
                        describe::reason_code_wire<P>,
                        describe::tail_when<describe::reason_code_needed>>,
        describe::properties<"properties", describe::member<&a::properties>,
                             describe::tail_when<describe::properties_needed>>>;
    using rules = describe::rule_list<>;
};

} // namespace ctmqtt
