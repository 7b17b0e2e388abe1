// ReMoni-style connection profiles: named broker settings in a YAML file,
// and one call that makes a connected client from a profile's name.
//
//     # secrets.yaml
//     mqtt_local:
//       host: 127.0.0.1
//       port: 1883
//     mqtt_cloud:
//       transport: tls          # tcp (default), tls, websockets or unix
//       ip: 203.0.113.7         # host or ip
//       port: 8883              # default: 1883, 8883 (TLS), 80 / 443 (WebSocket)
//       username: gateway-17
//       password: "s3cret"
//       tls: {ca: /etc/remoni/ca.pem, cert: /etc/remoni/gw.pem, key: /etc/remoni/gw.key}
//
//     auto client = ctmqtt::profiles::connect("secrets.yaml", "mqtt_cloud", options);
//     if (!client) { /* client.error().message() names the file, profile and key */ }
//     (*client)->publish("gateway/17/status", "up", ctmqtt::qos::at_least_once);
//
// The client is a basic_blocking_client<transport::any>: its own network
// thread (the ReMoni loop_start), calls that wait with a timeout,
// disconnect() (also at destruction). Any other client can be configured
// from a profile too: profile::apply_to(client_options&) and
// profile::configure(transport) (url() and tls_options() for the pieces).
//
// Includes yaml-cpp: link it (CMake: yaml-cpp; Debian: libyaml-cpp-dev).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include <ctmqtt/client/blocking.hpp>
#include <ctmqtt/core/result.hpp>
#include <ctmqtt/transport/any.hpp>
#include <ctmqtt/transport/detail/error_text.hpp>
#include <ctmqtt/transport/url.hpp>

namespace ctmqtt::profiles {

// ---------------------------------------------------------------- errors

/// What goes wrong with a profile. Each error's message names the file, the
/// profile and the key (and where in the file).
enum class errc : std::uint8_t {
    unreadable_file = 1, ///< the file cannot be read
    bad_yaml,            ///< not YAML, or not a mapping of profiles
    missing_profile,     ///< no profile of that name
    missing_key,         ///< a key the profile needs is not there
    bad_value,           ///< a key's value cannot be used
};

namespace detail {
struct error_traits {
    using errc = profiles::errc;
    static constexpr const char* name = "ctmqtt.profiles";
    static std::string message(errc e, std::uint32_t text) {
        if (auto t = transport::detail::error_texts::recall(text); !t.empty())
            return "profiles: " + t;
        switch (e) { // the text was not kept (too many distinct errors)
        case errc::unreadable_file: return "profiles: cannot read the file";
        case errc::bad_yaml: return "profiles: the file is not a YAML mapping of profiles";
        case errc::missing_profile: return "profiles: no such profile";
        case errc::missing_key: return "profiles: a key is missing";
        case errc::bad_value: return "profiles: a value cannot be used";
        }
        return "profiles: error";
    }
};
} // namespace detail

inline const std::error_category& category() noexcept {
    return transport::detail::packed_category<detail::error_traits>::instance();
}
/// An error whose message is "profiles: " and `text`.
inline std::error_code make_error_code(errc e, std::string_view text) {
    return transport::detail::packed_error_quoting<detail::error_traits>(e, text);
}
inline std::error_condition make_error_condition(errc e) noexcept {
    return transport::detail::packed_condition<detail::error_traits>(e);
}

// ---------------------------------------------------------------- a profile

enum class transport_kind : std::uint8_t { tcp, tls, websockets, unix_socket };

/// The TLS files of a profile (paths). ca empty: the system's store.
struct tls_files {
    std::string ca;
    std::string cert;
    std::string key;
    friend bool operator==(const tls_files&, const tls_files&) = default;
};

/// One named profile, as read from the file.
struct profile {
    std::string name;
    transport_kind transport = transport_kind::tcp;
    std::string host;       ///< `host` or `ip`
    std::uint16_t port = 0; ///< the scheme's default when the file gives none
    std::string path;       ///< websockets: the request path ("/mqtt"); unix: the socket
    std::optional<std::string> username;
    std::optional<std::string> password;
    std::optional<tls_files> tls; ///< TLS is on with transport tls or a `tls` block
    std::optional<std::uint16_t> keepalive;
    std::optional<std::string> client_id;

    bool secure() const noexcept { return transport == transport_kind::tls || tls.has_value(); }

