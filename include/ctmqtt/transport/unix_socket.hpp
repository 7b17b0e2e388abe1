// The Unix domain socket transport policy of basic_client: MQTT over a
// local stream socket (unix:/run/mosquitto/mqtt.sock).
//
// The socket's path travels where a TCP transport's host name does:
// broker_address::host (port ignored), so client_options::host, the broker
// list and broker_url::address() all work unchanged:
//
//     client_options o;
//     o.host = "/run/mosquitto/mqtt.sock";
//     basic_client<transport::unix_socket> c(ex, o);
//
// (Not named `unix`: GNU mode predefines that as a macro.)
#pragma once

#include <string>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>

#include <ctmqtt/client/options.hpp>
#include <ctmqtt/transport/detail/operations.hpp>
#include <ctmqtt/transport/url.hpp>

#if !defined(BOOST_ASIO_HAS_LOCAL_SOCKETS)
#error "ctmqtt/transport/unix_socket.hpp: this platform has no Unix domain sockets in Asio"
#endif

namespace ctmqtt::transport {

class unix_socket {
public:
    using executor_type = boost::asio::any_io_executor;
    using protocol = boost::asio::local::stream_protocol;

    explicit unix_socket(const executor_type& ex) : socket_(ex) {}

    /// Connects to the socket at address.host (a path).
    template <class Handler>
    void async_open(const broker_address& address, Handler&& handler) {
        close();
        if (address.host.empty())
            return detail::post_failure(socket_.get_executor(), std::forward<Handler>(handler),
                                        make_error_code(url_errc::missing_socket_path));
        // sockaddr_un holds about 107 bytes of path: Asio refuses a longer one.
        if (address.host.size() >= sizeof(sockaddr_un::sun_path))
            return detail::post_failure(socket_.get_executor(), std::forward<Handler>(handler),
                                        boost::asio::error::name_too_long);
        socket_.async_connect(protocol::endpoint(address.host), std::forward<Handler>(handler));
    }

    template <class MutableBuffer, class Handler>
    void async_read_some(const MutableBuffer& buffer, Handler&& handler) {
        socket_.async_read_some(buffer, std::forward<Handler>(handler));
    }

    template <class ConstBuffers, class Handler>
    void async_write(const ConstBuffers& buffers, Handler&& handler) {
        boost::asio::async_write(socket_, buffers, std::forward<Handler>(handler));
    }

    void close() noexcept {
        boost::system::error_code ignored;
        if (socket_.is_open()) {
            socket_.shutdown(protocol::socket::shutdown_both, ignored);
            socket_.close(ignored);
        }
    }

    bool is_open() const noexcept { return socket_.is_open(); }

    protocol::socket& socket() noexcept { return socket_; }

private:
    protocol::socket socket_;
};

} // namespace ctmqtt::transport
