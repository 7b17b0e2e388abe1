// Topic names and topic filters (MQTT 5 §4.7) and shared subscriptions
// (MQTT 5 §4.8.2): validation, matching, and parsing of $share/{name}/{filter}.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

#include <ctmqtt/core/error.hpp>
#include <ctmqtt/core/utf8.hpp>
#include <ctmqtt/core/wire.hpp>

namespace ctmqtt {

/// Checks a topic name as PUBLISH carries it: no wildcards [MQTT-3.3.2-2] and
/// at least one character [MQTT-4.7.3-1] (the UTF-8 rules are checked by the
/// string field that carries it). An empty name is allowed only with a topic
/// alias; the packet description checks that case.
namespace detail {
// '+' (0x2B) and '#' (0x23) differ only in bit 3: OR-ing 0x08 into every byte
// makes both 0x2B, so one comparison finds either.
constexpr std::uint64_t wildcard_bytes(std::uint64_t w) noexcept {
    return zero_bytes((w | (ones8 * 0x08)) ^ (ones8 * 0x2B));
}
} // namespace detail

/// True if `s` contains '+' or '#'. Eight bytes at a time: this is on the
/// path of every PUBLISH (libstdc++'s find_first_of calls memchr per byte).
constexpr bool contains_wildcard(std::string_view s) noexcept {
    std::size_t i = 0;
    if (!std::is_constant_evaluated()) {
        i = detail::scan_words(
            s, [](std::uint64_t w) { return detail::wildcard_bytes(w) != 0; },
            [](unsigned char c) { return c == '+' || c == '#'; });
        if (i == s.size())
            return false;
    }
    for (; i < s.size(); ++i)
        if (s[i] == '+' || s[i] == '#')
            return true;
    return false;
}

/// UTF-8 validity [MQTT-1.5.4-1] [MQTT-1.5.4-2] and no wildcard [MQTT-3.3.2-2]
/// in one pass: the check of every topic name read or written.
constexpr fault validate_topic_characters(std::string_view s) noexcept {
    std::size_t i = 0;
    if (!std::is_constant_evaluated()) {
        i = detail::scan_words(
            s,
            [](std::uint64_t w) {
                return (detail::non_plain_ascii(w) | detail::wildcard_bytes(w)) != 0;
            },
            [](unsigned char c) { return c == 0 || c >= 0x80 || c == '+' || c == '#'; });
        if (i == s.size())
            return {};
    }
    if (auto f = detail::validate_utf8_from(s, i))
        return f;
    for (; i < s.size(); ++i)
        if (s[i] == '+' || s[i] == '#')
            return codec_errc::topic_name_wildcard;
    return {};
}

constexpr fault validate_topic_name(std::string_view name) noexcept {
    if (name.empty())
        return codec_errc::topic_name_empty;
    if (contains_wildcard(name))
        return codec_errc::topic_name_wildcard;
    return {};
}

/// A shared subscription split into its parts (MQTT 5 §4.8.2).
struct shared_subscription {
    std::string_view share_name;
    std::string_view topic_filter;
};

inline constexpr std::string_view shared_subscription_prefix = "$share/";

/// True if `filter` starts with "$share/" (it is then a shared subscription,
/// valid or not).
constexpr bool is_shared_subscription(std::string_view filter) noexcept {
    return filter.starts_with(shared_subscription_prefix);
}

/// Splits "$share/{ShareName}/{filter}"; nullopt if `filter` is not of that form.
constexpr std::optional<shared_subscription>
parse_shared_subscription(std::string_view filter) noexcept {
    if (!is_shared_subscription(filter))
        return std::nullopt;
    auto rest = filter.substr(shared_subscription_prefix.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0)
        return std::nullopt;
    return shared_subscription{rest.substr(0, slash), rest.substr(slash + 1)};
}

namespace detail {

constexpr fault validate_plain_filter(std::string_view filter) noexcept {
    if (filter.empty())
        return codec_errc::topic_filter_empty;
    for (std::size_t i = 0; i < filter.size(); ++i) {
        const char c = filter[i];
        if (c != '+' && c != '#')
            continue;
        const bool starts_level = i == 0 || filter[i - 1] == '/';
        if (c == '#') {
            // '#' alone in the last level [MQTT-4.7.1-1]
            if (!starts_level || i + 1 != filter.size())
                return codec_errc::topic_filter_multi_level_wildcard;
        } else if (!starts_level || (i + 1 != filter.size() && filter[i + 1] != '/')) {
            return codec_errc::topic_filter_single_level_wildcard; // [MQTT-4.7.1-2]
        }
    }
    return {};
}

} // namespace detail

/// Checks a topic filter as SUBSCRIBE and UNSUBSCRIBE carry it: at least one
/// character, '#' alone in the last level, '+' alone in its level, and for a
/// shared subscription a non-empty ShareName without '/', '+' or '#' followed
/// by a valid filter [MQTT-4.8.2-1] [MQTT-4.8.2-2].
/// With `shared_rules` false (MQTT 3.1.1, which has no shared subscriptions)
/// a "$share/" filter is checked as an ordinary one.
constexpr fault validate_topic_filter(std::string_view filter, bool shared_rules = true) noexcept {
    if (shared_rules && is_shared_subscription(filter)) {
        const auto shared = parse_shared_subscription(filter);
        if (!shared || contains_wildcard(shared->share_name) || shared->topic_filter.empty())
            return codec_errc::shared_subscription_invalid;
        return detail::validate_plain_filter(shared->topic_filter);
    }
    return detail::validate_plain_filter(filter);
}

constexpr bool is_valid_topic_name(std::string_view name) noexcept {
    return name.size() <= max_string_length && !validate_topic_name(name) && !validate_utf8(name);
}

constexpr bool is_valid_topic_filter(std::string_view filter) noexcept {
    return filter.size() <= max_string_length && !validate_topic_filter(filter) &&
           !validate_utf8(filter);
}

/// True if topic name `name` matches topic filter `filter` (MQTT 5 §4.7).
/// A shared subscription matches as its inner filter does. Filters starting
/// with a wildcard do not match names starting with '$' [MQTT-4.7.2-1].
/// Both arguments are assumed valid.
constexpr bool topic_matches(std::string_view filter, std::string_view name) noexcept {
    if (auto shared = parse_shared_subscription(filter))
        filter = shared->topic_filter;
    if (!name.empty() && name.front() == '$' && !filter.empty() &&
        (filter.front() == '+' || filter.front() == '#'))
        return false;
    std::size_t f = 0, n = 0;
    while (true) {
        // Here f and n are at the starts of a level.
        if (f < filter.size() && filter[f] == '#')
            return true; // matches the parent and every child
        const auto f_end = std::min(filter.find('/', f), filter.size());
        const auto n_end = std::min(name.find('/', n), name.size());
        const auto f_level = filter.substr(f, f_end - f);
        if (f_level != "+" && f_level != name.substr(n, n_end - n))
            return false;
        const bool f_last = f_end == filter.size();
        const bool n_last = n_end == name.size();
        if (n_last) {
            // "a/#" also matches "a": the filter may continue with exactly "/#".
            return f_last || filter.substr(f_end) == "/#";
        }
        if (f_last)
            return false;
        f = f_end + 1;
        n = n_end + 1;
    }
}

namespace wire {

/// A topic name (MQTT 5 §3.3.2.1, §4.7): a UTF-8 string without wildcards,
/// validated in one pass. May be empty; the packet decides when that is allowed.
using topic = validated_string<&validate_topic_characters>;

} // namespace wire
} // namespace ctmqtt
