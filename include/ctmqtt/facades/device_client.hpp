// The DL-7450-style device client: an asynchronous MQTT client made from a
// broker URL and a client id, reporting through callbacks.
//
//     boost::asio::io_context io;
//     ctmqtt::device_client mqtt(io.get_executor(), "ssl://broker.example:8883", "logger-17");
//     mqtt.on_message([](std::string_view topic, ctmqtt::bytes_view payload) { ... });
//     mqtt.on_publish([](int mid, std::error_code ec) { ... });
//     auto ec = mqtt.connect([](int rc, const ctmqtt::device_connect_flags& f) {
//         // 0: connected; 1-5 / 0x80+: refused by the broker; negative: failed or lost
//     }, {.username = "logger", .password = "pw", .trust_store = ca_pem});
//     auto mid = mqtt.publish("device/status", R"({"status": 42})", 1);   // result<int>
//     io.run();
//
// A thin layer over basic_client<Transport, Store, Timer>: the client's own
// reconnect schedule (1, 2, 4, 8, 16, 32 s, then every 60 s, reset by a
// successful connection; a refusal for bad credentials or authorisation is
// final), its offline queue, its TLS. What the facade adds: URL schemes as
// the DL-7450 names them, integer result codes and message ids, the
// on_connect / on_message / on_subscribe / on_publish callbacks, and the
// device error codes (device_errc) with their descriptions.
//
// Callbacks run on the client's strand (the executor's thread). The first
// connect() makes the client underneath: after it returns, any thread may
// publish and subscribe; before, use the device client from one thread.
// The default Transport is transport::any (TCP, TLS, WebSocket, Unix
// sockets by URL); a client of one transport
// (basic_device_client<transport::tcp>) compiles less and accepts only its
// scheme.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>

#include <ctmqtt/client/client.hpp>
#include <ctmqtt/core/result.hpp>
#include <ctmqtt/facades/describe.hpp>
#include <ctmqtt/transport/any.hpp>
#include <ctmqtt/transport/detail/error_text.hpp>
#include <ctmqtt/transport/url.hpp>

