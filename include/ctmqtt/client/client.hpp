// basic_client: an MQTT client on a Boost.Asio executor, running a core
// session (core/session.hpp) over a transport.
//
// FIRST VERSION (issue 3 in progress): TCP transport; connect, publish,
// subscribe, unsubscribe, receive and disconnect as Asio operations taking
// completion tokens (callbacks, use_future, use_awaitable, deferred);
// automatic reconnect with a backoff schedule; publishes made while
// disconnected (or beyond the server's Receive Maximum) wait in a bounded
// queue; subscriptions are restored when the broker kept no session; a
// persistent session (MQTT 5 Session Expiry Interval, 3.1.1 clean session
// off) is resumed with clean start off on every reconnect; a will message;
// the MQTT 5 message properties of request/response (response topic,
// correlation data), content type and message expiry; abort_connection()
// drops the transport as a crash would. Internal state lives on a strand,
// so any thread may call the operations.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include <ctmqtt/core/session.hpp>

namespace ctmqtt {

namespace asio = boost::asio;

/// An application message the client owns (a received one, or one waiting
/// in the offline queue).
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

    std::string_view payload_text() const noexcept { return as_string(payload); }
};

/// Errors of the client layer (the session's and the codec's are their own).
enum class client_errc : std::uint8_t {
    offline_queue_full = 1, ///< disconnected and the queue of waiting messages is full
    disconnected,    ///< the client was disconnected by the user; the operation cannot finish
    gave_up,         ///< the connection was refused for good (bad credentials, not authorised)
    connect_timeout, ///< no CONNACK within the connect timeout
};

