// What the end-to-end benchmarks measure with, shared: the publishing
// thread's CPU time, a libmosquitto subscriber that counts what arrives, and
// the publish loops of both clients (at most `window` publishes without a
// completion). transport_bench.cpp uses it; e2e_bench.cpp has its own copy
// of the same pieces.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <mosquitto.h>
#include <sys/resource.h>

#include <ctmqtt/client/options.hpp>

namespace ctmqtt_bench {

using clock_type = std::chrono::steady_clock;

/// User + system CPU time of the calling thread, in microseconds.
inline double thread_cpu_us() {
    rusage ru{};
    ::getrusage(RUSAGE_THREAD, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

[[noreturn]] inline void fail(const std::string& what) {
    std::fprintf(stderr, "benchmark: %s\n", what.c_str());
    std::exit(1);
}

/// A libmosquitto client on its own thread (mosquitto_loop_start),
/// subscribed to `topic`, counting the messages that arrive.
class subscriber {
public:
    subscriber(const char* host, int port, const std::string& topic, int qos) {
        mosq_ = mosquitto_new(nullptr, true, this);
        if (mosq_ == nullptr)
            fail("mosquitto_new (subscriber)");
        mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
        mosquitto_int_option(mosq_, MOSQ_OPT_RECEIVE_MAXIMUM, 65535);
        mosquitto_subscribe_callback_set(mosq_, [](mosquitto*, void* self, int, int, const int*) {
            static_cast<subscriber*>(self)->subscribed_.store(true);
        });
        mosquitto_message_callback_set(mosq_, [](mosquitto*, void* self, const mosquitto_message*) {
            static_cast<subscriber*>(self)->received_.fetch_add(1, std::memory_order_relaxed);
        });
        if (mosquitto_connect(mosq_, host, port, 60) != MOSQ_ERR_SUCCESS ||
            mosquitto_subscribe(mosq_, nullptr, topic.c_str(), qos) != MOSQ_ERR_SUCCESS ||
            mosquitto_loop_start(mosq_) != MOSQ_ERR_SUCCESS)
            fail("subscriber: connect, subscribe or loop_start");
        const auto deadline = clock_type::now() + std::chrono::seconds(10);
        while (!subscribed_.load()) {
            if (clock_type::now() > deadline)
                fail("subscriber: no SUBACK");
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    subscriber(const subscriber&) = delete;
    subscriber& operator=(const subscriber&) = delete;
    ~subscriber() {
        mosquitto_disconnect(mosq_);
        mosquitto_loop_stop(mosq_, false);
        mosquitto_destroy(mosq_);
    }

    /// Waits until `n` messages arrived (or `timeout`), calling `pump` (one
    /// turn of the publisher's event loop) meanwhile; returns how many arrived.
    std::size_t wait_for(std::size_t n, std::chrono::seconds timeout,
                         const std::function<void()>& pump) {
        const auto deadline = clock_type::now() + timeout;
        while (received_.load(std::memory_order_relaxed) < n && clock_type::now() < deadline)
            pump();
        return received_.load();
    }

private:
    mosquitto* mosq_ = nullptr;
    std::atomic<bool> subscribed_{false};
    std::atomic<std::size_t> received_{0};
};

/// Allocations the calling thread has made so far, when the program
/// includes alloc_counter.hpp (else always 0).
inline std::uint64_t (*allocations_so_far)() = [] { return std::uint64_t{0}; };

/// CPU time and allocations of the publishing thread over a run, and when it started.
struct measured {
    double cpu_us = 0;
    std::uint64_t allocations = 0;
    clock_type::time_point start;
};

/// Called once every publish completed, inside the measured span, with one
/// turn of the publisher's event loop: waits for the subscriber.
using wait_for_subscriber = std::function<void(const std::function<void()>& pump)>;

/// ctmqtt: `n` publishes of `proto`, at most `window` without completion,
/// then `wait`. The client is connected; `io` runs it on this thread. The
/// first `warm_up` of the `n` are not measured (pools fill, buffers grow):
/// the figures are the steady state's.
template <class Client>
measured publish_all(boost::asio::io_context& io, Client& c, const ctmqtt::message& proto,
                     std::size_t n, std::size_t window, std::size_t warm_up,
                     const wait_for_subscriber& wait) {
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
        while (sent < n && sent - done < window) {
            ++sent;
            c.async_publish(proto, on_done);
        }
    };
    issue();
    while (done < warm_up)
        if (io.run_one() == 0)
            fail("ctmqtt: the io_context ran out of work with publishes outstanding");
    const auto start = clock_type::now();
    const double cpu0 = thread_cpu_us();
    const auto alloc0 = allocations_so_far();
    while (done < n)
        if (io.run_one() == 0)
            fail("ctmqtt: the io_context ran out of work with publishes outstanding");
    // QoS 0 completes before the bytes are written: keep the loop running.
    wait([&] { io.run_one_for(std::chrono::microseconds(200)); });
    return {thread_cpu_us() - cpu0, allocations_so_far() - alloc0, start};
}

/// libmosquitto: connects (CONNACK accepted) driving mosquitto_loop here.
/// `connected` and `rc` are set by the connect callback the caller installed.
inline void connect_mosquitto(mosquitto* mosq, const std::string& host, int port,
                              const bool& connected, const int& rc) {
    if (mosquitto_connect(mosq, host.c_str(), port, 60) != MOSQ_ERR_SUCCESS)
        fail("mosquitto_connect to " + host + ":" + std::to_string(port));
    while (!connected)
        if (int e = mosquitto_loop(mosq, 1000, 1); e != MOSQ_ERR_SUCCESS)
            fail("mosquitto_loop (connect): " + std::string(mosquitto_strerror(e)));
    if (rc != 0)
        fail("mosquitto CONNACK " + std::to_string(rc));
}

/// libmosquitto: `n` publishes, at most `window` without their on_publish
/// callback (which counts `acked`), then `wait`; the first `warm_up` not measured.
inline measured publish_all(mosquitto* mosq, const std::string& topic,
                            const std::vector<char>& payload, int qos, std::size_t n,
                            std::size_t window, std::size_t warm_up, const std::size_t& acked,
                            const wait_for_subscriber& wait) {
    std::size_t sent = 0;
    auto start = clock_type::now();
    double cpu0 = thread_cpu_us();
    auto alloc0 = allocations_so_far();
    bool measuring = false;
    while (acked < n) {
        if (!measuring && acked >= warm_up) {
            measuring = true;
            start = clock_type::now();
            cpu0 = thread_cpu_us();
            alloc0 = allocations_so_far();
        }
        while (sent < n && sent - acked < window) {
            ++sent;
            const int rc =
                mosquitto_publish(mosq, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                                  payload.data(), qos, false);
            if (rc != MOSQ_ERR_SUCCESS)
                fail("mosquitto_publish: " + std::string(mosquitto_strerror(rc)));
        }
        if (acked >= n)
            break;
        if (int rc = mosquitto_loop(mosq, 1000, 1); rc != MOSQ_ERR_SUCCESS)
            fail("mosquitto_loop: " + std::string(mosquitto_strerror(rc)));
    }
    wait([&] { mosquitto_loop(mosq, 1, 1); });
    return {thread_cpu_us() - cpu0, allocations_so_far() - alloc0, start};
}

} // namespace ctmqtt_bench