namespace ctmqtt {

// ---------------------------------------------------------------- errors

/// The device client's errors (the DL-7450's MqttError). Their result codes
/// are the negated values (device_rc): -1 generic failure, -2 persistence
/// failure, -3 disconnected, -4 too many messages in flight, -5 invalid UTF-8,
/// -6 null value, -9 bad QoS, -10 no more message ids, -14 bad protocol.
enum class device_errc : std::uint8_t {
    failure = 1,
    persistence_failure = 2,
    disconnected = 3,
    too_many_in_flight = 4,
    invalid_utf8 = 5,
    null_value = 6,
    bad_qos = 9,
    no_more_message_ids = 10,
    bad_protocol = 14,
};

/// The description of a device error, without the detail an error carries.
constexpr std::string_view device_error_description(device_errc e) noexcept {
    switch (e) {
    case device_errc::failure: return "generic failure";
    case device_errc::persistence_failure: return "persistence failure";
    case device_errc::disconnected: return "disconnected";
    case device_errc::too_many_in_flight: return "too many messages in flight";
    case device_errc::invalid_utf8: return "invalid UTF-8";
    case device_errc::null_value: return "null value";
    case device_errc::bad_qos: return "bad QoS";
    case device_errc::no_more_message_ids: return "no more message ids";
    case device_errc::bad_protocol: return "bad protocol in URL";
    }
    return "unknown device error";
}

namespace detail {
struct device_error_traits {
    using errc = device_errc;
    static constexpr const char* name = "ctmqtt.device";
    static std::string message(device_errc e, std::uint32_t text) {
        std::string m{device_error_description(e)};
        if (const auto detail = transport::detail::error_texts::recall(text); !detail.empty())
            m += ": " + detail;
        return m;
    }
};
} // namespace detail

inline const std::error_category& device_category() noexcept {
    return transport::detail::packed_category<detail::device_error_traits>::instance();
}

/// A device error whose message is its description, then ": " and `detail`
/// (which names what was wrong: "bad QoS: 3 for topic \"a/b\" (0, 1 or 2)").
inline std::error_code make_error_code(device_errc e, std::string_view detail = {}) {
    return transport::detail::packed_error_quoting<detail::device_error_traits>(e, detail);
}

inline std::error_condition make_error_condition(device_errc e) noexcept {
    return transport::detail::packed_condition<detail::device_error_traits>(e);
}

/// The DL-7450 result code of an error: 0 for none; the CONNACK's return or
/// reason code (positive) for a refused connection; otherwise a negated
/// device_errc value: the device errors themselves, and the client's,
/// session's and codec's errors mapped to the nearest one (the offline queue
/// full: -4; disconnected: -3; packet identifiers used up: -10; malformed
/// UTF-8: -5; a store's failure: -2; anything else: -1).
inline int device_rc(std::error_code ec) noexcept {
    const auto rc = [](device_errc e) { return -static_cast<int>(e); };
    if (!ec)
        return 0;
    if (ec.category() == device_category())
        return -(ec.value() & 0xFF);
    if (const auto code = refusal_code(ec))
        return *code;
    if (ec.category() == client_category()) {
        switch (static_cast<client_errc>(ec.value())) {
        case client_errc::offline_queue_full:
        case client_errc::message_too_large:
        case client_errc::dropped_from_queue: return rc(device_errc::too_many_in_flight);
        case client_errc::disconnected: return rc(device_errc::disconnected);
        case client_errc::store_session_mismatch: return rc(device_errc::persistence_failure);
        default: return rc(device_errc::failure);
        }
    }
    if (ec.category() == session_category()) {
        if (ec == session_errc::packet_ids_exhausted)
            return rc(device_errc::no_more_message_ids);
        if (ec == session_errc::not_connected)
            return rc(device_errc::disconnected);
        if (ec == session_errc::qos_not_supported)
            return rc(device_errc::bad_qos);
        return rc(device_errc::failure);
    }
    if (ec == codec_errc::utf8_malformed || ec == codec_errc::utf8_null)
        return rc(device_errc::invalid_utf8);
    if (std::string_view{ec.category().name()}.starts_with("ctmqtt.store"))
        return rc(device_errc::persistence_failure);
    return rc(device_errc::failure);
}

/// The text of a DL-7450 result code (the DL-7450's ErrorDescription): 0 and
/// the CONNACK codes as describe_connack says them (1-5: MQTT 3.1.1 return
/// codes, 0x80 and up: MQTT 5 reason codes), negative codes as device_errc's
/// descriptions.
inline std::string device_error_description(int rc) {
    if (rc == 0)
        return "Connection accepted";
    if (rc > 0 && rc <= 0xFF) {
        const auto code = static_cast<std::uint8_t>(rc);
        return describe_connack(code >= 0x80 ? protocol_version::v5 : protocol_version::v3_1_1,
                                code);
    }
    if (rc < 0 && rc >= -0xFF) {
        const auto e = static_cast<device_errc>(-rc);
        const auto text = device_error_description(e);
        if (text != device_error_description(device_errc{}))
            return std::string{text};
    }
    return "unknown result code " + std::to_string(rc);
}

// ---------------------------------------------------------------- options

/// What connect() takes (the DL-7450's connect options; an option that does
/// not exist does not compile). Unset options take the DL-7450's defaults.
struct device_connect_options {
    /// Seconds between the client's PINGREQs when idle; unset: no keep alive.
    std::optional<std::uint16_t> keep_alive{};
    std::optional<std::string> username{};
    /// Any bytes. A password without a username is refused for MQTT 3.1 and
    /// 3.1.1 (MQTT 5 allows it).
    std::optional<std::string> password{};
    /// The will: defined when will_topic is set (will_qos defaults to 0,
    /// will_message to empty); will_qos or will_message without will_topic is
    /// refused.
    std::optional<std::string> will_topic{};
    std::optional<int> will_qos{};
    std::optional<std::string> will_message{};
    bool will_retain = false;
    // TLS material in memory, for ssl://, mqtts:// and wss:// (ignored by the others).
    /// The CA certificates to trust: PEM text, or DER (one certificate or
    /// several one after another). Empty: the system's store.
    std::string trust_store{};
    /// The client's private key: PEM or DER.
    std::string private_key{};
    /// The client's certificate chain: PEM (the certificate first; it may
    /// hold the private key too), or one DER certificate.
    std::string key_store{};
    /// What the DL-7450 fixes and a C++ user may want to change.
    protocol_version version = protocol_version::v3_1_1;
    /// false (the DL-7450's setting): the broker keeps the session (its
    /// subscriptions and queued messages) across connections; MQTT 5: Clean
    /// Start 0 and a Session Expiry Interval that never ends.
    bool clean_session = false;
    std::chrono::milliseconds connect_timeout = std::chrono::seconds{10};

