// Property sets (MQTT 5 §2.2.2), generated from property_table.
//
// property_set<Scope> holds exactly the properties that Scope allows: a
// std::optional for each property that may appear once, a repeated_property
// view for each that may repeat (User Property; Subscription Identifier in
// PUBLISH). get<id>() and set<id>() of a property the scope does not allow
// fail to compile. Decoding checks identifiers, placement, repetition and
// value ranges, and keeps views into the input (nothing is copied).
#pragma once

#include <array>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>

#include <ctmqtt/core/error.hpp>
#include <ctmqtt/core/property_table.hpp>
#include <ctmqtt/core/topic.hpp>
#include <ctmqtt/core/wire.hpp>

namespace ctmqtt {

namespace detail {

template <property_wire W>
struct property_wire_type;
template <>
struct property_wire_type<property_wire::byte> {
    using type = wire::u8;
};
template <>
struct property_wire_type<property_wire::two_byte> {
    using type = wire::u16;
};
template <>
struct property_wire_type<property_wire::four_byte> {
    using type = wire::u32;
};
template <>
struct property_wire_type<property_wire::varint> {
    using type = wire::varint;
};
template <>
struct property_wire_type<property_wire::utf8> {
    using type = wire::utf8;
};
template <>
struct property_wire_type<property_wire::binary> {
    using type = wire::binary;
};
template <>
struct property_wire_type<property_wire::string_pair> {
    using type = wire::pair;
};

// Skips one value of wire type w, validating it as read() would.
constexpr fault skip_property_value(wire::reader& r, property_wire w) noexcept {
    switch (w) {
    case property_wire::byte: {
        std::uint8_t v;
        return wire::u8::read(r, v);
    }
    case property_wire::two_byte: {
        std::uint16_t v;
        return wire::u16::read(r, v);
    }
    case property_wire::four_byte: {
        std::uint32_t v;
        return wire::u32::read(r, v);
    }
    case property_wire::varint: {
        std::uint32_t v;
        return wire::varint::read(r, v);
    }
    case property_wire::utf8: {
        std::string_view v;
        return wire::utf8::read(r, v);
    }
    case property_wire::binary: {
        bytes_view v;
        return wire::binary::read(r, v);
    }
    case property_wire::string_pair: {
        string_pair v;
        return wire::pair::read(r, v);
    }
    }
    return codec_errc::property_unknown;
}

} // namespace detail

/// The wire type (wire::u8, wire::utf8, ...) of property `Id`.
template <property_id Id>
using property_wire_t = typename detail::property_wire_type<info(Id).wire>::type;

/// The value type of property `Id` (std::uint8_t, std::uint16_t, std::uint32_t,
/// std::string_view, bytes_view or string_pair).
template <property_id Id>
using property_value_t = typename property_wire_t<Id>::value_type;

/// The values of a property that may repeat: either a view over a decoded
/// property block (which it scans for its identifier) or the caller's span.
template <property_id Id>
class repeated_property {
public:
    using value_type = property_value_t<Id>;

    constexpr repeated_property() noexcept = default;
    template <std::size_t N>
    constexpr repeated_property(std::span<const value_type, N> items) noexcept
        : items_(items.data()), size_(static_cast<std::uint32_t>(items.size())) {}
    template <std::size_t N>
    constexpr repeated_property(std::span<value_type, N> items) noexcept
        : items_(items.data()), size_(static_cast<std::uint32_t>(items.size())) {}
    template <std::size_t N>
    constexpr repeated_property(const value_type (&items)[N]) noexcept
        : items_(items), size_(static_cast<std::uint32_t>(N)) {}

    /// Used by the decoder: the validated property block and how many times Id occurs in it.
    static constexpr repeated_property from_block(bytes_view block, std::uint32_t count) noexcept {
        repeated_property r;
        r.block_ = block.data();
        r.size_ = count;
        r.block_length_ = static_cast<std::uint32_t>(block.size()) | from_block_bit;
        return r;
    }

    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = property_value_t<Id>;
        using difference_type = std::ptrdiff_t;
        using reference = value_type;
        using pointer = void;

