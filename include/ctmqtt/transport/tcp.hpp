// The TCP transport policy of basic_client.
//
// A transport is what the client reads MQTT bytes from and writes them to.
// Every transport has the same small interface, so basic_client<Transport>
// runs the same code over each (the next issue adds TLS, WebSocket and Unix
// sockets):
//
//   explicit T(const boost::asio::any_io_executor&);   // the client's executor
//   void async_open(const broker_address&, Handler);     // void(error_code)
//   void async_read_some(mutable_buffer, Handler);       // void(error_code, size_t)
//   void async_write(ConstBufferSequence, Handler);      // void(error_code, size_t)
//   void close() noexcept;                               // cancels what is pending
//   bool is_open() const noexcept;
//
// The client binds every handler it passes to its strand; a transport whose
// operations take several steps runs the steps in between on the handler's
// associated executor too (bind_executor), never on the plain executor.
//
// async_open starts from nothing each time (resolve, connect, and for
// layered transports their handshakes), so a reconnect never reuses a
// stream that failed.
#pragma once

#include <string>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <ctmqtt/client/options.hpp>

namespace ctmqtt::transport {

class tcp {
public:
    using executor_type = boost::asio::any_io_executor;

    explicit tcp(const executor_type& ex) : socket_(ex), resolver_(ex) {}

    template <class Handler>
    void async_open(const broker_address& address, Handler&& handler) {
        close();
        // The steps in between run where the final handler runs (the client's
        // strand): the socket is only touched there.
        auto ex = boost::asio::get_associated_executor(handler, socket_.get_executor());
        resolver_.async_resolve(
            address.host, std::to_string(address.port),
            boost::asio::bind_executor(
                ex, [this, ex, h = std::forward<Handler>(handler)](
                        boost::system::error_code ec,
                        boost::asio::ip::tcp::resolver::results_type results) mutable {
                    if (ec)
                        return std::move(h)(ec);
                    boost::asio::async_connect(
                        socket_, results,
                        boost::asio::bind_executor(ex, [this, h = std::move(h)](
                                                           boost::system::error_code ec2,
                                                           const auto&) mutable {
                            if (!ec2) {
                                boost::system::error_code ignored;
                                // MQTT packets are small and latency matters: no Nagle delay.
                                socket_.set_option(boost::asio::ip::tcp::no_delay{true}, ignored);
                            }
                            std::move(h)(ec2);
                        }));
                }));
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
        resolver_.cancel();
        if (socket_.is_open()) {
            socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
            socket_.close(ignored);
        }
    }

    bool is_open() const noexcept { return socket_.is_open(); }

    boost::asio::ip::tcp::socket& socket() noexcept { return socket_; }

private:
    boost::asio::ip::tcp::socket socket_;
    boost::asio::ip::tcp::resolver resolver_;
};

} // namespace ctmqtt::transport
