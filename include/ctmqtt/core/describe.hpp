// The vocabulary in which packets are described, and the generic code that
// turns a description into a size computation, an encoder, a validity check,
// a decoder and a field visitor.
//
// A description (specialisation of ctmqtt::description<P>) lists:
//   type    the packet type
//   header  the fixed-header flags: fixed_flags<0b0010> or header_bits<bits<...>...>
//   fields  field_list<...> of the variable header and payload, in wire order
//   rules   rule_list<...> of cross-field constraints, checked on both sides
// Each field names a member through an accessor, its wire type (wire.hpp),
// and a presence policy: a predicate over the packet and protocol version,
// evaluated on the partly decoded packet while decoding, so later fields can
// depend on earlier ones (the packet identifier on the QoS, the will topic on
// the will flag). Lists of entries (SUBSCRIBE's subscriptions) are described
// the same way: description<subscription> is a record with fields and rules.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

#include <ctmqtt/core/error.hpp>
#include <ctmqtt/core/list_view.hpp>
#include <ctmqtt/core/properties.hpp>
#include <ctmqtt/core/reason_codes.hpp>
#include <ctmqtt/core/types.hpp>
#include <ctmqtt/core/wire.hpp>

namespace ctmqtt {

/// Specialised once per packet type (and per list entry type) in core/packets/.
template <class T>
struct description;

namespace describe {

/// A string usable as a template argument: the name of a field.
template <std::size_t N>
struct fixed_string {
    char text[N]{};
    constexpr fixed_string(const char (&s)[N]) noexcept { std::copy_n(s, N, text); }
    constexpr std::string_view view() const noexcept { return {text, N - 1}; }
};

// ---------------------------------------------------------------- presence

inline constexpr auto always = [](const auto&, protocol_version) { return true; };
inline constexpr auto v5_only = [](const auto&, protocol_version v) {
    return v == protocol_version::v5;
};
inline constexpr auto before_v5 = [](const auto&, protocol_version v) {
    return v != protocol_version::v5;
};

/// Present when Pred(packet, version) holds, on both sides; with V5Only, only
/// in MQTT 5 (a value set for an older version is then refused, not dropped).
template <auto Pred, bool V5Only = false>
struct when {
    static constexpr bool v5_feature = V5Only;
    template <class P>
    static constexpr bool encode(const P& p, protocol_version v) noexcept {
        return (!V5Only || v == protocol_version::v5) && Pred(p, v);
    }
    template <class P>
    static constexpr bool decode(const P& p, protocol_version v, const wire::reader&) noexcept {
        return encode(p, v);
    }
    /// Would the field be written if the version were 5.0?
    template <class P>
    static constexpr bool in_v5(const P& p) noexcept {
        return Pred(p, protocol_version::v5);
    }
};

/// MQTT 5 short forms (§3.4.2.1 and siblings): written when Pred holds, read
/// when any bytes remain. Used for trailing reason codes and properties.
template <auto Pred>
struct tail_when {
    static constexpr bool v5_feature = true;
    template <class P>
    static constexpr bool in_v5(const P& p) noexcept {
        return Pred(p, protocol_version::v5);
    }
    template <class P>
    static constexpr bool encode(const P& p, protocol_version v) noexcept {
        return v == protocol_version::v5 && Pred(p, v);
    }
    template <class P>
    static constexpr bool decode(const P&, protocol_version v, const wire::reader& r) noexcept {
        return v == protocol_version::v5 && !r.empty();
    }
};

using present_always = when<always>;
using present_in_v5 = when<always, true>;

// ---------------------------------------------------------------- accessors

/// A data member.
template <auto M>
struct member {
    template <class P>
    static constexpr const auto& get(const P& p) noexcept {
        return p.*M;
    }
    template <class P>
    static constexpr auto& ref(P& p) noexcept {
        return p.*M;
    }
    template <class P, class V>
    static constexpr fault set(P& p, const V& v) noexcept {
        p.*M = v;
        return {};
    }
};

/// The value inside a std::optional member (read only when present).
template <auto M>
struct optional_value {
    template <class P>
    static constexpr const auto& get(const P& p) noexcept {
        return *(p.*M);
    }
    template <class P, class V>
    static constexpr fault set(P& p, const V& v) noexcept {
        p.*M = v;
        return {};
    }
};

/// Member Inner of the struct inside std::optional member Outer, used only
/// where the field's presence guarantees Outer is engaged.
template <auto Outer, auto Inner>
struct in_optional {
    template <class P>
    static constexpr const auto& get(const P& p) noexcept {
        return (*(p.*Outer)).*Inner;
    }
    template <class P>
    static constexpr auto& ref(P& p) noexcept {
        return (*(p.*Outer)).*Inner;
    }
    template <class P, class V>
    static constexpr fault set(P& p, const V& v) noexcept {
        (*(p.*Outer)).*Inner = v;
        return {};
    }
};

/// Whether a std::optional member is present (a flag bit).
template <auto M>
struct has_value {
    template <class P>
    static constexpr bool get(const P& p) noexcept {
        return (p.*M).has_value();
    }
    template <class P>
    static constexpr fault set(P& p, bool present) noexcept {
        if (present)
            (p.*M).emplace();
        else
            (p.*M).reset();
        return {};
    }
};

/// Member Inner of the struct inside std::optional member Outer. Reading a
/// non-default value while Outer is absent is the fault AbsentRule.
template <auto Outer, auto Inner, codec_errc AbsentRule>
struct optional_member {
    template <class P>
    static constexpr auto get(const P& p) noexcept {
        using V = std::remove_cvref_t<decltype((*(p.*Outer)).*Inner)>;
        return (p.*Outer) ? (*(p.*Outer)).*Inner : V{};
    }
    template <class P>
    static constexpr auto& ref(P& p) noexcept {
        return (*(p.*Outer)).*Inner;
    }
    template <class P, class V>
    static constexpr fault set(P& p, const V& v) noexcept {
        if (!(p.*Outer))
            return v == V{} ? fault{} : fault{AbsentRule};
        (*(p.*Outer)).*Inner = v;
        return {};
    }
};

// ---------------------------------------------------------------- bit fields

/// How a value is stored in a few bits, and which bit patterns are valid.
template <class T>
struct bit_value {
    static constexpr unsigned to(T v) noexcept { return static_cast<unsigned>(v); }
    static constexpr bool valid(unsigned raw) noexcept {
        if constexpr (std::is_same_v<T, qos> || std::is_same_v<T, retain_handling>)
            return raw <= 2;
        else
            return true;
    }
    static constexpr T from(unsigned raw) noexcept {
        if constexpr (std::is_same_v<T, bool>)
            return raw != 0;
        else
            return static_cast<T>(raw);
    }
};

/// Width bits at Shift holding the value of accessor Acc. A bit pattern that
/// bit_value rejects is the fault Invalid. Where Present does not hold (e.g.
/// 5.0-only subscription options in 3.1.1) the bits are reserved: non-zero is
/// the fault Reserved.
template <fixed_string Name, class Acc, unsigned Shift, unsigned Width,
          codec_errc Invalid = codec_errc{}, auto Present = always,
          codec_errc Reserved = codec_errc{}>
struct bits {
    static constexpr std::string_view name = Name.view();
    static constexpr unsigned mask = (1u << Width) - 1u;

