// The WebSocket transport policy of basic_client: MQTT over WebSocket over
// TCP (ws://host/path, port 80), with Boost.Beast. websocket_tls.hpp has
// the same over TLS (wss://).
//
//     basic_client<transport::websocket> c(ex, options);   // options.host, port
//     transport::websocket_options ws;
//     ws.path = "/mqtt";
//     ws.headers = {{"Authorization", "Bearer ..."}};
//     c.transport().set_options(ws);
//
// - Asks for the subprotocol "mqtt" (MQTT 5 §6, 3.1.1 §6); a server that
//   does not answer with it is refused (websocket_errc::subprotocol_refused).
// - Sends binary frames: one message per write (so several MQTT packets in
//   one frame when the client has several to send), split into frames of
//   max_frame_size when set. Reads deliver the bytes of frames as they come,
//   so a packet split across frames and several packets in one frame read
//   alike; the session puts packets together (MQTT 5 §6 [MQTT-6.0.0-2]). A
//   text frame from the server ends the connection ([MQTT-6.0.0-1]).
// - close() after a connection is up sends a WebSocket close frame and lets
//   the closing handshake finish in the background (close_timeout at most);
//   the client's pending read completes at once with operation_aborted.
//   After a failure the socket is closed at once.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <ctmqtt/client/detail/completion.hpp>
#include <ctmqtt/client/options.hpp>
#include <ctmqtt/core/result.hpp>
#include <ctmqtt/transport/detail/error_text.hpp>
#include <ctmqtt/transport/detail/operations.hpp>
#include <ctmqtt/version.hpp>

namespace ctmqtt::transport {

struct websocket_options {
    /// The request target: path and query ("/mqtt", "/mqtt?token=..."). A
    /// broker_url's path goes here (transport::any does that).
    std::string path = "/";
    /// Extra HTTP headers of the upgrade request (a token, a cookie).
    std::vector<std::pair<std::string, std::string>> headers;
    /// The subprotocol asked for and required in the answer; empty: none asked.
    std::string subprotocol = "mqtt";
    /// Largest frame payload sent; a longer write goes out as several frames
    /// of one message. 0: each write is one frame.
    std::size_t max_frame_size = 0;
    /// How long a clean close waits for the server's close frame.
    std::chrono::milliseconds close_timeout = std::chrono::seconds(2);
};

enum class websocket_errc : std::uint8_t {
    subprotocol_refused = 1, ///< the upgrade answer lacks our subprotocol; detail: what it had
    upgrade_declined,        ///< the server answered the upgrade with another HTTP status
    text_frame,              ///< the server sent a text frame [MQTT-6.0.0-1]
};

namespace detail {

struct websocket_error_traits {
    using errc = websocket_errc;
    static constexpr const char* name = "ctmqtt.websocket";
    static std::string message(websocket_errc e, std::uint32_t detail) {
        switch (e) {
        case websocket_errc::subprotocol_refused:
            return "WebSocket: the server did not accept the subprotocol asked for (its "
                   "Sec-WebSocket-Protocol:" +
                   (detail == 0 ? std::string{" none"} : quoted(detail)) + ")";
        case websocket_errc::text_frame:
            return "WebSocket: the server sent a text frame; MQTT travels in binary frames only "
                   "[MQTT-6.0.0-1]";
        case websocket_errc::upgrade_declined:
            return "WebSocket: the server refused the upgrade with HTTP status " +
                   std::to_string(detail) + " (is the path right?)";
        }
        return "WebSocket error";
    }
};

} // namespace detail

inline const std::error_category& websocket_category() noexcept {
    return detail::packed_category<detail::websocket_error_traits>::instance();
}

inline std::error_code make_error_code(websocket_errc e, std::uint32_t detail = 0) noexcept {
    return detail::packed_error<detail::websocket_error_traits>(e, detail);
}

inline std::error_condition make_error_condition(websocket_errc e) noexcept {
    return detail::packed_condition<detail::websocket_error_traits>(e);
}

namespace detail {

namespace beast = boost::beast;

/// One WebSocket connection: resolver, stream and the state of the client's
/// read, alive as long as an operation on them is (a new one per open).
template <class NextLayer>
struct websocket_connection {
    template <class... Args>
    explicit websocket_connection(const boost::asio::any_io_executor& ex, Args&&... args)
        : resolver(ex), ws(std::forward<Args>(args)...), close_timer(ex), fallback(ex) {}

