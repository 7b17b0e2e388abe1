// The Tenta facade: a sensor's client for the Tenta sensor-network manager
// (measurements, logs and configuration acknowledgments to the server,
// configurations from it), as the Python `tenta` package offers it, in C++.
//
//     ctmqtt::tenta::options o;
//     o.host = "broker.example";
//     o.user_name = "sensor-7";
//     o.password = "secret";
//     o.sensor_identifier = "81bf7042";
//     o.on_configuration = [](const tenta::configuration_message& c) { ... };
//     ctmqtt::tenta::client sensor(o);            // connected, or throws
//     auto id = sensor.publish(tenta::measurement_message{.value = {{"temperature", 20.5}}});
//     if (!id) std::cerr << id.error().message();  // names the offending field
//     sensor.wait_for_publish(std::chrono::seconds{10});
//     sensor.teardown();
//
// A thin layer over basic_blocking_client<Transport, Store> (so over
// basic_client): the topics, the JSON payloads and the server's validation
// rules are this file's; connecting, queueing, reconnecting and TLS are the
// client's and its transports'. The wire contract is docs/facades-tenta.md.
//
// JSON through nlohmann/json (Debian's nlohmann-json3-dev): payloads are
// written with nlohmann::ordered_json, so keys go out in the order the
// Tenta server's documentation gives them.
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include <ctmqtt/client/blocking.hpp>
#include <ctmqtt/core/result.hpp>
#include <ctmqtt/core/topic.hpp>
#include <ctmqtt/core/utf8.hpp>
#include <ctmqtt/transport/any.hpp>
#include <ctmqtt/transport/detail/error_text.hpp>
#include <ctmqtt/transport/tls.hpp>
#include <ctmqtt/transport/url.hpp>

namespace ctmqtt::tenta {

// ------------------------------------------------------------------ errors

/// What the facade refuses or reports. Each message names the field and,
/// where there is one, quotes the offending value and the batch item.
enum class errc : std::uint8_t {
    // publish(): refused before anything is sent
    no_sensor_identifier = 1,     ///< none given to publish() and none in options
    bad_sensor_identifier,        ///< not usable as a topic level
    empty_batch,                  ///< the server refuses an empty array
    empty_measurement_value,      ///< measurement "value" without a key
    bad_measurement_key,          ///< a key not matching ^[a-z0-9](_?[a-z0-9])*$
    measurement_key_too_long,     ///< a key longer than 64 characters
    duplicate_measurement_key,    ///< the same key twice in one "value"
    measurement_value_not_finite, ///< NaN or an infinity
    revision_out_of_range,        ///< outside 0 <= revision < 2^31
    missing_revision,             ///< an acknowledgment without a revision
    bad_log_severity,             ///< not info, warning or error
    log_message_not_utf8,         ///< JSON strings are Unicode text
    timestamp_not_finite,         ///< NaN or an infinity
    torn_down,                    ///< publish() after teardown()
    // waiting
    publish_timeout,      ///< wait_for_publish: still unacknowledged at the timeout
    publish_failed,       ///< wait_for_publish: a publish since the last wait failed
    unknown_message_id,   ///< wait_for_publish(id): no such id
    called_from_callback, ///< a blocking call on the network thread
    // construction
    receive_configs_without_sensor_identifier,
    transport_mismatch, ///< the Transport cannot connect the way the options ask
    connection_failed,  ///< no connection within options::connection_timeout
    subscription_failed,
    // configurations received (ignored, counted, reported)
    configuration_not_json,
    configuration_not_object,
    configuration_revision_missing,
    configuration_revision_not_integer,
    configuration_revision_out_of_range,
    configuration_missing,
};

namespace detail {

struct error_traits {
    using errc = tenta::errc;
    static constexpr const char* name = "ctmqtt.tenta";

