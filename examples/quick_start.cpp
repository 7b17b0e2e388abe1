// The README's short example, built and run by the tests so it stays true.
#include <array>
#include <cstdio>

#include <ctmqtt/core.hpp>

int main() {
    using namespace ctmqtt;

    publish p;
    p.topic = "sensors/room-1/temperature";
    p.payload = as_bytes("21.5");
    p.qos = qos::at_least_once;
    p.packet_id = 1;
    p.properties.set<property_id::content_type>("text/plain");
    // p.properties.set<property_id::session_expiry_interval>(60u);  // does not compile:
    //                                        // PUBLISH may not carry that property

    std::array<std::byte, 128> header{};
    auto encoded = encode(p, protocol_version::v5, header);
    if (!encoded) {
        std::puts(encoded.error().message().c_str());
        return 1;
    }
    // Send encoded->header, then encoded->payload (the caller's bytes, not copied),
    // with one gather write. Decoding gives views into the received bytes:
    std::array<std::byte, 128> wire{};
    auto end = std::copy(encoded->header.begin(), encoded->header.end(), wire.begin());
    end = std::copy(encoded->payload.begin(), encoded->payload.end(), end);
    auto decoded = decode<publish>(bytes_view{wire.data(), encoded->size()}, protocol_version::v5);
    std::puts(to_string(*decoded, protocol_version::v5).c_str());

    // Malformed input gets an error that says what and where:
    const std::byte bad[] = {std::byte{0x30}, std::byte{0x03}, std::byte{0x00}, std::byte{0x01},
                             std::byte{'#'}};
    std::puts(decode_packet(bad, protocol_version::v3_1_1).error().message().c_str());
    // PUBLISH: topic name contains a wildcard [MQTT-3.3.2-2]
}
