// Pieces the layered transports (TLS, WebSocket) share; Asio only.
//
// - hooked_handler: a completion handler that runs a hook (which may hold
//   the connection the operation uses, and may translate the error) before
//   the wrapped handler, and otherwise IS that handler to Asio: same
//   associated executor, allocator and cancellation slot. An operation
//   cancelled by close() still touches its stream when it completes; the
//   hook keeps the stream alive until then, even after the transport has
//   moved on to a new stream (a reconnect) or been destroyed.
// - async_connect_tcp: resolve, connect (each address in turn), no Nagle
//   delay. It stops with operation_aborted as soon as `closed` is set, so a
//   close() between two steps is not undone by the next one.
// - post_failure: completes a handler with an error found before any I/O.
// - erase_open_handler: keeps the caller's handler of async_open without its
//   type and gives the open operation one of a fixed type instead, so that
//   resolving, connecting and the handshakes (Beast's HTTP code above all)
//   are compiled once per transport, not once per caller's handler type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <ctmqtt/client/detail/completion.hpp>

namespace ctmqtt::transport::detail {

template <class Handler, class Hook>
class hooked_handler {
public:
    hooked_handler(Handler handler, Hook hook)
        : handler_(std::move(handler)), hook_(std::move(hook)) {}

    template <class... Args>
    void operator()(boost::system::error_code ec, Args&&... args) {
        hook_(ec);
        std::move(handler_)(ec, std::forward<Args>(args)...);
    }

    const Handler& get() const noexcept { return handler_; }

private:
    Handler handler_;
    Hook hook_;
};

template <class Handler, class Hook>
hooked_handler<std::decay_t<Handler>, Hook> hook(Handler&& handler, Hook h) {
    return {std::forward<Handler>(handler), std::move(h)};
}

struct tcp_connect_op {
    boost::asio::ip::tcp::resolver& resolver;
    boost::asio::ip::tcp::socket& socket;
    const bool& closed;
    std::string host;
    std::uint16_t port;

    template <class Self>
    void operator()(Self& self) {
        resolver.async_resolve(host, std::to_string(port), std::move(self));
    }

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec,
                    const boost::asio::ip::tcp::resolver::results_type& results) {
        if (!ec && closed)
            ec = boost::asio::error::operation_aborted;
        if (ec)
            return self.complete(ec);
        boost::asio::async_connect(socket, results, std::move(self));
    }

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec,
                    const boost::asio::ip::tcp::endpoint&) {
        if (!ec && closed)
            ec = boost::asio::error::operation_aborted;
        if (!ec) {
            boost::system::error_code ignored;
            // MQTT packets are small and latency matters: no Nagle delay.
            socket.set_option(boost::asio::ip::tcp::no_delay{true}, ignored);
        }
        self.complete(ec);
    }
};

/// Resolves `host`, connects `socket` to the first address that accepts, and
/// completes with void(error_code). Intermediate steps run on the handler's
/// associated executor. `resolver`, `socket` and `closed` must outlive it.
template <class Handler>
void async_connect_tcp(boost::asio::ip::tcp::resolver& resolver,
                       boost::asio::ip::tcp::socket& socket, const bool& closed, std::string host,
                       std::uint16_t port, Handler&& handler) {
    boost::asio::async_compose<std::decay_t<Handler>, void(boost::system::error_code)>(
        tcp_connect_op{resolver, socket, closed, std::move(host), port}, handler, socket);
}

/// What a TLS session learns that explains a later failure (plain data, so
/// that websocket.hpp can hold it without OpenSSL).
struct tls_session_state {
    std::string verified_name;          ///< the name the certificate is checked for
    bool certificate_requested = false; ///< the server asked for a client certificate
    bool received = false;              ///< bytes came after the handshake
};

/// Completes `handler` with `ec` through its associated executor (never
/// inside the caller): for failures found before any I/O starts.
template <class Handler>
void post_failure(const boost::asio::any_io_executor& fallback, Handler&& handler,
                  boost::system::error_code ec) {
    auto ex = boost::asio::get_associated_executor(handler, fallback);
    boost::asio::post(ex, boost::asio::append(std::forward<Handler>(handler), ec));
}

/// A pending operation's handler, kept without its type in a block that the
/// next operation reuses: a transport that must answer the client's read
/// itself (see websocket.hpp) stores the read's handler here, and since the
/// client's reads all have one handler type, only the first read allocates.
template <class... Args>
class reusable_handler {
public:
    reusable_handler() = default;
    reusable_handler(const reusable_handler&) = delete;
    reusable_handler& operator=(const reusable_handler&) = delete;
    ~reusable_handler() { reset(); }

