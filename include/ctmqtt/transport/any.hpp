// transport::any: the transport chosen at run time, from broker URLs, for
// users who configure from a string (a settings file, a command line).
//
//     auto url = transport::parse_url("wss://user:pw@broker.example/mqtt");
//     if (!url) { /* url.error().message(): what is wrong with it */ }
//     client_options o;
//     url->apply_to(o);                       // broker address, user name, password
//     basic_client<transport::any> c(ex, o);
//     c.transport().add(*url);                // wss, path "/mqtt" for that address
//     c.transport().set_tls_options(tls);     // for mqtts:// and wss://
//
// Each connection attempt looks up the address the client connects to among
// the URLs added and uses that URL's transport: mqtt/tcp -> tcp, mqtts/ssl
// -> tls, ws -> websocket, wss -> websocket_tls, unix -> unix_socket. An
// address no URL names (a server redirect) keeps the transport of the
// connection before it; with no URL at all, any is plain TCP.
//
// Includes every transport (Beast, OpenSSL): link with -lssl -lcrypto. A
// program that knows its transport at compile time names it instead and
// compiles less.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include <ctmqtt/client/options.hpp>
#include <ctmqtt/transport/tcp.hpp>
#include <ctmqtt/transport/tls.hpp>
#include <ctmqtt/transport/unix_socket.hpp>
#include <ctmqtt/transport/url.hpp>
#include <ctmqtt/transport/websocket.hpp>
#include <ctmqtt/transport/websocket_tls.hpp>

namespace ctmqtt::transport {

class any {
public:
    using executor_type = boost::asio::any_io_executor;

    explicit any(const executor_type& ex) : executor_(ex) {}

    /// Connections to `url.address()` use the URL's transport (and for
    /// ws/wss its path). Returns that address (for client_options::brokers).
    broker_address add(const broker_url& url) {
        auto address = url.address();
        for (auto& e : endpoints_)
            if (e.address == address) {
                e.scheme = url.scheme;
                e.path = url.path;
                return address;
            }
        endpoints_.push_back({address, url.scheme, url.path});
        return address;
    }

    /// For mqtts:// and wss://; takes effect at the next async_open.
    void set_tls_options(tls_options options) {
        tls_options_ = std::move(options);
        if (tls_)
            tls_->set_options(tls_options_);
        if (wss_)
            wss_->set_tls_options(tls_options_);
    }
    const tls_options& get_tls_options() const noexcept { return tls_options_; }

    /// For ws:// and wss:// (the URL's path replaces `path`).
    void set_websocket_options(websocket_options options) {
        websocket_options_ = std::move(options);
    }
    const websocket_options& get_websocket_options() const noexcept { return websocket_options_; }

    /// The transport of the current (or last) connection.
    url_scheme scheme() const noexcept { return active_; }

    /// The concrete transports, once used (null before).
    tcp* tcp_transport() noexcept { return tcp_ ? &*tcp_ : nullptr; }
    tls* tls_transport() noexcept { return tls_ ? &*tls_ : nullptr; }
    websocket* websocket_transport() noexcept { return ws_ ? &*ws_ : nullptr; }
    websocket_tls* websocket_tls_transport() noexcept { return wss_ ? &*wss_ : nullptr; }
    unix_socket* unix_socket_transport() noexcept { return unix_ ? &*unix_ : nullptr; }

    template <class Handler>
    void async_open(const broker_address& address, Handler&& handler) {
        close();
        std::string path = "/";
        if (const auto* e = find(address)) {
            active_ = e->scheme;
            path = e->path;
        } else if (!used_ && !endpoints_.empty()) {
            active_ = endpoints_.front().scheme;
            path = endpoints_.front().path;
        } else {
            path = last_path_;
        }
        used_ = true;
        last_path_ = path;
        switch (active_) {
        case url_scheme::mqtt: return get(tcp_).async_open(address, std::forward<Handler>(handler));
        case url_scheme::mqtts:
            return get(tls_).async_open(address, std::forward<Handler>(handler));
        case url_scheme::ws:
            get(ws_).set_options(websocket_with_path(path));
            return ws_->async_open(address, std::forward<Handler>(handler));
        case url_scheme::wss:
            get(wss_).set_options(websocket_with_path(path));
            return wss_->async_open(address, std::forward<Handler>(handler));
        case url_scheme::unix_socket:
            return get(unix_).async_open(address, std::forward<Handler>(handler));
        }
    }

    template <class MutableBuffer, class Handler>
    void async_read_some(const MutableBuffer& buffer, Handler&& handler) {
        visit([&](auto& t) { t.async_read_some(buffer, std::forward<Handler>(handler)); });
    }

    template <class ConstBuffers, class Handler>
    void async_write(const ConstBuffers& buffers, Handler&& handler) {
        visit([&](auto& t) { t.async_write(buffers, std::forward<Handler>(handler)); });
    }

    void close() noexcept {
        if (tcp_)
            tcp_->close();
        if (tls_)
            tls_->close();
        if (ws_)
            ws_->close();
        if (wss_)
            wss_->close();
        if (unix_)
            unix_->close();
    }

    bool is_open() const noexcept {
        switch (active_) {
        case url_scheme::mqtt: return tcp_ && tcp_->is_open();
        case url_scheme::mqtts: return tls_ && tls_->is_open();
        case url_scheme::ws: return ws_ && ws_->is_open();
        case url_scheme::wss: return wss_ && wss_->is_open();
        case url_scheme::unix_socket: return unix_ && unix_->is_open();
        }
        return false;
    }

private:
    struct endpoint {
        broker_address address;
        url_scheme scheme;
        std::string path;
    };

    const endpoint* find(const broker_address& address) const noexcept {
        for (const auto& e : endpoints_)
            if (e.address == address)
                return &e;
        return nullptr;
    }

    websocket_options websocket_with_path(const std::string& path) const {
        auto o = websocket_options_;
        if (!path.empty())
            o.path = path;
        return o;
    }

    // A transport is made the first time it is needed and kept: operations a
    // close() cancelled may still be on their way back to it.
    tcp& get(std::optional<tcp>& t) {
        if (!t)
            t.emplace(executor_);
        return *t;
    }
    tls& get(std::optional<tls>& t) {
        if (!t)
            t.emplace(executor_, tls_options_);
        return *t;
    }
    websocket& get(std::optional<websocket>& t) {
        if (!t)
            t.emplace(executor_, websocket_options_);
        return *t;
    }
    websocket_tls& get(std::optional<websocket_tls>& t) {
        if (!t)
            t.emplace(executor_, websocket_options_, tls_options_);
        return *t;
    }
    unix_socket& get(std::optional<unix_socket>& t) {
        if (!t)
            t.emplace(executor_);
        return *t;
    }

    template <class F>
    void visit(F&& f) {
        switch (active_) {
        case url_scheme::mqtt: return f(*tcp_);
        case url_scheme::mqtts: return f(*tls_);
        case url_scheme::ws: return f(*ws_);
        case url_scheme::wss: return f(*wss_);
        case url_scheme::unix_socket: return f(*unix_);
        }
    }

    executor_type executor_;
    std::vector<endpoint> endpoints_;
    tls_options tls_options_;
    websocket_options websocket_options_;
    url_scheme active_ = url_scheme::mqtt;
    bool used_ = false;
    std::string last_path_ = "/";

    std::optional<tcp> tcp_;
    std::optional<tls> tls_;
    std::optional<websocket> ws_;
    std::optional<websocket_tls> wss_;
    std::optional<unix_socket> unix_;
};

} // namespace ctmqtt::transport
