// Transport benchmark: ctmqtt's client over each transport (TCP, TLS,
// WebSocket, WebSocket over TLS, Unix socket) and libmosquitto over the
// transports it has (TCP, TLS, Unix socket), each publishing N messages to
// one local mosquitto while a subscriber counts them.
//
//   ctmqtt_transport_bench [--scale S] [--reps R] [--runs NAME,NAME...]
//
// Run names: {ctmqtt,mosquitto}-{tcp,tls,ws,wss,unix}-qos{0,1}-{64,65536}
// (libmosquitto has no WebSocket client). N = 20000 x S messages of 64 bytes,
// 2000 x S of 64 KiB; at most 1000 (64 B) or 100 (64 KiB) publishes in flight.
// 2 x that many go first, unmeasured: the figures are the steady state's.
// Each run R times (default 3); the table gives the median.
//
// Per run, publishing side only (as benchmarks/e2e_bench.cpp measures; the
// measuring pieces are in bench_support.hpp):
//   msg/s       N / (first publish .. every completion seen AND the
//               subscriber has all N)
//   MB/s        msg/s x payload size
//   cpu_us/msg  user+system CPU time of the publishing thread (getrusage
//               RUSAGE_THREAD) over the same span, / N. Both clients do all
//               their work on that thread: ctmqtt's io_context runs there,
//               libmosquitto is driven with mosquitto_loop() there.
//   allocs/msg  malloc & co. calls of the publishing thread over the same
//               span, / N (alloc_counter.hpp; OpenSSL's count too).
// The subscriber is libmosquitto over plain TCP on its own thread
// (mosquitto_loop_start) for every run, so it is the same for all.
// TLS: TLS 1.3 (both sides' default), certificates made at start with the
// openssl command (tests/transport/certificates.hpp), verification on.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <mosquitto.h>

#include <ctmqtt/client/client.hpp>
#include <ctmqtt/transport/tls.hpp>
#include <ctmqtt/transport/unix_socket.hpp>
#include <ctmqtt/transport/websocket.hpp>
#include <ctmqtt/transport/websocket_tls.hpp>

#include "alloc_counter.hpp"
#include "bench_support.hpp"
#include "support/mosquitto_broker.hpp"
#include "transport/certificates.hpp"

