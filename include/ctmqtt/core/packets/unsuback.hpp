// UNSUBACK (MQTT 5 §3.11; 3.1.1 §3.11, where it carries only the packet identifier).
#pragma once

#include <cstdint>

#include <ctmqtt/core/describe.hpp>

namespace ctmqtt {

using unsuback_reason_code_list =
    list_view<unsuback_reason_code, describe::reason_code_wire<packet_type::unsuback>>;

struct unsuback {
    unsuback() noexcept {} // user-provided: value-initialisation skips a memset (see publish)

    std::uint16_t packet_id = 0;
    unsuback_reason_code_list reason_codes; ///< MQTT 5: one per topic filter
    unsuback_properties properties;         ///< MQTT 5
};

template <>
struct description<unsuback> {
    static constexpr packet_type type = packet_type::unsuback;
    using header = describe::fixed_flags<0>;
    using fields = describe::field_list<
        describe::field<"packet_id", describe::member<&unsuback::packet_id>, wire::u16,
                        describe::present_always, describe::non_zero_packet_id>,
        describe::properties<"properties", describe::member<&unsuback::properties>>,
        describe::list<"reason_codes", describe::member<&unsuback::reason_codes>,
                       codec_errc::no_reason_codes, describe::present_in_v5>>;
    using rules = describe::rule_list<>;
};

} // namespace ctmqtt
