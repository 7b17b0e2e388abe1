// Wire primitives (MQTT 5 §1.5): one-, two- and four-byte integers, variable
// byte integers, UTF-8 strings, binary data and string pairs. Each is a type
// with the same four static functions, which the packet descriptions name as
// the wire type of a field:
//   size(v)       encoded size in bytes
//   write(v, out) writes v, returns the end of what was written
//   read(r, v)    reads v from a reader, validating it; returns a fault
//   check(v)      what read() would reject, for the encoder
// Reading never copies: strings and binary data are views into the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include <ctmqtt/core/error.hpp>
#include <ctmqtt/core/types.hpp>
#include <ctmqtt/core/utf8.hpp>

namespace ctmqtt::wire {

/// A cursor over the bytes of one packet body.
struct reader {
    const std::byte* pos;
    const std::byte* end;

    constexpr reader(const std::byte* b, const std::byte* e) noexcept : pos(b), end(e) {}
    explicit constexpr reader(bytes_view b) noexcept : pos(b.data()), end(b.data() + b.size()) {}

    constexpr std::size_t remaining() const noexcept { return static_cast<std::size_t>(end - pos); }
    constexpr bool empty() const noexcept { return pos == end; }
};

constexpr std::byte* put(std::byte* out, std::uint8_t v) noexcept {
    *out = static_cast<std::byte>(v);
    return out + 1;
}

constexpr std::byte* put(std::byte* out, const void* data, std::size_t n) noexcept {
    if (n != 0)
        std::memcpy(out, data, n);
    return out + n;
}

/// One byte.
struct u8 {
    using value_type = std::uint8_t;
    static constexpr std::size_t size(value_type) noexcept { return 1; }
    static constexpr std::byte* write(value_type v, std::byte* out) noexcept { return put(out, v); }
    static constexpr fault read(reader& r, value_type& v) noexcept {
        if (r.empty())
            return codec_errc::field_truncated;
        v = static_cast<std::uint8_t>(*r.pos++);
        return {};
    }
    static constexpr fault check(value_type) noexcept { return {}; }
};

/// Two byte integer, big-endian (MQTT 5 §1.5.2).
struct u16 {
    using value_type = std::uint16_t;
    static constexpr std::size_t size(value_type) noexcept { return 2; }
    static constexpr std::byte* write(value_type v, std::byte* out) noexcept {
        out[0] = static_cast<std::byte>(v >> 8);
        out[1] = static_cast<std::byte>(v & 0xFF);
        return out + 2;
    }
    static constexpr fault read(reader& r, value_type& v) noexcept {
        if (r.remaining() < 2)
            return codec_errc::field_truncated;
        v = static_cast<std::uint16_t>((static_cast<unsigned>(r.pos[0]) << 8) |
                                       static_cast<unsigned>(r.pos[1]));
        r.pos += 2;
        return {};
    }
    static constexpr fault check(value_type) noexcept { return {}; }
};

/// Four byte integer, big-endian (MQTT 5 §1.5.3).
struct u32 {
    using value_type = std::uint32_t;
    static constexpr std::size_t size(value_type) noexcept { return 4; }
    static constexpr std::byte* write(value_type v, std::byte* out) noexcept {
        out[0] = static_cast<std::byte>(v >> 24);
        out[1] = static_cast<std::byte>((v >> 16) & 0xFF);
        out[2] = static_cast<std::byte>((v >> 8) & 0xFF);
        out[3] = static_cast<std::byte>(v & 0xFF);
        return out + 4;
    }
    static constexpr fault read(reader& r, value_type& v) noexcept {
        if (r.remaining() < 4)
            return codec_errc::field_truncated;
        v = (static_cast<std::uint32_t>(r.pos[0]) << 24) |
            (static_cast<std::uint32_t>(r.pos[1]) << 16) |
            (static_cast<std::uint32_t>(r.pos[2]) << 8) | static_cast<std::uint32_t>(r.pos[3]);
        r.pos += 4;
        return {};
    }
    static constexpr fault check(value_type) noexcept { return {}; }
};

/// Variable byte integer (MQTT 5 §1.5.5): at most 4 bytes, shortest form.
struct varint {
    using value_type = std::uint32_t;
    static constexpr std::size_t size(value_type v) noexcept {
        return v < 128u ? 1 : v < 16'384u ? 2 : v < 2'097'152u ? 3 : 4;
    }
    static constexpr std::byte* write(value_type v, std::byte* out) noexcept {
        do {
            auto b = static_cast<std::uint8_t>(v & 0x7F);
            v >>= 7;
            if (v != 0)
                b = static_cast<std::uint8_t>(b | 0x80);
            *out++ = static_cast<std::byte>(b);
        } while (v != 0);
        return out;
    }
    /// Reads from [p, end); on success stores the value and advances p.
    /// Returns incomplete_packet when the data ends inside the integer.
    static constexpr fault read(const std::byte*& p, const std::byte* end, value_type& v) noexcept {
        if (p != end && static_cast<std::uint8_t>(*p) < 0x80) { // one byte: the common case
            v = static_cast<std::uint8_t>(*p++);
            return {};
        }
        std::uint32_t value = 0;
        for (unsigned i = 0; i < 4; ++i) {
            if (p + i == end)
                return codec_errc::incomplete_packet;
            const auto b = static_cast<std::uint32_t>(p[i]);
            value |= (b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0) {
                if (b == 0 && i != 0)
                    return codec_errc::varint_not_minimal; // [MQTT-1.5.5-1]
                v = value;
                p += i + 1;
                return {};
            }
        }
        return codec_errc::varint_too_long;
    }
    static constexpr fault read(reader& r, value_type& v) noexcept {
        auto f = read(r.pos, r.end, v);
        return f.rule == codec_errc::incomplete_packet ? fault{codec_errc::field_truncated} : f;
    }
    static constexpr fault check(value_type v) noexcept {
        return v > max_variable_byte_integer ? fault{codec_errc::value_too_large} : fault{};
    }
};

/// Binary data: two-byte length then the bytes (MQTT 5 §1.5.6).
struct binary {
    using value_type = bytes_view;
    static constexpr std::size_t size(value_type v) noexcept { return 2 + v.size(); }
    static constexpr std::byte* write(value_type v, std::byte* out) noexcept {
        out = u16::write(static_cast<std::uint16_t>(v.size()), out);
        return put(out, v.data(), v.size());
    }
    static constexpr fault read(reader& r, value_type& v) noexcept {
        std::uint16_t n = 0;
        if (auto f = u16::read(r, n))
            return f;
        if (r.remaining() < n)
            return codec_errc::field_truncated;
        v = {r.pos, n};
        r.pos += n;
        return {};
    }
    static constexpr fault check(value_type v) noexcept {
        return v.size() > max_string_length ? fault{codec_errc::string_too_long} : fault{};
    }
};

/// A string: two-byte length then text that `Validate` accepts (MQTT 5 §1.5.4).
template <auto Validate>
struct validated_string {
    using value_type = std::string_view;
    static constexpr std::size_t size(value_type v) noexcept { return 2 + v.size(); }
    static constexpr std::byte* write(value_type v, std::byte* out) noexcept {
        out = u16::write(static_cast<std::uint16_t>(v.size()), out);
        return put(out, v.data(), v.size());
    }
    static constexpr fault read(reader& r, value_type& v) noexcept {
        bytes_view b;
        if (auto f = binary::read(r, b))
            return f;
        v = as_string(b);
        return Validate(v);
    }
    static constexpr fault check(value_type v) noexcept {
        if (v.size() > max_string_length)
            return codec_errc::string_too_long;
        return Validate(v);
    }
};

/// UTF-8 encoded string (MQTT 5 §1.5.4).
using utf8 = validated_string<&validate_utf8>;

/// UTF-8 string pair (MQTT 5 §1.5.7).
struct pair {
    using value_type = string_pair;
    static constexpr std::size_t size(const value_type& v) noexcept {
        return 4 + v.name.size() + v.value.size();
    }
    static constexpr std::byte* write(const value_type& v, std::byte* out) noexcept {
        return utf8::write(v.value, utf8::write(v.name, out));
    }
    static constexpr fault read(reader& r, value_type& v) noexcept {
        if (auto f = utf8::read(r, v.name))
            return f;
        return utf8::read(r, v.value);
    }
    static constexpr fault check(const value_type& v) noexcept {
        if (auto f = utf8::check(v.name))
            return f;
        return utf8::check(v.value);
    }
};

} // namespace ctmqtt::wire