    static std::string_view text(errc e) noexcept {
        switch (e) {
        case errc::no_sensor_identifier:
            return "no sensor identifier: none given to publish() and none in "
                   "tenta::options::sensor_identifier";
        case errc::bad_sensor_identifier:
            return "the sensor identifier cannot be a topic level (it must be non-empty UTF-8 "
                   "without '/', '+', '#' or U+0000)";
        case errc::empty_batch: return "empty batch: the Tenta server refuses an empty array";
        case errc::empty_measurement_value:
            return "measurement \"value\" is empty (it needs at least one key)";
        case errc::bad_measurement_key:
            return "measurement \"value\" key does not match ^[a-z0-9](_?[a-z0-9])*$";
        case errc::measurement_key_too_long:
            return "measurement \"value\" key is longer than 64 characters";
        case errc::duplicate_measurement_key: return "measurement \"value\" has a key twice";
        case errc::measurement_value_not_finite:
            return "measurement \"value\" entry is not a finite number";
        case errc::revision_out_of_range: return "\"revision\" is outside 0 <= revision < 2^31";
        case errc::missing_revision:
            return "acknowledgment without \"revision\" (the configuration revision it "
                   "acknowledges)";
        case errc::bad_log_severity: return "log \"severity\" is not info, warning or error";
        case errc::log_message_not_utf8: return "log \"message\" is not valid UTF-8";
        case errc::timestamp_not_finite: return "\"timestamp\" is not a finite number";
        case errc::torn_down:
            return "the Tenta client was torn down (teardown()): it publishes nothing more";
        case errc::publish_timeout: return "messages not acknowledged within the timeout";
        case errc::publish_failed: return "a message could not be published";
        case errc::unknown_message_id: return "this client published no message with this id";
        case errc::called_from_callback:
            return "a blocking call from a callback on the client's network thread, which it "
                   "would block forever";
        case errc::receive_configs_without_sensor_identifier:
            return "tenta::options::receive_configs needs tenta::options::sensor_identifier "
                   "(the topic is configurations/<sensor identifier>)";
        case errc::transport_mismatch: return "the client's transport cannot connect this way";
        case errc::connection_failed: return "cannot connect to the MQTT broker";
        case errc::subscription_failed: return "cannot subscribe to the configurations";
        case errc::configuration_not_json: return "configuration payload is not JSON";
        case errc::configuration_not_object: return "configuration payload is not a JSON object";
        case errc::configuration_revision_missing:
            return "configuration payload has no \"revision\"";
        case errc::configuration_revision_not_integer:
            return "configuration \"revision\" is not an integer";
        case errc::configuration_revision_out_of_range:
            return "configuration \"revision\" is outside 0 <= revision < 2^31";
        case errc::configuration_missing: return "configuration payload has no \"configuration\"";
        }
        return "Tenta error";
    }

    static std::string message(errc e, std::uint32_t detail) {
        std::string out{text(e)};
        if (detail != 0)
            out += ": " + transport::detail::error_texts::recall(detail);
        return out;
    }
};

} // namespace detail

inline const std::error_category& category() noexcept {
    return transport::detail::packed_category<detail::error_traits>::instance();
}

/// An error of `e` whose message ends with `detail` (the value, the item).
inline std::error_code make_error_code(errc e, std::string_view detail = {}) {
    return transport::detail::packed_error<detail::error_traits>(
        e, detail.empty() ? 0 : transport::detail::error_texts::remember(detail));
}

/// `ec == tenta::errc::...` compares the kind alone, whatever the detail.
inline std::error_condition make_error_condition(errc e) noexcept {
    return transport::detail::packed_condition<detail::error_traits>(e);
}

// ------------------------------------------------------------------ messages

/// A message id: numbers the publish() calls of one client, from 1.
using message_id = std::uint64_t;

/// A measured value: any integer or floating-point number. A bool is not a
/// number to the Tenta server, so it does not convert (compile error).
class number {
public:
    using value_type = std::variant<std::int64_t, std::uint64_t, double>;

    template <std::integral T>
    requires(!std::same_as<T, bool>) constexpr number(
        T v) noexcept // NOLINT: numbers convert, as in the seed API's dict
        : value_(std::is_signed_v<T> ? value_type{static_cast<std::int64_t>(v)}
                                     : value_type{static_cast<std::uint64_t>(v)}) {}
    template <std::floating_point T>
    constexpr number(T v) noexcept : value_(static_cast<double>(v)) {} // NOLINT
    number(bool) = delete;

