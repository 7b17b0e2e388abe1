// Codec micro-benchmarks (Google Benchmark 1.7): encode and decode of CONNECT,
// PUBLISH (QoS 0 and 1; 16-byte topic; 64-byte and 64-KiB payloads; without
// properties and with 4 properties), SUBSCRIBE and PUBACK.
//
// Every benchmark reports ns per operation and, as the counter
// allocs_per_op, heap allocations per operation: this binary replaces the
// global operator new/delete with counting versions (the codec promises 0).
//
// Build and run (see benchmarks/README.md):
//   cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release
//   cmake --build build-bench --target ctmqtt_codec_bench
//   ./build-bench/benchmarks/ctmqtt_codec_bench --benchmark_repetitions=5
//   --benchmark_report_aggregates_only=true
//
// Callgrind: run one benchmark for a short fixed time, e.g.
//   valgrind --tool=callgrind --callgrind-out-file=cg.out ./ctmqtt_codec_bench
//     --benchmark_filter='^decode/publish_qos0_64B$' --benchmark_min_time=0.01  (one command line)
//   callgrind_annotate --auto=yes cg.out
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include <ctmqtt/ctmqtt.hpp>

// ---------------------------------------------------------------------------
// Counting global operator new/delete.
// ---------------------------------------------------------------------------
namespace {
std::atomic<std::uint64_t> g_allocations{0};

void* counted_alloc(std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(n == 0 ? 1 : n);
}

void* counted_aligned_alloc(std::size_t n, std::align_val_t al) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    const auto a = static_cast<std::size_t>(al);
    const std::size_t size = (n + a - 1) / a * a; // aligned_alloc wants a multiple of the alignment
    return std::aligned_alloc(a, size == 0 ? a : size);
}

// Not inlined, so that GCC does not see free() paired with operator new
// (-Wmismatched-new-delete), which is right for these replacements.
[[gnu::noinline]] void counted_free(void* p) noexcept {
    std::free(p);
}
} // namespace

void* operator new(std::size_t n) {
    if (void* p = counted_alloc(n))
        return p;
    throw std::bad_alloc{};
}
void* operator new[](std::size_t n) {
    if (void* p = counted_alloc(n))
        return p;
    throw std::bad_alloc{};
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    return counted_alloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    return counted_alloc(n);
}
void* operator new(std::size_t n, std::align_val_t al) {
    if (void* p = counted_aligned_alloc(n, al))
        return p;
    throw std::bad_alloc{};
}
void* operator new[](std::size_t n, std::align_val_t al) {
    if (void* p = counted_aligned_alloc(n, al))
        return p;
    throw std::bad_alloc{};
}
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
    return counted_aligned_alloc(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
    return counted_aligned_alloc(n, al);
}
void operator delete(void* p) noexcept {
    counted_free(p);
}
void operator delete[](void* p) noexcept {
    counted_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    counted_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    counted_free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    counted_free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    counted_free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    counted_free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    counted_free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
    counted_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
    counted_free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    counted_free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    counted_free(p);
}

namespace {

using namespace ctmqtt;

// Sets allocs_per_op from the allocations made while the timed loop ran.
class allocation_counter {
public:
    explicit allocation_counter(benchmark::State& state)
        : state_(state), start_(g_allocations.load(std::memory_order_relaxed)) {}
    ~allocation_counter() {
        const auto n = g_allocations.load(std::memory_order_relaxed) - start_;
        state_.counters["allocs_per_op"] =
            benchmark::Counter(static_cast<double>(n), benchmark::Counter::kAvgIterations);
    }
    allocation_counter(const allocation_counter&) = delete;
    allocation_counter& operator=(const allocation_counter&) = delete;

private:
    benchmark::State& state_;
    std::uint64_t start_;
};

// ---------------------------------------------------------------------------
// Test packets. Each fixture owns the data its packet views.
// ---------------------------------------------------------------------------
constexpr std::string_view topic16 = "sensors/room-042"; // 16 bytes
static_assert(topic16.size() == 16);

struct publish_fixture {
    std::vector<std::byte> payload;
    string_pair user_props[1] = {{"source", "sensor-17"}};
    publish packet;

