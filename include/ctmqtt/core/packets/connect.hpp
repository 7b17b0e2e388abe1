// CONNECT (MQTT 5 §3.1; 3.1.1 §3.1; 3.1 "MQIsdp").
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <ctmqtt/core/describe.hpp>
#include <ctmqtt/core/topic.hpp>

namespace ctmqtt {

/// The will message carried by CONNECT (MQTT 5 §3.1.2.5, §3.1.3.2-4).
struct will_message {
    will_message() noexcept {} // user-provided: value-initialisation skips a memset (see publish)

    std::string_view topic;
    bytes_view payload;
    ctmqtt::qos qos = ctmqtt::qos::at_most_once;
    bool retain = false;
    will_properties properties; ///< MQTT 5 only
};

struct connect {
    connect() noexcept {} // user-provided: value-initialisation skips a memset (see publish)

    protocol_version version = protocol_version::v5;
    bool clean_start = true; ///< "clean session" in 3.1 and 3.1.1
    std::uint16_t keep_alive = 60;
    std::string_view client_id;
    std::optional<will_message> will;
    std::optional<std::string_view> user_name;
    std::optional<bytes_view> password;
    connect_properties properties; ///< MQTT 5 only
};

namespace describe {

/// Protocol name (MQTT 5 §3.1.2.1): "MQTT", or "MQIsdp" for 3.1. While
/// decoding, the name tells the level field which levels may follow.
struct protocol_name_field {
    static constexpr std::string_view name = "protocol_name";
    static constexpr bool is_payload = false;
    static constexpr std::string_view for_version(protocol_version v) noexcept {
        return v == protocol_version::v3_1 ? "MQIsdp" : "MQTT";
    }
    static constexpr std::size_t size(const connect&, protocol_version v) noexcept {
        return 2 + for_version(v).size();
    }
    static std::byte* write(const connect&, protocol_version v, std::byte* out) noexcept {
        return wire::utf8::write(for_version(v), out);
    }
    static constexpr fault check(const connect&, protocol_version) noexcept { return {}; }
    static constexpr fault read(connect&, wire::reader& r, protocol_version& v) noexcept {
        std::string_view text;
        if (auto f = wire::utf8::read(r, text))
            return f;
        if (text == "MQIsdp")
            v = protocol_version::v3_1;
        else if (text == "MQTT")
            v = protocol_version::v3_1_1; // 4 or 5: the level decides
        else
            return codec_errc::protocol_name; // [MQTT-3.1.2-1]
        return {};
    }
    template <class F>
    static constexpr void visit(const connect& c, protocol_version, F& f) {
        f(name, for_version(c.version));
    }
};

/// Protocol level (MQTT 5 §3.1.2.2): 3 with "MQIsdp", 4 or 5 with "MQTT".
struct protocol_level_field {
    static constexpr std::string_view name = "protocol_level";
    static constexpr bool is_payload = false;
    static constexpr std::size_t size(const connect&, protocol_version) noexcept { return 1; }
    static std::byte* write(const connect&, protocol_version v, std::byte* out) noexcept {
        return wire::put(out, static_cast<std::uint8_t>(v));
    }
    static constexpr fault check(const connect& c, protocol_version) noexcept {
        const auto level = static_cast<std::uint8_t>(c.version);
        return level >= 3 && level <= 5 ? fault{} : fault{codec_errc::protocol_level, level};
    }
    static constexpr fault read(connect& c, wire::reader& r, protocol_version& v) noexcept {
        std::uint8_t level = 0;
        if (auto f = wire::u8::read(r, level))
            return f;
        const bool ok = v == protocol_version::v3_1 ? level == 3 : (level == 4 || level == 5);
        if (!ok)
            return {codec_errc::protocol_level, level}; // [MQTT-3.1.2-2]
        v = c.version = static_cast<protocol_version>(level);
        return {};
    }
    template <class F>
    static constexpr void visit(const connect& c, protocol_version, F& f) {
        f(name, static_cast<unsigned>(c.version));
    }
};

inline constexpr auto has_will = [](const connect& c, protocol_version) {
    return c.will.has_value();
};
inline constexpr auto has_user_name = [](const connect& c, protocol_version) {
    return c.user_name.has_value();
};
inline constexpr auto has_password = [](const connect& c, protocol_version) {
    return c.password.has_value();
};

/// MQTT 3.1 limits the client identifier to 1..23 bytes (3.1 §3.1, Payload).
inline constexpr auto client_id_check = [](std::string_view id, const connect&,
                                           protocol_version v) {
    if (v == protocol_version::v3_1 && (id.empty() || id.size() > 23))
        return fault{codec_errc::client_identifier_length};
    return fault{};
};

/// A will topic is a topic name (MQTT 5 §3.1.3.3, §4.7): wire::topic checks
/// the characters, this that it is not empty [MQTT-4.7.3-1].
inline constexpr auto will_topic_check = [](std::string_view topic, const connect&,
                                            protocol_version) {
    return topic.empty() ? fault{codec_errc::topic_name_empty} : fault{};
};

} // namespace describe

template <>
struct description<connect> {
    static constexpr packet_type type = packet_type::connect;
    using header = describe::fixed_flags<0>;
    using c = connect;
    using fields = describe::field_list<
        describe::protocol_name_field, describe::protocol_level_field,
        describe::flags_byte<
            "connect_flags", describe::present_always,
            describe::reserved_bits<0, 1, codec_errc::connect_reserved_flag>, // [MQTT-3.1.2-3]
            describe::bits<"clean_start", describe::member<&c::clean_start>, 1, 1>,
            describe::bits<"will_flag", describe::has_value<&c::will>, 2, 1>,
            describe::bits<"will_qos",
                           describe::optional_member<&c::will, &will_message::qos,
                                                     codec_errc::will_flags_without_will>,
                           3, 2, codec_errc::will_qos_invalid>,
            describe::bits<"will_retain",
                           describe::optional_member<&c::will, &will_message::retain,
                                                     codec_errc::will_flags_without_will>,
                           5, 1>,
            describe::bits<"password_flag", describe::has_value<&c::password>, 6, 1>,
            describe::bits<"user_name_flag", describe::has_value<&c::user_name>, 7, 1>>,
        describe::field<"keep_alive", describe::member<&c::keep_alive>, wire::u16>,
        describe::properties<"properties", describe::member<&c::properties>>,
        describe::field<"client_id", describe::member<&c::client_id>, wire::utf8,
                        describe::present_always, describe::client_id_check>,
        describe::properties<"will_properties",
                             describe::in_optional<&c::will, &will_message::properties>,
                             describe::when<describe::has_will, true>>,
        describe::field<"will_topic", describe::in_optional<&c::will, &will_message::topic>,
                        wire::topic, describe::when<describe::has_will>,
                        describe::will_topic_check>,
        describe::field<"will_payload", describe::in_optional<&c::will, &will_message::payload>,
                        wire::binary, describe::when<describe::has_will>>,
        describe::field<"user_name", describe::optional_value<&c::user_name>, wire::utf8,
                        describe::when<describe::has_user_name>>,
        describe::field<"password", describe::optional_value<&c::password>, wire::binary,
                        describe::when<describe::has_password>>>;
    using rules = describe::rule_list<
        // 3.1.1 needs a user name for a password [MQTT-3.1.2-22]; 5.0 does not.
        describe::rule<[](const c& p, protocol_version v) {
            return v == protocol_version::v5 || !p.password || p.user_name;
        },
                       codec_errc::password_without_user_name>,
        // 3.1.1: a zero-byte client identifier needs clean session [MQTT-3.1.3-7].
        describe::rule<[](const c& p, protocol_version v) {
            return v != protocol_version::v3_1_1 || !p.client_id.empty() || p.clean_start;
        },
                       codec_errc::empty_client_id_without_clean_session>>;
};

} // namespace ctmqtt
