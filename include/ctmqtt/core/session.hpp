// The protocol engine: a sans-I/O MQTT client session for 3.1, 3.1.1 and 5.0.
//
// It does no I/O, reads no clock and starts no thread. It is fed the bytes
// received and the current time; it produces the bytes to send (output()),
// calls its handler for what happened, and says when it next needs the time
// (deadline()). Everything it does is therefore deterministic and is tested
// by feeding bytes (tests/core/test_session.cpp, test_session_auth.cpp).
//
// What it implements: CONNECT/CONNACK with every MQTT 5 negotiated value;
// QoS 0, 1 and 2 both ways with exactly-once delivery of inbound QoS 2;
// packet identifiers allocated and found in constant time (an identifier is
// the index of its in-flight slot plus one); Receive Maximum and Maximum
// Packet Size both ways; topic aliases both ways (outbound by policy, the
// least recently used one replaced when the server's table is full);
// enhanced authentication and re-authentication through an authenticator;
// keep alive (PINGREQ when idle, closed after 1.5 × keep alive of silence);
// Clean Start (the client's session state discarded at connect()); session
// resumption (in-flight PUBLISHes resent with DUP up to the server's Receive
// Maximum, PUBRELs resent, Message Expiry counted down but never applied to a
// message already sent [MQTT-4.3.3-7]); in-flight state
// exported and restored for a persistent store; DISCONNECT both ways; a
// protocol violation by the server ends in DISCONNECT with the matching
// reason code (MQTT 5) and an error for the handler; a 3.1/3.1.1 server's
// CONNACK refusing a 5.0 CONNECT (return code 1) is the 5.0 refusal 0x84.
// Every outgoing packet is encoded in one pass at the end of a byte_buffer
// (encode_append): sized once, never zero-filled.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include <ctmqtt/core/byte_buffer.hpp>
#include <ctmqtt/core/codec.hpp>
#include <ctmqtt/core/session_error.hpp>

namespace ctmqtt {

/// Time as the session sees it: whatever the caller says "now" is.
using session_clock = std::chrono::steady_clock;
using session_time = session_clock::time_point;

/// When the session replaces PUBLISH topics by Topic Aliases (MQTT 5 §3.3.2.3.4).
enum class topic_alias_policy : std::uint8_t {
    never,     ///< topics go as given (a Topic Alias the message carries is still honoured)
    when_free, ///< a topic gets an alias while the server's Topic Alias Maximum allows a new one
    always,    ///< as when_free, and a full table gives the least recently used alias a new topic
};

/// One outbound packet in flight, as a persistent store keeps it.
struct in_flight_packet {
    std::uint16_t packet_id = 0;
    bool pubrel = false; ///< true: PUBREL pending (QoS 2 after PUBREC); false: PUBLISH awaiting ack
    bytes_view packet;   ///< the encoded PUBLISH (full topic, no Topic Alias); empty for PUBREL
};

/// Enhanced authentication (MQTT 5 §4.12): the mechanism (SCRAM, Kerberos,
/// ...) behind the Authentication Method. Not owned by the session; it must
/// outlive it. Errors it returns reject the server (DISCONNECT 0x80).
class authenticator {
public:
    virtual ~authenticator() = default;
    /// The Authentication Method; the view must stay valid while the session lives.
    virtual std::string_view method() const = 0;
    /// Data for CONNECT (and for the AUTH 0x19 that starts a re-authentication);
    /// leave empty for none.
    virtual std::error_code initial_data(std::vector<std::byte>& out) {
        out.clear();
        return {};
    }
    /// The server sent AUTH 0x18 (Continue authentication) with this data: fill the response.
    virtual std::error_code on_challenge(bytes_view server_data,
                                         std::vector<std::byte>& response) = 0;
    /// Authentication (or re-authentication) succeeded: CONNACK 0x00 or AUTH
    /// 0x00, with the server's data. An error rejects the server.
    virtual std::error_code on_success(bytes_view server_data) {
        (void)server_data;
        return {};
    }
};

/// What the session tells its owner. Views in the packets passed are valid
/// only during the call.
class session_handler {
public:
    virtual ~session_handler() = default;
    /// CONNACK arrived. `ec` is empty when the server accepted the connection.
    virtual void on_connack(const connack& ack, std::error_code ec) = 0;
    /// An application message. QoS 2 messages are delivered exactly once.
    virtual void on_message(const publish& message) = 0;
    /// An outbound QoS 1/2 PUBLISH is finished: acknowledged (PUBACK or
    /// PUBCOMP), refused by a reason code, or expired. QoS 0 messages are
    /// finished when written and are not reported here.
    virtual void on_publish_done(std::uint16_t packet_id, std::error_code ec) = 0;
    virtual void on_suback(const suback& ack) = 0;
    virtual void on_unsuback(const unsuback& ack) = 0;
    /// AUTH from the server (enhanced authentication, MQTT 5 §4.12), after the
    /// authenticator (if any) handled it.
    virtual void on_auth(const auth&) {}
    /// A re-authentication (session::reauthenticate) ended: empty on AUTH
    /// 0x00 accepted by the authenticator, else why it failed.
    virtual void on_reauthenticated(std::error_code) {}
    /// The server sent DISCONNECT (MQTT 5): its Reason String and Server
    /// Reference (0x9C Use another server, 0x9D Server moved) are here.
    /// on_connection_closed follows.
    virtual void on_server_disconnect(const disconnect&) {}
    /// For a persistent store: a QoS 1/2 PUBLISH was stored (`pubrel` false,
    /// `packet` its encoding) or turned into a pending PUBREL (`pubrel` true,
    /// `packet` empty) under this identifier.
    virtual void on_stored(std::uint16_t, bool, bytes_view) {}
    /// For a persistent store: the identifier's PUBLISH or PUBREL is finished.
    virtual void on_released(std::uint16_t) {}
    /// For a persistent store: an inbound QoS 2 identifier now awaits PUBREL
    /// (true: the message was delivered and PUBREC sent) or no longer does.
    virtual void on_inbound_qos2(std::uint16_t, bool) {}
    /// The connection is over: the server sent DISCONNECT, broke the protocol,
    /// stopped answering, or the transport closed. The owner closes the
    /// transport once output() is written; session state is kept for a resume.
    virtual void on_connection_closed(std::error_code ec) = 0;
};

namespace detail {

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};

// The outbound topic aliases of one network connection (MQTT 5 §3.3.2.3.4):
// the topic each alias stands for on the server and the alias of each topic,
// both found in constant time (a topic is looked up by view: no allocation),
// and the aliases in order of use, for replacing the least recently used.
class outbound_alias_table {
public:
    void reset(std::uint16_t maximum) {
        by_topic_.clear();
        topic_of_.resize(1);
        prev_.assign(1, 0);
        next_.assign(1, 0);
        maximum_ = maximum;
        next_unused_ = 1;
    }

    /// The alias the server knows `topic` by; 0: none.
    std::uint16_t find(std::string_view topic) const noexcept {
        const auto it = by_topic_.find(topic);
        return it == by_topic_.end() ? std::uint16_t{0} : it->second;
    }

    /// The topic `alias` stands for on the server; nullptr if unset.
    const std::string* topic(std::uint16_t alias) const noexcept {
        return alias < topic_of_.size() && !topic_of_[alias].empty() ? &topic_of_[alias] : nullptr;
    }

    /// The alias a topic without one gets: one not used yet on this
    /// connection, else (`replace`) the least recently used; 0: none.
    std::uint16_t candidate(bool replace) const noexcept {
        if (next_unused_ <= maximum_)
            return static_cast<std::uint16_t>(next_unused_);
        return replace ? next_[0] : std::uint16_t{0};
    }

    /// The server now maps `alias` to `topic`; the alias is the most recently used.
    void assign(std::uint16_t alias, std::string_view topic) {
        if (alias >= topic_of_.size()) {
            topic_of_.resize(alias + 1u);
            prev_.resize(alias + 1u, 0);
            next_.resize(alias + 1u, 0);
        }
        auto& current = topic_of_[alias];
        map_type::node_type node; // the replaced topic's entry, reused for the new one
        if (!current.empty()) {
            if (auto it = by_topic_.find(std::string_view{current});
                it != by_topic_.end() && it->second == alias)
                node = by_topic_.extract(it);
            unlink(alias);
        }
        current.assign(topic);
        // A topic that had another alias keeps it on the server; the table uses the new one.
        if (auto it = by_topic_.find(topic); it != by_topic_.end()) {
            it->second = alias;
        } else if (node) {
            node.key().assign(topic);
            node.mapped() = alias;
            by_topic_.insert(std::move(node));
        } else {
            by_topic_.emplace(std::string{topic}, alias);
        }
        link_last(alias);
        while (next_unused_ <= maximum_ && next_unused_ < topic_of_.size() &&
               !topic_of_[next_unused_].empty())
            ++next_unused_;
    }

