// The WebSocket-over-TLS transport policy of basic_client (wss://host/path,
// port 443): websocket.hpp's transport with tls.hpp's TLS underneath, so
// everything both say holds (verification on by default, SNI, client
// certificates, refusals that say why; subprotocol "mqtt", binary frames,
// a clean close).
//
//     basic_client<transport::websocket_tls> c(ex, options);
//     c.transport().set_options(ws_options);      // path, headers
//     c.transport().set_tls_options(tls_options); // CA, client certificate
//
// Includes Beast and OpenSSL: link with -lssl -lcrypto.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <ctmqtt/transport/tls.hpp>
#include <ctmqtt/transport/websocket.hpp>

namespace ctmqtt::transport {

namespace detail {

/// WebSocket over TLS: a TLS handshake between TCP and the upgrade.
struct tls_websocket_security {
    using next_layer_type = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;
    static constexpr std::uint16_t default_port = 443;
    using connection = websocket_connection<next_layer_type>;

    struct session {
        using connection = tls_websocket_security::connection;
        static constexpr bool secure = true;
        static constexpr auto client_role = boost::asio::ssl::stream_base::client;

        std::shared_ptr<boost::asio::ssl::context> context;
        tls_session_params params;

        std::shared_ptr<connection> make_connection(const boost::asio::any_io_executor& ex) const {
            auto c = std::make_shared<connection>(ex, ex, *context);
            c->keep = context;
            return c;
        }
        std::error_code prepare(connection& c, const std::string& host) const {
            return prepare_tls_session(c.ws.next_layer().native_handle(), host, params, c.tls);
        }
        static boost::system::error_code describe(const boost::system::error_code& ec,
                                                  connection& c, bool handshake) {
            return describe_tls_failure(ec, c.ws.next_layer().native_handle(), c.tls, handshake);
        }
    };

    tls_context_cache contexts;

    result<session> prepare() {
        auto context = contexts.get();
        if (!context)
            return context.error();
        return session{std::move(*context), tls_session_params::from(contexts.options())};
    }
};

} // namespace detail

/// WebSocket over TLS (wss://).
class websocket_tls : public detail::basic_websocket<detail::tls_websocket_security> {
    using base = detail::basic_websocket<detail::tls_websocket_security>;

public:
    explicit websocket_tls(const executor_type& ex, websocket_options ws = {},
                           transport::tls_options tls = {})
        : base(ex, std::move(ws),
               detail::tls_websocket_security{detail::tls_context_cache(std::move(tls))}) {}

    /// Takes effect at the next async_open.
    void set_tls_options(transport::tls_options options) {
        security().contexts.set(std::move(options));
    }
    const transport::tls_options& get_tls_options() const noexcept {
        return security().contexts.options();
    }

    /// Builds the TLS context now: a mistake in the TLS options shows before
    /// connecting (async_open reports the same error otherwise).
    std::error_code prepare_tls() { return security().contexts.get().error(); }
};

} // namespace ctmqtt::transport
