// Encode -> decode round trips of generated packets, for every packet type in
// every version that has it: loops over QoS, flags, property combinations,
// list lengths and string lengths (including 0 and 65,535). For each packet:
//   - check() accepts it and encode() succeeds into a buffer of exactly
//     header_size() bytes, writing nothing beyond it;
//   - encoded_size() equals the bytes produced, remaining_length() equals the
//     remaining length in the fixed header;
//   - a buffer one byte too small gives codec_errc::buffer_too_small;
//   - the decoded packet has the same fields (visit_fields names, to_string
//     text, and direct checks of large binary fields) and re-encodes to the
//     same bytes;
//   - every truncated prefix of the frame is refused with incomplete_packet,
//     and every truncated body re-framed with a matching remaining length is
//     either refused with a truncation-type error or decodes to a packet that
//     itself round-trips (a shorter PUBLISH payload, fewer list entries, ...).
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include <ctmqtt/ctmqtt.hpp>

using namespace ctmqtt;
using namespace std::string_view_literals;

namespace {

using bytes = std::vector<std::byte>;

constexpr auto v31 = protocol_version::v3_1;
constexpr auto v311 = protocol_version::v3_1_1;
constexpr auto v5 = protocol_version::v5;
constexpr protocol_version all_versions[] = {v31, v311, v5};

constexpr std::byte guard{0xA5};

// Strings kept alive for the whole run (the packets only view them).
const std::string& text(std::size_t n, char c) {
    static std::vector<std::unique_ptr<std::string>> store;
    for (const auto& s : store)
        if (s->size() == n && (n == 0 || (*s)[0] == c))
            return *s;
    store.push_back(std::make_unique<std::string>(n, c));
    return *store.back();
}

std::vector<std::string> field_names(const auto& p, protocol_version v) {
    std::vector<std::string> names;
    visit_fields(p, v, [&](std::string_view name, const auto&) { names.emplace_back(name); });
    return names;
}

// Rules a truncated body may legitimately break.
bool truncation_rule(codec_errc rule) {
    switch (rule) {
    case codec_errc::field_truncated:
    case codec_errc::property_length:
    case codec_errc::no_topic_filters:
    case codec_errc::no_reason_codes: return true;
    default: return false;
    }
}

struct round_trip_stats {
    std::size_t packets = 0;
    std::size_t truncations = 0;
    std::set<codec_errc> truncation_rules;
};

round_trip_stats& stats() {
    static round_trip_stats s;
    return s;
}

// Lengths at which to cut a frame of n bytes: all of them up to 400 bytes;
// for large ones the first and last 24 and about 16 in between.
std::vector<std::size_t> cut_lengths(std::size_t n) {
    std::vector<std::size_t> out;
    const std::size_t step = std::max<std::size_t>(n / 16, 1);
    for (std::size_t k = 0; k < n; ++k)
        if (n <= 400 || k < 24 || k + 24 >= n || k % step == 0)
            out.push_back(k);
    return out;
}

// The body of a packet with room for a fixed header before it, so that every
// truncation can be framed in place without copying the body again.
struct reframer {
    std::byte first;
    bytes work;
    reframer(std::byte f, bytes_view body) : first(f), work(5 + body.size()) {
        std::copy(body.begin(), body.end(), work.begin() + 5);
    }
    // fixed header (first byte, remaining length k) + the first k bytes of the body
    bytes_view cut(std::size_t k) {
        std::array<std::byte, 5> h{first};
        auto* end = wire::varint::write(static_cast<std::uint32_t>(k), h.data() + 1);
        const auto hl = static_cast<std::size_t>(end - h.data());
        std::copy(h.data(), end, work.data() + 5 - hl);
        return {work.data() + 5 - hl, hl + k};
    }
};

template <class P>
bytes encode_frame(const P& p, protocol_version v) {
    std::vector<std::byte> buffer(header_size(p, v));
    auto r = encode(p, v, buffer);
    if (!r)
        FAIL("encode failed: " << r.error().message());
    bytes out(r->header.begin(), r->header.end());
    out.insert(out.end(), r->payload.begin(), r->payload.end());
    return out;
}

template <class P>
void check_truncations(const bytes& frame, protocol_version v) {
    // (a) prefixes of the frame: the remaining length promises more
    std::size_t bad_prefixes = 0;
    std::string first_bad;
    for (auto k : cut_lengths(frame.size())) {
        const bytes_view cut{frame.data(), k};
        auto r = decode<P>(cut, v);
        auto a = decode_packet(cut, v);
        const bool ok = !r && r.error() == codec_errc::incomplete_packet && !a &&
                        a.error() == codec_errc::incomplete_packet;
        if (!ok) {
            if (bad_prefixes++ == 0)
                first_bad = "prefix of " + std::to_string(k) +
                            " bytes: " + (r ? std::string{"decoded"} : r.error().message());
        }
        ++stats().truncations;
    }
    INFO(first_bad);
    CHECK(bad_prefixes == 0u);

    // (b) the body cut short and given a matching remaining length
    auto h = parse_fixed_header(frame, v);
    REQUIRE(h);
    REQUIRE(*h);
    const auto body = bytes_view{frame}.subspan((*h)->length);
    reframer framer{frame[0], body};
    std::size_t bad_bodies = 0;
    std::string first_bad_body;
    for (auto k : cut_lengths(body.size())) {
        const auto cut = framer.cut(k);
        auto r = decode<P>(cut, v);
        ++stats().truncations;
        std::string problem;
        if (!r) {
            const auto ec = r.error();
            if (&ec.category() != &codec_category())
                problem = "error of a foreign category";
            else if (!truncation_rule(rule_of(ec)))
                stats().truncation_rules.insert(rule_of(ec));
            if (!truncation_rule(rule_of(ec)))
                problem = "unexpected rule: " + ec.message();
        } else {
            // A shorter but valid packet: it must round-trip itself.
            std::vector<std::byte> buffer(header_size(*r, v));
            auto e = encode(*r, v, buffer);
            if (!e) {
                problem = "decoded but does not re-encode: " + e.error().message();
            } else {
                bytes again(e->header.begin(), e->header.end());
                again.insert(again.end(), e->payload.begin(), e->payload.end());
                // (compared as bytes: to_string of 64 KiB strings on every cut is too slow)
                auto r2 = decode<P>(again, v);
                if (!r2 || encode_frame(*r2, v) != again)
                    problem = "re-encoded packet differs";
            }
        }
        if (!problem.empty() && bad_bodies++ == 0)
            first_bad_body = "body cut at " + std::to_string(k) + " of " +
                             std::to_string(body.size()) + ": " + problem;
    }
    INFO(first_bad_body);
    CHECK(bad_bodies == 0u);
}

// The whole round trip of one packet; returns the decoded packet (viewing `frame_out`).
template <class P>
P round_trip(const P& p, protocol_version v, bytes& frame_out) {
    INFO("packet " << to_string(p, v).substr(0, 300));
    ++stats().packets;
    const auto ec = check(p, v);
    INFO("check: " << ec.message());
    REQUIRE_FALSE(ec);

    const auto size = encoded_size(p, v);
    const auto hsize = header_size(p, v);
    // Exactly header_size() bytes are enough, and nothing is written past them.
    std::vector<std::byte> buffer(hsize + 16, guard);
    auto r = encode(p, v, std::span{buffer}.first(hsize));
    if (!r)
        FAIL("encode failed: " << r.error().message());
    CHECK(r->header.size() == hsize);
    CHECK(r->size() == size);
    CHECK(r->header.data() == buffer.data());
    bool guard_intact = true;
    for (std::size_t i = hsize; i < buffer.size(); ++i)
        guard_intact = guard_intact && buffer[i] == guard;
    CHECK(guard_intact);
    frame_out.assign(r->header.begin(), r->header.end());
    frame_out.insert(frame_out.end(), r->payload.begin(), r->payload.end());
    CHECK(frame_out.size() == size);

    auto h = parse_fixed_header(frame_out, v);
    REQUIRE(h);
    REQUIRE(*h);
    CHECK((*h)->type == packet_type_of<P>);
    CHECK((*h)->remaining_length == remaining_length(p, v));
    CHECK((*h)->packet_size() == size);

    // One byte too small.
    if (hsize > 0) {
        std::vector<std::byte> small(hsize - 1);
        auto e = encode(p, v, small);
        REQUIRE_FALSE(e);
        CHECK(e.error() == codec_errc::buffer_too_small);
        CHECK(packet_of(e.error()) == packet_type_of<P>);
    }

    auto d = decode<P>(frame_out, v);
    if (!d)
        FAIL("decode failed: " << d.error().message());
    CHECK(to_string(*d, v) == to_string(p, v));
    CHECK(field_names(*d, v) == field_names(p, v));
    CHECK(encoded_size(*d, v) == size);
    CHECK(encode_frame(*d, v) == frame_out);

    auto any = decode_packet(frame_out, v);
    REQUIRE(any);
    CHECK(any->size == size);
    CHECK(any->packet.index() == static_cast<std::size_t>(packet_type_of<P>) - 1);

    check_truncations<P>(frame_out, v);
    return *d;
}

// encode_append() writes exactly encode()'s bytes (header then payload) after
// what the buffer holds, and refuses a packet above its size limit without
// touching the buffer.
template <class P>
void check_encode_append(const P& p, protocol_version v, const bytes& frame) {
    byte_buffer out;
    const std::byte prefix[] = {std::byte{0xAA}, std::byte{0xBB}};
    out.append(prefix);
    if (auto ec = encode_append(p, v, out)) {
        FAIL("encode_append failed: " << ec.message());
    }
    REQUIRE(out.size() == 2 + frame.size());
    CHECK(out.data()[0] == std::byte{0xAA});
    CHECK(std::equal(frame.begin(), frame.end(), out.data() + 2));
    const auto too_large = std::make_error_code(std::errc::message_size);
    CHECK(encode_append(p, v, out, frame.size() - 1, too_large) == too_large);
    CHECK(out.size() == 2 + frame.size());
    CHECK(encode_append(p, v, out, frame.size()) == std::error_code{});
    CHECK(out.size() == 2 + 2 * frame.size());
}

template <class P>
void round_trip(const P& p, protocol_version v) {
    bytes frame;
    round_trip(p, v, frame);
    check_encode_append(p, v, frame);
}

template <class L>
auto collect(const L& l) {
    std::vector<typename L::value_type> out;
    for (auto e : l)
        out.push_back(e);
    return out;
}

bool same_bytes(bytes_view a, bytes_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// Every value a packet of type P may carry as its reason code.
template <packet_type P>
std::vector<basic_reason_code<P>> reason_codes_of() {
    std::vector<basic_reason_code<P>> out;
    for (unsigned v = 0; v < 256; ++v)
        if (auto c = basic_reason_code<P>::from_value(static_cast<std::uint8_t>(v)))
            out.push_back(*c);
    return out;
}

const string_pair user_props[] = {{"", ""}, {"name", "value"}, {"k", "v"}, {"ä", "€"}};

} // namespace

// ------------------------------------------------------------------ CONNECT

TEST_CASE("round trip: CONNECT, every version, flags, will, credentials, properties",
          "[round_trip][connect]") {
    const std::string& big = text(65535, 'c');
    const std::string& payload300 = text(300, 'p');
    const std::string& big_password = text(65535, 'w');
    unsigned counter = 0;
    for (auto v : all_versions) {
        for (int will_kind = 0; will_kind < 7; ++will_kind) { // none, QoS 0..2 x retain
            for (int user = 0; user < 3; ++user) {            // none, "", "user"
                for (int pass = 0; pass < 3; ++pass) {        // none, empty, "pw"
                    for (bool clean : {true, false}) {
                        ++counter;
                        connect c;
                        c.version = v;
                        c.clean_start = clean;
                        c.keep_alive = counter % 2 ? std::uint16_t{0} : std::uint16_t{65535};
                        if (v == v31)
                            c.client_id = counter % 3 ? "a"sv : "client-id-with-23-bytes"sv;
                        else if (counter % 5 == 0)
                            c.client_id = big;
                        else if (counter % 5 == 1 && (clean || v == v5))
                            c.client_id = ""sv;
                        else
                            c.client_id = "id"sv;
                        if (will_kind > 0) {
                            c.will.emplace();
                            c.will->qos = static_cast<qos>((will_kind - 1) / 2);
                            c.will->retain = (will_kind - 1) % 2 == 1;
                            c.will->topic = counter % 4 ? "w/t"sv : std::string_view{big};
                            c.will->payload = counter % 3 ? as_bytes(payload300) : bytes_view{};
                        }
                        if (user == 1)
                            c.user_name = ""sv;
                        if (user == 2)
                            c.user_name = "user"sv;
                        if (pass == 1)
                            c.password = bytes_view{};
                        if (pass == 2)
                            c.password = counter % 7 ? as_bytes("pw") : as_bytes(big_password);
                        if (v != v5 && c.password && !c.user_name) {
                            // 3.1/3.1.1: a password needs a user name [MQTT-3.1.2-22]
                            CHECK(check(c, v) == codec_errc::password_without_user_name);
                            continue;
                        }
                        if (v == v5) {
                            switch (counter % 3) {
                            case 0: break;
                            case 1:
                                c.properties
                                    .set<property_id::session_expiry_interval>(
                                        std::uint32_t{0xFFFFFFFF})
                                    .set<property_id::receive_maximum>(std::uint16_t{65535});
                                break;
                            case 2:
                                c.properties
                                    .set<property_id::session_expiry_interval>(std::uint32_t{0})
                                    .set<property_id::authentication_method>(""sv)
                                    .set<property_id::authentication_data>(as_bytes(big_password))
                                    .set<property_id::request_problem_information>(std::uint8_t{1})
                                    .set<property_id::request_response_information>(std::uint8_t{0})
                                    .set<property_id::receive_maximum>(std::uint16_t{1})
                                    .set<property_id::topic_alias_maximum>(std::uint16_t{0})
                                    .set<property_id::user_property>(
                                        std::span{user_props}.first(counter % 5))
                                    .set<property_id::maximum_packet_size>(std::uint32_t{1});
                                break;
                            }
                            if (c.will && counter % 2 == 0) {
                                c.will->properties
                                    .set<property_id::payload_format_indicator>(std::uint8_t{0})
                                    .set<property_id::message_expiry_interval>(std::uint32_t{1})
                                    .set<property_id::content_type>(""sv)
                                    .set<property_id::response_topic>("r"sv)
                                    .set<property_id::correlation_data>(bytes_view{})
                                    .set<property_id::will_delay_interval>(
                                        std::uint32_t{0xFFFFFFFF})
                                    .set<property_id::user_property>(user_props);
                            }
                        }
                        bytes frame;
                        auto d = round_trip(c, v, frame);
                        CHECK(d.version == v);
                        CHECK(d.client_id == c.client_id);
                        CHECK(d.will.has_value() == c.will.has_value());
                        if (d.will && c.will) {
                            CHECK(d.will->topic == c.will->topic);
                            CHECK(same_bytes(d.will->payload, c.will->payload));
                            CHECK(d.will->qos == c.will->qos);
                            CHECK(d.will->retain == c.will->retain);
                        }
                        CHECK(d.user_name == c.user_name);
                        CHECK(d.password.has_value() == c.password.has_value());
                        if (d.password && c.password)
                            CHECK(same_bytes(*d.password, *c.password));
                        if (v == v5 && c.properties.get<property_id::authentication_data>()) {
                            REQUIRE(d.properties.get<property_id::authentication_data>());
                            CHECK(
                                same_bytes(*d.properties.get<property_id::authentication_data>(),
                                           *c.properties.get<property_id::authentication_data>()));
                        }
                    }
                }
            }
        }
    }
}

TEST_CASE("round trip: CONNECT version-specific refusals", "[round_trip][connect]") {
    connect c;
    c.client_id = "";
    c.version = v31;
    CHECK(check(c, v31) == codec_errc::client_identifier_length);
    c.client_id = text(24, 'x');
    CHECK(check(c, v31) == codec_errc::client_identifier_length);
    c.version = v311;
    c.client_id = "";
    c.clean_start = false;
    CHECK(check(c, v311) == codec_errc::empty_client_id_without_clean_session);
    c.version = v5;
    CHECK_FALSE(check(c, v5)); // 5.0 allows it (the server may refuse)
    c.version = v311;
    c.client_id = "x";
    c.properties.set<property_id::session_expiry_interval>(std::uint32_t{1});
    CHECK(check(c, v311) == codec_errc::requires_v5);
    connect w;
    w.version = v311;
    w.client_id = "x";
    w.will.emplace();
    w.will->topic = "t";
    w.will->properties.set<property_id::will_delay_interval>(std::uint32_t{1});
    CHECK(check(w, v311) == codec_errc::requires_v5);
    w.will->properties = {};
    w.will->topic = "t/#";
    CHECK(check(w, v311) == codec_errc::topic_name_wildcard);
    w.will->topic = "";
    CHECK(check(w, v311) == codec_errc::topic_name_empty);
    w.will->topic = "t";
    w.will->qos = static_cast<qos>(3);
    CHECK(check(w, v311) == codec_errc::will_qos_invalid);
}

// ------------------------------------------------------------------ CONNACK

TEST_CASE("round trip: CONNACK", "[round_trip][connack]") {
    for (auto v : {v31, v311}) {
        for (unsigned rc = 0; rc <= 5; ++rc) {
            for (bool sp : {false, true}) {
                connack a;
                a.return_code = static_cast<connect_return_code>(rc);
                a.session_present = sp;
                if (sp && rc != 0) {
                    CHECK(check(a, v) == codec_errc::session_present_on_refusal);
                    continue;
                }
                auto d = [&] {
                    bytes f;
                    auto x = round_trip(a, v, f);
                    return x.return_code;
                }();
                CHECK(d == a.return_code);
            }
        }
        connack bad;
        bad.return_code = static_cast<connect_return_code>(6);
        CHECK(check(bad, v) == codec_errc::return_code_reserved);
    }
    const std::string& big = text(65535, 'r');
    unsigned counter = 0;
    for (auto code : reason_codes_of<packet_type::connack>()) {
        for (int props = 0; props < 3; ++props) {
            ++counter;
            connack a;
            a.reason_code = code;
            a.session_present = !code.is_error() && counter % 2 == 0;
            if (props == 1)
                a.properties.set<property_id::reason_string>(counter % 2 ? ""sv
                                                                         : std::string_view{big});
            if (props == 2) {
                a.properties.set<property_id::session_expiry_interval>(std::uint32_t{7})
                    .set<property_id::assigned_client_identifier>("auto-1"sv)
                    .set<property_id::server_keep_alive>(std::uint16_t{0})
                    .set<property_id::authentication_method>("m"sv)
                    .set<property_id::authentication_data>(bytes_view{})
                    .set<property_id::response_information>("ri"sv)
                    .set<property_id::server_reference>("s"sv)
                    .set<property_id::reason_string>("why"sv)
                    .set<property_id::receive_maximum>(std::uint16_t{65535})
                    .set<property_id::topic_alias_maximum>(std::uint16_t{65535})
                    .set<property_id::maximum_qos>(std::uint8_t{0})
                    .set<property_id::retain_available>(std::uint8_t{1})
                    .set<property_id::user_property>(std::span{user_props}.first(counter % 5))
                    .set<property_id::maximum_packet_size>(std::uint32_t{268435460})
                    .set<property_id::wildcard_subscription_available>(std::uint8_t{0})
                    .set<property_id::subscription_identifier_available>(std::uint8_t{1})
                    .set<property_id::shared_subscription_available>(std::uint8_t{0});
            }
            bytes f;
            auto d = round_trip(a, v5, f);
            CHECK(d.reason_code == a.reason_code);
            CHECK(d.session_present == a.session_present);
        }
    }
    // a 5.0 reason code in 3.1.1 / a non-zero 3.1.1 return code in 5.0
    connack r5;
    r5.reason_code = reason::banned;
    CHECK(check(r5, v311) == codec_errc::requires_v5);
}

// ------------------------------------------------------------------ PUBLISH

TEST_CASE("round trip: PUBLISH, QoS x flags x topics x payloads x properties",
          "[round_trip][publish]") {
    const std::string& big_topic = text(65535, 't');
    const std::string& big_value = text(65535, 'u');
    const std::size_t payload_sizes[] = {0, 1, 127, 128, 1000, 16384, 70000};
    const std::string& payload_source = text(70000, 'P');
    const std::uint32_t sub_ids[] = {1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455};
    const string_pair big_pairs[] = {{big_value, ""}, {"", big_value}};
    unsigned counter = 0;
    for (auto v : all_versions) {
        for (unsigned q = 0; q < 3; ++q) {
            for (bool retain : {false, true}) {
                for (bool dup : {false, true}) {
                    if (dup && q == 0)
                        continue;
                    for (std::string_view topic :
                         {"a"sv, "a/b/c"sv, "/"sv, "ä/€/𝄞"sv, std::string_view{big_topic}}) {
                        for (auto n : payload_sizes) {
                            if (topic.size() == big_topic.size() && n != 0 && n != 128)
                                continue;
                            const int prop_kinds = v == v5 ? 5 : 1;
                            for (int props = 0; props < prop_kinds; ++props) {
                                if (props == 3 && n != 0 && n != 1000)
                                    continue; // 128 KiB of user property
                                if ((props == 1 || props == 4) && n > 128)
                                    continue;
                                ++counter;
                                publish p;
                                p.topic = topic;
                                p.qos = static_cast<qos>(q);
                                p.retain = retain;
                                p.dup = dup;
                                p.packet_id =
                                    q == 0 ? std::uint16_t{0}
                                           : static_cast<std::uint16_t>(counter % 2 ? 1 : 65535);
                                p.payload = as_bytes(payload_source).first(n);
                                switch (props) {
                                case 1: // topic alias instead of a topic
                                    p.topic = counter % 2 ? ""sv : topic;
                                    p.properties.set<property_id::topic_alias>(
                                        std::uint16_t{65535});
                                    break;
                                case 2:
                                    p.properties
                                        .set<property_id::payload_format_indicator>(std::uint8_t{1})
                                        .set<property_id::message_expiry_interval>(std::uint32_t{0})
                                        .set<property_id::content_type>(""sv)
                                        .set<property_id::response_topic>("resp/t"sv)
                                        .set<property_id::correlation_data>(as_bytes("id-1"))
                                        .set<property_id::subscription_identifier>(
                                            std::span{sub_ids}.first(counter % 9))
                                        .set<property_id::topic_alias>(std::uint16_t{1})
                                        .set<property_id::user_property>(
                                            std::span{user_props}.first(counter % 5));
                                    break;
                                case 3:
                                    p.properties.set<property_id::user_property>(big_pairs);
                                    break;
                                case 4:
                                    p.properties.set<property_id::subscription_identifier>(sub_ids);
                                    break;
                                default: break;
                                }
                                bytes frame;
                                auto d = round_trip(p, v, frame);
                                CHECK(d.topic == p.topic);
                                CHECK(same_bytes(d.payload, p.payload));
                                CHECK(d.payload.data() ==
                                      frame.data() + (frame.size() - n)); // a view into the input
                                CHECK(
                                    collect(
                                        d.properties.get<property_id::subscription_identifier>()) ==
                                    collect(
                                        p.properties.get<property_id::subscription_identifier>()));
                                CHECK(collect(d.properties.get<property_id::user_property>()) ==
                                      collect(p.properties.get<property_id::user_property>()));
                            }
                        }
                    }
                }
            }
        }
    }
}

TEST_CASE("round trip: PUBLISH refusals on encode", "[round_trip][publish]") {
    publish p;
    p.topic = "a";
    p.dup = true;
    CHECK(check(p, v311) == codec_errc::dup_on_qos_0);
    p.dup = false;
    p.qos = qos::at_least_once;
    CHECK(check(p, v311) == codec_errc::packet_id_zero);
    p.qos = static_cast<qos>(3);
    p.packet_id = 1;
    CHECK(check(p, v311) == codec_errc::publish_qos_invalid);
    p.qos = qos::at_most_once;
    p.properties.set<property_id::topic_alias>(std::uint16_t{0});
    CHECK(check(p, v5) == codec_errc::property_value);
    CHECK(check(p, v311) == codec_errc::requires_v5);
    p.properties = {};
    const std::uint32_t bad_ids[] = {1, 268435456};
    p.properties.set<property_id::subscription_identifier>(bad_ids);
    CHECK(check(p, v5) == codec_errc::value_too_large);
    const std::uint32_t zero_id[] = {0};
    p.properties.set<property_id::subscription_identifier>(zero_id);
    CHECK(check(p, v5) == codec_errc::property_value);
    p.properties = {};
    p.properties.set<property_id::payload_format_indicator>(std::uint8_t{2});
    CHECK(check(p, v5) == codec_errc::property_value);
    // QoS 0 with a packet identifier: the identifier is simply not sent
    publish q;
    q.topic = "a";
    q.packet_id = 5;
    std::array<std::byte, 16> buf{};
    auto r = encode(q, v311, buf);
    REQUIRE(r);
    CHECK(r->header.size() == 5u);
}

// ------------------------------------------------------------------ PUBACK, PUBREC, PUBREL,
// PUBCOMP

namespace {
template <packet_type T>
void ack_round_trips() {
    using A = basic_publish_ack<T>;
    const std::string& big = text(65535, 's');
    unsigned counter = 0;
    for (auto v : all_versions) {
        for (std::uint16_t id : {std::uint16_t{1}, std::uint16_t{0x8000}, std::uint16_t{0xFFFF}}) {
            const auto codes = v == v5 ? reason_codes_of<T>()
                                       : std::vector<basic_reason_code<T>>{basic_reason_code<T>{}};
            for (auto code : codes) {
                const int prop_kinds = v == v5 ? 4 : 1;
                for (int props = 0; props < prop_kinds; ++props) {
                    ++counter;
                    A a;
                    a.packet_id = id;
                    a.reason_code = code;
                    if (props == 1)
                        a.properties.template set<property_id::reason_string>(""sv);
                    if (props == 2)
                        a.properties.template set<property_id::reason_string>(
                            std::string_view{big});
                    if (props == 3)
                        a.properties.template set<property_id::user_property>(
                            std::span{user_props}.first(1 + counter % 4));
                    bytes frame;
                    auto d = round_trip(a, v, frame);
                    CHECK(d.packet_id == id);
                    CHECK(d.reason_code == code);
                    // MQTT 5 short forms (§3.4.2.1): RL 2 for Success without properties, 3 without
                    // properties
                    if (v == v5 && props == 0)
                        CHECK(remaining_length(a, v) == (code.value() == 0 ? 2u : 3u));
                    if (v != v5)
                        CHECK(frame.size() == 4u);
                }
            }
        }
        A zero;
        CHECK(check(zero, v) == codec_errc::packet_id_zero);
    }
}
} // namespace

TEST_CASE("round trip: PUBACK/PUBREC/PUBREL/PUBCOMP with every reason code", "[round_trip][ack]") {
    ack_round_trips<packet_type::puback>();
    ack_round_trips<packet_type::pubrec>();
    ack_round_trips<packet_type::pubrel>();
    ack_round_trips<packet_type::pubcomp>();
}

// ------------------------------------------------------------------ SUBSCRIBE / SUBACK

TEST_CASE("round trip: SUBSCRIBE with list lengths 1..6 and every option",
          "[round_trip][subscribe]") {
    const std::string& big_filter = text(65535, 'f');
    const std::string_view filters[] = {"a", "a/+/b", "#", "+", "+/+/#", "", "$SYS/#", "/"};
    unsigned counter = 0;
    for (auto v : all_versions) {
        for (std::size_t n = 1; n <= 6; ++n) {
            for (int variant = 0; variant < 6; ++variant) {
                std::vector<subscription> subs;
                for (std::size_t i = 0; i < n; ++i) {
                    ++counter;
                    subscription s;
                    s.topic_filter = filters[(i + static_cast<std::size_t>(variant)) % 8];
                    if (s.topic_filter.empty())
                        s.topic_filter = variant % 2 ? std::string_view{big_filter} : "x"sv;
                    if (v == v5 && variant == 5 && i == 0)
                        s.topic_filter = "$share/group/a/#";
                    s.max_qos = static_cast<qos>(counter % 3);
                    if (v == v5) {
                        s.no_local =
                            (counter / 3) % 2 == 1 && !is_shared_subscription(s.topic_filter);
                        s.retain_as_published = (counter / 6) % 2 == 1;
                        s.retain_handling = static_cast<retain_handling>((counter / 12) % 3);
                    }
                    subs.push_back(s);
                }
                subscribe p;
                p.packet_id = static_cast<std::uint16_t>(1 + counter % 65535);
                p.subscriptions = std::span<const subscription>{subs};
                if (v == v5 && variant % 3 == 1)
                    p.properties.set<property_id::subscription_identifier>(
                        variant == 1 ? 1u : 268435455u);
                if (v == v5 && variant % 3 == 2)
                    p.properties.set<property_id::user_property>(
                        std::span{user_props}.first(static_cast<std::size_t>(variant) % 5));
                bytes frame;
                auto d = round_trip(p, v, frame);
                auto got = collect(d.subscriptions);
                REQUIRE(got.size() == subs.size());
                for (std::size_t i = 0; i < subs.size(); ++i) {
                    CHECK(got[i].topic_filter == subs[i].topic_filter);
                    CHECK(got[i].max_qos == subs[i].max_qos);
                    CHECK(got[i].no_local == subs[i].no_local);
                    CHECK(got[i].retain_as_published == subs[i].retain_as_published);
                    CHECK(got[i].retain_handling == subs[i].retain_handling);
                }
                CHECK(d.properties.get<property_id::subscription_identifier>() ==
                      p.properties.get<property_id::subscription_identifier>());
            }
        }
    }
}

TEST_CASE("round trip: SUBSCRIBE refusals on encode", "[round_trip][subscribe]") {
    subscribe p;
    p.packet_id = 1;
    CHECK(check(p, v311) == codec_errc::no_topic_filters);
    subscription s[] = {{"a", qos::at_least_once}};
    p.subscriptions = s;
    s[0].no_local = true;
    CHECK(check(p, v311) == codec_errc::requires_v5);
    CHECK_FALSE(check(p, v5));
    s[0].no_local = false;
    s[0].retain_handling = static_cast<retain_handling>(3);
    CHECK(check(p, v5) == codec_errc::retain_handling_invalid);
    s[0].retain_handling = retain_handling::send_on_subscribe;
    s[0].max_qos = static_cast<qos>(3);
    CHECK(check(p, v5) == codec_errc::subscription_qos_invalid);
    s[0].max_qos = qos::at_most_once;
    s[0].topic_filter = "$share/g/a";
    s[0].no_local = true;
    CHECK(check(p, v5) == codec_errc::no_local_on_shared_subscription);
    s[0].no_local = false;
    s[0].topic_filter = "a/#/b";
    CHECK(check(p, v5) == codec_errc::topic_filter_multi_level_wildcard);
    p.properties.set<property_id::subscription_identifier>(0u);
    s[0].topic_filter = "a";
    CHECK(check(p, v5) == codec_errc::property_value);
    // "$share/g" is not a valid shared subscription in 5.0 but an ordinary filter in 3.1.1
    subscribe q;
    q.packet_id = 1;
    const subscription sh[] = {{"$share/g"}};
    q.subscriptions = sh;
    CHECK(check(q, v5) == codec_errc::shared_subscription_invalid);
    CHECK_FALSE(check(q, v311));
}

TEST_CASE("round trip: SUBACK with list lengths 1..12", "[round_trip][suback]") {
    const auto all5 = reason_codes_of<packet_type::suback>();
    for (auto v : all_versions) {
        std::vector<suback_reason_code> allowed;
        if (v == v5)
            allowed = all5;
        else {
            for (std::uint8_t c :
                 {std::uint8_t{0x00}, std::uint8_t{0x01}, std::uint8_t{0x02}, std::uint8_t{0x80}})
                if (c != 0x80 || v == v311)
                    allowed.push_back(*suback_reason_code::from_value(c));
        }
        for (std::size_t n = 1; n <= 12; ++n) {
            for (int props = 0; props < (v == v5 ? 3 : 1); ++props) {
                std::vector<suback_reason_code> codes;
                for (std::size_t i = 0; i < n; ++i)
                    codes.push_back(allowed[(i * 7 + n) % allowed.size()]);
                suback a;
                a.packet_id = static_cast<std::uint16_t>(n);
                a.reason_codes = std::span<const suback_reason_code>{codes};
                if (props == 1)
                    a.properties.set<property_id::reason_string>("r"sv);
                if (props == 2)
                    a.properties.set<property_id::user_property>(user_props);
                bytes frame;
                auto d = round_trip(a, v, frame);
                auto got = collect(d.reason_codes);
                REQUIRE(got.size() == n);
                for (std::size_t i = 0; i < n; ++i)
                    CHECK(got[i] == codes[i]);
            }
        }
    }
}

// ------------------------------------------------------------------ UNSUBSCRIBE / UNSUBACK

TEST_CASE("round trip: UNSUBSCRIBE and UNSUBACK with list lengths", "[round_trip][unsubscribe]") {
    const std::string& big_filter = text(65535, 'g');
    const std::string_view pool[] = {"a", "#", "a/+", "$share/g/x/#", "ü/+/#", "+"};
    for (auto v : all_versions) {
        for (std::size_t n = 1; n <= 6; ++n) {
            std::vector<std::string_view> filters;
            for (std::size_t i = 0; i < n; ++i)
                filters.push_back(pool[(i + n) % 6]);
            if (n == 6)
                filters.back() = big_filter;
            unsubscribe u;
            u.packet_id = static_cast<std::uint16_t>(0xFFFF - n);
            u.topic_filters = std::span<const std::string_view>{filters};
            if (v == v5 && n % 2 == 0)
                u.properties.set<property_id::user_property>(std::span{user_props}.first(n % 5));
            bytes frame;
            auto d = round_trip(u, v, frame);
            CHECK(collect(d.topic_filters) == filters);
        }
        unsubscribe empty;
        empty.packet_id = 1;
        CHECK(check(empty, v) == codec_errc::no_topic_filters);
    }
    for (auto v : {v31, v311}) {
        unsuback a;
        a.packet_id = 0xFFFF;
        bytes frame;
        round_trip(a, v, frame);
        CHECK(frame.size() == 4u);
    }
    const auto all = reason_codes_of<packet_type::unsuback>();
    REQUIRE(all.size() == 7u);
    for (std::size_t n = 1; n <= 9; ++n) {
        std::vector<unsuback_reason_code> codes;
        for (std::size_t i = 0; i < n; ++i)
            codes.push_back(all[(i + n) % all.size()]);
        unsuback a;
        a.packet_id = static_cast<std::uint16_t>(n);
        a.reason_codes = std::span<const unsuback_reason_code>{codes};
        if (n % 3 == 0)
            a.properties.set<property_id::reason_string>("r"sv);
        if (n % 3 == 1)
            a.properties.set<property_id::user_property>(std::span{user_props}.first(n % 5));
        bytes frame;
        auto d = round_trip(a, v5, frame);
        CHECK(collect(d.reason_codes) == codes);
    }
}

// ------------------------------------------------------------------ PINGREQ, PINGRESP, DISCONNECT,
// AUTH

TEST_CASE("round trip: PINGREQ, PINGRESP", "[round_trip][ping]") {
    for (auto v : all_versions) {
        round_trip(pingreq{}, v);
        round_trip(pingresp{}, v);
        CHECK(encoded_size(pingreq{}, v) == 2u);
    }
}

TEST_CASE("round trip: DISCONNECT with every reason code", "[round_trip][disconnect]") {
    for (auto v : {v31, v311}) {
        bytes frame;
        round_trip(disconnect{}, v, frame);
        CHECK(frame.size() == 2u);
    }
    const std::string& big = text(65535, 'd');
    for (auto code : reason_codes_of<packet_type::disconnect>()) {
        for (int props = 0; props < 4; ++props) {
            disconnect d;
            d.reason_code = code;
            if (props == 1)
                d.properties.set<property_id::session_expiry_interval>(std::uint32_t{0xFFFFFFFF});
            if (props == 2)
                d.properties.set<property_id::reason_string>(std::string_view{big})
                    .set<property_id::server_reference>(""sv);
            if (props == 3)
                d.properties.set<property_id::user_property>(user_props);
            bytes frame;
            auto back = round_trip(d, v5, frame);
            CHECK(back.reason_code == code);
            if (props == 0)
                CHECK(remaining_length(d, v5) == (code.value() == 0 ? 0u : 1u));
        }
    }
}

TEST_CASE("round trip: AUTH", "[round_trip][auth]") {
    const std::string& big = text(65535, 'a');
    for (auto code : reason_codes_of<packet_type::auth>()) {
        for (int props = 0; props < 4; ++props) {
            auth a;
            a.reason_code = code;
            if (props == 1)
                a.properties.set<property_id::authentication_method>("SCRAM-SHA-256"sv);
            if (props == 2)
                a.properties.set<property_id::authentication_method>(""sv)
                    .set<property_id::authentication_data>(as_bytes(big))
                    .set<property_id::reason_string>(std::string_view{big});
            if (props == 3)
                a.properties.set<property_id::user_property>(user_props);
            bytes frame;
            auto back = round_trip(a, v5, frame);
            CHECK(back.reason_code == code);
            if (props == 2) {
                REQUIRE(back.properties.get<property_id::authentication_data>());
                CHECK(same_bytes(*back.properties.get<property_id::authentication_data>(),
                                 as_bytes(big)));
            }
        }
    }
    REQUIRE(reason_codes_of<packet_type::auth>().size() == 3u);
}

// ------------------------------------------------------------------ limits

TEST_CASE("round trip: strings and binary data longer than 65,535 bytes are refused",
          "[round_trip][limits]") {
    const std::string& too_long = text(65536, 'L');
    publish p;
    p.topic = too_long;
    CHECK(check(p, v311) == codec_errc::string_too_long);
    publish q;
    q.topic = "t";
    q.properties.set<property_id::correlation_data>(as_bytes(too_long));
    CHECK(check(q, v5) == codec_errc::string_too_long);
    const string_pair big_pair[] = {{"n", too_long}};
    publish r;
    r.topic = "t";
    r.properties.set<property_id::user_property>(big_pair);
    CHECK(check(r, v5) == codec_errc::string_too_long);
    connect c;
    c.version = v311;
    c.client_id = too_long;
    CHECK(check(c, v311) == codec_errc::string_too_long);
    c.client_id = "x";
    c.password = as_bytes(too_long);
    c.user_name = "u";
    CHECK(check(c, v311) == codec_errc::string_too_long);
    std::array<std::byte, 64> buf{};
    auto e = encode(p, v311, buf);
    REQUIRE_FALSE(e);
    CHECK(e.error() == codec_errc::string_too_long);
    // A payload is not a length-prefixed field: 70,000 bytes are fine (checked above).
}

TEST_CASE("round trip: summary of the truncation runs", "[round_trip]") {
    // Runs after the other round-trip tests when the whole binary runs (test
    // cases run in declaration order); alone, it has nothing to check.
    INFO("packets " << stats().packets << ", truncations " << stats().truncations);
    std::string unexpected;
    for (auto r : stats().truncation_rules)
        unexpected += rule_message(r) + "; ";
    INFO("rules outside the truncation set: " << unexpected);
    CHECK(stats().truncation_rules.empty());
}