    template <class P>
    using value_t = std::remove_cvref_t<decltype(Acc::get(std::declval<const P&>()))>;

    template <class P>
    static constexpr unsigned encode(const P& p, protocol_version v) noexcept {
        if (!Present(p, v))
            return 0;
        return (bit_value<value_t<P>>::to(Acc::get(p)) & mask) << Shift;
    }
    template <class P>
    static constexpr fault check(const P& p, protocol_version v) noexcept {
        const unsigned raw = bit_value<value_t<P>>::to(Acc::get(p));
        // Set on a version without these bits: refused, not dropped (they decode as reserved bits).
        if (!Present(p, v))
            return raw != 0 ? fault{codec_errc::requires_v5} : fault{};
        if (raw > mask || !bit_value<value_t<P>>::valid(raw))
            return Invalid;
        return {};
    }
    template <class P>
    static constexpr fault decode(P& p, protocol_version v, unsigned byte) noexcept {
        const unsigned raw = (byte >> Shift) & mask;
        if (!Present(p, v))
            return raw != 0 ? fault{Reserved} : fault{};
        if (!bit_value<value_t<P>>::valid(raw))
            return Invalid;
        return Acc::set(p, bit_value<value_t<P>>::from(raw));
    }
    template <class P, class F>
    static constexpr void visit(const P& p, protocol_version v, F& f) {
        if (Present(p, v))
            f(name, Acc::get(p));
    }
};

/// Bits that must hold Value (normally 0); anything else is the fault Rule.
template <unsigned Shift, unsigned Width, codec_errc Rule, unsigned Value = 0>
struct reserved_bits {
    static constexpr unsigned mask = (1u << Width) - 1u;
    template <class P>
    static constexpr unsigned encode(const P&, protocol_version) noexcept {
        return Value << Shift;
    }
    template <class P>
    static constexpr fault check(const P&, protocol_version) noexcept {
        return {};
    }
    template <class P>
    static constexpr fault decode(P&, protocol_version, unsigned byte) noexcept {
        return ((byte >> Shift) & mask) == Value ? fault{} : fault{Rule};
    }
    template <class P, class F>
    static constexpr void visit(const P&, protocol_version, F&) {}
};

// ---------------------------------------------------------------- fixed header

/// Fixed-header flags that are constant for the packet type (MQTT 5 §2.1.3).
template <std::uint8_t Flags>
struct fixed_flags {
    template <class P>
    static constexpr std::uint8_t encode(const P&, protocol_version) noexcept {
        return Flags;
    }
    template <class P>
    static constexpr fault check(const P&, protocol_version) noexcept {
        return {};
    }
    template <class P>
    static constexpr fault decode(P&, protocol_version, unsigned flags) noexcept {
        return flags == Flags ? fault{} : fault{codec_errc::fixed_header_flags};
    }
    template <class P, class F>
    static constexpr void visit(const P&, protocol_version, F&) {}
};

/// Fixed-header flags that carry values (PUBLISH: DUP, QoS, RETAIN).
template <class... Bits>
struct header_bits {
    template <class P>
    static constexpr std::uint8_t encode(const P& p, protocol_version v) noexcept {
        return static_cast<std::uint8_t>((Bits::encode(p, v) | ... | 0u));
    }
    template <class P>
    static constexpr fault check(const P& p, protocol_version v) noexcept {
        fault f;
        (void)((f = Bits::check(p, v)) || ...);
        return f;
    }
    template <class P>
    static constexpr fault decode(P& p, protocol_version v, unsigned flags) noexcept {
        fault f;
        (void)((f = Bits::decode(p, v, flags)) || ...);
        return f;
    }
    template <class P, class F>
    static constexpr void visit(const P& p, protocol_version v, F& f) {
        (Bits::visit(p, v, f), ...);
    }
};

// ---------------------------------------------------------------- field kinds

/// True if v is its type's default (empty for views).
template <class V>
constexpr bool is_default_value(const V& v) noexcept {
    if constexpr (requires { v.empty(); })
        return v.empty();
    else
        return v == V{};
}

/// For a field absent in version v: a value that only MQTT 5 can carry is
/// refused rather than silently dropped. `is_default` says whether the
/// field's value is the one the older version implies.
template <class Presence, class P>
constexpr fault check_absent(const P& p, protocol_version v, auto is_default) noexcept {
    if constexpr (Presence::v5_feature) {
        if (v != protocol_version::v5 && Presence::in_v5(p) && !is_default())
            return codec_errc::requires_v5;
    }
    return {};
}

/// A value of wire type Wire, held by accessor Acc, present per Presence,
/// with an extra semantic check Check(value, packet, version) -> fault.
inline constexpr auto no_check = [](const auto&, const auto&, protocol_version) { return fault{}; };

template <fixed_string Name, class Acc, class Wire, class Presence = present_always,
          auto Check = no_check>
struct field {
    static constexpr std::string_view name = Name.view();
    static constexpr bool is_payload = false;