namespace {

using namespace ctmqtt_bench;
using listener = ctmqtt_test::mosquitto_broker::listener;

enum class kind { tcp, tls, ws, wss, unix_socket };
constexpr kind all_kinds[] = {kind::tcp, kind::tls, kind::ws, kind::wss, kind::unix_socket};

const char* name_of(kind k) {
    switch (k) {
    case kind::tcp: return "tcp";
    case kind::tls: return "tls";
    case kind::ws: return "ws";
    case kind::wss: return "wss";
    case kind::unix_socket: return "unix";
    }
    return "?";
}

struct run_spec {
    std::string client; // "ctmqtt" or "mosquitto"
    kind transport = kind::tcp;
    int qos = 0;
    std::size_t payload = 64;
    std::string name() const {
        return client + "-" + name_of(transport) + "-qos" + std::to_string(qos) + "-" +
               std::to_string(payload);
    }
    std::size_t window() const { return payload > 1024 ? 100 : 1000; }
    /// Publishes before the measured ones: pools and buffers reach their size.
    std::size_t warm_up() const { return 2 * window(); }
};

std::vector<run_spec> all_runs() {
    std::vector<run_spec> v;
    for (std::size_t payload : {std::size_t{64}, std::size_t{65536}})
        for (int q : {0, 1})
            for (kind k : all_kinds)
                for (const char* c : {"ctmqtt", "mosquitto"})
                    if (std::string_view{c} == "ctmqtt" || (k != kind::ws && k != kind::wss))
                        v.push_back({c, k, q, payload});
    return v;
}

// Where each transport's listener is.
struct endpoints {
    const ctmqtt_test::mosquitto_broker* broker = nullptr;
    std::string ca_file;
    std::string host(kind k) const {
        if (k == kind::unix_socket)
            return broker->listener_path(3).string();
        return k == kind::tls || k == kind::wss ? "localhost"
                                                : "127.0.0.1"; // the certificate's name
    }
    std::uint16_t port(kind k) const {
        switch (k) {
        case kind::tcp: return broker->port();
        case kind::tls: return broker->listener_port(0);
        case kind::ws: return broker->listener_port(1);
        case kind::wss: return broker->listener_port(2);
        case kind::unix_socket: return 0;
        }
        return 0;
    }
};

// ---------------------------------------------------------------- publishers

template <class Transport>
void configure(Transport&, const endpoints&) {}
void configure(ctmqtt::transport::tls& t, const endpoints& e) {
    ctmqtt::transport::tls_options o;
    o.ca_file = e.ca_file;
    t.set_options(o);
}
void configure(ctmqtt::transport::websocket_tls& t, const endpoints& e) {
    ctmqtt::transport::tls_options o;
    o.ca_file = e.ca_file;
    t.set_tls_options(o);
}

template <class Transport>
measured publish_ctmqtt(const endpoints& where, const run_spec& run, const std::string& topic,
                        std::size_t n, const wait_for_subscriber& wait) {
    boost::asio::io_context io;
    ctmqtt::client_options opts;
    opts.host = where.host(run.transport);
    opts.port = where.port(run.transport);
    opts.client_id = "transport-bench-ctmqtt";
    opts.reconnect_delays.clear();
    ctmqtt::basic_client<Transport> c(io.get_executor(), opts);
    configure(c.transport(), where);
    bool connected = false;
    c.async_connect([&](std::error_code ec) {
        if (ec)
            fail("ctmqtt connect over " + std::string{name_of(run.transport)} + ": " +
                 ec.message());
        connected = true;
    });
    while (!connected)
        io.run_one();
    ctmqtt::message proto;
    proto.topic = topic;
    proto.payload.assign(run.payload, std::byte{'x'});
    proto.qos = static_cast<ctmqtt::qos>(run.qos);
    const auto m = publish_all(io, c, proto, n + run.warm_up(), run.window(), run.warm_up(), wait);
    bool disconnected = false;
    c.async_disconnect([&](std::error_code) { disconnected = true; });
    while (!disconnected && io.run_one() != 0) {
    }
    return m;
}

measured publish_mosquitto(const endpoints& where, const run_spec& run, const std::string& topic,
                           std::size_t n, const wait_for_subscriber& wait) {
    struct state {
        std::size_t acked = 0;
        bool connected = false;
        int rc = -1;
    } st;
    mosquitto* mosq = mosquitto_new("transport-bench-mosquitto", true, &st);
    if (mosq == nullptr)
        fail("mosquitto_new");
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    // libmosquitto queues publishes above its send maximum itself: the window limits.
    mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, static_cast<int>(run.window()));
    if (run.transport == kind::tls &&
        mosquitto_tls_set(mosq, where.ca_file.c_str(), nullptr, nullptr, nullptr, nullptr) !=
            MOSQ_ERR_SUCCESS)
        fail("mosquitto_tls_set");
    mosquitto_connect_callback_set(mosq, [](mosquitto*, void* p, int rc) {
        static_cast<state*>(p)->connected = true;
        static_cast<state*>(p)->rc = rc;
    });
    mosquitto_publish_callback_set(
        mosq, [](mosquitto*, void* p, int) { ++static_cast<state*>(p)->acked; });
    // A Unix socket: its path as the host, port 0.
    connect_mosquitto(mosq, where.host(run.transport), where.port(run.transport), st.connected,
                      st.rc);
    const std::vector<char> payload(run.payload, 'x');
    const auto m = publish_all(mosq, topic, payload, run.qos, n + run.warm_up(), run.window(),
                               run.warm_up(), st.acked, wait);
    mosquitto_disconnect(mosq);
    mosquitto_loop(mosq, 100, 1);
    mosquitto_destroy(mosq);
    return m;
}