    /// `alias` was used again: it becomes the most recently used.
    void touch(std::uint16_t alias) noexcept {
        unlink(alias);
        link_last(alias);
    }

private:
    using map_type = std::unordered_map<std::string, std::uint16_t, string_hash, std::equal_to<>>;

    // A doubly linked list through prev_/next_, with 0 as its head: next_[0]
    // is the least recently used alias, prev_[0] the most recently used.
    void unlink(std::uint16_t a) noexcept {
        next_[prev_[a]] = next_[a];
        prev_[next_[a]] = prev_[a];
    }
    void link_last(std::uint16_t a) noexcept {
        const auto last = prev_[0];
        next_[last] = a;
        prev_[a] = last;
        next_[a] = 0;
        prev_[0] = a;
    }

    map_type by_topic_;
    std::vector<std::string> topic_of_ = std::vector<std::string>(1); ///< by alias; empty: unused
    std::vector<std::uint16_t> prev_ = std::vector<std::uint16_t>(1, 0);
    std::vector<std::uint16_t> next_ = std::vector<std::uint16_t>(1, 0);
    std::uint32_t maximum_ = 0;
    std::uint32_t next_unused_ = 1; ///< the lowest alias not used yet on this connection
};

} // namespace detail

class session {
public:
    struct options {
        protocol_version version = protocol_version::v5;
        /// The CONNECT to send; its version member is set from `version`.
        /// Views in it (client id, will, credentials) must outlive the session.
        ctmqtt::connect connect;
        /// How many QoS 1/2 messages the server may send us unacknowledged
        /// (sent as Receive Maximum in MQTT 5).
        std::uint16_t receive_maximum = 65'535;
        /// The largest packet we accept (0: no limit; sent as Maximum Packet Size).
        std::uint32_t maximum_packet_size = 0;
        /// How many topic aliases the server may set for us (Topic Alias Maximum).
        std::uint16_t topic_alias_maximum = 0;
        /// Whether the session gives topics aliases on the way out (MQTT 5),
        /// within the server's Topic Alias Maximum.
        topic_alias_policy outbound_topic_aliases = topic_alias_policy::never;
        /// With Session Present 0 after a resume, or at a connect() with Clean
        /// Start 1, publish the messages that were still in flight again as new
        /// messages (else they fail with session_errc::session_expired).
        bool republish_after_session_loss = true;
        /// Enhanced authentication (MQTT 5 only; not owned): CONNECT carries its
        /// Authentication Method and data, and it answers the server's AUTH.
        authenticator* auth = nullptr;
    };

    /// What the server granted in CONNACK (MQTT 5 §3.2.2.3); defaults are
    /// the specification's when a property is absent.
    struct server_limits {
        std::uint16_t receive_maximum = 65'535;
        std::uint32_t maximum_packet_size = 0; ///< 0: no limit
        std::uint16_t topic_alias_maximum = 0;
        ctmqtt::qos maximum_qos = ctmqtt::qos::exactly_once;
        bool retain_available = true;
        bool wildcard_subscription_available = true;
        bool subscription_identifier_available = true;
        bool shared_subscription_available = true;
        std::uint16_t keep_alive = 0; ///< the keep alive in force (Server Keep Alive wins)
        std::string assigned_client_id;
    };

    enum class state : std::uint8_t { disconnected, connecting, connected, closing };

    // By const reference: options holds views only, so a copy costs what a move
    // would, and GCC 12 at -O1 sees no move through a by-value parameter (it
    // warned that the will's bytes may be used uninitialised when they were
    // moved twice).
    session(const options& opts, session_handler& handler) : options_(opts), handler_(handler) {
        options_.connect.version = options_.version;
    }

    session(const session&) = delete;
    session& operator=(const session&) = delete;

    state current_state() const noexcept { return state_; }

    /// Changes the Clean Start flag (Clean Session in 3.1/3.1.1) of the next
    /// CONNECT: an owner that asked for a session the server keeps connects
    /// with clean start the first time and resumes with it off afterwards.
    void set_clean_start(bool on) noexcept { options_.connect.clean_start = on; }
    /// Changes the Client Identifier of the next CONNECT: an owner whose
    /// CONNECT had an empty one reconnects with the Assigned Client
    /// Identifier (MQTT 5 §3.2.2.3.7), so the server resumes the session it
    /// keeps under it. The view must outlive the session, as those in options
    /// do: copy limits().assigned_client_id, which connect() clears.
    void set_client_id(std::string_view id) noexcept { options_.connect.client_id = id; }
    const server_limits& limits() const noexcept { return limits_; }
    protocol_version version() const noexcept { return options_.version; }

    // ------------------------------------------------------------ lifecycle