    template <class P>
    static constexpr std::size_t size(const P& p, protocol_version v) noexcept {
        return Presence::encode(p, v) ? Wire::size(Acc::get(p)) : 0;
    }
    template <class P>
    static std::byte* write(const P& p, protocol_version v, std::byte* out) noexcept {
        return Presence::encode(p, v) ? Wire::write(Acc::get(p), out) : out;
    }
    template <class P>
    static constexpr fault check(const P& p, protocol_version v) noexcept {
        if (!Presence::encode(p, v))
            return check_absent<Presence>(p, v, [&] { return is_default_value(Acc::get(p)); });
        if (auto f = Wire::check(Acc::get(p)))
            return f;
        return Check(Acc::get(p), p, v);
    }
    template <class P>
    static constexpr fault read(P& p, wire::reader& r, protocol_version& v) noexcept {
        if (!Presence::decode(p, v, r))
            return {};
        typename Wire::value_type value{};
        if (auto f = Wire::read(r, value))
            return f;
        if (auto f = Check(value, p, v))
            return f;
        return Acc::set(p, value);
    }
    template <class P, class F>
    static constexpr void visit(const P& p, protocol_version v, F& f) {
        if (Presence::encode(p, v))
            f(name, Acc::get(p));
    }
};

/// One byte of bit fields (CONNECT flags, CONNACK acknowledge flags,
/// subscription options). Bits are decoded in the order listed.
template <fixed_string Name, class Presence, class... Bits>
struct flags_byte {
    static constexpr std::string_view name = Name.view();
    static constexpr bool is_payload = false;

