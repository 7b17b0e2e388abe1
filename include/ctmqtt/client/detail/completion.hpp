// Building blocks of the client that allocate nothing in steady state:
// - completion<Args...>: an Asio completion handler of any type, type-erased
//   into inline storage (a heap block only for a handler too big for it), so
//   waiting operations sit in plain tables;
// - ring<T>: a FIFO on one reused array (std::deque frees and allocates
//   blocks as it moves).
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/system/error_code.hpp>

namespace ctmqtt::detail {

/// An Asio completion handler for signature void(boost::system::error_code,
/// Args...), stored without its type. complete() hands the result to the
/// handler through its associated executor (never inside the caller), as
/// every Asio operation does.
template <class... Args>
class completion {
public:
    static constexpr std::size_t inline_size = 80;

    completion() noexcept = default;

    template <class Handler>
    requires(!std::is_same_v<std::decay_t<Handler>, completion>) explicit completion(Handler&& h) {
        using H = std::decay_t<Handler>;
        slot_ = boost::asio::get_associated_cancellation_slot(h);
        if constexpr (fits<H>) {
            ::new (static_cast<void*>(storage_)) H(std::forward<Handler>(h));
            ops_ = &inline_ops<H>;
        } else {
            *reinterpret_cast<H**>(storage_) = new H(std::forward<Handler>(h));
            ops_ = &heap_ops<H>;
        }
    }

    completion(completion&& other) noexcept { take(other); }
    completion& operator=(completion&& other) noexcept {
        if (this != &other) {
            reset();
            take(other);
        }
        return *this;
    }
    completion(const completion&) = delete;
    completion& operator=(const completion&) = delete;
    ~completion() { reset(); }

    explicit operator bool() const noexcept { return ops_ != nullptr; }

    /// The handler's cancellation slot (not connected when it has none).
    boost::asio::cancellation_slot cancellation_slot() const noexcept { return slot_; }

    /// Completes the operation: posts the handler with (ec, args...) to its
    /// associated executor, `fallback` when it has none. Empties *this.
    void complete(const boost::asio::any_io_executor& fallback, std::error_code ec, Args... args) {
        if (!ops_)
            return;
        if (slot_.is_connected())
            slot_.clear();
        const auto* ops = std::exchange(ops_, nullptr);
        ops->post(storage_, fallback, ec, std::move(args)...);
    }

    /// Completes the operation from the client's strand, outside the
    /// function that started it: a handler with an associated executor of its
    /// own gets the result through asio::dispatch on it (inline when already
    /// there); one without runs here, on the client's executor, as Asio's rule
    /// for I/O objects says. Nothing is allocated either way.
    void invoke(std::error_code ec, Args... args) {
        if (!ops_)
            return;
        if (slot_.is_connected())
            slot_.clear();
        const auto* ops = std::exchange(ops_, nullptr);
        ops->invoke(storage_, ec, std::move(args)...);
    }

    void reset() noexcept {
        if (ops_) {
            if (slot_.is_connected())
                slot_.clear();
            std::exchange(ops_, nullptr)->destroy(storage_);
        }
    }

private:
    template <class H>
    static constexpr bool
        fits = sizeof(H) <= inline_size &&
               alignof(H) <= alignof(std::max_align_t) && std::is_nothrow_move_constructible_v<H>;

    struct operations {
        void (*post)(unsigned char* storage, const boost::asio::any_io_executor& fallback,
                     std::error_code ec, Args&&... args);
        void (*invoke)(unsigned char* storage, std::error_code ec, Args&&... args);
        void (*move)(unsigned char* from, unsigned char* to) noexcept;
        void (*destroy)(unsigned char* storage) noexcept;
    };

    template <class H>
    static H& inline_ref(unsigned char* s) noexcept {
        return *std::launder(reinterpret_cast<H*>(s));
    }
    template <class H>
    static H*& heap_ptr(unsigned char* s) noexcept {
        return *std::launder(reinterpret_cast<H**>(s));
    }

    // Posts to the handler's executor a function object that calls it. The
    // posted object keeps the handler's associated allocator (Asio recycles
    // its memory per thread), so steady state allocates nothing.
    template <class H>
    static void post_result(H h, const boost::asio::any_io_executor& fallback, std::error_code ec,
                            Args&&... args) {
        auto ex = boost::asio::get_associated_executor(h, fallback);
        boost::asio::post(
            ex, invoker<H>{std::move(h), to_boost(ec), std::tuple<Args...>{std::move(args)...}});
    }

    // Boost turns its system and generic categories into std's when an
    // error_code converts to std::error_code, but does not turn them back:
    // done here, so that `ec == asio::error::operation_aborted` holds for the
    // user. Other categories (ours, Asio's misc and netdb ones) convert as
    // Boost does. Success, the common case, skips the comparisons.
    static boost::system::error_code to_boost(std::error_code ec) noexcept {
        if (!ec)
            return {};
        if (ec.category() == std::system_category())
            return {ec.value(), boost::system::system_category()};
        if (ec.category() == std::generic_category())
            return {ec.value(), boost::system::generic_category()};
        return boost::system::error_code{ec};
    }

    template <class H>
    static void invoke_result(H h, std::error_code ec, Args&&... args) {
        if constexpr (std::is_same_v<boost::asio::associated_executor_t<H>,
                                     boost::asio::system_executor>) {
            std::move(h)(to_boost(ec), std::move(args)...);
        } else {
            auto ex = boost::asio::get_associated_executor(h);
            boost::asio::dispatch(ex, invoker<H>{std::move(h), to_boost(ec),
                                                 std::tuple<Args...>{std::move(args)...}});
        }
    }