    /// Starts a connection: queues CONNECT. Call when the transport is open.
    /// With Clean Start 1 the client's session state is discarded here
    /// [MQTT-3.1.2-4]: in-flight messages become new messages (or fail with
    /// session_expired), pending PUBRELs finish, inbound QoS 2 state is cleared.
    std::error_code connect(session_time now) {
        if (state_ != state::disconnected)
            return make_error_code(session_errc::already_connecting);
        auto& c = options_.connect;
        if (options_.version == protocol_version::v5) {
            if (options_.receive_maximum != 65'535)
                c.properties.set<property_id::receive_maximum>(options_.receive_maximum);
            if (options_.maximum_packet_size != 0)
                c.properties.set<property_id::maximum_packet_size>(options_.maximum_packet_size);
            if (options_.topic_alias_maximum != 0)
                c.properties.set<property_id::topic_alias_maximum>(options_.topic_alias_maximum);
            if (options_.auth) {
                if (auto ec = options_.auth->initial_data(auth_data_)) {
                    authenticator_error_ = ec;
                    return ec;
                }
                c.properties.set<property_id::authentication_method>(options_.auth->method());
                auto& data = c.properties.get<property_id::authentication_data>();
                if (auth_data_.empty())
                    data.reset();
                else
                    data = bytes_view{auth_data_};
            }
        }
        input_.clear();
        output_.clear();
        output_begin_ = 0;
        // The previous server's limits (Maximum Packet Size) do not apply to this CONNECT.
        limits_ = server_limits{};
        if (auto ec = append(c, now))
            return ec;
        state_ = state::connecting;
        last_received_ = now;
        ping_outstanding_ = false;
        limits_.keep_alive = c.keep_alive;
        inbound_aliases_.clear();
        outbound_aliases_.reset(0); // per network connection [MQTT-3.3.2-7]
        reauthenticating_ = false;
        const auto method = options_.version == protocol_version::v5
                                ? c.properties.get<property_id::authentication_method>()
                                : std::nullopt;
        auth_method_sent_ = method.has_value();
        auth_method_.assign(method.value_or(std::string_view{}));
        clean_start_sent_ = c.clean_start;
        // Resends held back on the last connection are sent (or held back) anew after CONNACK.
        for (auto& s : slots_)
            s.pending = false;
        resend_queue_.clear();
        resend_head_ = 0;
        pending_resends_ = 0;
        if (c.clean_start)
            drop_session_state(); // [MQTT-3.1.2-4]
        return {};
    }

    /// The transport closed (or could not be opened). In-flight state is kept
    /// for a resume with clean start off.
    void connection_lost() {
        if (state_ == state::disconnected)
            return;
        close(make_error_code(session_errc::connection_lost), false);
    }

    /// Sends DISCONNECT; the owner closes the transport once it is written.
    /// A Reason String, then the User Properties, are left out if the packet
    /// would exceed the server's Maximum Packet Size [MQTT-3.14.2-3] [MQTT-3.14.2-4].
    std::error_code disconnect(disconnect_reason_code reason = {},
                               const disconnect_properties& props = {}) {
        if (state_ != state::connected && state_ != state::connecting)
            return make_error_code(session_errc::not_connected);
        ctmqtt::disconnect d;
        if (options_.version == protocol_version::v5) {
            d.reason_code = reason;
            d.properties = props;
            trim_properties(d);
        }
        if (auto ec = append(d, last_sent_))
            return ec;
        state_ = state::closing;
        return {};
    }

    // ------------------------------------------------------------ output and time

    /// Bytes to send, in order. consume_output() says how many were written.
    bytes_view output() const noexcept {
        return bytes_view{output_.data() + output_begin_, output_.size() - output_begin_};
    }
    /// Moves the pending output into `into` (whose old contents are dropped,
    /// its capacity reused by the session): for a writer that must keep the
    /// bytes still while the session goes on appending (an asynchronous write).
    void take_output(byte_buffer& into) {
        output_.erase_front(output_begin_);
        output_begin_ = 0;
        into.clear();
        output_.swap(into);
    }

    void consume_output(std::size_t n) noexcept {
        output_begin_ += n;
        if (output_begin_ >= output_.size()) {
            output_.clear(); // keeps its capacity: steady state allocates nothing
            output_begin_ = 0;
        }
    }

    /// When on_timer() must be called next (keep alive); nullopt if never.
    std::optional<session_time> deadline() const noexcept {
        if ((state_ != state::connected && state_ != state::connecting) || limits_.keep_alive == 0)
            return std::nullopt;
        const auto keep_alive = keep_alive_interval();
        const auto dead = last_received_ + keep_alive * 3 / 2;
        if (state_ == state::connecting || ping_outstanding_)
            return dead;
        return std::min(dead, std::min(last_sent_, last_received_) + keep_alive);
    }

    /// Keep alive: PINGREQ when nothing was sent for a keep-alive interval
    /// [MQTT-3.1.2-20], or nothing received (a server owes a busy client no
    /// packet but PINGRESP, MQTT 5 §3.1.2.10). When nothing arrived for 1.5 ×
    /// the connection is closed without DISCONNECT: the client SHOULD close
    /// the network connection (§3.1.2.10), and DISCONNECT 0x8D is the
    /// server's reason code (§3.14.2.1).
    void on_timer(session_time now) {
        if ((state_ != state::connected && state_ != state::connecting) || limits_.keep_alive == 0)
            return;
        const auto keep_alive = keep_alive_interval();
        if (now >= last_received_ + keep_alive * 3 / 2) {
            close(make_error_code(session_errc::keep_alive_timeout), false);
            return;
        }
        if (state_ == state::connected && !ping_outstanding_ &&
            now >= std::min(last_sent_, last_received_) + keep_alive) {
            (void)append(pingreq{}, now);
            ping_outstanding_ = true;
        }
    }

    // ------------------------------------------------------------ input

    /// Feeds received bytes. Every complete packet is handled at once; a
    /// partial one is kept until the rest arrives.
    void receive(bytes_view data, session_time now) {
        // After our DISCONNECT nothing more is processed [MQTT-3.14.4-1]; the owner closes.
        if (state_ == state::disconnected || state_ == state::closing)
            return;
        if (!data.empty())
            last_received_ = now;
        if (input_.empty()) {
            const auto used = consume_packets(data, now);
            if (used < data.size() && state_ != state::disconnected)
                input_.assign(data.begin() + static_cast<std::ptrdiff_t>(used), data.end());
            return;
        }
        input_.insert(input_.end(), data.begin(), data.end());
        const auto used = consume_packets(bytes_view{input_}, now);
        input_.erase(input_.begin(),
                     input_.begin() + static_cast<std::ptrdiff_t>(std::min(used, input_.size())));
    }

    // ------------------------------------------------------------ operations

    /// Sends a PUBLISH. For QoS 1/2 the session assigns the packet identifier
    /// (returned), keeps a copy for resending (with the full topic and no
    /// Topic Alias) and reports the outcome through on_publish_done; QoS 0
    /// returns 0. The topic may go as a Topic Alias (options.outbound_topic_aliases).
    result<std::uint16_t> publish(const ctmqtt::publish& message, session_time now) {
        if (state_ != state::connected)
            return make_error_code(session_errc::not_connected);
        if (message.qos > limits_.maximum_qos)
            return make_error_code(session_errc::qos_not_supported);
        if (message.retain && !limits_.retain_available)
            return make_error_code(session_errc::retain_not_supported);
        if (!message.properties.get<property_id::subscription_identifier>()
                 .empty()) // [MQTT-3.3.4-6]
            return make_error_code(session_errc::subscription_identifier_in_publish);
        if (auto alias = message.properties.get<property_id::topic_alias>();
            alias && *alias > limits_.topic_alias_maximum) // [MQTT-3.3.2-9] [MQTT-3.2.2-18]
            return make_error_code(session_errc::outbound_topic_alias_invalid);
        if (message.qos == qos::at_most_once && !message.dup && message.packet_id == 0 &&
            !aliases_involved(message)) { // it goes as given: no copy
            if (auto ec = append(message, now))
                return ec;
            return std::uint16_t{0};
        }
        ctmqtt::publish p = message;
        p.dup = false;
        alias_plan plan;
        if (auto ec = plan_alias(p, plan))
            return ec;
        // p is now the stored form: the full topic, no Topic Alias.
        if (p.qos == qos::at_most_once) {
            p.packet_id = 0;
            if (auto ec = plan.alias != 0 ? append(wire_form(p, plan), now) : append(p, now))
                return ec;
            commit_alias(plan, p.topic);
            return std::uint16_t{0};
        }
        // [MQTT-3.3.4-7]; resends waiting for quota go before any new message [MQTT-4.6.0-1]
        if (outbound_publishes_ >= limits_.receive_maximum || pending_resends_ > 0)
            return make_error_code(session_errc::send_quota_exhausted);
        auto id = allocate_id();
        if (!id)
            return make_error_code(session_errc::packet_ids_exhausted);
        p.packet_id = *id;
        auto& slot = slots_[*id - 1u];
        if (auto ec = encode_into(p, slot.packet)) {
            free_id(*id);
            return ec;
        }
        if (plan.alias != 0) {
            if (auto ec = append(wire_form(p, plan), now)) {
                free_id(*id);
                return ec;
            }
        } else {
            write_bytes(slot.packet, now);
        }
        commit_alias(plan, p.topic);
        slot.kind =
            p.qos == qos::at_least_once ? slot_kind::awaiting_puback : slot_kind::awaiting_pubrec;
        slot.sent_at = now;
        slot.expiry_offset = expiry_offset(p, slot.packet);
        slot.sequence = ++sequence_;
        ++outbound_publishes_;
        handler_.on_stored(*id, false, slot.packet);
        return *id;
    }

    /// Sends a SUBSCRIBE; on_suback reports the result.
    result<std::uint16_t> subscribe(std::span<const subscription> subscriptions,
                                    const subscribe_properties& props, session_time now) {
        if (state_ != state::connected)
            return make_error_code(session_errc::not_connected);
        if (options_.version == protocol_version::v5) {
            if (props.get<property_id::subscription_identifier>() &&
                !limits_.subscription_identifier_available)
                return make_error_code(session_errc::subscription_identifiers_not_supported);
            for (const auto& s : subscriptions) {
                if (is_shared_subscription(s.topic_filter) &&
                    !limits_.shared_subscription_available)
                    return make_error_code(session_errc::shared_subscriptions_not_supported);
                if (contains_wildcard(s.topic_filter) && !limits_.wildcard_subscription_available)
                    return make_error_code(session_errc::wildcard_subscriptions_not_supported);
            }
        }
        ctmqtt::subscribe s;
        s.subscriptions = subscriptions;
        s.properties = props;
        return send_request(s, slot_kind::awaiting_suback, subscriptions.size(), now);
    }

    /// Sends an UNSUBSCRIBE; on_unsuback reports the result.
    result<std::uint16_t> unsubscribe(std::span<const std::string_view> filters,
                                      const unsubscribe_properties& props, session_time now) {
        if (state_ != state::connected)
            return make_error_code(session_errc::not_connected);
        ctmqtt::unsubscribe u;
        u.topic_filters = filters;
        u.properties = props;
        return send_request(u, slot_kind::awaiting_unsuback, filters.size(), now);
    }

    /// Sends AUTH (enhanced authentication driven by the owner, MQTT 5 §4.12);
    /// only if CONNECT carried an Authentication Method [MQTT-4.12.0-7].
    /// A Reason String, then the User Properties, are left out if the packet
    /// would exceed the server's Maximum Packet Size [MQTT-3.15.2-2] [MQTT-3.15.2-3].
    std::error_code send_auth(const ctmqtt::auth& a, session_time now) {
        if (state_ != state::connected && state_ != state::connecting)
            return make_error_code(session_errc::not_connected);
        if (!auth_method_sent_) // [MQTT-4.12.0-7]
            return make_error_code(session_errc::reauthentication_unavailable, 1);
        ctmqtt::auth trimmed = a;
        trim_properties(trimmed);
        return append(trimmed, now);
    }

    /// Starts a re-authentication (MQTT 5 §4.12.1): AUTH 0x19 with the
    /// authenticator's method [MQTT-4.12.1-1] and initial data. The exchange
    /// ends with AUTH 0x00 or the end of the connection; on_reauthenticated
    /// reports it. Needs an open connection whose CONNECT the authenticator made.
    std::error_code reauthenticate(session_time now) {
        if (state_ != state::connected)
            return make_error_code(session_errc::not_connected);
        if (!options_.auth || !auth_method_sent_)
            return make_error_code(session_errc::reauthentication_unavailable);
        if (reauthenticating_)
            return make_error_code(session_errc::authentication_in_progress);
        if (auto ec = options_.auth->initial_data(auth_data_)) {
            authenticator_error_ = ec;
            return ec;
        }
        if (auto ec = append(auth_packet(reason::re_authenticate), now))
            return ec;
        reauthenticating_ = true;
        return {};
    }

    /// The authenticator's own error behind the last authentication_failed.
    std::error_code authenticator_error() const noexcept { return authenticator_error_; }

    /// QoS 1/2 messages sent and not yet finished.
    std::size_t publishes_in_flight() const noexcept { return outbound_publishes_; }

    // ------------------------------------------------------------ persistent state

    /// Calls f(in_flight_packet) for every outbound PUBLISH awaiting its
    /// acknowledgement and every pending PUBREL, in the order they would be
    /// resent. The views are valid during the call.
    template <class F>
    void for_each_in_flight(F&& f) const {
        for (const auto id : resend_order()) {
            const auto& s = slots_[id - 1u];
            if (s.kind == slot_kind::awaiting_pubcomp)
                f(in_flight_packet{id, true, {}});
            else if (is_publish(s.kind))
                f(in_flight_packet{id, false, bytes_view{s.packet}});
        }
    }

    /// Puts back one in-flight packet saved by for_each_in_flight (call in
    /// that order), while disconnected: resumed with the next connection. A
    /// PUBLISH is checked by decoding it; an identifier already in use is refused.
    std::error_code restore_in_flight(std::uint16_t packet_id, bool pubrel_pending,
                                      bytes_view packet) {
        if (state_ != state::disconnected)
            return make_error_code(session_errc::restore_refused, 1);
        if (packet_id == 0)
            return make_error_code(session_errc::restore_refused, 2);
        if (packet_id <= slots_.size() && slots_[packet_id - 1u].kind != slot_kind::free)
            return make_error_code(session_errc::restore_refused, 3);
        std::optional<ctmqtt::publish> p;
        if (!pubrel_pending) {
            p.emplace();
            if (auto ec = decode(packet, options_.version, *p))
                return ec;
            if (p->qos == qos::at_most_once || p->packet_id != packet_id)
                return make_error_code(session_errc::restore_refused, 4);
            if (p->topic.empty() || p->properties.get<property_id::topic_alias>())
                return make_error_code(session_errc::restore_refused, 5);
        }
        while (slots_.size() <
               packet_id) { // free_ids_ may now name packet_id: allocate_id skips it
            slots_.emplace_back();
            free_ids_.push_back(static_cast<std::uint16_t>(slots_.size()));
        }
        auto& s = slots_[packet_id - 1u];
        if (p) {
            if (auto ec =
                    encode_into(*p, s.packet)) // our own encoding: expiry_offset finds the value
                return ec;
            s.kind = p->qos == qos::at_least_once ? slot_kind::awaiting_puback
                                                  : slot_kind::awaiting_pubrec;
            s.expiry_offset = expiry_offset(*p, s.packet);
        } else {
            s.kind = slot_kind::awaiting_pubcomp;
            s.packet.clear();
            s.expiry_offset = 0;
        }
        s.sent_at = session_time::min(); // unknown: the expiry count starts at the next resume
        s.sequence = ++sequence_;
        s.pending = false;
        ++outbound_publishes_;
        return {};
    }

    /// Calls f(packet_id) for every inbound QoS 2 identifier awaiting PUBREL.
    template <class F>
    void for_each_inbound_qos2(F&& f) const {
        if (!inbound_qos2_)
            return;
        for (std::size_t w = 0; w < inbound_qos2_words; ++w)
            for (auto bits = inbound_qos2_[w]; bits != 0; bits &= bits - 1)
                f(static_cast<std::uint16_t>(w * 64 +
                                             static_cast<std::size_t>(std::countr_zero(bits))));
    }

    /// Marks an inbound QoS 2 identifier as awaiting PUBREL (saved by
    /// for_each_inbound_qos2): a resend of that message is not delivered again.
    /// The first one allocates the session's table of them (8 KiB).
    void restore_inbound_qos2(std::uint16_t packet_id) {
        if (packet_id != 0)
            mark_inbound_qos2(packet_id, true);
    }

private:
    enum class slot_kind : std::uint8_t {
        free,
        awaiting_puback,  // QoS 1 sent
        awaiting_pubrec,  // QoS 2 sent
        awaiting_pubcomp, // QoS 2, PUBREL sent
        awaiting_suback,
        awaiting_unsuback,
    };

    static constexpr bool is_publish(slot_kind k) noexcept {
        return k == slot_kind::awaiting_puback || k == slot_kind::awaiting_pubrec;
    }
    static constexpr bool counts_against_quota(slot_kind k) noexcept {
        return is_publish(k) || k == slot_kind::awaiting_pubcomp;
    }

    // One in-flight packet; its packet identifier is its index + 1, so
    // allocation is a pop from the free list and lookup an index.
    struct slot {
        slot_kind kind = slot_kind::free;
        bool pending = false; ///< to be resent once the server's Receive Maximum allows
        /// Published again as a new message after the session was lost, and not
        /// written since: this session's server has never had it, so Message
        /// Expiry still applies (to nothing else [MQTT-4.3.3-7]).
        bool unsent = false;
        std::uint32_t expiry_offset = 0; ///< where the Message Expiry Interval value is, 0 if none
        std::size_t filters = 0;         ///< SUBSCRIBE/UNSUBSCRIBE: topic filters sent
        byte_buffer packet;              ///< the encoded PUBLISH, kept for resending
        session_time sent_at{};
        std::uint64_t sequence = 0; ///< order of the PUBLISH, then of its PUBREC (MQTT 5 §4.6)
    };

    // ------------------------------------------------------------ packet identifiers

    std::optional<std::uint16_t> allocate_id() {
        // restore_in_flight may leave identifiers in use on the list: skipped here
        while (!free_ids_.empty()) {
            const auto id = free_ids_.back();
            free_ids_.pop_back();
            if (slots_[id - 1u].kind == slot_kind::free)
                return id;
        }
        if (slots_.size() >= 65'535)
            return std::nullopt;
        slots_.emplace_back();
        return static_cast<std::uint16_t>(slots_.size());
    }

    void free_id(std::uint16_t id) {
        auto& s = slots_[id - 1u];
        const bool stored = counts_against_quota(s.kind);
        if (stored)
            --outbound_publishes_;
        if (s.pending) {
            s.pending = false;
            --pending_resends_;
        }
        s.kind = slot_kind::free;
        s.unsent = false;
        s.packet.clear();
        free_ids_.push_back(id);
        if (stored)
            handler_.on_released(id);
    }

    // Frees a PUBLISH's identifier and reports its outcome.
    void finish_publish(std::uint16_t id, std::error_code ec) {
        free_id(id);
        handler_.on_publish_done(id, ec);
    }

    slot* find_slot(std::uint16_t id) noexcept {
        if (id == 0 || id > slots_.size() || slots_[id - 1u].kind == slot_kind::free)
            return nullptr;
        return &slots_[id - 1u];
    }

    // The in-flight identifiers in the order first sent (PUBLISH) or
    // acknowledged (PUBREC) [MQTT-4.6.0-1, -4]: identifiers are reused, so
    // their order is not the send order.
    std::vector<std::uint16_t> resend_order() const {
        std::vector<std::uint16_t> order;
        for (std::size_t i = 0; i < slots_.size(); ++i)
            if (slots_[i].kind != slot_kind::free)
                order.push_back(static_cast<std::uint16_t>(i + 1));
        std::sort(order.begin(), order.end(), [this](std::uint16_t a, std::uint16_t b) {
            return slots_[a - 1u].sequence < slots_[b - 1u].sequence;
        });
        return order;
    }

    // SUBSCRIBE or UNSUBSCRIBE: an identifier, the packet, and the count of
    // filters the acknowledgement must answer [MQTT-3.8.4-6] [MQTT-3.11.3-1].
    template <class P>
    result<std::uint16_t> send_request(P& p, slot_kind kind, std::size_t filters,
                                       session_time now) {
        auto id = allocate_id();
        if (!id)
            return make_error_code(session_errc::packet_ids_exhausted);
        p.packet_id = *id;
        if (auto ec = append(p, now)) {
            free_id(*id);
            return ec;
        }
        auto& s = slots_[*id - 1u];
        s.kind = kind;
        s.filters = filters;
        return *id;
    }

    // ------------------------------------------------------------ topic aliases

    struct alias_plan {
        std::uint16_t alias = 0; ///< 0: the topic goes as it is
        bool with_topic = true;  ///< false: the alias alone (the server knows it)
    };

    // Whether plan_alias has anything to do for this PUBLISH.
    bool aliases_involved(const ctmqtt::publish& p) const noexcept {
        return options_.version == protocol_version::v5 &&
               (options_.outbound_topic_aliases != topic_alias_policy::never ||
                p.properties.get<property_id::topic_alias>().has_value());
    }

    // Which alias the PUBLISH goes with (MQTT 5 §3.3.2.3.4), without changing
    // the table yet; leaves `p` in its stored form (full topic, no alias).
    std::error_code plan_alias(ctmqtt::publish& p, alias_plan& plan) const {
        if (!aliases_involved(p))
            return {};
        auto& given = p.properties.get<property_id::topic_alias>();
        if (given) { // the message's own alias: an empty topic needs one set on this connection
            plan.alias = *given;
            plan.with_topic = !p.topic.empty();
            if (p.topic.empty()) {
                const auto* topic = outbound_aliases_.topic(*given);
                if (!topic)
                    return make_error_code(session_errc::outbound_topic_alias_invalid, 1);
                p.topic = *topic;
            }
            given.reset();
            return {};
        }
        if (options_.outbound_topic_aliases == topic_alias_policy::never)
            return {};
        if (const auto known = outbound_aliases_.find(p.topic)) {
            plan = {known, false};
        } else if (const auto fresh = outbound_aliases_.candidate(options_.outbound_topic_aliases ==
                                                                  topic_alias_policy::always)) {
            plan = {fresh, true};
        }
        return {};
    }

    // The PUBLISH as it goes on this connection.
    static ctmqtt::publish wire_form(const ctmqtt::publish& stored, const alias_plan& plan) {
        ctmqtt::publish w = stored;
        w.properties.set<property_id::topic_alias>(plan.alias);
        if (!plan.with_topic)
            w.topic = {};
        return w;
    }

    // The PUBLISH was written: the server now knows the alias.
    void commit_alias(const alias_plan& plan, std::string_view topic) {
        if (plan.alias == 0)
            return;
        if (plan.with_topic)
            outbound_aliases_.assign(plan.alias, topic);
        else
            outbound_aliases_.touch(plan.alias);
    }

    // ------------------------------------------------------------ output

    // Encodes `p` whole at the end of `out` (checked, sized and written in one
    // pass, nothing zero-filled); a packet above the server's Maximum Packet
    // Size is refused and nothing is written.
    template <class P>
    std::error_code encode_to(const P& p, byte_buffer& out) {
        return encode_append(p, options_.version, out, limits_.maximum_packet_size, [] {
            return make_error_code(session_errc::outbound_packet_too_large);
        });
    }

    // `out` becomes the encoding of `p` (a PUBLISH stored for resending).
    template <class P>
    std::error_code encode_into(const P& p, byte_buffer& out) {
        out.clear();
        return encode_to(p, out);
    }

    // Queues `p` for sending.
    template <class P>
    std::error_code append(const P& p, session_time now) {
        if (auto ec = encode_to(p, output_))
            return ec;
        last_sent_ = now;
        return {};
    }

    void write_bytes(bytes_view bytes, session_time now) {
        output_.append(bytes);
        last_sent_ = now;
    }

    // A packet with user-given properties: the Reason String, then the User
    // Properties, are left out while it exceeds the server's Maximum Packet
    // Size (MQTT 5 §3.4.2.2.2-3 and the same rule in every packet that has them).
    template <class P>
    void trim_properties(P& p) const {
        const auto fits = [&] {
            return limits_.maximum_packet_size == 0 ||
                   encoded_size(p, options_.version) <= limits_.maximum_packet_size;
        };
        if (fits())
            return;
        p.properties.template get<property_id::reason_string>().reset();
        if (fits())
            return;
        p.properties.template get<property_id::user_property>() = {};
    }

    // Where a PUBLISH's Message Expiry Interval value sits in its encoding, so
    // a resend can count it down in place (MQTT 5 §3.3.2.3.3).
    std::uint32_t expiry_offset(const ctmqtt::publish& p, bytes_view bytes) const {
        if (options_.version != protocol_version::v5 ||
            !p.properties.get<property_id::message_expiry_interval>())
            return 0;
        // fixed header, topic, packet id, property length, then properties in table order:
        // Payload Format Indicator (2 bytes) may come before Message Expiry Interval.
        fixed_header h;
        (void)detail::parse_header(bytes, options_.version, h);
        std::size_t at = h.length + 2 + p.topic.size() + 2;
        at += wire::varint::size(static_cast<std::uint32_t>(p.properties.content_size()));
        if (p.properties.get<property_id::payload_format_indicator>())
            at += 2;
        return static_cast<std::uint32_t>(at + 1); // past the identifier byte
    }

    std::chrono::milliseconds keep_alive_interval() const noexcept {
        // in milliseconds: 1.5 × an odd number of seconds is not a whole second
        return std::chrono::milliseconds{std::uint32_t{limits_.keep_alive} * 1000u};
    }

    // ------------------------------------------------------------ input

    std::size_t consume_packets(bytes_view data, session_time now) {
        std::size_t used = 0;
        while (used < data.size() && state_ != state::disconnected && state_ != state::closing) {
            const auto rest = data.subspan(used);
            fixed_header h;
            if (auto f = detail::parse_header(rest, options_.version, h)) {
                violation(detail::header_error(f, h), reason::malformed_packet);
                return data.size();
            }
            if (h.length == 0)
                break; // the fixed header is not complete yet
            if (options_.maximum_packet_size != 0 &&
                h.packet_size() > options_.maximum_packet_size) {
                violation(make_error_code(session_errc::packet_too_large),
                          reason::packet_too_large);
                return data.size();
            }
            if (h.packet_size() > rest.size())
                break;
            handle_packet(h, rest.subspan(h.length, h.remaining_length), now);
            used += h.packet_size();
        }
        return used;
    }

    void handle_packet(const fixed_header& h, bytes_view body, session_time now) {
        switch (h.type) {
        case packet_type::connack: return on_connack(h, body, now);
        case packet_type::publish: return on_publish(h, body, now);
        case packet_type::puback: return on_puback(h, body, now);
        case packet_type::pubrec: return on_pubrec(h, body, now);
        case packet_type::pubrel: return on_pubrel(h, body, now);
        case packet_type::pubcomp: return on_pubcomp(h, body, now);
        case packet_type::suback: return on_suback(h, body);
        case packet_type::unsuback: return on_unsuback(h, body);
        case packet_type::pingresp:
            if (!expect_connected(h.type)) // nothing but CONNACK (or AUTH) first [MQTT-3.2.0-1]
                return;
            if (auto p = decode_checked<pingresp>(h, body))
                ping_outstanding_ = false;
            return;
        case packet_type::disconnect: return on_disconnect(h, body);
        case packet_type::auth: return on_auth(h, body, now);
        default:
            // CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ: packets only a client sends.
            return violation(
                make_error_code(session_errc::unexpected_packet, static_cast<unsigned>(h.type)),
                reason::protocol_error);
        }
    }

    // Decodes a packet; a malformed one ends the connection (DISCONNECT 0x81).
    template <class P>
    std::optional<P> decode_checked(const fixed_header& h, bytes_view body) {
        std::optional<P> p{std::in_place};
        if (auto ec = decode_body(h, body, options_.version, *p)) {
            // A Topic Alias of 0 is a Protocol Error answered with 0x94 (MQTT 5 §3.3.2.3.4).
            const bool alias_zero =
                rule_of(ec) == codec_errc::property_value &&
                ((ec.value() >> 16) & 0xFF) == static_cast<int>(property_id::topic_alias);
            violation(ec, alias_zero ? reason::topic_alias_invalid : reason::malformed_packet);
            return std::nullopt;
        }
        return p;
    }

    bool expect_connected(packet_type t) {
        if (state_ == state::connected || state_ == state::closing)
            return true;
        violation(make_error_code(session_errc::unexpected_packet, static_cast<unsigned>(t)),
                  reason::protocol_error);
        return false;
    }

    // A server that speaks only 3.1 or 3.1.1 answers a 5.0 CONNECT with its
    // own CONNACK: flags 0 and return code 1, "unacceptable protocol version"
    // (3.1.1 §3.2.2.3), two bytes that are no 5.0 CONNACK (0x01 is no 5.0
    // reason code, and the property length is missing). Nothing else is
    // taken for it: any other short CONNACK stays malformed.
    bool is_v3_version_refusal(bytes_view body) const noexcept {
        return options_.version == protocol_version::v5 && body.size() == 2 &&
               body[0] == std::byte{0x00} &&
               body[1] == std::byte{static_cast<std::uint8_t>(
                              connect_return_code::unacceptable_protocol_version)};
    }

    // The server refused the connection: the handler hears why, then the
    // connection ends without DISCONNECT.
    void refused(const connack& ack) {
        const auto ec =
            options_.version == protocol_version::v5
                ? make_error_code(session_errc::connection_refused, ack.reason_code.value())
                : make_error_code(session_errc::connection_refused_v3,
                                  static_cast<unsigned>(ack.return_code));
        handler_.on_connack(ack, ec);
        close(ec, false);
    }

    void on_connack(const fixed_header& h, bytes_view body, session_time now) {
        if (state_ != state::connecting) // a second CONNACK [MQTT-3.2.0-2]
            return violation(
                make_error_code(session_errc::unexpected_packet, static_cast<unsigned>(h.type)),
                reason::protocol_error);
        if (is_v3_version_refusal(body)) {
            // Reported as the 5.0 refusal that means the same, 0x84 Unsupported
            // Protocol Version, so an owner can fall back to 3.1.1 on either.
            connack ack;
            ack.return_code = connect_return_code::unacceptable_protocol_version;
            ack.reason_code = reason::unsupported_protocol_version;
            return refused(ack);
        }
        auto ack = decode_checked<connack>(h, body);
        if (!ack)
            return;
        if (!ack->accepted(options_.version))
            return refused(*ack);
        if (ack->session_present && clean_start_sent_) // [MQTT-3.2.2-2]: we have no session
            return violation(make_error_code(session_errc::session_present_unexpected),
                             reason::protocol_error); // [MQTT-3.2.2-4]
        if (options_.version == protocol_version::v5) {
            if (!check_auth_method(ack->properties.get<property_id::authentication_method>(),
                                   packet_type::connack))
                return;
            read_limits(*ack);
        }
        if (options_.auth && auth_method_sent_) {
            if (auto ec = options_.auth->on_success(auth_data_of(*ack))) {
                authenticator_error_ = ec;
                const auto failed = make_error_code(session_errc::authentication_failed, 2);
                handler_.on_connack(*ack, failed);
                return close(failed, true, reason::unspecified_error);
            }
        }
        state_ = state::connected;
        outbound_aliases_.reset(limits_.topic_alias_maximum);
        // Resend first, so nothing the handler publishes overtakes a resent message
        // [MQTT-4.6.0-1].
        resume(ack->session_present, now);
        handler_.on_connack(*ack, {});
    }

    void read_limits(const connack& ack) {
        const auto& p = ack.properties;
        if (auto v = p.get<property_id::receive_maximum>())
            limits_.receive_maximum = *v;
        if (auto v = p.get<property_id::maximum_packet_size>())
            limits_.maximum_packet_size = *v;
        if (auto v = p.get<property_id::topic_alias_maximum>())
            limits_.topic_alias_maximum = *v;
        if (auto v = p.get<property_id::maximum_qos>())
            limits_.maximum_qos = static_cast<qos>(*v);
        if (auto v = p.get<property_id::retain_available>())
            limits_.retain_available = *v != 0;
        if (auto v = p.get<property_id::wildcard_subscription_available>())
            limits_.wildcard_subscription_available = *v != 0;
        if (auto v = p.get<property_id::subscription_identifier_available>())
            limits_.subscription_identifier_available = *v != 0;
        if (auto v = p.get<property_id::shared_subscription_available>())
            limits_.shared_subscription_available = *v != 0;
        if (auto v = p.get<property_id::server_keep_alive>())
            limits_.keep_alive = *v; // [MQTT-3.2.2-21]
        if (auto v = p.get<property_id::assigned_client_identifier>())
            limits_.assigned_client_id = std::string{*v};
    }

    // The client's session state is gone (Clean Start 1 [MQTT-3.1.2-4], or
    // Session Present 0 [MQTT-3.2.2-5]): in-flight messages become new ones
    // (or fail), PUBRELs finish (the server had the message), SUBSCRIBE and
    // UNSUBSCRIBE are forgotten (the client layer subscribes again), and
    // inbound QoS 2 identifiers are cleared.
    void drop_session_state() {
        for_each_inbound_qos2([this](std::uint16_t id) { handler_.on_inbound_qos2(id, false); });
        if (inbound_qos2_) // kept: a session that had one will have more
            std::fill_n(inbound_qos2_.get(), inbound_qos2_words, std::uint64_t{0});
        inbound_unacknowledged_ = 0;
        for (const auto id : resend_order()) {
            auto& s = slots_[id - 1u];
            if (is_publish(s.kind)) {
                if (options_.republish_after_session_loss) {
                    s.packet[0] &= ~std::byte{0x08}; // a new message in the new session
                    s.unsent = true;
                } else
                    finish_publish(id, make_error_code(session_errc::session_expired));
            } else if (s.kind == slot_kind::awaiting_pubcomp) {
                finish_publish(id, {});
            } else {
                free_id(id);
            }
        }
    }

    // After CONNACK: resend what is in flight (MQTT 5 §4.4), in order, the
    // PUBLISHes only as far as the server's Receive Maximum allows
    // [MQTT-3.3.4-7]; the rest go as acknowledgements come back. Every PUBLISH
    // already sent in this session goes, however old [MQTT-4.3.3-7]
    // [MQTT-4.4.0-1]; only one published again as new may expire first.
    void resume(bool session_present, session_time now) {
        if (!session_present)
            drop_session_state();
        inbound_unacknowledged_ = 0;
        const auto order = resend_order();
        std::size_t quota = limits_.receive_maximum;
        for (const auto id : order) // PUBRELs are not held back but hold their place in the quota
            if (slots_[id - 1u].kind == slot_kind::awaiting_pubcomp)
                quota = quota > 0 ? quota - 1 : 0;
        for (const auto id : order) {
            auto& s = slots_[id - 1u];
            switch (s.kind) {
            case slot_kind::free: break;
            case slot_kind::awaiting_puback:
            case slot_kind::awaiting_pubrec:
                if (count_down_expiry(s, now)) {
                    finish_publish(id, make_error_code(session_errc::message_expired));
                    break;
                }
                if (session_present && !s.unsent)
                    s.packet[0] |= std::byte{0x08}; // DUP [MQTT-3.3.1-1]
                if (pending_resends_ == 0 && quota > 0) {
                    --quota;
                    write_stored(s, now);
                } else {
                    s.pending = true;
                    ++pending_resends_;
                    resend_queue_.push_back(id);
                }
                break;
            case slot_kind::awaiting_pubcomp: {
                pubrel rel;
                rel.packet_id = id;
                (void)append(rel, now); // [MQTT-4.4.0-1]
                break;
            }
            case slot_kind::awaiting_suback:
            case slot_kind::awaiting_unsuback:
                // Not resent (MQTT 5 §4.4 resends only PUBLISH and PUBREL): the client layer
                // re-subscribes.
                free_id(id);
                break;
            }
        }
    }

    // An acknowledgement freed quota: the next resends held back by Receive
    // Maximum go (unless the handler ended the connection meanwhile).
    void resend_pending(session_time now) {
        while (state_ == state::connected && pending_resends_ > 0 &&
               outbound_publishes_ - pending_resends_ < limits_.receive_maximum) {
            const auto id = resend_queue_[resend_head_++];
            auto& s = slots_[id - 1u];
            if (!s.pending)
                continue; // finished while it waited
            s.pending = false;
            --pending_resends_;
            if (count_down_expiry(s, now))
                finish_publish(id, make_error_code(session_errc::message_expired));
            else
                write_stored(s, now);
        }
        if (pending_resends_ == 0) {
            resend_queue_.clear();
            resend_head_ = 0;
        }
    }

    // A stored PUBLISH goes (again): from now on this session's server may have it.
    void write_stored(slot& s, session_time now) {
        write_bytes(s.packet, now);
        s.unsent = false;
    }

    // Counts the stored PUBLISH's Message Expiry Interval down by the whole
    // seconds since it was last counted, so the server sees the lifetime left
    // (as a server forwards it, [MQTT-3.3.2-6]); true when it ran out on a
    // message this session's server never had (`unsent`): that one is not
    // sent. A message already sent is resent however long it waited: the
    // client must not apply Message Expiry to it [MQTT-4.3.3-7] but resend it
    // [MQTT-4.4.0-1], so its interval stops at 1 second. Not 0: the
    // specification gives 0 no meaning of its own, and a server may take it
    // for "never expires" (mosquitto stores 0 as no expiry time).
    bool count_down_expiry(slot& s, session_time now) {
        if (s.expiry_offset == 0)
            return false;
        if (s.sent_at == session_time::min()) { // restored: the time away is unknown
            s.sent_at = now;
            return false;
        }
        auto* at = s.packet.data() + s.expiry_offset;
        wire::reader r{at, at + 4};
        std::uint32_t remaining = 0;
        (void)wire::u32::read(r, remaining);
        const auto elapsed =
            std::max(std::chrono::duration_cast<std::chrono::seconds>(now - s.sent_at),
                     std::chrono::seconds{0});
        if (elapsed.count() < static_cast<long long>(remaining)) {
            (void)wire::u32::write(remaining - static_cast<std::uint32_t>(elapsed.count()), at);
            s.sent_at += elapsed; // the part of a second not counted yet counts next time
            return false;
        }
        if (s.unsent)
            return true;
        if (remaining != 0) // a 0 the publisher gave goes as it went the first time
            (void)wire::u32::write(std::uint32_t{1}, at);
        s.sent_at = now;
        return false;
    }

    void on_publish(const fixed_header& h, bytes_view body, session_time now) {
        if (!expect_connected(h.type))
            return;
        auto p = decode_checked<ctmqtt::publish>(h, body);
        if (!p)
            return;
        if (options_.version == protocol_version::v5 && !resolve_alias(*p))
            return;
        switch (p->qos) {
        case qos::at_most_once: handler_.on_message(*p); return;
        case qos::at_least_once: {
            handler_.on_message(*p);
            puback ack;
            ack.packet_id = p->packet_id;
            (void)append(ack, now);
            return;
        }
        case qos::exactly_once: {
            pubrec rec;
            rec.packet_id = p->packet_id;
            if (!inbound_qos2_seen(p->packet_id)) {
                if (options_.version == protocol_version::v5 &&          // 3.1.1 has no such limit
                    inbound_unacknowledged_ >= options_.receive_maximum) // [MQTT-3.3.4-9]
                    return violation(make_error_code(session_errc::receive_maximum_exceeded),
                                     reason::receive_maximum_exceeded);
                mark_inbound_qos2(p->packet_id, true);
                ++inbound_unacknowledged_;
                handler_.on_message(*p); // once: a resend with DUP finds the identifier marked
                handler_.on_inbound_qos2(p->packet_id, true);
            }
            (void)append(rec, now);
            return;
        }
        }
    }

    // Inbound topic aliases (MQTT 5 §3.3.2.3.4): set or use.
    bool resolve_alias(ctmqtt::publish& p) {
        const auto alias = p.properties.get<property_id::topic_alias>();
        if (!alias) {
            if (p.topic.empty()) { // checked by the codec already; kept for clarity
                violation(make_error_code(session_errc::topic_alias_invalid),
                          reason::topic_alias_invalid);
                return false;
            }
            return true;
        }
        if (*alias == 0 || *alias > options_.topic_alias_maximum) {
            violation(make_error_code(session_errc::topic_alias_invalid),
                      reason::topic_alias_invalid);
            return false;
        }
        if (inbound_aliases_.size() < options_.topic_alias_maximum)
            inbound_aliases_.resize(options_.topic_alias_maximum);
        auto& stored = inbound_aliases_[*alias - 1u];
        if (p.topic.empty()) {
            if (!stored) {
                violation(make_error_code(session_errc::topic_alias_invalid),
                          reason::topic_alias_invalid);
                return false;
            }
            p.topic = *stored;
        } else {
            stored = std::string{p.topic};
        }
        return true;
    }

    bool inbound_qos2_seen(std::uint16_t id) const noexcept {
        return inbound_qos2_ && (inbound_qos2_[id / 64] >> (id % 64) & 1u) != 0;
    }
    void mark_inbound_qos2(std::uint16_t id, bool on) {
        if (!inbound_qos2_) {
            if (!on)
                return;
            // on first use: most sessions never receive QoS 2, and an idle one
            // should not hold 8 KiB for it (value-initialised: all clear)
            inbound_qos2_ = std::make_unique<std::uint64_t[]>(inbound_qos2_words);
        }
        const auto bit = std::uint64_t{1} << (id % 64);
        if (on)
            inbound_qos2_[id / 64] |= bit;
        else
            inbound_qos2_[id / 64] &= ~bit;
    }

    template <class Ack>
    std::optional<Ack> decode_ack(const fixed_header& h, bytes_view body, slot_kind expected,
                                  slot*& found) {
        if (!expect_connected(h.type))
            return std::nullopt;
        auto ack = decode_checked<Ack>(h, body);
        if (!ack)
            return std::nullopt;
        found = find_slot(ack->packet_id);
        if (!found || found->kind != expected) {
            violation(
                make_error_code(session_errc::unknown_packet_id, static_cast<unsigned>(h.type)),
                reason::protocol_error);
            return std::nullopt;
        }
        return ack;
    }

    // PUBACK or PUBCOMP: the flow is finished; freed quota lets a held-back resend go.
    template <class Ack>
    void on_final_ack(const fixed_header& h, bytes_view body, slot_kind expected,
                      session_time now) {
        slot* s = nullptr;
        auto ack = decode_ack<Ack>(h, body, expected, s);
        if (!ack)
            return;
        finish_publish(ack->packet_id, ack->reason_code.is_error()
                                           ? make_error_code(session_errc::publish_refused,
                                                             ack->reason_code.value())
                                           : std::error_code{});
        resend_pending(now);
    }

    void on_puback(const fixed_header& h, bytes_view body, session_time now) {
        on_final_ack<puback>(h, body, slot_kind::awaiting_puback, now);
    }

    void on_pubcomp(const fixed_header& h, bytes_view body, session_time now) {
        on_final_ack<pubcomp>(h, body, slot_kind::awaiting_pubcomp, now);
    }

    void on_pubrec(const fixed_header& h, bytes_view body, session_time now) {
        slot* s = nullptr;
        auto rec = decode_ack<pubrec>(h, body, slot_kind::awaiting_pubrec, s);
        if (!rec)
            return;
        if (rec->reason_code.is_error()) { // the flow ends here (MQTT 5 §4.3.3)
            finish_publish(rec->packet_id, make_error_code(session_errc::publish_refused,
                                                           rec->reason_code.value()));
            return resend_pending(now);
        }
        s->kind = slot_kind::awaiting_pubcomp;
        s->packet.clear();         // the message is the server's now; only PUBREL remains
        s->sequence = ++sequence_; // PUBRELs are resent in PUBREC order [MQTT-4.6.0-4]
        handler_.on_stored(rec->packet_id, true, {});
        pubrel rel;
        rel.packet_id = rec->packet_id;
        (void)append(rel, now);
    }

    void on_pubrel(const fixed_header& h, bytes_view body, session_time now) {
        if (!expect_connected(h.type))
            return;
        auto rel = decode_checked<pubrel>(h, body);
        if (!rel)
            return;
        pubcomp comp;
        comp.packet_id = rel->packet_id;
        if (inbound_qos2_seen(rel->packet_id)) {
            mark_inbound_qos2(rel->packet_id, false);
            if (inbound_unacknowledged_ > 0)
                --inbound_unacknowledged_;
            handler_.on_inbound_qos2(rel->packet_id, false);
        } else if (options_.version == protocol_version::v5) {
            comp.reason_code = reason::packet_identifier_not_found; // MQTT 5 §3.7.2.1
        }
        (void)append(comp, now);
    }

    // SUBACK or UNSUBACK: one reason code per topic filter sent [MQTT-3.8.4-6]
    // [MQTT-3.11.3-1] (3.1.1 UNSUBACK has none).
    template <class Ack>
    std::optional<Ack> decode_request_ack(const fixed_header& h, bytes_view body,
                                          slot_kind expected) {
        slot* s = nullptr;
        auto ack = decode_ack<Ack>(h, body, expected, s);
        if (!ack)
            return std::nullopt;
        const bool counted =
            expected == slot_kind::awaiting_suback || options_.version == protocol_version::v5;
        if (counted && ack->reason_codes.size() != s->filters) {
            violation(make_error_code(session_errc::reason_code_count_mismatch,
                                      static_cast<unsigned>(h.type)),
                      reason::protocol_error);
            return std::nullopt;
        }
        free_id(ack->packet_id);
        return ack;
    }

    void on_suback(const fixed_header& h, bytes_view body) {
        if (auto ack = decode_request_ack<suback>(h, body, slot_kind::awaiting_suback))
            handler_.on_suback(*ack);
    }

    void on_unsuback(const fixed_header& h, bytes_view body) {
        if (auto ack = decode_request_ack<unsuback>(h, body, slot_kind::awaiting_unsuback))
            handler_.on_unsuback(*ack);
    }

    void on_disconnect(const fixed_header& h, bytes_view body) {
        if (options_.version != protocol_version::v5) // servers never send DISCONNECT before 5.0
            return violation(
                make_error_code(session_errc::unexpected_packet, static_cast<unsigned>(h.type)),
                reason::protocol_error);
        auto d = decode_checked<ctmqtt::disconnect>(h, body);
        if (!d)
            return;
        if (d->properties.get<property_id::session_expiry_interval>()) // [MQTT-3.14.2-2]
            return violation(make_error_code(session_errc::session_expiry_in_server_disconnect),
                             reason::protocol_error);
        handler_.on_server_disconnect(*d);
        close(make_error_code(session_errc::server_disconnected, d->reason_code.value()), false);
    }

    // ------------------------------------------------------------ enhanced authentication

    // The server's AUTH or successful CONNACK repeats our Authentication
    // Method [MQTT-4.12.0-5], and has none if we sent none [MQTT-4.12.0-6].
    bool check_auth_method(std::optional<std::string_view> method, packet_type t) {
        if (!auth_method_sent_ && !method && t == packet_type::connack)
            return true;
        if (!auth_method_sent_) {
            violation(make_error_code(session_errc::auth_without_method, static_cast<unsigned>(t)),
                      reason::protocol_error);
            return false;
        }
        if (!method || *method != auth_method_) {
            violation(make_error_code(session_errc::authentication_method_mismatch,
                                      static_cast<unsigned>(t)),
                      reason::protocol_error);
            return false;
        }
        return true;
    }

    template <class P>
    static bytes_view auth_data_of(const P& p) noexcept {
        const auto data = p.properties.template get<property_id::authentication_data>();
        return data ? *data : bytes_view{};
    }

    // AUTH with our method and auth_data_ (if any).
    ctmqtt::auth auth_packet(reason code) const {
        ctmqtt::auth a;
        a.reason_code = *auth_reason_code::from_reason(code);
        a.properties.set<property_id::authentication_method>(std::string_view{auth_method_});
        if (!auth_data_.empty())
            a.properties.set<property_id::authentication_data>(bytes_view{auth_data_});
        return a;
    }

    void on_auth(const fixed_header& h, bytes_view body, session_time now) {
        auto a = decode_checked<ctmqtt::auth>(h, body);
        if (!a)
            return;
        if (!check_auth_method(a->properties.get<property_id::authentication_method>(),
                               packet_type::auth))
            return;
        if (!options_.auth) { // the owner drives the exchange (send_auth)
            handler_.on_auth(*a);
            return;
        }
        // Continue authentication while connecting or re-authenticating; Success
        // ends a re-authentication. Re-authenticate is the client's code.
        const auto code = a->reason_code.value();
        const bool continuing = code == 0x18 && (state_ == state::connecting || reauthenticating_);
        const bool succeeded = code == 0x00 && state_ == state::connected && reauthenticating_;
        if (!continuing && !succeeded)
            return violation(make_error_code(session_errc::unexpected_auth, code),
                             reason::protocol_error);
        std::error_code failed;
        if (continuing) {
            if (auto ec = options_.auth->on_challenge(auth_data_of(*a), auth_data_)) {
                authenticator_error_ = ec;
                failed = make_error_code(session_errc::authentication_failed, 1);
            } else {
                failed = append(auth_packet(reason::continue_authentication), now);
            }
        } else if (auto ec = options_.auth->on_success(auth_data_of(*a))) {
            authenticator_error_ = ec;
            failed = make_error_code(session_errc::authentication_failed, 2);
        }
        if (succeeded && !failed)
            reauthenticating_ = false;
        handler_.on_auth(*a);
        if (failed) // [MQTT-4.12.1-2]; close() reports a re-authentication's end
            return close(failed, true, reason::unspecified_error);
        if (succeeded)
            handler_.on_reauthenticated({});
    }

    // ------------------------------------------------------------ ending

    // The server broke the protocol: DISCONNECT with the reason (MQTT 5), then close.
    void violation(std::error_code ec, reason why) { close(ec, true, why); }

    void close(std::error_code ec, bool send_disconnect,
               reason why = reason::normal_disconnection) {
        if (state_ == state::disconnected)
            return;
        if (send_disconnect && options_.version == protocol_version::v5 &&
            (state_ == state::connected || state_ == state::connecting)) {
            ctmqtt::disconnect d;
            if (auto code = disconnect_reason_code::from_reason(why))
                d.reason_code = *code;
            (void)append(d, last_sent_);
        }
        state_ = state::disconnected;
        input_.clear();
        ping_outstanding_ = false;
        if (reauthenticating_) {
            reauthenticating_ = false;
            handler_.on_reauthenticated(ec);
        }
        handler_.on_connection_closed(ec);
    }

    options options_;
    session_handler& handler_;
    state state_ = state::disconnected;
    server_limits limits_;

    std::vector<std::byte> input_; ///< a partial packet waiting for the rest
    byte_buffer output_;           ///< bytes to send
    std::size_t output_begin_ = 0;

    std::vector<slot> slots_;             ///< in-flight outbound packets, by identifier - 1
    std::vector<std::uint16_t> free_ids_; ///< identifiers whose slot is free
    std::size_t outbound_publishes_ = 0; ///< QoS 1/2 PUBLISHes in flight (server's Receive Maximum)
    std::vector<std::uint16_t> resend_queue_; ///< resends held back by Receive Maximum, in order
    std::size_t resend_head_ = 0;             ///< the next of resend_queue_
    std::size_t pending_resends_ = 0;         ///< slots marked pending

    /// 65,536 bits: the inbound QoS 2 identifiers awaiting PUBREL. Allocated by
    /// the first one (null until then: none), then kept.
    static constexpr std::size_t inbound_qos2_words = 65'536 / 64;
    std::unique_ptr<std::uint64_t[]> inbound_qos2_;
    std::size_t inbound_unacknowledged_ = 0;
    std::vector<std::optional<std::string>> inbound_aliases_;
    detail::outbound_alias_table outbound_aliases_;

    bool clean_start_sent_ = false;    ///< this connection's CONNECT had Clean Start 1
    bool auth_method_sent_ = false;    ///< this connection's CONNECT had an Authentication Method
    bool reauthenticating_ = false;    ///< our AUTH 0x19 awaits its end
    std::string auth_method_;          ///< the Authentication Method sent in CONNECT
    std::vector<std::byte> auth_data_; ///< the authenticator's data, sent from here
    std::error_code authenticator_error_;

    std::uint64_t sequence_ = 0; ///< last slot::sequence given
    session_time last_sent_{};
    session_time last_received_{};
    bool ping_outstanding_ = false;
};

} // namespace ctmqtt
