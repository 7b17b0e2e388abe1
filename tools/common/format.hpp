// What ctmqtt-sub prints for a received message: byte for byte what
// mosquitto_sub 2.0.11 prints, with -F (every % sequence with its flags,
// width and precision, the @ time sequences and the \ escapes), -v, -N,
// and the %j / %J JSON (json.hpp). The clock is a parameter, so tests fix
// it. No Asio and no I/O: the text is appended to strings.
#pragma once

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <ctmqtt/core/property_table.hpp>

#include "json.hpp"

namespace ctmqtt::tools {

/// One MQTT 5 property of a received PUBLISH.
struct received_property {
    property_id id{};
    std::uint32_t number = 0; ///< byte, two-byte, four-byte and varint values
    std::string_view text;    ///< string and binary values; a user property's value
    std::string_view key;     ///< a user property's name
};

/// A received message as the formatter needs it.
struct received_message {
    std::string_view topic;
    std::string_view payload; ///< the bytes, as they came
    int qos = 0;
    bool retain = false;
    int mid = 0; ///< the packet identifier (0 at QoS 0)
    /// The PUBLISH's properties in the order they came (MQTT 5; empty in 3.1.1).
    std::vector<received_property> properties;
};

/// A wall-clock reading: seconds since the epoch and nanoseconds.
struct timestamp {
    std::time_t seconds = 0;
    long nanoseconds = 0;
};

/// What decides the output.
struct output_options {
    std::optional<std::string> format; ///< -F
    bool verbose = false;              ///< -v
    bool eol = true;                   ///< false with -N
    bool pretty = false;               ///< --pretty
};

namespace detail {

class formatter {
public:
    formatter(const output_options& o, const received_message& m,
              const std::function<timestamp()>& clock, std::string& out, std::string& err)
        : o_(o), m_(m), clock_(clock), out_(out), err_(err) {}

    void formatted() {
        const std::string& f = *o_.format;
        const std::size_t len = f.size();
        std::optional<std::tm> at_time; // the @ sequences share one reading per message
        long at_ns = 0;
        for (std::size_t i = 0; i < len; ++i) {
            const char c = f[i];
            if (c == '%') {
                if (i >= len - 1)
                    continue;
                ++i;
                char align = 0;
                char pad = ' ';
                int width = 0;
                int precision = -1;
                if (f[i] == '-') {
                    align = '-';
                    if (i < len - 1)
                        ++i;
                }
                if (f[i] == '0') {
                    pad = '0';
                    if (i < len - 1)
                        ++i;
                }
                while (i < len - 1 && f[i] >= '0' && f[i] <= '9') {
                    width = bounded(width * 10 + (f[i] - '0'));
                    ++i;
                }
                if (f[i] == '.' && i < len - 1) {
                    ++i;
                    precision = 0;
                    while (i < len - 1 && f[i] >= '0' && f[i] <= '9') {
                        precision = bounded(precision * 10 + (f[i] - '0'));
                        ++i;
                    }
                }
                percent(f[i], align, pad, width, precision);
            } else if (c == '@') {
                if (i >= len - 1)
                    continue;
                ++i;
                if (f[i] == '@') {
                    out_ += '@';
                    continue;
                }
                if (!at_time) {
                    const auto now = clock_();
                    at_time = local(now);
                    at_ns = now.nanoseconds;
                }
                if (f[i] == 'N') {
                    char buf[32];
                    std::snprintf(buf, sizeof(buf), "%09ld", at_ns);
                    out_ += buf;
                } else {
                    const char spec[3] = {'%', f[i], '\0'};
                    out_ += strftime(spec, *at_time);
                }
            } else if (c == '\\') {
                if (i >= len - 1)
                    continue;
                ++i;
                switch (f[i]) {
                case '\\': out_ += '\\'; break;
                case '0': out_ += '\0'; break;
                case 'a': out_ += '\a'; break;
                case 'e': out_ += '\033'; break;
                case 'n': out_ += '\n'; break;
                case 'r': out_ += '\r'; break;
                case 't': out_ += '\t'; break;
                case 'v': out_ += '\v'; break;
                default: break;
                }
            } else {
                out_ += c;
            }
        }
        if (o_.eol)
            out_ += '\n';
    }

private:
    static int bounded(int v) noexcept { return v > 1'000'000 ? 1'000'000 : v; }

    static std::tm local(const timestamp& t) {
        std::tm tm{};
        ::localtime_r(&t.seconds, &tm);
        return tm;
    }

    static std::string strftime(const char* spec, const std::tm& tm) {
        char buf[100];
        const auto n = std::strftime(buf, sizeof(buf), spec, &tm);
        return std::string(buf, n);
    }

    const received_property* find(property_id id) const noexcept {
        for (const auto& p : m_.properties)
            if (p.id == id)
                return &p;
        return nullptr;
    }