    boost::asio::ip::tcp::resolver resolver;
    beast::websocket::stream<NextLayer> ws;
    beast::websocket::response_type response;
    boost::asio::steady_timer close_timer;
    boost::asio::any_io_executor fallback; ///< the transport's executor
    boost::asio::any_io_executor strand;   ///< where the client's handlers run
    std::shared_ptr<void> keep;            ///< what the stream needs alive (a TLS context)
    tls_session_state tls;                 ///< wss: what the TLS session learnt

    // Reads go into `buffer`, then to `destination`: a clean close keeps
    // reading (until the server's close frame) after the client has been
    // told its read is over, and must not write into the client's memory.
    std::vector<unsigned char> buffer;
    boost::asio::mutable_buffer destination;
    reusable_handler<std::size_t> reader; ///< the client's pending read
    ctmqtt::detail::completion<> opener;  ///< the client's async_open

    bool closed = false;   ///< close() was called
    bool upgraded = false; ///< the WebSocket handshake succeeded
    bool writing = false;
    bool failed = false; ///< a read or write failed: no clean close

    auto& lowest() noexcept { return beast::get_lowest_layer(ws); }
    void close_socket() noexcept {
        boost::system::error_code ignored;
        auto& s = lowest();
        if (s.is_open()) {
            s.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
            s.close(ignored);
        }
    }
};

/// WebSocket over plain TCP: nothing between TCP and the upgrade.
struct plain_websocket_security {
    using next_layer_type = boost::asio::ip::tcp::socket;
    static constexpr std::uint16_t default_port = 80;
    using connection = websocket_connection<next_layer_type>;

    struct session {
        using connection = plain_websocket_security::connection;
        static constexpr bool secure = false;
        std::shared_ptr<connection> make_connection(const boost::asio::any_io_executor& ex) const {
            return std::make_shared<connection>(ex, ex);
        }
        static boost::system::error_code describe(const boost::system::error_code& ec, connection&,
                                                  bool) {
            return ec;
        }
    };
    result<session> prepare() { return session{}; }
};

/// "host[:port]" for the Host header (RFC 7230 §5.4): brackets for IPv6,
/// the port unless it is the scheme's default.
inline std::string host_field(const std::string& host, std::uint16_t port,
                              std::uint16_t default_port) {
    std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (port != default_port)
        out += ":" + std::to_string(port);
    return out;
}

template <class Session>
struct websocket_open_op {
    using connection = typename Session::connection;

    std::shared_ptr<connection> c;
    std::string host;
    std::uint16_t port;
    std::string host_header;
    std::string target;
    std::string subprotocol;
    Session session;
    int step = 0;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}) {
        if (!ec && c->closed)
            ec = boost::asio::error::operation_aborted;
        if (ec)
            return self.complete(describe(ec));
        switch (step++) {
        case 0:
            return async_connect_tcp(c->resolver, c->lowest(), c->closed, host, port,
                                     std::move(self));
        case 1:
            if constexpr (Session::secure) {
                if (auto e = session.prepare(*c, host))
                    return self.complete(e);
                return c->ws.next_layer().async_handshake(Session::client_role, std::move(self));
            }
            ++step; // nothing to do between TCP and the upgrade
            [[fallthrough]];
        case 2: return c->ws.async_handshake(c->response, host_header, target, std::move(self));
        default: {
            if (!subprotocol.empty()) {
                const auto answer = c->response[beast::http::field::sec_websocket_protocol];
                if (answer != subprotocol) {
                    const auto text =
                        answer.empty() ? 0 : error_texts::remember({answer.data(), answer.size()});
                    return self.complete(
                        make_error_code(websocket_errc::subprotocol_refused, text));
                }
            }
            c->upgraded = true;
            c->tls.received = true; // the upgrade's answer
            return self.complete({});
        }
        }
    }

    boost::system::error_code describe(const boost::system::error_code& ec) {
        if (ec == boost::asio::error::operation_aborted)
            return ec;
        if (step == 3 && ec == beast::websocket::error::upgrade_declined)
            return make_error_code(websocket_errc::upgrade_declined, c->response.result_int());
        if (step == 2 && Session::secure) // the TLS handshake
            return session.describe(ec, *c, true);
        return session.describe(ec, *c, false);
    }
};

/// What the WebSocket read completes with: hands the bytes and the result
/// to the client's read, unless close() has already answered it.
template <class Session, class Connection>
struct websocket_read_done {
    std::shared_ptr<Connection> c;
    void operator()(boost::system::error_code ec, std::size_t n) {
        if (ec) {
            c->failed = true;
            ec = Session::describe(ec, *c, false);
        } else if (c->ws.got_text()) {
            // MQTT 5 §6.0 [MQTT-6.0.0-1]: binary frames only; anything else closes the connection.
            c->failed = true;
            ec = make_error_code(websocket_errc::text_frame);
            n = 0;
        } else {
            c->tls.received = true;
        }
        if (!c->reader)
            return; // closed meanwhile: the client was told already
        if (n > 0)
            std::memcpy(c->destination.data(), c->buffer.data(), n);
        c->reader.call(ec, n);
    }
};