namespace detail {
class client_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "ctmqtt.client"; }
    std::string message(int v) const override {
        switch (static_cast<client_errc>(v)) {
        case client_errc::offline_queue_full: return "disconnected and the offline queue is full";
        case client_errc::disconnected:
            return "the client was disconnected before the operation finished";
        case client_errc::gave_up:
            return "the broker refused the connection for good; not retrying";
        case client_errc::connect_timeout: return "no CONNACK within the connect timeout";
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

/// What the connection is doing, for users who show or log it.
struct connection_state {
    enum class kind : std::uint8_t {
        connected, ///< CONNACK accepted; `session_present` says if the broker kept our session
        lost,      ///< the connection ended; `error` says why
        retrying,  ///< the next attempt starts in `retry_in`
        gave_up,   ///< no more attempts (refused for good, reconnect off, or disconnected); `error`
                   ///< says why
    };
    kind what = kind::lost;
    std::error_code error;
    std::chrono::milliseconds retry_in{0};
    bool session_present = false;
};

struct client_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 1883;
    protocol_version version = protocol_version::v5;
    std::string client_id;
    std::uint16_t keep_alive = 60;
    bool clean_start = true;
    std::uint32_t session_expiry_interval = 0; ///< MQTT 5: how long the broker keeps our session
    std::optional<std::string> user_name;
    std::optional<std::string> password;
    /// The will: published by the broker when the connection ends without
    /// DISCONNECT (a crash, a network failure, abort_connection()). Its
    /// MQTT 5 fields (user properties, response topic, ...) are sent as will
    /// properties.
    std::optional<message> will;
    std::uint32_t will_delay_interval = 0; ///< MQTT 5: seconds the broker waits before the will
    /// Reconnect delays; the last one repeats. Empty: never reconnect.
    std::vector<std::chrono::milliseconds> reconnect_delays = {
        std::chrono::seconds{1}, std::chrono::seconds{2},  std::chrono::seconds{4},
        std::chrono::seconds{8}, std::chrono::seconds{16}, std::chrono::seconds{32},
        std::chrono::seconds{60}};
    std::chrono::milliseconds connect_timeout = std::chrono::seconds{10};
    std::size_t offline_queue_messages = 1000; ///< publishes waiting while disconnected
    /// Called on the client's strand at every change of the connection's state.
    std::function<void(const connection_state&)> on_state;
};

/// The client. Completion signatures use boost::system::error_code, Asio's
/// own, so use_future and use_awaitable turn errors into exceptions; it
/// carries ctmqtt's categories and messages unchanged.
class client {
public:
    using executor_type = asio::any_io_executor;
    using error_code = boost::system::error_code;

    client(executor_type ex, client_options opts)
        : options_(std::move(opts)), strand_(asio::make_strand(ex)), socket_(strand_),
          resolver_(strand_), timer_(strand_), reconnect_timer_(strand_),
          session_(make_session_options(), handler_) {
        handler_.owner = this;
    }

    client(const client&) = delete;
    client& operator=(const client&) = delete;
    ~client() = default;

    executor_type get_executor() const { return strand_; }

    /// Connects; completes with the first CONNACK (or the error that ended
    /// the attempt). After that the client reconnects by itself until
    /// async_disconnect.
    template <class Token>
    auto async_connect(Token&& token) {
        return asio::async_initiate<Token, void(error_code)>(
            [this](auto handler) {
                asio::dispatch(strand_, [this, h = std::move(handler)]() mutable {
                    connect_waiters_.push_back(erase(std::move(h)));
                    wanted_ = true;
                    given_up_ = {};
                    if (session_.current_state() == session::state::disconnected && !connecting_)
                        start_connection();
                });
            },
            token);
    }

    /// Publishes. Completes for QoS 0 once handed to the connection, for QoS
    /// 1/2 when the broker acknowledged it (PUBACK / PUBCOMP). While
    /// disconnected the message waits in the offline queue.
    template <class Token>
    auto async_publish(message m, Token&& token) {
        return asio::async_initiate<Token, void(error_code)>(
            [this](auto handler, message msg) {
                asio::dispatch(strand_,
                               [this, h = std::move(handler), msg = std::move(msg)]() mutable {
                                   submit(std::move(msg), erase(std::move(h)));
                               });
            },
            token, std::move(m));
    }

    /// Subscribes; completes with the SUBACK's reason codes. The
    /// subscription is restored after a reconnect without a kept session.
    template <class Token>
    auto async_subscribe(std::string filter, ctmqtt::qos max_qos, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::vector<suback_reason_code>)>(
            [this](auto handler, std::string f, ctmqtt::qos q) {
                asio::dispatch(strand_,
                               [this, h = std::move(handler), f = std::move(f), q]() mutable {
                                   auto op = std::make_shared<subscribe_op>();
                                   op->done = erase<std::vector<suback_reason_code>>(std::move(h));
                                   subscriptions_.push_back({std::move(f), q});
                                   send_subscribe(subscriptions_.size() - 1, op);
                               });
            },
            token, std::move(filter), max_qos);
    }

    /// Unsubscribes; completes with the UNSUBACK's reason codes (MQTT 5; none
    /// in 3.1.1). The subscription is no longer restored after reconnects.
    /// Needs a connection: while disconnected it completes with not_connected.
    template <class Token>
    auto async_unsubscribe(std::string filter, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::vector<unsuback_reason_code>)>(
            [this](auto handler, std::string f) {
                asio::dispatch(strand_, [this, h = std::move(handler), f = std::move(f)]() mutable {
                    auto done = erase<std::vector<unsuback_reason_code>>(std::move(h));
                    const std::string_view filters[] = {f};
                    auto id =
                        session_.current_state() == session::state::connected
                            ? session_.unsubscribe(filters, {}, now())
                            : result<std::uint16_t>{make_error_code(session_errc::not_connected)};
                    if (!id)
                        return done(id.error(), {});
                    for (auto& s : subscriptions_)
                        if (s.filter == f)
                            s.active = false;
                    unsubscribe_waiters_.emplace_back(*id, std::move(done));
                    flush();
                });
            },
            token, std::move(filter));
    }

    /// Waits for the next application message.
    template <class Token>
    auto async_receive(Token&& token) {
        return asio::async_initiate<Token, void(error_code, message)>(
            [this](auto handler) {
                asio::dispatch(strand_, [this, h = std::move(handler)]() mutable {
                    receivers_.push_back(erase<message>(std::move(h)));
                    deliver();
                });
            },
            token);
    }

    /// Sends DISCONNECT, closes the connection and stops reconnecting.
    /// Operations still waiting complete with client_errc::disconnected.
    template <class Token>
    auto async_disconnect(Token&& token) {
        return asio::async_initiate<Token, void(error_code)>(
            [this](auto handler) {
                asio::dispatch(strand_, [this, h = std::move(handler)]() mutable {
                    wanted_ = false;
                    reconnect_timer_.cancel();
                    if (session_.current_state() == session::state::connected) {
                        (void)session_.disconnect();
                        disconnect_waiter_ = erase(std::move(h));
                        flush();
                    } else {
                        shutdown(make_error_code(client_errc::disconnected));
                        complete(std::move(h), std::error_code{});
                    }
                });
            },
            token);
    }

    /// Closes the transport without DISCONNECT, as a crash or a network
    /// failure would: the broker publishes the will (if any). Then the client
    /// carries on as after any lost connection: it reconnects by the
    /// reconnect_delays schedule (never if empty) and resumes its session.
    void abort_connection() {
        asio::dispatch(strand_, [this] {
            if (!socket_.is_open())
                return;
            if (session_.current_state() != session::state::disconnected)
                session_.connection_lost();
            if (connecting_)
                return attempt_failed(make_error_code(session_errc::connection_lost));
            finish_close();
        });
    }

    /// True while a connection is up (for tests and status displays).
    bool connected() const noexcept {
        return session_.current_state() == session::state::connected;
    }