    constexpr const value_type& value() const noexcept { return value_; }
    bool is_finite() const noexcept {
        const auto* d = std::get_if<double>(&value_);
        return d == nullptr || std::isfinite(*d);
    }
    friend bool operator==(const number&, const number&) = default;

private:
    value_type value_;
};

enum class log_severity : std::uint8_t { info, warning, error };

constexpr std::string_view to_string(log_severity s) noexcept {
    switch (s) {
    case log_severity::info: return "info";
    case log_severity::warning: return "warning";
    case log_severity::error: return "error";
    }
    return {};
}

/// Sent to measurements/<sensor id>. Keys of `value` go out in this order.
struct measurement_message {
    std::vector<std::pair<std::string, number>> value{}; ///< e.g. {{"temperature", 20.5}}
    std::optional<std::int64_t> revision{};              ///< the configuration revision; none: null
    std::optional<double> timestamp{}; ///< unix seconds; none: the time of publish()
};

/// Sent to logs/<sensor id>.
struct log_message {
    log_severity severity = log_severity::info;
    std::string message{}; ///< sent as it is (the server trims it to 16384 characters)
    std::optional<std::int64_t> revision{};
    std::optional<double> timestamp{};
};

/// Sent to acknowledgments/<sensor id>: whether a configuration was taken.
struct acknowledgment_message {
    std::optional<std::int64_t> revision{}; ///< required: the revision acknowledged
    bool success = false;
    std::optional<double> timestamp{};
};

/// Received on configurations/<sensor id>.
struct configuration_message {
    std::int64_t revision = 0;
    nlohmann::json configuration{}; ///< any JSON value
    friend bool operator==(const configuration_message&, const configuration_message&) = default;
};

/// The current time as a Tenta timestamp (unix seconds, sub-second precision).
inline double to_timestamp(std::chrono::system_clock::time_point t) noexcept {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
}
inline double now() noexcept {
    return to_timestamp(std::chrono::system_clock::now());
}

// ------------------------------------------------------------------ the payloads

namespace detail {

template <class Message>
struct kind {};
template <>
struct kind<measurement_message> {
    static constexpr std::string_view topic = "measurements";
    static constexpr std::string_view name = "measurement";
};
template <>
struct kind<log_message> {
    static constexpr std::string_view topic = "logs";
    static constexpr std::string_view name = "log";
};
template <>
struct kind<acknowledgment_message> {
    static constexpr std::string_view topic = "acknowledgments";
    static constexpr std::string_view name = "acknowledgment";
};

template <class Message>
concept tenta_message = requires {
    kind<Message>::topic;
};

inline constexpr std::size_t max_key_length = 64;
inline constexpr std::int64_t revision_limit = std::int64_t{1} << 31;

/// Bytes as they can be quoted in an error message: invalid UTF-8 and
/// control characters as \xNN.
inline std::string printable(std::string_view s) {
    const bool utf8 = !validate_utf8(s);
    std::string out;
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7F || (c >= 0x80 && !utf8)) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xF];
        } else {
            out += ch;
        }
    }
    return out;
}

inline std::string quote(std::string_view s) {
    return "\"" + printable(s) + "\"";
}

inline std::string item(std::size_t index) {
    return "batch item " + std::to_string(index);
}

inline std::string describe(double d) {
    if (std::isnan(d))
        return "NaN";
    if (std::isinf(d))
        return d > 0 ? "inf" : "-inf";
    return nlohmann::json(d).dump();
}

inline std::string describe(std::chrono::milliseconds d) {
    if (d.count() % 1000 == 0)
        return std::to_string(d.count() / 1000) + " s";
    return std::to_string(d.count()) + " ms";
}

// UTF-8 as JSON takes it: U+0000 is allowed (written \u0000).
inline bool is_json_text(std::string_view s) noexcept {
    for (;;) {
        const auto f = validate_utf8(s);
        if (!f)
            return true;
        if (f.rule != codec_errc::utf8_null)
            return false;
        s.remove_prefix(s.find('\0') + 1);
    }
}

// The key rule of the server: ^[a-z0-9](_?[a-z0-9])*$
inline bool is_measurement_key(std::string_view key) noexcept {
    if (key.empty() || key.front() == '_' || key.back() == '_')
        return false;
    char before = 0;
    for (const char c : key) {
        const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (c != '_' || before == '_'))
            return false;
        before = c;
    }
    return true;
}

inline std::error_code check_revision(const std::optional<std::int64_t>& r, std::string_view what,
                                      std::size_t index) {
    if (r && (*r < 0 || *r >= revision_limit))
        return make_error_code(errc::revision_out_of_range, std::to_string(*r) + " (" +
                                                                std::string{what} + ", " +
                                                                item(index) + ")");
    return {};
}

inline std::error_code check_timestamp(const std::optional<double>& t, std::string_view what,
                                       std::size_t index) {
    if (t && !std::isfinite(*t))
        return make_error_code(errc::timestamp_not_finite,
                               describe(*t) + " (" + std::string{what} + ", " + item(index) + ")");
    return {};
}