    template <class P>
    static constexpr std::size_t size(const P& p, protocol_version v) noexcept {
        return Presence::encode(p, v) ? 1 : 0;
    }
    template <class P>
    static std::byte* write(const P& p, protocol_version v, std::byte* out) noexcept {
        if (!Presence::encode(p, v))
            return out;
        return wire::put(out, static_cast<std::uint8_t>((Bits::encode(p, v) | ... | 0u)));
    }
    template <class P>
    static constexpr fault check(const P& p, protocol_version v) noexcept {
        if (!Presence::encode(p, v))
            return {};
        fault f;
        (void)((f = Bits::check(p, v)) || ...);
        return f;
    }
    template <class P>
    static constexpr fault read(P& p, wire::reader& r, protocol_version& v) noexcept {
        if (!Presence::decode(p, v, r))
            return {};
        std::uint8_t byte = 0;
        if (auto f = wire::u8::read(r, byte))
            return f;
        fault f;
        (void)((f = Bits::decode(p, v, byte)) || ...);
        return f;
    }
    template <class P, class F>
    static constexpr void visit(const P& p, protocol_version v, F& f) {
        if (Presence::encode(p, v))
            (Bits::visit(p, v, f), ...);
    }
};

/// A property set (MQTT 5 §2.2.2): property length then properties.
template <fixed_string Name, class Acc, class Presence = present_in_v5>
struct properties {
    static constexpr std::string_view name = Name.view();
    static constexpr bool is_payload = false;

    template <class P>
    static constexpr std::size_t size(const P& p, protocol_version v) noexcept {
        return Presence::encode(p, v) ? Acc::get(p).encoded_size() : 0;
    }
    template <class P>
    static std::byte* write(const P& p, protocol_version v, std::byte* out) noexcept {
        return Presence::encode(p, v) ? Acc::get(p).write(out) : out;
    }
    template <class P>
    static constexpr fault check(const P& p, protocol_version v) noexcept {
        if (!Presence::encode(p, v))
            return check_absent<Presence>(p, v, [&] { return Acc::get(p).empty(); });
        return Acc::get(p).check(); // its size is checked with the packet's remaining length
    }
    template <class P>
    static constexpr fault read(P& p, wire::reader& r, protocol_version& v) noexcept {
        if (!Presence::decode(p, v, r))
            return {};
        return Acc::ref(p).read(r);
    }
    template <class P, class F>
    static constexpr void visit(const P& p, protocol_version v, F& f) {
        if (Presence::encode(p, v))
            f(name, Acc::get(p));
    }
};

/// Entries repeated to the end of the packet (MQTT 5 §3.8.3, §3.9.3, §3.10.3,
/// §3.11.3). Acc holds a list_view; at least one entry, else EmptyRule.
template <fixed_string Name, class Acc, codec_errc EmptyRule, class Presence = present_always>
struct list {
    static constexpr std::string_view name = Name.view();
    static constexpr bool is_payload = false;

    template <class P>
    using list_t = std::remove_cvref_t<decltype(Acc::get(std::declval<const P&>()))>;

