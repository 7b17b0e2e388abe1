// The JSON that mosquitto_sub prints for -F %j and %J. mosquitto_sub (Debian
// 12) builds it with cJSON 1.7.15, so the bytes depend on cJSON's rules:
// how it parses a payload (%J re-prints it, so spacing, escapes and numbers
// come out as cJSON writes them), how it escapes strings and writes numbers,
// and its indented form (--pretty). This is an implementation of those
// rules, written from their description; no Asio, no I/O.
#pragma once

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ctmqtt::tools::json {

/// A JSON value as cJSON holds it: strings end at their first NUL when
/// printed, objects keep their members in order and may repeat a name.
struct value {
    enum class kind : std::uint8_t {
        null,
        boolean_false,
        boolean_true,
        number,
        string,
        array,
        object
    };
    kind type = kind::null;
    double number = 0;
    std::string text;                                 ///< a string's bytes
    std::vector<std::pair<std::string, value>> items; ///< array elements (no name) or members

    static value make_number(double d) {
        value v;
        v.type = kind::number;
        v.number = d;
        return v;
    }
    static value make_string(std::string s) {
        value v;
        v.type = kind::string;
        v.text = std::move(s);
        return v;
    }
    static value make_object() {
        value v;
        v.type = kind::object;
        return v;
    }
    value& add(std::string name, value v) {
        items.emplace_back(std::move(name), std::move(v));
        return items.back().second;
    }
};

namespace detail {

inline constexpr std::size_t nesting_limit = 1000;

// cJSON's parser over a buffer that ends with the NUL after the text.
class parser {
public:
    explicit parser(std::string_view buffer) : buf_(buffer) {}

    // Parses one value and requires nothing but white space after it.
    std::optional<value> parse_document() {
        if (can_access(4) && buf_.substr(0, 3) == "\xEF\xBB\xBF")
            pos_ += 3; // a UTF-8 byte order mark
        skip_space();
        value v;
        if (!parse_value(v))
            return std::nullopt;
        skip_space();
        if (pos_ >= buf_.size() || buf_[pos_] != '\0')
            return std::nullopt;
        return v;
    }

    std::size_t position() const noexcept { return pos_; }

private:
    bool can_access(std::size_t index) const noexcept { return pos_ + index < buf_.size(); }
    bool can_read(std::size_t n) const noexcept { return pos_ + n <= buf_.size(); }
    unsigned char at(std::size_t index) const noexcept {
        return static_cast<unsigned char>(buf_[pos_ + index]);
    }

    // Every byte up to 32 is white space (NUL too); stops on the last byte.
    void skip_space() noexcept {
        if (!can_access(0))
            return;
        while (can_access(0) && at(0) <= 32)
            ++pos_;
        if (pos_ == buf_.size())
            --pos_;
    }

    bool parse_value(value& v) {
        if (can_read(4) && buf_.substr(pos_, 4) == "null") {
            v.type = value::kind::null;
            pos_ += 4;
            return true;
        }
        if (can_read(5) && buf_.substr(pos_, 5) == "false") {
            v.type = value::kind::boolean_false;
            pos_ += 5;
            return true;
        }
        if (can_read(4) && buf_.substr(pos_, 4) == "true") {
            v.type = value::kind::boolean_true;
            pos_ += 4;
            return true;
        }
        if (!can_access(0))
            return false;
        const auto c = at(0);
        if (c == '"') {
            v.type = value::kind::string;
            return parse_string(v.text);
        }
        if (c == '-' || (c >= '0' && c <= '9'))
            return parse_number(v);
        if (c == '[')
            return parse_list(v, false);
        if (c == '{')
            return parse_list(v, true);
        return false;
    }

    // The longest run of number characters (at most 63), read by strtod.
    bool parse_number(value& v) {
        char digits[64];
        std::size_t n = 0;
        while (n < sizeof(digits) - 1 && can_access(n)) {
            const auto c = at(n);
            if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'e' || c == 'E' || c == '.')
                digits[n++] = static_cast<char>(c);
            else
                break;
        }
        digits[n] = '\0';
        char* end = nullptr;
        const double d = std::strtod(digits, &end);
        if (end == digits)
            return false;
        v.type = value::kind::number;
        v.number = d;
        pos_ += static_cast<std::size_t>(end - digits);
        return true;
    }

    static unsigned hex4(std::string_view s) noexcept {
        unsigned h = 0;
        for (std::size_t i = 0; i < 4; ++i) {
            const char c = s[i];
            if (c >= '0' && c <= '9')
                h += static_cast<unsigned>(c - '0');
            else if (c >= 'A' && c <= 'F')
                h += 10u + static_cast<unsigned>(c - 'A');
            else if (c >= 'a' && c <= 'f')
                h += 10u + static_cast<unsigned>(c - 'a');
            else
                return 0; // cJSON reads a bad digit as the code 0
            if (i < 3)
                h <<= 4;
        }
        return h;
    }

    static void put_utf8(std::string& out, std::uint32_t cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    // A \uXXXX escape (or a surrogate pair of them) at `p`, before `end`:
    // how many bytes it takes, 0 when invalid.
    std::size_t utf16_escape(std::size_t p, std::size_t end, std::string& out) const {
        if (end - p < 6)
            return 0;
        const unsigned first = hex4(buf_.substr(p + 2, 4));
        if (first >= 0xDC00 && first <= 0xDFFF)
            return 0;
        std::uint32_t cp = first;
        std::size_t length = 6;
        if (first >= 0xD800 && first <= 0xDBFF) {
            const std::size_t second_at = p + 6;
            if (end - second_at < 6)
                return 0;
            if (buf_[second_at] != '\\' || buf_[second_at + 1] != 'u')
                return 0;
            const unsigned second = hex4(buf_.substr(second_at + 2, 4));
            if (second < 0xDC00 || second > 0xDFFF)
                return 0;
            cp = 0x10000u + (((first & 0x3FFu) << 10) | (second & 0x3FFu));
            length = 12;
        }
        put_utf8(out, cp);
        return length;
    }

    bool parse_string(std::string& out) {
        if (!can_access(0) || at(0) != '"')
            return false;
        // Where the string ends: the first quote not escaped.
        std::size_t end = pos_ + 1;
        while (end < buf_.size() && buf_[end] != '"') {
            if (buf_[end] == '\\') {
                if (end + 1 >= buf_.size())
                    return false;
                ++end;
            }
            ++end;
        }
        if (end >= buf_.size() || buf_[end] != '"')
            return false;
        out.clear();
        std::size_t p = pos_ + 1;
        while (p < end) {
            if (buf_[p] != '\\') {
                out += buf_[p++];
                continue;
            }
            std::size_t length = 2;
            switch (buf_[p + 1]) {
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case '"':
            case '\\':
            case '/': out += buf_[p + 1]; break;
            case 'u':
                length = utf16_escape(p, end, out);
                if (length == 0)
                    return false;
                break;
            default: return false;
            }
            p += length;
        }
        pos_ = end + 1;
        return true;
    }

    // An array ('[') or an object ('{').
    bool parse_list(value& v, bool object) {
        if (depth_ >= nesting_limit)
            return false;
        ++depth_;
        const char close = object ? '}' : ']';
        v.type = object ? value::kind::object : value::kind::array;
        ++pos_;
        skip_space();
        if (can_access(0) && at(0) == static_cast<unsigned char>(close)) {
            --depth_;
            ++pos_;
            return true;
        }
        if (!can_access(0)) {
            --pos_;
            return false;
        }
        --pos_; // onto the character before the first element
        do {
            auto& item = v.items.emplace_back();
            ++pos_;
            skip_space();
            if (object) {
                if (!parse_string(item.first))
                    return false;
                skip_space();
                if (!can_access(0) || at(0) != ':')
                    return false;
                ++pos_;
                skip_space();
            }
            if (!parse_value(item.second))
                return false;
            skip_space();
        } while (can_access(0) && at(0) == ',');
        if (!can_access(0) || at(0) != static_cast<unsigned char>(close))
            return false;
        --depth_;
        ++pos_;
        return true;
    }

    std::string_view buf_;
    std::size_t pos_ = 0;
    std::size_t depth_ = 0;
};

inline void print_number(std::string& out, double d) {
    if (std::isnan(d) || std::isinf(d)) {
        out += "null";
        return;
    }
    char text[32];
    std::snprintf(text, sizeof(text), "%1.15g", d);
    // Fifteen digits unless the value does not survive them.
    const double back = std::strtod(text, nullptr);
    const double larger = std::fabs(back) > std::fabs(d) ? std::fabs(back) : std::fabs(d);
    if (!(std::fabs(back - d) <= larger * DBL_EPSILON))
        std::snprintf(text, sizeof(text), "%1.17g", d);
    out += text;
}

inline void print_value(std::string& out, const value& v, bool pretty, std::size_t& depth);

} // namespace detail

/// Writes `s` as a JSON string the way cJSON does: up to its first NUL;
/// '"', '\\', \b \f \n \r \t escaped by letter, other bytes below 32 as
/// \u00XX, everything else (bytes >= 0x80 too) as it is.
inline void print_string(std::string& out, std::string_view s) {
    if (const auto nul = s.find('\0'); nul != std::string_view::npos)
        s = s.substr(0, nul);
    out += '"';
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 32) {
                char esc[8];
                std::snprintf(esc, sizeof(esc), "\\u%04x", static_cast<unsigned>(c));
                out += esc;
            } else {
                out += ch;
            }
        }
    }
    out += '"';
}