inline std::error_code check(const measurement_message& m, std::size_t index) {
    if (m.value.empty())
        return make_error_code(errc::empty_measurement_value, item(index));
    for (auto k = m.value.begin(); k != m.value.end(); ++k) {
        const auto& [key, value] = *k;
        if (key.size() > max_key_length)
            return make_error_code(errc::measurement_key_too_long,
                                   quote(key) + " (" + std::to_string(key.size()) +
                                       " characters, " + item(index) + ")");
        if (!is_measurement_key(key))
            return make_error_code(errc::bad_measurement_key,
                                   quote(key) + " (" + item(index) + ")");
        for (auto j = m.value.begin(); j != k; ++j)
            if (j->first == key)
                return make_error_code(errc::duplicate_measurement_key,
                                       quote(key) + " (" + item(index) + ")");
        if (!value.is_finite())
            return make_error_code(errc::measurement_value_not_finite,
                                   quote(key) + " = " + describe(std::get<double>(value.value())) +
                                       " (" + item(index) + ")");
    }
    if (auto ec = check_revision(m.revision, "measurement", index))
        return ec;
    return check_timestamp(m.timestamp, "measurement", index);
}

inline std::error_code check(const log_message& m, std::size_t index) {
    if (to_string(m.severity).empty())
        return make_error_code(errc::bad_log_severity,
                               std::to_string(static_cast<unsigned>(m.severity)) + " (" +
                                   item(index) + ")");
    if (!is_json_text(m.message))
        return make_error_code(errc::log_message_not_utf8, item(index));
    if (auto ec = check_revision(m.revision, "log", index))
        return ec;
    return check_timestamp(m.timestamp, "log", index);
}

inline std::error_code check(const acknowledgment_message& m, std::size_t index) {
    if (!m.revision)
        return make_error_code(errc::missing_revision, item(index));
    if (auto ec = check_revision(m.revision, "acknowledgment", index))
        return ec;
    return check_timestamp(m.timestamp, "acknowledgment", index);
}

using ordered_json = nlohmann::ordered_json;

inline ordered_json revision_json(const std::optional<std::int64_t>& r) {
    return r ? ordered_json(*r) : ordered_json(nullptr);
}

// The objects, keys in the order of the Tenta server's documentation.
inline ordered_json to_json(const measurement_message& m, double now) {
    ordered_json value = ordered_json::object();
    for (const auto& [key, v] : m.value)
        std::visit([&value, &key](auto x) { value[key] = x; }, v.value());
    ordered_json o = ordered_json::object();
    o["revision"] = revision_json(m.revision);
    o["value"] = std::move(value);
    o["timestamp"] = m.timestamp.value_or(now);
    return o;
}

inline ordered_json to_json(const log_message& m, double now) {
    ordered_json o = ordered_json::object();
    o["severity"] = to_string(m.severity);
    o["message"] = m.message;
    o["revision"] = revision_json(m.revision);
    o["timestamp"] = m.timestamp.value_or(now);
    return o;
}

inline ordered_json to_json(const acknowledgment_message& m, double now) {
    ordered_json o = ordered_json::object();
    o["revision"] = *m.revision;
    o["success"] = m.success;
    o["timestamp"] = m.timestamp.value_or(now);
    return o;
}

} // namespace detail

/// The payload of a batch: checked against every rule of the Tenta server,
/// then written as a JSON array; items without a timestamp get `now`.
template <class Message>
requires detail::tenta_message<Message> result<std::string>
encode_batch(std::span<const Message> batch, double now) {
    if (batch.empty())
        return make_error_code(errc::empty_batch, std::string{detail::kind<Message>::topic});
    for (std::size_t i = 0; i < batch.size(); ++i)
        if (auto ec = detail::check(batch[i], i))
            return ec;
    if (!std::isfinite(now))
        return make_error_code(errc::timestamp_not_finite, detail::describe(now) + " (now)");
    auto array = detail::ordered_json::array();
    for (const auto& m : batch)
        array.push_back(detail::to_json(m, now));
    return array.dump();
}
template <class Message>
requires detail::tenta_message<Message> result<std::string>
encode_batch(const std::vector<Message>& batch, double now) {
    return encode_batch(std::span<const Message>{batch}, now);
}

/// A configuration payload, `{"revision": <int>, "configuration": <any>}`
/// (further keys are ignored). The error names what is wrong with it.
inline result<configuration_message> parse_configuration(std::string_view payload) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(payload);
    } catch (const nlohmann::json::parse_error& e) {
        std::string_view what = e.what(); // "[json.exception.parse_error.101] parse error at..."
        if (const auto end = what.find("] "); what.starts_with("[json") && end != what.npos)
            what.remove_prefix(end + 2);
        return make_error_code(errc::configuration_not_json, what);
    }
    if (!j.is_object())
        return make_error_code(errc::configuration_not_object,
                               std::string{"it is "} + (j.is_array() ? "an " : "") +
                                   (j.is_array() || j.is_null() ? "" : "a ") + j.type_name());
    const auto r = j.find("revision");
    if (r == j.end())
        return make_error_code(errc::configuration_revision_missing);
    const auto shown = [](const nlohmann::json& v) { return v.dump().substr(0, 60); };
    if (!r->is_number_integer()) // a JSON boolean is not an integer, nor is 1.0
        return make_error_code(errc::configuration_revision_not_integer, shown(*r));
    const bool in_range =
        r->is_number_unsigned()
            ? r->get<std::uint64_t>() < static_cast<std::uint64_t>(detail::revision_limit)
            : r->get<std::int64_t>() >= 0 && r->get<std::int64_t>() < detail::revision_limit;
    if (!in_range)
        return make_error_code(errc::configuration_revision_out_of_range, shown(*r));
    const auto c = j.find("configuration");
    if (c == j.end())
        return make_error_code(errc::configuration_missing);
    return configuration_message{r->get<std::int64_t>(), std::move(*c)};
}

