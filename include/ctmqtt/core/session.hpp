// The protocol engine: a sans-I/O MQTT client session for 3.1, 3.1.1 and 5.0.
//
// It does no I/O, reads no clock and starts no thread. It is fed the bytes
// received and the current time; it produces the bytes to send (output()),
// calls its handler for what happened, and says when it next needs the time
// (deadline()). Everything it does is therefore deterministic and is tested
// by feeding bytes (tests/core/test_session.cpp).
//
// What it implements: CONNECT/CONNACK with every MQTT 5 negotiated value;
// QoS 0, 1 and 2 both ways with exactly-once delivery of inbound QoS 2;
// packet identifiers allocated and found in constant time (an identifier is
// the index of its in-flight slot plus one); Receive Maximum and Maximum
// Packet Size both ways; inbound topic aliases; keep alive (PINGREQ when idle,
// dead after 1.5 × keep alive of silence); session resumption (in-flight
// PUBLISHes resent with DUP, PUBRELs resent, Message Expiry counted down);
// DISCONNECT both ways; a protocol violation by the server ends in DISCONNECT
// with the matching reason code (MQTT 5) and an error for the handler.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include <ctmqtt/core/codec.hpp>
#include <ctmqtt/core/session_error.hpp>

namespace ctmqtt {

/// Time as the session sees it: whatever the caller says "now" is.
using session_clock = std::chrono::steady_clock;
using session_time = session_clock::time_point;

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
    /// AUTH from the server (enhanced authentication, MQTT 5 §4.12).
    virtual void on_auth(const auth&) {}
    /// The connection is over: the server sent DISCONNECT, broke the protocol,
    /// stopped answering, or the transport closed. The owner closes the
    /// transport once output() is written; session state is kept for a resume.
    virtual void on_connection_closed(std::error_code ec) = 0;
};

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
        /// With Session Present 0 after a resume, publish the messages that
        /// were still in flight again as new messages (else they fail with
        /// session_errc::session_expired).
        bool republish_after_session_loss = true;
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

    session(options opts, session_handler& handler) : options_(std::move(opts)), handler_(handler) {
        options_.connect.version = options_.version;
        inbound_qos2_.assign(65'536 / 64, 0);
    }

    session(const session&) = delete;
    session& operator=(const session&) = delete;

    state current_state() const noexcept { return state_; }

    /// Changes the Clean Start flag (Clean Session in 3.1/3.1.1) of the next
    /// CONNECT: an owner that asked for a session the server keeps connects
    /// with clean start the first time and resumes with it off afterwards.
    void set_clean_start(bool on) noexcept { options_.connect.clean_start = on; }
    const server_limits& limits() const noexcept { return limits_; }
    protocol_version version() const noexcept { return options_.version; }

    // ------------------------------------------------------------ lifecycle

    /// Starts a connection: queues CONNECT. Call when the transport is open.
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
    std::error_code disconnect(disconnect_reason_code reason = {},
                               const disconnect_properties& props = {}) {
        if (state_ != state::connected && state_ != state::connecting)
            return make_error_code(session_errc::not_connected);
        ctmqtt::disconnect d;
        d.reason_code = reason;
        d.properties = props;
        if (options_.version != protocol_version::v5)
            d = ctmqtt::disconnect{};
        (void)append(d, last_sent_);
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
    void take_output(std::vector<std::byte>& into) {
        if (output_begin_ != 0) {
            output_.erase(output_.begin(),
                          output_.begin() + static_cast<std::ptrdiff_t>(output_begin_));
            output_begin_ = 0;
        }
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
        // in milliseconds: 1.5 × an odd number of seconds is not a whole second
        const auto keep_alive =
            std::chrono::milliseconds{std::uint32_t{limits_.keep_alive} * 1000u};
        const auto dead = last_received_ + keep_alive * 3 / 2;
        if (state_ == state::connecting || ping_outstanding_)
            return dead;
        return std::min(dead, std::min(last_sent_, last_received_) + keep_alive);
    }

    /// Keep alive: PINGREQ when nothing was sent for a keep-alive interval
    /// [MQTT-3.1.2-20], or nothing received (a server owes a busy client no
    /// packet but PINGRESP, MQTT 5 §3.1.2.10); the connection is dead when
    /// nothing arrived for 1.5 ×.
    void on_timer(session_time now) {
        if ((state_ != state::connected && state_ != state::connecting) || limits_.keep_alive == 0)
            return;
        // in milliseconds: 1.5 × an odd number of seconds is not a whole second
        const auto keep_alive =
            std::chrono::milliseconds{std::uint32_t{limits_.keep_alive} * 1000u};
        if (now >= last_received_ + keep_alive * 3 / 2) {
            close(make_error_code(session_errc::keep_alive_timeout), true,
                  reason::keep_alive_timeout);
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
    /// (returned), keeps a copy for resending and reports the outcome through
    /// on_publish_done; QoS 0 returns 0.
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
        ctmqtt::publish p = message;
        p.dup = false;
        if (p.qos == qos::at_most_once) {
            p.packet_id = 0;
            if (auto ec = append(p, now))
                return ec;
            return std::uint16_t{0};
        }
        if (outbound_publishes_ >= limits_.receive_maximum)
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
        slot.kind =
            p.qos == qos::at_least_once ? slot_kind::awaiting_puback : slot_kind::awaiting_pubrec;
        slot.sent_at = now;
        slot.expiry_offset = expiry_offset(p, slot.packet);
        slot.sequence = ++sequence_;
        ++outbound_publishes_;
        write_bytes(slot.packet, now);
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
        auto id = allocate_id();
        if (!id)
            return make_error_code(session_errc::packet_ids_exhausted);
        ctmqtt::subscribe s;
        s.packet_id = *id;
        s.subscriptions = subscriptions;
        s.properties = props;
        if (auto ec = append(s, now)) {
            free_id(*id);
            return ec;
        }
        slots_[*id - 1u].kind = slot_kind::awaiting_suback;
        return *id;
    }

    /// Sends an UNSUBSCRIBE; on_unsuback reports the result.
    result<std::uint16_t> unsubscribe(std::span<const std::string_view> filters,
                                      const unsubscribe_properties& props, session_time now) {
        if (state_ != state::connected)
            return make_error_code(session_errc::not_connected);
        auto id = allocate_id();
        if (!id)
            return make_error_code(session_errc::packet_ids_exhausted);
        ctmqtt::unsubscribe u;
        u.packet_id = *id;
        u.topic_filters = filters;
        u.properties = props;
        if (auto ec = append(u, now)) {
            free_id(*id);
            return ec;
        }
        slots_[*id - 1u].kind = slot_kind::awaiting_unsuback;
        return *id;
    }

    /// Sends AUTH (enhanced authentication or re-authentication, MQTT 5 §4.12).
    std::error_code send_auth(const ctmqtt::auth& a, session_time now) {
        if (state_ != state::connected && state_ != state::connecting)
            return make_error_code(session_errc::not_connected);
        return append(a, now);
    }

    /// QoS 1/2 messages sent and not yet finished.
    std::size_t publishes_in_flight() const noexcept { return outbound_publishes_; }

private:
    enum class slot_kind : std::uint8_t {
        free,
        awaiting_puback,  // QoS 1 sent
        awaiting_pubrec,  // QoS 2 sent
        awaiting_pubcomp, // QoS 2, PUBREL sent
        awaiting_suback,
        awaiting_unsuback,
    };

    // One in-flight packet; its packet identifier is its index + 1, so
    // allocation is a pop from the free list and lookup an index.
    struct slot {
        slot_kind kind = slot_kind::free;
        std::vector<std::byte> packet; ///< the encoded PUBLISH, kept for resending
        session_time sent_at{};
        std::uint32_t expiry_offset = 0; ///< where the Message Expiry Interval value is, 0 if none
        std::uint64_t sequence = 0; ///< order of the PUBLISH, then of its PUBREC (MQTT 5 §4.6)
    };

    // ------------------------------------------------------------ packet identifiers

    std::optional<std::uint16_t> allocate_id() {
        if (!free_ids_.empty()) {
            const auto id = free_ids_.back();
            free_ids_.pop_back();
            return id;
        }
        if (slots_.size() >= 65'535)
            return std::nullopt;
        slots_.emplace_back();
        return static_cast<std::uint16_t>(slots_.size());
    }

    void free_id(std::uint16_t id) {
        auto& s = slots_[id - 1u];
        if (s.kind == slot_kind::awaiting_puback || s.kind == slot_kind::awaiting_pubrec ||
            s.kind == slot_kind::awaiting_pubcomp)
            --outbound_publishes_;
        s.kind = slot_kind::free;
        s.packet.clear();
        free_ids_.push_back(id);
    }

    slot* find_slot(std::uint16_t id) noexcept {
        if (id == 0 || id > slots_.size() || slots_[id - 1u].kind == slot_kind::free)
            return nullptr;
        return &slots_[id - 1u];
    }

    // ------------------------------------------------------------ output

    template <class P>
    std::error_code encode_into(const P& p, std::vector<std::byte>& out) {
        const auto size = encoded_size(p, options_.version);
        if (limits_.maximum_packet_size != 0 && size > limits_.maximum_packet_size)
            return make_error_code(session_errc::outbound_packet_too_large);
        out.resize(size);
        auto e = encode(p, options_.version, std::span{out});
        if (!e)
            return e.error();
        std::copy(e->payload.begin(), e->payload.end(),
                  out.begin() + static_cast<std::ptrdiff_t>(e->header.size()));
        return {};
    }

    template <class P>
    std::error_code append(const P& p, session_time now) {
        const auto size = encoded_size(p, options_.version);
        if (limits_.maximum_packet_size != 0 && size > limits_.maximum_packet_size)
            return make_error_code(session_errc::outbound_packet_too_large);
        const auto start = output_.size();
        output_.resize(start + size);
        auto e = encode(p, options_.version, std::span{output_}.subspan(start));
        if (!e) {
            output_.resize(start);
            return e.error();
        }
        std::copy(e->payload.begin(), e->payload.end(),
                  output_.begin() + static_cast<std::ptrdiff_t>(start + e->header.size()));
        last_sent_ = now;
        return {};
    }

    void write_bytes(bytes_view bytes, session_time now) {
        output_.insert(output_.end(), bytes.begin(), bytes.end());
        last_sent_ = now;
    }

    // Where a PUBLISH's Message Expiry Interval value sits in its encoding, so
    // a resend can count it down in place (MQTT 5 §3.3.2.3.3).
    std::uint32_t expiry_offset(const ctmqtt::publish& p,
                                const std::vector<std::byte>& bytes) const {
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
        case packet_type::puback: return on_puback(h, body);
        case packet_type::pubrec: return on_pubrec(h, body, now);
        case packet_type::pubrel: return on_pubrel(h, body, now);
        case packet_type::pubcomp: return on_pubcomp(h, body);
        case packet_type::suback: return on_suback(h, body);
        case packet_type::unsuback: return on_unsuback(h, body);
        case packet_type::pingresp:
            if (!expect_connected(h.type)) // nothing but CONNACK (or AUTH) first [MQTT-3.2.0-1]
                return;
            if (auto p = decode_checked<pingresp>(h, body))
                ping_outstanding_ = false;
            return;
        case packet_type::disconnect: return on_disconnect(h, body);
        case packet_type::auth: return on_auth(h, body);
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

    void on_connack(const fixed_header& h, bytes_view body, session_time now) {
        if (state_ != state::connecting) // a second CONNACK [MQTT-3.2.0-2]
            return violation(
                make_error_code(session_errc::unexpected_packet, static_cast<unsigned>(h.type)),
                reason::protocol_error);
        auto ack = decode_checked<connack>(h, body);
        if (!ack)
            return;
        if (!ack->accepted(options_.version)) {
            const auto ec =
                options_.version == protocol_version::v5
                    ? make_error_code(session_errc::connection_refused, ack->reason_code.value())
                    : make_error_code(session_errc::connection_refused_v3,
                                      static_cast<unsigned>(ack->return_code));
            handler_.on_connack(*ack, ec);
            close(ec, false);
            return;
        }
        if (options_.version == protocol_version::v5)
            read_limits(*ack);
        state_ = state::connected;
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

    // After CONNACK: resend what was in flight (MQTT 5 §4.4), or, when the
    // server kept no session, start again.
    void resume(bool session_present, session_time now) {
        if (!session_present)
            std::fill(inbound_qos2_.begin(), inbound_qos2_.end(), 0);
        inbound_unacknowledged_ = 0;
        // In the order first sent (PUBLISH) or acknowledged (PUBREC) [MQTT-4.6.0-1, -4]:
        // identifiers are reused, so their order is not the send order.
        std::vector<std::uint16_t> order;
        for (std::size_t i = 0; i < slots_.size(); ++i)
            if (slots_[i].kind != slot_kind::free)
                order.push_back(static_cast<std::uint16_t>(i + 1));
        std::sort(order.begin(), order.end(), [this](std::uint16_t a, std::uint16_t b) {
            return slots_[a - 1u].sequence < slots_[b - 1u].sequence;
        });
        for (const auto id : order) {
            auto& s = slots_[id - 1u];
            switch (s.kind) {
            case slot_kind::free: break;
            case slot_kind::awaiting_puback:
            case slot_kind::awaiting_pubrec:
                if (expired(s, now)) {
                    free_id(id);
                    handler_.on_publish_done(id, make_error_code(session_errc::message_expired));
                    break;
                }
                if (session_present) {
                    s.packet[0] |= std::byte{0x08}; // DUP [MQTT-3.3.1-1]
                } else if (!options_.republish_after_session_loss) {
                    free_id(id);
                    handler_.on_publish_done(id, make_error_code(session_errc::session_expired));
                    break;
                } else {
                    s.packet[0] &= ~std::byte{0x08}; // a new message in the new session
                }
                write_bytes(s.packet, now);
                break;
            case slot_kind::awaiting_pubcomp:
                if (session_present) {
                    pubrel rel;
                    rel.packet_id = id;
                    (void)append(rel, now); // [MQTT-4.4.0-1]
                } else {
                    // The server had the message (it sent PUBREC) and kept no session: it is
                    // delivered.
                    free_id(id);
                    handler_.on_publish_done(id, {});
                }
                break;
            case slot_kind::awaiting_suback:
            case slot_kind::awaiting_unsuback:
                // Not resent (MQTT 5 §4.4 resends only PUBLISH and PUBREL): the client layer
                // re-subscribes.
                free_id(id);
                break;
            }
        }
    }

    // Counts the Message Expiry Interval down by the time in flight; false
    // when it ran out (MQTT 5 §3.3.2.3.3).
    bool expired(slot& s, session_time now) {
        if (s.expiry_offset == 0)
            return false;
        auto* at = s.packet.data() + s.expiry_offset;
        wire::reader r{at, at + 4};
        std::uint32_t remaining = 0;
        (void)wire::u32::read(r, remaining);
        const auto elapsed =
            std::chrono::duration_cast<std::chrono::seconds>(now - s.sent_at).count();
        if (elapsed >= static_cast<long long>(remaining))
            return true;
        (void)wire::u32::write(
            static_cast<std::uint32_t>(remaining - static_cast<std::uint32_t>(elapsed)), at);
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
        return (inbound_qos2_[id / 64] >> (id % 64) & 1u) != 0;
    }
    void mark_inbound_qos2(std::uint16_t id, bool on) noexcept {
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

    void on_puback(const fixed_header& h, bytes_view body) {
        slot* s = nullptr;
        auto ack = decode_ack<puback>(h, body, slot_kind::awaiting_puback, s);
        if (!ack)
            return;
        free_id(ack->packet_id);
        handler_.on_publish_done(
            ack->packet_id,
            ack->reason_code.is_error()
                ? make_error_code(session_errc::publish_refused, ack->reason_code.value())
                : std::error_code{});
    }

    void on_pubrec(const fixed_header& h, bytes_view body, session_time now) {
        slot* s = nullptr;
        auto rec = decode_ack<pubrec>(h, body, slot_kind::awaiting_pubrec, s);
        if (!rec)
            return;
        if (rec->reason_code.is_error()) { // the flow ends here (MQTT 5 §4.3.3)
            free_id(rec->packet_id);
            handler_.on_publish_done(rec->packet_id, make_error_code(session_errc::publish_refused,
                                                                     rec->reason_code.value()));
            return;
        }
        s->kind = slot_kind::awaiting_pubcomp;
        s->packet.clear();         // the message is the server's now; only PUBREL remains
        s->sequence = ++sequence_; // PUBRELs are resent in PUBREC order [MQTT-4.6.0-4]
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
        } else if (options_.version == protocol_version::v5) {
            comp.reason_code = reason::packet_identifier_not_found; // MQTT 5 §3.7.2.1
        }
        (void)append(comp, now);
    }

    void on_pubcomp(const fixed_header& h, bytes_view body) {
        slot* s = nullptr;
        auto comp = decode_ack<pubcomp>(h, body, slot_kind::awaiting_pubcomp, s);
        if (!comp)
            return;
        free_id(comp->packet_id);
        handler_.on_publish_done(
            comp->packet_id,
            comp->reason_code.is_error()
                ? make_error_code(session_errc::publish_refused, comp->reason_code.value())
                : std::error_code{});
    }

    void on_suback(const fixed_header& h, bytes_view body) {
        slot* s = nullptr;
        auto ack = decode_ack<suback>(h, body, slot_kind::awaiting_suback, s);
        if (!ack)
            return;
        free_id(ack->packet_id);
        handler_.on_suback(*ack);
    }

    void on_unsuback(const fixed_header& h, bytes_view body) {
        slot* s = nullptr;
        auto ack = decode_ack<unsuback>(h, body, slot_kind::awaiting_unsuback, s);
        if (!ack)
            return;
        free_id(ack->packet_id);
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
        close(make_error_code(session_errc::server_disconnected, d->reason_code.value()), false);
    }

    void on_auth(const fixed_header& h, bytes_view body) {
        auto a = decode_checked<ctmqtt::auth>(h, body);
        if (!a)
            return;
        handler_.on_auth(*a);
    }

    // ------------------------------------------------------------ ending

    // The server broke the protocol: DISCONNECT with the reason (MQTT 5), then close.
    void violation(std::error_code ec, reason why) { close(ec, true, why); }

    void close(std::error_code ec, bool send_disconnect,
               reason why = reason::normal_disconnection) {
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
        handler_.on_connection_closed(ec);
    }

    options options_;
    session_handler& handler_;
    state state_ = state::disconnected;
    server_limits limits_;

    std::vector<std::byte> input_;  ///< a partial packet waiting for the rest
    std::vector<std::byte> output_; ///< bytes to send
    std::size_t output_begin_ = 0;

    std::vector<slot> slots_;             ///< in-flight outbound packets, by identifier - 1
    std::vector<std::uint16_t> free_ids_; ///< identifiers whose slot is free
    std::size_t outbound_publishes_ = 0; ///< QoS 1/2 PUBLISHes in flight (server's Receive Maximum)

    std::vector<std::uint64_t> inbound_qos2_; ///< 65,536 bits: QoS 2 identifiers awaiting PUBREL
    std::size_t inbound_unacknowledged_ = 0;
    std::vector<std::optional<std::string>> inbound_aliases_;

    std::uint64_t sequence_ = 0; ///< last slot::sequence given
    session_time last_sent_{};
    session_time last_received_{};
    bool ping_outstanding_ = false;
};

} // namespace ctmqtt
