// What a client user configures and receives: messages, errors, connection
// state, options. No Asio here: the facades and tools include this to build
// options without paying for the client's templates.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <ctmqtt/core/session.hpp>

namespace ctmqtt {

/// An application message the client owns: one to publish, or one received
/// through async_receive.
struct message {
    std::string topic;
    std::vector<std::byte> payload;
    ctmqtt::qos qos = ctmqtt::qos::at_most_once;
    bool retain = false;
    std::vector<std::pair<std::string, std::string>> user_properties;
    // MQTT 5 only (ignored in 3.1 and 3.1.1): sent as PUBLISH properties,
    // filled from them on receive.
    std::optional<std::string> response_topic; ///< where a response goes (request/response)
    std::optional<std::vector<std::byte>> correlation_data; ///< ties a response to its request
    std::optional<std::string> content_type;                ///< e.g. a MIME type
    /// Seconds the broker keeps the message for a subscriber; on receive, what is left of it.
    std::optional<std::uint32_t> message_expiry_interval;
    /// Payload Format Indicator: true when the payload is UTF-8 text.
    bool payload_is_utf8 = false;
    /// On receive (MQTT 5): the Subscription Identifiers of the subscriptions it matched.
    std::vector<std::uint32_t> subscription_identifiers;
    /// On receive: the PUBLISH's packet identifier (0 at QoS 0).
    std::uint16_t packet_id = 0;

    std::string_view payload_text() const noexcept { return as_string(payload); }

    /// Empties the message but keeps the capacity of its buffers, so a
    /// message object used again does not allocate.
    void clear() noexcept {
        topic.clear();
        payload.clear();
        qos = ctmqtt::qos::at_most_once;
        retain = false;
        user_properties.clear();
        response_topic.reset();
        correlation_data.reset();
        content_type.reset();
        message_expiry_interval.reset();
        payload_is_utf8 = false;
        subscription_identifiers.clear();
        packet_id = 0;
    }
};

/// A received message as views into the client's receive buffer: valid only
/// during the callback it is passed to (copy what you keep). Receiving this
/// way never allocates.
struct message_view {
    std::string_view topic;
    bytes_view payload;
    ctmqtt::qos qos = ctmqtt::qos::at_most_once;
    bool retain = false;
    bool dup = false;
    std::uint16_t packet_id = 0; ///< the PUBLISH's (0 at QoS 0)
    /// The PUBLISH's MQTT 5 properties (user properties, response topic, ...).
    const publish_properties* properties = nullptr;

    std::string_view payload_text() const noexcept { return as_string(payload); }
    /// Copies the view into an owning message (reusing `into`'s capacity).
    void copy_to(message& into) const;
};

/// Errors of the client layer (the session's and the codec's are their own).
enum class client_errc : std::uint8_t {
    offline_queue_full = 1, ///< the queue of waiting messages is at its limit
    disconnected,         ///< the client was disconnected by the user; the operation cannot finish
    gave_up,              ///< the connection was refused for good (bad credentials, not authorised)
    connect_timeout,      ///< no CONNACK within the connect timeout
    dropped_from_queue,   ///< a waiting QoS 0 message made room for a newer one (drop_oldest_qos0)
    bad_server_reference, ///< a redirect without a usable Server Reference
    too_many_redirects,   ///< redirected more often in a row than redirect_limit allows
    no_authenticator,     ///< async_auth without an authenticator in the options
    message_too_large,    ///< larger than the offline queue's byte limit on its own
    session_expiry_not_allowed, ///< DISCONNECT may not give a session ended at 0 an expiry
    store_session_mismatch,     ///< the Store keeps another session than the client id's
};

namespace detail {
class client_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "ctmqtt.client"; }
    std::string message(int v) const override {
        switch (static_cast<client_errc>(v)) {
        case client_errc::offline_queue_full:
            return "the offline queue is full (client_options::offline_queue_messages / "
                   "offline_queue_bytes)";
        case client_errc::disconnected:
            return "the client was disconnected before the operation finished";
        case client_errc::gave_up:
            return "the broker refused the connection for good; not retrying";
        case client_errc::connect_timeout: return "no CONNACK within the connect timeout";
        case client_errc::dropped_from_queue:
            return "dropped from the offline queue to make room for a newer message "
                   "(overflow policy drop_oldest_qos0)";
        case client_errc::bad_server_reference:
            return "the server redirected the client without a usable Server Reference "
                   "(MQTT 5 §4.11)";
        case client_errc::too_many_redirects:
            return "redirected more times in a row than client_options::redirect_limit allows";
        case client_errc::no_authenticator:
            return "re-authentication needs client_options::auth (an authenticator)";
        case client_errc::message_too_large:
            return "the message alone is larger than the offline queue's byte limit";
        case client_errc::store_session_mismatch:
            return "the store keeps the state of another session than the client identifier's "
                   "[MQTT-3.1.3-2]";
        case client_errc::session_expiry_not_allowed:
            return "DISCONNECT cannot set a non-zero Session Expiry Interval when CONNECT set 0 "
                   "[MQTT-3.14.2-2]";
        }
        return "unknown client error";
    }
};
} // namespace detail

