// SUBSCRIBE (MQTT 5 §3.8; 3.1.1 §3.8) and its subscription entries.
#pragma once

#include <cstdint>
#include <string_view>

#include <ctmqtt/core/describe.hpp>
#include <ctmqtt/core/topic.hpp>

namespace ctmqtt {

/// One topic filter with its subscription options (MQTT 5 §3.8.3.1).
struct subscription {
    std::string_view topic_filter;
    ctmqtt::qos max_qos = ctmqtt::qos::at_most_once;
    bool no_local = false;            ///< MQTT 5
    bool retain_as_published = false; ///< MQTT 5
    ctmqtt::retain_handling retain_handling =
        ctmqtt::retain_handling::send_on_subscribe; ///< MQTT 5
};

namespace describe {
/// MQTT 5 gives "$share/" filters their own rules (§4.8.2); in 3.1.1 they are ordinary filters.
inline constexpr auto topic_filter_check = [](std::string_view filter, const auto&,
                                              protocol_version v) {
    return validate_topic_filter(filter, v == protocol_version::v5);
};
} // namespace describe

template <>
struct description<subscription> {
    using s = subscription;
    using fields = describe::field_list<
        describe::field<"topic_filter", describe::member<&s::topic_filter>, wire::utf8,
                        describe::present_always, describe::topic_filter_check>,
        // Bits 2-5 exist in MQTT 5 only; in 3.1.1 bits 2-7 are reserved [MQTT-3-8.3-4].
        describe::flags_byte<
            "options", describe::present_always,
            describe::bits<"max_qos", describe::member<&s::max_qos>, 0, 2,
                           codec_errc::subscription_qos_invalid>,
            describe::bits<"no_local", describe::member<&s::no_local>, 2, 1, codec_errc{},
                           describe::v5_only, codec_errc::subscription_options_reserved>,
            describe::bits<"retain_as_published", describe::member<&s::retain_as_published>, 3, 1,
                           codec_errc{}, describe::v5_only,
                           codec_errc::subscription_options_reserved>,
            describe::bits<"retain_handling", describe::member<&s::retain_handling>, 4, 2,
                           codec_errc::retain_handling_invalid, describe::v5_only,
                           codec_errc::subscription_options_reserved>,
            describe::reserved_bits<6, 2,
                                    codec_errc::subscription_options_reserved>>>; // [MQTT-3.8.3-5]
    using rules = describe::rule_list<
        // No Local on a shared subscription is a protocol error [MQTT-3.8.3-4].
        describe::rule<[](const s& e, protocol_version) {
            return !(e.no_local && is_shared_subscription(e.topic_filter));
        },
                       codec_errc::no_local_on_shared_subscription>>;
};

using subscription_list = list_view<subscription, describe::entry_codec<subscription>>;

struct subscribe {
    subscribe() noexcept {} // user-provided: value-initialisation skips a memset (see publish)

    std::uint16_t packet_id = 0;
    subscription_list subscriptions; ///< at least one [MQTT-3.8.3-3]
    subscribe_properties properties; ///< MQTT 5
};

template <>
struct description<subscribe> {
    static constexpr packet_type type = packet_type::subscribe;
    using header = describe::fixed_flags<0b0010>; // [MQTT-3.8.1-1]
    using fields = describe::field_list<
        describe::field<"packet_id", describe::member<&subscribe::packet_id>, wire::u16,
                        describe::present_always, describe::non_zero_packet_id>,
        describe::properties<"properties", describe::member<&subscribe::properties>>,
        describe::list<"subscriptions", describe::member<&subscribe::subscriptions>,
                       codec_errc::no_topic_filters>>;
    using rules = describe::rule_list<>;
};

} // namespace ctmqtt