        constexpr iterator() noexcept = default;
        constexpr value_type operator*() const noexcept {
            return owner_->from_block() ? current_ : owner_->items_[index_];
        }
        constexpr iterator& operator++() noexcept {
            ++index_;
            if (owner_->from_block())
                seek();
            return *this;
        }
        constexpr iterator operator++(int) noexcept {
            auto t = *this;
            ++*this;
            return t;
        }
        friend constexpr bool operator==(const iterator& a, const iterator& b) noexcept {
            return a.index_ == b.index_;
        }

    private:
        friend class repeated_property;
        constexpr iterator(const repeated_property* owner, std::size_t index) noexcept
            : owner_(owner), index_(index),
              cursor_(owner->block_, owner->block_ + owner->block_length()) {
            if (owner_->from_block() && index_ < owner_->size())
                seek();
        }
        // Advances the cursor to the next occurrence of Id and decodes it.
        // The block was validated when it was decoded, so reads cannot fail.
        constexpr void seek() noexcept {
            if (index_ >= owner_->size())
                return;
            while (!cursor_.empty()) {
                std::uint32_t id = 0;
                (void)wire::varint::read(cursor_, id);
                if (id == static_cast<std::uint32_t>(Id)) {
                    (void)property_wire_t<Id>::read(cursor_, current_);
                    return;
                }
                (void)detail::skip_property_value(cursor_, find_property(id)->wire);
            }
        }
        const repeated_property* owner_ = nullptr;
        std::size_t index_ = 0;
        wire::reader cursor_{nullptr, nullptr};
        value_type current_{};
    };

    constexpr iterator begin() const noexcept { return iterator{this, 0}; }
    constexpr iterator end() const noexcept {
        iterator e;
        e.index_ = size();
        return e;
    }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size() == 0; }

private:
    // 16 bytes, as small as a span: this is in every decoded packet, built each time.
    static constexpr std::uint32_t from_block_bit = 0x8000'0000u; // blocks are < 2^28 bytes
    constexpr bool from_block() const noexcept { return (block_length_ & from_block_bit) != 0; }
    constexpr std::size_t block_length() const noexcept { return block_length_ & ~from_block_bit; }
    union {
        const value_type* items_ = nullptr; ///< the caller's values
        const std::byte* block_;            ///< a decoded property block
    };
    std::uint32_t size_ = 0;         ///< values, in either form
    std::uint32_t block_length_ = 0; ///< with from_block_bit
};

namespace detail {

// The identifiers a scope allows, in table order.
template <property_scope Scope>
constexpr auto allowed_property_ids() noexcept {
    constexpr std::size_t n = [] {
        std::size_t count = 0;
        for (const auto& p : property_table)
            count += (p.allowed & scope_bit(Scope)) != 0;
        return count;
    }();
    std::array<property_id, n> ids{};
    std::size_t i = 0;
    for (const auto& p : property_table)
        if ((p.allowed & scope_bit(Scope)) != 0)
            ids[i++] = p.id;
    return ids;
}

template <property_scope Scope, property_id Id>
using property_slot_t = std::conditional_t<property_repeats(Scope, Id), repeated_property<Id>,
                                           std::optional<property_value_t<Id>>>;

template <property_id Id, class V>
constexpr fault check_property_range(const V& v) noexcept {
    if constexpr (std::is_integral_v<V>) {
        switch (info(Id).range) {
        case property_range::zero_or_one:
            if (v > 1)
                return {codec_errc::property_value, static_cast<std::uint8_t>(Id)};
            break;
        case property_range::non_zero:
            if (v == 0)
                return {codec_errc::property_value, static_cast<std::uint8_t>(Id)};
            break;
        case property_range::any:
        case property_range::topic_name: break;
        }
    } else if constexpr (std::is_same_v<V, std::string_view>) {
        if (info(Id).range == property_range::topic_name && validate_topic_name(v))
            return {codec_errc::property_value, static_cast<std::uint8_t>(Id)};
    }
    return property_wire_t<Id>::check(v);
}

template <property_scope Scope, class Seq>
struct property_storage;
template <property_scope Scope, std::size_t... I>
struct property_storage<Scope, std::index_sequence<I...>> {
    static constexpr auto ids = allowed_property_ids<Scope>();
    using type = std::tuple<property_slot_t<Scope, ids[I]>...>;
};

} // namespace detail

