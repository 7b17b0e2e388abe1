// Broker URLs: which transport, where, and with which credentials.
//
//   mqtt://host[:port]   tcp://...     TCP, port 1883
//   mqtts://host[:port]  ssl://...     TLS, port 8883
//   ws://host[:port][/path]            WebSocket, port 80, path "/"
//   wss://host[:port][/path]           WebSocket over TLS, port 443, path "/"
//   unix:/path/to.sock   unix:///path  a Unix domain stream socket
//   host[:port]                        no scheme: mqtt://
//
// `user:password@` before the host gives credentials (percent-decoded, so a
// password may hold any byte: `p%40ss` is "p@ss"); an IPv6 address goes in
// brackets (`mqtt://[::1]:1883`). Schemes are case-insensitive. A bad URL is
// refused with an error that says which part is wrong and quotes it:
//   unknown URL scheme "foo" (mqtt, tcp, mqtts, ssl, ws, wss or unix)
//
// No Asio here: parsing a URL costs only the standard library and the
// client's options.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <ctmqtt/client/options.hpp>
#include <ctmqtt/core/result.hpp>
#include <ctmqtt/transport/detail/error_text.hpp>

namespace ctmqtt::transport {

/// The transport a URL names.
enum class url_scheme : std::uint8_t {
    mqtt,        ///< mqtt:// or tcp://: TCP
    mqtts,       ///< mqtts:// or ssl://: TLS over TCP
    ws,          ///< ws://: WebSocket over TCP
    wss,         ///< wss://: WebSocket over TLS
    unix_socket, ///< unix:: a Unix domain stream socket
};

/// The port a scheme uses when the URL gives none (0 for Unix sockets).
constexpr std::uint16_t default_port(url_scheme s) noexcept {
    switch (s) {
    case url_scheme::mqtt: return 1883;
    case url_scheme::mqtts: return 8883;
    case url_scheme::ws: return 80;
    case url_scheme::wss: return 443;
    case url_scheme::unix_socket: return 0;
    }
    return 0;
}

constexpr std::string_view to_string(url_scheme s) noexcept {
    switch (s) {
    case url_scheme::mqtt: return "mqtt";
    case url_scheme::mqtts: return "mqtts";
    case url_scheme::ws: return "ws";
    case url_scheme::wss: return "wss";
    case url_scheme::unix_socket: return "unix";
    }
    return "?";
}

/// A parsed broker URL.
struct broker_url {
    url_scheme scheme = url_scheme::mqtt;
    /// Host name or address, without brackets (IPv6: "::1"); empty for unix:.
    std::string host;
    std::uint16_t port = 1883; ///< 0 for unix:
    /// ws/wss: the request target, "/" when the URL has none (a query is
    /// kept: "/mqtt?token=x"). unix: the socket path. mqtt/mqtts: whatever
    /// followed the host, or empty (not used to connect).
    std::string path;
    std::optional<std::string> user_name;
    std::optional<std::string> password;

    bool secure() const noexcept {
        return scheme == url_scheme::mqtts || scheme == url_scheme::wss;
    }
    bool websocket() const noexcept {
        return scheme == url_scheme::ws || scheme == url_scheme::wss;
    }

    /// What the client connects to: host and port; for a Unix socket the
    /// path in `host` and port 0 (transport::unix_socket reads it there).
    broker_address address() const {
        if (scheme == url_scheme::unix_socket)
            return broker_address{path, 0};
        return broker_address{host, port};
    }

    /// Appends address() to options.brokers and, when the URL has them, sets
    /// options.user_name and options.password.
    void apply_to(client_options& options) const {
        options.brokers.push_back(address());
        if (user_name)
            options.user_name = user_name;
        if (password)
            options.password = password;
    }

    /// The URL written out again, without the password (for logs).
    std::string to_string() const {
        std::string out{transport::to_string(scheme)};
        if (scheme == url_scheme::unix_socket)
            return out + ":" + path;
        out += "://";
        if (user_name)
            out += *user_name + "@";
        if (host.find(':') != std::string::npos)
            out += "[" + host + "]";
        else
            out += host;
        out += ":" + std::to_string(port);
        return out + path;
    }

