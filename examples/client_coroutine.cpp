// The README's client example: subscribe, publish and receive with C++20
// coroutines. Usage: ctmqtt_client_coroutine [host [port]]
#include <cstdio>
#include <cstdlib>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ctmqtt/client/client.hpp>

int main(int argc, char** argv) {
    namespace asio = boost::asio;
    using namespace ctmqtt;

    client_options options;
    options.host = argc > 1 ? argv[1] : "127.0.0.1";
    options.port = static_cast<std::uint16_t>(argc > 2 ? std::atoi(argv[2]) : 1883);
    options.client_id = "ctmqtt-example";

    asio::io_context io;
    client mqtt{io.get_executor(), options};
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            try {
                co_await mqtt.async_connect(asio::use_awaitable);
                co_await mqtt.async_subscribe("example/#", qos::at_least_once, asio::use_awaitable);
                message m;
                m.topic = "example/greeting";
                m.payload = {std::byte{'h'}, std::byte{'i'}};
                m.qos = qos::at_least_once;
                co_await mqtt.async_publish(m, asio::use_awaitable); // completes on PUBACK
                auto received = co_await mqtt.async_receive(asio::use_awaitable);
                std::printf("%s: %s\n", received.topic.c_str(),
                            std::string{received.payload_text()}.c_str());
                co_await mqtt.async_disconnect(asio::use_awaitable);
            } catch (const boost::system::system_error& e) {
                // e.g. "connection refused: Not authorized (CONNACK 0x87)"
                std::fprintf(stderr, "%s\n", e.code().message().c_str());
            }
        },
        asio::detached);
    io.run();
}