    // printf's %d with the - and 0 flags and a width.
    void integer(long long v, char align, char pad, int width) {
        std::string buf(static_cast<std::size_t>(width) + 32, '\0');
        int n;
        if (width == 0)
            n = std::snprintf(buf.data(), buf.size(), "%lld", v);
        else if (align == '-')
            n = std::snprintf(buf.data(), buf.size(), "%-*lld", width, v);
        else if (pad == '0')
            n = std::snprintf(buf.data(), buf.size(), "%0*lld", width, v);
        else
            n = std::snprintf(buf.data(), buf.size(), "%*lld", width, v);
        if (n > 0)
            out_.append(buf.data(), static_cast<std::size_t>(n));
    }

    // printf's %s with the - flag, a width and a precision (bytes); the
    // string ends at its first NUL, as a C string does.
    void string(std::string_view s, char align, int width, int precision) {
        if (const auto nul = s.find('\0'); nul != std::string_view::npos)
            s = s.substr(0, nul);
        if (precision >= 0 && s.size() > static_cast<std::size_t>(precision))
            s = s.substr(0, static_cast<std::size_t>(precision));
        const std::size_t fill = static_cast<std::size_t>(width) > s.size()
                                     ? static_cast<std::size_t>(width) - s.size()
                                     : 0;
        if (align != '-')
            out_.append(fill, ' ');
        out_ += s;
        if (align == '-')
            out_.append(fill, ' ');
    }

    void blank(char pad, int width) { out_.append(static_cast<std::size_t>(width), pad); }

    // The payload as it is (hex 0), in lower-case hex (1) or upper-case hex (2).
    void payload(int hex, char align, char pad, int width) {
        long length = static_cast<long>(m_.payload.size());
        long padding;
        if (width > 0) {
            if (length > width)
                length = width;
            if (hex > 0) {
                length /= 2;
                padding = width - length * 2;
            } else {
                padding = width - length;
            }
        } else {
            padding = width - length;
        }
        if (align != '-' && padding > 0)
            out_.append(static_cast<std::size_t>(padding), pad);
        const auto bytes = m_.payload.substr(0, static_cast<std::size_t>(length));
        if (hex == 0) {
            out_ += bytes;
        } else {
            const char* digits = hex == 1 ? "0123456789abcdef" : "0123456789ABCDEF";
            for (const char ch : bytes) {
                const auto b = static_cast<unsigned char>(ch);
                out_ += digits[b >> 4];
                out_ += digits[b & 0x0F];
            }
        }
        // printf("%*s", padding, ""): a negative width pads on the left too.
        if (align == '-')
            out_.append(static_cast<std::size_t>(padding < 0 ? -padding : padding), ' ');
    }

    void percent(char conversion, char align, char pad, int width, int precision) {
        switch (conversion) {
        case '%': out_ += '%'; break;
        case 'A':
            if (const auto* p = find(property_id::topic_alias))
                integer(p->number, align, pad, width);
            else
                blank(pad, width);
            break;
        case 'C':
            if (const auto* p = find(property_id::content_type))
                string(p->text, align, width, precision);
            else
                blank(' ', width);
            break;
        case 'D':
            if (const auto* p = find(property_id::correlation_data))
                out_ += p->text;
            break;
        case 'E':
            if (const auto* p = find(property_id::message_expiry_interval))
                integer(static_cast<std::int32_t>(p->number), align, pad, width);
            else
                blank(pad, width);
            break;
        case 'F':
            if (const auto* p = find(property_id::payload_format_indicator))
                integer(p->number, align, pad, width);
            else
                blank(pad, width);
            break;
        case 'I': {
            const auto text = strftime("%FT%T%z", local(clock_()));
            if (!text.empty())
                string(text, align, width, precision);
            else
                blank(' ', width);
            break;
        }
        case 'j':
        case 'J': json_print(conversion == 'j'); break;
        case 'l': integer(static_cast<long long>(m_.payload.size()), align, pad, width); break;
        case 'm': integer(m_.mid, align, pad, width); break;
        case 'P': {
            bool first = true;
            for (const auto& p : m_.properties) {
                if (p.id != property_id::user_property)
                    continue;
                if (!first)
                    out_ += ' ';
                first = false;
                string(p.key, 0, 0, -1);
                out_ += ':';
                string(p.text, 0, 0, -1);
            }
            break;
        }
        case 'p': payload(0, align, pad, width); break;
        case 'q': out_ += static_cast<char>('0' + m_.qos); break;
        case 'R':
            if (const auto* p = find(property_id::response_topic))
                string(p->text, align, width, precision);
            break;
        case 'r': out_ += m_.retain ? '1' : '0'; break;
        case 'S':
            if (const auto* p = find(property_id::subscription_identifier))
                integer(static_cast<std::int32_t>(p->number), align, pad, width);
            else
                blank(pad, width);
            break;
        case 't': string(m_.topic, align, width, precision); break;
        case 'U': {
            const auto now = clock_();
            const auto seconds = strftime("%s", local(now));
            if (!seconds.empty()) {
                char ns[16];
                std::snprintf(ns, sizeof(ns), ".%09ld", now.nanoseconds);
                out_ += seconds;
                out_ += ns;
            }
            break;
        }
        case 'x': payload(1, align, pad, width); break;
        case 'X': payload(2, align, pad, width); break;
        default: break;
        }
    }

