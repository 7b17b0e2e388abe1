// An sgframework resource: a climate unit named "climate".
//
//   ctmqtt_sg_climate_resource [host [port [seconds]]]     (127.0.0.1 1883 8)
//
// It takes the command "targettemperature" (echoed back as data: the value
// it accepted, retained) and sends "actualtemperature" every half second as
// the room warms or cools towards the target. On the wire (a subscriber on
// `+/#`): resourceavailable/climate/presence True, the availability topics,
// the default values, then the data; on stop, presence False.
// The network runs on a thread of its own; the program ends after `seconds`.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include <ctmqtt/facades/sgframework.hpp>

namespace sg = ctmqtt::sgframework;
using namespace std::chrono_literals;

int main(int argc, char** argv) {
    const std::string host = argc > 1 ? argv[1] : "127.0.0.1";
    const auto port = static_cast<std::uint16_t>(argc > 2 ? std::stoi(argv[2]) : 1883);
    const int seconds = argc > 3 ? std::stoi(argv[3]) : 8;

    sg::resource climate{"climate", host, port};
    climate.logger = sg::stderr_logger("climate", sg::log_level::info);
    climate.on_broker_connectionstatus_info = [](sg::resource&, bool up) {
        std::printf("climate: broker %s\n", up ? "connected" : "disconnected");
        std::fflush(stdout);
    };

    std::atomic<double> target{21.0};
    auto ec = climate.register_incoming_command(
        "targettemperature",
        [&](sg::resource&, std::string_view, std::string_view, std::string_view,
            std::string_view payload) {
            double value = 0;
            const auto [end, err] =
                std::from_chars(payload.data(), payload.data() + payload.size(), value);
            if (err != std::errc{} || end != payload.data() + payload.size())
                throw std::invalid_argument("not a temperature"); // logged; no echo
            value = std::clamp(value, 5.0, 30.0);
            target = value;
            std::printf("climate: target temperature %s\n", sg::to_payload(value).c_str());
            std::fflush(stdout);
            return value; // the echo: what was accepted
        },
        {.send_echo_as_retained = true, .default_value = "21.0"});
    if (!ec)
        ec = climate.register_outgoing_data("actualtemperature", {.default_value = "18.0"});
    if (ec) {
        std::fprintf(stderr, "%s\n", ec.message().c_str());
        return 1;
    }
    std::printf("%s", climate.descriptive_ascii_art().c_str());
    std::fflush(stdout);

    if (auto e = climate.start({.threaded_networking = true})) {
        std::fprintf(stderr, "%s\n", e.message().c_str());
        return 1;
    }
    double actual = 18.0;
    for (int i = 0; i < seconds * 2; ++i) {
        std::this_thread::sleep_for(500ms);
        actual = std::round((actual + (target - actual) * 0.3) * 10) / 10;
        (void)climate.send_data("actualtemperature", actual);
    }
    return climate.stop() ? 1 : 0;
}
