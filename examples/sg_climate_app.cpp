// An sgframework app: commands the "climate" resource
// (sg_climate_resource.cpp) and prints what it receives.
//
//   ctmqtt_sg_climate_app [host [port [seconds]]]     (127.0.0.1 1883 6)
//
// It listens to data/climate/actualtemperature and
// data/climate/targettemperature (change-only) and to the resource's
// presence, sets the target to 23.5 after one second and to 19 after three,
// and ends after `seconds`. The network is driven here, by loop().
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include <ctmqtt/facades/sgframework.hpp>

namespace sg = ctmqtt::sgframework;
using namespace std::chrono_literals;

int main(int argc, char** argv) {
    const std::string host = argc > 1 ? argv[1] : "127.0.0.1";
    const auto port = static_cast<std::uint16_t>(argc > 2 ? std::stoi(argv[2]) : 1883);
    const int seconds = argc > 3 ? std::stoi(argv[3]) : 6;

    sg::app app{"climateapp", host, port};
    app.timeout = 100ms;
    const auto print = [](sg::app&, std::string_view type, std::string_view service,
                          std::string_view signal, std::string_view payload) {
        std::printf("app: %.*s %.*s %.*s = %.*s\n", static_cast<int>(type.size()), type.data(),
                    static_cast<int>(service.size()), service.data(),
                    static_cast<int>(signal.size()), signal.data(),
                    static_cast<int>(payload.size()), payload.data());
        std::fflush(stdout);
    };
    auto ec = app.register_incoming_data("climate", "actualtemperature", print);
    if (!ec)
        ec = app.register_incoming_data("climate", "targettemperature", print, true);
    if (!ec)
        ec = app.register_incoming_availability(sg::availability::resource, "climate", "", print);
    if (!ec)
        ec = app.start();
    if (ec) {
        std::fprintf(stderr, "%s\n", ec.message().c_str());
        return 1;
    }
    std::printf("%s\n", app.summary().c_str());

    const auto begin = std::chrono::steady_clock::now();
    bool first = false, second = false;
    for (auto now = begin; now - begin < std::chrono::seconds{seconds};
         now = std::chrono::steady_clock::now()) {
        if (!first && now - begin >= 1s) {
            first = true;
            (void)app.send_command("climate", "targettemperature", 23.5);
        }
        if (!second && now - begin >= 3s) {
            second = true;
            (void)app.send_command("climate", "targettemperature", 19);
        }
        (void)app.loop();
    }
    return app.stop() ? 1 : 0;
}
