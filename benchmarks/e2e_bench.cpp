// End-to-end publish benchmark: ctmqtt's Asio client and libmosquitto, each
// publishing N messages (64-byte payload, MQTT 5) to a local mosquitto while a
// subscriber counts them, at QoS 0/1/2 with a window of W publishes in flight.
//
//   ctmqtt_e2e_bench [--count N] [--port P] [--runs LIST]
//       every run (or those named in LIST, comma-separated) against a mosquitto
//       the program starts itself (tests/support/mosquitto_broker.hpp), or the
//       broker on 127.0.0.1:P; prints one table row per run
//   ctmqtt_e2e_bench --only ctmqtt-qos1-1000 --count N [--port P]
//       only the publishing side (connect, N publishes, all completed,
//       disconnect; no subscriber), for callgrind: instructions per message =
//       (Ir at 2N - Ir at N) / N (benchmarks/e2e.sh)
//
// Run names: {ctmqtt,mosquitto}-qos{0,1,2}-{100,1000}.
//
// What is measured, per run (publishing side only):
//   msg/s      N / (first publish .. publisher saw every completion AND the
//              subscriber received all N)
//   cpu us/msg user+system CPU time of the publishing thread (getrusage
//              RUSAGE_THREAD) from the first publish until the subscriber has
//              all N (the publisher's event loop keeps running meanwhile),
//              divided by N. Both clients
//              do all their work on that one thread: ctmqtt's io_context runs
//              there (io_context::run_one), libmosquitto is driven with
//              mosquitto_loop() there (no loop_start thread).
//   allocs/msg malloc/calloc/realloc/aligned_alloc/memalign/posix_memalign
//              calls made by the publishing thread over
//              the same span, divided by N. malloc is interposed (not just
//              operator new) because libmosquitto allocates with malloc;
//              libstdc++'s operator new calls malloc, so ctmqtt's are counted too.
// The subscriber is the same for both clients (libmosquitto, its own thread
// via mosquitto_loop_start, subscribed at the run's QoS), so it is not part of
// the publishing thread's figures.
//
// "In flight": the publisher keeps at most W publishes whose completion it has
// not seen yet (ctmqtt: the async_publish handler; libmosquitto: the
// on_publish callback). QoS 1/2 complete on PUBACK/PUBCOMP; QoS 0 on handing
// over (ctmqtt) or writing to the socket (libmosquitto).
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <dlfcn.h>
#include <mosquitto.h>
#include <sys/resource.h>

#include <ctmqtt/client/client.hpp>

#include "support/mosquitto_broker.hpp"

// ---------------------------------------------------------------- allocation counter

#include "alloc_counter.hpp" // defines malloc & co. for this program
#include "bench_support.hpp"

using ctmqtt_bench::fail;
using ctmqtt_bench::subscriber;
using ctmqtt_bench::thread_allocations;
using ctmqtt_bench::thread_cpu_us;