/// A sensor identifier is one topic level: non-empty UTF-8 without '/',
/// '+', '#' or U+0000, short enough for the longest topic.
inline std::error_code check_sensor_identifier(std::string_view id) {
    constexpr std::size_t longest_prefix = sizeof "acknowledgments/" - 1;
    if (id.empty() || id.find('/') != id.npos || validate_topic_characters(id) ||
        id.size() > max_string_length - longest_prefix)
        return make_error_code(errc::bad_sensor_identifier, detail::quote(id.substr(0, 100)));
    return {};
}

// ------------------------------------------------------------------ the client

/// How to connect, and what to do with what arrives. The seed API's
/// TentaClient arguments: mqtt_host/mqtt_port -> host/port (or url),
/// mqtt_identifier/mqtt_password -> user_name/password, mqtt_client_id ->
/// client_id, tls_parameters/tls_context/tls_insecure -> tls.
struct options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 1883;
    /// Instead of host and port: a broker URL (mqtt://, mqtts://, ws://,
    /// wss://, unix:; transport/url.hpp). Its user and password, if any,
    /// apply unless user_name / password are set.
    std::string url;
    std::optional<std::string> user_name;
    std::optional<std::string> password;
    std::string client_id; ///< empty: the broker assigns one
    /// How long the first connection (and the configuration subscription)
    /// may take; then the constructor throws errc::connection_failed.
    std::chrono::milliseconds connection_timeout = std::chrono::seconds{8};
    /// The default sensor for publish(); needed for the configurations.
    std::optional<std::string> sensor_identifier;
    /// Subscribe to configurations/<sensor_identifier> (QoS 1).
    bool receive_configs = true;
    /// Each valid configuration, on the network thread; one that arrives
    /// during the constructor (a retained one) only once the constructor is
    /// done.
    std::function<void(const configuration_message&)> on_configuration;
    /// Each invalid configuration (ignored and counted), with the payload.
    /// Unset: a warning line on std::clog.
    std::function<void(std::error_code, std::string_view payload)> on_invalid_configuration;
    /// Each publish once finished: acknowledged (QoS 1/2) or written (QoS 0),
    /// or failed (the error). On the network thread.
    std::function<void(message_id, std::error_code)> on_publish;
    /// TLS on (with these settings; default-constructed: the system's trust
    /// store). With a url, mqtt:// becomes mqtts:// and ws:// wss://.
    std::optional<transport::tls_options> tls;
    protocol_version version = protocol_version::v3_1_1;
    ctmqtt::qos qos = ctmqtt::qos::at_least_once; ///< of measurements, logs, acknowledgments
    std::uint16_t keep_alive = 60;
    /// After a lost connection (and during the first connection_timeout).
    std::vector<std::chrono::milliseconds> reconnect_delays = client_options{}.reconnect_delays;
    /// Connection state changes (connected, lost, retrying, gave up), on the network thread.
    std::function<void(const connection_state&)> on_state;
};

/// The Tenta client over any Transport and Store of basic_client. It runs
/// the network on a thread of its own; its member functions may be called
/// from any thread. Callbacks run on the network thread: they may publish,
/// but must not wait (wait_for_publish, teardown) nor destroy the client.
template <class Transport = transport::any, class Store = store::memory>
class basic_client {
public:
    using mqtt_client_type = basic_blocking_client<Transport, Store>;
    using duration = std::chrono::milliseconds;
    static constexpr duration default_wait = std::chrono::seconds{60};