    /// Where the profile connects: mqtt://, mqtts://, ws://, wss:// or unix:
    /// (without credentials).
    transport::broker_url url() const {
        transport::broker_url u;
        switch (transport) {
        case transport_kind::tcp:
        case transport_kind::tls:
            u.scheme = secure() ? transport::url_scheme::mqtts : transport::url_scheme::mqtt;
            break;
        case transport_kind::websockets:
            u.scheme = secure() ? transport::url_scheme::wss : transport::url_scheme::ws;
            break;
        case transport_kind::unix_socket: u.scheme = transport::url_scheme::unix_socket; break;
        }
        u.host = host;
        u.port = port;
        u.path = path;
        return u;
    }

    /// The TLS files as transport options.
    transport::tls_options tls_options() const {
        transport::tls_options o;
        if (tls) {
            o.ca_file = tls->ca;
            o.certificate_file = tls->cert;
            o.private_key_file = tls->key;
        }
        return o;
    }

    /// Sets the broker, credentials, keep alive and (unless `o` has one) the
    /// client id of `o` from the profile.
    void apply_to(client_options& o) const {
        o.brokers.clear();
        url().apply_to(o);
        if (username)
            o.user_name = username;
        if (password)
            o.password = password;
        if (keepalive)
            o.keep_alive = *keepalive;
        if (client_id && o.client_id.empty())
            o.client_id = *client_id;
    }

    /// Tells a URL-driven transport (transport::any) how to reach the broker:
    /// the scheme and path of url(), and the TLS files.
    template <class Transport>
    void configure(Transport& t) const {
        t.add(url());
        if (secure())
            t.set_tls_options(tls_options());
    }

    friend bool operator==(const profile&, const profile&) = default;
};

namespace detail {

inline std::string quote(std::string_view s) {
    return "\"" + std::string{s} + "\"";
}

// " (line 4)": where a node is in the file.
inline std::string where(const YAML::Node& n) {
    const auto m = n.Mark();
    if (m.is_null())
        return {};
    return " (line " + std::to_string(m.line + 1) + ")";
}

// Reads one profile; every error names the key, the profile and the file.
class profile_reader {
public:
    profile_reader(const YAML::Node& node, std::string name, const std::string& source)
        : node_(node), context_("profile " + quote(name) + " in " + source),
          name_(std::move(name)) {}

    result<profile> read() {
        profile p;
        p.name = name_;
        if (!node_.IsMap())
            return make_error_code(errc::bad_yaml,
                                   context_ + " is not a mapping of settings" + where(node_));
        if (auto ec = read_transport(p))
            return ec;
        if (auto ec = read_tls(p))
            return ec;
        if (auto ec = read_address(p))
            return ec;
        if (auto ec = text("username", p.username))
            return ec;
        if (auto ec = text("password", p.password))
            return ec;
        if (auto ec = text("client_id", p.client_id))
            return ec;
        if (auto ec = number("keepalive", p.keepalive, 0))
            return ec;
        return p;
    }

private:
    std::error_code bad(const YAML::Node& n, std::string_view key, std::string_view why) const {
        return make_error_code(errc::bad_value,
                               context_ + ": " + quote(key) + " " + std::string{why} + where(n));
    }
    std::error_code missing(std::string_view what) const {
        return make_error_code(errc::missing_key, context_ + " has no " + std::string{what});
    }

    // A scalar's text (numbers and booleans as written).
    std::error_code text(const char* key, std::optional<std::string>& out) const {
        const auto n = node_[key];
        if (!n.IsDefined() || n.IsNull())
            return {};
        if (!n.IsScalar())
            return bad(n, key, "is not a single value");
        out = n.Scalar();
        return {};
    }

