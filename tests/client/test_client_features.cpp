// The client's features against a real mosquitto (tests/support/mosquitto_broker.hpp):
// zero allocations in steady state, routing to subscription callbacks,
// per-operation cancellation, the offline queue's limits and overflow policy,
// broker failover, reconnect jitter and the default schedule, the completion
// token flavours (deferred, use_future, use_awaitable), outbound topic
// aliases, the blocking facade, and UNSUBSCRIBE resumed with a kept session.
//
// This file replaces the global allocation functions of the test executable
// with counting ones (they count only while `counting` is on), and
// aligned_alloc, through which Asio allocates the memory of its operations.
#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <variant>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>
#include <catch2/catch.hpp>
#include <dlfcn.h>
#include <execinfo.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ctmqtt/client/blocking.hpp>
#include <ctmqtt/client/client.hpp>

#include "../support/client_support.hpp"
#include "../support/fake_broker.hpp"
#include "../support/mosquitto_broker.hpp"

// ---------------------------------------------------------------- counting allocations

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};

// The first allocations counted, with their call stacks, to say where they come from.
#ifndef CTMQTT_TEST_ALLOCATION_TRACES
#define CTMQTT_TEST_ALLOCATION_TRACES 8
#endif
constexpr int max_traces = CTMQTT_TEST_ALLOCATION_TRACES;
constexpr int trace_depth = 40;
struct allocation_trace {
    void* frames[trace_depth];
    int depth;
    std::size_t size;
};
allocation_trace traces[max_traces];
std::atomic<int> traces_taken{0};
thread_local bool in_hook = false;

void count_allocation(std::size_t size) noexcept {
    if (!counting.load(std::memory_order_relaxed) || in_hook)
        return;
    const long n = allocations.fetch_add(1, std::memory_order_relaxed);
    if (n < max_traces) {
        in_hook = true;
        auto& t = traces[n];
        t.size = size;
        t.depth = ::backtrace(t.frames, trace_depth);
        traces_taken.fetch_add(1, std::memory_order_relaxed);
        in_hook = false;
    }
}

void print_traces() {
    const int n = std::min(traces_taken.load(), max_traces);
    std::fprintf(
        stderr,
        "--- the first %d counted allocations (resolve with addr2line -f -C -i -e <test>)\n", n);
    for (int i = 0; i < n; ++i) {
        std::fprintf(stderr, "--- counted allocation %d: %zu bytes\n", i, traces[i].size);
        ::backtrace_symbols_fd(traces[i].frames, traces[i].depth, 2);
    }
}

void start_counting() {
    void* warm[4];
    (void)::backtrace(warm, 4); // loads the unwinder now, not inside a counted allocation
    traces_taken = 0;
    allocations = 0;
    counting = true;
}

long stop_counting() {
    counting = false;
    return allocations.load();
}

using aligned_alloc_fn = void* (*)(std::size_t, std::size_t);
aligned_alloc_fn next_aligned_alloc() noexcept {
    static const auto next =
        reinterpret_cast<aligned_alloc_fn>(::dlsym(RTLD_NEXT, "aligned_alloc"));
    return next;
}
[[maybe_unused]] const aligned_alloc_fn resolved_at_startup = next_aligned_alloc();

void* allocate(std::size_t n) {
    count_allocation(n);
    if (void* p = std::malloc(n == 0 ? 1 : n))
        return p;
    throw std::bad_alloc{};
}
void* allocate_aligned(std::size_t n, std::size_t align) {
    count_allocation(n);
    const std::size_t size = (n + align - 1) / align * align;
    if (void* p = next_aligned_alloc()(align, size == 0 ? align : size))
        return p;
    throw std::bad_alloc{};
}
} // namespace

// Asio takes the memory of its operations from std::aligned_alloc (recycled
// per thread): counted too. The next definition (libc's, or a sanitizer's)
// does the work, so free() stays its partner.
extern "C" void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
    count_allocation(size);
    return next_aligned_alloc()(alignment, size);
}