    template <class P>
    static constexpr std::size_t size(const P& p, protocol_version v) noexcept {
        if (!Presence::encode(p, v))
            return 0;
        std::size_t n = 0;
        for (const auto& e : Acc::get(p))
            n += list_t<P>::codec::size(e, v);
        return n;
    }
    template <class P>
    static std::byte* write(const P& p, protocol_version v, std::byte* out) noexcept {
        if (!Presence::encode(p, v))
            return out;
        for (const auto& e : Acc::get(p))
            out = list_t<P>::codec::write(e, v, out);
        return out;
    }
    template <class P>
    static constexpr fault check(const P& p, protocol_version v) noexcept {
        if (!Presence::encode(p, v))
            return check_absent<Presence>(p, v, [&] { return Acc::get(p).empty(); });
        if (Acc::get(p).empty())
            return EmptyRule;
        for (const auto& e : Acc::get(p))
            if (auto f = list_t<P>::codec::check(e, v))
                return f;
        return {};
    }
    template <class P>
    static constexpr fault read(P& p, wire::reader& r, protocol_version& v) noexcept {
        if (!Presence::decode(p, v, r))
            return {};
        const auto* begin = r.pos;
        std::uint32_t count = 0;
        while (!r.empty()) {
            typename list_t<P>::value_type entry{};
            if (auto f = list_t<P>::codec::read(r, entry, v))
                return f;
            ++count;
        }
        if (count == 0)
            return EmptyRule;
        return Acc::set(p, list_t<P>::from_wire(begin, r.pos, count, v));
    }
    template <class P, class F>
    static constexpr void visit(const P& p, protocol_version v, F& f) {
        if (Presence::encode(p, v))
            f(name, Acc::get(p));
    }
};

/// Application payload: the rest of the packet (MQTT 5 §3.3.3). Never copied:
/// the encoder leaves it for a gather write, the decoder returns a view.
template <fixed_string Name, class Acc>
struct payload {
    static constexpr std::string_view name = Name.view();
    static constexpr bool is_payload = true;

    template <class P>
    static constexpr std::size_t size(const P& p, protocol_version) noexcept {
        return Acc::get(p).size();
    }
    template <class P>
    static std::byte* write(const P&, protocol_version, std::byte* out) noexcept {
        return out;
    }
    template <class P>
    static constexpr fault check(const P&, protocol_version) noexcept {
        return {};
    }
    template <class P>
    static constexpr fault read(P& p, wire::reader& r, protocol_version&) noexcept {
        const bytes_view rest{r.pos, r.remaining()};
        r.pos = r.end;
        return Acc::set(p, rest);
    }
    template <class P, class F>
    static constexpr void visit(const P& p, protocol_version, F& f) {
        f(name, Acc::get(p));
    }
};

// ---------------------------------------------------------------- semantic wire types

/// A reason code of packet P as one byte. In lists (SUBACK) the MQTT 3.1 and
/// 3.1.1 return codes are the subset {0, 1, 2} and {0, 1, 2, 0x80}.
template <packet_type P>
struct reason_code_wire {
    using value_type = basic_reason_code<P>;
    static constexpr std::size_t size(value_type) noexcept { return 1; }
    static constexpr std::size_t size(value_type, protocol_version) noexcept { return 1; }
    static constexpr std::byte* write(value_type c, std::byte* out) noexcept {
        return wire::put(out, c.value());
    }
    static constexpr std::byte* write(value_type c, protocol_version, std::byte* out) noexcept {
        return write(c, out);
    }
    static constexpr fault check(value_type c, protocol_version v = protocol_version::v5) noexcept {
        if (v != protocol_version::v5 && !allowed_before_v5(c.value(), v))
            return {codec_errc::reason_code_not_allowed, c.value()};
        return {};
    }
    static constexpr fault read(wire::reader& r, value_type& c,
                                protocol_version v = protocol_version::v5) noexcept {
        std::uint8_t raw = 0;
        if (auto f = wire::u8::read(r, raw))
            return f;
        auto code = value_type::from_value(raw);
        if (!code || (v != protocol_version::v5 && !allowed_before_v5(raw, v)))
            return {codec_errc::reason_code_not_allowed, raw};
        c = *code;
        return {};
    }

private:
    // SUBACK failure 0x80 arrived with 3.1.1 (§3.9.3); 3.1 grants QoS 0-2 only.
    static constexpr bool allowed_before_v5(std::uint8_t raw, protocol_version v) noexcept {
        return raw <= 2 ||
               (raw == 0x80 && P == packet_type::suback && v == protocol_version::v3_1_1);
    }
};

/// CONNACK return code of MQTT 3.1 / 3.1.1 (3.1.1 §3.2.2.3): 0..5.
struct return_code_wire {
    using value_type = connect_return_code;
    static constexpr std::size_t size(value_type) noexcept { return 1; }
    static constexpr std::byte* write(value_type c, std::byte* out) noexcept {
        return wire::put(out, static_cast<std::uint8_t>(c));
    }
    static constexpr fault check(value_type c) noexcept {
        const auto raw = static_cast<std::uint8_t>(c);
        return raw > 5 ? fault{codec_errc::return_code_reserved, raw} : fault{};
    }
    static constexpr fault read(wire::reader& r, value_type& c) noexcept {
        std::uint8_t raw = 0;
        if (auto f = wire::u8::read(r, raw))
            return f;
        c = static_cast<connect_return_code>(raw);
        return check(c);
    }
};

// ---------------------------------------------------------------- rules

/// A cross-field constraint: Holds(record, version) must be true, else Rule.
template <auto Holds, codec_errc Rule>
struct rule {
    template <class P>
    static constexpr fault check(const P& p, protocol_version v) noexcept {
        return Holds(p, v) ? fault{} : fault{Rule};
    }
};

template <class... Fields>
struct field_list {};
template <class... Rules>
struct rule_list {};

// ---------------------------------------------------------------- generic codec

template <class P, class Fields = typename description<P>::fields,
          class Rules = typename description<P>::rules>
struct record_codec;

/// Encoder, decoder, size and check of a record, generated from its fields and rules.
template <class P, class... F, class... R>
struct record_codec<P, field_list<F...>, rule_list<R...>> {
    static constexpr std::size_t size([[maybe_unused]] const P& p,
                                      [[maybe_unused]] protocol_version v) noexcept {
        return (F::size(p, v) + ... + 0);
    }