    template <class H>
    struct invoker {
        H handler;
        boost::system::error_code ec;
        std::tuple<Args...> args;
        void operator()() {
            std::apply([this](Args&... a) { std::move(handler)(ec, std::move(a)...); }, args);
        }
        using allocator_type = boost::asio::associated_allocator_t<H>;
        allocator_type get_allocator() const noexcept {
            return boost::asio::get_associated_allocator(handler);
        }
    };

    template <class H>
    static constexpr operations inline_ops = {
        [](unsigned char* s, const boost::asio::any_io_executor& fb, std::error_code ec,
           Args&&... args) {
            H h(std::move(inline_ref<H>(s)));
            inline_ref<H>(s).~H();
            post_result(std::move(h), fb, ec, std::forward<Args>(args)...);
        },
        [](unsigned char* s, std::error_code ec, Args&&... args) {
            H h(std::move(inline_ref<H>(s)));
            inline_ref<H>(s).~H();
            invoke_result(std::move(h), ec, std::forward<Args>(args)...);
        },
        [](unsigned char* from, unsigned char* to) noexcept {
            ::new (static_cast<void*>(to)) H(std::move(inline_ref<H>(from)));
            inline_ref<H>(from).~H();
        },
        [](unsigned char* s) noexcept { inline_ref<H>(s).~H(); },
    };

    template <class H>
    static constexpr operations heap_ops = {
        [](unsigned char* s, const boost::asio::any_io_executor& fb, std::error_code ec,
           Args&&... args) {
            std::unique_ptr<H> owned(heap_ptr<H>(s));
            post_result(std::move(*owned), fb, ec, std::forward<Args>(args)...);
        },
        [](unsigned char* s, std::error_code ec, Args&&... args) {
            std::unique_ptr<H> owned(heap_ptr<H>(s));
            invoke_result(std::move(*owned), ec, std::forward<Args>(args)...);
        },
        [](unsigned char* from, unsigned char* to) noexcept {
            *reinterpret_cast<H**>(to) = heap_ptr<H>(from);
        },
        [](unsigned char* s) noexcept { delete heap_ptr<H>(s); },
    };

    void take(completion& other) noexcept {
        ops_ = std::exchange(other.ops_, nullptr);
        slot_ = other.slot_;
        if (ops_)
            ops_->move(other.storage_, storage_);
    }

    alignas(std::max_align_t) unsigned char storage_[inline_size];
    const operations* ops_ = nullptr;
    boost::asio::cancellation_slot slot_;
};

/// Memory for the one operation of its kind that is outstanding at a time
/// (the client's read, its write, its batch of completions): Asio takes the
/// operation's memory from the handler's associated allocator, so binding
/// handler_allocator to the handler keeps it off the heap. Asio's own
/// per-thread cache has two slots and misses when several operations are
/// outstanding at once.
class handler_memory {
public:
    handler_memory() = default;
    handler_memory(const handler_memory&) = delete;
    handler_memory& operator=(const handler_memory&) = delete;

    void* allocate(std::size_t n) {
        if (!used_ && n <= sizeof(storage_)) {
            used_ = true;
            return storage_;
        }
        return ::operator new(n); // a larger operation, or a second one at once
    }
    void deallocate(void* p) noexcept {
        if (p == storage_)
            used_ = false;
        else
            ::operator delete(p);
    }

private:
    alignas(std::max_align_t) unsigned char storage_[1024];
    bool used_ = false;
};

template <class T>
class handler_allocator {
public:
    using value_type = T;
    explicit handler_allocator(std::shared_ptr<handler_memory> m) noexcept
        : memory_(std::move(m)) {}
    template <class U>
    handler_allocator(const handler_allocator<U>& other) noexcept : memory_(other.memory_) {}
    T* allocate(std::size_t n) { return static_cast<T*>(memory_->allocate(sizeof(T) * n)); }
    void deallocate(T* p, std::size_t) noexcept { memory_->deallocate(p); }
    template <class U>
    friend bool operator==(const handler_allocator& a, const handler_allocator<U>& b) noexcept {
        return a.memory_ == b.memory_;
    }

private:
    template <class>
    friend class handler_allocator;
    std::shared_ptr<handler_memory> memory_;
};

/// A FIFO on one array that grows (doubling) and is never given back, so a
/// queue that has reached its working size never allocates again.
template <class T>
class ring {
public:
    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }
    T& front() noexcept { return items_[head_]; }
    T& operator[](std::size_t i) noexcept { return items_[(head_ + i) & (items_.size() - 1)]; }

    void push_back(T value) {
        if (size_ == items_.size())
            grow();
        items_[(head_ + size_) & (items_.size() - 1)] = std::move(value);
        ++size_;
    }
    T pop_front() {
        T value = std::move(items_[head_]);
        drop_front();
        return value;
    }
    /// The slot after the last one, now part of the queue: assign it in place.
    T& push_back_slot() {
        if (size_ == items_.size())
            grow();
        ++size_;
        return items_[(head_ + size_ - 1) & (items_.size() - 1)];
    }
    /// Removes the first element, leaving its slot as it is (moved from).
    void drop_front() noexcept {
        head_ = (head_ + 1) & (items_.size() - 1);
        --size_;
    }

private:
    void grow() {
        std::vector<T> bigger(items_.empty() ? 16 : items_.size() * 2);
        for (std::size_t i = 0; i < size_; ++i)
            bigger[i] = std::move((*this)[i]);
        items_ = std::move(bigger);
        head_ = 0;
    }

    std::vector<T> items_; // size is a power of two
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

} // namespace ctmqtt::detail