    publish_fixture(qos q, std::size_t payload_size, bool with_properties) : payload(payload_size) {
        for (std::size_t i = 0; i < payload.size(); ++i)
            payload[i] = static_cast<std::byte>('a' + i % 26);
        packet.topic = topic16;
        packet.payload = payload;
        packet.qos = q;
        if (q != qos::at_most_once)
            packet.packet_id = 4242;
        if (with_properties) {
            // 4 properties: a byte, a four-byte integer, a string and a string pair.
            packet.properties.set<property_id::payload_format_indicator>(std::uint8_t{1})
                .set<property_id::message_expiry_interval>(3600u)
                .set<property_id::content_type>("application/json")
                .set<property_id::user_property>(std::span{user_props});
        }
    }
    publish_fixture(const publish_fixture&) = delete;
    publish_fixture& operator=(const publish_fixture&) = delete;
};

struct connect_fixture {
    connect packet;
    explicit connect_fixture(protocol_version v) {
        packet.version = v;
        packet.clean_start = true;
        packet.keep_alive = 60;
        packet.client_id = "bench-client-0001";
        packet.user_name = "user";
        packet.password = as_bytes("secret-password");
        if (v == protocol_version::v5) {
            packet.properties.set<property_id::session_expiry_interval>(3600u)
                .set<property_id::receive_maximum>(std::uint16_t{100});
        }
    }
};

struct subscribe_fixture {
    subscription subs[2] = {{"sensors/+/temperature", qos::at_least_once},
                            {"alerts/#", qos::exactly_once}};
    subscribe packet;
    subscribe_fixture() {
        packet.packet_id = 7;
        packet.subscriptions = std::span<const subscription>{subs};
    }
    subscribe_fixture(const subscribe_fixture&) = delete;
    subscribe_fixture& operator=(const subscribe_fixture&) = delete;
};

struct puback_fixture {
    puback packet;
    explicit puback_fixture(bool with_reason) {
        packet.packet_id = 4242;
        if (with_reason)
            packet.reason_code = reason::no_matching_subscribers;
    }
};

// ---------------------------------------------------------------------------
// The two benchmark bodies.
// ---------------------------------------------------------------------------

// Encodes the fixture's packet into a buffer of header_size() bytes.
template <class Fixture, class... Args>
void bm_encode(benchmark::State& state, protocol_version v, Args... args) {
    auto fx = std::make_unique<Fixture>(args...);
    auto& p = fx->packet;
    std::vector<std::byte> buffer(header_size(p, v));
    if (auto check = encode(p, v, buffer); !check) {
        state.SkipWithError(check.error().message().c_str());
        return;
    }
    {
        allocation_counter allocs{state};
        for (auto _ : state) {
            benchmark::DoNotOptimize(&p); // the packet may have changed: nothing is hoisted
            benchmark::ClobberMemory();
            auto encoded = encode(p, v, std::span{buffer});
            benchmark::DoNotOptimize(encoded);
            benchmark::ClobberMemory(); // the encoded bytes are "used"
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(encoded_size(p, v)));
    state.counters["wire_bytes"] = static_cast<double>(encoded_size(p, v));
}

// Decodes the fixture's packet, encoded once beforehand, with decode<P>.
template <class Fixture, class... Args>
void bm_decode(benchmark::State& state, protocol_version v, Args... args) {
    auto fx = std::make_unique<Fixture>(args...);
    using P = std::remove_cvref_t<decltype(fx->packet)>;
    const auto& p = fx->packet;
    std::vector<std::byte> buffer(header_size(p, v));
    auto encoded = encode(p, v, buffer);
    if (!encoded) {
        state.SkipWithError(encoded.error().message().c_str());
        return;
    }
    std::vector<std::byte> wire(encoded->header.begin(), encoded->header.end());
    wire.insert(wire.end(), encoded->payload.begin(), encoded->payload.end());
    if (auto check = decode<P>(wire, v); !check) {
        state.SkipWithError(check.error().message().c_str());
        return;
    }
    {
        allocation_counter allocs{state};
        for (auto _ : state) {
            bytes_view input{wire};
            benchmark::DoNotOptimize(input); // the input may have changed: nothing is hoisted
            benchmark::ClobberMemory();
            auto decoded = decode<P>(input, v);
            benchmark::DoNotOptimize(decoded);
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(wire.size()));
    state.counters["wire_bytes"] = static_cast<double>(wire.size());
}

// Decodes with decode_packet (any_packet), as a stream reader does.
template <class Fixture, class... Args>
void bm_decode_packet(benchmark::State& state, protocol_version v, Args... args) {
    auto fx = std::make_unique<Fixture>(args...);
    const auto& p = fx->packet;
    std::vector<std::byte> buffer(header_size(p, v));
    auto encoded = encode(p, v, buffer);
    if (!encoded) {
        state.SkipWithError(encoded.error().message().c_str());
        return;
    }
    std::vector<std::byte> wire(encoded->header.begin(), encoded->header.end());
    wire.insert(wire.end(), encoded->payload.begin(), encoded->payload.end());
    {
        allocation_counter allocs{state};
        for (auto _ : state) {
            bytes_view input{wire};
            benchmark::DoNotOptimize(input);
            benchmark::ClobberMemory();
            auto decoded = decode_packet(input, v);
            benchmark::DoNotOptimize(decoded);
        }
    }
    state.counters["wire_bytes"] = static_cast<double>(wire.size());
}

constexpr std::size_t small_payload = 64;
constexpr std::size_t large_payload = 64 * 1024;
constexpr auto v5 = protocol_version::v5;
constexpr auto v311 = protocol_version::v3_1_1;

void register_all() {
    struct publish_case {
        const char* name;
        qos q;
        std::size_t payload;
        bool props;
        protocol_version v;
    };
    const publish_case publishes[] = {
        {"publish_qos0_64B", qos::at_most_once, small_payload, false, v5},
        {"publish_qos0_64B_4props", qos::at_most_once, small_payload, true, v5},
        {"publish_qos0_64KiB", qos::at_most_once, large_payload, false, v5},
        {"publish_qos0_64KiB_4props", qos::at_most_once, large_payload, true, v5},
        {"publish_qos1_64B", qos::at_least_once, small_payload, false, v5},
        {"publish_qos1_64B_4props", qos::at_least_once, small_payload, true, v5},
        {"publish_qos1_64KiB", qos::at_least_once, large_payload, false, v5},
        {"publish_qos1_64KiB_4props", qos::at_least_once, large_payload, true, v5},
        {"publish_qos0_64B_v311", qos::at_most_once, small_payload, false, v311},
    };

    benchmark::RegisterBenchmark("encode/connect_v311",
                                 bm_encode<connect_fixture, protocol_version>, v311, v311);
    benchmark::RegisterBenchmark("encode/connect_v5", bm_encode<connect_fixture, protocol_version>,
                                 v5, v5);
    for (const auto& c : publishes)
        benchmark::RegisterBenchmark((std::string{"encode/"} + c.name).c_str(),
                                     bm_encode<publish_fixture, qos, std::size_t, bool>, c.v, c.q,
                                     c.payload, c.props);
    benchmark::RegisterBenchmark("encode/subscribe_2_filters", bm_encode<subscribe_fixture>, v5);
    benchmark::RegisterBenchmark("encode/puback", bm_encode<puback_fixture, bool>, v5, false);
    benchmark::RegisterBenchmark("encode/puback_reason_code", bm_encode<puback_fixture, bool>, v5,
                                 true);

    benchmark::RegisterBenchmark("decode/connect_v311",
                                 bm_decode<connect_fixture, protocol_version>, v311, v311);
    benchmark::RegisterBenchmark("decode/connect_v5", bm_decode<connect_fixture, protocol_version>,
                                 v5, v5);
    for (const auto& c : publishes)
        benchmark::RegisterBenchmark((std::string{"decode/"} + c.name).c_str(),
                                     bm_decode<publish_fixture, qos, std::size_t, bool>, c.v, c.q,
                                     c.payload, c.props);
    benchmark::RegisterBenchmark("decode/subscribe_2_filters", bm_decode<subscribe_fixture>, v5);
    benchmark::RegisterBenchmark("decode/puback", bm_decode<puback_fixture, bool>, v5, false);
    benchmark::RegisterBenchmark("decode/puback_reason_code", bm_decode<puback_fixture, bool>, v5,
                                 true);

    benchmark::RegisterBenchmark("decode_packet/publish_qos0_64B",
                                 bm_decode_packet<publish_fixture, qos, std::size_t, bool>, v5,
                                 qos::at_most_once, small_payload, false);
    benchmark::RegisterBenchmark("decode_packet/publish_qos0_64B_4props",
                                 bm_decode_packet<publish_fixture, qos, std::size_t, bool>, v5,
                                 qos::at_most_once, small_payload, true);
}

} // namespace

int main(int argc, char** argv) {
    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