    friend bool operator==(const device_connect_options&, const device_connect_options&) = default;
};

/// The second argument of on_connect (a dictionary the DL-7450 leaves empty).
struct device_connect_flags {
    bool session_present = false;          ///< rc 0: the broker kept the session
    bool lost = false;                     ///< a connection that was up has ended (rc -1)
    bool gave_up = false;                  ///< no more attempts follow (a final refusal)
    std::chrono::milliseconds retry_in{0}; ///< a failed attempt: when the next one starts
    std::error_code error; ///< a failure: why (describe_connect_result(error) says it in words)
    broker_address broker; ///< the broker connected to or tried
};

/// The broker URL of a device client: tcp:// or mqtt:// (port 1883), ssl://
/// or mqtts:// (8883), ws:// (80), wss:// (443), and unix:/path (a Unix
/// socket). A URL without a scheme or with another scheme is
/// device_errc::bad_protocol; other mistakes are transport::url_errc errors.
inline result<transport::broker_url> parse_device_url(std::string_view text) {
    const bool has_scheme =
        text.find("://") != std::string_view::npos ||
        (text.size() >= 5 && transport::detail::equals_lower(text.substr(0, 5), "unix:"));
    if (!has_scheme)
        return make_error_code(device_errc::bad_protocol,
                               "\"" + std::string{text} +
                                   "\" has no scheme (tcp, mqtt, ssl, mqtts, ws, wss or unix)");
    auto url = transport::parse_url(text);
    if (!url && url.error() == transport::url_errc::unknown_scheme)
        return make_error_code(device_errc::bad_protocol, url.error().message());
    return url;
}

// ---------------------------------------------------------------- the client

template <class Transport = transport::any, class Store = store::memory,
          class Timer = asio::steady_timer>
class basic_device_client {
public:
    using client_type = basic_client<Transport, Store, Timer>;
    using connect_handler = std::function<void(int rc, const device_connect_flags& flags)>;
    using message_handler = std::function<void(std::string_view topic, bytes_view payload)>;
    using subscribe_handler =
        std::function<void(int mid, const std::vector<int>& granted_qos, std::error_code ec)>;
    using publish_handler = std::function<void(int mid, std::error_code ec)>;

    /// A client for `broker_url`, ready to connect (connect() connects).
    /// Throws std::system_error for a bad URL (device_errc::bad_protocol for a
    /// missing or unknown scheme, or one this Transport does not serve), an
    /// empty client id (null_value) or one that is not UTF-8 (invalid_utf8).
    basic_device_client(asio::any_io_executor ex, std::string_view broker_url,
                        std::string client_id, Store store = Store{})
        : executor_(std::move(ex)), client_id_(std::move(client_id)), store_(std::move(store)) {
        auto url = parse_device_url(broker_url);
        if (!url)
            throw std::system_error(url.error());
        if (auto ec = check_scheme(url->scheme))
            throw std::system_error(ec);
        if (client_id_.empty())
            throw std::system_error(
                make_error_code(device_errc::null_value, "the client id is empty"));
        if (const auto f = validate_utf8(client_id_))
            throw std::system_error(
                make_error_code(device_errc::invalid_utf8,
                                "the client id: " + f.in(packet_type::connect).message()));
        url_ = std::move(*url);
    }

    basic_device_client(const basic_device_client&) = delete;
    basic_device_client& operator=(const basic_device_client&) = delete;

