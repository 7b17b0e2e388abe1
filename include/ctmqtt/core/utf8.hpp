// UTF-8 validation for MQTT strings (MQTT 5 §1.5.4): well-formed per RFC 3629
// (no overlong forms, no surrogates U+D800..U+DFFF, nothing above U+10FFFF)
// [MQTT-1.5.4-1], and no U+0000 [MQTT-1.5.4-2].
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include <ctmqtt/core/error.hpp>

namespace ctmqtt {

namespace detail {

// Validates s from index i on, one code point at a time.
constexpr fault validate_utf8_from(std::string_view s, std::size_t i) noexcept {
    const std::size_t n = s.size();
    while (i < n) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            if (c == 0)
                return codec_errc::utf8_null;
            ++i;
            continue;
        }
        std::size_t need;
        unsigned lower = 0x80, upper = 0xBF; // bounds of the second byte
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lower = 0xA0; // overlong
            else if (c == 0xED)
                upper = 0x9F; // surrogates U+D800..U+DFFF
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lower = 0x90; // overlong
            else if (c == 0xF4)
                upper = 0x8F; // above U+10FFFF
        } else {
            return codec_errc::utf8_malformed; // a continuation byte, C0, C1 or F5..FF
        }
        if (n - i <= need)
            return codec_errc::utf8_malformed;
        const auto second = static_cast<unsigned char>(s[i + 1]);
        if (second < lower || second > upper)
            return codec_errc::utf8_malformed;
        for (std::size_t k = 2; k <= need; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80)
                return codec_errc::utf8_malformed;
        i += need + 1;
    }
    return {};
}

} // namespace detail

namespace detail {

constexpr std::uint64_t ones8 = 0x0101010101010101ull;
constexpr std::uint64_t high8 = 0x8080808080808080ull;

/// The high bit of each byte of w that is zero (exact as to whether any is).
constexpr std::uint64_t zero_bytes(std::uint64_t w) noexcept {
    return (w - ones8) & ~w & high8;
}

/// Bytes that stop the ASCII fast path: non-ASCII or zero.
constexpr std::uint64_t non_plain_ascii(std::uint64_t w) noexcept {
    return (w & high8) | zero_bytes(w);
}

/// The index of the first byte of s at which a word test `stops` fires, or
/// s.size() if none: eight bytes at a time, the last word overlapping the one
/// before it; strings shorter than a word byte by byte with `stops_byte`.
template <class WordTest, class ByteTest>
inline std::size_t scan_words(std::string_view s, WordTest stops, ByteTest stops_byte) noexcept {
    const std::size_t n = s.size();
    if (n < 8) {
        for (std::size_t i = 0; i < n; ++i)
            if (stops_byte(static_cast<unsigned char>(s[i])))
                return i;
        return n;
    }
    std::size_t i = 0;
    std::uint64_t w;
    for (; i + 8 <= n; i += 8) {
        std::memcpy(&w, s.data() + i, 8);
        if (stops(w))
            return i;
    }
    if (i < n) {
        std::memcpy(&w, s.data() + n - 8, 8);
        if (stops(w))
            return i;
    }
    return n;
}

} // namespace detail

/// Checks that `s` is a valid MQTT UTF-8 string body (not its length).
constexpr fault validate_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    if (!std::is_constant_evaluated()) {
        // Fast path: plain ASCII (no zero byte) a word at a time.
        i = detail::scan_words(
            s, [](std::uint64_t w) { return detail::non_plain_ascii(w) != 0; },
            [](unsigned char c) { return c == 0 || c >= 0x80; });
        if (i == s.size())
            return {};
    }
    return detail::validate_utf8_from(s, i);
}

/// True if `s` is a valid MQTT UTF-8 string (well-formed, no U+0000, at most 65,535 bytes).
constexpr bool is_valid_utf8(std::string_view s) noexcept {
    return s.size() <= max_string_length && !validate_utf8(s);
}

} // namespace ctmqtt
