// The README's blocking example: no event loop in sight. The network runs
// on the client's own thread; each call waits, with a timeout.
// Usage: ctmqtt_client_blocking [host [port]]
#include <cstdio>
#include <cstdlib>

#include <ctmqtt/client/blocking.hpp>

int main(int argc, char** argv) {
    using namespace ctmqtt;
    using namespace std::chrono_literals;

    client_options options;
    options.host = argc > 1 ? argv[1] : "127.0.0.1";
    options.port = static_cast<std::uint16_t>(argc > 2 ? std::atoi(argv[2]) : 1883);
    options.client_id = "ctmqtt-blocking";

    blocking_client mqtt{options};
    if (auto ec = mqtt.connect(5s)) {
        std::fprintf(stderr, "connect: %s\n", ec.message().c_str());
        return 1;
    }
    // Callbacks run on the network thread.
    mqtt.subscribe("status/#", qos::exactly_once, [](const message_view& m) {
        std::printf("%.*s: %.*s\n", static_cast<int>(m.topic.size()), m.topic.data(),
                    static_cast<int>(m.payload.size()), m.payload_text().data());
    });
    // Waits for PUBCOMP.
    if (auto ec = mqtt.publish("status/pump", "running", qos::exactly_once)) {
        std::fprintf(stderr, "publish: %s\n", ec.message().c_str());
        return 1;
    }
    message reading;
    reading.topic = "status/level";
    reading.qos = qos::at_least_once;
    for (int i = 0; i < 10; ++i) {
        reading.payload.assign(1, static_cast<std::byte>('0' + i));
        mqtt.publish_async(reading); // does not wait
    }
    if (auto ec = mqtt.wait_until_all_acknowledged(5s))
        std::fprintf(stderr, "acknowledgements: %s\n", ec.message().c_str());
    std::this_thread::sleep_for(200ms); // let the last messages come back
    return mqtt.disconnect() ? 1 : 0;
}