    /// Destroy it when its executor does not run it at the same time (from a
    /// callback, or once the io_context has stopped), as basic_client.
    ~basic_device_client() { *alive_ = false; }

    /// Starts connecting; `on_connect(rc, flags)` is called on every
    /// connection (rc 0), every refusal by the broker (rc the CONNACK's
    /// return or reason code: 1-5 in MQTT 3.1/3.1.1, 0x80 and up in MQTT 5),
    /// every failed attempt (rc -1: the network, TLS, a timeout) and every
    /// loss of the connection (rc -1, flags.lost). The client then reconnects
    /// by itself after 1, 2, 4, 8, 16, 32 s and then every 60 s, starting over
    /// after each successful connection; a refusal for bad credentials or
    /// authorisation (or a banned or refused client id, or an unsupported
    /// protocol version) is final (flags.gave_up), as is disconnect().
    ///
    /// Returns at once: an error for options that cannot work (a password
    /// without a username in 3.1.1, a half-defined will, a bad will QoS or
    /// topic, TLS material OpenSSL cannot read, a Store that cannot restore
    /// its session: device_rc -2), and nothing else. The
    /// options are those of the first connect(); a later call (after
    /// disconnect() or a final refusal) with other options is refused
    /// (device_errc::failure): make a new client for them.
    std::error_code connect(connect_handler on_connect, device_connect_options options = {}) {
        if (auto ec = check(options))
            return ec;
        if (client_ && options != options_)
            return make_error_code(device_errc::failure,
                                   "connect() takes the options of the first connect() only; "
                                   "make a new client for other options");
        if (!client_) {
            if (auto ec = make_client(options))
                return ec;
        }
        asio::dispatch(client_->get_executor(),
                       [this, alive = alive_, cb = std::move(on_connect)]() mutable {
                           if (!*alive)
                               return;
                           on_connect_ = std::move(cb);
                           wanted_ = true;
                           if (!receiving_)
                               receive();
                       });
        client_->async_connect([](boost::system::error_code) {}); // on_state reports it
        return {};
    }

    /// Publishes `payload` to `topic` at QoS `qos` (0, 1 or 2); returns the
    /// message id that on_publish reports, or the error: an empty topic
    /// (null_value), a topic that is not UTF-8 (invalid_utf8) or has a
    /// wildcard (failure), a bad QoS (bad_qos), connect() not called yet
    /// (disconnected). While the connection is down the message waits in the
    /// client's offline queue and goes out after the reconnect (in memory:
    /// lost with the client, unless the Store keeps it).
    result<int> publish(std::string_view topic, bytes_view payload, int qos) {
        if (auto ec = check_topic(topic, "publish"))
            return ec;
        if (auto ec = check_qos(qos, topic))
            return ec;
        if (!client_)
            return not_connected();
        const int mid = next_mid();
        client_->async_publish(topic, payload, static_cast<ctmqtt::qos>(qos), false,
                               [this, alive = alive_, mid](boost::system::error_code ec) {
                                   if (*alive && on_publish_)
                                       on_publish_(mid, ec);
                               });
        return mid;
    }
    result<int> publish(std::string_view topic, std::string_view payload, int qos) {
        return publish(topic, as_bytes(payload), qos);
    }

    /// Subscribes to one topic filter at QoS `qos`; returns the message id
    /// that on_subscribe reports (with the granted QoS), or the error (an
    /// empty or malformed filter, a bad QoS, connect() not called yet).
    /// Subscriptions made while the connection is down are sent once it is
    /// up; the client makes them again after a reconnect without a session.
    result<int> subscribe(std::string_view filter, int qos) {
        const std::pair<std::string_view, int> one[] = {{filter, qos}};
        return subscribe_all(one);
    }
    /// Subscribes to several filters under one message id: on_subscribe
    /// reports their granted QoS in the same order once all are acknowledged.
    result<int> subscribe(std::span<const std::pair<std::string, int>> topics) {
        std::vector<std::pair<std::string_view, int>> views(topics.begin(), topics.end());
        return subscribe_all(views);
    }
    result<int> subscribe(std::initializer_list<std::pair<std::string_view, int>> topics) {
        return subscribe_all(std::span{topics.begin(), topics.size()});
    }

