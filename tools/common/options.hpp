// Command-line options of ctmqtt-pub and ctmqtt-sub: the options of
// mosquitto_pub and mosquitto_sub 2.0.11, with their defaults, their checks
// and their error texts, so that scripts written for those programs keep
// working. No Asio and no I/O here (the caller prints what parse() returns),
// so the parser is unit-tested without a network.
#pragma once

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <ctmqtt/core/property_table.hpp>
#include <ctmqtt/transport/url.hpp>

namespace ctmqtt::tools {

enum class program : std::uint8_t { pub, sub };

inline constexpr std::string_view program_name(program p) noexcept {
    return p == program::pub ? "ctmqtt-pub" : "ctmqtt-sub";
}

/// Where the publisher's message comes from (-m, -f, -s, -l, -n).
enum class message_mode : std::uint8_t { none, command_line, stdin_line, stdin_file, file, null };

/// The packets -D may give properties to.
enum class property_command : std::uint8_t {
    connect,
    publish,
    subscribe,
    unsubscribe,
    disconnect,
    will
};

/// One -D property, with its value converted to the property's type.
struct property_value {
    property_id id{};
    std::string name;         ///< as given on the command line
    std::uint32_t number = 0; ///< byte, two-byte, four-byte and varint properties
    std::string text;         ///< string and binary properties; a user property's value
    std::string key;          ///< a user property's name
};
using property_list = std::vector<property_value>;

/// Everything the options say. Defaults are mosquitto's.
struct config {
    std::optional<std::string> id;        ///< -i
    std::optional<std::string> id_prefix; ///< -I
    int protocol_version = 4;             ///< 3 (3.1), 4 (3.1.1) or 5; -V
    int keepalive = 60;
    /// -h / -L / --unix; "localhost" once loaded. With port 0 (--unix,
    /// unix: URLs) the path of a Unix socket, as mosquitto takes it.
    std::optional<std::string> host;
    int port = -1; ///< -p / -L; -1: not given (1883, or 8883 with a CA); 0: a Unix socket
    /// -L's scheme: mqtt (tcp, and no -L), mqtts (ssl), ws, wss or unix.
    transport::url_scheme url_scheme = transport::url_scheme::mqtt;
    std::string websocket_path = "/"; ///< -L ws:// and wss://: the request target
    int qos = 0;
    bool retain = false;
    message_mode mode = message_mode::none;
    std::optional<std::string> file_input; ///< -f
    std::string message;                   ///< -m, or the file / stdin contents
    std::optional<std::string> topic;      ///< the publisher's topic
    std::optional<std::string> bind_address;
    int repeat_count = 1;
    long repeat_delay_us = 0; ///< --repeat-delay, in microseconds
    bool debug = false;
    bool quiet = false;
    unsigned max_inflight = 20; ///< -M
    std::optional<std::string> username;
    std::optional<std::string> password;
    std::optional<std::string> will_topic;
    std::optional<std::string> will_payload;
    int will_qos = 0;
    bool will_retain = false;

    // TLS (see transport_of() in client_config.hpp for when it is used).
    // --tls-engine, --tls-engine-kpass-sha1, --psk and SOCKS: parsed, then refused.
    std::optional<std::string> cafile, capath, certfile, keyfile, ciphers, tls_alpn, tls_version,
        tls_engine, tls_engine_kpass_sha1, keyform, psk, psk_identity, proxy;
    bool insecure = false;         ///< no host name check (the chain is still verified)
    bool tls_use_os_certs = false; ///< --tls-use-os-certs, or an mqtts:// URL
    /// The first option that needs something this build lacks, and what: printed as
    /// "<program>: <option>: <feature> is not available in this build yet".
    std::optional<std::pair<std::string, std::string>> unavailable;

    bool clean_session = true;
    std::vector<std::string> topics; ///< the subscriber's topic filters
    bool exit_after_sub = false;     ///< -E
    bool no_retain = false;          ///< -R
    bool retained_only = false;
    bool remove_retained = false;
    std::vector<std::string> filter_outs;  ///< -T
    std::vector<std::string> unsub_topics; ///< -U
    bool verbose = false;
    bool eol = true; ///< false with -N
    int msg_count = 0;
    std::optional<std::string> format; ///< -F
    bool pretty = false;
    unsigned timeout = 0; ///< -W, seconds
    bool retain_as_published = false;
    bool send_retain_never = false;         ///< retain handling 2 (with -R)
    long long session_expiry_interval = -1; ///< -x; -1: not given
    int random_filter = 10000;              ///< --random-filter, in 1/100 %
    bool tcp_nodelay = false;
    bool have_topic_alias = false;

    property_list connect_props, publish_props, subscribe_props, unsubscribe_props,
        disconnect_props, will_props;

