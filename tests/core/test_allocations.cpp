// The codec never allocates: encode and decode of every packet type, counted
// by replacing the global allocation functions in the test binary. Nor does a
// session in steady state.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <vector>

#include <catch2/catch.hpp>

#include <ctmqtt/core/codec.hpp>
#include <ctmqtt/core/session.hpp>

namespace {
std::atomic<long> allocations{0};
volatile std::size_t sink = 0; // keeps the walk over decoded views from being optimised away
} // namespace

// The replacements pair malloc with free; GCC's -Wmismatched-new-delete cannot
// see that operator new here is malloc-backed, so it is silenced for them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n))
        return p;
    throw std::bad_alloc{};
}
void* operator new[](std::size_t n) {
    return operator new(n);
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
// The nothrow forms too, or ASan sees Catch's new (std::nothrow) freed with free().
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
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

using namespace ctmqtt;

namespace {

// Encodes, joins into `frame` (preallocated), decodes; returns allocations made.
template <class P>
long allocations_for(const P& p, protocol_version v, std::vector<std::byte>& frame) {
    std::array<std::byte, 1024> buffer{};
    const long before = allocations.load();
    auto encoded = encode(p, v, buffer);
    REQUIRE(encoded);
    std::copy(encoded->header.begin(), encoded->header.end(), frame.begin());
    std::copy(encoded->payload.begin(), encoded->payload.end(),
              frame.begin() + static_cast<std::ptrdiff_t>(encoded->header.size()));
    auto decoded = decode_packet(bytes_view{frame.data(), encoded->size()}, v);
    REQUIRE(decoded);
    // Walk the decoded views too: iterating lists and repeated properties must not allocate either.
    std::size_t fields = 0;
    std::visit(
        [&](const auto& packet) { visit_fields(packet, v, [&](auto, const auto&) { ++fields; }); },
        decoded->packet);
    if (auto* pub = std::get_if<publish>(&decoded->packet))
        for (auto up : pub->properties.get<property_id::user_property>())
            fields += up.name.size();
    if (auto* sub = std::get_if<subscribe>(&decoded->packet))
        for (auto s : sub->subscriptions)
            fields += s.topic_filter.size();
    sink = fields;
    return allocations.load() - before;
}

} // namespace

TEST_CASE("encoding and decoding allocate nothing, for every packet type", "[allocations]") {
    std::vector<std::byte> frame(70'000);
    const std::vector<std::byte> big_payload(65'536, std::byte{0x5A});
    const string_pair props[] = {{"a", "b"}, {"c", "d"}};
    const std::uint32_t ids[] = {1, 2};
    const subscription subs[] = {{"a/+", qos::at_least_once}, {"$share/g/b/#", qos::exactly_once}};
    const std::string_view filters[] = {"a/+", "b"};
    const suback_reason_code granted[] = {reason::granted_qos_1};
    const unsuback_reason_code removed[] = {reason::success};

    for (auto v : {protocol_version::v3_1_1, protocol_version::v5}) {
        INFO("version " << to_string(v));
        connect c;
        c.version = v;
        c.client_id = "client";
        c.user_name = "u";
        c.password = as_bytes("p");
        c.will.emplace();
        c.will->topic = "w";
        c.will->payload = as_bytes("gone");
        if (v == protocol_version::v5)
            c.properties.set<property_id::user_property>(props);
        CHECK(allocations_for(c, v, frame) == 0);

        connack ca;
        CHECK(allocations_for(ca, v, frame) == 0);

        publish p;
        p.topic = "sensors/room-1/t";
        p.qos = qos::at_least_once;
        p.packet_id = 9;
        p.payload = big_payload;
        if (v == protocol_version::v5)
            p.properties.set<property_id::user_property>(props)
                .set<property_id::subscription_identifier>(ids);
        CHECK(allocations_for(p, v, frame) == 0);

        puback pa;
        pa.packet_id = 9;
        CHECK(allocations_for(pa, v, frame) == 0);
        pubrec pc;
        pc.packet_id = 9;
        CHECK(allocations_for(pc, v, frame) == 0);
        pubrel pl;
        pl.packet_id = 9;
        CHECK(allocations_for(pl, v, frame) == 0);
        pubcomp pm;
        pm.packet_id = 9;
        CHECK(allocations_for(pm, v, frame) == 0);

        subscribe s;
        s.packet_id = 2;
        s.subscriptions = subs;
        CHECK(allocations_for(s, v, frame) == 0);
        suback sa;
        sa.packet_id = 2;
        sa.reason_codes = granted;
        CHECK(allocations_for(sa, v, frame) == 0);
        unsubscribe u;
        u.packet_id = 3;
        u.topic_filters = filters;
        CHECK(allocations_for(u, v, frame) == 0);
        unsuback ua;
        ua.packet_id = 3;
        if (v == protocol_version::v5)
            ua.reason_codes = removed;
        CHECK(allocations_for(ua, v, frame) == 0);
        CHECK(allocations_for(pingreq{}, v, frame) == 0);
        CHECK(allocations_for(pingresp{}, v, frame) == 0);
        disconnect d;
        if (v == protocol_version::v5)
            d.reason_code = reason::disconnect_with_will_message;
        CHECK(allocations_for(d, v, frame) == 0);
        if (v == protocol_version::v5) {
            auth a;
            a.reason_code = reason::continue_authentication;
            a.properties.set<property_id::authentication_method>("m");
            CHECK(allocations_for(a, v, frame) == 0);
        }
    }
}

TEST_CASE("the allocation counter counts", "[allocations]") {
    // Proves the test above could fail: a vector allocation is seen.
    const long before = allocations.load();
    std::vector<int> v(100);
    CHECK(allocations.load() - before >= 1);
    CHECK(v.size() == 100);
}

namespace {

// Counts what the session reports; allocates nothing.
struct counting_handler final : session_handler {
    std::size_t connacks = 0, messages = 0, done = 0, failures = 0;
    void on_connack(const connack&, std::error_code ec) override {
        ++connacks;
        failures += ec ? 1u : 0u;
    }
    void on_message(const publish&) override { ++messages; }
    void on_publish_done(std::uint16_t, std::error_code ec) override {
        ++done;
        failures += ec ? 1u : 0u;
    }
    void on_suback(const suback&) override {}
    void on_unsuback(const unsuback&) override {}
    void on_connection_closed(std::error_code) override { ++failures; }
};

template <class P>
std::vector<std::byte> encoded(const P& p) {
    std::vector<std::byte> out(encoded_size(p, protocol_version::v5));
    auto e = encode(p, protocol_version::v5, std::span{out});
    REQUIRE(e);
    std::copy(e->payload.begin(), e->payload.end(),
              out.begin() + static_cast<std::ptrdiff_t>(e->header.size()));
    return out;
}

} // namespace

TEST_CASE("a session in steady state allocates nothing", "[allocations][session]") {
    counting_handler handler;
    session::options o;
    o.connect.client_id = "c";
    o.outbound_topic_aliases = topic_alias_policy::always;
    session s{o, handler};
    auto now = session_time{} + std::chrono::seconds{1000};
    REQUIRE_FALSE(s.connect(now));
    s.consume_output(s.output().size());
    connack ack;
    ack.properties.set<property_id::topic_alias_maximum>(std::uint16_t{4});
    s.receive(bytes_view{encoded(ack)}, now);
    REQUIRE(s.current_state() == session::state::connected);

    // What the server sends each round: PUBACK for our QoS 1 message (the
    // identifier freed last is reused: always 1), and a QoS 0 and a QoS 1 message.
    puback ack1;
    ack1.packet_id = 1;
    const auto server_ack = encoded(ack1);
    publish in;
    in.topic = "commands/room-1";
    in.payload = as_bytes("on");
    const auto inbound_qos0 = encoded(in);
    in.qos = qos::at_least_once;
    in.packet_id = 5;
    const auto inbound_qos1 = encoded(in);

    const std::string_view topics[] = {"sensors/room-1/temperature", "sensors/room-1/humidity"};
    std::size_t wrong_ids = 0;
    const auto round = [&](std::size_t i) {
        publish p;
        p.topic = topics[i % 2]; // a repeated topic: sent as its alias after the first time
        p.payload = as_bytes("21.5");
        (void)s.publish(p, now);
        p.qos = qos::at_least_once;
        const auto id = s.publish(p, now);
        wrong_ids += id && *id == 1 ? 0u : 1u;
        s.receive(bytes_view{server_ack}, now);
        s.receive(bytes_view{inbound_qos0}, now);
        s.receive(bytes_view{inbound_qos1}, now);
        s.consume_output(s.output().size());
        now += std::chrono::milliseconds{10};
        if (auto d = s.deadline(); d && *d <= now)
            s.on_timer(now);
    };
    for (std::size_t i = 0; i < 4; ++i) // warm-up: the slot, the output buffer, the alias table
        round(i);
    const long before = allocations.load();
    for (std::size_t i = 0; i < 1000; ++i)
        round(i);
    const long made = allocations.load() - before;
    CHECK(made == 0);
    CHECK(wrong_ids == 0);
    CHECK(handler.failures == 0);
    CHECK(handler.done == 1004);
    CHECK(handler.messages == 2 * 1004);
}