    // The properties object of the JSON output, in the order they came.
    json::value json_properties() const {
        auto props = json::value::make_object();
        std::optional<std::size_t> users; // where the "user-properties" object is
        std::uint16_t last_binary_length = 0;
        for (const auto& p : m_.properties) {
            using enum property_id;
            switch (p.id) {
            case payload_format_indicator:
                props.add("payload-format-indicator", json::value::make_number(p.number));
                break;
            case message_expiry_interval:
                props.add("message-expiry-interval", json::value::make_number(p.number));
                break;
            case content_type:
                props.add("content-type", json::value::make_string(std::string{p.text}));
                break;
            case response_topic:
                props.add("response-topic", json::value::make_string(std::string{p.text}));
                break;
            case correlation_data:
                last_binary_length = static_cast<std::uint16_t>(p.text.size());
                props.add("correlation-data", json::value::make_string(std::string{p.text}));
                break;
            case subscription_identifier:
                props.add("subscription-identifier", json::value::make_number(p.number));
                break;
            case topic_alias:
                // mosquitto_sub reads this one with the wrong identifier: what it
                // prints is whatever its two-byte variable last held.
                props.add("topic-alias", json::value::make_number(last_binary_length));
                break;
            case user_property:
                if (!users) {
                    users = props.items.size();
                    props.add("user-properties", json::value::make_object());
                }
                props.items[*users].second.add(std::string{p.key},
                                               json::value::make_string(std::string{p.text}));
                break;
            default: break;
            }
        }
        return props;
    }

    void json_print(bool escaped) {
        const auto now = clock_();
        const auto tm = local(now);
        // "2020-05-06T21:48:00.123456Z+0100": microseconds, then a literal Z, then the offset.
        std::string tst = strftime("%Y-%m-%dT%H:%M:%S.000000Z%z", tm);
        if (tst.size() >= 27) {
            char micro[16];
            std::snprintf(micro, sizeof(micro), "%06d", static_cast<int>(now.nanoseconds / 1000));
            tst.replace(20, 6, std::string_view{micro}.substr(0, 6));
        }
        auto root = json::value::make_object();
        root.add("tst", json::value::make_string(tst));
        root.add("topic", json::value::make_string(std::string{m_.topic}));
        root.add("qos", json::value::make_number(m_.qos));
        root.add("retain", json::value::make_number(m_.retain ? 1 : 0));
        root.add("payloadlen", json::value::make_number(static_cast<double>(m_.payload.size())));
        if (m_.qos > 0)
            root.add("mid", json::value::make_number(m_.mid));
        if (!m_.properties.empty())
            root.add("properties", json_properties());
        if (m_.payload.empty()) {
            root.add("payload", json::value{});
        } else if (escaped) {
            root.add("payload", json::value::make_string(std::string{m_.payload}));
        } else {
            auto parsed = json::parse(m_.payload);
            if (!parsed) {
                err_ += "Error: Message payload is not valid JSON on topic ";
                err_ += std::string{m_.topic};
                err_ += ".\n";
                return;
            }
            root.add("payload", std::move(*parsed));
        }
        json::print(out_, root, o_.pretty);
    }

    const output_options& o_;
    const received_message& m_;
    const std::function<timestamp()>& clock_;
    std::string& out_;
    std::string& err_;
};

} // namespace detail

/// Appends to `out` what mosquitto_sub prints for `m` (and to `err` what it
/// says on stderr: only %J with a payload that is not JSON does).
inline void print_message(const output_options& o, const received_message& m,
                          const std::function<timestamp()>& clock, std::string& out,
                          std::string& err) {
    if (o.format) {
        detail::formatter{o, m, clock, out, err}.formatted();
        return;
    }
    if (o.verbose) {
        auto topic = m.topic.substr(0, m.topic.find('\0'));
        if (!m.payload.empty()) {
            out += topic;
            out += ' ';
            out += m.payload;
            if (o.eol)
                out += '\n';
        } else if (o.eol) {
            out += topic;
            out += " (null)\n";
        }
        return;
    }
    if (!m.payload.empty()) {
        out += m.payload;
        if (o.eol)
            out += '\n';
    }
}

/// The wall clock.
inline timestamp now() {
    ::timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return {ts.tv_sec, ts.tv_nsec};
}

} // namespace ctmqtt::tools