    /// The properties -D gave for a packet.
    const property_list& properties(property_command c) const noexcept {
        switch (c) {
        case property_command::connect: return connect_props;
        case property_command::publish: return publish_props;
        case property_command::subscribe: return subscribe_props;
        case property_command::unsubscribe: return unsubscribe_props;
        case property_command::disconnect: return disconnect_props;
        case property_command::will: break;
        }
        return will_props;
    }
    /// The first property with this identifier, if any.
    static const property_value* find(const property_list& list, property_id id) noexcept {
        for (const auto& p : list)
            if (p.id == id)
                return &p;
        return nullptr;
    }
};

/// What parse() found. `status`: 0 go on, 1 an error (the text is in
/// `error`, for stderr), 2 --help was asked, 3 --version.
struct parse_result {
    int status = 0;
    std::string error;
};

namespace detail {

enum class value_type : std::uint8_t { byte, two_byte, four_byte, varint, binary, string, pair };

struct property_name {
    std::string_view name;
    property_id id;
    value_type type;
};

// mosquitto's names for the properties, and their types.
inline constexpr property_name property_names[] = {
    {"payload-format-indicator", property_id::payload_format_indicator, value_type::byte},
    {"message-expiry-interval", property_id::message_expiry_interval, value_type::four_byte},
    {"content-type", property_id::content_type, value_type::string},
    {"response-topic", property_id::response_topic, value_type::string},
    {"correlation-data", property_id::correlation_data, value_type::binary},
    {"subscription-identifier", property_id::subscription_identifier, value_type::varint},
    {"session-expiry-interval", property_id::session_expiry_interval, value_type::four_byte},
    {"assigned-client-identifier", property_id::assigned_client_identifier, value_type::string},
    {"server-keep-alive", property_id::server_keep_alive, value_type::two_byte},
    {"authentication-method", property_id::authentication_method, value_type::string},
    {"authentication-data", property_id::authentication_data, value_type::binary},
    {"request-problem-information", property_id::request_problem_information, value_type::byte},
    {"will-delay-interval", property_id::will_delay_interval, value_type::four_byte},
    {"request-response-information", property_id::request_response_information, value_type::byte},
    {"response-information", property_id::response_information, value_type::string},
    {"server-reference", property_id::server_reference, value_type::string},
    {"reason-string", property_id::reason_string, value_type::string},
    {"receive-maximum", property_id::receive_maximum, value_type::two_byte},
    {"topic-alias-maximum", property_id::topic_alias_maximum, value_type::two_byte},
    {"topic-alias", property_id::topic_alias, value_type::two_byte},
    {"maximum-qos", property_id::maximum_qos, value_type::byte},
    {"retain-available", property_id::retain_available, value_type::byte},
    {"user-property", property_id::user_property, value_type::pair},
    {"maximum-packet-size", property_id::maximum_packet_size, value_type::four_byte},
    {"wildcard-subscription-available", property_id::wildcard_subscription_available,
     value_type::byte},
    {"subscription-identifier-available", property_id::subscription_identifier_available,
     value_type::byte},
    {"shared-subscription-available", property_id::shared_subscription_available, value_type::byte},
};

inline bool equal_ignoring_case(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto x = static_cast<unsigned char>(a[i]);
        auto y = static_cast<unsigned char>(b[i]);
        if (x >= 'A' && x <= 'Z')
            x = static_cast<unsigned char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = static_cast<unsigned char>(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

inline const property_name* find_property_name(std::string_view name) noexcept {
    for (const auto& p : property_names)
        if (equal_ignoring_case(p.name, name))
            return &p;
    return nullptr;
}

// The packet names -D accepts (case-insensitive), including those it then refuses.
enum class packet_name : std::uint8_t {
    connect,
    connack,
    publish,
    puback,
    pubrec,
    pubrel,
    pubcomp,
    subscribe,
    suback,
    unsubscribe,
    unsuback,
    disconnect,
    auth,
    will
};

inline std::optional<packet_name> find_packet_name(std::string_view s) noexcept {
    constexpr std::pair<std::string_view, packet_name> names[] = {
        {"connect", packet_name::connect},
        {"connack", packet_name::connack},
        {"publish", packet_name::publish},
        {"puback", packet_name::puback},
        {"pubrec", packet_name::pubrec},
        {"pubrel", packet_name::pubrel},
        {"pubcomp", packet_name::pubcomp},
        {"subscribe", packet_name::subscribe},
        {"unsubscribe", packet_name::unsubscribe},
        {"disconnect", packet_name::disconnect},
        {"auth", packet_name::auth},
        {"will", packet_name::will},
    };
    for (const auto& [n, p] : names)
        if (equal_ignoring_case(n, s))
            return p;
    return std::nullopt;
}

// Which packets mosquitto lets each property be given for (its own table,
// which is looser than MQTT 5's in places).
inline bool property_allowed_for(packet_name c, property_id id) noexcept {
    using enum property_id;
    using p = packet_name;
    switch (id) {
    case payload_format_indicator:
    case message_expiry_interval:
    case content_type:
    case response_topic:
    case correlation_data: return c == p::publish || c == p::will;
    case subscription_identifier: return c == p::publish || c == p::subscribe;
    case session_expiry_interval: return c == p::connect || c == p::connack || c == p::disconnect;
    case authentication_method:
    case authentication_data: return c == p::connect || c == p::connack || c == p::auth;
    case assigned_client_identifier:
    case server_keep_alive:
    case response_information:
    case maximum_qos:
    case retain_available:
    case wildcard_subscription_available:
    case subscription_identifier_available:
    case shared_subscription_available: return c == p::connack;
    case will_delay_interval: return c == p::will;
    case request_problem_information:
    case request_response_information: return c == p::connect;
    case server_reference: return c == p::connack || c == p::disconnect;
    case reason_string:
        return c != p::connect && c != p::publish && c != p::subscribe && c != p::unsubscribe;
    case receive_maximum:
    case topic_alias_maximum:
    case maximum_packet_size: return c == p::connect || c == p::connack;
    case topic_alias: return c == p::publish;
    case user_property: return true;
    }
    return false;
}

/// mosquitto's UTF-8 check for topics and properties: well-formed, no
/// U+0000, no surrogates, no non-characters and no control characters.
inline bool valid_utf8(std::string_view s) noexcept {
    if (s.size() > 65536)
        return false;
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t len;
        std::uint32_t cp;
        if (c == 0)
            return false;
        if (c <= 0x7F) {
            len = 1;
            cp = c;
        } else if ((c & 0xE0) == 0xC0) {
            if (c == 0xC0 || c == 0xC1)
                return false;
            len = 2;
            cp = c & 0x1Fu;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0Fu;
        } else if ((c & 0xF8) == 0xF0) {
            if (c > 0xF4)
                return false;
            len = 4;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (s.size() - i < len)
            return false;
        for (std::size_t k = 1; k < len; ++k) {
            const auto d = static_cast<unsigned char>(s[i + k]);
            if ((d & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (d & 0x3Fu);
        }
        if (cp >= 0xD800 && cp <= 0xDFFF)
            return false;
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        if (cp >= 0xFDD0 && cp <= 0xFDEF)
            return false;
        if ((cp & 0xFFFF) == 0xFFFE || (cp & 0xFFFF) == 0xFFFF)
            return false;
        if (cp <= 0x1F || (cp >= 0x7F && cp <= 0x9F))
            return false;
        i += len;
    }
    return true;
}

/// A topic name to publish to: no wildcards, at most 65535 bytes.
inline bool valid_publish_topic(std::string_view t) noexcept {
    return t.find_first_of("+#") == std::string_view::npos && t.size() <= 65535;
}

/// A topic filter: '+' and '#' only as whole levels, '#' only last.
inline bool valid_subscribe_topic(std::string_view t) noexcept {
    for (std::size_t i = 0; i < t.size(); ++i) {
        const bool level_start = i == 0 || t[i - 1] == '/';
        if (t[i] == '+' && (!level_start || (i + 1 < t.size() && t[i + 1] != '/')))
            return false;
        if (t[i] == '#' && (!level_start || i + 1 != t.size()))
            return false;
    }
    return t.size() <= 65535;
}

/// The libmosquitto error texts the parser's messages quote.
inline constexpr std::string_view protocol_error_text =
    "A network protocol error occurred when communicating with the broker.";
inline constexpr std::string_view duplicate_property_text = "Duplicate property in property list";

// Checks a packet's -D properties as mosquitto does after parsing: values a
// byte may not exceed 1, non-zero ones, the packet's table, duplicates.
inline std::optional<std::string_view> check_properties(const property_list& list,
                                                        packet_name packet) {
    using enum property_id;
    for (std::size_t i = 0; i < list.size(); ++i) {
        const auto& p = list[i];
        switch (p.id) {
        case request_problem_information:
        case request_response_information:
        case maximum_qos:
        case retain_available:
        case wildcard_subscription_available:
        case subscription_identifier_available:
        case shared_subscription_available:
            if (p.number > 1)
                return protocol_error_text;
            break;
        case maximum_packet_size:
        case receive_maximum:
        case topic_alias:
            if (p.number == 0)
                return protocol_error_text;
            break;
        default: break;
        }
        if (!property_allowed_for(packet, p.id))
            return protocol_error_text;
        for (std::size_t j = i + 1; j < list.size(); ++j)
            if (list[j].id == p.id && p.id != user_property)
                return duplicate_property_text;
    }
    return std::nullopt;
}

class parser {
public:
    parser(program prog, config& cfg) : prog_(prog), cfg_(cfg) {}

    // Processes arguments (argv without the program name). 0: fine; 1: error;
    // 2: --help; 3: --version.
    int run(const std::vector<std::string>& args) {
        args_ = &args;
        for (i_ = 0; i_ < args.size(); ++i_) {
            const int r = one(args[i_]);
            if (r != 0)
                return r;
        }
        return 0;
    }

    std::string error;

private:
    using enum message_mode;

    bool is_pub() const noexcept { return prog_ == program::pub; }
    bool is_sub() const noexcept { return prog_ == program::sub; }
    bool last() const noexcept { return i_ + 1 >= args_->size(); }
    const std::string& next() const { return (*args_)[i_ + 1]; }

    int fail(std::string text) {
        error += text;
        return 1;
    }
    int unknown(const std::string& arg) { return fail("Error: Unknown option '" + arg + "'.\n"); }
    // "-x argument given but no <what> specified."
    int missing(std::string_view option, std::string_view what) {
        return fail("Error: " + std::string{option} + " argument given but no " +
                    std::string{what} + " specified.\n\n");
    }
    // An option that takes a string value.
    int take(std::optional<std::string>& into, std::string_view option, std::string_view what) {
        if (last())
            return missing(option, what);
        into = next();
        ++i_;
        return 0;
    }
    // An option whose feature this build does not have yet.
    void needs(std::string_view option, std::string_view feature) {
        if (!cfg_.unavailable)
            cfg_.unavailable.emplace(std::string{option}, std::string{feature});
    }
    // An option whose feature this build does not have (the value is still checked).
    int take_unavailable(std::optional<std::string>& into, std::string_view option,
                         std::string_view what, std::string_view feature) {
        needs(option, feature);
        return take(into, option, what);
    }
    // An option without a value that sets `into`; `allowed` for this program.
    int flag(const std::string& a, bool allowed, bool& into) {
        if (!allowed)
            return unknown(a);
        into = true;
        return 0;
    }

    // An option whose value is a number (read as atoi reads it) from low to high.
    template <class Message>
    int number(std::string_view option, std::string_view what, int& into, int low, int high,
               Message bad) {
        if (last())
            return missing(option, what);
        into = std::atoi(next().c_str());
        if (into < low || into > high)
            return fail(bad(into));
        ++i_;
        return 0;
    }

    int set_mode(message_mode m) {
        if (cfg_.mode != none)
            return fail("Error: Only one type of message can be sent at once.\n\n");
        cfg_.mode = m;
        return 0;
    }

    int add_topic(const std::string& topic, std::string_view arg) {
        if (!valid_utf8(topic))
            return fail("Error: Malformed UTF-8 in " + std::string{arg} + " argument.\n\n");
        if (is_pub()) {
            if (!valid_publish_topic(topic))
                return fail("Error: Invalid publish topic '" + topic +
                            "', does it contain '+' or '#'?\n");
            cfg_.topic = topic;
        } else {
            if (!valid_subscribe_topic(topic))
                return fail("Error: Invalid subscription topic '" + topic +
                            "', are all '+' and '#' wildcards correct?\n");
            cfg_.topics.push_back(topic);
        }
        return 0;
    }

    // -T and -U: a topic filter for the subscriber.
    int add_filter(const std::string& a, std::vector<std::string>& into, std::string_view option,
                   std::string_view what, std::string_view kind) {
        if (!is_sub())
            return unknown(a);
        if (last())
            return missing(option, what);
        if (!valid_utf8(next()))
            return fail("Error: Malformed UTF-8 in " + std::string{option} + " argument.\n\n");
        if (!valid_subscribe_topic(next()))
            return fail("Error: Invalid " + std::string{kind} + " topic '" + next() +
                        "', are all '+' and '#' wildcards correct?\n");
        into.push_back(next());
        ++i_;
        return 0;
    }

    // -L: mosquitto's mqtt(s)://[user[:password]@]host[:port]/topic (tcp://
    // and ssl:// alike), read as mosquitto reads it; or one of ctmqtt's
    // ws://, wss:// and unix: URLs, whose path is the WebSocket request
    // target or the socket (the topic then comes from -t).
    int url(const std::string& text) {
        using transport::url_scheme;
        auto scheme_is = [&](std::string_view s) {
            return text.size() >= s.size() && equal_ignoring_case(text.substr(0, s.size()), s);
        };
        if (scheme_is("ws://") || scheme_is("wss://") || scheme_is("unix:"))
            return ctmqtt_url(text);
        if (scheme_is("mqtt://") || scheme_is("tcp://")) {
            cfg_.url_scheme = url_scheme::mqtt;
            cfg_.port = 1883;
        } else if (scheme_is("mqtts://") || scheme_is("ssl://")) {
            cfg_.url_scheme = url_scheme::mqtts;
            cfg_.port = 8883;
            cfg_.tls_use_os_certs = true; // mosquitto trusts the system's CAs for mqtts://
        } else {
            return fail("Error: unsupported URL scheme.\n\n");
        }
        cfg_.websocket_path = "/";
        const std::string rest = text.substr(text.find("//") + 2);
        const auto slash = rest.find('/');
        if (slash == std::string::npos)
            return fail("Error: Invalid URL for -L argument specified - topic missing.\n");
        if (add_topic(rest.substr(slash + 1), "-L topic"))
            return 1;
        std::string authority = rest.substr(0, slash);
        if (const auto at = authority.find('@'); at != std::string::npos) {
            std::string user = authority.substr(0, at);
            if (const auto colon = user.find(':'); colon != std::string::npos) {
                cfg_.password = user.substr(colon + 1);
                user.resize(colon);
            }
            cfg_.username = user;
            authority.erase(0, at + 1);
        }
        if (const auto colon = authority.find(':'); colon != std::string::npos) {
            cfg_.port = std::atoi(authority.c_str() + colon + 1);
            authority.resize(colon);
        }
        cfg_.host = authority;
        return 0;
    }

    int ctmqtt_url(const std::string& text) {
        const auto u = transport::parse_url(text);
        if (!u)
            return fail("Error: Invalid URL for -L argument specified - " + u.error().message() +
                        ".\n");
        cfg_.url_scheme = u->scheme;
        if (u->scheme == transport::url_scheme::unix_socket) {
            cfg_.host = u->path; // a Unix socket is port 0 at a path, as --unix gives it
            cfg_.port = 0;
        } else {
            cfg_.host = u->host;
            cfg_.port = u->port;
            cfg_.websocket_path = u->path;
        }
        if (u->user_name)
            cfg_.username = *u->user_name;
        if (u->password)
            cfg_.password = *u->password;
        return 0;
    }

    int property() {
        // args_[i_] is "-D"; command, name, value (and a key for user properties) follow.
        const auto& args = *args_;
        const std::size_t at = i_ + 1;
        if (at + 2 >= args.size())
            return fail("Error: --property argument given but not enough arguments specified.\n\n");
        const std::string& command = args[at];
        const auto packet = find_packet_name(command);
        if (!packet)
            return fail("Error: Invalid command given in --property argument.\n\n");
        const std::string& name = args[at + 1];
        const auto* info = find_property_name(name);
        if (!info)
            return fail("Error: Invalid property name given in --property argument.\n\n");
        if (!property_allowed_for(*packet, info->id))
            return fail("Error: " + name + " property not allowed for " + command +
                        " in --property argument.\n\n");
        property_value v;
        v.id = info->id;
        v.name = name;
        std::string value;
        if (info->id == property_id::user_property) {
            if (at + 3 >= args.size())
                return fail(
                    "Error: --property argument given but not enough arguments specified.\n\n");
            v.key = args[at + 2];
            value = args[at + 3];
            i_ = at + 3;
        } else {
            value = args[at + 2];
            i_ = at + 2;
        }
        const auto not_supported = [&] {
            return fail("Error: " + name + " property not supported for " + command +
                        " in --property argument.\n\n");
        };
        property_list* list = nullptr;
        switch (*packet) {
        case packet_name::connect: list = &cfg_.connect_props; break;
        case packet_name::publish:
            if (info->id == property_id::topic_alias)
                cfg_.have_topic_alias = true;
            if (info->id == property_id::subscription_identifier)
                return not_supported();
            list = &cfg_.publish_props;
            break;
        case packet_name::subscribe:
            if (info->id != property_id::subscription_identifier &&
                info->id != property_id::user_property)
                return not_supported();
            list = &cfg_.subscribe_props;
            break;
        case packet_name::unsubscribe: list = &cfg_.unsubscribe_props; break;
        case packet_name::disconnect: list = &cfg_.disconnect_props; break;
        case packet_name::will: list = &cfg_.will_props; break;
        case packet_name::auth:
        case packet_name::puback:
        case packet_name::pubrec:
        case packet_name::pubrel:
        case packet_name::pubcomp:
        case packet_name::suback:
        case packet_name::unsuback: return not_supported();
        case packet_name::connack: return 1; // mosquitto says nothing more here
        }
        const auto out_of_range = [&](long n) {
            return fail("Error: Property value (" + std::to_string(n) +
                        ") out of range for property " + name + ".\n\n");
        };
        const auto adding_failed = [&](int type) {
            return fail("Error adding property " + name + " " + std::to_string(type) + "\n");
        };
        switch (info->type) {
        case value_type::byte:
        case value_type::two_byte:
        case value_type::four_byte:
        case value_type::varint: {
            const long n = std::atol(value.c_str());
            const long max = info->type == value_type::byte       ? 0xFFL
                             : info->type == value_type::two_byte ? 0xFFFFL
                                                                  : 0xFFFF'FFFFL;
            if (n < 0 || n > max)
                return out_of_range(n);
            if (info->type == value_type::varint && n > 268'435'455)
                return adding_failed(4);
            v.number = static_cast<std::uint32_t>(n);
            break;
        }
        case value_type::binary:
            if (value.size() > 0xFFFF)
                return fail("Error: Property value too long for property " + name + ".\n\n");
            v.text = value;
            break;
        case value_type::string:
            if (!valid_utf8(value))
                return adding_failed(6);
            v.text = value;
            break;
        case value_type::pair:
            if (!valid_utf8(v.key))
                return adding_failed(7);
            v.text = value;
            break;
        }
        list->push_back(std::move(v));
        cfg_.protocol_version = 5; // -D means MQTT 5 (a later -V can still change it)
        return 0;
    }

    // One option (and its values).
    int one(const std::string& a) {
        if (a == "-A") {
            needs(a, "Binding to a local address");
            return take(cfg_.bind_address, "-A", "address");
        }
        if (a == "--cafile")
            return take(cfg_.cafile, "--cafile", "file");
        if (a == "--capath")
            return take(cfg_.capath, "--capath", "directory");
        if (a == "--cert")
            return take(cfg_.certfile, "--cert", "file");
        if (a == "--ciphers")
            return take(cfg_.ciphers, "--ciphers", "ciphers");
        if (a == "-C") {
            if (!is_sub())
                return unknown(a);
            return number("-C", "count", cfg_.msg_count, 1, INT_MAX, [](int n) {
                return "Error: Invalid message count \"" + std::to_string(n) + "\".\n\n";
            });
        }
        if (a == "-c" || a == "--disable-clean-session") {
            cfg_.clean_session = false;
            return 0;
        }
        if (a == "-d" || a == "--debug")
            return flag(a, true, cfg_.debug);
        if (a == "-D" || a == "--property")
            return property();
        if (a == "-E")
            return flag(a, is_sub(), cfg_.exit_after_sub);
        if (a == "-f" || a == "--file") {
            if (is_sub())
                return unknown(a);
            if (cfg_.mode != none)
                return set_mode(file);
            if (last())
                return missing("-f", "file");
            cfg_.mode = file;
            cfg_.file_input = next();
            ++i_;
            return 0;
        }
        if (a == "-F") {
            if (is_pub())
                return unknown(a);
            if (last())
                return missing("-F", "format");
            cfg_.format = next();
            ++i_;
            return check_format(*cfg_.format);
        }
        if (a == "--help")
            return 2;
        if (a == "-h" || a == "--host")
            return take(cfg_.host, "-h", "host");
        if (a == "--insecure")
            return flag(a, true, cfg_.insecure);
        if (a == "-i" || a == "--id") {
            if (cfg_.id_prefix)
                return fail("Error: -i and -I argument cannot be used together.\n\n");
            return take(cfg_.id, "-i", "id");
        }
        if (a == "-I" || a == "--id-prefix") {
            if (cfg_.id)
                return fail("Error: -i and -I argument cannot be used together.\n\n");
            return take(cfg_.id_prefix, "-I", "id prefix");
        }
        if (a == "-k" || a == "--keepalive")
            return number("-k", "keepalive", cfg_.keepalive, 5, 65535, [](int) {
                return std::string{"Error: Invalid keepalive given, it must be between 5 and "
                                   "65535 inclusive.\n\n"};
            });
        if (a == "--key")
            return take(cfg_.keyfile, "--key", "file");
        if (a == "--keyform") {
            const int r = take(cfg_.keyform, "--keyform", "keyform");
            if (r == 0 && equal_ignoring_case(*cfg_.keyform, "engine"))
                needs(a, "TLS engine support");
            return r;
        }
        if (a == "-L" || a == "--url") {
            if (last())
                return missing("-L", "URL");
            ++i_;
            return url((*args_)[i_]);
        }
        if (a == "-l" || a == "--stdin-line") {
            if (!is_pub())
                return unknown(a);
            return set_mode(stdin_line);
        }
        if (a == "-m" || a == "--message") {
            if (is_sub())
                return unknown(a);
            if (cfg_.mode != none)
                return set_mode(command_line);
            if (last())
                return missing("-m", "message");
            cfg_.message = next();
            if (cfg_.message.size() > 268'435'455)
                return fail("Error: Message length must be less than 268435455 bytes.\n\n");
            cfg_.mode = command_line;
            ++i_;
            return 0;
        }
        if (a == "-M") {
            if (last())
                return fail("Error: -M argument given but max_inflight not specified.\n\n");
            const int n = std::atoi(next().c_str());
            if (n < 1)
                return fail("Error: Maximum inflight messages must be greater than 0.\n\n");
            cfg_.max_inflight = static_cast<unsigned>(n);
            ++i_;
            return 0;
        }
        if (a == "--nodelay")
            return flag(a, true, cfg_.tcp_nodelay);
        if (a == "-n" || a == "--null-message") {
            if (is_sub())
                return unknown(a);
            return set_mode(null);
        }
        if (a == "-N") {
            if (is_pub())
                return unknown(a);
            cfg_.eol = false;
            return 0;
        }
        if (a == "-p" || a == "--port")
            return number("-p", "port", cfg_.port, 0, 65535, [](int n) {
                return "Error: Invalid port given: " + std::to_string(n) + "\n";
            });
        if (a == "--pretty")
            return flag(a, is_sub(), cfg_.pretty);
        if (a == "-P" || a == "--pw")
            return take(cfg_.password, "-P", "password");
        if (a == "--proxy") {
            needs(a, "SOCKS proxying");
            if (last())
                return missing("--proxy", "proxy url");
            if (!next().starts_with("socks5h://"))
                return fail("Error: Unsupported proxy protocol: " + next() + "\n");
            cfg_.proxy = next();
            ++i_;
            return 0;
        }
        if (a == "--psk")
            return take_unavailable(cfg_.psk, "--psk", "key", "TLS-PSK");
        if (a == "--psk-identity")
            return take_unavailable(cfg_.psk_identity, "--psk-identity", "identity", "TLS-PSK");
        if (a == "-q" || a == "--qos")
            return number("-q", "QoS", cfg_.qos, 0, 2, [](int n) {
                return "Error: Invalid QoS given: " + std::to_string(n) + "\n";
            });
        if (a == "--quiet")
            return flag(a, true, cfg_.quiet);
        if (a == "-r" || a == "--retain")
            return flag(a, is_pub(), cfg_.retain);
        if (a == "-R") {
            if (is_pub())
                return unknown(a);
            cfg_.no_retain = true;
            cfg_.send_retain_never = true;
            return 0;
        }
        if (a == "--random-filter") {
            if (!is_sub())
                return unknown(a);
            if (last())
                return missing("--random-filter", "chance");
            cfg_.random_filter = static_cast<int>(10.0 * std::atof(next().c_str()));
            if (cfg_.random_filter > 10000 || cfg_.random_filter < 1)
                return fail("Error: --random-filter chance must be between 0.1-100.0\n\n");
            ++i_;
            return 0;
        }
        if (a == "--remove-retained")
            return flag(a, is_sub(), cfg_.remove_retained);
        if (a == "--repeat") {
            if (!is_pub())
                return unknown(a);
            return number("--repeat", "count", cfg_.repeat_count, 1, INT_MAX, [](int) {
                return std::string{"Error: --repeat argument must be >0.\n\n"};
            });
        }
        if (a == "--repeat-delay") {
            if (!is_pub())
                return unknown(a);
            if (last())
                return missing("--repeat-delay", "time");
            float f = static_cast<float>(std::atof(next().c_str()));
            if (f < 0.0f)
                return fail("Error: --repeat-delay argument must be >=0.0.\n\n");
            f *= 1.0e6f;
            cfg_.repeat_delay_us = static_cast<long>(static_cast<int>(f));
            ++i_;
            return 0;
        }
        if (a == "--retain-as-published")
            return flag(a, is_sub(), cfg_.retain_as_published);
        if (a == "--retained-only")
            return flag(a, is_sub(), cfg_.retained_only);
        if (a == "-s" || a == "--stdin-file") {
            if (is_sub())
                return unknown(a);
            return set_mode(stdin_file);
        }
        if (a == "-t" || a == "--topic") {
            if (last())
                return missing("-t", "topic");
            ++i_;
            return add_topic((*args_)[i_], "-t");
        }
        if (a == "-T" || a == "--filter-out")
            return add_filter(a, cfg_.filter_outs, "-T", "topic filter", "filter");
        if (a == "--tls-alpn")
            return take(cfg_.tls_alpn, "--tls-alpn", "protocol");
        if (a == "--tls-engine")
            return take_unavailable(cfg_.tls_engine, "--tls-engine", "engine_id",
                                    "TLS engine support");
        if (a == "--tls-engine-kpass-sha1")
            return take_unavailable(cfg_.tls_engine_kpass_sha1, "--tls-engine-kpass-sha1",
                                    "kpass sha1", "TLS engine support");
        if (a == "--tls-use-os-certs")
            return flag(a, true, cfg_.tls_use_os_certs);
        if (a == "--tls-version")
            return take(cfg_.tls_version, "--tls-version", "version");
        if (a == "-U" || a == "--unsubscribe")
            return add_filter(a, cfg_.unsub_topics, "-U", "unsubscribe topic", "unsubscribe");
        if (a == "-u" || a == "--username")
            return take(cfg_.username, "-u", "username");
        if (a == "--unix") {
            if (last())
                return missing("--unix", "socket path");
            cfg_.host = next();
            cfg_.port = 0;
            ++i_;
            return 0;
        }
        if (a == "-V" || a == "--protocol-version") {
            if (last())
                return missing("--protocol-version", "version");
            const auto& v = next();
            if (v == "mqttv31" || v == "31")
                cfg_.protocol_version = 3;
            else if (v == "mqttv311" || v == "311")
                cfg_.protocol_version = 4;
            else if (v == "mqttv5" || v == "5")
                cfg_.protocol_version = 5;
            else
                return fail("Error: Invalid protocol version argument given.\n\n");
            ++i_;
            return 0;
        }
        if (a == "-v" || a == "--verbose")
            return flag(a, is_sub(), cfg_.verbose);
        if (a == "--version")
            return 3;
        if (a == "-W") {
            if (is_pub())
                return unknown(a);
            int t = 0;
            const int r = number("-W", "timeout", t, 1, INT_MAX, [](int n) {
                return "Error: Invalid timeout \"" + std::to_string(n) + "\".\n\n";
            });
            cfg_.timeout = r == 0 ? static_cast<unsigned>(t) : 0;
            return r;
        }
        if (a == "--will-payload") {
            if (last())
                return missing("--will-payload", "will payload");
            cfg_.will_payload = next();
            ++i_;
            return 0;
        }
        if (a == "--will-qos")
            return number("--will-qos", "will QoS", cfg_.will_qos, 0, 2, [](int n) {
                return "Error: Invalid will QoS " + std::to_string(n) + ".\n\n";
            });
        if (a == "--will-retain")
            return flag(a, true, cfg_.will_retain);
        if (a == "--will-topic") {
            if (last())
                return missing("--will-topic", "will topic");
            if (!valid_utf8(next()))
                return fail("Error: Malformed UTF-8 in --will-topic argument.\n\n");
            if (!valid_publish_topic(next()))
                return fail("Error: Invalid will topic '" + next() +
                            "', does it contain '+' or '#'?\n");
            cfg_.will_topic = next();
            ++i_;
            return 0;
        }
        if (a == "-x") {
            if (last())
                return missing("-x", "session expiry interval");
            const auto& v = next();
            if (v == "\xE2\x88\x9E") { // ∞
                cfg_.session_expiry_interval = 0xFFFF'FFFFLL;
            } else {
                char* end = nullptr;
                errno = 0;
                const long n = std::strtol(v.c_str(), &end, 0);
                if (end == v.c_str() || *end != '\0')
                    return fail("Error: session-expiry-interval not a number.\n\n");
                if (n > 0xFFFF'FFFFL || n < -1)
                    return fail("Error: session-expiry-interval out of range.\n\n");
                cfg_.session_expiry_interval = n == -1 ? 0xFFFF'FFFFLL : n;
            }
            ++i_;
            return 0;
        }
        return unknown(a);
    }

    // The checks mosquitto_sub makes of -F when it is given.
    int check_format(const std::string& f) {
        const std::size_t len = f.size();
        const auto incomplete = [&] { return fail("Error: Incomplete format specifier.\n"); };
        for (std::size_t i = 0; i < len; ++i) {
            if (f[i] == '%') {
                if (i == len - 1)
                    return incomplete();
                // Each step on must leave a character for the conversion.
                const auto step = [&] { return ++i == len - 1; };
                const auto digits = [&] {
                    while (f[i + 1] >= '0' && f[i + 1] <= '9')
                        if (step())
                            return true;
                    return false;
                };
                if ((f[i + 1] == '0' || f[i + 1] == '-') && step())
                    return incomplete();
                if (digits())
                    return incomplete();
                if (f[i + 1] == '.' && (step() || digits()))
                    return incomplete();
                constexpr std::string_view conversions = "%ACDEFIlmPpqRSrtjJUxX";
                if (conversions.find(f[i + 1]) == std::string_view::npos)
                    return fail(std::string{"Error: Invalid format specifier '"} + f[i + 1] +
                                "'.\n");
                ++i;
            } else if (f[i] == '@') {
                if (i == len - 1)
                    return incomplete();
                ++i;
            } else if (f[i] == '\\') {
                if (i == len - 1)
                    return fail("Error: Incomplete escape specifier.\n");
                constexpr std::string_view escapes = "\\0aenrtv";
                if (escapes.find(f[i + 1]) == std::string_view::npos)
                    return fail(std::string{"Error: Invalid escape specifier '"} + f[i + 1] +
                                "'.\n");
                ++i;
            }
        }
        return 0;
    }

    program prog_;
    config& cfg_;
    const std::vector<std::string>* args_ = nullptr;
    std::size_t i_ = 0;
};

// The checks made once every option is read.
inline int finish(program prog, config& cfg, std::string& error) {
    const auto fail = [&](std::string_view text) {
        error += text;
        return 1;
    };
    if (cfg.will_payload && !cfg.will_topic)
        return fail("Error: Will payload given, but no will topic given.\n");
    if (cfg.will_retain && !cfg.will_topic)
        return fail("Error: Will retain given, but no will topic given.\n");
    if ((cfg.certfile && !cfg.keyfile) || (cfg.keyfile && !cfg.certfile))
        return fail("Error: Both certfile and keyfile must be provided if one of them is set.\n");
    if (cfg.keyform && !cfg.keyfile)
        return fail("Error: If keyform is set, keyfile must be also specified.\n");
    if (cfg.tls_engine_kpass_sha1 && (!cfg.keyform || !cfg.tls_engine))
        return fail("Error: when using tls-engine-kpass-sha1, both tls-engine and keyform must "
                    "also be provided.\n");
    if ((cfg.cafile || cfg.capath) && cfg.psk)
        return fail("Error: Only one of --psk or --cafile/--capath may be used at once.\n");
    if (cfg.psk && !cfg.psk_identity)
        return fail("Error: --psk-identity required if --psk used.\n");

    if (cfg.protocol_version == 5) {
        if (!cfg.clean_session && cfg.session_expiry_interval == -1)
            cfg.session_expiry_interval = 0xFFFF'FFFFLL; // -c alone: a session that never expires
        if (cfg.session_expiry_interval > 0) {
            if (cfg.session_expiry_interval == 0xFFFF'FFFFLL && (cfg.id_prefix || !cfg.id))
                return fail("Error: You must provide a client id if you are using an infinite "
                            "session expiry interval.\n");
            property_value v;
            v.id = property_id::session_expiry_interval;
            v.name = "session-expiry-interval";
            v.number = static_cast<std::uint32_t>(cfg.session_expiry_interval);
            cfg.connect_props.push_back(std::move(v));
        }
    } else if (!cfg.clean_session && (cfg.id_prefix || !cfg.id)) {
        return fail("Error: You must provide a client id if you are using the -c option.\n");
    }
    if (prog == program::sub && cfg.topics.empty())
        return fail("Error: You must specify a topic to subscribe to.\n");
    if (!cfg.host)
        cfg.host = "localhost";

    const std::pair<const property_list*, std::pair<packet_name, std::string_view>> lists[] = {
        {&cfg.connect_props, {packet_name::connect, "CONNECT"}},
        {&cfg.publish_props, {packet_name::publish, "PUBLISH"}},
        {&cfg.subscribe_props, {packet_name::subscribe, "SUBSCRIBE"}},
        {&cfg.unsubscribe_props, {packet_name::unsubscribe, "UNSUBSCRIBE"}},
        {&cfg.disconnect_props, {packet_name::disconnect, "DISCONNECT"}},
        {&cfg.will_props, {packet_name::will, "Will"}},
    };
    for (const auto& [list, what] : lists) {
        if (auto problem = check_properties(*list, what.first)) {
            if (!cfg.quiet)
                error += "Error in " + std::string{what.second} +
                         " properties: " + std::string{*problem} + "\n";
            return 1;
        }
    }
    return 0;
}

} // namespace detail

/// Splits the lines of a defaults file (mosquitto's ~/.config/mosquitto_sub
/// format: one option per line, its value after the first space, '#' starts
/// a comment line) into arguments.
inline std::vector<std::string> split_config_file(std::string_view text) {
    std::vector<std::string> args;
    while (!text.empty()) {
        const auto end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
        while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
            line.remove_suffix(1);
        if (line.empty() || line.front() == '#')
            continue;
        const auto start = line.find_first_not_of(' ');
        if (start == std::string_view::npos)
            continue;
        line.remove_prefix(start);
        const auto space = line.find(' ');
        args.emplace_back(line.substr(0, space));
        if (space != std::string_view::npos)
            args.emplace_back(line.substr(space + 1));
    }
    return args;
}

/// Reads the options: first those of the defaults file (`file_args`, from
/// split_config_file), then the command line (`args`, without the program
/// name), then the checks mosquitto makes once everything is read.
inline parse_result parse(program prog, const std::vector<std::string>& file_args,
                          const std::vector<std::string>& args, config& cfg) {
    parse_result r;
    detail::parser p{prog, cfg};
    if (!file_args.empty())
        r.status = p.run(file_args);
    if (r.status == 0)
        r.status = p.run(args);
    if (r.status == 0)
        r.status = detail::finish(prog, cfg, p.error);
    r.error = std::move(p.error);
    if (r.status == 1)
        r.error += "\nUse '" + std::string{program_name(prog)} + " --help' to see usage.\n";
    return r;
}

inline parse_result parse(program prog, const std::vector<std::string>& args, config& cfg) {
    return parse(prog, {}, args, cfg);
}

/// The client identifier mosquitto's programs use: -i, or -I's prefix with
/// the process id appended; empty otherwise (the broker assigns one; the
/// caller makes one up for MQTT 3.1, which needs it).
inline std::string client_id(const config& cfg, long pid) {
    if (cfg.id_prefix)
        return *cfg.id_prefix + std::to_string(pid);
    return cfg.id.value_or("");
}

/// The port to connect to: -p, -L's (0: a Unix socket), else mosquitto's
/// default: 8883 with --cafile, --capath or --psk, 1883 otherwise.
inline std::uint16_t port(const config& cfg) noexcept {
    if (cfg.port < 0)
        return (cfg.cafile || cfg.capath || cfg.psk) ? 8883 : 1883;
    return static_cast<std::uint16_t>(cfg.port);
}

} // namespace ctmqtt::tools
