// The ctmqtt demo: builds one packet of every type, encodes it for each
// protocol version that has it, decodes the bytes again and prints both the
// bytes and the decoded packet. Then shows what a malformed packet gives.
#include <array>
#include <cstdio>
#include <string>

#include <ctmqtt/ctmqtt.hpp>

namespace {

using namespace ctmqtt;

std::string hex(bytes_view b) {
    std::string out;
    char buf[4];
    for (std::size_t i = 0; i < b.size() && i < 48; ++i) {
        std::snprintf(buf, sizeof buf, "%02X ", static_cast<unsigned>(b[i]));
        out += buf;
    }
    if (b.size() > 48)
        out += "...";
    return out;
}

template <packet P>
void round_trip(const P& p, protocol_version v) {
    std::array<std::byte, 512> buffer{};
    auto encoded = encode(p, v, buffer);
    if (!encoded) {
        std::printf("  encode failed: %s\n", encoded.error().message().c_str());
        return;
    }
    // A real client sends header and payload with one gather write; here we join them.
    std::array<std::byte, 1024> wire_bytes{};
    std::copy(encoded->header.begin(), encoded->header.end(), wire_bytes.begin());
    std::copy(encoded->payload.begin(), encoded->payload.end(),
              wire_bytes.begin() + encoded->header.size());
    const bytes_view frame{wire_bytes.data(), encoded->size()};
    auto decoded = decode_packet(frame, v);
    std::printf("  %-5s %s\n", std::string{to_string(v)}.c_str(), hex(frame).c_str());
    if (!decoded) {
        std::printf("        decode failed: %s\n", decoded.error().message().c_str());
        return;
    }
    std::printf("        %s\n", to_string(decoded->packet, v).c_str());
}

template <packet P>
void show(const P& p) {
    std::printf("%s\n", std::string{to_string(packet_type_of<P>)}.c_str());
    for (auto v : {protocol_version::v3_1_1, protocol_version::v5}) {
        if (packet_type_of<P> == packet_type::auth && v != protocol_version::v5)
            continue;
        round_trip(p, v);
    }
}

} // namespace

int main() {
    std::printf("ctmqtt %s: one packet of every type, encoded and decoded again\n\n",
                std::string{version_string}.c_str());

    const string_pair user_props[] = {{"sensor", "t-17"}};

    connect c;
    c.client_id = "demo-client";
    c.keep_alive = 30;
    c.user_name = "alice";
    c.password = as_bytes("secret");
    c.will.emplace();
    c.will->topic = "demo/status";
    c.will->payload = as_bytes("offline");
    c.will->qos = qos::at_least_once;
    c.will->retain = true;
    for (auto v : {protocol_version::v3_1, protocol_version::v3_1_1, protocol_version::v5}) {
        c.version = v;
        if (v == protocol_version::v5)
            c.properties.set<property_id::session_expiry_interval>(3600u);
        std::printf("CONNECT\n");
        round_trip(c, v);
    }

    connack ca;
    ca.session_present = true;
    show(ca);

    publish p;
    p.topic = "demo/temperature";
    p.payload = as_bytes("21.5");
    p.qos = qos::at_least_once;
    p.packet_id = 1;
    show(p);
    p.properties.set<property_id::content_type>("text/plain")
        .set<property_id::user_property>(std::span{user_props});
    std::printf("PUBLISH with properties\n");
    round_trip(p, protocol_version::v5);

    puback pa;
    pa.packet_id = 1;
    show(pa);
    pa.reason_code = reason::no_matching_subscribers;
    std::printf("PUBACK with a reason code\n");
    round_trip(pa, protocol_version::v5);
    pubrec rec;
    rec.packet_id = 2;
    show(rec);
    pubrel rel;
    rel.packet_id = 2;
    show(rel);
    pubcomp comp;
    comp.packet_id = 2;
    show(comp);

    const subscription subs[] = {{"demo/#", qos::at_least_once},
                                 {"$share/g/demo/+/x", qos::exactly_once}};
    subscribe s;
    s.packet_id = 3;
    s.subscriptions = subs;
    show(s);

    const suback_reason_code granted[] = {reason::granted_qos_1, reason::granted_qos_2};
    suback sa;
    sa.packet_id = 3;
    sa.reason_codes = granted;
    show(sa);

    const std::string_view filters[] = {"demo/#"};
    unsubscribe u;
    u.packet_id = 4;
    u.topic_filters = filters;
    show(u);

    const unsuback_reason_code removed[] = {reason::success};
    unsuback ua;
    ua.packet_id = 4;
    std::printf("UNSUBACK\n");
    round_trip(ua, protocol_version::v3_1_1);
    ua.reason_codes = removed;
    round_trip(ua, protocol_version::v5);

    show(pingreq{});
    show(pingresp{});
    show(disconnect{});
    auth a;
    a.reason_code = reason::continue_authentication;
    a.properties.set<property_id::authentication_method>("SCRAM-SHA-1");
    show(a);

    std::printf("\nMalformed input is refused with the rule it breaks:\n");
    const std::byte bad_publish[] = {std::byte{0x30}, std::byte{0x05}, std::byte{0x00},
                                     std::byte{0x03}, std::byte{'a'},  std::byte{'/'},
                                     std::byte{'#'}};
    std::printf("  %s\n",
                decode_packet(bad_publish, protocol_version::v3_1_1).error().message().c_str());
    const std::byte bad_pubrel[] = {std::byte{0x60}, std::byte{0x02}, std::byte{0x00},
                                    std::byte{0x01}};
    std::printf("  %s\n",
                decode_packet(bad_pubrel, protocol_version::v5).error().message().c_str());
    publish wild;
    wild.topic = "a/+";
    std::array<std::byte, 64> buf{};
    std::printf("  encoder: %s\n",
                encode(wild, protocol_version::v5, buf).error().message().c_str());
    return 0;
}