inline const std::error_category& client_category() noexcept {
    static const detail::client_category_impl category;
    return category;
}
inline std::error_code make_error_code(client_errc e) noexcept {
    return {static_cast<int>(e), client_category()};
}

/// Where a broker is: a host (or, for transport::unix_socket, the socket's
/// path) and a port. Broker URLs (transport/url.hpp) say which transport
/// and, for WebSocket, which path.
struct broker_address {
    std::string host = "127.0.0.1";
    std::uint16_t port = 1883;

    /// "host", "host:port" or "[v6]:port"; the port defaults to `default_port`.
    /// The form a Server Reference takes (MQTT 5 §4.11).
    static std::optional<broker_address> parse(std::string_view text,
                                               std::uint16_t default_port = 1883);
    friend bool operator==(const broker_address&, const broker_address&) = default;
};

/// What the connection is doing, for users who show or log it.
struct connection_state {
    enum class kind : std::uint8_t {
        connected, ///< CONNACK accepted; `session_present` says if the broker kept our session
        lost,      ///< the connection ended; `error` says why
        retrying,  ///< the next attempt starts in `retry_in`, at `broker`
        gave_up,   ///< no more attempts (refused for good, reconnect off, or disconnected); `error`
                   ///< says why
    };
    kind what = kind::lost;
    std::error_code error;
    std::chrono::milliseconds retry_in{0};
    bool session_present = false;
    broker_address broker; ///< the broker connected to, or tried next
    /// When connected: what the broker granted (MQTT 5 CONNACK properties).
    session::server_limits limits;
    /// When connected (MQTT 5): the CONNACK's Response Information, the basis
    /// of response topics, if client_options::request_response_information
    /// asked for it and the broker gave one.
    std::optional<std::string> response_information;
    /// When connected (MQTT 5): the CONNACK's User Properties.
    std::vector<std::pair<std::string, std::string>> user_properties;
};

/// What to do with a new message when the offline queue is full.
enum class overflow_policy : std::uint8_t {
    refuse_new,      ///< the new message fails with client_errc::offline_queue_full
    drop_oldest_qos0 ///< the oldest waiting QoS 0 message is dropped (its operation fails
                     ///< with client_errc::dropped_from_queue); refuse_new when there is none
};

/// Subscription options (MQTT 5 §3.8.3.1; 3.1.1 uses only the QoS).
struct subscribe_options {
    ctmqtt::qos max_qos = ctmqtt::qos::at_most_once;
    bool no_local = false;
    bool retain_as_published = false;
    ctmqtt::retain_handling retain_handling = ctmqtt::retain_handling::send_on_subscribe;
    std::vector<std::pair<std::string, std::string>> user_properties;

    /// MQTT 5: a Subscription Identifier of your own, sent with the
    /// subscription (messages carry it back: message::subscription_identifiers,
    /// message_view::properties). Unset, the client numbers subscriptions that
    /// have a callback itself and routes messages by those numbers; once any
    /// subscription has an identifier of its own, messages are routed by topic
    /// filter instead.
    std::optional<std::uint32_t> subscription_identifier;
    subscribe_options() = default;
    subscribe_options(ctmqtt::qos q) : max_qos(q) {} // NOLINT: a QoS is the common case
};

