// Topic names and topic filters (MQTT 5 §4.7) and shared subscriptions
// (MQTT 5 §4.8.2): validation, matching, and parsing of $share/{name}/{filter}.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

#include <ctmqtt/core/error.hpp>
#include <ctmqtt/core/utf8.hpp>

namespace ctmqtt {

/// Checks a topic name as PUBLISH carries it: no wildcards [MQTT-3.3.2-2] and
/// at least one character [MQTT-4.7.3-1] (the UTF-8 rules are checked by the
/// string field that carries it). An empty name is allowed only with a topic
/// alias; the packet description checks that case.
/// True if `s` contains '+' or '#'. (On the hot path of every PUBLISH, so it
/// looks at eight bytes at a time; std::string_view::find_first_of costs a
/// memchr call per character with libstdc++.)
constexpr bool contains_wildcard(std::string_view s) noexcept {
    std::size_t i = 0;
    if (!std::is_constant_evaluated()) {
        constexpr std::uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
        constexpr std::uint64_t plus = ones * '+', hash = ones * '#';
        while (s.size() - i >= 8) {
            std::uint64_t w;
            std::memcpy(&w, s.data() + i, 8);
            const std::uint64_t a = w ^ plus, b = w ^ hash; // a zero byte where w has '+' / '#'
            if ((((a - ones) & ~a) | ((b - ones) & ~b)) & high) break;
            i += 8;
        }
    }
    for (; i < s.size(); ++i)
        if (s[i] == '+' || s[i] == '#') return true;
    return false;
}

constexpr fault validate_topic_name(std::string_view name) noexcept {
    if (name.empty()) return codec_errc::topic_name_empty;
    if (contains_wildcard(name)) return codec_errc::topic_name_wildcard;
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
constexpr std::optional<shared_subscription> parse_shared_subscription(std::string_view filter) noexcept {
    if (!is_shared_subscription(filter)) return std::nullopt;
    auto rest = filter.substr(shared_subscription_prefix.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0) return std::nullopt;
    return shared_subscription{rest.substr(0, slash), rest.substr(slash + 1)};
}

namespace detail {

constexpr fault validate_plain_filter(std::string_view filter) noexcept {
    if (filter.empty()) return codec_errc::topic_filter_empty;
    for (std::size_t i = 0; i < filter.size(); ++i) {
        const char c = filter[i];
        if (c != '+' && c != '#') continue;
        const bool starts_level = i == 0 || filter[i - 1] == '/';
        if (c == '#') {
            // '#' alone in the last level [MQTT-4.7.1-1]
            if (!starts_level || i + 1 != filter.size()) return codec_errc::topic_filter_multi_level_wildcard;
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
        if (!shared || contains_wildcard(shared->share_name) ||
            shared->topic_filter.empty())
            return codec_errc::shared_subscription_invalid;
        return detail::validate_plain_filter(shared->topic_filter);
    }
    return detail::validate_plain_filter(filter);
}

constexpr bool is_valid_topic_name(std::string_view name) noexcept {
    return name.size() <= max_string_length && !validate_topic_name(name) && !validate_utf8(name);
}

constexpr bool is_valid_topic_filter(std::string_view filter) noexcept {
    return filter.size() <= max_string_length && !validate_topic_filter(filter) && !validate_utf8(filter);
}

/// True if topic name `name` matches topic filter `filter` (MQTT 5 §4.7).
/// A shared subscription matches as its inner filter does. Filters starting
/// with a wildcard do not match names starting with '$' [MQTT-4.7.2-1].
/// Both arguments are assumed valid.
constexpr bool topic_matches(std::string_view filter, std::string_view name) noexcept {
    if (auto shared = parse_shared_subscription(filter)) filter = shared->topic_filter;
    if (!name.empty() && name.front() == '$' && !filter.empty() &&
        (filter.front() == '+' || filter.front() == '#'))
        return false;
    std::size_t f = 0, n = 0;
    while (true) {
        // Here f and n are at the starts of a level.
        if (f < filter.size() && filter[f] == '#') return true; // matches the parent and every child
        const auto f_end = std::min(filter.find('/', f), filter.size());
        const auto n_end = std::min(name.find('/', n), name.size());
        const auto f_level = filter.substr(f, f_end - f);
        if (f_level != "+" && f_level != name.substr(n, n_end - n)) return false;
        const bool f_last = f_end == filter.size();
        const bool n_last = n_end == name.size();
        if (n_last) {
            // "a/#" also matches "a": the filter may continue with exactly "/#".
            return f_last || filter.substr(f_end) == "/#";
        }
        if (f_last) return false;
        f = f_end + 1;
        n = n_end + 1;
    }
}

} // namespace ctmqtt