    /// Connects (and subscribes to the configurations); throws
    /// std::system_error with an errc (connection_failed naming host, port
    /// and the reason; receive_configs_without_sensor_identifier; ...), or
    /// with the URL's error for a bad options::url.
    explicit basic_client(tenta::options opts, Store store = Store{}) : options_(std::move(opts)) {
        if (options_.receive_configs && !options_.sensor_identifier)
            throw std::system_error(
                make_error_code(errc::receive_configs_without_sensor_identifier));
        if (options_.sensor_identifier)
            if (auto ec = check_sensor_identifier(*options_.sensor_identifier))
                throw std::system_error(ec);
        const auto url = broker();
        mqtt_.emplace(mqtt_options(url), std::move(store));
        if (auto ec = configure(mqtt_->async_client().transport(), url))
            throw std::system_error(ec);
        if (auto ec = mqtt_->connect(options_.connection_timeout))
            throw std::system_error(connection_error(ec));
        if (options_.receive_configs)
            subscribe_configurations();
        // Configurations that came with the subscription go to the callback
        // once the constructor is done (after this, on the network thread).
        boost::asio::post(mqtt_->async_client().get_executor(), [this] {
            ready_ = true;
            for (const auto& c : std::exchange(pending_, {}))
                options_.on_configuration(c);
        });
    }

    basic_client(const basic_client&) = delete;
    basic_client& operator=(const basic_client&) = delete;

    /// teardown(), then stops the network thread.
    ~basic_client() { (void)teardown(); }

    // ------------------------------------------------------------ publishing

    /// Publishes a batch (one MQTT message, a JSON array) to
    /// measurements/<sensor id>; `sensor_id` empty: options::sensor_identifier.
    /// Returns its message id, or the rule it breaks (nothing is sent then).
    /// While the connection is down the message waits in the client's queue.
    result<message_id> publish(std::span<const measurement_message> batch,
                               std::string_view sensor_id = {}) {
        return publish_batch(batch, sensor_id);
    }
    /// A batch to logs/<sensor id>.
    result<message_id> publish(std::span<const log_message> batch,
                               std::string_view sensor_id = {}) {
        return publish_batch(batch, sensor_id);
    }
    /// A batch to acknowledgments/<sensor id>.
    result<message_id> publish(std::span<const acknowledgment_message> batch,
                               std::string_view sensor_id = {}) {
        return publish_batch(batch, sensor_id);
    }
    /// A batch written in place: publish({m1, m2}).
    template <class Message>
    requires detail::tenta_message<Message> result<message_id>
    publish(std::initializer_list<Message> batch, std::string_view sensor_id = {}) {
        return publish_batch(std::span<const Message>{batch.begin(), batch.size()}, sensor_id);
    }
    /// One message (a batch of one).
    template <class Message>
    requires detail::tenta_message<Message> result<message_id>
    publish(const Message& m, std::string_view sensor_id = {}) {
        return publish_batch(std::span<const Message>{&m, 1}, sensor_id);
    }

    /// True once the message was acknowledged (QoS 1/2) or written (QoS 0).
    bool was_message_published(message_id id) const {
        std::lock_guard lock(mutex_);
        return id != 0 && id < next_id_ && !active_.contains(id) && !failures_.contains(id);
    }

    /// Messages published and not finished yet.
    std::size_t active_message_count() const {
        std::lock_guard lock(mutex_);
        return active_.size();
    }

    /// Waits until every message published so far has finished. Returns
    /// errc::publish_timeout (with how many are left) at the timeout, or
    /// errc::publish_failed when a message failed since the last call.
    std::error_code wait_for_publish(duration timeout = default_wait) {
        if (on_network_thread())
            return make_error_code(errc::called_from_callback, "wait_for_publish()");
        std::unique_lock lock(mutex_);
        if (!changed_.wait_for(lock, timeout, [this] { return active_.empty(); }))
            return make_error_code(errc::publish_timeout, std::to_string(active_.size()) +
                                                              " still in flight after " +
                                                              detail::describe(timeout));
        if (failed_since_wait_ == 0)
            return {};
        const auto [id, ec] = first_failure_;
        const auto n = std::exchange(failed_since_wait_, 0);
        return make_error_code(errc::publish_failed, std::to_string(n) + " since the last wait; " +
                                                         "message id " + std::to_string(id) + ": " +
                                                         ec.message());
    }

    /// Waits for one message; returns its own error if it failed.
    std::error_code wait_for_publish(message_id id, duration timeout) {
        if (on_network_thread())
            return make_error_code(errc::called_from_callback, "wait_for_publish(id)");
        std::unique_lock lock(mutex_);
        if (id == 0 || id >= next_id_)
            return make_error_code(errc::unknown_message_id, "id " + std::to_string(id));
        if (!changed_.wait_for(lock, timeout, [&] { return !active_.contains(id); }))
            return make_error_code(errc::publish_timeout, "message id " + std::to_string(id) +
                                                              " after " +
                                                              detail::describe(timeout));
        const auto failed = failures_.find(id);
        return failed == failures_.end() ? std::error_code{} : failed->second;
    }