namespace {

using clock_type = std::chrono::steady_clock;

constexpr std::size_t payload_size = 64;
constexpr const char* host = "127.0.0.1";

struct run_spec {
    std::string client; // "ctmqtt" or "mosquitto"
    int qos = 0;
    std::size_t window = 100;
    std::string name() const {
        return client + "-qos" + std::to_string(qos) + "-" + std::to_string(window);
    }
};

std::optional<run_spec> parse_run(std::string_view s) {
    for (const char* c : {"ctmqtt", "mosquitto"})
        for (int q = 0; q <= 2; ++q)
            for (std::size_t w : {std::size_t{100}, std::size_t{1000}}) {
                run_spec r{c, q, w};
                if (r.name() == s)
                    return r;
            }
    return std::nullopt;
}

std::vector<run_spec> all_runs() {
    std::vector<run_spec> v;
    for (int q = 0; q <= 2; ++q)
        for (std::size_t w : {std::size_t{100}, std::size_t{1000}})
            for (const char* c : {"ctmqtt", "mosquitto"})
                v.push_back({c, q, w});
    return v;
}

// thread_cpu_us, fail and the libmosquitto subscriber: bench_support.hpp.

// ---------------------------------------------------------------- publishers

struct publish_result {
    double cpu_us = 0;
    std::uint64_t allocations = 0;
    clock_type::time_point start; ///< when the first publish was issued
};

std::vector<std::byte> make_payload() {
    std::vector<std::byte> p(payload_size);
    for (std::size_t i = 0; i < p.size(); ++i)
        p[i] = static_cast<std::byte>('a' + i % 26);
    return p;
}

// ctmqtt: connect, publish N with at most `window` outstanding, disconnect.
// `between(pump)` runs after every publish completed, inside the measured
// span: the caller waits for the subscriber there, calling pump() to keep the
// publisher's event loop going.
template <class Between>
publish_result publish_ctmqtt(unsigned short port, const run_spec& run, const std::string& topic,
                              std::size_t n, Between&& between) {
    boost::asio::io_context io;
    ctmqtt::client_options opts;
    opts.host = host;
    opts.port = port;
    opts.client_id = "e2e-ctmqtt-pub";
    opts.reconnect_delays.clear();
    ctmqtt::client c(io.get_executor(), opts);

    bool connected = false;
    c.async_connect([&](std::error_code ec) {
        if (ec)
            fail("ctmqtt connect: " + ec.message());
        connected = true;
    });
    while (!connected)
        io.run_one();

    ctmqtt::message proto;
    proto.topic = topic;
    proto.payload = make_payload();
    proto.qos = static_cast<ctmqtt::qos>(run.qos);

    std::size_t sent = 0;
    std::size_t done = 0;
    std::function<void()> issue; // declared first: the handler below calls it
    auto on_done = [&](std::error_code ec) {
        if (ec)
            fail("ctmqtt publish: " + ec.message());
        ++done;
        issue();
    };
    issue = [&] {
        while (sent < n && sent - done < run.window) {
            ++sent;
            c.async_publish(proto, on_done);
        }
    };

    const auto start = clock_type::now();
    const double cpu0 = thread_cpu_us();
    const std::uint64_t alloc0 = thread_allocations;
    issue();
    while (done < n)
        if (io.run_one() == 0)
            fail("ctmqtt: the io_context ran out of work with " + std::to_string(n - done) +
                 " publishes outstanding");
    // QoS 0 completes before the bytes are written: keep the loop running.
    between([&] { io.run_one_for(std::chrono::microseconds(200)); });
    publish_result r{thread_cpu_us() - cpu0, thread_allocations - alloc0, start};

    bool disconnected = false;
    c.async_disconnect([&](std::error_code) { disconnected = true; });
    while (!disconnected)
        if (io.run_one() == 0) { // nothing left to run: the client will not complete
            std::fprintf(stderr,
                         "e2e_bench: ctmqtt async_disconnect never completed (connected=%d)\n",
                         c.connected() ? 1 : 0);
            break;
        }
    return r;
}

struct mosq_pub_state {
    std::size_t acked = 0;
    bool connected = false;
    int connack_rc = -1;
};

template <class Between>
publish_result publish_mosquitto(unsigned short port, const run_spec& run, const std::string& topic,
                                 std::size_t n, Between&& between) {
    mosq_pub_state st;
    mosquitto* mosq = mosquitto_new("e2e-mosquitto-pub", true, &st);
    if (mosq == nullptr)
        fail("mosquitto_new");
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    // libmosquitto queues publishes above its send maximum itself; allow the
    // whole window so that the window is what limits.
    mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, static_cast<int>(run.window));
    mosquitto_connect_callback_set(mosq, [](mosquitto*, void* p, int rc) {
        auto* s = static_cast<mosq_pub_state*>(p);
        s->connected = true;
        s->connack_rc = rc;
    });
    mosquitto_publish_callback_set(
        mosq, [](mosquitto*, void* p, int) { ++static_cast<mosq_pub_state*>(p)->acked; });
    if (mosquitto_connect(mosq, host, port, 60) != MOSQ_ERR_SUCCESS)
        fail("mosquitto_connect");
    while (!st.connected)
        if (int rc = mosquitto_loop(mosq, 1000, 1); rc != MOSQ_ERR_SUCCESS)
            fail("mosquitto_loop (connect): " + std::string(mosquitto_strerror(rc)));
    if (st.connack_rc != 0)
        fail("mosquitto CONNACK " + std::to_string(st.connack_rc));

    const auto payload = make_payload();
    const int len = static_cast<int>(payload.size());
    std::size_t sent = 0;

    const auto start = clock_type::now();
    const double cpu0 = thread_cpu_us();
    const std::uint64_t alloc0 = thread_allocations;
    while (st.acked < n) {
        while (sent < n && sent - st.acked < run.window) {
            ++sent;
            const int rc = mosquitto_publish(mosq, nullptr, topic.c_str(), len, payload.data(),
                                             run.qos, false);
            if (rc != MOSQ_ERR_SUCCESS)
                fail("mosquitto_publish: " + std::string(mosquitto_strerror(rc)));
        }
        if (st.acked >= n)
            break;
        if (int rc = mosquitto_loop(mosq, 1000, 1); rc != MOSQ_ERR_SUCCESS)
            fail("mosquitto_loop: " + std::string(mosquitto_strerror(rc)));
    }
    between([&] { mosquitto_loop(mosq, 1, 1); });
    publish_result r{thread_cpu_us() - cpu0, thread_allocations - alloc0, start};

