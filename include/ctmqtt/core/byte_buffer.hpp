// byte_buffer: a growable byte array for output that is about to be
// overwritten. std::vector<std::byte>::resize zero-fills what it adds; a
// packet encoded there pays for writing every byte twice. extend() hands
// out uninitialised room instead. Capacity is kept across clear(), so a
// buffer that has reached its working size never allocates again.
//
// It is a contiguous range (begin()/end() are pointers, value_type and
// iterator are declared), so std::span and asio::buffer take it as they take
// a std::vector<std::byte>.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <utility>

#if defined(_MSC_VER)
#define CTMQTT_NOINLINE __declspec(noinline)
#else
#define CTMQTT_NOINLINE [[gnu::noinline]]
#endif

namespace ctmqtt {

class byte_buffer {
public:
    using value_type = std::byte;
    using size_type = std::size_t;
    using iterator = std::byte*;
    using const_iterator = const std::byte*;

    byte_buffer() noexcept = default;
    byte_buffer(byte_buffer&& other) noexcept
        : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)),
          capacity_(std::exchange(other.capacity_, 0)) {}
    byte_buffer& operator=(byte_buffer&& other) noexcept {
        data_ = std::move(other.data_);
        size_ = std::exchange(other.size_, 0);
        capacity_ = std::exchange(other.capacity_, 0);
        return *this;
    }

    std::byte* data() noexcept { return data_.get(); }
    const std::byte* data() const noexcept { return data_.get(); }
    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return capacity_; }
    bool empty() const noexcept { return size_ == 0; }
    std::span<const std::byte> view() const noexcept { return {data_.get(), size_}; }

    iterator begin() noexcept { return data_.get(); }
    iterator end() noexcept { return data_.get() + size_; }
    const_iterator begin() const noexcept { return data_.get(); }
    const_iterator end() const noexcept { return data_.get() + size_; }
    std::byte& operator[](std::size_t i) noexcept { return data_[i]; }
    const std::byte& operator[](std::size_t i) const noexcept { return data_[i]; }

    /// Adds `n` bytes at the end, uninitialised, and returns where they start.
    std::byte* extend(std::size_t n) {
        if (capacity_ - size_ < n) [[unlikely]]
            grow(size_ + n);
        std::byte* at = data_.get() + size_;
        size_ += n;
        return at;
    }

    void append(std::span<const std::byte> bytes) {
        if (!bytes.empty())
            std::memcpy(extend(bytes.size()), bytes.data(), bytes.size());
    }

    /// Keeps the first n bytes (a larger n changes nothing).
    void truncate(std::size_t n) noexcept { size_ = std::min(n, size_); }

    /// Drops the first n bytes, moving the rest to the front.
    void erase_front(std::size_t n) noexcept {
        n = std::min(n, size_);
        if (n != 0 && n != size_)
            std::memmove(data_.get(), data_.get() + n, size_ - n);
        size_ -= n;
    }

    void clear() noexcept { size_ = 0; }

    void reserve(std::size_t n) {
        if (n <= capacity_)
            return;
        // new std::byte[n] default-initialises: nothing is written
        std::unique_ptr<std::byte[]> bigger(new std::byte[n]);
        if (size_ != 0)
            std::memcpy(bigger.get(), data_.get(), size_);
        data_ = std::move(bigger);
        capacity_ = n;
    }

    void swap(byte_buffer& other) noexcept {
        data_.swap(other.data_);
        std::swap(size_, other.size_);
        std::swap(capacity_, other.capacity_);
    }

private:
    // Out of line: GCC would inline it into extend() (it is called once), and
    // extend() would then be too large to inline into every encoder.
    CTMQTT_NOINLINE void grow(std::size_t needed) { reserve(std::max(needed, capacity_ * 2)); }

    std::unique_ptr<std::byte[]> data_;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

} // namespace ctmqtt
