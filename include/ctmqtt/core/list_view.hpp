// list_view<T, Codec>: the repeated entries of a packet payload (topic
// filters of SUBSCRIBE and UNSUBSCRIBE, reason codes of SUBACK and UNSUBACK).
// When encoding it views the caller's std::span<const T>; when decoding it
// views the validated bytes of the input and decodes one entry per step,
// so neither direction allocates or copies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>

#include <ctmqtt/core/types.hpp>
#include <ctmqtt/core/wire.hpp>

namespace ctmqtt {

template <class T, class Codec>
class list_view {
public:
    using value_type = T;
    using codec = Codec;

    constexpr list_view() noexcept = default;
    template <std::size_t N>
    constexpr list_view(std::span<const T, N> items) noexcept : items_(items) {}
    template <std::size_t N>
    constexpr list_view(std::span<T, N> items) noexcept : items_(items) {}
    template <std::size_t N>
    constexpr list_view(const T (&items)[N]) noexcept : items_(items) {}

    /// Used by the decoder: `count` entries, already validated, in [begin, end).
    static constexpr list_view from_wire(const std::byte* begin, const std::byte* end,
                                         std::uint32_t count, protocol_version version) noexcept {
        list_view l;
        l.begin_ = begin;
        l.end_ = end;
        l.count_ = count;
        l.version_ = version;
        l.from_wire_ = true;
        return l;
    }

    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        using reference = T;
        using pointer = void;

        constexpr iterator() noexcept = default;
        constexpr T operator*() const noexcept {
            return owner_->from_wire_ ? current_ : owner_->items_[index_];
        }
        constexpr iterator& operator++() noexcept {
            ++index_;
            if (owner_->from_wire_)
                load();
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
        friend class list_view;
        constexpr iterator(const list_view* owner, std::size_t index) noexcept
            : owner_(owner), index_(index), cursor_(owner->begin_, owner->end_) {
            if (owner_->from_wire_)
                load();
        }
        constexpr void load() noexcept {
            if (index_ < owner_->count_)
                (void)Codec::read(cursor_, current_, owner_->version_);
        }
        const list_view* owner_ = nullptr;
        std::size_t index_ = 0;
        wire::reader cursor_{nullptr, nullptr};
        T current_{};
    };

    constexpr iterator begin() const noexcept { return iterator{this, 0}; }
    constexpr iterator end() const noexcept {
        iterator e;
        e.index_ = size();
        return e;
    }
    constexpr std::size_t size() const noexcept { return from_wire_ ? count_ : items_.size(); }
    constexpr bool empty() const noexcept { return size() == 0; }

    /// The encoded entries when this view came from the wire (empty otherwise).
    constexpr bytes_view wire_bytes() const noexcept {
        return from_wire_ ? bytes_view{begin_, static_cast<std::size_t>(end_ - begin_)}
                          : bytes_view{};
    }

private:
    std::span<const T> items_{};
    const std::byte* begin_ = nullptr;
    const std::byte* end_ = nullptr;
    std::uint32_t count_ = 0;
    protocol_version version_ = protocol_version::v5;
    bool from_wire_ = false;
};

} // namespace ctmqtt