template <class Session, class Connection>
struct websocket_write_hook {
    std::shared_ptr<Connection> c;
    void operator()(boost::system::error_code& ec) const {
        c->writing = false;
        if (ec) {
            c->failed = true;
            ec = Session::describe(ec, *c, false);
        }
    }
};

/// The executor Beast's operations see for a handler: its own, except a
/// strand of any_io_executor, which goes in type-erased. (Beast 1.81 keeps
/// suspended operations' work with executor_work_guard, which takes that
/// strand for an old-style executor and fails to compile.)
template <class Executor>
auto beast_executor(const Executor& ex) {
    if constexpr (std::is_same_v<Executor, boost::asio::strand<boost::asio::any_io_executor>>)
        return boost::asio::any_io_executor(ex);
    else
        return ex;
}

/// A handler whose associated executor is `executor` (type-erased); its
/// other associated characteristics are the wrapped handler's.
template <class Handler>
struct erased_executor_handler {
    boost::asio::any_io_executor executor;
    Handler handler;
    template <class... Args>
    void operator()(Args&&... args) {
        std::move(handler)(std::forward<Args>(args)...);
    }
};

template <class Handler>
auto for_beast(Handler&& handler) {
    using executor = boost::asio::associated_executor_t<std::decay_t<Handler>>;
    if constexpr (std::is_same_v<executor, boost::asio::strand<boost::asio::any_io_executor>>) {
        boost::asio::any_io_executor erased(boost::asio::get_associated_executor(handler));
        return erased_executor_handler<std::decay_t<Handler>>{std::move(erased),
                                                              std::forward<Handler>(handler)};
    } else {
        return std::decay_t<Handler>(std::forward<Handler>(handler));
    }
}

/// The WebSocket transport over a Security policy: plain TCP (websocket) or
/// TLS (websocket_tls, in websocket_tls.hpp).
template <class Security>
class basic_websocket {
public:
    using executor_type = boost::asio::any_io_executor;
    using session_type = typename Security::session;
    using connection_type = typename Security::connection;

    explicit basic_websocket(const executor_type& ex, websocket_options options = {},
                             Security security = {})
        : executor_(ex), options_(std::move(options)), security_(std::move(security)) {}

    basic_websocket(basic_websocket&&) noexcept = default;
    basic_websocket& operator=(basic_websocket&&) noexcept = default;
    ~basic_websocket() { close(); }

    /// Takes effect at the next async_open.
    void set_options(websocket_options options) { options_ = std::move(options); }
    const websocket_options& options() const noexcept { return options_; }

    template <class Handler>
    void async_open(const broker_address& address, Handler&& handler) {
        close();
        auto session = security_.prepare();
        if (!session)
            return post_failure(executor_, std::forward<Handler>(handler), session.error());
        auto c = session->make_connection(executor_);
        c->strand = boost::asio::get_associated_executor(handler, executor_);
        configure(c->ws);
        connection_ = c;
        auto h = erase_open_handler(c, executor_, std::forward<Handler>(handler));
        boost::asio::async_compose<decltype(h), void(boost::system::error_code)>(
            websocket_open_op<session_type>{
                c, address.host, address.port,
                host_field(address.host, address.port, Security::default_port),
                options_.path.empty() ? std::string{"/"} : options_.path, options_.subprotocol,
                std::move(*session)},
            h, c->lowest());
    }

    template <class MutableBuffer, class Handler>
    void async_read_some(const MutableBuffer& buffer, Handler&& handler) {
        auto& c = *connection_;
        const auto size = boost::asio::buffer_size(buffer);
        if (c.buffer.size() < size)
            c.buffer.resize(size);
        c.destination = boost::asio::mutable_buffer(buffer);
        auto ex = beast_executor(boost::asio::get_associated_executor(handler, executor_));
        c.reader.store(std::forward<Handler>(handler));
        // Beast's read takes its memory from Asio's per-thread recycling
        // allocator, not from the handler's: close() answers the handler
        // while Beast's read is still pending, and a handler's allocator may
        // live only as long as the handler (an any_completion_handler's does).
        c.ws.async_read_some(
            boost::asio::buffer(c.buffer.data(), size),
            boost::asio::bind_executor(
                ex, boost::asio::bind_allocator(
                        boost::asio::recycling_allocator<void>(),
                        websocket_read_done<session_type, connection_type>{connection_})));
    }