    /// Each message received: (topic, payload), the views valid during the call.
    void on_message(message_handler h) { set(on_message_, std::move(h)); }
    /// Each subscribe() acknowledged: (mid, granted QoS per filter: 0, 1, 2 or
    /// 0x80 for a refusal, error). The error is set when no SUBACK came (the
    /// client was disconnected or gave up).
    void on_subscribe(subscribe_handler h) { set(on_subscribe_, std::move(h)); }
    /// on_subscribe with (mid, granted QoS) only, as the DL-7450 has it.
    template <class F>
    requires std::is_invocable_v < F&, int, const std::vector<int>
    & > &&(!std::is_invocable_v<F&, int, const std::vector<int>&,
                                std::error_code>)void on_subscribe(F f) {
        on_subscribe(
            subscribe_handler{[f = std::move(f)](int mid, const std::vector<int>& granted,
                                                 std::error_code) mutable { f(mid, granted); }});
    }
    /// Each publish() finished: (mid, error): none when written (QoS 0) or
    /// acknowledged (QoS 1 and 2); describe_publish_result(ec) and
    /// device_rc(ec) say what became of it otherwise.
    void on_publish(publish_handler h) { set(on_publish_, std::move(h)); }
    /// on_publish with the mid only (called for every outcome).
    template <class F>
    requires std::is_invocable_v<F&, int> &&
        (!std::is_invocable_v<F&, int, std::error_code>)void on_publish(F f) {
        on_publish(
            publish_handler{[f = std::move(f)](int mid, std::error_code) mutable { f(mid); }});
    }

    /// Sends DISCONNECT and stops reconnecting; messages still waiting fail
    /// with client_errc::disconnected (rc -3). `done` (if given) is called
    /// once the connection is closed. connect() connects again.
    void disconnect(std::function<void(std::error_code)> done = {}) {
        if (!client_) {
            if (done)
                asio::dispatch(executor_, [d = std::move(done)] { d({}); });
            return;
        }
        asio::dispatch(client_->get_executor(), [this, alive = alive_] {
            if (*alive)
                wanted_ = false;
        });
        client_->async_disconnect(
            [alive = alive_, d = std::move(done)](boost::system::error_code ec) {
                if (*alive && d)
                    d(ec);
            });
    }

    /// True while a connection is up (any thread).
    bool connected() const noexcept { return client_ && client_->connected(); }
    const transport::broker_url& url() const noexcept { return url_; }
    const std::string& client_id() const noexcept { return client_id_; }
    /// The executor callbacks run on (the client's strand once connect() made it).
    asio::any_io_executor get_executor() const {
        return client_ ? client_->get_executor() : executor_;
    }
    /// The client underneath (null before the first connect()), for what the
    /// facade does not offer: unsubscribe, MQTT 5 properties, abort_connection().
    client_type* async_client() noexcept { return client_ ? &*client_ : nullptr; }

private:
    // ------------------------------------------------------------ checks

    // Which schemes the Transport serves: transport::any all of them, a
    // transport of one kind its own, a transport of the user's own any.
    static std::error_code check_scheme(transport::url_scheme s) {
        using transport::url_scheme;
        std::optional<url_scheme> only;
        if constexpr (std::is_same_v<Transport, transport::tcp>)
            only = url_scheme::mqtt;
        else if constexpr (std::is_same_v<Transport, transport::tls>)
            only = url_scheme::mqtts;
        else if constexpr (std::is_same_v<Transport, transport::websocket>)
            only = url_scheme::ws;
        else if constexpr (std::is_same_v<Transport, transport::websocket_tls>)
            only = url_scheme::wss;
        else if constexpr (std::is_same_v<Transport, transport::unix_socket>)
            only = url_scheme::unix_socket;
        if (only && s != *only)
            return make_error_code(device_errc::bad_protocol,
                                   std::string{transport::to_string(s)} +
                                       ": this client's transport serves " +
                                       std::string{transport::to_string(*only)} + " URLs only");
        return {};
    }

