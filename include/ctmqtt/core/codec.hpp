// The public codec: sizes, encoders, decoders and validity checks of every
// packet, generated from the packet descriptions (describe.hpp, packets/).
//
// Encoding writes the fixed header and every field except PUBLISH's payload
// into a caller-provided buffer; the payload is returned as a second buffer
// for a gather write, so it is never copied. Decoding yields views into the
// input. Neither allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <system_error>
#include <type_traits>
#include <variant>

#include <ctmqtt/core/describe.hpp>
#include <ctmqtt/core/error.hpp>
#include <ctmqtt/core/packets/auth.hpp>
#include <ctmqtt/core/packets/connack.hpp>
#include <ctmqtt/core/packets/connect.hpp>
#include <ctmqtt/core/packets/disconnect.hpp>
#include <ctmqtt/core/packets/ping.hpp>
#include <ctmqtt/core/packets/publish.hpp>
#include <ctmqtt/core/packets/publish_ack.hpp>
#include <ctmqtt/core/packets/suback.hpp>
#include <ctmqtt/core/packets/subscribe.hpp>
#include <ctmqtt/core/packets/unsuback.hpp>
#include <ctmqtt/core/packets/unsubscribe.hpp>
#include <ctmqtt/core/result.hpp>

namespace ctmqtt {

/// A type with a packet description.
template <class P>
concept packet = requires {
    description<P>::type;
};

template <packet P>
inline constexpr packet_type packet_type_of = description<P>::type;

/// Every packet type, in packet-type order.
using any_packet =
    std::variant<connect, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe, suback,
                 unsubscribe, unsuback, pingreq, pingresp, disconnect, auth>;

namespace detail {

template <packet P>
constexpr protocol_version effective_version(const P& p, protocol_version v) noexcept {
    if constexpr (requires { p.version; })
        return p.version; // CONNECT carries its own
    else
        return v;
}

template <packet P>
constexpr bool exists_in(protocol_version v) noexcept {
    if constexpr (requires { description<P>::since; })
        return v >= description<P>::since;
    else
        return true;
}

template <packet P>
using codec_of = describe::record_codec<P>;

} // namespace detail

/// The remaining length of `p` encoded for version `v` (MQTT 5 §2.1.4).
template <packet P>
constexpr std::size_t remaining_length(const P& p, protocol_version v) noexcept {
    return detail::codec_of<P>::size(p, detail::effective_version(p, v));
}

/// The size of the whole encoded packet: fixed header, variable header, payload.
template <packet P>
constexpr std::size_t encoded_size(const P& p, protocol_version v) noexcept {
    const auto n = remaining_length(p, v);
    return 1 + wire::varint::size(static_cast<std::uint32_t>(n)) + n;
}

/// What encode() writes into the buffer: everything but PUBLISH's payload.
template <packet P>
constexpr std::size_t header_size(const P& p, protocol_version v) noexcept {
    if constexpr (std::is_same_v<P, publish>)
        return encoded_size(p, v) - p.payload.size();
    else
        return encoded_size(p, v);
}

namespace detail {

// The checks of check(), returning the remaining length on success.
template <packet P>
std::error_code check_sized(const P& p, protocol_version v, std::size_t& remaining) noexcept {
    constexpr auto type = packet_type_of<P>;
    if (!exists_in<P>(v))
        return make_error_code(codec_errc::reserved_packet_type, type, static_cast<unsigned>(type));
    if (auto f = description<P>::header::check(p, v))
        return f.in(type);
    if (auto f = codec_of<P>::check(p, v))
        return f.in(type);
    remaining = codec_of<P>::size(p, v);
    if (remaining > max_variable_byte_integer)
        return make_error_code(codec_errc::packet_too_large, type);
    return {};
}

} // namespace detail

/// Checks that `p` is a well-formed packet of version `v`, as the decoder would.
template <packet P>
std::error_code check(const P& p, protocol_version v) noexcept {
    std::size_t remaining = 0;
    return detail::check_sized(p, detail::effective_version(p, v), remaining);
}

/// An encoded packet: `header` (in the caller's buffer) followed by `payload`
/// (the caller's data, not copied; empty for every packet but PUBLISH).
struct encoded_packet {
    bytes_view header;
    bytes_view payload;
    constexpr std::size_t size() const noexcept { return header.size() + payload.size(); }
};

/// Encodes `p` for version `v` into `buffer`, which needs header_size(p, v)
/// bytes. Refuses a packet that check() rejects.
template <packet P>
result<encoded_packet> encode(const P& p, protocol_version v,
                              std::span<std::byte> buffer) noexcept {
    v = detail::effective_version(p, v);
    constexpr auto type = packet_type_of<P>;
    std::size_t rl = 0;
    if (auto ec = detail::check_sized(p, v, rl))
        return ec;
    const auto head = 1 + wire::varint::size(static_cast<std::uint32_t>(rl));
    bytes_view payload{};
    if constexpr (std::is_same_v<P, publish>)
        payload = p.payload;
    const auto needed = head + rl - payload.size();
    if (buffer.size() < needed)
        return make_error_code(codec_errc::buffer_too_small, type);
    std::byte* out = buffer.data();
    out = wire::put(out, static_cast<std::uint8_t>((static_cast<unsigned>(type) << 4) |
                                                   description<P>::header::encode(p, v)));
    out = wire::varint::write(static_cast<std::uint32_t>(rl), out);
    out = detail::codec_of<P>::write(p, v, out);
    return encoded_packet{bytes_view{buffer.data(), needed}, payload};
}

/// Encodes `p` whole (header, then the payload copied after it) at the end
/// of `out`, which needs `std::byte* extend(std::size_t)` (byte_buffer has
/// it): checked, sized and written in one pass. A packet longer than
/// `max_size` bytes (0: no limit) is not written: `too_large` is returned
/// (codec_errc::packet_too_large when that is empty). `too_large` may also
/// be a function returning the error, called only then (an error_code of
/// another category costs a call to its category on every packet).
template <packet P, class Buffer, class TooLarge = std::error_code>
std::error_code encode_append(const P& p, protocol_version v, Buffer& out, std::size_t max_size = 0,
                              const TooLarge& too_large = {}) {
    v = detail::effective_version(p, v);
    constexpr auto type = packet_type_of<P>;
    std::size_t rl = 0;
    if (auto ec = detail::check_sized(p, v, rl))
        return ec;
    const auto total = 1 + wire::varint::size(static_cast<std::uint32_t>(rl)) + rl;
    if (max_size != 0 && total > max_size) {
        std::error_code ec;
        if constexpr (std::is_invocable_r_v<std::error_code, const TooLarge&>)
            ec = too_large();
        else
            ec = too_large;
        return ec ? ec : make_error_code(codec_errc::packet_too_large, type);
    }
    std::byte* at = out.extend(total);
    at = wire::put(at, static_cast<std::uint8_t>((static_cast<unsigned>(type) << 4) |
                                                 description<P>::header::encode(p, v)));
    at = wire::varint::write(static_cast<std::uint32_t>(rl), at);
    at = detail::codec_of<P>::write(p, v, at);
    if constexpr (std::is_same_v<P, publish>)
        if (!p.payload.empty())
            std::memcpy(at, p.payload.data(), p.payload.size());
    return {};
}

/// A parsed fixed header (MQTT 5 §2.1.1).
struct fixed_header {
    packet_type type = packet_type::reserved;
    std::uint8_t flags = 0;
    std::uint32_t remaining_length = 0;
    std::uint8_t length = 0; ///< bytes taken by the fixed header itself (2..5)