    static std::byte* write([[maybe_unused]] const P& p, [[maybe_unused]] protocol_version v,
                            std::byte* out) noexcept {
        ((out = F::write(p, v, out)), ...);
        return out;
    }

    static constexpr fault check([[maybe_unused]] const P& p,
                                 [[maybe_unused]] protocol_version v) noexcept {
        fault f;
        (void)(((f = F::check(p, v)) || ...) || ((f = R::check(p, v)) || ...));
        return f;
    }

    /// Reads every field; `v` may change while reading (CONNECT's protocol level).
    static constexpr fault read([[maybe_unused]] P& p, [[maybe_unused]] wire::reader& r,
                                [[maybe_unused]] protocol_version& v) noexcept {
        fault f;
        if ((... || (f = F::read(p, r, v))))
            return f;
        (void)((f = R::check(p, v)) || ...);
        return f;
    }

    template <class Fn>
    static constexpr void visit([[maybe_unused]] const P& p, [[maybe_unused]] protocol_version v,
                                [[maybe_unused]] Fn& fn) {
        (F::visit(p, v, fn), ...);
    }

    static constexpr bool has_payload = (F::is_payload || ...);
};

/// The codec of a list entry described as a record (e.g. a subscription).
template <class T>
struct entry_codec {
    static constexpr std::size_t size(const T& e, protocol_version v) noexcept {
        return record_codec<T>::size(e, v);
    }
    static std::byte* write(const T& e, protocol_version v, std::byte* out) noexcept {
        return record_codec<T>::write(e, v, out);
    }
    static constexpr fault check(const T& e, protocol_version v) noexcept {
        return record_codec<T>::check(e, v);
    }
    static constexpr fault read(wire::reader& r, T& e, protocol_version v) noexcept {
        return record_codec<T>::read(e, r, v);
    }
};

/// The codec of a list entry that is a single wire value (a topic filter).
template <class Wire, auto Check = no_check>
struct value_entry_codec {
    using T = typename Wire::value_type;
    static constexpr std::size_t size(const T& e, protocol_version) noexcept {
        return Wire::size(e);
    }
    static std::byte* write(const T& e, protocol_version, std::byte* out) noexcept {
        return Wire::write(e, out);
    }
    static constexpr fault check(const T& e, protocol_version v) noexcept {
        if (auto f = Wire::check(e))
            return f;
        return Check(e, e, v);
    }
    static constexpr fault read(wire::reader& r, T& e, protocol_version v) noexcept {
        if (auto f = Wire::read(r, e))
            return f;
        return Check(e, e, v);
    }
};

// ---------------------------------------------------------------- checks shared by packets

/// A packet identifier must be non-zero [MQTT-2.2.1-3].
inline constexpr auto non_zero_packet_id = [](std::uint16_t id, const auto&, protocol_version) {
    return id == 0 ? fault{codec_errc::packet_id_zero} : fault{};
};

} // namespace describe
} // namespace ctmqtt