/// The properties of one packet (or of a will), restricted at compile time to
/// those the scope allows.
template <property_scope Scope>
class property_set {
    static constexpr auto ids = detail::allowed_property_ids<Scope>();
    using storage =
        typename detail::property_storage<Scope, std::make_index_sequence<ids.size()>>::type;

    template <property_id Id>
    static constexpr std::size_t slot_index() noexcept {
        static_assert(property_allowed(Scope, Id),
                      "this property is not allowed in this packet (MQTT 5 §2.2.2.2)");
        std::size_t i = 0;
        while (i + 1 < ids.size() && ids[i] != Id)
            ++i; // bounded: only the static_assert reports a bad Id
        return i;
    }

public:
    static constexpr property_scope scope = Scope;

    /// True if the scope allows property Id.
    template <property_id Id>
    static constexpr bool allows = property_allowed(Scope, Id);

    /// The slot of property Id: a std::optional, or a repeated_property for one that may repeat.
    template <property_id Id>
    constexpr auto& get() noexcept {
        return std::get<slot_index<Id>()>(slots_);
    }
    template <property_id Id>
    constexpr const auto& get() const noexcept {
        return std::get<slot_index<Id>()>(slots_);
    }

    /// Sets property Id (for one that repeats: a span of values, which must outlive the set).
    template <property_id Id, class V>
    constexpr property_set& set(V&& value) {
        get<Id>() = std::forward<V>(value);
        return *this;
    }

    /// True if no property is present.
    constexpr bool empty() const noexcept {
        return std::apply([](const auto&... s) { return (is_empty(s) && ...); }, slots_);
    }

    /// Calls f(property_id, value) for every property present, repeated ones once per value.
    template <class F>
    constexpr void for_each(F&& f) const {
        for_each_slot([&]<property_id Id>(const auto& slot) {
            if constexpr (property_repeats(Scope, Id)) {
                if (!slot.empty())
                    for (auto v : slot)
                        f(Id, v);
            } else if (slot) {
                f(Id, *slot);
            }
        });
    }

    // The codec below is used by the packet descriptions (describe.hpp).

    /// Size of the properties without the property length.
    constexpr std::size_t content_size() const noexcept {
        std::size_t n = 0;
        for_each_slot([&]<property_id Id>(const auto& slot) {
            if constexpr (property_repeats(Scope, Id)) {
                if (!slot.empty())
                    for (auto v : slot)
                        n += 1 + property_wire_t<Id>::size(v);
            } else if (slot) {
                n += 1 + property_wire_t<Id>::size(*slot);
            }
        });
        return n;
    }

    /// Size including the property length (MQTT 5 §2.2.2.1).
    constexpr std::size_t encoded_size() const noexcept {
        const auto n = content_size();
        return wire::varint::size(static_cast<std::uint32_t>(n)) + n;
    }

    std::byte* write(std::byte* out) const noexcept {
        out = wire::varint::write(static_cast<std::uint32_t>(content_size()), out);
        for_each_slot([&]<property_id Id>(const auto& slot) {
            auto write_one = [&](const auto& v) {
                out = wire::put(out, static_cast<std::uint8_t>(Id));
                out = property_wire_t<Id>::write(v, out);
            };
            if constexpr (property_repeats(Scope, Id)) {
                if (!slot.empty())
                    for (auto v : slot)
                        write_one(v);
            } else if (slot) {
                write_one(*slot);
            }
        });
        return out;
    }

    /// What the decoder would reject, for the encoder.
    constexpr fault check() const noexcept {
        fault result;
        for_each_slot([&]<property_id Id>(const auto& slot) {
            if (result)
                return;
            if constexpr (property_repeats(Scope, Id)) {
                if (slot.empty())
                    return;
                for (auto v : slot)
                    if (auto f = detail::check_property_range<Id>(v)) {
                        result = f;
                        return;
                    }
            } else if (slot) {
                result = detail::check_property_range<Id>(*slot);
            }
        });
        return result;
    }

