// AUTH (MQTT 5 §3.15): enhanced authentication. Packet type 15 is reserved
// before MQTT 5, so the codec refuses it there.
#pragma once

#include <ctmqtt/core/describe.hpp>
#include <ctmqtt/core/packets/publish_ack.hpp>

namespace ctmqtt {

struct auth {
    auth() noexcept {} // user-provided: value-initialisation skips a memset (see publish)

    auth_reason_code reason_code; ///< left out when Success and no properties (MQTT 5 §3.15.2.1)
    auth_properties properties;
};

template <>
struct description<auth> {
    static constexpr packet_type type = packet_type::auth;
    static constexpr protocol_version since = protocol_version::v5;
    using header = describe::fixed_flags<0>; // [MQTT-3.15.1-1]
    using fields = describe::field_list<
        describe::field<"reason_code", describe::member<&auth::reason_code>,
                        describe::reason_code_wire<packet_type::auth>,
                        describe::tail_when<describe::reason_code_needed>>,
        describe::properties<"properties", describe::member<&auth::properties>,
                             describe::tail_when<describe::properties_needed>>>;
    using rules = describe::rule_list<>;
};

} // namespace ctmqtt