    std::error_code number(const char* key, std::optional<std::uint16_t>& out, unsigned min) const {
        std::optional<std::string> t;
        if (auto ec = text(key, t); ec || !t)
            return ec;
        unsigned value = 0;
        bool ok = !t->empty() && t->size() <= 5;
        for (char c : *t)
            if (c < '0' || c > '9')
                ok = false;
            else
                value = value * 10 + static_cast<unsigned>(c - '0');
        if (!ok || value < min || value > 65'535)
            return bad(node_[key], key,
                       "is " + quote(*t) + ", not a number from " + std::to_string(min) +
                           " to 65535");
        out = static_cast<std::uint16_t>(value);
        return {};
    }

    std::error_code read_transport(profile& p) const {
        std::optional<std::string> t;
        if (auto ec = text("transport", t); ec || !t)
            return ec;
        if (*t == "tcp")
            p.transport = transport_kind::tcp;
        else if (*t == "tls")
            p.transport = transport_kind::tls;
        else if (*t == "websockets")
            p.transport = transport_kind::websockets;
        else if (*t == "unix")
            p.transport = transport_kind::unix_socket;
        else
            return bad(node_["transport"], "transport",
                       "is " + quote(*t) + " (tcp, tls, websockets or unix)");
        return {};
    }

    std::error_code read_address(profile& p) const {
        std::optional<std::string> path;
        if (auto ec = text("path", path))
            return ec;
        if (p.transport == transport_kind::unix_socket) {
            if (!path || path->empty())
                return missing(quote("path") + " (the socket of a unix profile)");
            p.path = *path;
            return {};
        }
        std::optional<std::string> host, ip;
        if (auto ec = text("host", host))
            return ec;
        if (auto ec = text("ip", ip))
            return ec;
        if (host && ip)
            return bad(node_["ip"], "ip", "and \"host\" are both given (one of them)");
        if (!host && !ip)
            return missing(quote("host") + " (or " + quote("ip") + ")");
        p.host = host ? *host : *ip;
        if (p.host.empty())
            return bad(node_[host ? "host" : "ip"], host ? "host" : "ip", "is empty");
        std::optional<std::uint16_t> port;
        if (auto ec = number("port", port, 1))
            return ec;
        p.port = port ? *port : transport::default_port(p.url().scheme);
        if (p.transport == transport_kind::websockets)
            p.path = path ? *path : "/mqtt";
        return {};
    }

    std::error_code read_tls(profile& p) const {
        const auto n = node_["tls"];
        if (!n.IsDefined() || n.IsNull())
            return {};
        if (!n.IsMap())
            return bad(n, "tls", "is not a mapping of files (ca, cert, key)");
        if (p.transport == transport_kind::unix_socket)
            return bad(n, "tls",
                       "is given for a unix profile (TLS over a Unix socket is not "
                       "supported)");
        tls_files files;
        for (auto [key, out] : {std::pair{"ca", &files.ca}, std::pair{"cert", &files.cert},
                                std::pair{"key", &files.key}}) {
            const auto v = n[key];
            if (!v.IsDefined() || v.IsNull())
                continue;
            if (!v.IsScalar())
                return bad(v, std::string{"tls."} + key, "is not a file name");
            *out = v.Scalar();
        }
        if (files.cert.empty() != files.key.empty())
            return missing(quote(files.cert.empty() ? "tls.cert" : "tls.key") + " (" +
                           quote(files.cert.empty() ? "tls.key" : "tls.cert") +
                           " needs it: a client certificate and its key go together)");
        p.tls = std::move(files);
        return {};
    }

    YAML::Node node_;
    std::string context_;
    std::string name_;
};

} // namespace detail

// ---------------------------------------------------------------- the file

/// The profiles of one file: every top-level key, each read when the file
/// was loaded (a profile with a mistake keeps its error until asked for, so
/// one bad profile does not stop the others).
class profile_set {
public:
    /// Reads `yaml`; `source` names it in errors (a file's path).
    static result<profile_set> parse(std::string_view yaml, std::string source = "<string>") {
        profile_set set;
        set.source_ = std::move(source);
        YAML::Node root;
        try {
            root = YAML::Load(std::string{yaml});
        } catch (const YAML::Exception& e) {
            std::string at;
            if (!e.mark.is_null())
                at =
                    ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
            return make_error_code(errc::bad_yaml, set.source_ + at + ": " + e.msg);
        }
        if (!root.IsMap())
            return make_error_code(errc::bad_yaml, set.source_ +
                                                       " is not a mapping of profile names to "
                                                       "settings");
        try {
            for (const auto& entry : root) {
                if (!entry.first.IsScalar())
                    return make_error_code(errc::bad_yaml, set.source_ +
                                                               ": a profile name is not "
                                                               "text" +
                                                               detail::where(entry.first));
                auto name = entry.first.Scalar();
                set.entries_.push_back(
                    {name, detail::profile_reader(entry.second, name, set.source_).read()});
            }
        } catch (const YAML::Exception& e) { // yaml-cpp's own surprises
            return make_error_code(errc::bad_yaml, set.source_ + ": " + e.msg);
        }
        return set;
    }

