// What the transport tests share: a mosquitto with one listener of each
// kind (and a few TLS ones with bad certificates), client helpers that work
// for basic_client over any transport, and script_server, a one-connection
// server for what mosquitto never does.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>
#include <sys/socket.h>

#include <ctmqtt/client/client.hpp>

#include "../support/mosquitto_broker.hpp"
#include "certificates.hpp"

namespace ctmqtt_test {

using namespace std::chrono_literals;
using boost::asio::ip::tcp;

/// Indexes into the broker's listeners (see transport_broker_options).
enum listener_index : std::size_t {
    tls_listener,    ///< TLS, server.crt
    tls_client_cert, ///< TLS, client certificates signed by ca required
    ws_listener,     ///< WebSocket
    wss_listener,    ///< WebSocket over TLS, server.crt
    unix_listener,   ///< Unix socket
    tls_expired,     ///< TLS, expired.crt
    tls_other_ca,    ///< TLS, other.crt (signed by a CA nobody trusts)
    tls13_only,      ///< TLS, "tls_version tlsv1.3"
};

// One server connection on its own thread, driven by a script with
// blocking calls (reads time out after 5 s). What the script
// throws is kept in error(); Catch2's macros stay on the test's thread.
class script_server {
public:
    using script = std::function<void(tcp::socket&)>;

    explicit script_server(script s)
        : acceptor_(io_, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)),
          thread_([this, s = std::move(s)] {
              try {
                  tcp::socket socket(io_);
                  acceptor_.accept(socket);
                  const timeval timeout{5, 0};
                  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout,
                               sizeof timeout);
                  s(socket);
              } catch (const std::exception& e) {
                  std::lock_guard lock(mutex_);
                  error_ = e.what();
              }
              done_ = true;
          }) {}

    ~script_server() {
        ::shutdown(acceptor_.native_handle(), SHUT_RDWR); // wakes a blocked accept()
        thread_.join();
    }

    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    bool done() const { return done_; }
    std::string error() const {
        std::lock_guard lock(mutex_);
        return error_;
    }

private:
    boost::asio::io_context io_;
    tcp::acceptor acceptor_;
    mutable std::mutex mutex_;
    std::string error_;
    std::atomic<bool> done_{false};
    std::thread thread_;
};
inline mosquitto_broker::options transport_broker_options() {

    const auto& c = test_certificates::get();
    using kind = mosquitto_broker::listener::kind;
    mosquitto_broker::options o;
    auto tls = [&](kind k, const std::string& cert) {
        return mosquitto_broker::listener{
            k, c.path(cert + ".crt"), c.path(cert + ".key"), c.path("ca.crt"), false, {}};
    };
    o.listeners = {
        tls(kind::tls, "server"), tls(kind::tls, "server"),
        {kind::websocket},        tls(kind::websocket_tls, "server"),
        {kind::unix_socket},      tls(kind::tls, "expired"),
        tls(kind::tls, "other"),  tls(kind::tls, "server"),
    };
    o.listeners[tls_client_cert].require_certificate = true;
    o.listeners[tls13_only].extra_config = {"tls_version tlsv1.3"};
    return o;
}

/// Runs the io_context until `done` holds or `limit` passes; false on timeout.
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = 5s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    io.restart();
    while (!done()) {
        if (std::chrono::steady_clock::now() >= end)
            return false;
        io.run_for(10ms);
        io.restart();
    }
    return true;
}

/// Options for one attempt (no reconnect: async_connect completes with the
/// attempt's error) to host:port.
inline ctmqtt::client_options one_attempt(std::string host, std::uint16_t port, std::string id) {
    ctmqtt::client_options o;
    o.host = std::move(host);
    o.port = port;
    o.client_id = std::move(id);
    o.reconnect_delays.clear();
    o.connect_timeout = 5s;
    return o;
}

inline ctmqtt::message make_message(std::string topic, std::size_t size, ctmqtt::qos q) {
    ctmqtt::message m;
    m.topic = std::move(topic);
    m.payload.resize(size);
    for (std::size_t i = 0; i < size; ++i)
        m.payload[i] = static_cast<std::byte>('a' + i % 26);
    m.qos = q;
    return m;
}

template <class Client>
std::error_code connect_and_wait(boost::asio::io_context& io, Client& c) {
    bool done = false;
    std::error_code result;
    c.async_connect([&](std::error_code ec) {
        result = ec;
        done = true;
    });
    if (!run_until(
            io, [&] { return done; }, 10s))
        return std::make_error_code(std::errc::timed_out);
    return result;
}

template <class Client>
void disconnect_and_wait(boost::asio::io_context& io, Client& c) {
    bool done = false;
    c.async_disconnect([&](std::error_code ec) {
        CHECK_FALSE(ec);
        done = true;
    });
    CHECK(run_until(io, [&] { return done; }));
}

/// Subscribes to `prefix`/#, publishes at QoS 0, 1 and 2 with each payload
/// size and checks every message comes back whole, in order per QoS.
template <class Client>
void exchange_every_qos(boost::asio::io_context& io, Client& c, const std::string& prefix,
                        const std::vector<std::size_t>& sizes = {64, 64 * 1024}) {
    std::vector<ctmqtt::message> received;
    bool subscribed = false;
    c.async_subscribe(
        prefix + "/#", ctmqtt::qos::exactly_once,
        [&](const ctmqtt::message_view& m) {
            ctmqtt::message copy;
            m.copy_to(copy);
            received.push_back(std::move(copy));
        },
        [&](std::error_code ec, std::vector<ctmqtt::suback_reason_code> codes) {
            CHECK_FALSE(ec);
            CHECK(codes.size() == 1);
            subscribed = true;
        });
    REQUIRE(run_until(io, [&] { return subscribed; }));
    std::vector<ctmqtt::message> sent;
    std::vector<std::error_code> results;
    for (auto q :
         {ctmqtt::qos::at_most_once, ctmqtt::qos::at_least_once, ctmqtt::qos::exactly_once})
        for (auto size : sizes) {
            sent.push_back(
                make_message(prefix + "/" + std::to_string(static_cast<int>(q)), size, q));
            c.async_publish(sent.back(), [&](std::error_code ec) { results.push_back(ec); });
        }
    REQUIRE(run_until(
        io, [&] { return received.size() == sent.size() && results.size() == sent.size(); }, 10s));
    for (const auto& r : results)
        CHECK_FALSE(r);
    for (const auto& s : sent) {
        bool found = false;
        for (const auto& r : received)
            found = found || (r.topic == s.topic && r.payload == s.payload && r.qos == s.qos);
        INFO("topic " << s.topic << ", " << s.payload.size() << " bytes");
        CHECK(found);
    }
}

} // namespace ctmqtt_test
