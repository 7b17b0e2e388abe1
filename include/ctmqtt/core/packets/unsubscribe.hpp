// UNSUBSCRIBE (MQTT 5 §3.10; 3.1.1 §3.10).
#pragma once

#include <cstdint>
#include <string_view>

#include <ctmqtt/core/describe.hpp>
#include <ctmqtt/core/topic.hpp>

namespace ctmqtt {

namespace describe {
// "$share/" filters have their own rules in MQTT 5 only (§4.8.2).
inline constexpr auto unsubscribe_filter_check = [](std::string_view filter, std::string_view,
                                                    protocol_version v) {
    return validate_topic_filter(filter, v == protocol_version::v5);
};
} // namespace describe

using topic_filter_list =
    list_view<std::string_view,
              describe::value_entry_codec<wire::utf8, describe::unsubscribe_filter_check>>;

struct unsubscribe {
    unsubscribe() noexcept {} // user-provided: value-initialisation skips a memset (see publish)

    std::uint16_t packet_id = 0;
    topic_filter_list topic_filters;   ///< at least one [MQTT-3.10.3-2]
    unsubscribe_properties properties; ///< MQTT 5
};

template <>
struct description<unsubscribe> {
    static constexpr packet_type type = packet_type::unsubscribe;
    using header = describe::fixed_flags<0b0010>; // [MQTT-3.10.1-1]
    using fields = describe::field_list<
        describe::field<"packet_id", describe::member<&unsubscribe::packet_id>, wire::u16,
                        describe::present_always, describe::non_zero_packet_id>,
        describe::properties<"properties", describe::member<&unsubscribe::properties>>,
        describe::list<"topic_filters", describe::member<&unsubscribe::topic_filters>,
                       codec_errc::no_topic_filters>>;
    using rules = describe::rule_list<>;
};

} // namespace ctmqtt
