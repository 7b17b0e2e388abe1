// sgframework: the "Secure Gateway" app/resource framework over ctmqtt.
//
// Resources produce data and take commands; apps consume data and send
// commands. Both talk over one broker through a fixed topic tree of three
// levels, `<prefix>/<service>/<signal>`, with text payloads, and interoperate
// with the original Python sgframework programs on the same broker (same
// topics, payload text, retain flags, order on connect; MQTT 3.1 by default).
//
//     ctmqtt::sgframework::resource r{"climate", "broker.local"};
//     r.register_outgoing_data("actualtemperature", {.default_value = "20.0"});
//     r.register_incoming_command("targettemperature",
//         [](auto&, std::string_view, std::string_view, std::string_view, std::string_view v) {
//             set_target(v);          // returns nothing: the echo repeats v
//         });
//     r.start({.threaded_networking = true});
//     r.send_data("actualtemperature", 21.5);   // "21.5" to data/climate/actualtemperature
//     r.stop();
//
// Both classes are thin layers over basic_client<Transport, Store> (one
// client per start()); `resource` and `app` use TCP and the memory store.
// The wire contract, the texts and the errors: docs/facades-sgframework.md.
#pragma once

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <ctmqtt/client/client.hpp>
#include <ctmqtt/core/utf8.hpp>
#include <ctmqtt/transport/detail/error_text.hpp>
#include <ctmqtt/transport/url.hpp>

#if defined(_WIN32)
#include <process.h>
#else
#include <unistd.h>
#endif

namespace ctmqtt::sgframework {

// ------------------------------------------------------------------ constants

inline constexpr std::string_view prefix_command = "command";
inline constexpr std::string_view prefix_data = "data";
inline constexpr std::string_view prefix_commandavailable = "commandavailable";
inline constexpr std::string_view prefix_dataavailable = "dataavailable";
inline constexpr std::string_view prefix_resourceavailable = "resourceavailable";
inline constexpr std::string_view suffix_presence = "presence";
inline constexpr std::string_view payload_true = "True";
inline constexpr std::string_view payload_false = "False";

/// The files of a certificate directory.
inline constexpr std::string_view ca_certs = "ca_public_certificate.pem";
inline constexpr std::string_view certfile = "public_certificate.pem";
inline constexpr std::string_view keyfile = "private_key.pem";

inline constexpr std::uint16_t default_port = 1883;
inline constexpr ctmqtt::qos default_qos = ctmqtt::qos::at_least_once;
inline constexpr std::chrono::seconds default_keepalive{10};
inline constexpr std::chrono::milliseconds default_timeout{1000};
/// How long stop() waits for the broker to acknowledge what was published.
inline constexpr std::chrono::milliseconds stop_wait{1000};

// ------------------------------------------------------------------ errors

enum class errc : std::uint8_t {
    not_started = 1,     ///< an operation before start(); detail: the operation
    unregistered_signal, ///< send_data on a signal not registered; detail: the signal
    bad_name,            ///< a name unusable as a topic level; detail: the name
    bad_host,            ///< an empty broker host
    threaded_networking, ///< loop() while the network runs on a thread of its own
    in_callback,         ///< start()/stop()/loop() from a callback; detail: the operation
    no_tls_transport,    ///< a certificate directory with a transport without TLS; detail: it
    no_store,            ///< the Store cannot be made without store_factory
    client_id_too_long,  ///< MQTT 3.1 and a client id over 23 bytes; detail: the id
};

namespace detail {

struct error_traits {
    using errc = sgframework::errc;
    static constexpr const char* name = "ctmqtt.sgframework";
    static std::string message(errc e, std::uint32_t text) {
        const auto q = transport::detail::quoted(text);
        switch (e) {
        case errc::not_started: return "sgframework:" + q + " called before start()";
        case errc::unregistered_signal:
            return "sgframework: the data signal" + q +
                   " is not registered (register_outgoing_data)";
        case errc::bad_name:
            return "sgframework: the name" + q +
                   " cannot be a topic level (empty, or contains '/', '+', '#', U+0000 or "
                   "bytes that are not UTF-8)";
        case errc::bad_host: return "sgframework: the broker host is empty";
        case errc::threaded_networking:
            return "sgframework: loop() drives the network only without threaded networking "
                   "(start_options::threaded_networking is set)";
        case errc::in_callback:
            return "sgframework:" + q +
                   " cannot run inside a callback of the same object (it waits for the network)";
        case errc::no_tls_transport:
            return "sgframework: the certificate directory" + q +
                   " needs a transport with TLS (transport::tls or transport::any)";
        case errc::no_store:
            return "sgframework: the Store is not default-constructible: set store_factory";
        case errc::client_id_too_long:
            return "sgframework: the client id" + q +
                   " is longer than the 23 bytes MQTT 3.1 allows (use a shorter name, or "
                   "protocol 3.1.1 or 5.0)";
        }
        return "sgframework error";
    }
};

} // namespace detail

inline const std::error_category& error_category() noexcept {
    return transport::detail::packed_category<detail::error_traits>::instance();
}

/// An error of `e` whose message quotes `text` (the offending value).
inline std::error_code make_error_code(errc e, std::string_view text = {}) {
    return transport::detail::packed_error_quoting<detail::error_traits>(e, text);
}

inline std::error_condition make_error_condition(errc e) noexcept {
    return transport::detail::packed_condition<detail::error_traits>(e);
}

// ------------------------------------------------------------------ logging

enum class log_level : std::uint8_t { debug, info, warning, error };

constexpr std::string_view to_string(log_level l) noexcept {
    switch (l) {
    case log_level::debug: return "DEBUG";
    case log_level::info: return "INFO";
    case log_level::warning: return "WARNING";
    case log_level::error: return "ERROR";
    }
    return "?";
}

/// Where an app or resource says what happens. Called from the networking
/// thread and from the threads calling send_data and the like: a sink must
/// be safe to call from several threads.
using log_sink = std::function<void(log_level, std::string_view message)>;

/// The default sink: `LEVEL:name:message` on stderr, for `min` and above.
inline log_sink stderr_logger(std::string name, log_level min = log_level::warning) {
    return [name = std::move(name), min](log_level level, std::string_view message) {
        if (level < min)
            return;
        const auto level_text = to_string(level);
        std::fprintf(stderr, "%.*s:%s:%.*s\n", static_cast<int>(level_text.size()),
                     level_text.data(), name.c_str(), static_cast<int>(message.size()),
                     message.data());
    };
}

// ------------------------------------------------------------------ text

/// White space as Python's str.strip() sees it (ASCII, U+001C..U+001F and
/// the Unicode spaces), at either end of `s` removed.
inline std::string_view trim(std::string_view s) noexcept {
    const auto u = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const auto ascii = [](unsigned char c) {
        return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    };
    const auto two = [](unsigned char a, unsigned char b) {
        return a == 0xC2 && (b == 0x85 || b == 0xA0);
    };
    const auto three = [](unsigned char a, unsigned char b, unsigned char c) {
        if (a == 0xE1)
            return b == 0x9A && c == 0x80;
        if (a == 0xE2 && b == 0x80)
            return c <= 0x8A || c == 0xA8 || c == 0xA9 || c == 0xAF;
        if (a == 0xE2 && b == 0x81)
            return c == 0x9F;
        return a == 0xE3 && b == 0x80 && c == 0x80;
    };
    for (;;) {
        const auto n = s.size();
        if (n >= 1 && ascii(u(0)))
            s.remove_prefix(1);
        else if (n >= 2 && two(u(0), u(1)))
            s.remove_prefix(2);
        else if (n >= 3 && three(u(0), u(1), u(2)))
            s.remove_prefix(3);
        else
            break;
    }
    for (;;) {
        const auto n = s.size();
        if (n >= 1 && ascii(u(n - 1)))
            s.remove_suffix(1);
        else if (n >= 2 && two(u(n - 2), u(n - 1)))
            s.remove_suffix(2);
        else if (n >= 3 && three(u(n - 3), u(n - 2), u(n - 1)))
            s.remove_suffix(3);
        else
            break;
    }
    return s;
}

/// True when `s` is UTF-8 text as Python decodes it (U+0000 allowed).
inline bool is_utf8_text(std::string_view s) noexcept {
    for (;;) {
        const auto nul = s.find('\0');
        if (validate_utf8(s.substr(0, nul)))
            return false;
        if (nul == std::string_view::npos)
            return true;
        s.remove_prefix(nul + 1);
    }
}

/// A floating-point number as Python's str() writes it: the shortest text
/// that reads back the same, "21.0" for a whole number, an exponent below
/// 1e-4 and from 1e16 on ("1e-05", "1e+16"), "nan", "inf", "-inf".
template <std::floating_point F>
std::string float_text(F v) {
    if (std::isnan(v))
        return "nan";
    if (std::isinf(v))
        return v < 0 ? "-inf" : "inf";
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    std::string_view s(buf, static_cast<std::size_t>(r.ptr - buf)); // [-]d[.ddd]e(+|-)xx
    std::string out;
    if (s.front() == '-') {
        out += '-';
        s.remove_prefix(1);
    }
    const auto e = s.find('e');
    std::string digits;
    for (char c : s.substr(0, e))
        if (c != '.')
            digits += c;
    auto exp_text = s.substr(e + 1);
    const bool negative_exp = exp_text.front() == '-';
    exp_text.remove_prefix(1);
    int exp = 0;
    std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp);
    if (negative_exp)
        exp = -exp;
    const auto n = static_cast<int>(digits.size());
    if (exp < -4 || exp >= 16) {
        out += digits[0];
        if (n > 1)
            out += "." + digits.substr(1);
        out += exp < 0 ? "e-" : "e+";
        const int a = exp < 0 ? -exp : exp;
        if (a < 10)
            out += '0';
        out += std::to_string(a);
    } else if (exp >= 0) {
        if (n <= exp + 1)
            out += digits + std::string(static_cast<std::size_t>(exp + 1 - n), '0') + ".0";
        else
            out += digits.substr(0, static_cast<std::size_t>(exp + 1)) + "." +
                   digits.substr(static_cast<std::size_t>(exp + 1));
    } else {
        out += "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
    }
    return out;
}