    /// Reads property length and properties; the set must be empty before.
    constexpr fault read(wire::reader& r) noexcept {
        std::uint32_t length = 0;
        if (auto f = wire::varint::read(r, length))
            return f;
        if (length > r.remaining())
            return codec_errc::property_length;
        if (length == 0)
            return {}; // the common case: nothing to read
        const bytes_view block{r.pos, length};
        wire::reader in{r.pos, r.pos + length};
        r.pos += length;
        std::uint64_t seen = 0;
        std::array<std::uint32_t, ids.size()> counts{};
        while (!in.empty()) {
            std::uint32_t id = static_cast<std::uint8_t>(*in.pos);
            if (id < 0x80)
                ++in.pos; // every defined identifier fits one byte
            else if (auto f = wire::varint::read(in, id))
                return f;
            const auto* p = find_property(id);
            if (!p)
                return {codec_errc::property_unknown,
                        static_cast<std::uint8_t>(id > 0xFF ? 0xFF : id)};
            if ((p->allowed & scope_bit(Scope)) == 0)
                return {codec_errc::property_not_allowed, static_cast<std::uint8_t>(id)};
            const auto bit = std::uint64_t{1} << id;
            if ((seen & bit) != 0 && (p->repeats & scope_bit(Scope)) == 0)
                return {codec_errc::property_duplicate, static_cast<std::uint8_t>(id)};
            seen |= bit;
            if (auto f = read_value(static_cast<property_id>(id), in, counts))
                return f;
        }
        // Repeated properties become views over the block.
        for_each_slot_mut([&]<property_id Id, std::size_t I>(auto& slot) {
            if constexpr (property_repeats(Scope, Id)) {
                if (counts[I] != 0)
                    slot = repeated_property<Id>::from_block(block, counts[I]);
            }
        });
        return {};
    }

private:
    static constexpr bool is_empty(const auto& slot) noexcept {
        if constexpr (requires { slot.has_value(); })
            return !slot.has_value();
        else
            return slot.empty();
    }

    template <class F, std::size_t... I>
    constexpr void for_each_slot_impl(F& f, std::index_sequence<I...>) const {
        (f.template operator()<ids[I]>(std::get<I>(slots_)), ...);
    }
    template <class F>
    constexpr void for_each_slot(F&& f) const {
        for_each_slot_impl(f, std::make_index_sequence<ids.size()>{});
    }
    template <class F, std::size_t... I>
    constexpr void for_each_slot_mut_impl(F& f, std::index_sequence<I...>) {
        (f.template operator()<ids[I], I>(std::get<I>(slots_)), ...);
    }
    template <class F>
    constexpr void for_each_slot_mut(F&& f) {
        for_each_slot_mut_impl(f, std::make_index_sequence<ids.size()>{});
    }

    template <std::size_t I>
    constexpr fault read_slot(wire::reader& in,
                              std::array<std::uint32_t, ids.size()>& counts) noexcept {
        constexpr property_id id = ids[I];
        property_value_t<id> v{};
        if (auto f = property_wire_t<id>::read(in, v))
            return f;
        if (auto f = detail::check_property_range<id>(v))
            return f;
        if constexpr (property_repeats(Scope, id))
            ++counts[I];
        else
            std::get<I>(slots_) = v;
        return {};
    }

    template <std::size_t... I>
    constexpr fault read_value_impl(property_id id, wire::reader& in,
                                    std::array<std::uint32_t, ids.size()>& counts,
                                    std::index_sequence<I...>) noexcept {
        fault f;
        (void)((id == ids[I] ? (f = read_slot<I>(in, counts), true) : false) || ...);
        return f;
    }
    constexpr fault read_value(property_id id, wire::reader& in,
                               std::array<std::uint32_t, ids.size()>& counts) noexcept {
        return read_value_impl(id, in, counts, std::make_index_sequence<ids.size()>{});
    }

    storage slots_{};
};

using connect_properties = property_set<property_scope::connect>;
using will_properties = property_set<property_scope::will>;
using connack_properties = property_set<property_scope::connack>;
using publish_properties = property_set<property_scope::publish>;
using puback_properties = property_set<property_scope::puback>;
using pubrec_properties = property_set<property_scope::pubrec>;
using pubrel_properties = property_set<property_scope::pubrel>;
using pubcomp_properties = property_set<property_scope::pubcomp>;
using subscribe_properties = property_set<property_scope::subscribe>;
using suback_properties = property_set<property_scope::suback>;
using unsubscribe_properties = property_set<property_scope::unsubscribe>;
using unsuback_properties = property_set<property_scope::unsuback>;
using disconnect_properties = property_set<property_scope::disconnect>;
using auth_properties = property_set<property_scope::auth>;

} // namespace ctmqtt
