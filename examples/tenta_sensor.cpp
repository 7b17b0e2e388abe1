// A Tenta sensor (include/ctmqtt/facades/tenta.hpp): every round it publishes
// a batch of two measurements and a log line, and it acknowledges each
// configuration the Tenta server sends it. It ends by itself after the
// rounds, once everything it published is acknowledged.
//
//   ctmqtt_tenta_sensor --sensor demo-sensor [--host 127.0.0.1] [--port 1883]
//                       [--url mqtts://broker:8883] [--user U --password P]
//                       [--cafile ca.pem] [--v5] [--rounds 3] [--interval-ms 500]
//
// Exit status: 0 when every message was acknowledged, 1 on an error, 2 on
// a usage error.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <ctmqtt/facades/tenta.hpp>

namespace {

namespace tenta = ctmqtt::tenta;

struct arguments {
    tenta::options options;
    int rounds = 3;
    std::chrono::milliseconds interval{500};
};

int usage(std::string_view problem) {
    std::cerr << "tenta_sensor: " << problem << "\n"
              << "usage: ctmqtt_tenta_sensor --sensor ID [--host H] [--port P] [--url URL]\n"
              << "       [--user U] [--password P] [--cafile F] [--v5] [--rounds N]"
                 " [--interval-ms MS]\n";
    return 2;
}

std::optional<long> number_argument(std::string_view text, long low, long high) {
    char* end = nullptr;
    const std::string s{text};
    const long v = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || v < low || v > high)
        return std::nullopt;
    return v;
}

// Fills `out` from the command line; an error text, or empty.
std::string parse(int argc, char** argv, arguments& out) {
    auto& o = out.options;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--v5") {
            o.version = ctmqtt::protocol_version::v5;
            continue;
        }
        if (i + 1 >= argc)
            return std::string{arg} + " needs a value";
        const std::string_view value = argv[++i];
        if (arg == "--sensor") {
            o.sensor_identifier = std::string{value};
        } else if (arg == "--host") {
            o.host = std::string{value};
        } else if (arg == "--port") {
            const auto p = number_argument(value, 1, 65535);
            if (!p)
                return "--port takes 1 to 65535";
            o.port = static_cast<std::uint16_t>(*p);
        } else if (arg == "--url") {
            o.url = std::string{value};
        } else if (arg == "--user") {
            o.user_name = std::string{value};
        } else if (arg == "--password") {
            o.password = std::string{value};
        } else if (arg == "--cafile") {
            o.tls.emplace().ca_file = std::string{value};
        } else if (arg == "--rounds") {
            const auto n = number_argument(value, 1, 1000);
            if (!n)
                return "--rounds takes 1 to 1000";
            out.rounds = static_cast<int>(*n);
        } else if (arg == "--interval-ms") {
            const auto n = number_argument(value, 0, 60'000);
            if (!n)
                return "--interval-ms takes 0 to 60000";
            out.interval = std::chrono::milliseconds{*n};
        } else {
            return "unknown option " + std::string{arg};
        }
    }
    if (!o.sensor_identifier)
        return "--sensor is required";
    return {};
}

} // namespace

int main(int argc, char** argv) {
    arguments args;
    if (auto problem = parse(argc, argv, args); !problem.empty())
        return usage(problem);

    // Configurations arrive on the client's network thread; the main loop
    // acknowledges them.
    std::mutex mutex;
    std::vector<std::int64_t> to_acknowledge;
    auto& o = args.options;
    o.client_id = "tenta-sensor-" + *o.sensor_identifier;
    o.on_configuration = [&](const tenta::configuration_message& c) {
        std::cout << "configuration revision " << c.revision
                  << " received: " << c.configuration.dump() << std::endl;
        std::lock_guard lock(mutex);
        to_acknowledge.push_back(c.revision);
    };

    std::optional<tenta::client> sensor;
    try {
        sensor.emplace(o);
    } catch (const std::system_error& e) {
        std::cerr << "tenta_sensor: " << e.code().message() << std::endl;
        return 1;
    }
    std::cout << "connected as sensor " << *o.sensor_identifier << std::endl;

    const auto report = [](std::string_view what, const ctmqtt::result<tenta::message_id>& id) {
        if (id)
            std::cout << "  " << what << ": message id " << *id << std::endl;
        else
            std::cout << "  " << what << " refused: " << id.error().message() << std::endl;
        return id.has_value();
    };

    bool ok = true;
    const auto acknowledge_new_configurations = [&] {
        std::vector<std::int64_t> revisions;
        {
            std::lock_guard lock(mutex);
            revisions.swap(to_acknowledge);
        }
        for (const auto revision : revisions)
            ok = report("acknowledgment of revision " + std::to_string(revision),
                        sensor->publish(tenta::acknowledgment_message{.revision = revision,
                                                                      .success = true})) &&
                 ok;
    };
    for (int round = 1; round <= args.rounds; ++round) {
        std::cout << "round " << round << "/" << args.rounds << std::endl;
        // Two readings half an interval apart, sent as one batch.
        const double now = tenta::now();
        const double half = static_cast<double>(args.interval.count()) / 2000.0;
        const double phase = static_cast<double>(round);
        // Measurements and logs name the configuration revision in use.
        std::optional<std::int64_t> revision;
        if (const auto c = sensor->latest_configuration())
            revision = c->revision;
        const std::vector<tenta::measurement_message> readings{
            {.value = {{"temperature", 20.0 + std::sin(phase)}, {"humidity", 45 + round}},
             .revision = revision,
             .timestamp = now - half},
            {.value = {{"temperature", 20.0 + std::sin(phase + 0.5)}, {"humidity", 46 + round}},
             .revision = revision,
             .timestamp = now},
        };
        ok = report("2 measurements", sensor->publish(readings)) && ok;
        ok = report("log", sensor->publish(tenta::log_message{
                               .severity = tenta::log_severity::info,
                               .message = "round " + std::to_string(round) + " done",
                               .revision = revision})) &&
             ok;
        acknowledge_new_configurations();
        if (round < args.rounds)
            std::this_thread::sleep_for(args.interval);
    }
    acknowledge_new_configurations();

    if (auto ec = sensor->wait_for_publish(std::chrono::seconds{10})) {
        std::cerr << "tenta_sensor: " << ec.message() << std::endl;
        ok = false;
    } else {
        std::cout << "all messages acknowledged (" << sensor->active_message_count()
                  << " in flight)" << std::endl;
    }
    if (auto ec = sensor->teardown())
        std::cerr << "tenta_sensor: teardown: " << ec.message() << std::endl;
    std::cout << "done" << std::endl;
    return ok ? 0 : 1;
}