/// A value as the text the original framework sends (Python's str()):
/// text as it is, booleans "True"/"False", integers in decimal,
/// floating-point numbers as float_text().
template <class T>
std::string to_payload(const T& v) {
    if constexpr (std::is_same_v<T, bool>)
        return std::string{v ? payload_true : payload_false};
    else if constexpr (std::is_convertible_v<const T&, std::string_view>)
        return std::string{std::string_view{v}};
    else if constexpr (std::is_same_v<T, char>)
        return std::string(1, v);
    else if constexpr (std::is_integral_v<T>)
        return std::to_string(v);
    else if constexpr (std::is_floating_point_v<T>)
        return float_text(v);
    else
        static_assert(std::is_same_v<T, bool>,
                      "sgframework::to_payload: text, bool, integer or floating-point values");
}

// ------------------------------------------------------------------ options

/// What register_incoming_availability listens to.
enum class availability : std::uint8_t {
    command,  ///< commandavailable/<service>/<signal>
    data,     ///< dataavailable/<service>/<signal>
    resource, ///< resourceavailable/<service>/presence (the signal name is not used)
};

/// register_incoming_command's options (the Python keyword arguments).
struct command_options {
    bool callback_on_change_only = false; ///< skip a payload equal to the previous one
    bool echo = true;                     ///< publish the value back to data/<name>/<signal>
    bool send_echo_as_retained = false;
    /// Sent (as data, when echoing) on every connection; becomes the echoed
    /// value after each command. None: nothing sent.
    std::optional<std::string> default_value = std::nullopt;
};

