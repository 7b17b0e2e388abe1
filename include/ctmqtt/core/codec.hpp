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
#include <optional>
#include <span>
#include <system_error>
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
concept packet = requires { description<P>::type; };

template <packet P>
inline constexpr packet_type packet_type_of = description<P>::type;

/// Every packet type, in packet-type order.
using any_packet = std::variant<connect, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe, suback,
                                unsubscribe, unsuback, pingreq, pingresp, disconnect, auth>;

namespace detail {

template <packet P>
constexpr protocol_version effective_version(const P& p, protocol_version v) noexcept {
    if constexpr (requires { p.version; }) return p.version; // CONNECT carries its own
    else return v;
}

template <packet P>
constexpr bool exists_in(protocol_version v) noexcept {
    if constexpr (requires { description<P>::since; }) return v >= description<P>::since;
    else return true;
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
    if constexpr (std::is_same_v<P, publish>) return encoded_size(p, v) - p.payload.size();
    else return encoded_size(p, v);
}

/// Checks that `p` is a well-formed packet of version `v`, as the decoder would.
template <packet P>
std::error_code check(const P& p, protocol_version v) noexcept {
    v = detail::effective_version(p, v);
    constexpr auto type = packet_type_of<P>;
    if (!detail::exists_in<P>(v)) return make_error_code(codec_errc::reserved_packet_type, type, static_cast<unsigned>(type));
    if (auto f = description<P>::header::check(p, v)) return f.in(type);
    if (auto f = detail::codec_of<P>::check(p, v)) return f.in(type);
    if (remaining_length(p, v) > max_variable_byte_integer) return make_error_code(codec_errc::packet_too_large, type);
    return {};
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
result<encoded_packet> encode(const P& p, protocol_version v, std::span<std::byte> buffer) noexcept {
    v = detail::effective_version(p, v);
    constexpr auto type = packet_type_of<P>;
    if (auto ec = check(p, v)) return ec;
    const auto rl = remaining_length(p, v);
    const auto head = 1 + wire::varint::size(static_cast<std::uint32_t>(rl));
    bytes_view payload{};
    if constexpr (std::is_same_v<P, publish>) payload = p.payload;
    const auto needed = head + rl - payload.size();
    if (buffer.size() < needed) return make_error_code(codec_errc::buffer_too_small, type);
    std::byte* out = buffer.data();
    out = wire::put(out, static_cast<std::uint8_t>((static_cast<unsigned>(type) << 4) |
                                                   description<P>::header::encode(p, v)));
    out = wire::varint::write(static_cast<std::uint32_t>(rl), out);
    out = detail::codec_of<P>::write(p, v, out);
    return encoded_packet{bytes_view{buffer.data(), static_cast<std::size_t>(out - buffer.data())}, payload};
}

/// A parsed fixed header (MQTT 5 §2.1.1).
struct fixed_header {
    packet_type type = packet_type::reserved;
    std::uint8_t flags = 0;
    std::uint32_t remaining_length = 0;
    std::uint8_t length = 0; ///< bytes taken by the fixed header itself (2..5)

    constexpr std::size_t packet_size() const noexcept { return length + std::size_t{remaining_length}; }
};

/// Parses the fixed header at the start of `data`. nullopt: more bytes are
/// needed to know it. Errors: a reserved packet type, a remaining length of
/// more than 4 bytes or not in its shortest form.
inline result<std::optional<fixed_header>> parse_fixed_header(bytes_view data, protocol_version v) noexcept {
    if (data.empty()) return std::optional<fixed_header>{};
    const auto first = static_cast<std::uint8_t>(data[0]);
    const auto type = static_cast<packet_type>(first >> 4);
    if (type == packet_type::reserved || (type == packet_type::auth && v != protocol_version::v5))
        return make_error_code(codec_errc::reserved_packet_type, packet_type::reserved, first >> 4);
    const std::byte* p = data.data() + 1;
    std::uint32_t rl = 0;
    if (auto f = wire::varint::read(p, data.data() + data.size(), rl)) {
        if (f.rule == codec_errc::incomplete_packet) return std::optional<fixed_header>{};
        return f.in(type);
    }
    return std::optional<fixed_header>{fixed_header{type, static_cast<std::uint8_t>(first & 0x0F), rl,
                                                    static_cast<std::uint8_t>(p - data.data())}};
}

/// Decodes the body of a packet of type P whose fixed header is `header`;
/// `body` is exactly the remaining length. For CONNECT, `v` is ignored: the
/// packet says its own version.
template <packet P>
std::error_code decode_body(const fixed_header& header, bytes_view body, protocol_version v, P& out) noexcept {
    constexpr auto type = packet_type_of<P>;
    if (header.type != type || !detail::exists_in<P>(v))
        return make_error_code(codec_errc::reserved_packet_type, type, static_cast<unsigned>(header.type));
    if (auto f = description<P>::header::decode(out, v, header.flags)) return f.in(type);
    wire::reader r{body};
    if (auto f = detail::codec_of<P>::read(out, r, v)) return f.in(type);
    if (!r.empty())
        return make_error_code(r.pos == body.data() ? codec_errc::remaining_length_not_zero : codec_errc::trailing_bytes,
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
std::error_code decode_as(const fixed_header& h, bytes_view body, protocol_version v, any_packet& out) {
    if constexpr (I < std::variant_size_v<any_packet>) {
        using P = std::variant_alternative_t<I, any_packet>;
        if (packet_type_of<P> == h.type) return decode_body(h, body, v, out.emplace<I>());
        return decode_as<I + 1>(h, body, v, out);
    } else {
        return make_error_code(codec_errc::reserved_packet_type, packet_type::reserved, static_cast<unsigned>(h.type));
    }
}

} // namespace detail

/// Decodes the first packet in `data`. The input must hold the whole packet:
/// a remaining length beyond the data is an error (a stream reader uses
/// parse_fixed_header to wait for more bytes instead).
inline result<decoded_packet> decode_packet(bytes_view data, protocol_version v) noexcept {
    auto header = parse_fixed_header(data, v);
    if (!header) return header.error();
    if (!*header) return make_error_code(codec_errc::incomplete_packet, packet_type::reserved);
    const auto& h = **header;
    if (h.packet_size() > data.size()) return make_error_code(codec_errc::incomplete_packet, h.type);
    decoded_packet d;
    d.size = h.packet_size();
    if (auto ec = detail::decode_as(h, data.subspan(h.length, h.remaining_length), v, d.packet)) return ec;
    return d;
}

/// Decodes `data` as one packet of type P (it must be exactly one packet).
template <packet P>
result<P> decode(bytes_view data, protocol_version v) noexcept {
    auto header = parse_fixed_header(data, v);
    if (!header) return header.error();
    if (!*header) return make_error_code(codec_errc::incomplete_packet, packet_type_of<P>);
    const auto& h = **header;
    if (h.packet_size() > data.size()) return make_error_code(codec_errc::incomplete_packet, h.type);
    if (h.packet_size() < data.size()) return make_error_code(codec_errc::trailing_bytes, h.type);
    P p{};
    if (auto ec = decode_body(h, data.subspan(h.length), v, p)) return ec;
    return p;
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