    explicit operator bool() const noexcept { return call_ != nullptr; }

    template <class Handler>
    void store(Handler&& handler) {
        using H = std::decay_t<Handler>;
        static_assert(alignof(H) <= alignof(std::max_align_t));
        reset();
        if (capacity_ < sizeof(H)) {
            const auto blocks =
                (sizeof(H) + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t);
            block_ = std::make_unique<std::max_align_t[]>(blocks);
            capacity_ = blocks * sizeof(std::max_align_t);
        }
        ::new (static_cast<void*>(block_.get())) H(std::forward<Handler>(handler));
        call_ = [](void* p, boost::system::error_code ec, Args... args) {
            H h(std::move(*static_cast<H*>(p)));
            static_cast<H*>(p)->~H();
            std::move(h)(ec, std::move(args)...);
        };
        post_ = [](void* p, const boost::asio::any_io_executor& fallback,
                   boost::system::error_code ec, Args... args) {
            H h(std::move(*static_cast<H*>(p)));
            static_cast<H*>(p)->~H();
            auto ex = boost::asio::get_associated_executor(h, fallback);
            boost::asio::post(ex, boost::asio::append(std::move(h), ec, std::move(args)...));
        };
        destroy_ = [](void* p) noexcept { static_cast<H*>(p)->~H(); };
    }

    /// Calls the handler here: the caller runs on the handler's executor.
    void call(boost::system::error_code ec, Args... args) {
        const auto f = take();
        f.call(block_.get(), ec, std::move(args)...);
    }

    /// Posts the handler to its associated executor (`fallback` if none).
    void post(const boost::asio::any_io_executor& fallback, boost::system::error_code ec,
              Args... args) {
        const auto f = take();
        f.post(block_.get(), fallback, ec, std::move(args)...);
    }

    void reset() noexcept {
        if (destroy_)
            take().destroy(block_.get());
    }

private:
    struct functions {
        void (*call)(void*, boost::system::error_code, Args...);
        void (*post)(void*, const boost::asio::any_io_executor&, boost::system::error_code,
                     Args...);
        void (*destroy)(void*) noexcept;
    };
    functions take() noexcept {
        return {std::exchange(call_, nullptr), std::exchange(post_, nullptr),
                std::exchange(destroy_, nullptr)};
    }

    std::unique_ptr<std::max_align_t[]> block_;
    std::size_t capacity_ = 0;
    void (*call_)(void*, boost::system::error_code, Args...) = nullptr;
    void (*post_)(void*, const boost::asio::any_io_executor&, boost::system::error_code,
                  Args...) = nullptr;
    void (*destroy_)(void*) noexcept = nullptr;
};

template <class Connection>
struct open_done {
    std::shared_ptr<Connection> c;
    void operator()(boost::system::error_code ec) { c->opener.invoke(ec); }
};

/// Stores `handler` in c->opener and returns the handler the open operation
/// completes instead: it runs on `handler`'s executor (type-erased) and hands
/// the result on. Connection: `ctmqtt::detail::completion<> opener`.
template <class Connection, class Handler>
auto erase_open_handler(const std::shared_ptr<Connection>& c,
                        const boost::asio::any_io_executor& fallback, Handler&& handler) {
    boost::asio::any_io_executor ex = boost::asio::get_associated_executor(handler, fallback);
    c->opener = ctmqtt::detail::completion<>(std::forward<Handler>(handler));
    return boost::asio::bind_executor(std::move(ex), open_done<Connection>{c});
}

} // namespace ctmqtt::transport::detail

namespace boost::asio {

// hooked_handler has the wrapped handler's associated executor, allocator,
// cancellation slot (what Asio's own binders do).
template <template <class, class> class Associator, class Handler, class Hook,
          class DefaultCandidate>
struct associator<Associator, ctmqtt::transport::detail::hooked_handler<Handler, Hook>,
                  DefaultCandidate> : Associator<Handler, DefaultCandidate> {
    static typename Associator<Handler, DefaultCandidate>::type
    get(const ctmqtt::transport::detail::hooked_handler<Handler, Hook>& h) noexcept {
        return Associator<Handler, DefaultCandidate>::get(h.get());
    }
    static auto get(const ctmqtt::transport::detail::hooked_handler<Handler, Hook>& h,
                    const DefaultCandidate& c) noexcept
        -> decltype(Associator<Handler, DefaultCandidate>::get(h.get(), c)) {
        return Associator<Handler, DefaultCandidate>::get(h.get(), c);
    }
};

} // namespace boost::asio