private:
    using callback = std::function<void(std::error_code)>;

    struct subscribe_op {
        std::function<void(std::error_code, std::vector<suback_reason_code>)> done;
    };
    struct stored_subscription {
        std::string filter;
        ctmqtt::qos max_qos;
        bool active = true; ///< false once unsubscribed (kept so indexes stay valid)
    };

    void notify(connection_state::kind what, std::error_code ec = {},
                std::chrono::milliseconds retry_in = {}, bool session_present = false) {
        if (options_.on_state)
            options_.on_state(connection_state{what, ec, retry_in, session_present});
    }

    // Completes on the handler's associated executor (by default the client's
    // executor, as for any Asio I/O object), never inside the caller.
    template <class Handler, class... Args>
    void complete(Handler&& h, std::error_code ec, Args&&... args) {
        auto ex = asio::get_associated_executor(h, strand_.get_inner_executor());
        asio::post(ex,
                   [h = std::forward<Handler>(h), ec, ... a = std::forward<Args>(args)]() mutable {
                       std::move(h)(error_code{ec}, std::move(a)...);
                   });
    }

    // A completion handler as a std::function taking (error, Args...): Asio handlers are
    // move-only, std::function needs copies, so the handler lives in a shared_ptr.
    template <class... Args, class Handler>
    std::function<void(std::error_code, Args...)> erase(Handler h) {
        auto shared = std::make_shared<Handler>(std::move(h));
        return [this, shared](std::error_code ec, Args... args) mutable {
            complete(std::move(*shared), ec, std::move(args)...);
        };
    }

    // ------------------------------------------------------------ the session's events

    struct handler_bridge final : session_handler {
        client* owner = nullptr;
        void on_connack(const connack& ack, std::error_code ec) override {
            owner->on_connack(ack, ec);
        }
        void on_message(const publish& p) override { owner->on_message(p); }
        void on_publish_done(std::uint16_t id, std::error_code ec) override {
            owner->on_publish_done(id, ec);
        }
        void on_suback(const suback& ack) override { owner->on_suback(ack); }
        void on_unsuback(const unsuback& ack) override { owner->on_unsuback(ack); }
        void on_connection_closed(std::error_code ec) override { owner->on_closed(ec); }
    };

    session::options make_session_options() {
        session::options o;
        o.version = options_.version;
        o.connect.client_id = options_.client_id;
        o.connect.keep_alive = options_.keep_alive;
        o.connect.clean_start = options_.clean_start;
        if (options_.user_name)
            o.connect.user_name = *options_.user_name;
        if (options_.password)
            o.connect.password = as_bytes(*options_.password);
        if (options_.version == protocol_version::v5 && options_.session_expiry_interval != 0)
            o.connect.properties.set<property_id::session_expiry_interval>(
                options_.session_expiry_interval);
        if (options_.will) {
            const auto& w = *options_.will;
            will_message will;
            will.topic = w.topic;
            will.payload = w.payload;
            will.qos = w.qos;
            will.retain = w.retain;
            if (options_.version == protocol_version::v5) {
                if (options_.will_delay_interval != 0)
                    will.properties.set<property_id::will_delay_interval>(
                        options_.will_delay_interval);
                set_message_properties(w, will.properties, will_user_properties_);
            }
            o.connect.will = will;
        }
        return o;
    }

    // The MQTT 5 properties of a message (PUBLISH or will); views into `m`
    // and `user_props`, which must outlive `props`' use.
    template <class Properties>
    static void set_message_properties(const message& m, Properties& props,
                                       std::vector<string_pair>& user_props) {
        user_props.clear();
        for (const auto& [k, v] : m.user_properties)
            user_props.push_back({k, v});
        if (!user_props.empty())
            props.template set<property_id::user_property>(
                std::span<const string_pair>{user_props});
        if (m.response_topic)
            props.template set<property_id::response_topic>(std::string_view{*m.response_topic});
        if (m.correlation_data)
            props.template set<property_id::correlation_data>(bytes_view{*m.correlation_data});
        if (m.content_type)
            props.template set<property_id::content_type>(std::string_view{*m.content_type});
        if (m.message_expiry_interval)
            props.template set<property_id::message_expiry_interval>(*m.message_expiry_interval);
    }

    // Whether the broker keeps our session after the connection ends: then
    // reconnects resume it (clean start 0).
    bool persistent_session() const noexcept {
        return options_.version == protocol_version::v5 ? options_.session_expiry_interval != 0
                                                        : !options_.clean_start;
    }

    static session_time now() { return session_clock::now(); }

    // ------------------------------------------------------------ connecting

    void start_connection() {
        connecting_ = true;
        resolver_.async_resolve(
            options_.host, std::to_string(options_.port),
            [this](std::error_code ec, asio::ip::tcp::resolver::results_type results) {
                if (ec)
                    return attempt_failed(ec);
                asio::async_connect(socket_, results, [this](std::error_code ec2, const auto&) {
                    if (ec2)
                        return attempt_failed(ec2);
                    socket_.set_option(asio::ip::tcp::no_delay{true});
                    begin_session();
                });
            });
        timer_.expires_after(options_.connect_timeout);
        timer_.async_wait([this](std::error_code ec) {
            if (!ec && connecting_) {
                boost::system::error_code ignored;
                socket_.close(ignored);
                resolver_.cancel();
                attempt_failed(make_error_code(client_errc::connect_timeout));
            }
        });
    }

    void begin_session() {
        if (auto ec = session_.connect(now()))
            return attempt_failed(ec);
        flush();
        read();
    }

    void attempt_failed(std::error_code ec) {
        if (!connecting_)
            return;
        connecting_ = false;
        timer_.cancel();
        boost::system::error_code ignored;
        socket_.close(ignored);
        session_.connection_lost();
        fail_connect_waiters(ec);
        schedule_reconnect();
    }

    void schedule_reconnect() {
        if (!wanted_ || options_.reconnect_delays.empty()) {
            // No connection will come back: nothing may wait for one forever.
            given_up_ = last_error_ ? last_error_ : make_error_code(session_errc::connection_lost);
            notify(connection_state::kind::gave_up, given_up_);
            shutdown(given_up_);
            return;
        }
        const auto i = std::min(attempt_, options_.reconnect_delays.size() - 1);
        ++attempt_;
        notify(connection_state::kind::retrying, last_error_, options_.reconnect_delays[i]);
        reconnect_timer_.expires_after(options_.reconnect_delays[i]);
        reconnect_timer_.async_wait([this](std::error_code ec) {
            if (!ec && wanted_ && !connecting_ &&
                session_.current_state() == session::state::disconnected)
                start_connection();
        });
    }

    void fail_connect_waiters(std::error_code ec) {
        auto waiters = std::move(connect_waiters_);
        connect_waiters_.clear();
        for (auto& w : waiters)
            w(ec);
    }

    void on_connack(const connack& ack, std::error_code ec) {
        connecting_ = false;
        timer_.cancel();
        if (ec) {
            // Bad credentials and not authorised are permanent: do not retry.
            const bool permanent =
                ack.accepted(options_.version) ? false
                : options_.version == protocol_version::v5
                    ? (ack.reason_code == reason::bad_user_name_or_password ||
                       ack.reason_code == reason::not_authorized ||
                       ack.reason_code == reason::banned)
                    : (ack.return_code == connect_return_code::bad_user_name_or_password ||
                       ack.return_code == connect_return_code::not_authorized);
            if (permanent)
                wanted_ = false;
            last_error_ = ec;
            fail_connect_waiters(ec);
            return;
        }
        attempt_ = 0;
        notify(connection_state::kind::connected, {}, {}, ack.session_present);
        // The first CONNECT used the configured clean start; later ones resume the session.
        if (persistent_session())
            session_.set_clean_start(false);
        restore_subscriptions(ack.session_present);
        drain_queue();
        fail_connect_waiters({});
        arm_keep_alive();
        flush();
    }

    // ------------------------------------------------------------ I/O loops

    void read() {
        socket_.async_read_some(
            asio::buffer(read_buffer_), [this](std::error_code ec, std::size_t n) {
                if (ec)
                    return connection_broken(ec);
                session_.receive(bytes_view{read_buffer_.data(), n}, now());
                if (drain_wanted_)
                    drain_queue();
                flush();
                if (socket_.is_open() && session_.current_state() != session::state::disconnected)
                    read();
            });
    }

    void flush() {
        if (writing_ || !socket_.is_open())
            return;
        if (session_.output().empty()) {
            if (session_.current_state() == session::state::closing ||
                session_.current_state() == session::state::disconnected)
                finish_close();
            return;
        }
        // The bytes being written must not move: the session keeps appending
        // (and may reallocate) its own buffer meanwhile, so take them out of it.
        // Everything pending goes in one write (batching).
        session_.take_output(write_buffer_);
        writing_ = true;
        asio::async_write(socket_, asio::buffer(write_buffer_),
                          [this](std::error_code ec, std::size_t) {
                              writing_ = false;
                              if (ec)
                                  return connection_broken(ec);
                              flush();
                          });
    }

    void arm_keep_alive() {
        auto deadline = session_.deadline();
        if (!deadline)
            return;
        timer_.expires_at(*deadline);
        timer_.async_wait([this](std::error_code ec) {
            if (ec)
                return;
            session_.on_timer(now());
            flush();
            arm_keep_alive();
        });
    }

    void connection_broken(std::error_code ec) {
        if (session_.current_state() != session::state::disconnected)
            session_.connection_lost();
        if (connecting_)
            return attempt_failed(ec);
        finish_close();
    }

    // The session ended the connection (or the transport did).
    void on_closed(std::error_code ec) {
        const bool was_up = !connecting_;
        last_error_ = ec;
        if (was_up && !disconnect_waiter_)
            notify(connection_state::kind::lost, ec);
        for (auto& w : unsubscribe_waiters_)
            w.second(ec, {}); // whether the broker acted on it is unknown: say so
        unsubscribe_waiters_.clear();
        // Their SUBACKs will not come (the session does not resend SUBSCRIBE): sent again
        // once connected.
        for (auto& w : subscribe_waiters_)
            pending_subscribes_.push_back({w.index, std::move(w.op)});
        subscribe_waiters_.clear();
        if (connecting_) {
            connecting_ = false;
            timer_.cancel();
        }
    }

    void finish_close() {
        boost::system::error_code ignored;
        if (!socket_.is_open())
            return;
        socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
        timer_.cancel();
        // After our DISCONNECT the session waits in "closing": the connection is over now,
        // and a later async_connect must find the session disconnected.
        if (session_.current_state() != session::state::disconnected)
            session_.connection_lost();
        if (disconnect_waiter_) {
            auto w = std::move(disconnect_waiter_);
            disconnect_waiter_ = nullptr;
            notify(connection_state::kind::gave_up, make_error_code(client_errc::disconnected));
            shutdown(make_error_code(client_errc::disconnected));
            w({});
            return;
        }
        schedule_reconnect();
    }

    // Ends everything the user waits for (async_disconnect).
    void shutdown(std::error_code ec) {
        wanted_ = false;
        fail_connect_waiters(ec);
        for (auto& cb : publish_waiters_)
            if (cb)
                std::exchange(cb, nullptr)(ec);
        for (auto& [m, cb] : offline_queue_)
            cb(ec);
        offline_queue_.clear();
        for (auto& w : subscribe_waiters_)
            if (w.op)
                w.op->done(ec, {});
        subscribe_waiters_.clear();
        for (auto& [i, op] : pending_subscribes_)
            if (op)
                op->done(ec, {});
        pending_subscribes_.clear();
        auto receivers = std::move(receivers_);
        receivers_.clear();
        for (auto& r : receivers)
            r(ec, message{});
    }

    // ------------------------------------------------------------ publishing

    // Messages wait in the queue while disconnected, and while connected when
    // the server's Receive Maximum is used up (until an acknowledgement frees
    // a place); they leave it in order.
    void submit(message m, callback done) {
        if (given_up_) // no connection will come back until async_connect
            return done(given_up_);
        if (session_.current_state() != session::state::connected || !offline_queue_.empty()) {
            if (offline_queue_.size() >= options_.offline_queue_messages)
                return done(make_error_code(client_errc::offline_queue_full));
            offline_queue_.emplace_back(std::move(m), std::move(done));
            return;
        }
        if (!send(m, done))
            offline_queue_.emplace_back(std::move(m), std::move(done));
    }

    // False when the send quota is used up: the message was not sent and the
    // caller keeps it (and `done`).
    bool send(const message& m, callback& done) {
        publish p;
        p.topic = m.topic;
        p.payload = m.payload;
        p.qos = m.qos;
        p.retain = m.retain;
        std::vector<string_pair> props;
        if (options_.version == protocol_version::v5)
            set_message_properties(m, p.properties, props);
        auto id = session_.publish(p, now());
        if (!id) {
            if (id.error() == make_error_code(session_errc::send_quota_exhausted))
                return false;
            done(id.error());
            return true;
        }
        if (*id == 0)
            done({});
        else {
            if (publish_waiters_.size() < *id)
                publish_waiters_.resize(*id);
            publish_waiters_[*id - 1u] = std::move(done);
        }
        flush();
        return true;
    }

    void drain_queue() {
        drain_wanted_ = false;
        while (!offline_queue_.empty() && session_.current_state() == session::state::connected) {
            auto& [m, cb] = offline_queue_.front();
            if (!send(m, cb))
                return;
            offline_queue_.pop_front();
        }
    }

    void on_publish_done(std::uint16_t id, std::error_code ec) {
        drain_wanted_ = !offline_queue_.empty(); // a place in the send quota is free
        // Indexed by packet identifier, like the session's slots: no search.
        if (id != 0 && id <= publish_waiters_.size() && publish_waiters_[id - 1u])
            std::exchange(publish_waiters_[id - 1u], nullptr)(ec);
    }

    // ------------------------------------------------------------ subscribing and receiving

    void send_subscribe(std::size_t index, std::shared_ptr<subscribe_op> op) {
        if (session_.current_state() != session::state::connected) {
            // Sent by restore_subscriptions() once connected.
            pending_subscribes_.push_back({index, std::move(op)});
            return;
        }
        const subscription s[] = {{subscriptions_[index].filter, subscriptions_[index].max_qos}};
        auto id = session_.subscribe(s, {}, now());
        if (!id) {
            if (op)
                op->done(id.error(), {});
            return;
        }
        subscribe_waiters_.push_back({*id, index, std::move(op)});
        flush();
    }

    // After CONNACK: without a kept session every subscription is made again;
    // with one, only those not yet acknowledged.
    void restore_subscriptions(bool session_present) {
        auto pending = std::move(pending_subscribes_);
        pending_subscribes_.clear();
        if (session_present) {
            for (auto& [i, op] : pending)
                send_subscribe(i, std::move(op));
            return;
        }
        for (std::size_t i = 0; i < subscriptions_.size(); ++i) {
            if (!subscriptions_[i].active)
                continue;
            std::shared_ptr<subscribe_op> op;
            for (auto& [j, pending_op] : pending) {
                if (j == i && pending_op) {
                    op = std::move(pending_op);
                    break;
                }
            }
            send_subscribe(i, std::move(op));
        }
    }

    void on_unsuback(const unsuback& ack) {
        for (auto it = unsubscribe_waiters_.begin(); it != unsubscribe_waiters_.end(); ++it) {
            if (it->first == ack.packet_id) {
                auto done = std::move(it->second);
                unsubscribe_waiters_.erase(it);
                done({}, std::vector<unsuback_reason_code>(ack.reason_codes.begin(),
                                                           ack.reason_codes.end()));
                return;
            }
        }
    }

    void on_suback(const suback& ack) {
        for (auto it = subscribe_waiters_.begin(); it != subscribe_waiters_.end(); ++it) {
            if (it->packet_id == ack.packet_id) {
                auto op = std::move(it->op);
                subscribe_waiters_.erase(it);
                if (!op)
                    return;
                std::vector<suback_reason_code> codes(ack.reason_codes.begin(),
                                                      ack.reason_codes.end());
                op->done({}, std::move(codes));
                return;
            }
        }
    }

    void on_message(const publish& p) {
        message m;
        m.topic = std::string{p.topic};
        m.payload.assign(p.payload.begin(), p.payload.end());
        m.qos = p.qos;
        m.retain = p.retain;
        if (options_.version == protocol_version::v5) {
            const auto& props = p.properties;
            for (auto up : props.get<property_id::user_property>())
                m.user_properties.emplace_back(std::string{up.name}, std::string{up.value});
            if (auto v = props.get<property_id::response_topic>())
                m.response_topic = std::string{*v};
            if (auto v = props.get<property_id::correlation_data>())
                m.correlation_data = std::vector<std::byte>(v->begin(), v->end());
            if (auto v = props.get<property_id::content_type>())
                m.content_type = std::string{*v};
            if (auto v = props.get<property_id::message_expiry_interval>())
                m.message_expiry_interval = *v;
        }
        inbox_.push_back(std::move(m));
        deliver();
    }

    void deliver() {
        while (!inbox_.empty() && !receivers_.empty()) {
            auto r = std::move(receivers_.front());
            receivers_.pop_front();
            auto m = std::move(inbox_.front());
            inbox_.pop_front();
            r({}, std::move(m));
        }
    }

    client_options options_;
    asio::strand<executor_type> strand_;
    asio::ip::tcp::socket socket_;
    asio::ip::tcp::resolver resolver_;
    asio::steady_timer timer_;
    asio::steady_timer reconnect_timer_;
    handler_bridge handler_;
    std::vector<string_pair> will_user_properties_; ///< viewed by the session's CONNECT
    session session_;
    std::array<std::byte, 16 * 1024> read_buffer_{};

    bool wanted_ = false;
    bool connecting_ = false;
    bool writing_ = false;
    bool drain_wanted_ = false;
    std::size_t attempt_ = 0;
    std::error_code last_error_;
    std::error_code given_up_; ///< set when no reconnect will follow: publishes fail at once

    std::vector<callback> connect_waiters_;
    callback disconnect_waiter_;
    std::vector<callback> publish_waiters_; ///< by packet identifier - 1
    std::vector<std::byte> write_buffer_;   ///< the bytes of the write in progress
    std::deque<std::pair<message, callback>> offline_queue_;
    std::vector<stored_subscription> subscriptions_;
    struct subscribe_waiter {
        std::uint16_t packet_id;
        std::size_t index;                ///< in subscriptions_
        std::shared_ptr<subscribe_op> op; ///< null for a restored subscription
    };
    /// Subscriptions to send once connected (index in subscriptions_, operation or null).
    std::vector<std::pair<std::size_t, std::shared_ptr<subscribe_op>>> pending_subscribes_;
    std::vector<subscribe_waiter> subscribe_waiters_;
    std::vector<std::pair<std::uint16_t,
                          std::function<void(std::error_code, std::vector<unsuback_reason_code>)>>>
        unsubscribe_waiters_;
    std::deque<message> inbox_;
    std::deque<std::function<void(std::error_code, message)>> receivers_;
};

} // namespace ctmqtt

template <>
struct std::is_error_code_enum<ctmqtt::client_errc> : std::true_type {};