    constexpr std::size_t packet_size() const noexcept {
        return length + std::size_t{remaining_length};
    }
};

namespace detail {

// parse_fixed_header without the result wrapper: an empty fault with
// h.length == 0 means more bytes are needed.
inline fault parse_header(bytes_view data, protocol_version v, fixed_header& h) noexcept {
    h.length = 0;
    if (data.empty())
        return {};
    const auto first = static_cast<std::uint8_t>(data[0]);
    h.type = static_cast<packet_type>(first >> 4);
    h.flags = static_cast<std::uint8_t>(first & 0x0F);
    if (h.type == packet_type::reserved ||
        (h.type == packet_type::auth && v != protocol_version::v5))
        return {codec_errc::reserved_packet_type, static_cast<std::uint8_t>(first >> 4)};
    const std::byte* p = data.data() + 1;
    if (auto f = wire::varint::read(p, data.data() + data.size(), h.remaining_length))
        return f.rule == codec_errc::incomplete_packet ? fault{} : f;
    h.length = static_cast<std::uint8_t>(p - data.data());
    return {};
}

inline std::error_code header_error(fault f, const fixed_header& h) noexcept {
    return f.rule == codec_errc::reserved_packet_type ? f.in(packet_type::reserved) : f.in(h.type);
}

} // namespace detail

/// Parses the fixed header at the start of `data`. nullopt: more bytes are
/// needed to know it. Errors: a reserved packet type, a remaining length of
/// more than 4 bytes or not in its shortest form.
inline result<std::optional<fixed_header>> parse_fixed_header(bytes_view data,
                                                              protocol_version v) noexcept {
    fixed_header h;
    if (auto f = detail::parse_header(data, v, h))
        return detail::header_error(f, h);
    if (h.length == 0)
        return std::optional<fixed_header>{};
    return std::optional<fixed_header>{h};
}

/// Decodes the body of a packet of type P whose fixed header is `header`;
/// `body` is exactly the remaining length. For CONNECT, `v` is ignored: the
/// packet says its own version.
template <packet P>
std::error_code decode_body(const fixed_header& header, bytes_view body, protocol_version v,
                            P& out) noexcept {
    constexpr auto type = packet_type_of<P>;
    if (header.type != type)
        return make_error_code(codec_errc::packet_type_mismatch, type,
                               static_cast<unsigned>(header.type));
    if (!detail::exists_in<P>(v))
        return make_error_code(codec_errc::reserved_packet_type, type,
                               static_cast<unsigned>(header.type));
    if (auto f = description<P>::header::decode(out, v, header.flags))
        return f.in(type);
    wire::reader r{body};
    if (auto f = detail::codec_of<P>::read(out, r, v))
        return f.in(type);
    if (!r.empty())
        return make_error_code(r.pos == body.data() ? codec_errc::remaining_length_not_zero
                                                    : codec_errc::trailing_bytes,
                               type);
    return {};
}

/// A decoded packet and the number of input bytes it took.
struct decoded_packet {
    any_packet packet;
    std::size_t size = 0;
};

namespace detail {

template <std::size_t I = 0>
std::error_code decode_as(const fixed_header& h, bytes_view body, protocol_version v,
                          any_packet& out) {
    if constexpr (I < std::variant_size_v<any_packet>) {
        using P = std::variant_alternative_t<I, any_packet>;
        if (packet_type_of<P> == h.type)
            return decode_body(h, body, v, out.emplace<I>());
        return decode_as<I + 1>(h, body, v, out);
    } else {
        return make_error_code(codec_errc::reserved_packet_type, packet_type::reserved,
                               static_cast<unsigned>(h.type));
    }
}

} // namespace detail

/// Decodes the first packet in `data` into `out`. The input must hold the
/// whole packet: a remaining length beyond the data is an error (a stream
/// reader uses parse_fixed_header to wait for more bytes instead).
inline std::error_code decode_packet(bytes_view data, protocol_version v,
                                     decoded_packet& out) noexcept {
    fixed_header h;
    if (auto f = detail::parse_header(data, v, h))
        return detail::header_error(f, h);
    if (h.length == 0)
        return make_error_code(codec_errc::incomplete_packet, packet_type::reserved);
    if (h.packet_size() > data.size())
        return make_error_code(codec_errc::incomplete_packet, h.type);
    out.size = h.packet_size();
    return detail::decode_as(h, data.subspan(h.length, h.remaining_length), v, out.packet);
}

/// Decodes the first packet in `data` (see the overload above).
inline result<decoded_packet> decode_packet(bytes_view data, protocol_version v) noexcept {
    result<decoded_packet> out{std::in_place};
    if (auto ec = decode_packet(data, v, *out))
        out = ec;
    return out; // one return of one object: never moved
}

/// Decodes `data` as one packet of type P (it must be exactly one packet)
/// into `out`, which must be default-constructed. The allocation-free,
/// move-free form of decode<P>(data, v).
template <packet P>
std::error_code decode(bytes_view data, protocol_version v, P& out) noexcept {
    fixed_header h;
    if (auto f = detail::parse_header(data, v, h))
        return detail::header_error(f, h);
    if (h.length == 0)
        return make_error_code(codec_errc::incomplete_packet, packet_type_of<P>);
    if (h.packet_size() > data.size())
        return make_error_code(codec_errc::incomplete_packet, h.type);
    if (h.packet_size() < data.size())
        return make_error_code(codec_errc::trailing_bytes, h.type);
    return decode_body(h, data.subspan(h.length), v, out);
}

/// Decodes `data` as one packet of type P (it must be exactly one packet).
template <packet P>
result<P> decode(bytes_view data, protocol_version v) noexcept {
    result<P> out{std::in_place};
    if (auto ec = decode(data, v, *out))
        out = ec;
    return out; // one return of one object: constructed in the caller's storage, never moved
}

/// Calls f(name, value) for every field of `p` present in version `v`, in
/// wire order (fixed-header flags first). Used by the printer and the tests.
template <packet P, class F>
constexpr void visit_fields(const P& p, protocol_version v, F&& f) {
    v = detail::effective_version(p, v);
    description<P>::header::visit(p, v, f);
    detail::codec_of<P>::visit(p, v, f);
}

/// Visits the fields of a list entry (e.g. a subscription).
template <class T, class F>
constexpr void visit_entry(const T& e, protocol_version v, F&& f) {
    describe::record_codec<T>::visit(e, v, f);
}

} // namespace ctmqtt