/// register_outgoing_data's options.
struct data_options {
    /// Sent on every connection; send_data() replaces it. None: nothing sent.
    std::optional<std::string> default_value = std::nullopt;
    bool send_data_as_retained = false;
};

/// start()'s options.
struct start_options {
    /// The network on a thread of the object's own (callbacks run there);
    /// otherwise loop() must be called often (callbacks run inside it).
    bool threaded_networking = false;
    /// A clean session, with client id `<name>-<pid>`; otherwise the broker
    /// keeps the session of client id `<name>`.
    bool clean_session = true;
};

// ------------------------------------------------------------------ the framework

/// What app and resource share. Derived: the app or resource type (what
/// callbacks are given).
template <class Derived, class Transport, class Store>
class basic_framework {
public:
    using client_type = basic_client<Transport, Store>;
    /// callback(self, messagetype, servicename, signalname, payload): the
    /// strings stripped of white space, valid during the call. What it
    /// returns is the echo's payload (none: the command's payload).
    using callback = std::function<std::optional<std::string>(
        Derived&, std::string_view, std::string_view, std::string_view, std::string_view)>;
    using status_callback = std::function<void(Derived&, bool broker_connected)>;

    // ---- settings, read by start(): changes apply from the next start()
    ctmqtt::protocol_version protocol = ctmqtt::protocol_version::v3_1;
    ctmqtt::qos qos = default_qos;
    std::chrono::milliseconds timeout = default_timeout; ///< loop()'s longest wait
    std::chrono::seconds keepalive = default_keepalive;
    /// Delays between connection attempts; the last one repeats.
    std::vector<std::chrono::milliseconds> reconnect_delays = client_options{}.reconnect_delays;
    std::chrono::milliseconds connect_timeout = client_options{}.connect_timeout;
    std::optional<std::string> user_name;
    std::optional<std::string> password;
    /// Makes the Store of each start() (given the client id); unset: Store{}.
    std::function<Store(const std::string& client_id)> store_factory;

    /// Called with true at every connection and false when it ends (a lost
    /// connection, stop()), on the networking thread (or in loop()/stop()).
    status_callback on_broker_connectionstatus_info;
    /// Where the object logs (default: warnings and errors to stderr).
    log_sink logger;

    basic_framework(const basic_framework&) = delete;
    basic_framework& operator=(const basic_framework&) = delete;

    ~basic_framework() { shutdown(); }

    const std::string& name() const noexcept { return name_; }
    const std::string& host() const noexcept { return host_; }
    std::uint16_t port() const noexcept { return port_; }
    const std::optional<std::filesystem::path>& certificate_directory() const noexcept {
        return certificate_directory_;
    }
    /// True while connected to the broker.
    bool connected() const noexcept { return connected_.load(std::memory_order_acquire); }
    bool started() const {
        std::lock_guard lock(mutex_);
        return client_ != nullptr;
    }
    /// Messages published (announcements, data, commands, echoes) that the
    /// broker has not acknowledged yet (QoS 1/2) or that are not written yet
    /// (QoS 0). After a lost connection those of QoS 1/2 are sent again first.
    std::size_t unacknowledged() const {
        std::lock_guard lock(mutex_);
        return client_ ? pending_publishes_ : 0;
    }
    /// The client of the current start() (null before): its transport, its
    /// state. Use it from callbacks or the thread that calls start().
    client_type* client() noexcept { return client_.get(); }

    // ---- registering

    /// Calls `cb` for data/<servicename>/<signalname>.
    template <class F>
    [[nodiscard]] std::error_code register_incoming_data(std::string_view servicename,
                                                         std::string_view signalname, F&& cb,
                                                         bool callback_on_change_only = false) {
        incoming_signal s;
        s.callback_on_change_only = callback_on_change_only;
        return register_incoming(prefix_data, servicename, signalname, wrap(std::forward<F>(cb)),
                                 std::move(s));
    }

    /// Calls `cb` for commandavailable/, dataavailable/ or
    /// resourceavailable/<servicename>/presence messages.
    template <class F>
    [[nodiscard]] std::error_code
    register_incoming_availability(availability what, std::string_view servicename,
                                   std::string_view signalname, F&& cb) {
        std::string_view prefix = prefix_dataavailable;
        if (what == availability::command)
            prefix = prefix_commandavailable;
        if (what == availability::resource) {
            prefix = prefix_resourceavailable;
            signalname = suffix_presence;
        }
        return register_incoming(prefix, servicename, signalname, wrap(std::forward<F>(cb)),
                                 incoming_signal{});
    }

    // ---- sending

    /// Publishes `value` (as to_payload() writes it) to
    /// command/<servicename>/<signalname>.
    template <class T>
    std::error_code send_command(std::string_view servicename, std::string_view signalname,
                                 const T& value, bool send_command_as_retained = false) {
        std::string topic;
        if (auto ec = make_topic(prefix_command, servicename, signalname, topic))
            return ec;
        auto c = current();
        if (!c)
            return make_error_code(errc::not_started, "send_command");
        publish(*c, std::move(topic), to_payload(value), qos, send_command_as_retained);
        return {};
    }

    // ---- networking

