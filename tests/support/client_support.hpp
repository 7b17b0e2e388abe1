// What the Asio client tests share: running an io_context until something
// holds, and client options for a test's own mosquitto.
#pragma once

#include <chrono>
#include <string>
#include <utility>

#include <boost/asio/io_context.hpp>

#include <ctmqtt/client/options.hpp>

#include "mosquitto_broker.hpp"

namespace ctmqtt_test {

/// Runs `io` on this thread until `done()` holds; false if `limit` passes first.
template <class Done>
bool run_until(boost::asio::io_context& io, Done&& done,
               std::chrono::milliseconds limit = std::chrono::seconds{5}) {
    const auto end = std::chrono::steady_clock::now() + limit;
    io.restart();
    while (!done()) {
        if (std::chrono::steady_clock::now() >= end)
            return false;
        io.run_for(std::chrono::milliseconds{5});
        io.restart();
    }
    return true;
}

/// Runs `io` on this thread for `d` (or until it runs out of work).
inline void run_for(boost::asio::io_context& io, std::chrono::milliseconds d) {
    io.restart();
    io.run_for(d);
    io.restart();
}

/// Options for a client of `broker`: quick reconnects (50, 100, 200 ms) and
/// a 2 s connect timeout, so failures show within a test's time.
inline ctmqtt::client_options options_for(const mosquitto_broker& broker,
                                          ctmqtt::protocol_version v, std::string id) {
    ctmqtt::client_options o;
    o.host = broker.host();
    o.port = broker.port();
    o.version = v;
    o.client_id = std::move(id);
    o.reconnect_delays = {std::chrono::milliseconds{50}, std::chrono::milliseconds{100},
                          std::chrono::milliseconds{200}};
    o.connect_timeout = std::chrono::seconds{2};
    return o;
}

} // namespace ctmqtt_test
