// Human-readable text of packets, generated from the same descriptions as the
// codec: to_string(packet, version) lists every field present in that version.
//   PUBLISH v5.0 retain=false qos=1 dup=false topic="a/b" packet_id=7 properties={Topic Alias=3}
//   payload=(5 bytes) "hello"
// For logs, tools and tests; it allocates, the codec does not.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>

#include <ctmqtt/core/codec.hpp>

namespace ctmqtt {

namespace detail {

inline void append_quoted(std::string& out, std::string_view s) {
    out += '"';
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20 || c == 0x7F) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        } else {
            out += ch;
        }
    }
    out += '"';
}

inline void append_bytes(std::string& out, bytes_view b) {
    constexpr std::size_t shown = 64;
    out += '(' + std::to_string(b.size()) + " bytes)";
    if (b.empty())
        return;
    out += ' ';
    append_quoted(out, as_string(b.first(std::min(b.size(), shown))));
    if (b.size() > shown)
        out += "...";
}

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

template <class V>
void append_value(std::string& out, const V& v, protocol_version version) {
    if constexpr (std::is_same_v<V, bool>) {
        out += v ? "true" : "false";
    } else if constexpr (std::is_same_v<V, qos> || std::is_same_v<V, retain_handling>) {
        out += std::to_string(static_cast<unsigned>(v));
    } else if constexpr (std::is_integral_v<V>) {
        out += std::to_string(static_cast<unsigned long>(v));
    } else if constexpr (std::is_convertible_v<V, std::string_view>) {
        append_quoted(out, v);
    } else if constexpr (std::is_same_v<V, bytes_view>) {
        append_bytes(out, v);
    } else if constexpr (std::is_same_v<V, string_pair>) {
        append_quoted(out, v.name);
        out += ':';
        append_quoted(out, v.value);
    } else if constexpr (std::is_same_v<V, connect_return_code>) {
        out += std::to_string(static_cast<unsigned>(v)) + " (" + std::string{to_string(v)} + ')';
    } else if constexpr (is_reason_code<V>::value) {
        out += detail::hex_byte(v.value()) + " (" + std::string{v.name()} + ')';
    } else if constexpr (is_property_set<V>::value) {
        out += '{';
        bool first = true;
        v.for_each([&](property_id id, const auto& value) {
            if (!first)
                out += ", ";
            first = false;
            out += to_string(id);
            out += '=';
            append_value(out, value, version);
        });
        out += '}';
    } else if constexpr (is_list_view<V>::value) {
        out += '[';
        bool first = true;
        for (const auto& e : v) {
            if (!first)
                out += ", ";
            first = false;
            if constexpr (std::is_same_v<typename V::value_type, subscription>) {
                out += '{';
                bool first_field = true;
                visit_entry(e, version, [&](std::string_view name, const auto& value) {
                    if (!first_field)
                        out += ' ';
                    first_field = false;
                    out += name;
                    out += '=';
                    append_value(out, value, version);
                });
                out += '}';
            } else {
                append_value(out, e, version);
            }
        }
        out += ']';
    } else {
        static_assert(sizeof(V) == 0, "no text form for this field type");
    }
}

} // namespace detail

/// The packet as one line of text, every field present in version `v`.
template <packet P>
std::string to_string(const P& p, protocol_version v) {
    if constexpr (requires { p.version; })
        v = p.version;
    std::string out{to_string(packet_type_of<P>)};
    out += " v";
    out += to_string(v);
    visit_fields(p, v, [&](std::string_view name, const auto& value) {
        using V = std::remove_cvref_t<decltype(value)>;
        if constexpr (detail::is_property_set<V>::value) {
            if (value.empty())
                return; // keep the line short: no "properties={}"
        }
        out += ' ';
        out += name;
        out += '=';
        detail::append_value(out, value, v);
    });
    return out;
}

/// The text of whichever packet `p` holds.
inline std::string to_string(const any_packet& p, protocol_version v) {
    return std::visit([&](const auto& packet) { return to_string(packet, v); }, p);
}

} // namespace ctmqtt
