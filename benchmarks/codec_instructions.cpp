// Instruction counts per operation for the codec's hot paths, for callgrind:
//   valgrind --tool=callgrind ctmqtt_codec_instructions <case> <N>
// and per-op cost = (Ir at 2N - Ir at N) / N, which cancels start-up costs.
// benchmarks/instructions.sh runs that for every case. Unlike wall time,
// instruction counts do not depend on the machine's load.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include <ctmqtt/core/codec.hpp>

using namespace ctmqtt;

namespace {

template <class T>
void keep(T&& value) {
    asm volatile("" : : "g"(&value) : "memory");
}

publish make_publish(bool with_properties, const std::vector<std::byte>& payload) {
    static const string_pair user[] = {{"source", "sensor-17"}};
    publish p;
    p.topic = "sensors/room-042";
    p.payload = payload;
    if (with_properties) {
        p.properties.set<property_id::payload_format_indicator>(std::uint8_t{1})
            .set<property_id::message_expiry_interval>(3600u)
            .set<property_id::content_type>("application/json")
            .set<property_id::user_property>(user);
    }
    return p;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s encode|decode|encode4|decode4 N\n", argv[0]);
        return 2;
    }
    const std::string_view what = argv[1];
    const long n = std::atol(argv[2]);
    const std::vector<std::byte> payload(64, std::byte{'x'});
    const bool props = what.ends_with('4');
    const publish p = make_publish(props, payload);
    std::array<std::byte, 256> buffer{};
    auto encoded = encode(p, protocol_version::v5, buffer);
    if (!encoded)
        return 1;
    std::vector<std::byte> frame(encoded->header.begin(), encoded->header.end());
    frame.insert(frame.end(), payload.begin(), payload.end());
    if (what.starts_with("encode")) {
        for (long i = 0; i < n; ++i) {
            keep(p);
            auto e = encode(p, protocol_version::v5, buffer);
            keep(e);
        }
    } else {
        for (long i = 0; i < n; ++i) {
            keep(frame);
            auto d = decode<publish>(frame, protocol_version::v5);
            keep(d);
        }
    }
    return 0;
}