    mosquitto_disconnect(mosq);
    mosquitto_loop(mosq, 100, 1);
    mosquitto_destroy(mosq);
    return r;
}

template <class Between>
publish_result publish(unsigned short port, const run_spec& run, const std::string& topic,
                       std::size_t n, Between&& between) {
    if (run.client == "ctmqtt")
        return publish_ctmqtt(port, run, topic, n, between);
    return publish_mosquitto(port, run, topic, n, between);
}

// ---------------------------------------------------------------- main

std::vector<std::string> mosquitto_config() {
    return {
        "max_inflight_messages 0",     // no limit on QoS 1/2 in flight to the subscriber
        "max_queued_messages 1000000", // nor (practically) on the queue behind them
        "max_queued_bytes 0",
    };
}

void usage() {
    std::fprintf(stderr, "usage: ctmqtt_e2e_bench [--count N] [--port P] [--runs NAME,NAME...]\n"
                         "       ctmqtt_e2e_bench --only NAME --count N [--port P]\n"
                         "NAME: {ctmqtt,mosquitto}-qos{0,1,2}-{100,1000}\n"
                         "--print-config: print the mosquitto.conf lines the benchmark needs\n");
    std::exit(2);
}

} // namespace

int main(int argc, char** argv) {
    std::size_t count = 50000;
    std::optional<unsigned short> port;
    std::optional<run_spec> only;
    std::vector<run_spec> runs;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                usage();
            return argv[++i];
        };
        if (a == "--count")
            count = std::stoul(value());
        else if (a == "--port")
            port = static_cast<unsigned short>(std::stoul(value()));
        else if (a == "--only") {
            only = parse_run(value());
            if (!only)
                usage();
        } else if (a == "--runs") {
            const std::string list = value();
            std::size_t pos = 0;
            while (pos <= list.size()) {
                const auto end = std::min(list.find(',', pos), list.size());
                auto r = parse_run(std::string_view(list).substr(pos, end - pos));
                if (!r)
                    usage();
                runs.push_back(*r);
                pos = end + 1;
            }
        } else if (a == "--print-config") {
            for (const auto& line : mosquitto_config())
                std::printf("%s\n", line.c_str());
            return 0;
        } else
            usage();
    }
    if (count == 0)
        usage();
    if (runs.empty())
        runs = all_runs();

    mosquitto_lib_init();
    std::optional<ctmqtt_test::mosquitto_broker> broker;
    if (!port) {
        ctmqtt_test::mosquitto_broker::options o;
        o.log_all = false; // logging every packet would make the broker the bottleneck
        o.extra_config = mosquitto_config();
        broker.emplace(std::move(o));
        port = broker->port();
    }

    if (only) {
        // The publishing side only, for callgrind (no subscriber, no output
        // but one line, so that Ir(2N) - Ir(N) is the cost of N publishes).
        const auto r = publish(*port, *only, "e2e/" + only->name(), count, [](auto&&) {});
        std::printf("%s n=%zu cpu_us=%.0f allocs=%llu\n", only->name().c_str(), count, r.cpu_us,
                    static_cast<unsigned long long>(r.allocations));
        mosquitto_lib_cleanup();
        return 0;
    }

    std::printf("%-22s %8s %12s %12s %12s %10s\n", "run", "n", "msg/s", "cpu_us/msg", "allocs/msg",
                "received");
    std::fflush(stdout);
    int run_index = 0;
    for (const auto& run : runs) {
        const std::string topic = "e2e/" + std::to_string(run_index++) + "/" + run.name();
        subscriber sub(host, *port, topic, run.qos);
        std::size_t received = 0;
        clock_type::time_point t1;
        const auto r = publish(*port, run, topic, count, [&](auto&& pump) {
            received = sub.wait_for(count, std::chrono::seconds(60), pump);
            t1 = clock_type::now();
        });
        const double secs = std::chrono::duration<double>(t1 - r.start).count();
        const double n = static_cast<double>(count);
        std::printf("%-22s %8zu %12.0f %12.2f %12.2f %10zu\n", run.name().c_str(), count, n / secs,
                    r.cpu_us / n, static_cast<double>(r.allocations) / n, received);
        std::fflush(stdout);
    }
    mosquitto_lib_cleanup();
    return 0;
}