// The replacements pair malloc with free; GCC's -Wmismatched-new-delete cannot
// see that operator new here is malloc-backed, so it is silenced for them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
    return allocate(n);
}
void* operator new[](std::size_t n) {
    return allocate(n);
}
void* operator new(std::size_t n, std::align_val_t a) {
    return allocate_aligned(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
    return allocate_aligned(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
    std::free(p);
}
// The nothrow forms too, or ASan sees Catch's new (std::nothrow) freed with free().
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    count_allocation(n);
    return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept {
    return operator new(n, t);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// ---------------------------------------------------------------- helpers

using namespace ctmqtt;
using namespace std::chrono_literals;
using ctmqtt_test::mosquitto_broker;
using ctmqtt_test::options_for;
using ctmqtt_test::run_for;
using ctmqtt_test::run_until;
namespace asio = boost::asio;
using error_code = boost::system::error_code;

namespace {

client_options options_for_port(unsigned short port, std::string id) {
    client_options o;
    o.host = "127.0.0.1";
    o.port = port;
    o.client_id = std::move(id);
    o.connect_timeout = 2s;
    return o;
}

message make_message(std::string topic, std::string_view text, qos q) {
    message m;
    m.topic = std::move(topic);
    m.payload.resize(text.size());
    if (!text.empty())
        std::memcpy(m.payload.data(), text.data(), text.size());
    m.qos = q;
    return m;
}

std::string tag_of(protocol_version v) {
    return std::string{to_string(v)};
}

struct collector {
    std::vector<message> messages;
    void start(client& c) {
        c.async_receive([this, &c](error_code ec, message m) {
            if (ec)
                return;
            messages.push_back(std::move(m));
            start(c);
        });
    }
    std::vector<std::string> topics() const {
        std::vector<std::string> out;
        for (const auto& m : messages)
            out.push_back(m.topic);
        return out;
    }
    std::vector<std::string> payloads() const {
        std::vector<std::string> out;
        for (const auto& m : messages)
            out.emplace_back(m.payload_text());
        return out;
    }
};

template <class Client>
bool connect_and_wait(asio::io_context& io, Client& c, std::error_code& result,
                      std::chrono::milliseconds limit = 5s) {
    bool done = false;
    c.async_connect([&](error_code ec) {
        result = ec;
        done = true;
    });
    return run_until(
        io, [&] { return done; }, limit);
}

template <class Client>
bool connect_ok(asio::io_context& io, Client& c) {
    std::error_code ec;
    return connect_and_wait(io, c, ec) && !ec;
}

template <class Client>
bool subscribe_and_wait(asio::io_context& io, Client& c, const std::string& filter, qos q,
                        message_callback cb = {}) {
    bool done = false;
    bool ok = false;
    c.async_subscribe(filter, q, std::move(cb),
                      [&](error_code ec, std::vector<suback_reason_code> codes) {
                          ok = !ec && codes.size() == 1 && !codes[0].is_error();
                          done = true;
                      });
    return run_until(io, [&] { return done; }) && ok;
}

template <class Client>
bool disconnect_and_wait(asio::io_context& io, Client& c) {
    bool done = false;
    c.async_disconnect([&](error_code) { done = true; });
    return run_until(io, [&] { return done; });
}

// Every publish's result, in completion order.
struct results {
    std::vector<std::pair<std::string, std::error_code>> items;
    auto handler(std::string name) {
        return [this, name = std::move(name)](error_code ec) { items.emplace_back(name, ec); };
    }
    std::optional<std::error_code> of(const std::string& name) const {
        for (const auto& [n, ec] : items)
            if (n == name)
                return ec;
        return std::nullopt;
    }
};

std::size_t count_state(const std::vector<connection_state>& states, connection_state::kind k) {
    return static_cast<std::size_t>(
        std::count_if(states.begin(), states.end(), [k](const auto& s) { return s.what == k; }));
}

// A TCP port that accepts connections (the kernel completes the handshake)
// but never answers: an attempt to connect there waits for its CONNACK.
class silent_listener {
public:
    silent_listener() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        if (!fd_)
            ctmqtt_test::detail::throw_errno("socket");
        sockaddr_in addr = ctmqtt_test::detail::loopback_address("127.0.0.1", 0);
        if (::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(fd_.get(), 8) != 0)
            ctmqtt_test::detail::throw_errno("bind/listen");
        port_ = ctmqtt_test::detail::local_port(fd_);
    }
    unsigned short port() const noexcept { return port_; }

    /// The next connection, once it arrives (within `limit`).
    ctmqtt_test::detail::unique_fd accept_one(std::chrono::milliseconds limit) {
        pollfd p{fd_.get(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0)
            return {};
        return ctmqtt_test::detail::unique_fd(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    }

    /// Whether the peer closes `fd` within `limit` (what it sends is read and dropped).
    static bool closed_by_peer(const ctmqtt_test::detail::unique_fd& fd,
                               std::chrono::milliseconds limit) {
        const auto end = std::chrono::steady_clock::now() + limit;
        char buffer[512];
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                end - std::chrono::steady_clock::now());
            if (left.count() <= 0)
                return false;
            pollfd p{fd.get(), POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
                return false;
            const auto n = ::recv(fd.get(), buffer, sizeof buffer, 0);
            if (n <= 0)
                return true; // EOF (or a reset)
        }
    }

private:
    ctmqtt_test::detail::unique_fd fd_;
    unsigned short port_ = 0;
};

// A port nothing listens on (connections to it are refused).
unsigned short unused_port() {
    return ctmqtt_test::detail::pick_free_port("127.0.0.1");
}

// An Asio error as the std::error_code the client reports it with.
std::error_code std_code(asio::error::basic_errors e) {
    return error_code{e};
}

// Whether a completion says "cancelled". (Compared as std::error_code: see the
// test "[client][errors]" for the comparison with asio::error::operation_aborted.)
bool aborted(const error_code& ec) {
    return std::error_code{ec} == std_code(asio::error::operation_aborted);
}

} // namespace

// ---------------------------------------------------------------- 1. no allocation

namespace {

// Publishes to two topics of the client's own subscriptions: "alloc/cb"
// (a callback subscription) and "alloc/rx" (received with async_receive into
// one message), keeping at most `window` messages published and not yet
// received. Every payload is its sequence number on its topic (fixed width,
// so that buffers keep one size), checked on arrival. Everything runs inside
// the io_context, as an application's handlers do (Asio recycles operation
// memory only on a thread that runs the io_context): publishes start from the
// completions of publishes and receives and from the subscription callback,
// all on the client's strand.

struct allocation_driver {
    client* c = nullptr;
    qos q = qos::at_most_once;
    int window = 100;
    int target = 0;
    int sent = 0;
    int completed = 0;
    int publish_errors = 0;
    int via_callback = 0;
    int via_receive = 0;
    int wrong = 0; ///< a message out of order, with a wrong payload or topic
    std::array<std::array<char, 64>, 4> wrong_examples{}; ///< preallocated: no allocation here
    error_code receive_error;
    message into;
    std::array<char, 6> text{};

    asio::io_context* io = nullptr; ///< stopped once done
    /// Warm-up: async_receive is not called again until `window` messages wait,
    /// so the client's inbox and its pool grow to `window` at least.
    bool hold_receives = false;
    bool holding = false; ///< a receive is due: the hold is on
    std::unique_ptr<asio::steady_timer> release_timer;
    int count_from = -1; ///< allocations are counted from this many completed publishes on

    int received() const { return via_callback + via_receive; }
    bool done() const { return completed == target && received() == target; }
    void stop_when_done() {
        if (done() && io)
            io->stop();
    }

    static std::string_view format(std::array<char, 6>& out, int n) {
        for (auto i = out.size(); i-- > 0; n /= 10)
            out[i] = static_cast<char>('0' + n % 10);
        return {out.data(), out.size()};
    }

    void publish_more() {
        if (holding && sent - received() >= window && !release_timer) {
            // Every message in flight now goes to the inbox: give the broker
            // time to deliver them (setup, not a measurement), then take them.
            release_timer =
                std::make_unique<asio::steady_timer>(*io, std::chrono::milliseconds(500));
            release_timer->async_wait([this](error_code) {
                holding = false;
                receive();
            });
        }
        while (sent < target && sent - received() < window) {
            const bool to_callback = sent % 2 == 0;
            const auto payload = format(text, sent / 2);
            ++sent;
            c->async_publish(to_callback ? std::string_view{"alloc/cb"} : "alloc/rx", payload, q,
                             false, [this](error_code ec) {
                                 if (++completed == count_from)
                                     start_counting(); // inside io.run(): its caches are warm
                                 if (ec)
                                     ++publish_errors;
                                 publish_more();
                                 stop_when_done();
                             });
        }
    }

    static int number(std::string_view s) {
        int n = -1;
        if (s.size() != 6 || std::from_chars(s.data(), s.data() + s.size(), n).ec != std::errc{})
            return -1;
        return n;
    }

    void note_wrong(std::string_view how, std::string_view topic, std::string_view payload,
                    int expected) {
        if (wrong < static_cast<int>(wrong_examples.size()))
            std::snprintf(wrong_examples[static_cast<std::size_t>(wrong)].data(), 64,
                          "%.*s: %.*s='%.*s', expected %d", static_cast<int>(how.size()),
                          how.data(), static_cast<int>(topic.size()), topic.data(),
                          static_cast<int>(std::min<std::size_t>(payload.size(), 12)),
                          payload.data(), expected);
        ++wrong;
    }

    std::string wrong_text() const {
        std::string out;
        for (int i = 0; i < std::min(wrong, static_cast<int>(wrong_examples.size())); ++i)
            out += std::string{wrong_examples[static_cast<std::size_t>(i)].data()} + "; ";
        return out;
    }

    void on_callback(const message_view& m) {
        if (m.topic != "alloc/cb" || number(m.payload_text()) != via_callback)
            note_wrong("callback", m.topic, m.payload_text(), via_callback);
        ++via_callback;
        publish_more(); // from inside the client's receive path
        stop_when_done();
    }

    void receive() {
        if (hold_receives) {
            hold_receives = false;
            holding = true;
            return;
        }
        c->async_receive(into, [this](error_code ec) {
            if (ec) {
                receive_error = ec;
                if (io)
                    io->stop();
                return;
            }
            if (into.topic != "alloc/rx" || number(into.payload_text()) != via_receive)
                note_wrong("receive", into.topic, into.payload_text(), via_receive);
            ++via_receive;
            publish_more();
            receive();
            stop_when_done();
        });
    }
};

// Runs the io_context on this thread until the driver has sent and received
// `target` (the driver stops it), counting allocations from `count_from`
// completed publishes on (-1: no counting). It uses run(), as applications
// do: run_one() and run_for() give each call a fresh per-thread cache of
// operation memory, so Asio would allocate in each call.
struct drive_result {
    bool done = false;
    long allocations = 0;
};
drive_result drive(asio::io_context& io, allocation_driver& d, int target, int count_from,
                   std::chrono::milliseconds limit = 15s) {
    d.target = target;
    d.io = &io;
    d.count_from = count_from;
    asio::steady_timer deadline(io, limit);
    deadline.async_wait([&](error_code ec) {
        if (!ec)
            io.stop();
    });
    io.restart();
    io.run();
    drive_result r;
    if (count_from >= 0)
        r.allocations = stop_counting();
    deadline.cancel();
    r.done = d.done() && !d.receive_error;
    return r;
}

// One client publishes 4000 messages to itself as warm-up, 1000 more with
// 256 left waiting in its inbox, then 2000 more, the last 1800 of them while
// every allocation is counted.
void allocation_scenario(const mosquitto_broker& broker) {
    for (auto v : {protocol_version::v5, protocol_version::v3_1_1}) {
        for (auto q : {qos::at_most_once, qos::at_least_once}) {
            const std::string tag = tag_of(v) + "-q" + std::to_string(static_cast<int>(q));
            INFO("version " << to_string(v) << ", QoS " << static_cast<int>(q));
            asio::io_context io;
            client c(io.get_executor(), options_for(broker, v, "alloc-" + tag));
            REQUIRE(connect_ok(io, c));
            allocation_driver d;
            d.c = &c;
            d.q = q;
            REQUIRE(subscribe_and_wait(io, c, "alloc/cb", q,
                                       [p = &d](const message_view& m) { p->on_callback(m); }));
            REQUIRE(subscribe_and_wait(io, c, "alloc/rx", q));
            d.receive();
            // Publishing starts from a publish's completion, on the strand (this
            // thread does not run the io_context now: what it starts allocates).
            auto kick = [&](int target) {
                d.target = target;
                c.async_publish("alloc/start", "", q, false,
                                [p = &d](error_code) { p->publish_more(); });
            };
            // Warm-up: pools, buffers and Asio's caches reach their working size. The
            // inbox's high-water mark depends on how many messages one read brings (at
            // most the messages in flight): the warm-up keeps four times as many in
            // flight as the counted run, so its pools are the larger.
            d.window = 400;
            kick(4000);
            REQUIRE(drive(io, d, 4000, -1).done);
            // Then the inbox is made to hold 256 messages at once (its pool grows to
            // that): in the counted run fewer than `window` (100) messages are ever
            // unreceived, so the inbox never needs more, however reads group them.
            d.window = 256;
            d.hold_receives = true;
            kick(5000);
            REQUIRE(drive(io, d, 5000, -1).done);
            REQUIRE(d.release_timer);
            d.window = 100;
            kick(7000);
            const auto r = drive(io, d, 7000, 5200); // the last 1800 publishes counted
            const bool steady = r.done;
            const long counted = r.allocations;
            INFO("sent " << d.sent << ", completed " << d.completed << ", via callback "
                         << d.via_callback << ", via receive " << d.via_receive);
            REQUIRE(steady);
            CHECK(d.publish_errors == 0);
            INFO("wrong: " << d.wrong_text());
            CHECK(d.wrong == 0);
            CHECK(d.via_callback == 3500);
            CHECK(d.via_receive == 3500);
            if (counted != 0)
                print_traces();
            CHECK(counted == 0);
            REQUIRE(disconnect_and_wait(io, c));
        }
    }
}

} // namespace

TEST_CASE("client features: steady state allocates nothing (QoS 0 and 1, MQTT 5 and 3.1.1)",
          "[client][allocations]") {
    mosquitto_broker broker;
    allocation_scenario(broker);
}

TEST_CASE("client features: publishes go out in the order async_publish was called, on the "
          "strand or off it",
          "[client][order]") {
    mosquitto_broker broker;
    asio::io_context io;
    client sub(io.get_executor(), options_for(broker, protocol_version::v5, "order-sub"));
    client c(io.get_executor(), options_for(broker, protocol_version::v5, "order-pub"));
    REQUIRE(connect_ok(io, sub));
    REQUIRE(connect_ok(io, c));
    REQUIRE(subscribe_and_wait(io, sub, "ord/#", qos::at_least_once));
    collector inbox;
    inbox.start(sub);
    for (auto q : {qos::at_most_once, qos::at_least_once}) {
        INFO("QoS " << static_cast<int>(q));
        inbox.messages.clear();
        int done = 0;
        // A handler queued on the client's strand publishes "second"; "first" is
        // published after it was queued, from this thread (off the strand), so
        // before the handler runs.
        asio::post(c.get_executor(), [&] {
            c.async_publish("ord/x", "second", q, false, [&](error_code) { ++done; });
        });
        c.async_publish("ord/x", "first", q, false, [&](error_code) { ++done; });
        REQUIRE(run_until(io, [&] { return done == 2 && inbox.messages.size() == 2; }));
        CHECK(inbox.payloads() == std::vector<std::string>{"first", "second"});
    }
    REQUIRE(disconnect_and_wait(io, c));
    REQUIRE(disconnect_and_wait(io, sub));
}

// ---------------------------------------------------------------- 2. routing

TEST_CASE("client features: messages go to the callbacks of the subscriptions they match, the "
          "rest to async_receive",
          "[client][routing]") {
    mosquitto_broker broker;
    for (auto v : {protocol_version::v5, protocol_version::v3_1_1}) {
        const std::string tag = tag_of(v);
        INFO("version " << tag);
        asio::io_context io;
        client c(io.get_executor(), options_for(broker, v, "route-" + tag));
        client pub(io.get_executor(), options_for(broker, v, "route-pub-" + tag));
        REQUIRE(connect_ok(io, c));
        REQUIRE(connect_ok(io, pub));

        struct seen {
            std::vector<std::string> topics;
            std::vector<std::string> payloads;
            std::vector<std::size_t> subscription_ids; ///< how many each message carried
        };
        seen wide, narrow, shared;
        auto record = [](seen& s) {
            return [&s](const message_view& m) {
                s.topics.emplace_back(m.topic);
                s.payloads.emplace_back(m.payload_text());
                std::size_t ids = 0;
                if (m.properties)
                    for ([[maybe_unused]] auto id :
                         m.properties->get<property_id::subscription_identifier>())
                        ++ids;
                s.subscription_ids.push_back(ids);
            };
        };
        REQUIRE(subscribe_and_wait(io, c, "r/#", qos::at_least_once, record(wide)));
        REQUIRE(subscribe_and_wait(io, c, "r/a", qos::at_least_once, record(narrow)));
        REQUIRE(subscribe_and_wait(io, c, "$share/g/s/#", qos::at_least_once, record(shared)));
        REQUIRE(subscribe_and_wait(io, c, "n/#", qos::at_least_once)); // no callback

        std::optional<message> by_value;
        message into;
        bool into_done = false;
        error_code into_error;
        c.async_receive([&](error_code ec, message m) {
            CHECK_FALSE(ec);
            by_value = std::move(m);
            c.async_receive(into, [&](error_code ec2) {
                into_error = ec2;
                into_done = true;
            });
        });
        for (const auto* topic : {"r/a", "r/b", "s/x", "n/1", "n/2"})
            pub.async_publish(topic, std::string{"to "} + topic, qos::at_least_once, false,
                              [](error_code ec) { CHECK_FALSE(ec); });
        // One publisher, one subscriber, one QoS: the broker keeps the order, so n/2 comes last.
        REQUIRE(run_until(io, [&] { return into_done; }));
        run_for(io, 150ms); // duplicates, if any, arrive meanwhile

        REQUIRE(by_value);
        CHECK(by_value->topic == "n/1");
        CHECK(by_value->payload_text() == "to n/1");
        CHECK(by_value->qos == qos::at_least_once);
        CHECK_FALSE(into_error);
        CHECK(into.topic == "n/2");
        CHECK(into.payload_text() == "to n/2");
        CHECK(into.qos == qos::at_least_once);

        INFO("r/# saw " << ::Catch::Detail::stringify(wide.topics) << ", r/a saw "
                        << ::Catch::Detail::stringify(narrow.topics));
        CHECK(wide.topics == std::vector<std::string>{"r/a", "r/b"});
        CHECK(wide.payloads == std::vector<std::string>{"to r/a", "to r/b"});
        CHECK(narrow.topics == std::vector<std::string>{"r/a"});
        CHECK(narrow.payloads == std::vector<std::string>{"to r/a"});
        CHECK(shared.topics == std::vector<std::string>{"s/x"});
        CHECK(shared.payloads == std::vector<std::string>{"to s/x"});
        if (v == protocol_version::v5) {
            // Routed by Subscription Identifier: each message carries exactly one.
            for (const auto* s : {&wide, &narrow, &shared})
                for (auto n : s->subscription_ids)
                    CHECK(n == 1);
        }

        // Nothing else waits for async_receive: a further receive finds nothing and is cancelled.
        asio::cancellation_signal signal;
        std::optional<error_code> extra;
        c.async_receive(asio::bind_cancellation_slot(signal.slot(), [&](error_code ec, message m) {
            extra = ec;
            if (!ec)
                FAIL_CHECK("unexpected message on " << m.topic);
        }));
        run_for(io, 100ms);
        CHECK_FALSE(extra);
        signal.emit(asio::cancellation_type::terminal);
        REQUIRE(run_until(io, [&] { return extra.has_value(); }));
        CHECK(aborted(*extra));
        REQUIRE(disconnect_and_wait(io, c));
        REQUIRE(disconnect_and_wait(io, pub));
    }
}

// ---------------------------------------------------------------- 3. cancellation

TEST_CASE("client features: a cancelled async_receive completes with operation_aborted and "
          "takes no message",
          "[client][cancel]") {
    mosquitto_broker broker;
    asio::io_context io;
    client c(io.get_executor(), options_for(broker, protocol_version::v5, "cancel-receive"));
    REQUIRE(connect_ok(io, c));
    REQUIRE(subscribe_and_wait(io, c, "cr", qos::at_least_once));
    asio::cancellation_signal by_value_signal;
    asio::cancellation_signal into_signal;
    std::optional<error_code> by_value_result;
    std::optional<error_code> into_result;
    message into;
    into.topic = "untouched";
    c.async_receive(asio::bind_cancellation_slot(
        by_value_signal.slot(), [&](error_code ec, message) { by_value_result = ec; }));
    c.async_receive(into, asio::bind_cancellation_slot(into_signal.slot(),
                                                       [&](error_code ec) { into_result = ec; }));
    run_for(io, 50ms);
    CHECK_FALSE(by_value_result);
    CHECK_FALSE(into_result);
    by_value_signal.emit(asio::cancellation_type::terminal);
    into_signal.emit(asio::cancellation_type::terminal);
    REQUIRE(run_until(io, [&] { return by_value_result && into_result; }));
    CHECK(aborted(*by_value_result));
    CHECK(aborted(*into_result));
    CHECK(into.topic == "untouched");
    // The next message goes to the next receive, not to a cancelled one.
    collector inbox;
    inbox.start(c);
    c.async_publish("cr", "after", qos::at_least_once, false, [](error_code) {});
    REQUIRE(run_until(io, [&] { return inbox.messages.size() == 1; }));
    CHECK(inbox.messages[0].payload_text() == "after");
    REQUIRE(disconnect_and_wait(io, c));
}

TEST_CASE("client features: a cancelled queued publish is never sent, later ones are",
          "[client][cancel]") {
    mosquitto_broker broker;
    asio::io_context io;
    client sub(io.get_executor(), options_for(broker, protocol_version::v5, "cancel-pub-sub"));
    REQUIRE(connect_ok(io, sub));
    REQUIRE(subscribe_and_wait(io, sub, "cq/#", qos::at_least_once));
    collector inbox;
    inbox.start(sub);

    SECTION("before the first connect") {
        client c(io.get_executor(), options_for(broker, protocol_version::v5, "cancel-pub-1"));
        asio::cancellation_signal signal;
        results r;
        c.async_publish("cq/1", "cancelled", qos::at_least_once, false,
                        asio::bind_cancellation_slot(signal.slot(), r.handler("cancelled")));
        c.async_publish("cq/1", "kept", qos::at_least_once, false, r.handler("kept"));
        run_for(io, 20ms);
        CHECK(r.items.empty());
        signal.emit(asio::cancellation_type::terminal);
        REQUIRE(run_until(io, [&] { return r.items.size() == 1; }));
        CHECK(r.items[0].first == "cancelled");
        CHECK(r.items[0].second == std_code(asio::error::operation_aborted));
        REQUIRE(connect_ok(io, c));
        REQUIRE(run_until(io, [&] { return r.items.size() == 2 && !inbox.messages.empty(); }));
        CHECK(r.of("kept") == std::error_code{});
        run_for(io, 100ms);
        CHECK(inbox.payloads() == std::vector<std::string>{"kept"});
        REQUIRE(disconnect_and_wait(io, c));
    }

    SECTION("after abort_connection, while the reconnect waits") {
        auto o = options_for(broker, protocol_version::v5, "cancel-pub-2");
        o.reconnect_delays = {700ms};
        std::vector<connection_state> states;
        o.on_state = [&](const connection_state& s) { states.push_back(s); };
        client c(io.get_executor(), o);
        REQUIRE(connect_ok(io, c));
        c.abort_connection();
        REQUIRE(run_until(
            io, [&] { return count_state(states, connection_state::kind::retrying) == 1; }));
        CHECK_FALSE(c.connected());
        asio::cancellation_signal signal;
        results r;
        c.async_publish("cq/2", "cancelled", qos::at_least_once, false,
                        asio::bind_cancellation_slot(signal.slot(), r.handler("cancelled")));
        c.async_publish("cq/2", "kept", qos::at_least_once, false, r.handler("kept"));
        run_for(io, 20ms);
        CHECK(r.items.empty());
        signal.emit(asio::cancellation_type::terminal);
        REQUIRE(run_until(io, [&] { return r.items.size() == 1; }));
        CHECK(r.items[0].first == "cancelled");
        CHECK(r.items[0].second == std_code(asio::error::operation_aborted));
        CHECK_FALSE(c.connected()); // the cancellation came before the reconnect
        REQUIRE(run_until(io, [&] { return r.items.size() == 2 && !inbox.messages.empty(); }));
        CHECK(r.of("kept") == std::error_code{});
        run_for(io, 100ms);
        CHECK(inbox.payloads() == std::vector<std::string>{"kept"});
        REQUIRE(disconnect_and_wait(io, c));
    }
    REQUIRE(disconnect_and_wait(io, sub));
}

TEST_CASE("client features: cancelling async_connect stops the attempts", "[client][cancel]") {
    asio::io_context io;
    std::vector<connection_state> states;

    SECTION("while an attempt waits for its CONNACK") {
        silent_listener listener;
        auto o = options_for_port(listener.port(), "cancel-connect-silent");
        o.reconnect_delays = {50ms};
        o.connect_timeout = 5s;
        o.on_state = [&](const connection_state& s) { states.push_back(s); };
        client c(io.get_executor(), o);
        asio::cancellation_signal signal;
        std::optional<error_code> result;
        c.async_connect(
            asio::bind_cancellation_slot(signal.slot(), [&](error_code ec) { result = ec; }));
        run_for(io, 100ms);
        auto peer = listener.accept_one(1s);
        REQUIRE(peer); // the attempt's TCP connection, waiting for its CONNACK
        CHECK_FALSE(result);
        signal.emit(asio::cancellation_type::terminal);
        REQUIRE(run_until(io, [&] { return result.has_value(); }));
        CHECK(aborted(*result));
        run_for(io, 300ms);
        CHECK(silent_listener::closed_by_peer(peer, 1s)); // the attempt was abandoned
        CHECK_FALSE(listener.accept_one(50ms));           // and no other one started
        CHECK(count_state(states, connection_state::kind::retrying) == 0);
        CHECK_FALSE(c.connected());
    }

    SECTION("to a port where nothing listens, between attempts") {
        auto o = options_for_port(unused_port(), "cancel-connect-refused");
        o.reconnect_delays = {50ms};
        o.on_state = [&](const connection_state& s) { states.push_back(s); };
        client c(io.get_executor(), o);
        asio::cancellation_signal signal;
        std::optional<error_code> result;
        c.async_connect(
            asio::bind_cancellation_slot(signal.slot(), [&](error_code ec) { result = ec; }));
        REQUIRE(run_until(
            io, [&] { return count_state(states, connection_state::kind::retrying) >= 3; }));
        for (const auto& s : states) {
            CHECK(s.what == connection_state::kind::retrying);
            CHECK(s.error == std_code(asio::error::connection_refused));
        }
        // The client retries: the connect operation is still waiting for a connection.
        INFO("async_connect completed early with: " << (result ? result->message() : "-"));
        CHECK_FALSE(result);
        signal.emit(asio::cancellation_type::terminal);
        const bool completed = run_until(
            io, [&] { return result.has_value(); }, 1s);
        CHECK(completed);
        if (result)
            CHECK(aborted(*result));
        const auto retrying = count_state(states, connection_state::kind::retrying);
        run_for(io, 300ms);
        // No more attempts after the cancellation.
        CHECK(count_state(states, connection_state::kind::retrying) == retrying);
        bool disconnected = false;
        c.async_disconnect([&](error_code) { disconnected = true; });
        REQUIRE(run_until(io, [&] { return disconnected; }));
    }
}

TEST_CASE("client features: completion errors compare equal to Asio's own error codes",
          "[client][errors]") {
    // What Asio code writes: `if (ec == asio::error::operation_aborted)`.
    asio::io_context io;
    auto o = options_for_port(unused_port(), "asio-errors");
    o.reconnect_delays = {}; // one attempt
    client c(io.get_executor(), o);
    std::optional<error_code> connected;
    c.async_connect([&](error_code ec) { connected = ec; });
    REQUIRE(run_until(io, [&] { return connected.has_value(); }));
    INFO("connect: " << connected->to_string() << " " << connected->message());
    CHECK(*connected == std::errc::connection_refused);
    CHECK(*connected == asio::error::connection_refused);

    asio::cancellation_signal signal;
    std::optional<error_code> received;
    c.async_receive(asio::bind_cancellation_slot(signal.slot(),
                                                 [&](error_code ec, message) { received = ec; }));
    run_for(io, 10ms);
    signal.emit(asio::cancellation_type::terminal);
    REQUIRE(run_until(io, [&] { return received.has_value(); }));
    INFO("receive: " << received->to_string() << " " << received->message());
    CHECK(*received == std::errc::operation_canceled);
    CHECK(*received == asio::error::operation_aborted);
}

// ---------------------------------------------------------------- 4. offline queue

TEST_CASE("client features: the offline queue's limits and overflow policies",
          "[client][offline]") {
    mosquitto_broker broker;
    asio::io_context io;
    client sub(io.get_executor(), options_for(broker, protocol_version::v5, "offline-sub"));
    REQUIRE(connect_ok(io, sub));
    REQUIRE(subscribe_and_wait(io, sub, "oq/#", qos::at_least_once));
    collector inbox;
    inbox.start(sub);
    results r;

    SECTION("refuse_new: the third message is refused, the first two go out after connect") {
        auto o = options_for(broker, protocol_version::v3_1_1, "offline-refuse");
        o.offline_queue_messages = 2;
        o.offline_overflow = overflow_policy::refuse_new;
        client c(io.get_executor(), o);
        for (const auto* name : {"m1", "m2", "m3"})
            c.async_publish("oq/refuse", name, qos::at_least_once, false, r.handler(name));
        REQUIRE(run_until(io, [&] { return r.items.size() == 1; }));
        CHECK(r.items[0].first == "m3");
        CHECK(r.items[0].second == client_errc::offline_queue_full);
        CHECK_THAT(r.items[0].second.message(), Catch::Contains("offline queue is full"));
        REQUIRE(connect_ok(io, c));
        REQUIRE(run_until(io, [&] { return r.items.size() == 3 && inbox.messages.size() == 2; }));
        CHECK(r.of("m1") == std::error_code{});
        CHECK(r.of("m2") == std::error_code{});
        CHECK(inbox.payloads() == std::vector<std::string>{"m1", "m2"});
        REQUIRE(disconnect_and_wait(io, c));
    }

    SECTION("drop_oldest_qos0: the oldest QoS 0 message makes room; the rest go out in order") {
        auto o = options_for(broker, protocol_version::v5, "offline-drop");
        o.offline_queue_messages = 3;
        o.offline_overflow = overflow_policy::drop_oldest_qos0;
        client c(io.get_executor(), o);
        c.async_publish("oq/drop", "x1", qos::at_least_once, false, r.handler("x1"));
        c.async_publish("oq/drop", "a0", qos::at_most_once, false, r.handler("a0"));
        c.async_publish("oq/drop", "b0", qos::at_most_once, false, r.handler("b0"));
        c.async_publish("oq/drop", "c1", qos::at_least_once, false, r.handler("c1")); // drops a0
        REQUIRE(run_until(io, [&] { return r.items.size() == 1; }));
        CHECK(r.items[0].first == "a0");
        CHECK(r.items[0].second == client_errc::dropped_from_queue);
        CHECK_THAT(r.items[0].second.message(), Catch::Contains("dropped from the offline queue"));
        run_for(io, 20ms);
        CHECK(r.items.size() == 1);
        REQUIRE(connect_ok(io, c));
        REQUIRE(run_until(io, [&] { return r.items.size() == 4 && inbox.messages.size() == 3; }));
        CHECK(r.of("x1") == std::error_code{});
        CHECK(r.of("b0") == std::error_code{});
        CHECK(r.of("c1") == std::error_code{});
        run_for(io, 100ms);
        CHECK(inbox.payloads() == std::vector<std::string>{"x1", "b0", "c1"});
        REQUIRE(disconnect_and_wait(io, c));

        // Without a QoS 0 message to drop, the new message is refused.
        auto o2 = options_for(broker, protocol_version::v5, "offline-drop-none");
        o2.offline_queue_messages = 1;
        o2.offline_overflow = overflow_policy::drop_oldest_qos0;
        client c2(io.get_executor(), o2);
        c2.async_publish("oq/none", "y1", qos::at_least_once, false, r.handler("y1"));
        c2.async_publish("oq/none", "z0", qos::at_most_once, false, r.handler("z0"));
        REQUIRE(run_until(io, [&] { return r.items.size() == 5; }));
        CHECK(r.items[4].first == "z0");
        CHECK(r.items[4].second == client_errc::offline_queue_full);
    }

    SECTION("offline_queue_bytes: a message that does not fit is refused, one larger than the "
            "limit on its own is too large") {
        auto o = options_for(broker, protocol_version::v5, "offline-bytes");
        o.offline_queue_bytes = 30; // topic + payload bytes
        client c(io.get_executor(), o);
        // "oq/b" is 4 bytes, "oq" 2 (and matches "oq/#").
        c.async_publish("oq/b", "0123456789", qos::at_least_once, false, r.handler("a 14"));
        c.async_publish("oq/b", "0123456789", qos::at_least_once, false, r.handler("b 14"));
        c.async_publish("oq/b", "0123", qos::at_least_once, false, r.handler("c 8"));
        c.async_publish("oq/b", std::string(27, 'x'), qos::at_least_once, false, r.handler("d 31"));
        c.async_publish("oq", "", qos::at_least_once, false, r.handler("e 2")); // exactly 30
        c.async_publish("oq", "", qos::at_least_once, false, r.handler("f 2"));
        REQUIRE(run_until(io, [&] { return r.items.size() == 3; }));
        CHECK(r.of("c 8") == client_errc::offline_queue_full);
        CHECK(r.of("d 31") == client_errc::message_too_large);
        CHECK(r.of("f 2") == client_errc::offline_queue_full);
        CHECK_THAT(r.of("d 31").value_or(std::error_code{}).message(),
                   Catch::Contains("larger than the offline queue's byte limit"));
        CHECK_THAT(r.of("c 8").value_or(std::error_code{}).message(),
                   Catch::Contains("offline queue is full"));
        REQUIRE(connect_ok(io, c));
        REQUIRE(run_until(io, [&] { return r.items.size() == 6 && inbox.messages.size() == 3; }));
        CHECK(r.of("a 14") == std::error_code{});
        CHECK(r.of("b 14") == std::error_code{});
        CHECK(r.of("e 2") == std::error_code{});
        run_for(io, 100ms);
        CHECK(inbox.payloads() == std::vector<std::string>{"0123456789", "0123456789", ""});
        CHECK(inbox.topics() == std::vector<std::string>{"oq/b", "oq/b", "oq"});
        REQUIRE(disconnect_and_wait(io, c));
    }
    REQUIRE(disconnect_and_wait(io, sub));
}

// ---------------------------------------------------------------- 5. failover

TEST_CASE("client features: fails over to the next broker of the list at once",
          "[client][failover]") {
    mosquitto_broker broker;
    asio::io_context io;
    client_options o;
    o.client_id = "failover";
    const broker_address dead{"127.0.0.1", unused_port()};
    const broker_address live{broker.host(), broker.port()};
    o.brokers = {dead, live};
    o.reconnect_delays = {1s};
    std::vector<connection_state> states;
    o.on_state = [&](const connection_state& s) { states.push_back(s); };
    client c(io.get_executor(), o);
    std::optional<error_code> result;
    c.async_connect([&](error_code ec) { result = ec; });
    // Connected well before the 1 s reconnect delay: the failover did not wait for it.
    REQUIRE(run_until(
        io, [&] { return c.connected(); }, 900ms));
    REQUIRE(run_until(
        io, [&] { return result.has_value(); }, 1s));
    INFO("async_connect completed with: " << result->message());
    CHECK_FALSE(*result); // the list as a whole connected
    REQUIRE(states.size() == 2);
    CHECK(states[0].what == connection_state::kind::retrying);
    CHECK(states[0].retry_in == 0ms);
    CHECK(states[0].broker == live);
    CHECK(states[0].error == std_code(asio::error::connection_refused));
    CHECK(states[1].what == connection_state::kind::connected);
    CHECK(states[1].broker == live);
    REQUIRE(disconnect_and_wait(io, c));
}

// ---------------------------------------------------------------- 6. reconnect delays

TEST_CASE("client features: reconnect delays are spread by the jitter", "[client][jitter]") {
    asio::io_context io;
    auto o = options_for_port(unused_port(), "jitter");
    o.reconnect_delays = {200ms};
    o.reconnect_jitter = 0.5;
    std::vector<connection_state> states;
    std::vector<std::chrono::steady_clock::time_point> reported_at;
    o.on_state = [&](const connection_state& s) {
        states.push_back(s);
        reported_at.push_back(std::chrono::steady_clock::now());
    };
    client c(io.get_executor(), o);
    c.async_connect([](error_code) {});
    REQUIRE(run_until(
        io, [&] { return count_state(states, connection_state::kind::retrying) >= 6; }, 4s));
    std::vector<std::chrono::milliseconds> delays;
    for (std::size_t i = 0; i < states.size(); ++i) {
        CHECK(states[i].what == connection_state::kind::retrying);
        const auto d = states[i].retry_in;
        delays.push_back(d);
        CHECK(d >= 100ms);
        CHECK(d <= 300ms);
        // The next attempt (refused at once) came after the announced delay.
        if (i + 1 < states.size())
            CHECK(reported_at[i + 1] - reported_at[i] >= d - 2ms);
    }
    INFO("delays " << ::Catch::Detail::stringify(delays));
    CHECK(std::any_of(delays.begin(), delays.end(), [&](auto d) { return d != delays[0]; }));
    REQUIRE(disconnect_and_wait(io, c));
}

TEST_CASE("client features: the default reconnect schedule starts at 1 s", "[client][jitter]") {
    asio::io_context io;
    auto o = options_for_port(unused_port(), "default-schedule");
    REQUIRE(o.reconnect_delays.size() == 7); // the default, not changed
    REQUIRE(o.reconnect_jitter == 0.0);
    std::vector<connection_state> states;
    o.on_state = [&](const connection_state& s) { states.push_back(s); };
    client c(io.get_executor(), o);
    c.async_connect([](error_code) {});
    REQUIRE(run_until(io, [&] { return !states.empty(); }));
    CHECK(states[0].what == connection_state::kind::retrying);
    CHECK(states[0].retry_in == 1000ms);
    CHECK(states[0].error == std_code(asio::error::connection_refused));
    REQUIRE(disconnect_and_wait(io, c));
    CHECK(states.back().what == connection_state::kind::gave_up);
    CHECK(states.back().error == client_errc::disconnected);
    const auto n = states.size();
    run_for(io, 50ms);
    CHECK(states.size() == n);
}

// ---------------------------------------------------------------- 7. completion tokens

TEST_CASE("client features: asio::deferred operations start when invoked", "[client][tokens]") {
    mosquitto_broker broker;
    asio::io_context io;
    client c(io.get_executor(), options_for(broker, protocol_version::v5, "deferred"));

    auto connect = c.async_connect(asio::deferred);
    run_for(io, 100ms);
    CHECK_FALSE(c.connected()); // not started yet
    std::optional<error_code> connected;
    std::move(connect)([&](error_code ec) { connected = ec; });
    REQUIRE(run_until(io, [&] { return connected.has_value(); }));
    CHECK_FALSE(*connected);
    CHECK(c.connected());

    std::optional<std::vector<suback_reason_code>> granted;
    auto subscribe = c.async_subscribe("d/#", qos::at_least_once, asio::deferred);
    std::move(subscribe)([&](error_code ec, std::vector<suback_reason_code> codes) {
        CHECK_FALSE(ec);
        granted = std::move(codes);
    });
    REQUIRE(run_until(io, [&] { return granted.has_value(); }));
    REQUIRE(granted->size() == 1);
    CHECK((*granted)[0] == reason::granted_qos_1);
    collector inbox;
    inbox.start(c);

    const auto m = make_message("d/1", "deferred", qos::at_least_once);
    auto publish = c.async_publish(m, asio::deferred);
    run_for(io, 100ms);
    CHECK(inbox.messages.empty()); // not sent until invoked
    std::optional<error_code> published;
    std::move(publish)([&](error_code ec) { published = ec; });
    REQUIRE(run_until(io, [&] { return published && inbox.messages.size() == 1; }));
    CHECK_FALSE(*published);
    CHECK(inbox.messages[0].topic == "d/1");
    CHECK(inbox.messages[0].payload_text() == "deferred");

    // A chain: publish, then (in its continuation) another publish; one handler at the end.
    std::optional<error_code> chained;
    c.async_publish("d/2", "first", qos::at_least_once, false, asio::deferred([&](error_code ec) {
                        CHECK_FALSE(ec);
                        return c.async_publish("d/3", "second", qos::at_least_once, false,
                                               asio::deferred);
                    }))([&](error_code ec) { chained = ec; });
    REQUIRE(run_until(io, [&] { return chained && inbox.messages.size() == 3; }));
    CHECK_FALSE(*chained);
    CHECK(inbox.topics() == std::vector<std::string>{"d/1", "d/2", "d/3"});

    // An error reaches the deferred handler as it is.
    std::optional<error_code> refused;
    c.async_publish("d/#", "x", qos::at_least_once, false,
                    asio::deferred)([&](error_code ec) { refused = ec; });
    REQUIRE(run_until(io, [&] { return refused.has_value(); }));
    CHECK(*refused);
    CHECK_THAT(refused->message(), Catch::Contains("wildcard"));

    std::optional<error_code> disconnected;
    c.async_disconnect(asio::deferred)([&](error_code ec) { disconnected = ec; });
    REQUIRE(run_until(io, [&] { return disconnected.has_value(); }));
    CHECK_FALSE(*disconnected);
    CHECK_FALSE(c.connected());
}

TEST_CASE("client features: use_future and use_awaitable, results and errors", "[client][tokens]") {
    mosquitto_broker broker;
    asio::io_context io;
    client c(io.get_executor(), options_for(broker, protocol_version::v5, "futures"));
    auto guard = asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    struct joiner {
        asio::io_context& io;
        std::thread& t;
        ~joiner() {
            io.stop();
            if (t.joinable())
                t.join();
        }
    } join_at_exit{io, runner};

    auto connected = c.async_connect(asio::use_future);
    REQUIRE(connected.wait_for(5s) == std::future_status::ready);
    REQUIRE_NOTHROW(connected.get());
    auto subscribed = c.async_subscribe("fu/#", qos::exactly_once, asio::use_future);
    REQUIRE(subscribed.wait_for(5s) == std::future_status::ready);
    const auto codes = subscribed.get();
    REQUIRE(codes.size() == 1);
    CHECK(codes[0] == reason::granted_qos_2);
    auto received = c.async_receive(asio::use_future);
    auto published = c.async_publish("fu/1", "future", qos::exactly_once, false, asio::use_future);
    REQUIRE(published.wait_for(5s) == std::future_status::ready);
    REQUIRE_NOTHROW(published.get());
    REQUIRE(received.wait_for(5s) == std::future_status::ready);
    const auto m = received.get();
    CHECK(m.topic == "fu/1");
    CHECK(m.payload_text() == "future");
    CHECK(m.qos == qos::exactly_once);
    // An error becomes the future's exception, with the client's code and message.
    auto refused = c.async_publish("fu/+", "x", qos::at_least_once, false, asio::use_future);
    REQUIRE(refused.wait_for(5s) == std::future_status::ready);
    try {
        refused.get();
        FAIL("publishing to a topic with a wildcard succeeded");
    } catch (const boost::system::system_error& e) {
        CHECK(e.code());
        CHECK_THAT(e.code().message(), Catch::Contains("wildcard"));
    }

    std::promise<std::string> outcome;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            try {
                auto granted =
                    co_await c.async_subscribe("aw/#", qos::at_least_once, asio::use_awaitable);
                message into;
                co_await c.async_publish("aw/1", "awaited", qos::at_least_once, false,
                                         asio::use_awaitable);
                co_await c.async_receive(into, asio::use_awaitable);
                auto removed = co_await c.async_unsubscribe("aw/#", asio::use_awaitable);
                std::string text = std::to_string(granted.size()) + ":" + into.topic + ":" +
                                   std::string{into.payload_text()} + ":" +
                                   std::to_string(removed.size()) + ":" +
                                   std::to_string(static_cast<int>(removed.at(0).value()));
                try {
                    co_await c.async_publish("aw/#", "x", qos::at_most_once, false,
                                             asio::use_awaitable);
                    text += ":no error";
                } catch (const boost::system::system_error& e) {
                    text += e.code().message().find("wildcard") != std::string::npos
                                ? ":wildcard refused"
                                : ":" + e.code().message();
                }
                co_await c.async_disconnect(asio::use_awaitable);
                outcome.set_value(text);
            } catch (const std::exception& e) {
                outcome.set_value(std::string{"error: "} + e.what());
            }
        },
        asio::detached);
    auto f = outcome.get_future();
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    CHECK(f.get() == "1:aw/1:awaited:1:0:wildcard refused");
    CHECK_FALSE(c.connected());
    guard.reset();
}

// ---------------------------------------------------------------- 8. topic aliases

namespace {

// The TCP transport, keeping a copy of every byte the client writes.
struct wire_spy : transport::tcp {
    using tcp::tcp;
    std::vector<std::byte> written;
    template <class Buffers, class Handler>
    void async_write(const Buffers& buffers, Handler&& handler) {
        for (auto it = asio::buffer_sequence_begin(buffers);
             it != asio::buffer_sequence_end(buffers); ++it) {
            const asio::const_buffer b(*it);
            const auto* p = static_cast<const std::byte*>(b.data());
            written.insert(written.end(), p, p + b.size());
        }
        tcp::async_write(buffers, std::forward<Handler>(handler));
    }
};

// A PUBLISH as the client wrote it, its topic found through the aliases that
// the client set on that connection (a CONNECT starts a new connection).
struct wire_publish {
    std::string topic; ///< "<unknown alias N>" for an alias the connection never set
    std::string payload;
    std::uint16_t alias = 0;
    bool topic_in_packet = false;
};

std::vector<wire_publish> publishes_on_wire(const std::vector<std::byte>& bytes,
                                            protocol_version v) {
    std::vector<wire_publish> out;
    std::vector<std::string> aliases(65'536);
    std::size_t pos = 0;
    while (pos < bytes.size()) {
        auto d = decode_packet(bytes_view{bytes}.subspan(pos), v);
        if (!d) {
            FAIL_CHECK("undecodable bytes written by the client at " << pos << ": "
                                                                     << d.error().message());
            break;
        }
        pos += d->size;
        if (std::holds_alternative<ctmqtt::connect>(d->packet))
            std::fill(aliases.begin(), aliases.end(), std::string{});
        const auto* p = std::get_if<ctmqtt::publish>(&d->packet);
        if (!p)
            continue;
        wire_publish w;
        w.topic = std::string{p->topic};
        w.payload = std::string{as_string(p->payload)};
        w.topic_in_packet = !p->topic.empty();
        if (auto a = p->properties.get<property_id::topic_alias>()) {
            w.alias = *a;
            if (w.topic_in_packet)
                aliases[*a] = w.topic;
            else
                w.topic = aliases[*a].empty() ? "<unknown alias " + std::to_string(*a) + ">"
                                              : aliases[*a];
        }
        out.push_back(std::move(w));
    }
    return out;
}

} // namespace

TEST_CASE("client features: outbound topic aliases against mosquitto", "[client][aliases]") {
    mosquitto_broker broker;
    for (auto policy : {topic_alias_policy::always, topic_alias_policy::when_free}) {
        const std::string tag = policy == topic_alias_policy::always ? "always" : "when-free";
        INFO("policy " << tag);
        asio::io_context io;
        client sub(io.get_executor(),
                   options_for(broker, protocol_version::v5, "alias-sub-" + tag));
        REQUIRE(connect_ok(io, sub));
        REQUIRE(subscribe_and_wait(io, sub, "#", qos::at_least_once));
        collector inbox;
        inbox.start(sub);

        auto o = options_for(broker, protocol_version::v5, "alias-pub-" + tag);
        o.topic_aliases = policy;
        std::vector<connection_state> states;
        o.on_state = [&](const connection_state& s) { states.push_back(s); };
        basic_client<wire_spy> pub(io.get_executor(), o);
        REQUIRE(connect_ok(io, pub));
        REQUIRE(states.size() == 1);
        REQUIRE(states[0].what == connection_state::kind::connected);
        REQUIRE(states[0].limits.topic_alias_maximum == 10); // mosquitto's max_topic_alias

        auto publish_round = [&](int first, int count, std::vector<std::string>& topics,
                                 std::vector<std::string>& payloads) {
            int done = 0;
            int failed = 0;
            for (int i = first; i < first + count; ++i) {
                const std::string topic = "alias/" + tag + "/" + std::to_string(i % 15);
                const std::string payload = "message " + std::to_string(i);
                topics.push_back(topic);
                payloads.push_back(payload);
                pub.async_publish(topic, payload, qos::at_least_once, false, [&](error_code ec) {
                    ++done;
                    if (ec)
                        ++failed;
                });
            }
            const bool ok = run_until(
                io, [&] { return done == count && inbox.messages.size() >= topics.size(); });
            CHECK(failed == 0);
            return ok;
        };
        std::vector<std::string> topics;
        std::vector<std::string> payloads;
        REQUIRE(publish_round(0, 30, topics, payloads));
        run_for(io, 50ms);
        CHECK(inbox.topics() == topics);
        CHECK(inbox.payloads() == payloads);
        CHECK(pub.connected());

        // Aliases belong to a network connection: after a reconnect they start again.
        pub.abort_connection();
        REQUIRE(run_until(
            io, [&] { return count_state(states, connection_state::kind::connected) == 2; }));
        REQUIRE(publish_round(30, 15, topics, payloads));
        run_for(io, 50ms);
        CHECK(inbox.topics() == topics);
        CHECK(inbox.payloads() == payloads);
        CHECK(count_state(states, connection_state::kind::lost) == 1); // no protocol error
        REQUIRE(disconnect_and_wait(io, pub));
        REQUIRE(disconnect_and_wait(io, sub));

        // What went on the wire: every topic right once aliases are resolved (an
        // alias used on the second connection was set on it), aliases within the
        // broker's maximum, and aliases really used.
        const auto wire = publishes_on_wire(pub.transport().written, protocol_version::v5);
        REQUIRE(wire.size() == topics.size());
        std::vector<std::string> wire_topics;
        std::size_t with_alias = 0;
        std::size_t alias_only = 0;
        std::size_t first_round_alias_only = 0;
        for (std::size_t i = 0; i < wire.size(); ++i) {
            wire_topics.push_back(wire[i].topic);
            CHECK(wire[i].payload == payloads[i]);
            CHECK(wire[i].alias <= 10);
            if (wire[i].alias != 0)
                ++with_alias;
            if (!wire[i].topic_in_packet) {
                ++alias_only;
                if (i < 30)
                    ++first_round_alias_only;
            }
        }
        CHECK(wire_topics == topics);
        INFO("with an alias " << with_alias << ", topic replaced by its alias " << alias_only);
        if (policy == topic_alias_policy::when_free) {
            // Topics 0-9 get the 10 aliases (topic sent with them), 10-14 never get
            // one; the second time round 0-9 go as their alias alone.
            CHECK(first_round_alias_only == 10);
            CHECK(with_alias == 20 + 10); // 20 in the first round, 10 after the reconnect
        } else {
            // 15 topics in a cycle through 10 aliases: each topic finds its alias
            // replaced (least recently used) and sets it again.
            CHECK(with_alias == wire.size());
            CHECK(alias_only == 0);
        }
    }
}

// ---------------------------------------------------------------- 9. blocking client

TEST_CASE("client features: blocking_client", "[client][blocking]") {
    mosquitto_broker broker;
    auto o = options_for(broker, protocol_version::v5, "blocking");
    std::mutex m;
    std::vector<std::string> seen;
    std::condition_variable changed;
    auto wait_seen = [&](std::size_t n) {
        std::unique_lock lock(m);
        return changed.wait_for(lock, 5s, [&] { return seen.size() >= n; });
    };
    {
        blocking_client c(o);
        REQUIRE_FALSE(c.connect(5s));
        CHECK(c.connected());
        std::vector<suback_reason_code> granted;
        REQUIRE_FALSE(c.subscribe(
            "bl/#", qos::at_least_once,
            [&](const message_view& v) {
                std::lock_guard lock(m);
                seen.emplace_back(std::string{v.topic} + "=" + std::string{v.payload_text()});
                changed.notify_all();
            },
            &granted, 5s));
        REQUIRE(granted.size() == 1);
        CHECK(granted[0] == reason::granted_qos_1);
        CHECK_FALSE(c.publish("bl/one", "1", qos::at_least_once, false, 5s));
        REQUIRE(wait_seen(1));
        {
            std::lock_guard lock(m);
            CHECK(seen[0] == "bl/one=1");
        }
        for (int i = 0; i < 100; ++i)
            c.publish_async(make_message("bl/many", std::to_string(i), qos::at_least_once));
        CHECK_FALSE(c.wait_until_all_acknowledged(10s));
        CHECK(c.failed_publishes() == 0);
        REQUIRE(wait_seen(101));
        {
            std::lock_guard lock(m);
            for (int i = 0; i < 100; ++i)
                CHECK(seen[static_cast<std::size_t>(i + 1)] == "bl/many=" + std::to_string(i));
        }

        // A subscription without callback: receive() gets its messages, or times out.
        REQUIRE_FALSE(c.subscribe("bl-rx", qos::at_least_once, {}, nullptr, 5s));
        message into;
        const auto before = std::chrono::steady_clock::now();
        CHECK(c.receive(into, 200ms) == std::errc::timed_out);
        CHECK(std::chrono::steady_clock::now() - before >= 200ms);
        CHECK_FALSE(c.publish("bl-rx", "pulled", qos::at_least_once, false, 5s));
        REQUIRE_FALSE(c.receive(into, 5s));
        CHECK(into.topic == "bl-rx");
        CHECK(into.payload_text() == "pulled");
        CHECK_FALSE(c.unsubscribe("bl-rx", 5s));

        CHECK_FALSE(c.disconnect(5s));
        CHECK_FALSE(c.connected());
        CHECK_FALSE(c.wait_until_disconnected(10ms));
    }

    // Reconnects by itself after the broker is killed and started again.
    blocking_client c(o);
    REQUIRE_FALSE(c.connect(5s));
    broker.kill();
    CHECK_FALSE(c.wait_until_disconnected(5s));
    CHECK(c.wait_until_connected(300ms) == std::errc::timed_out);
    broker.start();
    CHECK_FALSE(c.wait_until_connected(10s));
    CHECK(c.connected());
    CHECK_FALSE(c.publish("bl/after", "restart", qos::at_least_once, false, 5s));
}

// ---------------------------------------------------------------- 10. unsubscribe and sessions

TEST_CASE("client features: an unsubscribe made while disconnected is sent after a reconnect "
          "that kept the session",
          "[client][unsubscribe]") {
    mosquitto_broker broker;
    asio::io_context io;
    auto o = options_for(broker, protocol_version::v5, "unsub-persistent");
    o.session_expiry_interval = 60;
    o.clean_start = false;
    o.reconnect_delays = {400ms};
    std::vector<connection_state> states;
    o.on_state = [&](const connection_state& s) { states.push_back(s); };
    client c(io.get_executor(), o);
    client pub(io.get_executor(), options_for(broker, protocol_version::v5, "unsub-pub"));
    REQUIRE(connect_ok(io, c));
    REQUIRE(connect_ok(io, pub));
    REQUIRE(subscribe_and_wait(io, c, "us/gone", qos::at_least_once));
    REQUIRE(subscribe_and_wait(io, c, "us/kept", qos::at_least_once));
    collector inbox;
    inbox.start(c);

    c.abort_connection();
    REQUIRE(
        run_until(io, [&] { return count_state(states, connection_state::kind::retrying) == 1; }));
    std::optional<error_code> unsubscribed;
    std::vector<unsuback_reason_code> codes;
    c.async_unsubscribe("us/gone", [&](error_code ec, std::vector<unsuback_reason_code> r) {
        unsubscribed = ec;
        codes = std::move(r);
    });
    run_for(io, 50ms);
    CHECK_FALSE(unsubscribed); // waits for the connection
    REQUIRE(run_until(
        io, [&] { return unsubscribed.has_value(); }, 3s));
    CHECK_FALSE(*unsubscribed);
    REQUIRE(count_state(states, connection_state::kind::connected) == 2);
    CHECK(states.back().what == connection_state::kind::connected);
    CHECK(states.back().session_present);
    REQUIRE(codes.size() == 1);
    CHECK(codes[0] == reason::success); // the kept session had the subscription

    pub.async_publish("us/gone", "not for us", qos::at_least_once, false, [](error_code) {});
    pub.async_publish("us/kept", "marker", qos::at_least_once, false, [](error_code) {});
    REQUIRE(run_until(io, [&] { return !inbox.messages.empty(); }));
    run_for(io, 100ms);
    CHECK(inbox.topics() == std::vector<std::string>{"us/kept"});
    REQUIRE(disconnect_and_wait(io, c));
    REQUIRE(disconnect_and_wait(io, pub));
}

// ---------------------------------------------------------------- lifetime

TEST_CASE("client features: a client destroyed while connected leaves no operation in its "
          "memory",
          "[client][lifetime]") {
    // The client may be destroyed while its io_context does not run it; the
    // io_context then runs (or destroys) what is still queued. None of that may
    // live in the client's memory. The child process reuses that memory at
    // once (as the heap or the stack would later) and runs the io_context: a
    // crash or a sanitizer report ends it with a failure status.
    mosquitto_broker broker;
    const auto opts = options_for(broker, protocol_version::v5, "lifetime");
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        int status = 1;
        {
            asio::io_context io;
            alignas(client) static unsigned char storage[sizeof(client)];
            auto* c = ::new (static_cast<void*>(storage)) client(io.get_executor(), opts);
            if (connect_ok(io, *c) && subscribe_and_wait(io, *c, "life", qos::at_least_once)) {
                c->~client();
                std::memset(storage, 0xA5, sizeof storage);
                run_for(io, 100ms);
                status = 0;
            }
        } // ~io_context destroys what is still queued
        std::_Exit(status);
    }
    int status = 0;
    const auto end = std::chrono::steady_clock::now() + 10s;
    pid_t r = 0;
    while ((r = ::waitpid(child, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(10ms);
    if (r == 0) {
        ::kill(child, SIGKILL);
        ::waitpid(child, &status, 0);
        FAIL("the child did not finish within 10 s");
    }
    INFO((WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                              : "exit status " + std::to_string(WEXITSTATUS(status))));
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

// The MQTT 5 properties of CONNECT, SUBSCRIBE, UNSUBSCRIBE and DISCONNECT the
// options carry, and the CONNACK's Response Information and User Properties
// in the connected state: checked in the bytes a scripted broker received.
TEST_CASE("client features: CONNECT, SUBSCRIBE, UNSUBSCRIBE and DISCONNECT properties from the "
          "options",
          "[client][properties]") {
    using namespace ctmqtt_test::steps;
    ctmqtt_test::fake_broker b;
    connack ack;
    const string_pair connack_props[] = {{"region", "eu"}};
    ack.properties.set<property_id::response_information>(std::string_view{"responses/"});
    ack.properties.set<property_id::user_property>(std::span<const string_pair>{connack_props});
    // Acknowledges SUBSCRIBE / UNSUBSCRIBE with one Success code.
    auto acknowledge = [](packet_type t) {
        return run("acknowledge", [t](ctmqtt_test::fake_connection& c) {
            const auto p = c.expect(t);
            const auto id = t == packet_type::subscribe ? p.as<subscribe>().packet_id
                                                        : p.as<unsubscribe>().packet_id;
            const auto first = t == packet_type::subscribe ? std::byte{0x90} : std::byte{0xB0};
            c.send(std::vector<std::byte>{first, std::byte{4}, std::byte(id >> 8),
                                          std::byte(id & 0xFF), std::byte{0}, std::byte{0}});
        });
    };
    b.script({expect(packet_type::connect), send(ack), acknowledge(packet_type::subscribe),
              acknowledge(packet_type::unsubscribe), expect(packet_type::disconnect),
              wait_closed()});

    asio::io_context io;
    client_options o;
    o.host = b.host();
    o.port = b.port();
    o.client_id = "properties";
    o.session_expiry_interval = 60;
    o.connect_user_properties = {{"app", "test"}, {"app", "twice"}};
    o.request_response_information = true;
    o.request_problem_information = false;
    std::vector<connection_state> states;
    o.on_state = [&](const connection_state& s) { states.push_back(s); };
    client c(io.get_executor(), std::move(o));

    REQUIRE(connect_ok(io, c));
    REQUIRE(!states.empty());
    CHECK(states.back().what == connection_state::kind::connected);
    CHECK(states.back().response_information == std::optional<std::string>{"responses/"});
    CHECK(states.back().user_properties ==
          std::vector<std::pair<std::string, std::string>>{{"region", "eu"}});

    subscribe_options so(qos::at_least_once);
    so.subscription_identifier = 77;
    so.user_properties = {{"why", "test"}};
    bool subscribed = false;
    c.async_subscribe("props/#", so, [&](error_code ec, std::vector<suback_reason_code>) {
        CHECK(!ec);
        subscribed = true;
    });
    REQUIRE(run_until(io, [&] { return subscribed; }));
    bool unsubscribed = false;
    c.async_unsubscribe("props/#", unsubscribe_options{{{"done", "yes"}}},
                        [&](error_code ec, std::vector<unsuback_reason_code>) {
                            CHECK(!ec);
                            unsubscribed = true;
                        });
    REQUIRE(run_until(io, [&] { return unsubscribed; }));
    disconnect_options how(disconnect_reason_code{reason::disconnect_with_will_message});
    how.session_expiry_interval = 0;
    how.reason_string = "going away";
    how.user_properties = {{"bye", "now"}};
    bool disconnected = false;
    c.async_disconnect(how, [&](error_code ec) {
        CHECK(!ec);
        disconnected = true;
    });
    REQUIRE(run_until(io, [&] { return disconnected; }));
    REQUIRE(run_until(io, [&] { return b.wait_done(0ms); }));
    INFO(b.report());
    CHECK(b.errors().empty());

    const auto got = b.received(1);
    REQUIRE(got.size() == 4);
    auto pairs = [](auto range) {
        std::vector<std::pair<std::string, std::string>> out;
        for (auto p : range)
            out.emplace_back(std::string{p.name}, std::string{p.value});
        return out;
    };
    const auto con = got[0].as<ctmqtt::connect>();
    CHECK(pairs(con.properties.get<property_id::user_property>()) ==
          std::vector<std::pair<std::string, std::string>>{{"app", "test"}, {"app", "twice"}});
    CHECK(con.properties.get<property_id::request_response_information>() ==
          std::optional<std::uint8_t>{1});
    CHECK(con.properties.get<property_id::request_problem_information>() ==
          std::optional<std::uint8_t>{0});
    const auto sub = got[1].as<subscribe>();
    CHECK(sub.properties.get<property_id::subscription_identifier>() ==
          std::optional<std::uint32_t>{77});
    CHECK(pairs(sub.properties.get<property_id::user_property>()) ==
          std::vector<std::pair<std::string, std::string>>{{"why", "test"}});
    const auto unsub = got[2].as<unsubscribe>();
    CHECK(pairs(unsub.properties.get<property_id::user_property>()) ==
          std::vector<std::pair<std::string, std::string>>{{"done", "yes"}});
    const auto dis = got[3].as<ctmqtt::disconnect>();
    CHECK(dis.reason_code.value() == 0x04);
    CHECK(dis.properties.get<property_id::session_expiry_interval>() ==
          std::optional<std::uint32_t>{0});
    CHECK(dis.properties.get<property_id::reason_string>() ==
          std::optional<std::string_view>{"going away"});
    CHECK(pairs(dis.properties.get<property_id::user_property>()) ==
          std::vector<std::pair<std::string, std::string>>{{"bye", "now"}});
}

TEST_CASE("client features: DISCONNECT may not give an expiry to a session CONNECT ended at 0 "
          "[MQTT-3.14.2-2]",
          "[client][properties]") {
    mosquitto_broker broker;
    asio::io_context io;
    client c(io.get_executor(), options_for(broker, protocol_version::v5, "expiry-0"));
    REQUIRE(connect_ok(io, c));
    disconnect_options how;
    how.session_expiry_interval = 30;
    std::optional<error_code> refused;
    c.async_disconnect(how, [&](error_code ec) { refused = ec; });
    REQUIRE(run_until(io, [&] { return refused.has_value(); }));
    CHECK(*refused == make_error_code(client_errc::session_expiry_not_allowed));
    CHECK_THAT(refused->message(), Catch::Contains("[MQTT-3.14.2-2]"));
    CHECK(c.connected()); // nothing was sent
    REQUIRE(disconnect_and_wait(io, c));
}