    /// Reads the file at `path`.
    static result<profile_set> load(const std::filesystem::path& path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            std::error_code why(errno, std::generic_category());
            return make_error_code(errc::unreadable_file,
                                   "cannot read " + path.string() + ": " + why.message());
        }
        std::stringstream text;
        text << in.rdbuf();
        return parse(text.str(), path.string());
    }

    /// The profile named `name`, or the error: none of that name (the
    /// message lists those there are), or the profile's own mistake.
    result<profile> get(std::string_view name) const {
        for (const auto& e : entries_)
            if (e.name == name)
                return e.read;
        std::string names;
        for (const auto& e : entries_)
            names += (names.empty() ? "" : ", ") + e.name;
        return make_error_code(errc::missing_profile, source_ + " has no profile " +
                                                          detail::quote(name) + " (it has " +
                                                          (names.empty() ? "none" : names) + ")");
    }

    /// The names of the file's top-level keys, in file order.
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& e : entries_)
            out.push_back(e.name);
        return out;
    }
    const std::string& source() const noexcept { return source_; }

private:
    struct entry {
        std::string name;
        result<profile> read;
    };
    std::string source_;
    std::vector<entry> entries_;
};

/// profile_set::load.
inline result<profile_set> load(const std::filesystem::path& path) {
    return profile_set::load(path);
}

// ---------------------------------------------------------------- connecting

/// A connected blocking client made from `p`: `options` gives what the
/// profile does not (client id, protocol version, will, reconnect delays,
/// ...); the profile's broker, credentials and keep alive replace its own.
/// Waits until connected, a final refusal (bad credentials, not authorised:
/// that error), or `timeout`: failures the client retries (the network, TLS)
/// are retried until then, and the last one is returned (std::errc::timed_out
/// when no attempt finished). TLS files that cannot be used are an error at
/// once.
template <class Transport = transport::any, class Store = store::memory>
result<std::unique_ptr<basic_blocking_client<Transport, Store>>>
connect(const profile& p, client_options options = {},
        std::chrono::milliseconds timeout = std::chrono::seconds{10}, Store store = Store{}) {
    static_assert(
        requires(Transport & t, const transport::broker_url& u, transport::tls_options o) {
            t.add(u);
            t.set_tls_options(o);
        },
        "profiles::connect needs a URL-driven transport (transport::any)");
    if (p.secure())
        if (auto context = transport::detail::make_tls_context(p.tls_options()); !context)
            return context.error();
    p.apply_to(options);
    struct last_failure {
        std::mutex mutex;
        std::error_code error;
    };
    auto last = std::make_shared<last_failure>();
    options.on_state = [last, user = std::move(options.on_state)](const connection_state& s) {
        if (s.what == connection_state::kind::retrying && s.error) {
            std::lock_guard lock(last->mutex);
            last->error = s.error;
        }
        if (user)
            user(s);
    };
    auto client = std::make_unique<basic_blocking_client<Transport, Store>>(std::move(options),
                                                                            std::move(store));
    p.configure(client->async_client().transport()); // before connecting: nothing runs it yet
    if (auto ec = client->connect(timeout)) {
        std::lock_guard lock(last->mutex);
        if (ec == std::errc::timed_out && last->error)
            return last->error;
        return ec;
    }
    return client;
}

/// connect() with the profile named `name` of `set`.
template <class Transport = transport::any, class Store = store::memory>
result<std::unique_ptr<basic_blocking_client<Transport, Store>>>
connect(const profile_set& set, std::string_view name, client_options options = {},
        std::chrono::milliseconds timeout = std::chrono::seconds{10}, Store store = Store{}) {
    auto p = set.get(name);
    if (!p)
        return p.error();
    return connect<Transport, Store>(*p, std::move(options), timeout, std::move(store));
}

/// connect() with the profile named `name` of the file at `path`: one call
/// from a file and a name to a connected client.
template <class Transport = transport::any, class Store = store::memory>
result<std::unique_ptr<basic_blocking_client<Transport, Store>>>
connect(const std::filesystem::path& path, std::string_view name, client_options options = {},
        std::chrono::milliseconds timeout = std::chrono::seconds{10}, Store store = Store{}) {
    auto set = load(path);
    if (!set)
        return set.error();
    return connect<Transport, Store>(*set, name, std::move(options), timeout, std::move(store));
}

} // namespace ctmqtt::profiles

template <>
struct std::is_error_condition_enum<ctmqtt::profiles::errc> : std::true_type {};
