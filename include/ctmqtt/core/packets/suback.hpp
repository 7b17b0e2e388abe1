// SUBACK (MQTT 5 §3.9; 3.1.1 §3.9).
#pragma once

#include <cstdint>

#include <ctmqtt/core/describe.hpp>

namespace ctmqtt {

using suback_reason_code_list =
    list_view<suback_reason_code, describe::reason_code_wire<packet_type::suback>>;

struct suback {
    suback() noexcept {} // user-provided: value-initialisation skips a memset (see publish)

    std::uint16_t packet_id = 0;
    suback_reason_code_list
        reason_codes;             ///< one per subscription; 3.1.1: 0, 1, 2 or 0x80 [MQTT-3.9.3-2]
    suback_properties properties; ///< MQTT 5
};

template <>
struct description<suback> {
    static constexpr packet_type type = packet_type::suback;
    using header = describe::fixed_flags<0>;
    using fields = describe::field_list<
        describe::field<"packet_id", describe::member<&suback::packet_id>, wire::u16,
                        describe::present_always, describe::non_zero_packet_id>,
        describe::properties<"properties", describe::member<&suback::properties>>,
        describe::list<"reason_codes", describe::member<&suback::reason_codes>,
                       codec_errc::no_reason_codes>>;
    using rules = describe::rule_list<>;
};

} // namespace ctmqtt