    bool speaks_v5(const device_connect_options& o) const noexcept {
        return o.version == protocol_version::v5;
    }

    std::error_code check(const device_connect_options& o) const {
        if (o.password && !o.username && !speaks_v5(o))
            return make_error_code(device_errc::null_value,
                                   "a password without a username (MQTT 3.1.1 [MQTT-3.1.2-22])");
        if (o.username)
            if (const auto f = validate_utf8(*o.username))
                return make_error_code(device_errc::invalid_utf8,
                                       "the username: " + f.in(packet_type::connect).message());
        if (!o.will_topic) {
            if (o.will_qos || o.will_message)
                return make_error_code(device_errc::null_value,
                                       "will_qos or will_message without will_topic");
            return {};
        }
        if (auto ec = check_topic(*o.will_topic, "will"))
            return ec;
        return check_qos(o.will_qos.value_or(0), *o.will_topic);
    }

    static std::error_code check_topic(std::string_view topic, std::string_view what) {
        if (topic.empty())
            return make_error_code(device_errc::null_value,
                                   "the " + std::string{what} + " topic is empty [MQTT-4.7.3-1]");
        if (const auto f = validate_utf8(topic))
            return make_error_code(device_errc::invalid_utf8,
                                   "the " + std::string{what} +
                                       " topic: " + f.in(packet_type::publish).message());
        if (topic.size() > max_string_length)
            return make_error_code(device_errc::failure, "the " + std::string{what} +
                                                             " topic is longer than 65535 bytes");
        if (const auto f = validate_topic_name(topic))
            return make_error_code(device_errc::failure,
                                   "the " + std::string{what} + " topic \"" + std::string{topic} +
                                       "\": " + f.in(packet_type::publish).message());
        return {};
    }

    static std::error_code check_filter(std::string_view filter) {
        if (filter.empty())
            return make_error_code(device_errc::null_value,
                                   "the topic filter is empty [MQTT-4.7.3-1]");
        if (const auto f = validate_utf8(filter))
            return make_error_code(device_errc::invalid_utf8,
                                   "the topic filter: " + f.in(packet_type::subscribe).message());
        if (filter.size() > max_string_length)
            return make_error_code(device_errc::failure,
                                   "the topic filter is longer than 65535 bytes");
        if (const auto f = validate_topic_filter(filter))
            return make_error_code(device_errc::failure,
                                   "the topic filter \"" + std::string{filter} +
                                       "\": " + f.in(packet_type::subscribe).message());
        return {};
    }

    static std::error_code check_qos(int qos, std::string_view topic) {
        if (qos < 0 || qos > 2)
            return make_error_code(device_errc::bad_qos, std::to_string(qos) + " for \"" +
                                                             std::string{topic} + "\" (0, 1 or 2)");
        return {};
    }

    static std::error_code not_connected() {
        return make_error_code(device_errc::disconnected, "connect() has not been called");
    }

    // ------------------------------------------------------------ the client

    std::error_code make_client(const device_connect_options& o) {
        client_options c;
        url_.apply_to(c); // the broker, and credentials written in the URL
        c.client_id = client_id_;
        c.version = o.version;
        c.keep_alive = o.keep_alive.value_or(0);
        c.clean_start = o.clean_session;
        if (!o.clean_session && o.version == protocol_version::v5)
            c.session_expiry_interval = 0xFFFF'FFFF; // kept as 3.1.1 keeps it: until a clean start
        if (o.username)
            c.user_name = o.username;
        if (o.password)
            c.password = o.password;
        if (o.will_topic) {
            message will;
            will.topic = *o.will_topic;
            if (o.will_message)
                will.payload = bytes_of(*o.will_message);
            will.qos = static_cast<ctmqtt::qos>(o.will_qos.value_or(0));
            will.retain = o.will_retain;
            c.will = std::move(will);
        }
        c.connect_timeout = o.connect_timeout;
        c.on_state = [this](const connection_state& s) { on_state(s); };

        std::optional<transport::tls_options> tls;
        if (url_.secure()) {
            auto t = tls_material(o);
            if (!t)
                return t.error();
            tls = std::move(*t);
        }
        try {
            client_.emplace(executor_, std::move(c), std::move(store_));
        } catch (const std::system_error& e) { // a store that cannot be used
            return e.code();
        }
        auto& t = client_->transport();
        if constexpr (requires { t.add(url_); })
            t.add(url_);
        if (tls) {
            if constexpr (requires { t.set_tls_options(*tls); })
                t.set_tls_options(std::move(*tls));
            else if constexpr (requires { t.set_options(*tls); })
                t.set_options(std::move(*tls));
        }
        options_ = o;
        return {};
    }

