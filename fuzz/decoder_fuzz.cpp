// libFuzzer target for the ctmqtt codec (clang++-14 -fsanitize=fuzzer,address,undefined).
//
// The input is fed, whole, to the decoder for each of the three protocol
// versions (3.1, 3.1.1, 5.0); the seed corpus (fuzz/corpus/) holds plain
// packets of every type and version. For each version it:
//   - parses the fixed header and checks it against what decode_packet does;
//   - decodes up to a few packets back to back, as a stream reader would;
//   - for every packet that decodes: re-encodes it (a decoded packet is valid,
//     so check() and encode() must accept it), decodes the re-encoding (with
//     decode<P> and decode_packet), checks that it encodes to the same bytes
//     again (encode after decode is idempotent) and means the same thing
//     (same to_string), and calls to_string and visit_fields.
// Any broken invariant aborts (__builtin_trap), so libFuzzer saves the input.
//
// Build: cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 \
//          -DCTMQTT_BUILD_FUZZ=ON -DCTMQTT_BUILD_TESTS=OFF -DCTMQTT_BUILD_BENCHMARKS=OFF
//        cmake --build build-fuzz --target ctmqtt_decoder_fuzz
// Run:   cp -r fuzz/corpus /tmp/corpus && build-fuzz/fuzz/ctmqtt_decoder_fuzz \
//          -dict=fuzz/mqtt.dict -max_total_time=60 /tmp/corpus
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <ctmqtt/ctmqtt.hpp>

namespace {

using namespace ctmqtt;

[[noreturn]] void fail(const char* what, protocol_version v, std::string_view detail = {}) {
    std::fprintf(stderr, "ctmqtt fuzz invariant broken (version %s): %s %.*s\n",
                 std::string{to_string(v)}.c_str(), what, static_cast<int>(detail.size()),
                 detail.data());
    __builtin_trap();
}

#define FUZZ_CHECK(cond, what, v, detail)                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail(what, v, detail);                                                                 \
    } while (0)

// The bytes of an encoding: the header in the caller's buffer, then the payload.
std::vector<std::byte> joined(const encoded_packet& e) {
    std::vector<std::byte> out(e.header.begin(), e.header.end());
    out.insert(out.end(), e.payload.begin(), e.payload.end());
    return out;
}

// Counts fields and touches every value, so visit_fields runs in full.
struct field_counter {
    std::size_t fields = 0;
    std::size_t bytes = 0;
    template <class V>
    void operator()(std::string_view name, const V& value) {
        ++fields;
        bytes += name.size();
        if constexpr (requires { value.size(); })
            bytes += value.size();
    }
};

