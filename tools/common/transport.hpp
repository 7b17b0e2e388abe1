// any_transport: the transport policy of the programs' clients
// (basic_client<tools::any_transport>): ctmqtt::transport::any behind a
// wall of type erasure. Each operation's handler is wrapped in an
// asio::any_completion_handler (made with the handler's allocator, and
// keeping its cancellation slot) and handed to transport.cpp with its
// executor (the client's strand, as an any_io_executor: the WebSocket
// transport keeps it as one, which an any_completion_handler's own
// any_completion_executor cannot be), where transport::any runs it with
// Asio's default allocator (transport.cpp says why).
//
// Why: basic_client<transport::any> instantiates TCP, TLS, WebSocket (Beast)
// and Unix sockets with the client's own handler types in every program
// that uses it: measured here, a file using the client as the programs do
// took 105 s of compiler time and 2.9 GB of memory instead of 25 s over
// transport::tcp. Behind the wall, transport.cpp compiles the transports
// once for the three programs (50 s), and each program compiles the client
// over this small class (as fast as over TCP).
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include <ctmqtt/client/options.hpp>

#include "transport_settings.hpp"

namespace ctmqtt::tools {

class any_transport {
public:
    using executor_type = boost::asio::any_io_executor;
    using open_handler = boost::asio::any_completion_handler<void(boost::system::error_code)>;
    using io_handler =
        boost::asio::any_completion_handler<void(boost::system::error_code, std::size_t)>;

    explicit any_transport(const executor_type& ex);
    any_transport(any_transport&&) noexcept;
    any_transport& operator=(any_transport&&) noexcept;
    ~any_transport();

    /// Connections to `address` use `settings` (the TLS part for mqtts and
    /// wss). For a Unix socket, `address.host` is the socket's path.
    void configure(const broker_address& address, const transport_settings& settings);

    template <class Handler>
    void async_open(const broker_address& address, Handler&& handler) {
        auto ex = executor_of(handler);
        open(address, std::move(ex), open_handler(std::forward<Handler>(handler)));
    }

    template <class Handler>
    void async_read_some(boost::asio::mutable_buffer buffer, Handler&& handler) {
        auto ex = executor_of(handler);
        read_some(buffer, std::move(ex), io_handler(std::forward<Handler>(handler)));
    }

    template <class Handler>
    void async_write(boost::asio::const_buffer buffer, Handler&& handler) {
        auto ex = executor_of(handler);
        write(buffer, std::move(ex), io_handler(std::forward<Handler>(handler)));
    }

    void close() noexcept;
    bool is_open() const noexcept;

private:
    template <class Handler>
    executor_type executor_of(const Handler& handler) const {
        return executor_type(boost::asio::get_associated_executor(handler, executor_));
    }

    void open(const broker_address& address, executor_type ex, open_handler handler);
    void read_some(boost::asio::mutable_buffer buffer, executor_type ex, io_handler handler);
    void write(boost::asio::const_buffer buffer, executor_type ex, io_handler handler);

    executor_type executor_;
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace ctmqtt::tools