    static bool is_pem(std::string_view s) noexcept {
        return s.find("-----BEGIN ") != std::string_view::npos;
    }

    static std::vector<std::byte> bytes_of(std::string_view s) {
        const auto b = as_bytes(s);
        return {b.begin(), b.end()};
    }

    // DER certificates one after another: each is a SEQUENCE whose length
    // says where the next starts (X.690 §8.1.3).
    static result<std::vector<std::vector<std::byte>>> split_der(std::string_view der) {
        std::vector<std::vector<std::byte>> out;
        while (!der.empty()) {
            const auto at = [&](std::size_t i) { return static_cast<unsigned char>(der[i]); };
            std::size_t header = 2;
            std::size_t length = der.size() >= 2 ? at(1) : 0;
            if (der.size() < 2 || at(0) != 0x30)
                return make_error_code(device_errc::failure,
                                       "trust_store: neither PEM nor DER certificates");
            if (length & 0x80) { // long form: the next (length & 0x7F) bytes
                const std::size_t n = length & 0x7F;
                if (n == 0 || n > 3 || der.size() < 2 + n)
                    return make_error_code(device_errc::failure,
                                           "trust_store: a DER certificate of unreadable length");
                length = 0;
                for (std::size_t i = 0; i < n; ++i)
                    length = length << 8 | at(2 + i);
                header += n;
            }
            if (der.size() < header + length)
                return make_error_code(device_errc::failure,
                                       "trust_store: a DER certificate is cut short");
            out.push_back(bytes_of(der.substr(0, header + length)));
            der.remove_prefix(header + length);
        }
        return out;
    }

    // The DL-7450's in-memory TLS material as tls_options, checked now (an
    // unreadable certificate or key is a mistake no reconnect mends).
    static result<transport::tls_options> tls_material(const device_connect_options& o) {
        transport::tls_options t;
        if (is_pem(o.trust_store)) {
            t.ca_pem = o.trust_store;
        } else if (!o.trust_store.empty()) {
            auto certificates = split_der(o.trust_store);
            if (!certificates)
                return certificates.error();
            t.ca_der = std::move(*certificates);
        }
        if (is_pem(o.key_store))
            t.certificate_pem = o.key_store;
        else if (!o.key_store.empty())
            t.certificate_der = bytes_of(o.key_store);
        if (o.private_key.empty()) {
            if (is_pem(o.key_store) && o.key_store.find("PRIVATE KEY-----") != std::string::npos)
                t.private_key_pem = o.key_store; // the chain holds the key as well
        } else if (is_pem(o.private_key)) {
            t.private_key_pem = o.private_key;
        } else {
            t.private_key_der = bytes_of(o.private_key);
        }
        if (auto context = transport::detail::make_tls_context(t); !context)
            return context.error();
        return t;
    }

    // ------------------------------------------------------------ operations

