// DISCONNECT (MQTT 5 §3.14; 3.1.1 §3.14, where it has no variable header).
#pragma once

#include <ctmqtt/core/describe.hpp>
#include <ctmqtt/core/packets/publish_ack.hpp>

namespace ctmqtt {

struct disconnect {
    disconnect() noexcept {} // user-provided: value-initialisation skips a memset (see publish)

    disconnect_reason_code
        reason_code; ///< MQTT 5; left out when Normal disconnection and no properties
    disconnect_properties properties; ///< MQTT 5
};

template <>
struct description<disconnect> {
    static constexpr packet_type type = packet_type::disconnect;
    using header = describe::fixed_flags<0>; // [MQTT-3.14.1-1]
    // MQTT 5 §3.14.2.1: a remaining length of 0 means Normal disconnection; of 1, no properties.
    using fields = describe::field_list<
        describe::field<"reason_code", describe::member<&disconnect::reason_code>,
                        describe::reason_code_wire<packet_type::disconnect>,
                        describe::tail_when<describe::reason_code_needed>>,
        describe::properties<"properties", describe::member<&disconnect::properties>,
                             describe::tail_when<describe::properties_needed>>>;
    using rules = describe::rule_list<>;
};

} // namespace ctmqtt
