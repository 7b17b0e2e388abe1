// What ctmqtt-pub and ctmqtt-sub share at run time: reading the options
// (defaults file and command line), printing, libmosquitto's debug lines,
// and turning a failed connection into mosquitto's message and exit status.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <unistd.h>

#include <ctmqtt/client/options.hpp>
#include <ctmqtt/core/session_error.hpp>

#include "client_config.hpp"
#include "messages.hpp"
#include "options.hpp"

namespace ctmqtt::tools {

/// The defaults file, as mosquitto reads its own: $XDG_CONFIG_HOME/<name>,
/// else $HOME/.config/<name>. Missing: no arguments.
inline std::vector<std::string> read_defaults_file(program p) {
    std::string path;
    if (const char* xdg = std::getenv("XDG_CONFIG_HOME"))
        path = std::string{xdg} + "/" + std::string{program_name(p)};
    else if (const char* home = std::getenv("HOME"))
        path = std::string{home} + "/.config/" + std::string{program_name(p)};
    if (path.empty())
        return {};
    std::ifstream in{path, std::ios::binary};
    if (!in)
        return {};
    const std::string text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
    return split_config_file(text);
}

/// Reads the options and does what mosquitto's programs do before they
/// connect: usage, version, errors. Returns the exit status when the
/// program should end here.
inline std::optional<int> load_options(program p, int argc, char** argv, config& cfg) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    const auto r = parse(p, read_defaults_file(p), args, cfg);
    switch (r.status) {
    case 0: break;
    case 2: std::fputs(usage(p).c_str(), stdout); return 1;
    case 3: std::fputs(version_text(p).c_str(), stdout); return 1;
    default: std::fputs(r.error.c_str(), stderr); return 1;
    }
    return std::nullopt;
}

/// Refuses what this build cannot do yet (TLS engines, TLS-PSK, SOCKS, -A)
/// or what the client cannot send: the program ends with 1.
inline bool refuse_unavailable(program p, const config& cfg, const connect_setup& setup) {
    if (cfg.unavailable) {
        std::fprintf(stderr, "%s: %s: %s is not available in this build yet\n",
                     std::string{program_name(p)}.c_str(), cfg.unavailable->first.c_str(),
                     cfg.unavailable->second.c_str());
        return true;
    }
    if (setup.unsupported) {
        std::fprintf(stderr, "%s: %s: not supported by this build's MQTT client yet\n",
                     std::string{program_name(p)}.c_str(), setup.unsupported->c_str());
        return true;
    }
    return false;
}

/// stdout and stderr as mosquitto's programs use them: stdout flushed after
/// each write, error messages silenced by --quiet.
class terminal {
public:
    explicit terminal(bool quiet) : quiet_(quiet) {}
    /// Writes to stdout; false when stdout failed (a closed pipe).
    bool out(std::string_view s) {
        if (!s.empty())
            std::fwrite(s.data(), 1, s.size(), stdout);
        std::fflush(stdout);
        return std::ferror(stdout) == 0;
    }
    void error(std::string_view s) const {
        if (quiet_ || s.empty())
            return;
        std::fwrite(s.data(), 1, s.size(), stderr);
        std::fflush(stderr);
    }

private:
    bool quiet_;
};

/// The TLS options libmosquitto refuses before connecting (mosquitto_tls_set,
/// the key form, mosquitto_tls_opts_set, then its TLS context), with its texts.
inline std::optional<std::string_view> refuse_tls_options(const config& cfg) {
    const auto readable = [](const std::optional<std::string>& path) {
        std::FILE* f = std::fopen(path->c_str(), "r");
        if (f)
            std::fclose(f);
        return f != nullptr;
    };
    // The files are looked at only with a CA option, as mosquitto_tls_set is called.
    if ((cfg.cafile || cfg.capath) &&
        ((cfg.cafile && !readable(cfg.cafile)) || (cfg.certfile && !readable(cfg.certfile)) ||
         (cfg.keyfile && !readable(cfg.keyfile))))
        return "Error: Problem setting TLS options: File not found.\n";
    if (cfg.keyform && !detail::equal_ignoring_case(*cfg.keyform, "pem") &&
        !detail::equal_ignoring_case(*cfg.keyform, "engine"))
        return "Error: Problem setting key form, it must be one of 'pem' or 'engine'.\n";
    if (cfg.tls_version) {
        const auto& v = *cfg.tls_version;
        bool known = false;
        for (std::string_view name : {"tlsv1.3", "tlsv1.2", "tlsv1.1"})
            known = known || detail::equal_ignoring_case(v, name);
        if (!known)
            return "Error: Problem setting TLS options, check the options are valid.\n";
        // Accepted in any case, then compared exactly when the context is made.
        if (uses_tls(cfg) && v != "tlsv1.3" && v != "tlsv1.2" && v != "tlsv1.1")
            return "Unable to connect (Invalid function arguments provided.).\n";
    }
    return std::nullopt;
}