    friend bool operator==(const broker_url&, const broker_url&) = default;
};

/// What parse_url refuses. The error's message quotes the offending part.
enum class url_errc : std::uint8_t {
    empty = 1,            ///< nothing to parse
    unknown_scheme,       ///< detail: the scheme
    bad_port,             ///< detail: the port text
    missing_host,         ///< `mqtt://:1883`, `mqtt://user@`
    missing_socket_path,  ///< `unix:` with nothing after it
    bad_ipv6_literal,     ///< detail: the host part (no closing bracket, or IPv6 without brackets)
    bad_percent_encoding, ///< detail: the escape (`%zz`, `%4`)
    bad_host,             ///< detail: the host (a space, a control character, ...)
};

namespace detail {

struct url_error_traits {
    using errc = url_errc;
    static constexpr const char* name = "ctmqtt.url";
    static std::string message(url_errc e, std::uint32_t text) {
        switch (e) {
        case url_errc::empty: return "the broker URL is empty";
        case url_errc::unknown_scheme:
            return "unknown URL scheme" + quoted(text) +
                   " (mqtt, tcp, mqtts, ssl, ws, wss or unix)";
        case url_errc::bad_port:
            return "bad port" + quoted(text) + " in the broker URL (a number from 1 to 65535)";
        case url_errc::missing_host: return "the broker URL has no host";
        case url_errc::missing_socket_path:
            return "the unix: URL has no socket path (unix:/path/to.sock or unix:///path/to.sock)";
        case url_errc::bad_ipv6_literal:
            return "bad IPv6 address" + quoted(text) +
                   " in the broker URL (write it in brackets: mqtt://[::1]:1883)";
        case url_errc::bad_percent_encoding:
            return "bad percent-encoding" + quoted(text) +
                   " in the broker URL (% must be followed by two hexadecimal digits)";
        case url_errc::bad_host: return "bad host" + quoted(text) + " in the broker URL";
        }
        return "bad broker URL";
    }
};

} // namespace detail

inline const std::error_category& url_category() noexcept {
    return detail::packed_category<detail::url_error_traits>::instance();
}

/// An error of `e` whose message quotes `text`.
inline std::error_code make_error_code(url_errc e, std::string_view text = {}) {
    return detail::packed_error_quoting<detail::url_error_traits>(e, text);
}

inline std::error_condition make_error_condition(url_errc e) noexcept {
    return detail::packed_condition<detail::url_error_traits>(e);
}

namespace detail {

constexpr char ascii_lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline bool equals_lower(std::string_view text, std::string_view lower) noexcept {
    if (text.size() != lower.size())
        return false;
    for (std::size_t i = 0; i < text.size(); ++i)
        if (ascii_lower(text[i]) != lower[i])
            return false;
    return true;
}

constexpr int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9')
        return c - '0';
    c = ascii_lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/// `text` with %XX escapes decoded (RFC 3986 §2.1).
inline result<std::string> percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        const auto escape = text.substr(i, 3);
        if (escape.size() < 3 || hex_value(escape[1]) < 0 || hex_value(escape[2]) < 0)
            return make_error_code(url_errc::bad_percent_encoding, escape);
        out += static_cast<char>(hex_value(escape[1]) * 16 + hex_value(escape[2]));
        i += 2;
    }
    return out;
}

/// RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
inline bool is_scheme_token(std::string_view s) noexcept {
    if (s.empty() || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-' || c == '.'))
            return false;
    return true;
}

inline std::optional<url_scheme> scheme_named(std::string_view name) noexcept {
    if (equals_lower(name, "mqtt") || equals_lower(name, "tcp"))
        return url_scheme::mqtt;
    if (equals_lower(name, "mqtts") || equals_lower(name, "ssl"))
        return url_scheme::mqtts;
    if (equals_lower(name, "ws"))
        return url_scheme::ws;
    if (equals_lower(name, "wss"))
        return url_scheme::wss;
    if (equals_lower(name, "unix"))
        return url_scheme::unix_socket;
    return std::nullopt;
}

// unix:/path, unix:relative.sock, unix:///path (an empty authority), and
// unix://localhost/path.
inline result<broker_url> parse_unix_url(std::string_view rest, bool has_authority) {
    if (has_authority) {
        const auto slash = rest.find('/');
        const auto authority = rest.substr(0, slash);
        if (slash == std::string_view::npos ||
            !(authority.empty() || equals_lower(authority, "localhost")))
            return make_error_code(url_errc::missing_socket_path);
        rest = rest.substr(slash);
    }
    if (rest.empty())
        return make_error_code(url_errc::missing_socket_path);
    auto path = percent_decode(rest);
    if (!path)
        return path.error();
    broker_url u;
    u.scheme = url_scheme::unix_socket;
    u.port = 0;
    u.path = std::move(*path);
    return u;
}

inline result<std::uint16_t> parse_port(std::string_view text) {
    unsigned value = 0;
    if (text.empty() || text.size() > 5)
        return make_error_code(url_errc::bad_port, text);
    for (char c : text) {
        if (c < '0' || c > '9')
            return make_error_code(url_errc::bad_port, text);
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65'535)
        return make_error_code(url_errc::bad_port, text);
    return static_cast<std::uint16_t>(value);
}

} // namespace detail

/// Parses a broker URL (see the top of this file). Errors: url_errc, each
/// message quoting what is wrong.
inline result<broker_url> parse_url(std::string_view text) {
    using namespace detail;
    if (text.empty())
        return make_error_code(url_errc::empty);

    // The scheme: "name://" or "unix:"; none means mqtt://.
    broker_url u;
    std::string_view rest = text;
    if (const auto sep = text.find("://");
        sep != std::string_view::npos && is_scheme_token(text.substr(0, sep))) {
        const auto name = text.substr(0, sep);
        const auto scheme = scheme_named(name);
        if (!scheme)
            return make_error_code(url_errc::unknown_scheme, name);
        u.scheme = *scheme;
        rest = text.substr(sep + 3);
        if (u.scheme == url_scheme::unix_socket)
            return parse_unix_url(rest, true);
    } else if (text.size() >= 5 && equals_lower(text.substr(0, 5), "unix:")) {
        return parse_unix_url(text.substr(5), false);
    }
    u.port = default_port(u.scheme);

    // authority = [userinfo "@"] host [":" port]; the path starts at "/" or "?".
    const auto authority_end = rest.find_first_of("/?#");
    const auto authority = rest.substr(0, authority_end);
    std::string_view path =
        authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
    if (const auto hash = path.find('#'); hash != std::string_view::npos)
        path = path.substr(0, hash); // a fragment is never sent

    std::string_view host_port = authority;
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        const auto userinfo = authority.substr(0, at);
        host_port = authority.substr(at + 1);
        const auto colon = userinfo.find(':');
        auto user = percent_decode(userinfo.substr(0, colon));
        if (!user)
            return user.error();
        if (!userinfo.empty()) // "mqtt://@host": an empty userinfo, no credentials
            u.user_name = std::move(*user);
        if (colon != std::string_view::npos) {
            auto password = percent_decode(userinfo.substr(colon + 1));
            if (!password)
                return password.error();
            u.password = std::move(*password);
        }
    }

    std::string_view host = host_port;
    std::optional<std::string_view> port;
    if (host_port.starts_with('[')) {
        const auto close = host_port.find(']');
        if (close == std::string_view::npos)
            return make_error_code(url_errc::bad_ipv6_literal, host_port);
        host = host_port.substr(1, close - 1);
        const auto after = host_port.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':')
                return make_error_code(url_errc::bad_ipv6_literal, host_port);
            port = after.substr(1);
        }
        if (host.find(':') == std::string_view::npos)
            return make_error_code(url_errc::bad_ipv6_literal, host_port);
    } else if (const auto colon = host_port.find(':'); colon != std::string_view::npos) {
        if (host_port.find(':', colon + 1) != std::string_view::npos)
            return make_error_code(url_errc::bad_ipv6_literal, host_port);
        host = host_port.substr(0, colon);
        port = host_port.substr(colon + 1);
    }
    if (host.empty())
        return make_error_code(url_errc::missing_host);
    auto decoded_host = percent_decode(host); // an IPv6 zone: [fe80::1%25eth0]
    if (!decoded_host)
        return decoded_host.error();
    for (char ch : *decoded_host)
        if (const auto c = static_cast<unsigned char>(ch);
            c <= 0x20 || c == 0x7F || c == '[' || c == ']' || c == '@')
            return make_error_code(url_errc::bad_host, host);
    u.host = std::move(*decoded_host);
    // RFC 3986 §3.2.3: an empty port ("host:") is the scheme's default.
    if (port && !port->empty()) {
        auto number = parse_port(*port);
        if (!number)
            return number.error();
        u.port = *number;
    }

    if (u.websocket()) {
        if (path.empty() || path.starts_with('?'))
            u.path = "/" + std::string{path};
        else
            u.path = std::string{path};
    } else {
        u.path = std::string{path};
    }
    return u;
}

} // namespace ctmqtt::transport

template <>
struct std::is_error_condition_enum<ctmqtt::transport::url_errc> : std::true_type {};