    template <class ConstBuffers, class Handler>
    void async_write(const ConstBuffers& buffers, Handler&& handler) {
        connection_->writing = true;
        connection_->ws.async_write(
            buffers, hook(for_beast(std::forward<Handler>(handler)),
                          websocket_write_hook<session_type, connection_type>{connection_}));
    }

    void close() noexcept {
        if (!connection_)
            return;
        auto c = std::move(connection_);
        c->closed = true;
        c->resolver.cancel();
        if (!c->upgraded || c->writing || c->failed || !c->ws.is_open())
            return c->close_socket();
        // A clean close (RFC 6455 §7.1.2): the close frame, then the server's,
        // in the background. The client's read is over now.
        if (c->reader)
            c->reader.post(c->fallback, boost::asio::error::operation_aborted, 0);
        c->destination = {};
        c->close_timer.expires_after(options_.close_timeout);
        c->close_timer.async_wait(
            boost::asio::bind_executor(c->strand, [c](boost::system::error_code ec) {
                if (!ec)
                    c->close_socket(); // no answer in time
            }));
        c->ws.async_close(beast::websocket::close_code::normal,
                          boost::asio::bind_executor(c->strand, [c](boost::system::error_code) {
                              c->close_timer.cancel();
                              c->close_socket();
                          }));
    }

    bool is_open() const noexcept { return connection_ && connection_->lowest().is_open(); }

    /// The server's answer to the upgrade (null when no connection is open).
    const beast::websocket::response_type* handshake_response() const noexcept {
        return connection_ && connection_->upgraded ? &connection_->response : nullptr;
    }

    /// The current connection's WebSocket stream (null when none is open).
    beast::websocket::stream<typename Security::next_layer_type>* stream() noexcept {
        return connection_ ? &connection_->ws : nullptr;
    }

protected:
    Security& security() noexcept { return security_; }
    const Security& security() const noexcept { return security_; }

private:
    void configure(beast::websocket::stream<typename Security::next_layer_type>& ws) const {
        ws.binary(true);
        ws.read_message_max(0); // MQTT's Maximum Packet Size is the limit, not the frame's
        if (options_.max_frame_size > 0) {
            ws.auto_fragment(true);
            ws.write_buffer_bytes(std::max<std::size_t>(options_.max_frame_size, 8));
        } else {
            ws.auto_fragment(false);
            // Beast masks a client's frame into this buffer and writes it
            // buffer by buffer: 4 KiB (its default) took 16 writes per 64 KiB.
            ws.write_buffer_bytes(64 * 1024);
        }
        ws.set_option(beast::websocket::stream_base::decorator(
            [headers = options_.headers,
             subprotocol = options_.subprotocol](beast::websocket::request_type& request) {
                request.set(beast::http::field::user_agent,
                            std::string{"ctmqtt/"} + std::string{ctmqtt::version_string});
                if (!subprotocol.empty())
                    request.set(beast::http::field::sec_websocket_protocol, subprotocol);
                for (const auto& [name, value] : headers)
                    request.set(name, value);
            }));
    }

    executor_type executor_;
    websocket_options options_;
    Security security_;
    std::shared_ptr<connection_type> connection_;
};

} // namespace detail

/// WebSocket over TCP (ws://).
using websocket = detail::basic_websocket<detail::plain_websocket_security>;

} // namespace ctmqtt::transport

namespace boost::asio {

template <class Handler, class Candidate>
struct associated_executor<ctmqtt::transport::detail::erased_executor_handler<Handler>, Candidate> {
    using type = any_io_executor;
    static type get(const ctmqtt::transport::detail::erased_executor_handler<Handler>& h,
                    const Candidate& = Candidate()) noexcept {
        return h.executor;
    }
};

template <template <class, class> class Associator, class Handler, class DefaultCandidate>
struct associator<Associator, ctmqtt::transport::detail::erased_executor_handler<Handler>,
                  DefaultCandidate> : Associator<Handler, DefaultCandidate> {
    static typename Associator<Handler, DefaultCandidate>::type
    get(const ctmqtt::transport::detail::erased_executor_handler<Handler>& h) noexcept {
        return Associator<Handler, DefaultCandidate>::get(h.handler);
    }
    static auto get(const ctmqtt::transport::detail::erased_executor_handler<Handler>& h,
                    const DefaultCandidate& c) noexcept
        -> decltype(Associator<Handler, DefaultCandidate>::get(h.handler, c)) {
        return Associator<Handler, DefaultCandidate>::get(h.handler, c);
    }
};

} // namespace boost::asio

template <>
struct std::is_error_condition_enum<ctmqtt::transport::websocket_errc> : std::true_type {};