/// What libmosquitto refuses before connecting: says so, and the program ends with 1.
inline bool refuse_before_connect(program p, const config& cfg, const connect_setup& setup,
                                  const terminal& term) {
    const bool v5 = cfg.protocol_version == 5;
    if (!cfg.clean_session && setup.options.client_id.empty())
        term.error(p == program::pub ? "Error: Invalid id.\n"
                                     : "Error: Invalid id and/or clean_session.\n");
    else if (!v5 && !cfg.will_props.empty())
        term.error("Error: Problem setting will.\n");
    else if (!v5 && cfg.password && !cfg.username)
        term.error("Error: Problem setting username and/or password.\n");
    else if (const auto tls = refuse_tls_options(cfg))
        term.error(*tls);
    else if (!v5 && !cfg.connect_props.empty())
        term.error("Unable to connect (This feature is not supported.).\n");
    else
        return false;
    return true;
}

/// libmosquitto's debug lines (-d): "Client <id> sending CONNECT" on stdout.
/// The identifiers of packets are counted here the way libmosquitto counts
/// its own (the client API does not report them).
class debug_log {
public:
    debug_log(bool on, std::string id) : on_(on), id_(std::move(id)) {}
    void set_id(std::string id) { id_ = std::move(id); }
    void client(std::string_view text) const {
        if (!on_)
            return;
        std::printf("Client %s %.*s\n", id_.empty() ? "(null)" : id_.c_str(),
                    static_cast<int>(text.size()), text.data());
        std::fflush(stdout);
    }
    void line(std::string_view text) const {
        if (!on_)
            return;
        std::printf("%.*s\n", static_cast<int>(text.size()), text.data());
        std::fflush(stdout);
    }
    bool on() const noexcept { return on_; }
    /// The next packet identifier libmosquitto would have used.
    int next_mid() noexcept {
        if (++mid_ == 0x10000)
            mid_ = 1;
        return mid_;
    }

private:
    bool on_;
    std::string id_;
    int mid_ = 0;
};

/// What ended a connection attempt, as mosquitto's programs report it.
struct connect_failure {
    std::string text;     ///< for stderr
    int status = 1;       ///< the exit status
    bool refused = false; ///< a CONNACK refused the connection
};

inline connect_failure describe_connect_failure(std::error_code ec, int protocol_version) {
    connect_failure f;
    // TLS: libmosquitto's words only (-d prints ours). A certificate refused
    // in the handshake is "A TLS error occurred." (MOSQ_ERR_TLS, 8) when it
    // is found in the loop, as it is with any broker further away than
    // loopback (there mosquitto's programs sometimes find it inside connect:
    // "Unable to connect (A TLS error occurred.).", 1); options OpenSSL
    // cannot use fail inside connect; a server that hangs up on our client
    // certificate is a lost connection.
    switch (classify_failure(ec)) {
    case failure_kind::tls_setup: f.text = "Unable to connect (A TLS error occurred.).\n"; return f;
    case failure_kind::tls_handshake:
        f.text = "Error: A TLS error occurred.\n";
        f.status = exit_code::tls;
        return f;
    case failure_kind::tls_client_certificate:
        f.text = "Error: " + std::string{error_text::lost} + "\n";
        f.status = exit_code::lost;
        return f;
    case failure_kind::other: break;
    }
    if (ec.category() == session_category()) {
        const auto rule = static_cast<session_errc>(ec.value() & 0xFF);
        const auto detail = static_cast<unsigned>((ec.value() >> 8) & 0xFF);
        if (rule == session_errc::connection_refused ||
            rule == session_errc::connection_refused_v3) {
            f.refused = true;
            f.status = static_cast<int>(detail);
            f.text = connection_error(
                rule == session_errc::connection_refused ? 5 : protocol_version, detail);
            return f;
        }
    }
    const std::string_view category = ec.category().name();
    if (category == "asio.netdb" || category == "asio.addrinfo") {
        f.text = "Unable to connect (Lookup error.).\n";
        return f;
    }
    f.text = "Error: " + ec.message() + "\n";
    return f;
}

/// A connection that ended because the broker broke the protocol (as
/// opposed to the network or the broker going away): mosquitto's programs
/// stop there instead of reconnecting.
inline bool is_protocol_violation(std::error_code ec) {
    if (ec.category() == session_category()) {
        switch (static_cast<session_errc>(ec.value() & 0xFF)) {
        case session_errc::connection_lost:
        case session_errc::keep_alive_timeout:
        case session_errc::server_disconnected:
        case session_errc::not_connected: return false;
        default: return true;
        }
    }
    const std::string_view category = ec.category().name();
    return category.starts_with("ctmqtt.codec");
}

/// This process's identifier (for -I).
inline long process_id() {
    return static_cast<long>(::getpid());
}

} // namespace ctmqtt::tools