    // 1 to INT_MAX, then 1 again (a mid names a request only until its callback).
    int next_mid() noexcept {
        const auto n = mid_counter_.fetch_add(1, std::memory_order_relaxed);
        return static_cast<int>(n % 0x7FFF'FFFFu) + 1;
    }

    struct subscribe_state {
        int mid = 0;
        std::vector<int> granted;
        std::size_t waiting = 0;
        std::error_code error;
    };

    result<int> subscribe_all(std::span<const std::pair<std::string_view, int>> topics) {
        if (topics.empty())
            return make_error_code(device_errc::null_value, "no topic to subscribe to");
        for (const auto& [filter, qos] : topics) {
            if (auto ec = check_filter(filter))
                return ec;
            if (auto ec = check_qos(qos, filter))
                return ec;
        }
        if (!client_)
            return not_connected();
        auto state = std::make_shared<subscribe_state>();
        state->mid = next_mid();
        state->granted.assign(topics.size(), 0x80);
        state->waiting = topics.size();
        for (std::size_t i = 0; i < topics.size(); ++i) {
            client_->async_subscribe(
                std::string{topics[i].first},
                subscribe_options{static_cast<ctmqtt::qos>(topics[i].second)},
                [this, alive = alive_, state, i](boost::system::error_code ec,
                                                 std::vector<suback_reason_code> codes) {
                    if (!*alive)
                        return;
                    if (ec && !state->error)
                        state->error = ec;
                    if (!ec && !codes.empty())
                        state->granted[i] = codes.front().value();
                    if (--state->waiting == 0 && on_subscribe_)
                        on_subscribe_(state->mid, state->granted, state->error);
                });
        }
        return state->mid;
    }

    // Every message, once, in arrival order (subscriptions without callbacks:
    // a message matching two filters comes once, as the broker sent it).
    void receive() {
        receiving_ = true;
        client_->async_receive(received_, [this, alive = alive_](boost::system::error_code ec) {
            if (!*alive)
                return;
            receiving_ = false;
            if (!ec) {
                if (on_message_)
                    on_message_(received_.topic, received_.payload);
            } else if (!wanted_) {
                return; // disconnect(): connect() starts receiving again
            }
            receive(); // after a final refusal the client may be connected again
        });
    }

    template <class Handler>
    void set(Handler& slot, Handler h) {
        if (!client_) {
            slot = std::move(h);
            return;
        }
        asio::dispatch(client_->get_executor(),
                       [this, alive = alive_, &slot, h = std::move(h)]() mutable {
                           if (*alive)
                               slot = std::move(h);
                       });
    }

    // The client's state changes as DL-7450 on_connect calls: one per
    // connection, refusal, failed attempt and loss.
    void on_state(const connection_state& s) {
        device_connect_flags f;
        f.error = s.error;
        f.broker = s.broker;
        f.retry_in = s.retry_in;
        int rc = 0;
        switch (s.what) {
        case connection_state::kind::connected:
            loss_reported_ = false;
            f.session_present = s.session_present;
            break;
        case connection_state::kind::lost:
            loss_reported_ = true;
            f.lost = true;
            rc = -static_cast<int>(device_errc::failure);
            break;
        case connection_state::kind::retrying:
            if (std::exchange(loss_reported_, false))
                return; // the loss was the news; the first reconnect is in 1 s
            rc = attempt_rc(s.error);
            break;
        case connection_state::kind::gave_up:
            if (std::exchange(loss_reported_, false) || s.error == client_errc::disconnected)
                return; // a loss reported already, or disconnect() (the user knows)
            f.gave_up = true;
            rc = attempt_rc(s.error);
            break;
        }
        if (on_connect_)
            on_connect_(rc, f);
    }

    static int attempt_rc(std::error_code ec) {
        if (const auto code = refusal_code(ec))
            return *code;
        return -static_cast<int>(device_errc::failure);
    }

    asio::any_io_executor executor_;
    transport::broker_url url_;
    std::string client_id_;
    Store store_; ///< until the client takes it
    device_connect_options options_;
    // Used on the client's strand once the client exists.
    connect_handler on_connect_;
    message_handler on_message_;
    subscribe_handler on_subscribe_;
    publish_handler on_publish_;
    message received_; ///< the buffers every received message goes through
    bool receiving_ = false;
    bool wanted_ = false; ///< connect() called and no disconnect() since
    bool loss_reported_ = false;
    std::atomic<std::uint32_t> mid_counter_{0};
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    std::optional<client_type> client_; ///< last: goes first, while the callbacks are there
};

/// The device client over any transport (by URL), with the memory store.
using device_client = basic_device_client<>;

} // namespace ctmqtt

template <>
struct std::is_error_condition_enum<ctmqtt::device_errc> : std::true_type {};
