// PINGREQ and PINGRESP (MQTT 5 §3.12-3.13): a fixed header and nothing else.
#pragma once

#include <ctmqtt/core/describe.hpp>

namespace ctmqtt {

struct pingreq {};
struct pingresp {};

template <>
struct description<pingreq> {
    static constexpr packet_type type = packet_type::pingreq;
    using header = describe::fixed_flags<0>;
    using fields = describe::field_list<>;
    using rules = describe::rule_list<>;
};

template <>
struct description<pingresp> {
    static constexpr packet_type type = packet_type::pingresp;
    using header = describe::fixed_flags<0>;
    using fields = describe::field_list<>;
    using rules = describe::rule_list<>;
};

} // namespace ctmqtt