/// Unsubscribe options (MQTT 5 UNSUBSCRIBE properties).
struct unsubscribe_options {
    std::vector<std::pair<std::string, std::string>> user_properties;
};

/// What DISCONNECT says (MQTT 5 §3.14; 3.1/3.1.1 send a bare DISCONNECT).
struct disconnect_options {
    disconnect_reason_code reason{}; ///< 0x00 Normal disconnection by default
    /// A new Session Expiry Interval. It cannot turn a session the CONNECT
    /// asked to end with the connection (interval 0) into a kept one
    /// [MQTT-3.14.2-2]: that is refused with client_errc::session_expiry_not_allowed.
    std::optional<std::uint32_t> session_expiry_interval;
    std::optional<std::string> reason_string;
    std::vector<std::pair<std::string, std::string>> user_properties;
    disconnect_options() = default;
    disconnect_options(disconnect_reason_code r) : reason(r) {} // NOLINT: the common case
};

/// Called with each message routed to a subscription (see async_subscribe).
using message_callback = std::function<void(const message_view&)>;

struct client_options {
    /// The broker; used when `brokers` is empty.
    std::string host = "127.0.0.1";
    std::uint16_t port = 1883;
    /// Brokers to fail over between, tried in order; a failed attempt moves to the next one
    /// at once, and the reconnect delay applies once the whole list has failed.
    std::vector<broker_address> brokers;

    protocol_version version = protocol_version::v5;
    /// When the broker refuses MQTT 5 (CONNACK 0x84, or a 3.1.1 CONNACK return code 1),
    /// connect again with 3.1.1 instead of failing.
    bool fallback_to_v311 = false;
    std::string client_id;
    std::uint16_t keep_alive = 60;
    bool clean_start = true;
    std::uint32_t session_expiry_interval = 0; ///< MQTT 5: how long the broker keeps our session
    /// MQTT 5: User Properties sent in CONNECT.
    std::vector<std::pair<std::string, std::string>> connect_user_properties;
    /// MQTT 5 Request Response Information: ask the broker for Response
    /// Information in CONNACK (connection_state::response_information).
    bool request_response_information = false;
    /// MQTT 5 Request Problem Information: false asks the broker to leave
    /// Reason Strings and User Properties out of most acknowledgements.
    /// Unset: not sent (the broker's default is true).
    std::optional<bool> request_problem_information;
    std::optional<std::string> user_name;
    std::optional<std::string> password;
    /// The will: published by the broker when the connection ends without
    /// DISCONNECT (a crash, a network failure, abort_connection()). Its
    /// MQTT 5 fields (user properties, response topic, ...) are sent as will
    /// properties.
    std::optional<message> will;
    std::uint32_t will_delay_interval = 0; ///< MQTT 5: seconds the broker waits before the will

    // MQTT 5 limits we announce in CONNECT.
    std::uint16_t receive_maximum = 65'535; ///< QoS 1/2 messages the broker may send at once
    std::uint32_t maximum_packet_size = 0;  ///< the largest packet we accept (0: no limit)
    std::uint16_t topic_alias_maximum = 16; ///< aliases the broker may use towards us
    /// Outbound topic aliases: never, when a free alias exists, or always (replacing the
    /// least recently used).
    topic_alias_policy topic_aliases = topic_alias_policy::never;
    /// Enhanced authentication (MQTT 5 §4.12): not owned; must outlive the client.
    authenticator* auth = nullptr;
    /// Follow a server's redirection (CONNACK or DISCONNECT 0x9C Use another server /
    /// 0x9D Server moved with a Server Reference).
    bool follow_redirects = true;
    std::size_t redirect_limit = 5; ///< redirects in a row before giving up