    /// Connects (again, after stop(), if started before): the client id,
    /// will, subscriptions and announcements of the current settings. Returns
    /// at once; connection attempts go on until stop() (see
    /// on_broker_connectionstatus_info). An error says what cannot work.
    std::error_code start(start_options how = {}) {
        if (in_network_thread())
            return make_error_code(errc::in_callback, "start");
        shutdown();
        std::string client_id =
            how.clean_session ? name_ + "-" + std::to_string(process_id()) : name_;
        if (protocol == ctmqtt::protocol_version::v3_1 && client_id.size() > 23)
            return make_error_code(errc::client_id_too_long, client_id);
        client_options o;
        o.host = host_;
        o.port = port_;
        o.version = protocol;
        o.client_id = client_id;
        const auto keep_alive = static_cast<std::uint16_t>(
            std::clamp<std::chrono::seconds::rep>(keepalive.count(), 0, 65'535));
        o.keep_alive = keep_alive;
        o.clean_start = how.clean_session;
        if (!how.clean_session && protocol == ctmqtt::protocol_version::v5)
            o.session_expiry_interval = 0xFFFF'FFFF; // kept as 3.1.1 keeps it: for ever
        o.reconnect_delays = reconnect_delays;
        o.connect_timeout = connect_timeout;
        o.user_name = user_name;
        o.password = password;
        if (resource_) {
            message will;
            will.topic = presence_topic();
            will.payload.assign(reinterpret_cast<const std::byte*>(payload_false.data()),
                                reinterpret_cast<const std::byte*>(payload_false.data()) +
                                    payload_false.size());
            will.qos = qos;
            will.retain = true;
            o.will = std::move(will);
        }
        auto alive = std::make_shared<bool>(true);
        o.on_state = [this, alive](const connection_state& s) {
            if (*alive)
                on_state(s, alive);
        };
        std::shared_ptr<client_type> c;
        try {
            if (store_factory) {
                c = std::make_shared<client_type>(io_.get_executor(), std::move(o),
                                                  store_factory(client_id));
            } else if constexpr (std::is_default_constructible_v<Store>) {
                c = std::make_shared<client_type>(io_.get_executor(), std::move(o));
            } else {
                return make_error_code(errc::no_store);
            }
        } catch (const std::system_error& e) {
            return e.code();
        }
        if (auto ec = configure_tls(*c))
            return ec;
        log(log_level::info,
            "connecting to host '" + host_ + "', port " + std::to_string(port_) + " as '" +
                client_id + "' (MQTT " + version_text(protocol) + ", QoS " +
                std::to_string(static_cast<int>(qos)) + ", keepalive " +
                std::to_string(keep_alive) + " s" +
                (certificate_directory_ ? ", TLS from '" + certificate_directory_->string() + "'"
                                        : std::string{}) +
                ")");
        if (io_.stopped())
            io_.restart();
        {
            std::lock_guard lock(mutex_);
            client_ = c;
            alive_ = alive;
            pending_publishes_ = 0;
            disconnected_ = false;
            stopping_ = false;
            threaded_ = how.threaded_networking;
            for (const auto& s : incoming_)
                subscribe(*c, s.topic);
        }
        receive_next(c.get(), alive);
        c->async_connect([](boost::system::error_code) {
            // Failures are reported (and logged) by on_state.
        });
        work_.emplace(io_.get_executor());
        if (how.threaded_networking)
            thread_ = std::thread([this] { io_.run(); });
        return {};
    }

    /// Disconnects: a resource first publishes retained False to its presence
    /// topic (QoS 1); what was published is given about a second to be
    /// acknowledged; then DISCONNECT.
    std::error_code stop() {
        if (in_network_thread())
            return make_error_code(errc::in_callback, "stop");
        if (!started())
            return make_error_code(errc::not_started, "stop");
        shutdown();
        return {};
    }

    /// Caller-driven networking: runs the network until a message has been
    /// handled or `timeout` has passed. Connection attempts (and reconnects)
    /// happen inside it.
    std::error_code loop() {
        if (!started())
            return make_error_code(errc::not_started, "loop");
        {
            std::lock_guard lock(mutex_);
            if (threaded_)
                return make_error_code(errc::threaded_networking);
        }
        if (in_network_thread())
            return make_error_code(errc::in_callback, "loop");
        const auto before = messages_received_.load(std::memory_order_relaxed);
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        if (io_.stopped())
            io_.restart();
        while (messages_received_.load(std::memory_order_relaxed) == before)
            if (io_.run_one_until(deadline) == 0)
                break;
        io_.poll(); // what the message started (an echo) goes out now
        return {};
    }

    // ---- describing

    /// One line: `SG App: '<name>', connecting to host '<host>', port <port>.
    /// Has <n> input signals registered.` (or the resource's).
    std::string summary() const {
        std::lock_guard lock(mutex_);
        return summary_locked();
    }

    /// summary(), then the registered incoming and outgoing topics.
    std::string descriptive_ascii_art() const {
        std::lock_guard lock(mutex_);
        std::string text = summary_locked() + " Details: \n";
        text += "  Registered incoming topics:\n";
        for (const auto& s : incoming_) {
            text += "    " + s.topic + "\n";
            text += "        IN: '" + s.messagetype + "'-'" + s.servicename + "'-'" + s.signalname +
                    "' Default: '" + s.default_value.value_or("None") +
                    "' Echo: " + to_payload(s.echo) +
                    " (echo retained: " + to_payload(s.send_echo_as_retained) +
                    ") Callback only on change: " + to_payload(s.callback_on_change_only) + "\n";
        }
        text += "  Registered outgoing topics:\n";
        for (const auto& s : outgoing_) {
            text += "    " + s.topic + "\n";
            text += "        OUT: '" + std::string{prefix_data} + "'-'" + name_ + "'-'" +
                    s.signalname + "' Default: '" + s.default_value.value_or("None") +
                    "' Retained: " + to_payload(s.send_data_as_retained) + "\n";
        }
        return text;
    }

    friend std::ostream& operator<<(std::ostream& out, const basic_framework& f) {
        return out << f.summary();
    }

protected:
    struct incoming_signal {
        std::string topic, messagetype, servicename, signalname;
        std::shared_ptr<const callback> cb;
        bool callback_on_change_only = false;
        bool echo = false;
        bool send_echo_as_retained = false;
        std::optional<std::string> default_value;
        std::optional<std::string> last_payload;
    };

    struct outgoing_signal {
        std::string topic, signalname;
        std::optional<std::string> default_value;
        bool send_data_as_retained = false;
    };

    /// Throws std::system_error (errc::bad_name, errc::bad_host) for a name
    /// a resource cannot use in topics, or an empty host.
    basic_framework(std::string_view name, std::string_view host, std::uint16_t port,
                    std::optional<std::filesystem::path> certificate_directory, bool resource)
        : name_(trim(name)), host_(trim(host)), port_(port),
          certificate_directory_(std::move(certificate_directory)), resource_(resource) {
        if (resource_ ? !valid_level(name_) : name_.empty())
            throw std::system_error(make_error_code(errc::bad_name, name_));
        if (host_.empty())
            throw std::system_error(make_error_code(errc::bad_host));
        logger = stderr_logger(name_);
    }

    // ---- the resource's part

    template <class F>
    std::error_code register_command(std::string_view signalname, F&& cb, command_options o) {
        incoming_signal s;
        s.callback_on_change_only = o.callback_on_change_only;
        s.echo = o.echo;
        s.send_echo_as_retained = o.send_echo_as_retained;
        s.default_value = std::move(o.default_value);
        return register_incoming(prefix_command, name_, signalname, wrap(std::forward<F>(cb)),
                                 std::move(s));
    }

    std::error_code register_data(std::string_view signalname, data_options o) {
        outgoing_signal s;
        if (auto ec = make_topic(prefix_data, name_, signalname, s.topic))
            return ec;
        s.signalname = std::string{trim(signalname)};
        s.default_value = std::move(o.default_value);
        s.send_data_as_retained = o.send_data_as_retained;
        log(log_level::debug, "registering outgoing data '" + s.topic + "'");
        std::lock_guard lock(mutex_);
        for (auto& e : outgoing_)
            if (e.topic == s.topic) {
                e = std::move(s);
                return {};
            }
        outgoing_.push_back(std::move(s));
        return {};
    }

    std::error_code send_data_text(std::string_view signalname, std::string payload) {
        auto c = current();
        if (!c)
            return make_error_code(errc::not_started, "send_data");
        const auto signal = trim(signalname);
        const std::string topic =
            std::string{prefix_data} + "/" + name_ + "/" + std::string{signal};
        bool registered = false;
        bool retained = false;
        {
            std::lock_guard lock(mutex_);
            if (auto* s = find(outgoing_, topic)) {
                registered = true;
                retained = s->send_data_as_retained;
                if (s->default_value)
                    s->default_value = payload;
            }
        }
        if (!registered) {
            log(log_level::warning, "send_data: the signal '" + std::string{signal} +
                                        "' is not registered (register_outgoing_data); '" +
                                        payload + "' not sent");
            return make_error_code(errc::unregistered_signal, signal);
        }
        publish(*c, topic, std::move(payload), qos, retained);
        return {};
    }

private:
    // ---- registration

    static bool valid_level(std::string_view s) noexcept {
        return !s.empty() && s.find_first_of("/+#") == std::string_view::npos &&
               s.find('\0') == std::string_view::npos && !validate_utf8(s);
    }

    // "<prefix>/<service>/<signal>" of the trimmed names, or bad_name.
    static std::error_code make_topic(std::string_view prefix, std::string_view service,
                                      std::string_view signal, std::string& topic) {
        service = trim(service);
        signal = trim(signal);
        if (!valid_level(service))
            return make_error_code(errc::bad_name, service);
        if (!valid_level(signal))
            return make_error_code(errc::bad_name, signal);
        topic = std::string{prefix} + "/" + std::string{service} + "/" + std::string{signal};
        return {};
    }

    // Any callable taking (Derived&, 4 views) and returning nothing, an
    // optional, or a value to_payload() takes.
    template <class F>
    static std::shared_ptr<const callback> wrap(F&& f) {
        using R = std::invoke_result_t<F&, Derived&, std::string_view, std::string_view,
                                       std::string_view, std::string_view>;
        return std::make_shared<const callback>(
            [f = std::forward<F>(f)](
                Derived& self, std::string_view type, std::string_view service,
                std::string_view signal,
                std::string_view payload) mutable -> std::optional<std::string> {
                if constexpr (std::is_void_v<R>) {
                    f(self, type, service, signal, payload);
                    return std::nullopt;
                } else if constexpr (requires(R r) {
                                         r.has_value();
                                         *r;
                                     }) {
                    auto r = f(self, type, service, signal, payload);
                    if (!r.has_value())
                        return std::nullopt;
                    return to_payload(*r);
                } else {
                    return to_payload(f(self, type, service, signal, payload));
                }
            });
    }

    std::error_code register_incoming(std::string_view prefix, std::string_view servicename,
                                      std::string_view signalname,
                                      std::shared_ptr<const callback> cb, incoming_signal s) {
        if (auto ec = make_topic(prefix, servicename, signalname, s.topic))
            return ec;
        s.messagetype = std::string{prefix};
        s.servicename = std::string{trim(servicename)};
        s.signalname = std::string{trim(signalname)};
        s.cb = std::move(cb);
        log(log_level::debug, "registering incoming '" + s.topic + "'");
        std::lock_guard lock(mutex_);
        if (auto* e = find(incoming_, s.topic)) {
            s.last_payload = std::move(e->last_payload);
            *e = std::move(s);
        } else {
            incoming_.push_back(std::move(s));
            if (client_) // subscribed now; the client restores it after reconnects
                subscribe(*client_, incoming_.back().topic);
        }
        return {};
    }

    template <class Signals>
    static auto* find(Signals& signals, std::string_view topic) {
        for (auto& s : signals)
            if (s.topic == topic)
                return &s;
        return static_cast<typename Signals::value_type*>(nullptr);
    }

    std::string summary_locked() const {
        std::string text = (resource_ ? "SG Resource: '" : "SG App: '") + name_ +
                           "', connecting to host '" + host_ + "', port " + std::to_string(port_) +
                           ". Has " + std::to_string(incoming_.size());
        if (resource_)
            return text + " incoming and " + std::to_string(outgoing_.size()) +
                   " outgoing topics registered.";
        return text + " input signals registered.";
    }

    std::string presence_topic() const {
        return std::string{prefix_resourceavailable} + "/" + name_ + "/" +
               std::string{suffix_presence};
    }

    // ---- helpers

    static long process_id() noexcept {
#if defined(_WIN32)
        return static_cast<long>(::_getpid());
#else
        return static_cast<long>(::getpid());
#endif
    }

    static std::string version_text(ctmqtt::protocol_version v) {
        switch (v) {
        case ctmqtt::protocol_version::v3_1: return "3.1";
        case ctmqtt::protocol_version::v3_1_1: return "3.1.1";
        case ctmqtt::protocol_version::v5: return "5.0";
        }
        return "?";
    }

    void log(log_level level, std::string_view text) const noexcept {
        try {
            if (logger)
                logger(level, text);
        } catch (...) { // a sink that fails must not take the network down
        }
    }

    std::shared_ptr<client_type> current() const {
        std::lock_guard lock(mutex_);
        return client_;
    }

    bool in_network_thread() noexcept {
        return io_.get_executor().running_in_this_thread();
    }

    Derived& self() noexcept {
        return static_cast<Derived&>(*this);
    }

    // The certificate directory's files, for a transport with TLS.
    std::error_code configure_tls(client_type& c) {
        if (!certificate_directory_)
            return {};
        const auto& dir = *certificate_directory_;
        auto& t = c.transport();
        const auto with_files = [&](auto opts) {
            opts.ca_file = (dir / ca_certs).string();
            opts.certificate_file = (dir / certfile).string();
            opts.private_key_file = (dir / keyfile).string();
            return opts;
        };
        if constexpr (requires {
                          t.options().ca_file;
                          t.set_options(t.options());
                      }) { // transport::tls
            t.set_options(with_files(t.options()));
            if constexpr (requires { std::error_code{t.prepare()}; })
                return t.prepare(); // a missing or bad file shows now
            return {};
        } else if constexpr (requires {
                                 t.get_tls_options().ca_file;
                                 t.set_tls_options(t.get_tls_options());
                             }) { // transport::any, websocket_tls
            t.set_tls_options(with_files(t.get_tls_options()));
            if constexpr (requires { t.add(transport::broker_url{}); }) {
                transport::broker_url url;
                url.scheme = transport::url_scheme::mqtts;
                url.host = host_;
                url.port = port_;
                t.add(url);
            }
            return {};
        } else {
            return make_error_code(errc::no_tls_transport, dir.string());
        }
    }

    void report_status(bool up) {
        if (!on_broker_connectionstatus_info)
            return;
        try {
            on_broker_connectionstatus_info(self(), up);
        } catch (const std::exception& e) {
            log(log_level::warning, "the broker connection status callback failed (connected: " +
                                        to_payload(up) + "): " + e.what());
        } catch (...) {
            log(log_level::warning,
                "the broker connection status callback failed (connected: " + to_payload(up) +
                    "): an exception that is not a " + "std::exception");
        }
    }

    // ---- the network (on the client's strand: the networking thread, or loop())

    std::string where() const {
        return "host '" + host_ + "', port " + std::to_string(port_);
    }

    void on_state(const connection_state& s, const std::shared_ptr<bool>& alive) {
        using kind = connection_state::kind;
        switch (s.what) {
        case kind::connected: {
            const auto serial = ++connection_serial_;
            log(log_level::info, "connected to " + where());
            auto c = current();
            if (!c)
                break;
            // After the client has restored the subscriptions (it does so once
            // on_state returns): SUBSCRIBE first, then what is announced.
            asio::post(c->get_executor(), [this, alive, serial, present = s.session_present] {
                if (*alive && serial == connection_serial_)
                    on_connected(present);
            });
            break;
        }
        case kind::lost:
            ++connection_serial_;
            log(log_level::warning, "connection to " + where() + " lost: " + s.error.message());
            if (connected_.exchange(false))
                report_status(false);
            break;
        case kind::retrying:
            log(log_level::warning, "not connected to " + where() + " (" + s.error.message() +
                                        "): next attempt in " + std::to_string(s.retry_in.count()) +
                                        " ms");
            break;
        case kind::gave_up:
            ++connection_serial_;
            if (s.error != make_error_code(client_errc::disconnected))
                log(log_level::error,
                    "no more connection attempts to " + where() + ": " + s.error.message());
            if (connected_.exchange(false))
                report_status(false);
            break;
        }
    }

    // Connected, subscriptions sent: the status, and (for a resource) the
    // announcements, in the order of the wire contract.
    void on_connected(bool session_present) {
        auto c = current();
        {
            std::lock_guard lock(mutex_);
            if (!c || stopping_) // stop() decides about this connection
                return;
        }
        connected_.store(true, std::memory_order_release);
        report_status(true);
        struct announcement {
            std::string topic, payload;
            bool retain;
        };
        std::vector<announcement> out;
        {
            std::lock_guard lock(mutex_);
            // A kept session kept the subscriptions too; sgframework subscribes
            // on every connection all the same (the broker sends retained
            // messages again).
            if (session_present)
                for (const auto& s : incoming_)
                    subscribe(*c, s.topic);
            if (resource_) {
                const auto available = [&](std::string_view prefix, const std::string& signal) {
                    return std::string{prefix} + "/" + name_ + "/" + signal;
                };
                out.push_back({presence_topic(), std::string{payload_true}, true});
                for (const auto& s : outgoing_) {
                    out.push_back({available(prefix_dataavailable, s.signalname),
                                   std::string{payload_true}, true});
                    if (s.default_value)
                        out.push_back({s.topic, *s.default_value, s.send_data_as_retained});
                }
                for (const auto& s : incoming_) {
                    if (s.messagetype != prefix_command)
                        continue;
                    out.push_back({available(prefix_commandavailable, s.signalname),
                                   std::string{payload_true}, true});
                    if (!s.echo)
                        continue;
                    out.push_back({available(prefix_dataavailable, s.signalname),
                                   std::string{payload_true}, true});
                    if (s.default_value)
                        out.push_back({available(prefix_data, s.signalname), *s.default_value,
                                       s.send_echo_as_retained});
                }
            }
        }
        for (auto& a : out)
            publish(*c, std::move(a.topic), std::move(a.payload), qos, a.retain);
    }

    // Called with mutex_ held (so: no logging here, the sink is the user's).
    void subscribe(client_type& c, const std::string& topic) {
        c.async_subscribe(topic, subscribe_options{qos},
                          [this, alive = alive_, topic](boost::system::error_code ec,
                                                        std::vector<suback_reason_code> granted) {
                              if (!*alive)
                                  return;
                              if (ec &&
                                  std::error_code{ec} != make_error_code(client_errc::disconnected))
                                  log(log_level::warning,
                                      "subscribing to '" + topic + "' failed: " + ec.message());
                              else if (!ec)
                                  log(log_level::debug, "subscribed to '" + topic + "'");
                              for (auto code : granted)
                                  if (code.value() >= 0x80)
                                      log(log_level::warning,
                                          "the broker refused the subscription to '" + topic + "'");
                          });
    }

    void publish(client_type& c, std::string topic, std::string payload, ctmqtt::qos q,
                 bool retain) {
        std::shared_ptr<bool> alive;
        {
            std::lock_guard lock(mutex_);
            alive = alive_;
            ++pending_publishes_;
        }
        log(log_level::debug,
            "publishing '" + payload + "' to '" + topic + "'" + (retain ? " (retained)" : ""));
        c.async_publish(topic, payload, q, retain,
                        [this, alive, topic, payload](boost::system::error_code ec) {
                            if (!*alive)
                                return;
                            {
                                std::lock_guard lock(mutex_);
                                --pending_publishes_;
                            }
                            changed_.notify_all();
                            if (ec)
                                log(log_level::warning, "publishing '" + payload + "' to '" +
                                                            topic + "' failed: " + ec.message());
                        });
    }

    void receive_next(client_type* c, const std::shared_ptr<bool>& alive) {
        c->async_receive(received_, [this, c, alive](boost::system::error_code ec) {
            if (!*alive)
                return;
            if (ec) { // the client stopped (stop(), or it gave up)
                if (std::error_code{ec} != make_error_code(client_errc::disconnected) &&
                    ec != asio::error::operation_aborted)
                    log(log_level::warning, "receiving stopped: " + ec.message());
                return;
            }
            messages_received_.fetch_add(1, std::memory_order_relaxed);
            handle(*c, received_);
            receive_next(c, alive);
        });
    }

    void handle(client_type& c, const message& m) {
        const std::string topic{trim(m.topic)};
        const auto raw = m.payload_text();
        if (!is_utf8_text(raw)) {
            log(log_level::warning,
                "ignoring a message on topic '" + topic + "': the payload is not UTF-8 text");
            return;
        }
        const std::string payload{trim(raw)};
        log(log_level::debug, "received '" + payload + "' on '" + topic + "'");
        const auto first = topic.find('/');
        const auto second = first == std::string::npos ? first : topic.find('/', first + 1);
        if (second == std::string::npos || topic.find('/', second + 1) != std::string::npos) {
            log(log_level::warning, "ignoring a message on topic '" + topic + "', payload '" +
                                        payload + "': a topic must have exactly 3 levels");
            return;
        }
        const std::string_view t = topic;
        const auto type = trim(t.substr(0, first));
        const auto service = trim(t.substr(first + 1, second - first - 1));
        const auto signal = trim(t.substr(second + 1));
        std::shared_ptr<const callback> cb;
        bool echo = false;
        bool echo_retained = false;
        bool unchanged = false;
        {
            std::lock_guard lock(mutex_);
            if (auto* s = find(incoming_, topic)) {
                unchanged = s->callback_on_change_only && s->last_payload == payload;
                if (s->callback_on_change_only)
                    s->last_payload = payload;
                cb = s->cb;
                echo = s->echo;
                echo_retained = s->send_echo_as_retained;
            }
        }
        if (!cb) {
            log(log_level::warning, "ignoring a message on unregistered topic '" + topic +
                                        "', payload '" + payload + "'");
            return;
        }
        if (unchanged) {
            log(log_level::debug,
                "payload '" + payload + "' on '" + topic + "' unchanged: no callback");
            return;
        }
        std::optional<std::string> returned;
        try {
            returned = (*cb)(self(), type, service, signal, payload);
        } catch (const std::exception& e) {
            log(log_level::warning, "the callback for topic '" + topic + "', payload '" + payload +
                                        "' failed: " + e.what());
            return;
        } catch (...) {
            log(log_level::warning, "the callback for topic '" + topic + "', payload '" + payload +
                                        "' failed: an exception that is not a " + "std::exception");
            return;
        }
        if (!echo)
            return;
        std::string echo_payload = returned ? std::move(*returned) : payload;
        {
            std::lock_guard lock(mutex_);
            if (auto* s = find(incoming_, topic); s && s->default_value)
                s->default_value = echo_payload;
        }
        publish(c,
                std::string{prefix_data} + "/" + std::string{service} + "/" + std::string{signal},
                std::move(echo_payload), qos, echo_retained);
    }

    // Until `done()` (called with mutex_ held) or `limit` passed: the
    // networking thread works meanwhile, or this thread runs the network.
    template <class Done>
    bool wait(Done done, std::chrono::milliseconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        std::unique_lock lock(mutex_);
        if (threaded_)
            return changed_.wait_until(lock, deadline, done);
        if (io_.stopped())
            io_.restart();
        while (!done()) {
            lock.unlock();
            const auto ran = io_.run_one_until(deadline);
            lock.lock();
            if (ran == 0)
                return done();
        }
        return true;
    }

protected:
    // stop() without its checks (the destructors, start() again).
    void shutdown() noexcept {
        std::shared_ptr<client_type> c;
        std::shared_ptr<bool> alive;
        {
            std::lock_guard lock(mutex_);
            c = client_;
            alive = alive_;
        }
        if (!c)
            return;
        try {
            log(log_level::info, "disconnecting from " + where());
            {
                std::lock_guard lock(mutex_);
                stopping_ = true; // no announcements from now on
            }
            // Not connected: no presence to take back (a lost connection's
            // will said False), and nothing waiting can be acknowledged.
            if (c->connected()) {
                if (resource_)
                    publish(*c, presence_topic(), std::string{payload_false},
                            ctmqtt::qos::at_least_once, true);
                if (!wait([&] { return pending_publishes_ == 0; }, stop_wait)) {
                    std::size_t left = 0;
                    {
                        std::lock_guard lock(mutex_);
                        left = pending_publishes_;
                    }
                    log(log_level::warning, std::to_string(left) +
                                                " message(s) not acknowledged by the broker "
                                                "before disconnecting");
                }
            }
            {
                std::lock_guard lock(mutex_);
                client_.reset(); // operations from now on: not started
            }
            c->async_disconnect([this, alive](boost::system::error_code) {
                if (!*alive)
                    return;
                {
                    std::lock_guard lock(mutex_);
                    disconnected_ = true;
                }
                changed_.notify_all();
            });
            (void)wait([&] { return disconnected_; }, connect_timeout + stop_wait);
        } catch (...) { // logging or allocation failed: stop all the same
        }
        work_.reset();
        io_.stop();
        if (thread_.joinable())
            thread_.join();
        *alive = false; // nothing runs the network now
        {
            std::lock_guard lock(mutex_);
            client_.reset();
            alive_.reset();
        }
        c.reset(); // the client goes while nothing runs it
        io_.restart();
        if (connected_.exchange(false))
            report_status(false);
    }

private:
    std::string name_;
    std::string host_;
    std::uint16_t port_;
    std::optional<std::filesystem::path> certificate_directory_;
    bool resource_;

    mutable std::mutex mutex_; ///< the tables, client_, the counters below
    std::condition_variable changed_;
    std::vector<incoming_signal> incoming_; ///< in registration order
    std::vector<outgoing_signal> outgoing_;
    std::shared_ptr<client_type> client_;
    std::shared_ptr<bool> alive_; ///< false once the run of client_ is over
    std::size_t pending_publishes_ = 0;
    bool disconnected_ = false;
    bool stopping_ = false; ///< stop() has begun: no more announcements
    bool threaded_ = false;

    std::atomic<bool> connected_{false};
    std::atomic<std::uint64_t> messages_received_{0};
    std::uint64_t connection_serial_ = 0; ///< on the strand
    message received_;                    ///< async_receive's buffer

    // Last: destroyed first (the client is gone by then).
    asio::io_context io_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
    std::thread thread_;
};

// ------------------------------------------------------------------ app and resource

/// An app: sends commands, listens to data and availability. No last will.
template <class Transport = transport::tcp, class Store = store::memory>
class basic_app : public basic_framework<basic_app<Transport, Store>, Transport, Store> {
    using base = basic_framework<basic_app<Transport, Store>, Transport, Store>;

public:
    /// Names and host are stripped of white space; throws std::system_error
    /// (errc::bad_name, errc::bad_host) for an empty name or host.
    explicit basic_app(std::string_view name, std::string_view host,
                       std::uint16_t port = default_port,
                       std::optional<std::filesystem::path> certificate_directory = std::nullopt)
        : base(name, host, port, std::move(certificate_directory), false) {}
    ~basic_app() { this->shutdown(); } // while callbacks can still be given *this
    basic_app(const basic_app&) = delete;
    basic_app& operator=(const basic_app&) = delete;
};

/// A resource: takes commands on command/<name>/<signal>, sends data to
/// data/<name>/<signal>, announces what it has, and is present
/// (resourceavailable/<name>/presence True) while connected, False by its
/// last will.
template <class Transport = transport::tcp, class Store = store::memory>
class basic_resource : public basic_framework<basic_resource<Transport, Store>, Transport, Store> {
    using base = basic_framework<basic_resource<Transport, Store>, Transport, Store>;

public:
    /// Throws std::system_error (errc::bad_name, errc::bad_host) for a name
    /// that cannot be a topic level, or an empty host.
    explicit basic_resource(
        std::string_view name, std::string_view host, std::uint16_t port = default_port,
        std::optional<std::filesystem::path> certificate_directory = std::nullopt)
        : base(name, host, port, std::move(certificate_directory), true) {}
    ~basic_resource() { this->shutdown(); } // while callbacks can still be given *this
    basic_resource(const basic_resource&) = delete;
    basic_resource& operator=(const basic_resource&) = delete;

    /// Calls `cb` for command/<name>/<signalname>; see command_options.
    template <class F>
    [[nodiscard]] std::error_code register_incoming_command(std::string_view signalname, F&& cb,
                                                            command_options o = {}) {
        return this->register_command(signalname, std::forward<F>(cb), std::move(o));
    }

    /// Announces data/<name>/<signalname> (dataavailable True on every
    /// connection, and the default value if any); send_data() sends it.
    [[nodiscard]] std::error_code register_outgoing_data(std::string_view signalname,
                                                         data_options o = {}) {
        return this->register_data(signalname, std::move(o));
    }

    /// Publishes `value` (as to_payload() writes it) to data/<name>/<signalname>
    /// with the registered retain flag; it becomes the default value if the
    /// signal has one. An unregistered signal is logged and sends nothing.
    template <class T>
    std::error_code send_data(std::string_view signalname, const T& value) {
        return this->send_data_text(signalname, to_payload(value));
    }
};

using app = basic_app<>;
using resource = basic_resource<>;

} // namespace ctmqtt::sgframework

template <>
struct std::is_error_condition_enum<ctmqtt::sgframework::errc> : std::true_type {};