/// Parses `text` as mosquitto_sub's %J does: the whole payload must be one
/// JSON value with only white space around it, and contain no NUL.
inline std::optional<value> parse(std::string_view text) {
    const auto nul = text.find('\0');
    if (nul != std::string_view::npos)
        return std::nullopt; // cJSON stops at the NUL, short of the payload's end
    std::string buffer{text};
    buffer += '\0';
    detail::parser p{buffer};
    return p.parse_document();
}

/// Prints `v` as cJSON_PrintUnformatted (pretty: cJSON_Print) does.
inline void print(std::string& out, const value& v, bool pretty) {
    std::size_t depth = 0;
    detail::print_value(out, v, pretty, depth);
}

inline void detail::print_value(std::string& out, const value& v, bool pretty, std::size_t& depth) {
    switch (v.type) {
    case value::kind::null: out += "null"; return;
    case value::kind::boolean_false: out += "false"; return;
    case value::kind::boolean_true: out += "true"; return;
    case value::kind::number: print_number(out, v.number); return;
    case value::kind::string: print_string(out, v.text); return;
    case value::kind::array: {
        out += '[';
        ++depth;
        for (std::size_t i = 0; i < v.items.size(); ++i) {
            print_value(out, v.items[i].second, pretty, depth);
            if (i + 1 < v.items.size())
                out += pretty ? ", " : ",";
        }
        out += ']';
        --depth;
        return;
    }
    case value::kind::object: {
        out += '{';
        ++depth;
        if (pretty)
            out += '\n';
        for (std::size_t i = 0; i < v.items.size(); ++i) {
            if (pretty)
                out.append(depth, '\t');
            print_string(out, v.items[i].first);
            out += ':';
            if (pretty)
                out += '\t';
            print_value(out, v.items[i].second, pretty, depth);
            if (i + 1 < v.items.size())
                out += ',';
            if (pretty)
                out += '\n';
        }
        if (pretty)
            out.append(depth - 1, '\t');
        out += '}';
        --depth;
        return;
    }
    }
}

} // namespace ctmqtt::tools::json