    // ------------------------------------------------------------ configurations

    /// The latest valid configuration received, if any.
    std::optional<configuration_message> latest_configuration() const {
        std::lock_guard lock(mutex_);
        return latest_;
    }

    /// How many configuration payloads were invalid (and ignored).
    std::size_t ignored_configuration_count() const {
        std::lock_guard lock(mutex_);
        return ignored_configurations_;
    }

    // ------------------------------------------------------------ the connection

    /// Disconnects (DISCONNECT, then the connection closes) and publishes
    /// no more; messages still in flight fail with client_errc::disconnected.
    /// A second call does nothing.
    std::error_code teardown(duration timeout = std::chrono::seconds{10}) {
        if (on_network_thread())
            return make_error_code(errc::called_from_callback, "teardown()");
        {
            std::lock_guard lock(mutex_);
            if (torn_down_)
                return {};
            torn_down_ = true;
        }
        return mqtt_->disconnect(timeout);
    }

    bool connected() const noexcept { return mqtt_->connected(); }
    const std::optional<std::string>& sensor_identifier() const noexcept {
        return options_.sensor_identifier;
    }
    /// The MQTT client underneath, for what the facade does not offer.
    mqtt_client_type& mqtt() noexcept { return *mqtt_; }

private:
    // ------------------------------------------------------------ construction

    transport::broker_url broker() const {
        transport::broker_url url;
        if (options_.url.empty()) {
            url.scheme = options_.tls ? transport::url_scheme::mqtts : transport::url_scheme::mqtt;
            url.host = options_.host;
            url.port = options_.port;
        } else {
            auto parsed = transport::parse_url(options_.url);
            if (!parsed)
                throw std::system_error(parsed.error());
            url = std::move(*parsed);
            if (options_.tls && url.scheme == transport::url_scheme::mqtt)
                url.scheme = transport::url_scheme::mqtts;
            else if (options_.tls && url.scheme == transport::url_scheme::ws)
                url.scheme = transport::url_scheme::wss;
        }
        return url;
    }

    client_options mqtt_options(const transport::broker_url& url) {
        client_options o;
        const auto address = url.address();
        o.host = address.host;
        o.port = address.port;
        o.user_name = options_.user_name ? options_.user_name : url.user_name;
        o.password = options_.password ? options_.password : url.password;
        o.client_id = options_.client_id;
        o.version = options_.version;
        o.keep_alive = options_.keep_alive;
        o.clean_start = true;
        o.connect_timeout = options_.connection_timeout;
        o.reconnect_delays = options_.reconnect_delays;
        o.on_state = [this](const connection_state& s) { on_state(s); };
        where_ = url.scheme == transport::url_scheme::unix_socket ? url.path
                 : url.host.find(':') != std::string::npos
                     ? "[" + url.host + "]:" + std::to_string(url.port)
                     : url.host + ":" + std::to_string(url.port);
        return o;
    }

    // transport::any connects the URL's way; transport::tls takes mqtts only;
    // any other transport plain mqtt (its own way) and no TLS options.
    std::error_code configure([[maybe_unused]] Transport& t,
                              const transport::broker_url& url) const {
        using transport::url_scheme;
        if constexpr (std::is_same_v<Transport, transport::any>) {
            if (options_.tls && url.scheme == url_scheme::unix_socket)
                return make_error_code(errc::transport_mismatch,
                                       "no TLS over a Unix socket (" + url.to_string() + ")");
            t.add(url);
            if (options_.tls)
                t.set_tls_options(*options_.tls);
        } else if constexpr (std::is_same_v<Transport, transport::tls>) {
            if (url.scheme != url_scheme::mqtts)
                return make_error_code(errc::transport_mismatch,
                                       url.to_string() +
                                           " needs transport::any, not transport::tls");
            t.set_options(options_.tls.value_or(transport::tls_options{}));
        } else if (url.scheme != url_scheme::mqtt || options_.tls) {
            return make_error_code(errc::transport_mismatch,
                                   url.to_string() +
                                       " needs transport::any (or transport::tls for mqtts)");
        }
        return {};
    }

    std::error_code connection_error(std::error_code ec) const {
        std::string reason;
        if (ec == std::errc::timed_out) {
            std::lock_guard lock(mutex_);
            reason = " within " + detail::describe(options_.connection_timeout) + ": " +
                     (last_connection_error_ ? last_connection_error_.message()
                                             : std::string{"no answer"});
        } else {
            reason = ": " + ec.message();
        }
        return make_error_code(errc::connection_failed, "at " + where_ + reason);
    }