measured publish(const endpoints& where, const run_spec& run, const std::string& topic,
                 std::size_t n, const wait_for_subscriber& wait) {
    namespace t = ctmqtt::transport;
    if (run.client == "mosquitto")
        return publish_mosquitto(where, run, topic, n, wait);
    switch (run.transport) {
    case kind::tcp: return publish_ctmqtt<t::tcp>(where, run, topic, n, wait);
    case kind::tls: return publish_ctmqtt<t::tls>(where, run, topic, n, wait);
    case kind::ws: return publish_ctmqtt<t::websocket>(where, run, topic, n, wait);
    case kind::wss: return publish_ctmqtt<t::websocket_tls>(where, run, topic, n, wait);
    case kind::unix_socket: return publish_ctmqtt<t::unix_socket>(where, run, topic, n, wait);
    }
    fail("unknown transport");
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

[[noreturn]] void usage() {
    std::fprintf(stderr,
                 "usage: ctmqtt_transport_bench [--scale S] [--reps R] [--runs NAME,NAME...]\n"
                 "NAME: {ctmqtt,mosquitto}-{tcp,tls,ws,wss,unix}-qos{0,1}-{64,65536}\n");
    std::exit(2);
}

} // namespace

int main(int argc, char** argv) {
    double scale = 1;
    int reps = 3;
    std::vector<std::string> only;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                usage();
            return argv[++i];
        };
        if (a == "--scale")
            scale = std::stod(value());
        else if (a == "--reps")
            reps = std::stoi(value());
        else if (a == "--runs") {
            const std::string list = value();
            for (std::size_t pos = 0; pos <= list.size();) {
                const auto end = std::min(list.find(',', pos), list.size());
                only.push_back(list.substr(pos, end - pos));
                pos = end + 1;
            }
        } else
            usage();
    }
    if (scale <= 0 || reps < 1)
        usage();
    std::vector<run_spec> runs;
    for (const auto& r : all_runs())
        if (only.empty() || std::find(only.begin(), only.end(), r.name()) != only.end())
            runs.push_back(r);
    if (runs.empty())
        usage();

    allocations_so_far = [] { return thread_allocations; };
    mosquitto_lib_init();
    const auto& certs = ctmqtt_test::test_certificates::get();
    ctmqtt_test::mosquitto_broker::options o;
    o.log_all = false; // logging every packet would make the broker the bottleneck
    o.extra_config = {"max_inflight_messages 0", "max_queued_messages 1000000",
                      "max_queued_bytes 0"};
    const listener tls{listener::kind::tls,
                       certs.path("server.crt"),
                       certs.path("server.key"),
                       certs.path("ca.crt"),
                       false,
                       {}};
    listener wss = tls;
    wss.type = listener::kind::websocket_tls;
    o.listeners = {tls, {listener::kind::websocket}, wss, {listener::kind::unix_socket}};
    ctmqtt_test::mosquitto_broker broker(std::move(o));
    const endpoints where{&broker, certs.path("ca.crt")};

    std::printf("%-34s %8s %10s %9s %11s %11s %9s\n", "run", "n", "msg/s", "MB/s", "cpu_us/msg",
                "allocs/msg", "received");
    std::fflush(stdout);
    int index = 0;
    for (const auto& run : runs) {
        const auto n = static_cast<std::size_t>(
            static_cast<double>(run.payload > 1024 ? 2000 : 20000) * scale);
        std::vector<double> rates, cpus, allocs;
        std::size_t received = 0;
        for (int r = 0; r < reps; ++r) {
            const std::string topic = "bench/" + std::to_string(index++) + "/" + run.name();
            subscriber sub("127.0.0.1", broker.port(), topic, run.qos);
            clock_type::time_point end;
            const auto m = publish(where, run, topic, n, [&](const std::function<void()>& pump) {
                received = sub.wait_for(n + run.warm_up(), std::chrono::seconds(120), pump);
                end = clock_type::now();
            });
            if (received != n + run.warm_up())
                fail(run.name() + ": the subscriber got " + std::to_string(received) + " of " +
                     std::to_string(n + run.warm_up()));
            rates.push_back(static_cast<double>(n) /
                            std::chrono::duration<double>(end - m.start).count());
            cpus.push_back(m.cpu_us / static_cast<double>(n));
            allocs.push_back(static_cast<double>(m.allocations) / static_cast<double>(n));
        }
        const double rate = median(rates);
        std::printf("%-34s %8zu %10.0f %9.1f %11.2f %11.2f %9zu\n", run.name().c_str(), n, rate,
                    rate * static_cast<double>(run.payload) / 1e6, median(cpus), median(allocs),
                    received);
        std::fflush(stdout);
    }
    mosquitto_lib_cleanup();
    return 0;
}
