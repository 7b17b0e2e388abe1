// ctmqtt_diff_driver: the ctmqtt side of the differential test against the
// mqtt-packet npm package (tests/differential/run.js drives it).
//
// Protocol, one line per packet on stdin:
//     <version> <hex of one whole packet>        version: 3, 4 or 5
// and one line of JSON per input line on stdout:
//     {"error": "<message>"}
// or
//     {"fields": {...}, "reencoded": "<hex>"}
// where "fields" is the packet as visit_fields() reports it, turned into JSON
// generically (field names are ctmqtt's), and "reencoded" is ctmqtt's own
// encoding of the decoded packet (header and payload joined).
//
// Value mapping: bool -> true/false; integers, QoS, retain handling, return
// and reason codes -> numbers; UTF-8 strings -> JSON strings; binary data ->
// lowercase hex strings; a string pair -> [name, value]; a property set ->
// an object keyed by the property's name in snake case ("User Property" ->
// "user_property"), a property that may repeat in that packet as an array of
// its values; a list (subscriptions, topic filters, reason codes) -> an array,
// a subscription as an object of its fields (visit_entry).
//
// One normalisation: MQTT 5 lets PUBACK, PUBREC, PUBREL, PUBCOMP, DISCONNECT
// and AUTH leave out a trailing reason code of 0 and an empty property set;
// visit_fields then does not report them, and the driver reports the values
// they stand for (reason_code 0, properties {}), so that the canonical fields
// do not depend on which of the equivalent wire forms was decoded.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <ctmqtt/ctmqtt.hpp>

namespace {

using namespace ctmqtt;

template <class T>
struct is_reason_code : std::false_type {};
template <packet_type P>
struct is_reason_code<basic_reason_code<P>> : std::true_type {};

template <class T>
struct is_property_set : std::false_type {};
template <property_scope S>
struct is_property_set<property_set<S>> : std::true_type {};

template <class T>
struct is_list_view : std::false_type {};
template <class T, class C>
struct is_list_view<list_view<T, C>> : std::true_type {};

constexpr char hex_digits[] = "0123456789abcdef";

void append_hex(std::string& out, bytes_view b) {
    for (auto x : b) {
        const auto c = static_cast<unsigned>(x);
        out += hex_digits[c >> 4];
        out += hex_digits[c & 0x0F];
    }
}

// A JSON string. The input is UTF-8 (the decoder validated it), so bytes of
// 0x80 and above pass through; '"', '\\' and control characters are escaped.
void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (ch) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) {
                out += "\\u00";
                out += hex_digits[c >> 4];
                out += hex_digits[c & 0x0F];
            } else {
                out += ch;
            }
        }
    }
    out += '"';
}

// "Maximum QoS" -> "maximum_qos".
std::string snake_case(std::string_view name) {
    std::string out;
    for (char ch : name) {
        if (ch == ' ' || ch == '-')
            out += '_';
        else if (ch >= 'A' && ch <= 'Z')
            out += static_cast<char>(ch - 'A' + 'a');
        else
            out += ch;
    }
    return out;
}

template <class V>
void append_value(std::string& out, const V& v, protocol_version version);

template <property_scope S>
void append_properties(std::string& out, const property_set<S>& set, protocol_version version) {
    // for_each visits the properties in table order, every value of a
    // repeated property one after the other.
    out += '{';
    bool first = true;
    bool in_array = false;
    property_id open{};
    set.for_each([&](property_id id, const auto& value) {
        const bool repeats = property_repeats(S, id);
        if (in_array && id != open) {
            out += ']';
            in_array = false;
        }
        if (!(in_array && id == open)) {
            if (!first)
                out += ',';
            first = false;
            append_json_string(out, snake_case(to_string(id)));
            out += ':';
            if (repeats) {
                out += '[';
                in_array = true;
                open = id;
            }
        } else {
            out += ',';
        }
        append_value(out, value, version);
    });
    if (in_array)
        out += ']';
    out += '}';
}

