// The README's callback example: a sensor gateway that subscribes with a
// callback per subscription, publishes with completion handlers, and follows
// the connection's state. Usage: ctmqtt_client_callbacks [host [port]]
#include <cstdio>
#include <cstdlib>
#include <string>

#include <boost/asio/io_context.hpp>

#include <ctmqtt/client/client.hpp>

int main(int argc, char** argv) {
    namespace asio = boost::asio;
    using namespace ctmqtt;

    client_options options;
    options.host = argc > 1 ? argv[1] : "127.0.0.1";
    options.port = static_cast<std::uint16_t>(argc > 2 ? std::atoi(argv[2]) : 1883);
    options.client_id = "ctmqtt-callbacks";
    options.on_state = [](const connection_state& s) {
        if (s.what == connection_state::kind::connected)
            std::printf("connected to %s:%u\n", s.broker.host.c_str(), s.broker.port);
        else if (s.what != connection_state::kind::gave_up)
            std::printf("connection: %s\n", s.error.message().c_str());
    };

    asio::io_context io;
    client mqtt{io.get_executor(), options};
    int received = 0;
    int acknowledged = 0;
    auto done_when_all_in = [&] {
        if (received == 3 && acknowledged == 3)
            mqtt.async_disconnect([](std::error_code) {});
    };

    mqtt.async_connect([&](std::error_code ec) {
        if (ec)
            return std::fprintf(stderr, "connect: %s\n", ec.message().c_str()), void();
        // Each subscription has its own callback; views are valid during the call.
        mqtt.async_subscribe(
            "gateway/+/temperature", qos::at_least_once,
            [&](const message_view& m) {
                std::printf("%.*s = %.*s\n", static_cast<int>(m.topic.size()), m.topic.data(),
                            static_cast<int>(m.payload.size()), m.payload_text().data());
                ++received;
                done_when_all_in();
            },
            [&](std::error_code ec2, std::vector<suback_reason_code> granted) {
                if (ec2 || granted.empty() || granted[0].is_error())
                    return std::fprintf(stderr, "subscribe refused\n"), void();
                for (const char* room : {"kitchen", "hall", "attic"})
                    mqtt.async_publish("gateway/" + std::string{room} + "/temperature", "21.5",
                                       qos::at_least_once, false, [&](std::error_code e) {
                                           if (e)
                                               std::fprintf(stderr, "publish: %s\n",
                                                            e.message().c_str());
                                           ++acknowledged; // PUBACK arrived
                                           done_when_all_in();
                                       });
            });
    });
    io.run();
    return received == 3 ? 0 : 1;
}
