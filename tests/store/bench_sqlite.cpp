// The cost of store::sqlite per QoS 1 message (Google Benchmark):
//
// - BM_store_hooks/<level>: the two writes a QoS 1 message costs the store,
//   stored() of a 64-byte-payload PUBLISH and released() at its PUBACK, at
//   each synchronous level;
// - BM_session_qos1/<store>: a whole QoS 1 message through a session (publish,
//   then PUBACK fed back) with store::memory's empty hooks and with
//   store::sqlite (synchronous NORMAL): the difference is the store's cost.
//
// Counters per message: `new` counts global operator new calls (ours: 0
// expected), `sqlite_malloc` SQLite's own allocations (sqlite3_malloc and
// sqlite3_realloc, counted by wrapping SQLite's allocator).
//
// The database is in a fresh temporary directory ($TMPDIR or /tmp): its
// file system decides what an fsync (synchronous FULL) costs.
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>

#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <ctmqtt/core.hpp>
#include <ctmqtt/store/memory.hpp>
#include <ctmqtt/store/sqlite.hpp>

#include "store/store_bridge.hpp"
#include "support/mosquitto_broker.hpp" // temp_dir

namespace {

std::atomic<std::uint64_t> g_new{0};
std::atomic<std::uint64_t> g_sqlite_malloc{0};

[[gnu::noinline]] void release(void* p) noexcept {
    std::free(p);
}

// SQLite's allocator, wrapped to count.
sqlite3_mem_methods g_sqlite_default{};

void* sqlite_malloc(int n) {
    g_sqlite_malloc.fetch_add(1, std::memory_order_relaxed);
    return g_sqlite_default.xMalloc(n);
}
void* sqlite_realloc(void* p, int n) {
    g_sqlite_malloc.fetch_add(1, std::memory_order_relaxed);
    return g_sqlite_default.xRealloc(p, n);
}

// Before main(), so before SQLite initialises (sqlite3_config's rule).
const bool g_counting = [] {
    if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &g_sqlite_default) != SQLITE_OK)
        std::abort();
    sqlite3_mem_methods counting = g_sqlite_default;
    counting.xMalloc = sqlite_malloc;
    counting.xRealloc = sqlite_realloc;
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &counting) != SQLITE_OK)
        std::abort();
    return true;
}();

} // namespace

void* operator new(std::size_t n) {
    g_new.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n))
        return p;
    throw std::bad_alloc{};
}
void operator delete(void* p) noexcept {
    release(p);
}
void operator delete(void* p, std::size_t) noexcept {
    release(p);
}

using namespace ctmqtt;

namespace {

std::vector<std::byte> publish_bytes(std::uint16_t id, const std::array<std::byte, 64>& payload) {
    publish p;
    p.topic = "sensors/room-1/temperature";
    p.qos = qos::at_least_once;
    p.packet_id = id;
    p.payload = payload;
    byte_buffer out;
    (void)encode_append(p, protocol_version::v5, out);
    return {out.data(), out.data() + out.size()};
}

// Per-message counters from totals taken around the timed loop.
struct counting {
    std::uint64_t news = g_new.load();
    std::uint64_t sqlite = g_sqlite_malloc.load();
    void report(benchmark::State& state) const {
        const auto messages = static_cast<double>(state.iterations());
        state.counters["new"] = static_cast<double>(g_new.load() - news) / messages;
        state.counters["sqlite_malloc"] =
            static_cast<double>(g_sqlite_malloc.load() - sqlite) / messages;
    }
};

void BM_store_hooks(benchmark::State& state) {
    ctmqtt_test::detail::temp_dir dir{"ctmqtt-store-bench-"};
    const auto level = static_cast<store::synchronous>(state.range(0));
    store::sqlite st{(dir.path() / "bench.db").string(),
                     "bench",
                     {.sync = level, .exclusive = state.range(1) != 0}};
    if (st.last_error()) {
        state.SkipWithError(st.last_error().message().c_str());
        return;
    }
    const std::array<std::byte, 64> payload{};
    const auto packet = publish_bytes(1, payload);
    const counting before;
    for (auto _ : state) {
        st.stored(1, false, bytes_view{packet});
        st.released(1);
    }
    before.report(state);
    if (st.failed_writes() != 0)
        state.SkipWithError(st.last_error().message().c_str());
}
BENCHMARK(BM_store_hooks)
    ->ArgNames({"sync", "exclusive"})
    ->ArgsProduct({{static_cast<int>(store::synchronous::off),
                    static_cast<int>(store::synchronous::normal),
                    static_cast<int>(store::synchronous::full)},
                   {0, 1}});

template <class Store>
void run_session(benchmark::State& state, Store& st) {
    ctmqtt_test::store_bridge<Store> handler{st};
    session::options o;
    o.connect.client_id = "bench";
    session s{o, handler};
    if (auto ec = st.restore(s)) {
        state.SkipWithError(ec.message().c_str());
        return;
    }
    const auto now = session_time{} + std::chrono::seconds(1);
    (void)s.connect(now);
    s.consume_output(s.output().size());
    const std::byte connack_bytes[] = {std::byte{0x20}, std::byte{0x03}, std::byte{0}, std::byte{0},
                                       std::byte{0}};
    s.receive(connack_bytes, now);
    const std::array<std::byte, 64> payload{};
    publish p;
    p.topic = "sensors/room-1/temperature";
    p.qos = qos::at_least_once;
    p.payload = payload;
    std::array<std::byte, 4> puback{std::byte{0x40}, std::byte{0x02}, std::byte{0}, std::byte{0}};
    const counting before;
    for (auto _ : state) {
        auto id = s.publish(p, now);
        s.consume_output(s.output().size());
        puback[2] = static_cast<std::byte>(*id >> 8);
        puback[3] = static_cast<std::byte>(*id & 0xFF);
        s.receive(puback, now);
    }
    before.report(state);
}

void BM_session_qos1_memory(benchmark::State& state) {
    store::memory st;
    run_session(state, st);
}
BENCHMARK(BM_session_qos1_memory);

void BM_session_qos1_sqlite(benchmark::State& state) {
    ctmqtt_test::detail::temp_dir dir{"ctmqtt-store-bench-"};
    store::sqlite st{(dir.path() / "bench.db").string(), "bench"};
    run_session(state, st);
    if (st.failed_writes() != 0)
        state.SkipWithError(st.last_error().message().c_str());
}
BENCHMARK(BM_session_qos1_sqlite);

} // namespace

BENCHMARK_MAIN();