template <class V>
void append_value(std::string& out, const V& v, protocol_version version) {
    if constexpr (std::is_same_v<V, bool>) {
        out += v ? "true" : "false";
    } else if constexpr (std::is_same_v<V, qos> || std::is_same_v<V, retain_handling> ||
                         std::is_same_v<V, connect_return_code>) {
        out += std::to_string(static_cast<unsigned>(v));
    } else if constexpr (std::is_integral_v<V>) {
        out += std::to_string(static_cast<unsigned long>(v));
    } else if constexpr (std::is_convertible_v<V, std::string_view>) {
        append_json_string(out, v);
    } else if constexpr (std::is_same_v<V, bytes_view>) {
        out += '"';
        append_hex(out, v);
        out += '"';
    } else if constexpr (std::is_same_v<V, string_pair>) {
        out += '[';
        append_json_string(out, v.name);
        out += ',';
        append_json_string(out, v.value);
        out += ']';
    } else if constexpr (is_reason_code<V>::value) {
        out += std::to_string(static_cast<unsigned>(v.value()));
    } else if constexpr (is_property_set<V>::value) {
        append_properties(out, v, version);
    } else if constexpr (is_list_view<V>::value) {
        out += '[';
        bool first = true;
        for (const auto& e : v) {
            if (!first)
                out += ',';
            first = false;
            if constexpr (std::is_same_v<typename V::value_type, subscription>) {
                out += '{';
                bool first_field = true;
                visit_entry(e, version, [&](std::string_view name, const auto& value) {
                    if (!first_field)
                        out += ',';
                    first_field = false;
                    append_json_string(out, name);
                    out += ':';
                    append_value(out, value, version);
                });
                out += '}';
            } else {
                append_value(out, e, version);
            }
        }
        out += ']';
    } else {
        static_assert(sizeof(V) == 0, "no JSON form for this field type");
    }
}

template <packet P>
void append_fields(std::string& out, const P& p, protocol_version v) {
    out += '{';
    bool first = true;
    bool saw_reason_code = false;
    bool saw_properties = false;
    auto field = [&](std::string_view name, const auto& value) {
        if (!first)
            out += ',';
        first = false;
        append_json_string(out, name);
        out += ':';
        append_value(out, value, v);
    };
    visit_fields(p, v, [&](std::string_view name, const auto& value) {
        saw_reason_code = saw_reason_code || name == "reason_code";
        saw_properties = saw_properties || name == "properties";
        field(name, value);
    });
    // The MQTT 5 short forms (see the comment at the top).
    if constexpr (requires {
                      p.reason_code;
                      p.properties;
                  } &&
                  !std::is_same_v<P, connack>) {
        if (v == protocol_version::v5) {
            if (!saw_reason_code)
                field("reason_code", p.reason_code);
            if (!saw_properties)
                field("properties", p.properties);
        }
    }
    out += '}';
}

template <packet P>
void append_reencoded(std::string& out, const P& p, protocol_version v) {
    std::vector<std::byte> buffer(header_size(p, v));
    auto encoded = encode(p, v, buffer);
    if (!encoded) {
        out += "{\"error\":";
        append_json_string(out, "re-encoding failed: " + encoded.error().message());
        out += '}';
        return;
    }
    out += "{\"fields\":";
    append_fields(out, p, v);
    out += ",\"reencoded\":\"";
    append_hex(out, encoded->header);
    append_hex(out, encoded->payload);
    out += "\"}";
}

int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void error_line(std::string& out, std::string_view message) {
    out += "{\"error\":";
    append_json_string(out, message);
    out += "}\n";
}

void process_line(std::string_view line, std::string& out) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
        line.remove_suffix(1);
    const auto space = line.find(' ');
    if (space == std::string_view::npos || space != 1 || line[0] < '3' || line[0] > '5') {
        error_line(out, "driver: expected '<version 3|4|5> <hex>'");
        return;
    }
    const auto version = static_cast<protocol_version>(line[0] - '0');
    const auto hex = line.substr(space + 1);
    if (hex.size() % 2 != 0) {
        error_line(out, "driver: odd number of hex digits");
        return;
    }
    std::vector<std::byte> bytes(hex.size() / 2);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        const int hi = hex_value(hex[2 * i]);
        const int lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            error_line(out, "driver: not a hex digit");
            return;
        }
        bytes[i] = static_cast<std::byte>(hi * 16 + lo);
    }
    auto decoded = decode_packet(bytes, version);
    if (!decoded) {
        error_line(out, decoded.error().message());
        return;
    }
    if (decoded->size != bytes.size()) {
        error_line(out, "driver: " + std::to_string(bytes.size() - decoded->size) +
                            " bytes after the packet");
        return;
    }
    std::visit([&](const auto& p) { append_reencoded(out, p, version); }, decoded->packet);
    out += '\n';
}

} // namespace

int main() {
    std::ios::sync_with_stdio(false);
    std::string line;
    std::string out;
    while (std::getline(std::cin, line)) {
        if (line.empty())
            continue;
        process_line(line, out);
        if (out.size() > (1u << 16)) {
            std::fwrite(out.data(), 1, out.size(), stdout);
            out.clear();
        }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    return 0;
}