// Re-encodes a decoded packet and checks the round trip.
template <packet P>
void check_round_trip(const P& p, protocol_version v) {
    const std::string text = to_string(p, v);
    field_counter counter;
    visit_fields(p, v, counter);
    // Only these packets can have no field at all (a bare fixed header).
    constexpr bool may_be_empty = std::is_same_v<P, pingreq> || std::is_same_v<P, pingresp> ||
                                  std::is_same_v<P, disconnect> || std::is_same_v<P, auth>;
    FUZZ_CHECK(may_be_empty || counter.fields != 0, "no fields visited", v, text);

    // A decoded packet is valid: check() and encode() must accept it.
    if (auto ec = check(p, v))
        fail("check() rejects a decoded packet:", v, ec.message() + " | " + text);
    const std::size_t hsize = header_size(p, v);
    std::vector<std::byte> buffer(hsize);
    auto first = encode(p, v, buffer);
    if (!first)
        fail("encode() rejects a decoded packet:", v, first.error().message() + " | " + text);
    FUZZ_CHECK(first->header.size() == hsize, "header_size() disagrees with encode()", v, text);
    FUZZ_CHECK(first->size() == encoded_size(p, v), "encoded_size() disagrees with encode()", v,
               text);
    if (hsize > 0) {
        // One byte short must be refused, not overrun (ASan watches the buffer).
        std::vector<std::byte> small(hsize - 1);
        auto refused = encode(p, v, small);
        FUZZ_CHECK(!refused && refused.error() == codec_errc::buffer_too_small,
                   "short buffer not refused", v, text);
    }
    const std::vector<std::byte> bytes1 = joined(*first);

    // The re-encoding decodes, as the same type and to the same meaning.
    auto again = decode<P>(bytes1, v);
    if (!again)
        fail("decode<P>() rejects the re-encoding:", v, again.error().message() + " | " + text);
    auto any = decode_packet(bytes1, v);
    if (!any)
        fail("decode_packet() rejects the re-encoding:", v, any.error().message() + " | " + text);
    FUZZ_CHECK(any->size == bytes1.size(), "decode_packet() size of the re-encoding", v, text);
    FUZZ_CHECK(std::holds_alternative<P>(any->packet), "decode_packet() changes the packet type", v,
               text);
    const std::string text2 = to_string(*again, v);
    FUZZ_CHECK(text == text2, "decode(encode(p)) differs from p:", v, text + " | " + text2);

    // encode(decode(encode(p))) == encode(p).
    std::vector<std::byte> buffer2(header_size(*again, v));
    auto second = encode(*again, v, buffer2);
    if (!second)
        fail("encode() rejects the decoded re-encoding:", v,
             second.error().message() + " | " + text2);
    const std::vector<std::byte> bytes2 = joined(*second);
    FUZZ_CHECK(bytes1 == bytes2, "encode(decode(encode(p))) != encode(p)", v, text);
}

void fuzz_version(bytes_view data, protocol_version v) {
    // The fixed header alone.
    auto header = parse_fixed_header(data, v);
    if (header && *header) {
        const auto& h = **header;
        FUZZ_CHECK(h.length >= 2 && h.length <= 5, "fixed header length", v, {});
        FUZZ_CHECK(h.length <= data.size(), "fixed header longer than the input", v, {});
        FUZZ_CHECK(h.type != packet_type::reserved, "reserved packet type accepted", v, {});
        FUZZ_CHECK(h.remaining_length <= max_variable_byte_integer, "remaining length too large", v,
                   {});
    }

    // A stream of packets, as a reader decodes them one after the other.
    std::size_t offset = 0;
    for (int n = 0; n < 4 && offset < data.size(); ++n) {
        const auto rest = data.subspan(offset);
        auto h = parse_fixed_header(rest, v);
        auto d = decode_packet(rest, v);
        if (!h) {
            FUZZ_CHECK(!d, "decode_packet() accepts a bad fixed header", v, {});
            return;
        }
        if (!*h || (*h)->packet_size() > rest.size()) {
            FUZZ_CHECK(!d && d.error() == codec_errc::incomplete_packet,
                       "decode_packet() of an incomplete packet", v, {});
            return;
        }
        if (!d)
            return;
        FUZZ_CHECK(d->size == (*h)->packet_size() && d->size <= rest.size(), "decode_packet() size",
                   v, {});
        std::visit(
            [&]<class P>(const P& p) {
                FUZZ_CHECK(packet_type_of<P> == (*h)->type,
                           "decoded type differs from the fixed header", v, {});
                // The typed decoder agrees on exactly this packet.
                auto typed = decode<P>(rest.first(d->size), v);
                if (!typed)
                    fail("decode<P>() rejects what decode_packet() accepts:", v,
                         typed.error().message());
                FUZZ_CHECK(to_string(*typed, v) == to_string(p, v),
                           "decode<P>() differs from decode_packet()", v, {});
                check_round_trip(p, v);
            },
            d->packet);
        offset += d->size;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const bytes_view input{reinterpret_cast<const std::byte*>(data), size};
    for (auto v : {protocol_version::v3_1, protocol_version::v3_1_1, protocol_version::v5})
        fuzz_version(input, v);
    return 0;
}