    void subscribe_configurations() {
        const auto topic = "configurations/" + *options_.sensor_identifier;
        std::vector<suback_reason_code> granted;
        auto ec = mqtt_->subscribe(
            topic, subscribe_options{ctmqtt::qos::at_least_once},
            [this](const message_view& m) { on_configuration_payload(m); }, &granted,
            options_.connection_timeout);
        if (!ec && (granted.size() != 1 || granted.front().is_error()))
            ec = make_error_code(
                errc::subscription_failed,
                topic + ": " +
                    std::string{granted.empty() ? "no reason code" : granted.front().name()});
        else if (ec)
            ec = make_error_code(errc::subscription_failed, topic + ": " + ec.message());
        if (ec)
            throw std::system_error(ec);
    }

    // ------------------------------------------------------------ on the network thread

    void on_state(const connection_state& s) {
        network_thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
        if (s.what == connection_state::kind::lost || s.what == connection_state::kind::retrying) {
            std::lock_guard lock(mutex_);
            if (s.error)
                last_connection_error_ = s.error;
        }
        if (options_.on_state)
            options_.on_state(s);
    }

    void on_configuration_payload(const message_view& m) {
        auto parsed = parse_configuration(m.payload_text());
        if (!parsed) {
            {
                std::lock_guard lock(mutex_);
                ++ignored_configurations_;
            }
            if (options_.on_invalid_configuration)
                options_.on_invalid_configuration(parsed.error(), m.payload_text());
            else
                std::clog << "ctmqtt tenta: ignored a configuration on " << m.topic << ": "
                          << parsed.error().message() << '\n';
            return;
        }
        {
            std::lock_guard lock(mutex_);
            latest_ = *parsed;
        }
        if (!options_.on_configuration)
            return;
        if (!ready_)
            pending_.push_back(std::move(*parsed));
        else
            options_.on_configuration(*parsed);
    }

    void finished(message_id id, std::error_code ec) {
        {
            std::lock_guard lock(mutex_);
            active_.erase(id);
            if (ec) {
                failures_.emplace(id, ec);
                if (failed_since_wait_++ == 0)
                    first_failure_ = {id, ec};
            }
        }
        changed_.notify_all();
        if (options_.on_publish)
            options_.on_publish(id, ec);
    }

    bool on_network_thread() const noexcept {
        return network_thread_.load(std::memory_order_relaxed) == std::this_thread::get_id();
    }

    // ------------------------------------------------------------ publishing

    template <class Message>
    result<message_id> publish_batch(std::span<const Message> batch, std::string_view sensor_id) {
        if (sensor_id.empty() && options_.sensor_identifier)
            sensor_id = *options_.sensor_identifier;
        if (sensor_id.empty())
            return make_error_code(errc::no_sensor_identifier);
        if (auto ec = check_sensor_identifier(sensor_id))
            return ec;
        auto payload = encode_batch(batch, now()); // one time for the whole batch
        if (!payload)
            return payload.error();
        std::string topic{detail::kind<Message>::topic};
        topic += '/';
        topic += sensor_id;
        message_id id = 0;
        {
            std::lock_guard lock(mutex_);
            if (torn_down_)
                return make_error_code(errc::torn_down);
            id = next_id_++;
            active_.insert(id);
        }
        // Not under the lock: the completion may run inside this call.
        mqtt_->async_client().async_publish(
            topic, std::string_view{*payload}, options_.qos, false,
            [this, id](boost::system::error_code ec) { finished(id, ec); });
        return id;
    }

    tenta::options options_;
    std::string where_; ///< host:port (or the socket path), for error messages

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    message_id next_id_ = 1;
    std::set<message_id> active_;
    std::map<message_id, std::error_code> failures_;
    std::size_t failed_since_wait_ = 0;
    std::pair<message_id, std::error_code> first_failure_;
    std::optional<configuration_message> latest_;
    std::size_t ignored_configurations_ = 0;
    std::error_code last_connection_error_;
    bool torn_down_ = false;
    std::atomic<std::thread::id> network_thread_{};

    // Only on the network thread.
    bool ready_ = false;
    std::vector<configuration_message> pending_;

    // Last, so destroyed first: its network thread stops before the state
    // above goes.
    std::optional<mqtt_client_type> mqtt_;
};

/// The Tenta client: any transport by URL or TLS options (TCP, TLS,
/// WebSocket, Unix sockets), state in memory.
using client = basic_client<>;

} // namespace ctmqtt::tenta

template <>
struct std::is_error_condition_enum<ctmqtt::tenta::errc> : std::true_type {};