    /// Reconnect delays; the last one repeats. Empty: never reconnect.
    std::vector<std::chrono::milliseconds> reconnect_delays = {
        std::chrono::seconds{1}, std::chrono::seconds{2},  std::chrono::seconds{4},
        std::chrono::seconds{8}, std::chrono::seconds{16}, std::chrono::seconds{32},
        std::chrono::seconds{60}};
    /// Each delay is spread by up to ± this fraction at random (0: exact), so that many
    /// clients cut off together do not come back together.
    double reconnect_jitter = 0.0;
    std::chrono::milliseconds connect_timeout = std::chrono::seconds{10};

    /// Publishes wait in a bounded queue while disconnected (and beyond the broker's
    /// Receive Maximum); they are sent in order once connected.
    std::size_t offline_queue_messages = 1000;
    std::size_t offline_queue_bytes = 64u << 20; ///< payload and topic bytes
    overflow_policy offline_overflow = overflow_policy::refuse_new;
    /// Received messages no subscription callback took wait for async_receive; at this many
    /// the client stops reading from the broker until some are taken (nothing is dropped).
    std::size_t inbox_limit = 10'000;
    /// Backpressure for QoS 0: a QoS 0 publish completes as soon as the
    /// session has taken it while fewer than this many bytes wait to be
    /// written; beyond that it completes once its bytes are written, so a
    /// publisher that starts the next publish from the completion cannot
    /// outrun the connection and grow the buffer without bound. 0: every
    /// QoS 0 publish waits for its write.
    std::size_t write_high_water = 1u << 20;
    /// Bytes read from the connection at a time. Packets larger than this are
    /// put together by the session; a smaller buffer saves memory per idle
    /// client (thousands of connections), a larger one reads bursts in fewer calls.
    std::size_t read_buffer_size = 16 * 1024;

    /// Called on the client's strand at every change of the connection's state.
    std::function<void(const connection_state&)> on_state;
};

// ---------------------------------------------------------------- inline definitions

inline void message_view::copy_to(message& into) const {
    into.clear();
    into.topic.assign(topic);
    into.payload.assign(payload.begin(), payload.end());
    into.qos = qos;
    into.retain = retain;
    into.packet_id = packet_id;
    if (!properties)
        return;
    const auto& p = *properties;
    for (auto up : p.get<property_id::user_property>())
        into.user_properties.emplace_back(std::string{up.name}, std::string{up.value});
    if (auto v = p.get<property_id::response_topic>())
        into.response_topic.emplace(*v);
    if (auto v = p.get<property_id::correlation_data>())
        into.correlation_data.emplace(v->begin(), v->end());
    if (auto v = p.get<property_id::content_type>())
        into.content_type.emplace(*v);
    if (auto v = p.get<property_id::message_expiry_interval>())
        into.message_expiry_interval = *v;
    if (auto v = p.get<property_id::payload_format_indicator>())
        into.payload_is_utf8 = *v == 1;
    for (auto id : p.get<property_id::subscription_identifier>())
        into.subscription_identifiers.push_back(id);
}

inline std::optional<broker_address> broker_address::parse(std::string_view text,
                                                           std::uint16_t default_port) {
    broker_address a;
    a.port = default_port;
    std::string_view host = text;
    std::string_view port;
    if (text.starts_with('[')) { // [v6]:port
        const auto close = text.find(']');
        if (close == std::string_view::npos)
            return std::nullopt;
        host = text.substr(1, close - 1);
        const auto rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest[0] != ':')
                return std::nullopt;
            port = rest.substr(1);
        }
    } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
        if (text.find(':') != colon) // a bare IPv6 address: no port
            host = text;
        else {
            host = text.substr(0, colon);
            port = text.substr(colon + 1);
        }
    }
    if (host.empty())
        return std::nullopt;
    if (!port.empty() || (text.ends_with(':'))) {
        unsigned value = 0;
        if (port.empty() || port.size() > 5)
            return std::nullopt;
        for (char c : port) {
            if (c < '0' || c > '9')
                return std::nullopt;
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
        if (value == 0 || value > 65'535)
            return std::nullopt;
        a.port = static_cast<std::uint16_t>(value);
    }
    a.host = std::string{host};
    return a;
}

} // namespace ctmqtt

template <>
struct std::is_error_code_enum<ctmqtt::client_errc> : std::true_type {};
