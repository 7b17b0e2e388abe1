// url_client: the client for users who configure from strings (a settings
// file, a command line): made from one broker URL, or a list of them to fail
// over between, each naming its own transport.
//
//     ctmqtt::url_client c(io.get_executor(), "wss://user:pw@broker.example/mqtt");
//     c.set_tls_options({.ca_file = "ca.pem"});     // for mqtts:// and wss://
//     c.async_connect(token);
//
// URLs: mqtt:// and tcp:// (port 1883), mqtts:// and ssl:// (8883), ws://
// (80), wss:// (443), unix:/path and unix:///path; no scheme is mqtt://;
// user:password@ sets client_options::user_name and password; IPv6 literals
// in brackets; a path for WebSocket URLs (transport/url.hpp). A URL that
// cannot be used throws std::system_error whose message quotes the bad part
// (transport::url_errc); transport::parse_url checks one without throwing.
//
// It is basic_client<transport::any, Store, Timer> with the URLs applied:
// everything else (operations, reconnects, stores) is the client's own.
// Includes every transport (Beast, OpenSSL): link with -lssl -lcrypto.
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <ctmqtt/client/client.hpp>
#include <ctmqtt/transport/any.hpp>

namespace ctmqtt {

template <class Store = store::memory, class Timer = asio::steady_timer>
class basic_url_client : public basic_client<transport::any, Store, Timer> {
    using base = basic_client<transport::any, Store, Timer>;

public:
    using typename base::executor_type;

    /// Connects to `url`. The options' host, port and brokers are replaced
    /// by the URL's address; its user name and password, if any, replace the
    /// options'. Throws std::system_error for a URL that cannot be used.
    basic_url_client(executor_type ex, std::string_view url, client_options opts = {},
                     Store store = Store{})
        : basic_url_client(std::move(ex), std::vector<std::string>{std::string{url}},
                           std::move(opts), std::move(store)) {}

    /// Fails over between `urls` in order (client_options::brokers), each
    /// with its own transport. Throws std::system_error for an empty list or
    /// a URL that cannot be used.
    basic_url_client(executor_type ex, const std::vector<std::string>& urls, client_options opts,
                     Store store = Store{})
        : basic_url_client(std::move(ex), parse_all(urls), std::move(opts), std::move(store)) {}

    /// The URLs connected to, as parsed (in failover order).
    const std::vector<transport::broker_url>& urls() const noexcept { return urls_; }

    /// For mqtts:// and wss://: trust, client certificate, versions, ALPN...
    /// Takes effect at the next connection attempt.
    void set_tls_options(transport::tls_options options) {
        this->transport().set_tls_options(std::move(options));
    }

    /// For ws:// and wss://: subprotocol, extra HTTP headers, frame size (each
    /// URL's path is kept). Takes effect at the next connection attempt.
    void set_websocket_options(transport::websocket_options options) {
        this->transport().set_websocket_options(std::move(options));
    }

private:
    basic_url_client(executor_type ex, std::vector<transport::broker_url> urls, client_options opts,
                     Store store)
        : base(std::move(ex), with_urls(urls, std::move(opts)), std::move(store)),
          urls_(std::move(urls)) {
        for (const auto& u : urls_)
            this->transport().add(u);
    }

    static std::vector<transport::broker_url> parse_all(const std::vector<std::string>& texts) {
        if (texts.empty())
            throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                    "ctmqtt::url_client: no broker URL");
        std::vector<transport::broker_url> out;
        out.reserve(texts.size());
        for (const auto& t : texts) {
            auto u = transport::parse_url(t);
            if (!u)
                throw std::system_error(u.error(), "ctmqtt::url_client");
            out.push_back(std::move(*u));
        }
        return out;
    }

    static client_options with_urls(const std::vector<transport::broker_url>& urls,
                                    client_options opts) {
        opts.brokers.clear();
        for (const auto& u : urls)
            u.apply_to(opts);
        return opts;
    }

    std::vector<transport::broker_url> urls_;
};

/// The URL-driven client with the memory store.
using url_client = basic_url_client<>;

} // namespace ctmqtt
