// CONNACK (MQTT 5 §3.2; 3.1.1 §3.2).
#pragma once

#include <ctmqtt/core/describe.hpp>

namespace ctmqtt {

struct connack {
    connack() noexcept {} // user-provided: value-initialisation skips a memset (see publish)

    bool session_present = false;
    connect_return_code return_code = connect_return_code::accepted; ///< MQTT 3.1 and 3.1.1
    connack_reason_code reason_code;                                 ///< MQTT 5
    connack_properties properties;                                   ///< MQTT 5

    /// True if the server accepted the connection.
    constexpr bool accepted(protocol_version v) const noexcept {
        return v == protocol_version::v5 ? !reason_code.is_error()
                                         : return_code == connect_return_code::accepted;
    }
};

template <>
struct description<connack> {
    static constexpr packet_type type = packet_type::connack;
    using header = describe::fixed_flags<0>;
    using fields = describe::field_list<
        describe::flags_byte<
            "acknowledge_flags", describe::present_always,
            describe::bits<"session_present", describe::member<&connack::session_present>, 0, 1>,
            describe::reserved_bits<1, 7, codec_errc::connack_reserved_flags>>, // [MQTT-3.2.2-1]
        describe::field<"return_code", describe::member<&connack::return_code>,
                        describe::return_code_wire, describe::when<describe::before_v5>>,
        describe::field<"reason_code", describe::member<&connack::reason_code>,
                        describe::reason_code_wire<packet_type::connack>, describe::present_in_v5>,
        describe::properties<"properties", describe::member<&connack::properties>>>;
    using rules = describe::rule_list<
        // Session present must be 0 on a refusal [MQTT-3.2.2-6] (3.1.1: [MQTT-3.2.2-4]).
        describe::rule<[](const connack& p, protocol_version v) {
            return !p.session_present || p.accepted(v);
        },
                       codec_errc::session_present_on_refusal>>;
};

} // namespace ctmqtt
