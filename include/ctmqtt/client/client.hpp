// basic_client<Transport, Store>: an MQTT client on a Boost.Asio executor,
// running a core session (core/session.hpp) over a transport policy
// (transport/tcp.hpp) with a store policy (store/memory.hpp).
//
// - Operations (connect, publish, subscribe, unsubscribe, receive,
//   disconnect, auth) take Asio completion tokens: callbacks, use_future,
//   use_awaitable, deferred. Each can be cancelled through the token's
//   cancellation slot. Any thread may call them: the client's state lives
//   on a strand.
// - Reconnects by itself with a backoff schedule (and jitter), fails over
//   between brokers, follows MQTT 5 server redirection, and can fall back
//   from 5.0 to 3.1.1. A persistent session is resumed with clean start off.
// - Publishes made while disconnected (or beyond the broker's Receive
//   Maximum) wait in a bounded queue with an overflow policy.
// - Received messages go to the callback of the subscription they matched
//   (by Subscription Identifier in MQTT 5, else by topic filter), or wait
//   for async_receive.
// - Steady state allocates nothing: waiting operations are stored without
//   their type in inline storage, messages waiting in queues come from pools
//   whose buffers keep their capacity, and Asio recycles operation memory.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <ctmqtt/client/detail/completion.hpp>
#include <ctmqtt/client/options.hpp>
#include <ctmqtt/core/session.hpp>
#include <ctmqtt/store/memory.hpp>
#include <ctmqtt/transport/tcp.hpp>

namespace ctmqtt {

namespace asio = boost::asio;

namespace detail {

// The strand the client's state lives on. Over an io_context (the common
// case) it is a strand of the io_context's own executor: a strand of
// any_io_executor allocates on every dispatch that finds it idle (Asio
// answers the type-erased query for execution::blocking with a heap object).
//
// The client's I/O objects (socket, timers) run on the plain executor and
// each handler is bound to the strand with its concrete type (bind()): an
// I/O object whose executor is the type-erased strand copies it (a shared
// object behind any_io_executor) for every operation's work tracking.
class client_strand {
public:
    explicit client_strand(const asio::any_io_executor& ex) : plain_(ex) {
        if (const auto* io = ex.target<asio::io_context::executor_type>())
            io_.emplace(asio::make_strand(*io));
        else
            any_.emplace(asio::make_strand(ex));
        erased_ = io_ ? asio::any_io_executor{*io_} : asio::any_io_executor{*any_};
    }

    /// Calls start(h') where h' is `h` bound to the strand (by its concrete
    /// type): what the client passes to its I/O objects.
    template <class Handler, class Start>
    void bind(Handler&& h, Start&& start) const {
        if (io_)
            start(asio::bind_executor(*io_, std::forward<Handler>(h)));
        else
            start(asio::bind_executor(*any_, std::forward<Handler>(h)));
    }

    /// The executor the I/O objects are made with (the one given to the client).
    const asio::any_io_executor& plain() const noexcept { return plain_; }

    /// Runs `f` on the strand: at once when already there, else queued.
    template <class F>
    void dispatch(F&& f) const {
        if (io_)
            asio::dispatch(*io_, std::forward<F>(f));
        else
            asio::dispatch(*any_, std::forward<F>(f));
    }

    /// Queues `f` on the strand (never runs it inside the caller).
    template <class F>
    void post(F&& f) const {
        if (io_)
            asio::post(*io_, std::forward<F>(f));
        else
            asio::post(*any_, std::forward<F>(f));
    }

    bool running_in_this_thread() const noexcept {
        return io_ ? io_->running_in_this_thread() : any_->running_in_this_thread();
    }

    const asio::any_io_executor& executor() const noexcept { return erased_; }

private:
    asio::any_io_executor plain_;
    std::optional<asio::strand<asio::io_context::executor_type>> io_;
    std::optional<asio::strand<asio::any_io_executor>> any_;
    asio::any_io_executor erased_;
};

// A lock for the few instructions that take or give back a pooled object:
// uncontended it costs two atomic operations, where a mutex costs a call
// into the C library each way.
class spin_lock {
public:
    void lock() noexcept {
        while (flag_.test_and_set(std::memory_order_acquire))
            while (flag_.test(std::memory_order_relaxed))
                std::this_thread::yield();
    }
    void unlock() noexcept { flag_.clear(std::memory_order_release); }

private:
    std::atomic_flag flag_;
};

} // namespace detail

/// Transport: how bytes reach the broker (transport/*.hpp). Store: where the
/// session's state is kept (store/*.hpp). Timer: the Asio waitable timer of
/// the connect timeout, the keep-alive and the reconnect delays; a timer on a
/// clock of the test's own (asio::basic_waitable_timer<fake_clock, traits>)
/// lets a test step through a reconnect schedule without waiting for it.
template <class Transport = transport::tcp, class Store = store::memory,
          class Timer = asio::steady_timer>
class basic_client {
public:
    using executor_type = asio::any_io_executor;
    using error_code = boost::system::error_code;
    using transport_type = Transport;
    using store_type = Store;
    using timer_type = Timer;

    basic_client(executor_type ex, client_options opts, Store store = Store{})
        : options_(std::move(opts)), strand_(ex), io_executor_(strand_.executor()),
          transport_(strand_.plain()), connect_timer_(strand_.plain()),
          keep_alive_timer_(strand_.plain()), reconnect_timer_(strand_.plain()),
          store_(std::move(store)), version_(options_.version) {
        handler_.owner = this;
        read_buffer_.resize(std::max<std::size_t>(options_.read_buffer_size, 64));
        if (options_.brokers.empty())
            options_.brokers.push_back({options_.host, options_.port});
        if (options_.reconnect_jitter > 0)
            random_.seed(std::random_device{}());
        // A persistent store keeps the state of one session: the client's
        // [MQTT-3.1.3-2]. A store naming another would resume the wrong one.
        if constexpr (requires { store_.session_name(); }) {
            if (!options_.client_id.empty() && store_.session_name() != options_.client_id)
                throw std::system_error(make_error_code(client_errc::store_session_mismatch),
                                        "ctmqtt: the store's session '" +
                                            std::string{store_.session_name()} +
                                            "' is not the client id '" + options_.client_id + "'");
        }
        make_session();
        if (auto ec = store_.restore(*session_))
            throw std::system_error(ec, "ctmqtt: restoring the session from the store");
    }

    basic_client(const basic_client&) = delete;
    basic_client& operator=(const basic_client&) = delete;

    /// Destroy the client when its executor does not run it at the same time
    /// (from the strand, or once the io_context has stopped). Handlers of
    /// internal operations still queued see that it is gone and do nothing.
    ~basic_client() {
        *alive_ = false;
        transport_.close();
    }

    /// The client's strand: its handlers run there.
    executor_type get_executor() const { return strand_.executor(); }
    Transport& transport() noexcept { return transport_; }
    Store& store() noexcept { return store_; }

    /// True while a connection is up (safe from any thread).
    bool connected() const noexcept { return connected_.load(std::memory_order_acquire); }

    // ------------------------------------------------------------ operations

    /// Connects; completes once a connection is up (CONNACK accepted), or
    /// when the client gives up: a refusal for good (bad credentials, not
    /// authorised, ...), no reconnect_delays left, too many redirects,
    /// async_disconnect, or cancellation. Failed attempts in between are
    /// retried by the reconnect schedule (on_state reports each one). After
    /// that the client reconnects by itself until async_disconnect.
    /// Cancelling it while no connection is up stops the attempts.
    template <class Token>
    auto async_connect(Token&& token) {
        return asio::async_initiate<Token, void(error_code)>(
            [this](auto handler) {
                detail::completion<> done(std::move(handler));
                const auto serial = next_serial();
                watch_cancel(done, op_kind::connect, serial);
                strand_.dispatch(guard([this, d = std::move(done), serial]() mutable {
                    if (connected())
                        return d.complete(io_executor_, {});
                    connect_waiters_.push_back({serial, std::move(d)});
                    wanted_ = true;
                    given_up_ = {};
                    if (session_->current_state() == session::state::disconnected && !connecting_ &&
                        !reconnect_pending_) {
                        // A connect of the user's (first, or after a disconnect or
                        // giving up): the reconnect schedule starts over.
                        attempt_ = 0;
                        tried_in_round_ = 0;
                        start_connection();
                    }
                }));
            },
            token);
    }

    /// Publishes a copy of `m` (taken when the operation starts). Completes
    /// for QoS 0 once handed to the connection, for QoS 1/2 when the broker
    /// acknowledged it (PUBACK / PUBCOMP). While disconnected the message
    /// waits in the offline queue. Cancelling it removes a waiting message;
    /// one already sent completes with operation_aborted but may still arrive.
    template <class Token>
    auto async_publish(const message& m, Token&& token) {
        return asio::async_initiate<Token, void(error_code)>(
            [this](auto handler, const message* msg) {
                detail::completion<> done(std::move(handler));
                if (try_publish_now(msg, msg->topic, msg->payload, msg->qos, msg->retain, done))
                    return;
                auto* op = acquire_publish_op();
                assign(op->msg, *msg); // keeps the pooled buffers' capacity
                start_publish(op, std::move(done));
            },
            token, &m);
    }

    /// Publishes `payload` to `topic`; both are copied when the operation starts.
    template <class Token>
    auto async_publish(std::string_view topic, bytes_view payload, ctmqtt::qos q, bool retain,
                       Token&& token) {
        return asio::async_initiate<Token, void(error_code)>(
            [this](auto handler, std::string_view t, bytes_view p, ctmqtt::qos qq, bool r) {
                detail::completion<> done(std::move(handler));
                if (try_publish_now(nullptr, t, p, qq, r, done))
                    return;
                auto* op = acquire_publish_op();
                op->msg.clear();
                op->msg.topic.assign(t);
                op->msg.payload.assign(p.begin(), p.end());
                op->msg.qos = qq;
                op->msg.retain = r;
                start_publish(op, std::move(done));
            },
            token, topic, payload, q, retain);
    }
    template <class Token>
    auto async_publish(std::string_view topic, std::string_view payload, ctmqtt::qos q, bool retain,
                       Token&& token) {
        return async_publish(topic, as_bytes(payload), q, retain, std::forward<Token>(token));
    }

    /// Subscribes; completes with the SUBACK's reason codes. Messages that
    /// match it wait for async_receive. The subscription is restored after a
    /// reconnect without a kept session.
    template <class Token>
    auto async_subscribe(std::string filter, subscribe_options opts, Token&& token) {
        return async_subscribe(std::move(filter), std::move(opts), message_callback{},
                               std::forward<Token>(token));
    }

    /// Subscribes and routes each matching message to `on_message` (called on
    /// the client's strand with views valid during the call): by Subscription
    /// Identifier in MQTT 5 when the broker supports them, else by topic filter.
    template <class Token>
    auto async_subscribe(std::string filter, subscribe_options opts, message_callback on_message,
                         Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::vector<suback_reason_code>)>(
            [this](auto handler, std::string f, subscribe_options o, message_callback cb) {
                detail::completion<std::vector<suback_reason_code>> done(std::move(handler));
                const auto serial = next_serial();
                watch_cancel(done, op_kind::subscribe, serial);
                strand_.dispatch(guard([this, d = std::move(done), serial, f = std::move(f),
                                        o = std::move(o), cb = std::move(cb)]() mutable {
                    const auto index =
                        remember_subscription(std::move(f), std::move(o), std::move(cb));
                    send_subscribe({serial, index, std::move(d)});
                }));
            },
            token, std::move(filter), std::move(opts), std::move(on_message));
    }

    /// Unsubscribes; completes with the UNSUBACK's reason codes (MQTT 5; none
    /// in 3.1.1). The subscription is no longer restored after reconnects.
    /// While disconnected it waits: after a reconnect that kept the session
    /// UNSUBSCRIBE is sent; without one the subscription is gone already.
    template <class Token>
    auto async_unsubscribe(std::string filter, Token&& token) {
        return async_unsubscribe(std::move(filter), unsubscribe_options{},
                                 std::forward<Token>(token));
    }
    template <class Token>
    auto async_unsubscribe(std::string filter, unsubscribe_options opts, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::vector<unsuback_reason_code>)>(
            [this](auto handler, std::string f, unsubscribe_options o) {
                detail::completion<std::vector<unsuback_reason_code>> done(std::move(handler));
                const auto serial = next_serial();
                watch_cancel(done, op_kind::unsubscribe, serial);
                strand_.dispatch(guard([this, d = std::move(done), serial, f = std::move(f),
                                        o = std::move(o)]() mutable {
                    forget_subscription(f);
                    send_unsubscribe({serial, 0, std::move(f), std::move(o), std::move(d)});
                }));
            },
            token, std::move(filter), std::move(opts));
    }

    /// Waits for the next message no subscription callback took.
    template <class Token>
    auto async_receive(Token&& token) {
        return asio::async_initiate<Token, void(error_code, message)>(
            [this](auto handler) {
                receiver r;
                r.by_value = detail::completion<message>(std::move(handler));
                r.serial = next_serial();
                watch_cancel(r.by_value, op_kind::receive, r.serial);
                strand_.dispatch(guard([this, r = std::move(r)]() mutable {
                    receivers_.push_back(std::move(r));
                    deliver();
                }));
            },
            token);
    }

    /// Waits for the next message and moves it into `into`, whose buffers
    /// the client keeps for later messages: a loop receiving into the same
    /// message allocates nothing. `into` must outlive the operation.
    template <class Token>
    auto async_receive(message& into, Token&& token) {
        return asio::async_initiate<Token, void(error_code)>(
            [this](auto handler, message* target) {
                receiver r;
                r.into = target;
                r.into_done = detail::completion<>(std::move(handler));
                r.serial = next_serial();
                watch_cancel(r.into_done, op_kind::receive, r.serial);
                strand_.dispatch(guard([this, r = std::move(r)]() mutable {
                    receivers_.push_back(std::move(r));
                    deliver();
                }));
            },
            token, &into);
    }

    /// Sends DISCONNECT (with `reason` in MQTT 5), closes the connection and
    /// stops reconnecting. Operations still waiting complete with
    /// client_errc::disconnected.
    /// `how` carries the reason code and, in MQTT 5, a Session Expiry
    /// Interval, a Reason String and User Properties.
    template <class Token>
    auto async_disconnect(Token&& token) {
        return async_disconnect(disconnect_options{}, std::forward<Token>(token));
    }
    template <class Token>
    auto async_disconnect(disconnect_options how, Token&& token) {
        return asio::async_initiate<Token, void(error_code)>(
            [this](auto handler, disconnect_options h) {
                detail::completion<> done(std::move(handler));
                strand_.dispatch(guard([this, d = std::move(done), h = std::move(h)]() mutable {
                    begin_disconnect(h, std::move(d));
                }));
            },
            token, std::move(how));
    }

    /// Re-authenticates (MQTT 5 §4.12.1) with client_options::auth; completes
    /// when the broker answered AUTH 0x00 Success (or with the error that
    /// ended the exchange).
    template <class Token>
    auto async_auth(Token&& token) {
        return asio::async_initiate<Token, void(error_code)>(
            [this](auto handler) {
                detail::completion<> done(std::move(handler));
                strand_.dispatch(guard([this, d = std::move(done)]() mutable {
                    if (!options_.auth)
                        return d.complete(io_executor_,
                                          make_error_code(client_errc::no_authenticator));
                    if (auth_waiter_)
                        return d.complete(io_executor_,
                                          make_error_code(asio::error::already_started));
                    if (auto ec = session_->reauthenticate(now()))
                        return d.complete(io_executor_, ec);
                    auth_waiter_ = std::move(d);
                    flush();
                }));
            },
            token);
    }

    /// Closes the transport without DISCONNECT, as a crash or a network
    /// failure would: the broker publishes the will (if any). Then the client
    /// carries on as after any lost connection: it reconnects by the
    /// reconnect_delays schedule (never if empty) and resumes its session.
    void abort_connection() {
        strand_.dispatch(guard([this] {
            if (!transport_open_)
                return;
            if (session_->current_state() != session::state::disconnected)
                session_->connection_lost();
            if (connecting_)
                return attempt_failed(make_error_code(session_errc::connection_lost));
            finish_close();
        }));
    }

private:
    // ------------------------------------------------------------ operation records

    enum class op_kind : std::uint8_t { connect, publish, subscribe, unsubscribe, receive };

    // A message waiting in the queue, with its operation.
    struct publish_op {
        message msg;
        detail::completion<> done;
        std::uint64_t serial = 0;
        bool cancelled = false; ///< skipped when its turn comes
    };

    struct waiter {
        std::uint64_t serial = 0;
        detail::completion<> done;
    };

    struct subscribe_waiter {
        std::uint64_t serial = 0;
        std::size_t index = 0;                                    ///< in subscriptions_
        detail::completion<std::vector<suback_reason_code>> done; ///< empty for a restore
        std::uint16_t packet_id = 0;
    };

    struct unsubscribe_waiter {
        std::uint64_t serial = 0;
        std::uint16_t packet_id = 0;
        std::string filter;
        unsubscribe_options options;
        detail::completion<std::vector<unsuback_reason_code>> done;
    };

    struct receiver {
        std::uint64_t serial = 0;
        detail::completion<message> by_value;
        message* into = nullptr;
        detail::completion<> into_done;
        bool cancelled() const noexcept { return !by_value && !into_done; }
    };

    struct stored_subscription {
        std::string filter;
        subscribe_options options;
        message_callback on_message;
        bool active = false;
    };

    // ------------------------------------------------------------ helpers

    // Wraps an internal handler so that it does nothing once the client is gone.
    template <class F>
    auto guard(F f) {
        return [alive = alive_, f = std::move(f)](auto&&... args) mutable {
            if (*alive)
                f(std::forward<decltype(args)>(args)...);
        };
    }

    // guard(f) with its operation's memory taken from `m` (see handler_memory).
    template <class F>
    auto with_memory(const std::shared_ptr<detail::handler_memory>& m, F f) {
        return asio::bind_allocator(detail::handler_allocator<int>(m), guard(std::move(f)));
    }

    // Waits on one of the client's timers (not the keep-alive one: that one
    // runs for every connection and has memory of its own).
    template <class Duration, class F>
    void wait(Timer& timer, Duration d, F f) {
        timer.expires_after(d);
        strand_.bind(guard(std::move(f)), [&timer](auto h) { timer.async_wait(std::move(h)); });
    }

    std::uint64_t next_serial() noexcept {
        return serial_.fetch_add(1, std::memory_order_relaxed) + 1;
    }

    // Connects the operation's cancellation slot (if any) to the client.
    template <class Completion>
    void watch_cancel(Completion& c, op_kind kind, std::uint64_t serial) {
        auto slot = c.cancellation_slot();
        if (slot.is_connected())
            slot.template emplace<canceller>(this, kind, serial);
    }

    struct canceller {
        basic_client* owner;
        op_kind kind;
        std::uint64_t serial;
        canceller(basic_client* c, op_kind k, std::uint64_t s) : owner(c), kind(k), serial(s) {}
        void operator()(asio::cancellation_type) const {
            auto* c = owner;
            auto k = kind;
            auto s = serial;
            c->strand_.dispatch(c->guard([c, k, s] { c->cancel(k, s); }));
        }
    };

    void notify(connection_state::kind what, std::error_code ec = {},
                std::chrono::milliseconds retry_in = {}, bool session_present = false) {
        if (!options_.on_state)
            return;
        connection_state s;
        s.what = what;
        s.error = ec;
        s.retry_in = retry_in;
        s.session_present = session_present;
        s.broker = current_broker();
        if (what == connection_state::kind::connected) {
            s.limits = session_->limits();
            s.response_information = connack_response_information_;
            s.user_properties = connack_user_properties_;
        }
        options_.on_state(s);
    }

    static session_time now() { return session_clock::now(); }

    // ------------------------------------------------------------ the session

    struct handler_bridge final : session_handler {
        basic_client* owner = nullptr;
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
        void on_server_disconnect(const disconnect& d) override { owner->on_server_disconnect(d); }
        void on_reauthenticated(std::error_code ec) override { owner->on_reauthenticated(ec); }
        void on_stored(std::uint16_t id, bool pubrel, bytes_view packet) override {
            owner->store_.stored(id, pubrel, packet);
        }
        void on_released(std::uint16_t id) override { owner->store_.released(id); }
        void on_inbound_qos2(std::uint16_t id, bool awaiting_pubrel) override {
            owner->store_.inbound_qos2(id, awaiting_pubrel);
        }
    };

    void make_session() {
        session::options o;
        o.version = version_;
        o.connect.client_id = options_.client_id;
        o.connect.keep_alive = options_.keep_alive;
        o.connect.clean_start = options_.clean_start;
        if (options_.user_name)
            o.connect.user_name = *options_.user_name;
        if (options_.password)
            o.connect.password = as_bytes(*options_.password);
        o.receive_maximum = options_.receive_maximum;
        o.maximum_packet_size = options_.maximum_packet_size;
        o.topic_alias_maximum = options_.topic_alias_maximum;
        o.outbound_topic_aliases = options_.topic_aliases;
        if (version_ == protocol_version::v5) {
            o.auth = options_.auth;
            auto& props = o.connect.properties;
            if (options_.session_expiry_interval != 0)
                props.set<property_id::session_expiry_interval>(options_.session_expiry_interval);
            if (options_.request_response_information)
                props.set<property_id::request_response_information>(std::uint8_t{1});
            if (options_.request_problem_information)
                props.set<property_id::request_problem_information>(
                    static_cast<std::uint8_t>(*options_.request_problem_information ? 1 : 0));
            connect_user_properties_.clear();
            for (const auto& [k, v] : options_.connect_user_properties)
                connect_user_properties_.push_back({k, v});
            if (!connect_user_properties_.empty())
                props.set<property_id::user_property>(
                    std::span<const string_pair>{connect_user_properties_});
        }
        if (options_.will) {
            const auto& w = *options_.will;
            auto& will = o.connect.will.emplace(); // filled in place: no copy of a half-set will
            will.topic = w.topic;
            will.payload = w.payload;
            will.qos = w.qos;
            will.retain = w.retain;
            if (version_ == protocol_version::v5) {
                if (options_.will_delay_interval != 0)
                    will.properties.set<property_id::will_delay_interval>(
                        options_.will_delay_interval);
                set_message_properties(w, will.properties, will_user_properties_);
            }
        }
        session_.reset();
        session_.emplace(std::move(o), handler_);
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
        if (m.payload_is_utf8)
            props.template set<property_id::payload_format_indicator>(std::uint8_t{1});
    }

    // Sets `props`' User Properties to views of `from` (through
    // scratch_user_properties_: valid until its next use).
    template <class Properties>
    void set_user_properties(const std::vector<std::pair<std::string, std::string>>& from,
                             Properties& props) {
        scratch_user_properties_.clear();
        for (const auto& [k, v] : from)
            scratch_user_properties_.push_back({k, v});
        if (!scratch_user_properties_.empty())
            props.template set<property_id::user_property>(
                std::span<const string_pair>{scratch_user_properties_});
    }

    // Whether the broker keeps our session after the connection ends: then
    // reconnects resume it (clean start 0).
    bool persistent_session() const noexcept {
        return version_ == protocol_version::v5 ? options_.session_expiry_interval != 0
                                                : !options_.clean_start;
    }

    // ------------------------------------------------------------ connecting

    const broker_address& current_broker() const noexcept {
        return redirect_ ? *redirect_ : options_.brokers[broker_index_];
    }

    void start_connection() {
        connecting_ = true;
        reconnect_pending_ = false;
        transport_open_ = true;
        const auto attempt = ++attempt_serial_;
        strand_.bind(guard([this, attempt](error_code ec) {
                         if (attempt != attempt_serial_ || !connecting_)
                             return; // an attempt that timed out or was aborted
                         if (ec)
                             return attempt_failed(ec);
                         begin_session();
                     }),
                     [this](auto h) { transport_.async_open(current_broker(), std::move(h)); });
        wait(connect_timer_, options_.connect_timeout, [this, attempt](error_code ec) {
            if (!ec && connecting_ && attempt == attempt_serial_)
                attempt_failed(make_error_code(client_errc::connect_timeout));
        });
    }

    void begin_session() {
        recent_ = now();
        if (auto ec = session_->connect(recent_))
            return attempt_failed(ec);
        flush();
        read();
    }

    void attempt_failed(std::error_code ec) {
        if (!connecting_)
            return;
        connecting_ = false;
        connect_timer_.cancel();
        close_transport();
        if (session_->current_state() != session::state::disconnected)
            session_->connection_lost();
        last_error_ = ec;
        schedule_reconnect(false);
    }

    // After an attempt failed or a connection ended: the next broker, when
    // to try it, or give up.
    void schedule_reconnect(bool was_connected) {
        if (!wanted_ || (options_.reconnect_delays.empty() && !next_redirect_)) {
            // No connection will come back: nothing may wait for one forever.
            return give_up(last_error_ ? last_error_
                                       : make_error_code(session_errc::connection_lost));
        }
        std::chrono::milliseconds delay{0};
        if (next_redirect_) {
            redirect_ = std::move(next_redirect_);
            next_redirect_.reset();
        } else {
            redirect_.reset();
            const auto n = options_.brokers.size();
            if (was_connected)
                tried_in_round_ = 0;
            if (n > 1 && ++tried_in_round_ < n) {
                broker_index_ = (broker_index_ + 1) % n; // fail over at once
            } else {
                tried_in_round_ = 0;
                if (n > 1)
                    broker_index_ = (broker_index_ + 1) % n;
                delay = backoff();
            }
        }
        notify(connection_state::kind::retrying, last_error_, delay);
        reconnect_pending_ = true;
        wait(reconnect_timer_, delay, [this](error_code ec) {
            if (ec || !reconnect_pending_)
                return;
            reconnect_pending_ = false;
            if (wanted_ && !connecting_ &&
                session_->current_state() == session::state::disconnected)
                start_connection();
        });
    }

    std::chrono::milliseconds backoff() {
        const auto& d = options_.reconnect_delays;
        auto delay = d[std::min(attempt_, d.size() - 1)];
        ++attempt_;
        if (options_.reconnect_jitter > 0) {
            const double j = std::min(options_.reconnect_jitter, 1.0);
            std::uniform_real_distribution<double> spread(1.0 - j, 1.0 + j);
            delay = std::chrono::milliseconds{
                static_cast<std::int64_t>(static_cast<double>(delay.count()) * spread(random_))};
        }
        return delay;
    }

    void give_up(std::error_code ec) {
        reconnect_pending_ = false;
        given_up_ = ec;
        notify(connection_state::kind::gave_up, ec);
        shutdown(ec);
    }

    void fail_connect_waiters(std::error_code ec) {
        auto waiters = std::move(connect_waiters_);
        connect_waiters_.clear();
        for (auto& w : waiters)
            w.done.complete(io_executor_, ec);
    }

    // Refusals that another attempt would meet again.
    bool permanent_refusal(const connack& ack) const noexcept {
        if (version_ == protocol_version::v5) {
            switch (ack.reason_code.value()) {
            case 0x84: // unsupported protocol version (without fallback)
            case 0x85: // client identifier not valid
            case 0x86: // bad user name or password
            case 0x87: // not authorized
            case 0x8A: // banned
            case 0x8C: // bad authentication method
                return true;
            default: return false;
            }
        }
        switch (ack.return_code) {
        case connect_return_code::unacceptable_protocol_version:
        case connect_return_code::identifier_rejected:
        case connect_return_code::bad_user_name_or_password:
        case connect_return_code::not_authorized: return true;
        default: return false;
        }
    }

    void on_connack(const connack& ack, std::error_code ec) {
        if (ec) {
            // The session closes next (on_closed ends the attempt); here: what comes after.
            if (version_ == protocol_version::v5 && options_.fallback_to_v311 &&
                refused_version(ack, ec) && session_->publishes_in_flight() == 0) {
                // The broker does not speak MQTT 5: the same connection in 3.1.1, at once.
                version_ = protocol_version::v3_1_1;
                fallback_pending_ = true;
            } else if (version_ == protocol_version::v5 && is_redirect(ack.reason_code.value())) {
                plan_redirect(ack.reason_code.value(),
                              ack.properties.get<property_id::server_reference>());
            } else if (permanent_refusal(ack)) {
                wanted_ = false;
            }
            return;
        }
        connecting_ = false;
        connect_timer_.cancel();
        connack_response_information_.reset();
        connack_user_properties_.clear();
        if (version_ == protocol_version::v5) {
            if (auto r = ack.properties.get<property_id::response_information>())
                connack_response_information_.emplace(*r);
            for (auto up : ack.properties.get<property_id::user_property>())
                connack_user_properties_.emplace_back(std::string{up.name}, std::string{up.value});
        }
        attempt_ = 0;
        tried_in_round_ = 0;
        redirects_in_row_ = 0;
        connected_.store(true, std::memory_order_release);
        notify(connection_state::kind::connected, {}, {}, ack.session_present);
        // The first CONNECT used the configured clean start; later ones resume the session.
        if (persistent_session())
            session_->set_clean_start(false);
        restore_subscriptions(ack.session_present);
        drain_queue();
        fail_connect_waiters({});
        arm_keep_alive();
        flush();
    }

    static bool refused_version(const connack& ack, std::error_code ec) {
        return ack.reason_code.value() == 0x84 ||
               ec == make_error_code(
                         session_errc::connection_refused_v3,
                         static_cast<unsigned>(connect_return_code::unacceptable_protocol_version));
    }

    static bool is_redirect(std::uint8_t code) noexcept { return code == 0x9C || code == 0x9D; }

    // MQTT 5 §4.11: 0x9C use another server (this time), 0x9D server moved (for good).
    void plan_redirect(std::uint8_t code, std::optional<std::string_view> reference) {
        if (!options_.follow_redirects)
            return;
        if (++redirects_in_row_ > options_.redirect_limit) {
            wanted_ = false;
            redirect_error_ = make_error_code(client_errc::too_many_redirects);
            return;
        }
        std::optional<broker_address> target;
        if (reference) {
            // "host[:port]", possibly several separated by spaces: the first one.
            auto first = reference->substr(0, reference->find(' '));
            target = broker_address::parse(first, current_broker().port);
        }
        if (!target) { // sent away without an address: coming back here would meet the same
            wanted_ = false;
            redirect_error_ = make_error_code(client_errc::bad_server_reference);
            return;
        }
        if (code == 0x9D) // for good: later reconnects go there too
            options_.brokers[broker_index_] = *target;
        next_redirect_ = std::move(target); // the next attempt, at once
    }

    void on_server_disconnect(const disconnect& d) {
        if (is_redirect(d.reason_code.value()))
            plan_redirect(d.reason_code.value(), d.properties.get<property_id::server_reference>());
    }

    void on_reauthenticated(std::error_code ec) {
        if (auth_waiter_)
            std::exchange(auth_waiter_, {}).complete(io_executor_, ec);
    }

    // ------------------------------------------------------------ I/O loops

    void read() {
        if (reading_ || read_paused_)
            return;
        reading_ = true;
        strand_.bind(with_memory(read_memory_,
                                 [this](error_code ec, std::size_t n) {
                                     reading_ = false;
                                     if (ec)
                                         return connection_broken(ec);
                                     recent_ = now();
                                     session_->receive(bytes_view{read_buffer_.data(), n}, recent_);
                                     if (drain_wanted_)
                                         drain_queue();
                                     flush();
                                     if (transport_open_ &&
                                         session_->current_state() != session::state::disconnected)
                                         read();
                                 }),
                     [this](auto h) {
                         transport_.async_read_some(asio::buffer(read_buffer_), std::move(h));
                     });
    }

    void flush() {
        if (writing_ || !transport_open_)
            return;
        if (session_->output().empty()) {
            if (session_->current_state() == session::state::closing ||
                session_->current_state() == session::state::disconnected)
                finish_close();
            return;
        }
        // The bytes being written must not move: the session keeps appending
        // (and may reallocate) its own buffer meanwhile, so take them out of it.
        // Everything pending goes in one write (batching).
        session_->take_output(write_buffer_);
        writing_ = true;
        waiters_in_write_ = write_waiters_.size(); // their bytes are all in this write
        strand_.bind(
            with_memory(write_memory_,
                        [this](error_code ec, std::size_t) {
                            writing_ = false;
                            if (ec)
                                return connection_broken(ec);
                            recent_ = now();
                            for (; waiters_in_write_ != 0; --waiters_in_write_) {
                                complete_later(std::move(write_waiters_.front().done), {});
                                write_waiters_.drop_front();
                            }
                            flush();
                        }),
            [this](auto h) { transport_.async_write(asio::buffer(write_buffer_), std::move(h)); });
    }

    void arm_keep_alive() {
        auto deadline = session_->deadline();
        if (!deadline)
            return;
        if constexpr (std::is_same_v<typename Timer::clock_type, session_clock>)
            keep_alive_timer_.expires_at(*deadline);
        else // a timer on another clock: the same span from its own now
            keep_alive_timer_.expires_after(*deadline - now());
        strand_.bind(with_memory(timer_memory_,
                                 [this](error_code ec) {
                                     if (ec)
                                         return;
                                     recent_ = now();
                                     session_->on_timer(recent_);
                                     flush();
                                     arm_keep_alive();
                                 }),
                     [this](auto h) { keep_alive_timer_.async_wait(std::move(h)); });
    }

    // Bytes handed to the connection and not yet written.
    std::size_t unwritten_bytes() const noexcept {
        return session_->output().size() + (writing_ ? write_buffer_.size() : 0);
    }

    void connection_broken(std::error_code ec) {
        if (!transport_open_)
            return;
        if (connecting_)
            return attempt_failed(ec);
        transport_error_ = ec; // said instead of the session's "connection lost"
        finish_close();
    }

    void close_transport() {
        transport_open_ = false;
        transport_.close();
        keep_alive_timer_.cancel();
        read_paused_ = false;
    }

    // The session ended the connection (or the transport did). What the
    // session still has to say (a DISCONNECT with the reason) is written
    // first: flush() then calls finish_close().
    void on_closed(std::error_code ec) {
        const bool was_up = connected_.exchange(false, std::memory_order_acq_rel);
        last_error_ = redirect_error_    ? std::exchange(redirect_error_, {})
                      : transport_error_ ? std::exchange(transport_error_, {})
                                         : ec;
        closed_while_connected_ = was_up;
        if (was_up && !disconnect_waiter_)
            notify(connection_state::kind::lost, last_error_);
        // QoS 0 publishes waiting for their write: it will not happen.
        waiters_in_write_ = 0;
        for (; !write_waiters_.empty(); write_waiters_.drop_front())
            complete_later(std::move(write_waiters_.front().done),
                           last_error_ ? last_error_ : make_error_code(client_errc::disconnected));
        if (auth_waiter_)
            std::exchange(auth_waiter_, {}).complete(io_executor_, last_error_);
        // UNSUBACKs will not come: whether the broker acted is unknown, so the
        // UNSUBSCRIBE is sent again after a reconnect that keeps the session.
        for (auto& w : unsubscribe_waiters_)
            pending_unsubscribes_.push_back(std::move(w));
        unsubscribe_waiters_.clear();
        // SUBACKs will not come either (the session does not resend SUBSCRIBE): sent again
        // once connected.
        for (auto& w : subscribe_waiters_)
            pending_subscribes_.push_back(std::move(w));
        subscribe_waiters_.clear();
        if (connecting_) { // refused, or a protocol violation before CONNACK
            connecting_ = false;
            connect_timer_.cancel();
        }
    }

    void finish_close() {
        if (!transport_open_)
            return;
        close_transport();
        // After our DISCONNECT the session waits in "closing": the connection is over now,
        // and a later async_connect must find the session disconnected.
        if (session_->current_state() != session::state::disconnected)
            session_->connection_lost();
        if (disconnect_waiter_) {
            auto w = std::move(disconnect_waiter_);
            disconnect_timer_active_ = false;
            connect_timer_.cancel();
            notify(connection_state::kind::gave_up, make_error_code(client_errc::disconnected));
            shutdown(make_error_code(client_errc::disconnected));
            w.complete(io_executor_, {});
            return;
        }
        if (fallback_pending_ && wanted_) {
            fallback_pending_ = false;
            make_session();
            // The store hands its state to the new session (and learns its version).
            if (auto ec = store_.restore(*session_))
                return give_up(ec);
            return start_connection();
        }
        schedule_reconnect(closed_while_connected_);
    }

    void begin_disconnect(const disconnect_options& how, detail::completion<> done) {
        if (version_ == protocol_version::v5 && how.session_expiry_interval &&
            *how.session_expiry_interval != 0 && options_.session_expiry_interval == 0)
            return done.complete(io_executor_,
                                 make_error_code(client_errc::session_expiry_not_allowed));
        const bool trying = wanted_; // connecting, or waiting to reconnect
        wanted_ = false;
        reconnect_pending_ = false;
        reconnect_timer_.cancel();
        if (session_->current_state() == session::state::connected) {
            disconnect_properties props;
            if (version_ == protocol_version::v5) {
                if (how.session_expiry_interval)
                    props.set<property_id::session_expiry_interval>(*how.session_expiry_interval);
                if (how.reason_string)
                    props.set<property_id::reason_string>(std::string_view{*how.reason_string});
                set_user_properties(how.user_properties, props);
            }
            (void)session_->disconnect(how.reason, props);
            disconnect_waiter_ = std::move(done);
            // A broker that stops reading must not keep us waiting forever.
            disconnect_timer_active_ = true;
            wait(connect_timer_, options_.connect_timeout, [this](error_code ec) {
                if (!ec && disconnect_timer_active_)
                    finish_close();
            });
            flush();
            return;
        }
        if (connecting_) {
            connecting_ = false;
            connect_timer_.cancel();
            close_transport();
            if (session_->current_state() != session::state::disconnected)
                session_->connection_lost();
        }
        connected_.store(false, std::memory_order_release);
        if (trying)
            notify(connection_state::kind::gave_up, make_error_code(client_errc::disconnected));
        shutdown(make_error_code(client_errc::disconnected));
        done.complete(io_executor_, {});
    }

    // Ends everything the user waits for (async_disconnect, giving up).
    void shutdown(std::error_code ec) {
        wanted_ = false;
        take_intake();
        fail_connect_waiters(ec);
        for (auto& e : in_flight_)
            e.done.complete(io_executor_, ec);
        waiters_in_write_ = 0;
        for (; !write_waiters_.empty(); write_waiters_.drop_front())
            write_waiters_.front().done.complete(io_executor_, ec);
        while (!queue_.empty())
            finish_publish(queue_.pop_front(), ec);
        queued_messages_ = 0;
        queued_bytes_ = 0;
        for (auto& w : subscribe_waiters_)
            w.done.complete(io_executor_, ec, {});
        subscribe_waiters_.clear();
        for (auto& w : pending_subscribes_)
            w.done.complete(io_executor_, ec, {});
        pending_subscribes_.clear();
        for (auto& w : unsubscribe_waiters_)
            w.done.complete(io_executor_, ec, {});
        unsubscribe_waiters_.clear();
        for (auto& w : pending_unsubscribes_)
            w.done.complete(io_executor_, ec, {});
        pending_unsubscribes_.clear();
        while (!receivers_.empty()) {
            auto r = receivers_.pop_front();
            r.by_value.complete(io_executor_, ec, message{});
            r.into_done.complete(io_executor_, ec);
        }
        if (auth_waiter_)
            std::exchange(auth_waiter_, {}).complete(io_executor_, ec);
    }

    // ------------------------------------------------------------ cancellation

    void cancel(op_kind kind, std::uint64_t serial) {
        const auto aborted = make_error_code(asio::error::operation_aborted);
        switch (kind) {
        case op_kind::connect: {
            for (auto it = connect_waiters_.begin(); it != connect_waiters_.end(); ++it) {
                if (it->serial == serial) {
                    auto d = std::move(it->done);
                    connect_waiters_.erase(it);
                    d.complete(io_executor_, aborted);
                    break;
                }
            }
            // Nobody waits for a connection that is not up: stop trying.
            if (connect_waiters_.empty() && !connected() && wanted_) {
                reconnect_timer_.cancel();
                if (connecting_) {
                    connecting_ = false;
                    connect_timer_.cancel();
                    close_transport();
                    if (session_->current_state() != session::state::disconnected)
                        session_->connection_lost();
                }
                give_up(aborted);
            }
            return;
        }
        case op_kind::publish: return cancel_publish(serial, aborted);
        case op_kind::subscribe:
            for (auto* list : {&subscribe_waiters_, &pending_subscribes_})
                for (auto& w : *list)
                    if (w.serial == serial)
                        w.done.complete(io_executor_, aborted, {});
            return;
        case op_kind::unsubscribe:
            for (auto* list : {&unsubscribe_waiters_, &pending_unsubscribes_})
                for (auto& w : *list)
                    if (w.serial == serial)
                        w.done.complete(io_executor_, aborted, {});
            return;
        case op_kind::receive:
            for (std::size_t i = 0; i < receivers_.size(); ++i) {
                auto& r = receivers_[i];
                if (r.serial == serial) {
                    r.by_value.complete(io_executor_, aborted, message{});
                    r.into_done.complete(io_executor_, aborted);
                }
            }
            return;
        }
    }

    void cancel_publish(std::uint64_t serial, std::error_code aborted) {
        take_intake(); // the operation may still wait there
        // In flight: the message may still arrive; its acknowledgement is then ignored.
        for (auto& e : in_flight_) {
            if (e.done && e.serial == serial) {
                complete_later(std::move(e.done), aborted);
                return;
            }
        }
        for (std::size_t i = 0; i < queue_.size(); ++i) {
            auto* op = queue_[i];
            if (op->serial == serial && !op->cancelled) {
                op->cancelled = true;
                unqueue_counts(*op);
                op->done.complete(io_executor_, aborted);
                return;
            }
        }
    }

    // ------------------------------------------------------------ publishing

    publish_op* acquire_publish_op() {
        std::lock_guard lock(pool_lock_);
        if (publish_pool_.empty()) {
            publish_ops_.push_back(std::make_unique<publish_op>()); // owned for life
            publish_pool_.push_back(publish_ops_.back().get());
        }
        auto* op = publish_pool_.back();
        publish_pool_.pop_back();
        op->serial = next_serial();
        op->cancelled = false;
        return op;
    }

    void release(publish_op* op) {
        op->done.reset();
        std::lock_guard lock(pool_lock_);
        publish_pool_.push_back(op);
    }

    void finish_publish(publish_op* op, std::error_code ec) {
        complete_later(std::move(op->done), ec);
        release(op);
    }

    // Completions of void(error_code) operations, the frequent ones (publish,
    // receive into a message), run in batches: one handler queued on the
    // strand runs every completion that was ready when it started, so a
    // thousand publishes finishing together cost one post, not a thousand.
    struct ready_completion {
        detail::completion<> done;
        std::error_code ec;
    };

    void complete_later(detail::completion<>&& done, std::error_code ec) {
        if (!done)
            return;
        auto& slot = ready_.push_back_slot();
        slot.done = std::move(done);
        slot.ec = ec;
        if (!ready_posted_) {
            ready_posted_ = true;
            strand_.post(with_memory(ready_memory_, [this] { run_ready(); }));
        }
    }

    void run_ready() {
        ready_posted_ = false;
        // Only those ready now: handlers that start operations queue theirs for the next
        // round, so I/O gets its turn in between.
        // Each runs in its slot (invoke() moves the handler out before calling
        // it, so a handler that queues more, even growing the ring, is safe).
        for (auto n = ready_.size(); n != 0; --n) {
            auto& r = ready_.front();
            r.done.invoke(r.ec);
            ready_.drop_front();
        }
    }

    // Publishes keep the order of the async_publish calls, from any thread:
    // one started off the strand waits in the intake, and one started on the
    // strand first takes in everything waiting there.
    void start_publish(publish_op* op, detail::completion<> done) {
        op->done = std::move(done);
        watch_cancel(op->done, op_kind::publish, op->serial);
        if (strand_.running_in_this_thread()) {
            take_intake();
            return submit(op);
        }
        bool post = false;
        {
            std::lock_guard lock(pool_lock_);
            intake_.push_back(op);
            post = !intake_waiting_.exchange(true, std::memory_order_acq_rel);
        }
        if (post) // one post for every publish that arrives before the strand takes them
            strand_.post(with_memory(intake_memory_, [this] { take_intake(); }));
    }

    void take_intake() {
        if (!intake_waiting_.load(std::memory_order_acquire))
            return;
        {
            std::lock_guard lock(pool_lock_);
            intake_.swap(intake_taken_); // both keep their capacity
            intake_waiting_.store(false, std::memory_order_release);
        }
        for (auto* op : intake_taken_)
            submit(op);
        intake_taken_.clear();
    }

    static std::size_t queued_size(const publish_op& op) noexcept {
        return op.msg.topic.size() + op.msg.payload.size();
    }
    void unqueue_counts(const publish_op& op) noexcept {
        --queued_messages_;
        queued_bytes_ -= queued_size(op);
    }

    // Messages wait in the queue while disconnected, and while connected when
    // the server's Receive Maximum is used up (until an acknowledgement frees
    // a place); they leave it in order.
    void submit(publish_op* op) {
        if (given_up_) // no connection will come back until async_connect
            return finish_publish(op, given_up_);
        if (session_->current_state() != session::state::connected || queued_messages_ != 0)
            return enqueue(op);
        if (!send(op))
            enqueue(op);
    }

    void enqueue(publish_op* op) {
        const auto size = queued_size(*op);
        if (size > options_.offline_queue_bytes)
            return finish_publish(op, make_error_code(client_errc::message_too_large));
        while (queued_messages_ >= options_.offline_queue_messages ||
               queued_bytes_ + size > options_.offline_queue_bytes) {
            if (options_.offline_overflow != overflow_policy::drop_oldest_qos0 ||
                !drop_oldest_qos0())
                return finish_publish(op, make_error_code(client_errc::offline_queue_full));
        }
        queue_.push_back(op);
        ++queued_messages_;
        queued_bytes_ += size;
    }

    bool drop_oldest_qos0() {
        for (std::size_t i = 0; i < queue_.size(); ++i) {
            auto* op = queue_[i];
            if (!op->cancelled && op->msg.qos == qos::at_most_once) {
                op->cancelled = true;
                unqueue_counts(*op);
                op->done.complete(io_executor_, make_error_code(client_errc::dropped_from_queue));
                return true;
            }
        }
        return false;
    }

    // A message with its MQTT 5 properties from `props` (may be null), as
    // views: valid while the message's storage and scratch_user_properties_ are.
    publish make_publish(const message* props, std::string_view topic, bytes_view payload,
                         ctmqtt::qos q, bool retain) {
        publish p;
        p.topic = topic;
        p.payload = payload;
        p.qos = q;
        p.retain = retain;
        if (props && version_ == protocol_version::v5)
            set_message_properties(*props, p.properties, scratch_user_properties_);
        return p;
    }

    // Hands a PUBLISH to the session. False when the send quota is used up:
    // nothing was sent and `done` is untouched.
    bool send_publish(const publish& p, detail::completion<>& done, std::uint64_t serial) {
        // A QoS 0 message needs the time only for the keep-alive (when the
        // last packet went out): the time of the last I/O event does, and
        // saves reading the clock per message. An earlier time can only bring
        // a PINGREQ forward. QoS 1/2 messages need it for Message Expiry.
        auto id = session_->publish(p, p.qos == qos::at_most_once ? recent_ : now());
        if (!id) {
            if (id.error() == make_error_code(session_errc::send_quota_exhausted))
                return false;
            complete_later(std::move(done), id.error());
            return true;
        }
        if (*id == 0) {
            if (unwritten_bytes() < options_.write_high_water)
                complete_later(std::move(done), {}); // QoS 0: handed over
            else // too much waits for the connection: done once written (backpressure)
                write_waiters_.push_back_slot().done = std::move(done);
        } else {
            if (in_flight_.size() < *id)
                in_flight_.resize(*id);
            auto& e = in_flight_[*id - 1u];
            e.done = std::move(done);
            e.serial = serial;
        }
        flush();
        return true;
    }

    // The fast path: called on the strand, connected, nothing queued before
    // it: the message goes to the session straight from the caller's views,
    // with no copy into the queue. False when it must take the queue.
    bool try_publish_now(const message* props, std::string_view topic, bytes_view payload,
                         ctmqtt::qos q, bool retain, detail::completion<>& done) {
        if (!strand_.running_in_this_thread())
            return false;
        take_intake(); // publishes called earlier from other threads go first
        if (given_up_ || queued_messages_ != 0 ||
            session_->current_state() != session::state::connected)
            return false;
        const auto serial = next_serial();
        watch_cancel(done, op_kind::publish, serial);
        return send_publish(make_publish(props, topic, payload, q, retain), done, serial);
    }

    bool send(publish_op* op) {
        const auto& m = op->msg;
        if (!send_publish(make_publish(&m, m.topic, m.payload, m.qos, m.retain), op->done,
                          op->serial))
            return false;
        release(op);
        return true;
    }

    void drain_queue() {
        drain_wanted_ = false;
        while (!queue_.empty() && session_->current_state() == session::state::connected) {
            auto* op = queue_.front();
            if (op->cancelled) {
                queue_.pop_front();
                release(op);
                continue;
            }
            const auto size = queued_size(*op); // before send() gives the op back to the pool
            if (!send(op))
                return; // the quota is used up: it stays first in line
            queue_.pop_front();
            --queued_messages_;
            queued_bytes_ -= size;
        }
    }

    void on_publish_done(std::uint16_t id, std::error_code ec) {
        drain_wanted_ = queued_messages_ != 0; // a place in the send quota is free
        // Indexed by packet identifier, like the session's slots: no search.
        if (id != 0 && id <= in_flight_.size())
            complete_later(std::move(in_flight_[id - 1u].done), ec);
    }

    // Copies a message into a pooled one, keeping its buffers' capacity, and
    // skipping the empty parts (most messages have no properties).
    static void assign(message& to, const message& from) {
        to.topic.assign(from.topic);
        to.payload.assign(from.payload.begin(), from.payload.end());
        to.qos = from.qos;
        to.retain = from.retain;
        if (!from.user_properties.empty() || !to.user_properties.empty())
            to.user_properties = from.user_properties;
        to.response_topic = from.response_topic;
        to.correlation_data = from.correlation_data;
        to.content_type = from.content_type;
        to.message_expiry_interval = from.message_expiry_interval;
        to.payload_is_utf8 = from.payload_is_utf8;
    }

    // ------------------------------------------------------------ subscribing

    std::size_t remember_subscription(std::string filter, subscribe_options opts,
                                      message_callback cb) {
        for (std::size_t i = 0; i < subscriptions_.size(); ++i) {
            auto& s = subscriptions_[i];
            if (s.filter == filter) { // the broker replaces a subscription to the same filter
                set_subscription(s, std::move(filter), std::move(opts), std::move(cb));
                return i;
            }
        }
        for (std::size_t i = 0; i < subscriptions_.size(); ++i) {
            if (!subscriptions_[i].active && !subscriptions_[i].on_message) {
                set_subscription(subscriptions_[i], std::move(filter), std::move(opts),
                                 std::move(cb));
                return i;
            }
        }
        subscriptions_.emplace_back();
        set_subscription(subscriptions_.back(), std::move(filter), std::move(opts), std::move(cb));
        return subscriptions_.size() - 1;
    }

    void set_subscription(stored_subscription& s, std::string filter, subscribe_options opts,
                          message_callback cb) {
        if (opts.subscription_identifier)
            user_subscription_ids_ = true;
        s.filter = std::move(filter);
        s.options = std::move(opts);
        s.on_message = std::move(cb);
        s.active = true;
    }

    void forget_subscription(std::string_view filter) {
        for (auto& s : subscriptions_) {
            if (s.filter == filter) {
                s.active = false;
                s.on_message = nullptr;
            }
        }
    }

    void send_subscribe(subscribe_waiter w) {
        if (session_->current_state() != session::state::connected) {
            pending_subscribes_.push_back(std::move(w)); // sent by restore_subscriptions()
            return;
        }
        const auto& s = subscriptions_[w.index];
        subscription sub;
        sub.topic_filter = s.filter;
        sub.max_qos = s.options.max_qos;
        sub.no_local = s.options.no_local;
        sub.retain_as_published = s.options.retain_as_published;
        sub.retain_handling = s.options.retain_handling;
        if (version_ != protocol_version::v5) {
            sub.no_local = false;
            sub.retain_as_published = false;
            sub.retain_handling = retain_handling::send_on_subscribe;
        }
        subscribe_properties props;
        if (version_ == protocol_version::v5) {
            // The subscription's index + 1 is its Subscription Identifier: messages
            // carry it back, and routing is an index. The user's own identifier wins.
            if (s.options.subscription_identifier)
                props.set<property_id::subscription_identifier>(*s.options.subscription_identifier);
            else if (s.on_message && session_->limits().subscription_identifier_available)
                props.set<property_id::subscription_identifier>(
                    static_cast<std::uint32_t>(w.index + 1));
            set_user_properties(s.options.user_properties, props);
        }
        auto id = session_->subscribe(std::span{&sub, 1}, props, now());
        if (!id)
            return w.done.complete(io_executor_, id.error(), {});
        w.packet_id = *id;
        subscribe_waiters_.push_back(std::move(w));
        flush();
    }

    void send_unsubscribe(unsubscribe_waiter w) {
        if (session_->current_state() != session::state::connected) {
            pending_unsubscribes_.push_back(std::move(w));
            return;
        }
        const std::string_view filters[] = {w.filter};
        unsubscribe_properties props;
        if (version_ == protocol_version::v5)
            set_user_properties(w.options.user_properties, props);
        auto id = session_->unsubscribe(filters, props, now());
        if (!id)
            return w.done.complete(io_executor_, id.error(), {});
        w.packet_id = *id;
        unsubscribe_waiters_.push_back(std::move(w));
        flush();
    }

    // After CONNACK: without a kept session every subscription is made again
    // (and pending unsubscribes are done: the subscription went with the
    // session); with one, only what was not acknowledged yet.
    void restore_subscriptions(bool session_present) {
        auto pending = std::move(pending_subscribes_);
        pending_subscribes_.clear();
        auto unsubscribes = std::move(pending_unsubscribes_);
        pending_unsubscribes_.clear();
        if (session_present) {
            for (auto& w : pending)
                send_subscribe(std::move(w));
            for (auto& w : unsubscribes)
                send_unsubscribe(std::move(w));
            return;
        }
        for (auto& w : unsubscribes)
            w.done.complete(io_executor_, {}, {});
        for (std::size_t i = 0; i < subscriptions_.size(); ++i) {
            if (!subscriptions_[i].active)
                continue;
            subscribe_waiter w;
            w.index = i;
            for (auto& p : pending) {
                if (p.index == i && p.done) {
                    w = std::move(p);
                    break;
                }
            }
            send_subscribe(std::move(w));
        }
    }

    void on_unsuback(const unsuback& ack) { complete_ack(unsubscribe_waiters_, ack); }
    void on_suback(const suback& ack) { complete_ack(subscribe_waiters_, ack); }

    // SUBACK / UNSUBACK: completes the waiter with that packet identifier
    // with the acknowledgement's reason codes.
    template <class Waiters, class Ack>
    void complete_ack(Waiters& waiters, const Ack& ack) {
        for (auto it = waiters.begin(); it != waiters.end(); ++it) {
            if (it->packet_id == ack.packet_id) {
                auto done = std::move(it->done);
                waiters.erase(it);
                using code = typename decltype(ack.reason_codes)::value_type;
                done.complete(io_executor_, {},
                              std::vector<code>(ack.reason_codes.begin(), ack.reason_codes.end()));
                return;
            }
        }
    }

    // ------------------------------------------------------------ receiving

    void on_message(const publish& p) {
        message_view v;
        v.topic = p.topic;
        v.payload = p.payload;
        v.qos = p.qos;
        v.retain = p.retain;
        v.dup = p.dup;
        v.packet_id = p.packet_id;
        if (version_ == protocol_version::v5)
            v.properties = &p.properties;
        if (route(v, p))
            return;
        auto* m = acquire_message();
        v.copy_to(*m);
        inbox_.push_back(m);
        deliver();
        if (inbox_.size() >= options_.inbox_limit)
            read_paused_ = true; // back pressure: TCP holds the rest
    }

    // To the callbacks of the matching subscriptions; false if none took it.
    bool route(const message_view& v, const publish& p) {
        bool taken = false;
        if (version_ == protocol_version::v5 && !user_subscription_ids_) {
            for (auto id : p.properties.get<property_id::subscription_identifier>()) {
                if (id != 0 && id <= subscriptions_.size()) {
                    auto& s = subscriptions_[id - 1];
                    if (s.on_message) {
                        s.on_message(v);
                        taken = true;
                    }
                }
            }
            if (taken)
                return true;
        }
        for (auto& s : subscriptions_) {
            if (!s.on_message || !s.active)
                continue;
            // Computed here, not stored: a view into s.filter would dangle when
            // subscriptions_ reallocates (short strings live inside the object).
            std::string_view filter = s.filter;
            if (auto shared = parse_shared_subscription(filter))
                filter = shared->topic_filter;
            if (topic_matches(filter, v.topic)) {
                s.on_message(v);
                taken = true;
            }
        }
        return taken;
    }

    message* acquire_message() {
        if (message_pool_.empty()) {
            messages_.push_back(std::make_unique<message>());
            return messages_.back().get();
        }
        auto* m = message_pool_.back();
        message_pool_.pop_back();
        return m;
    }

    void deliver() {
        while (!inbox_.empty() && !receivers_.empty()) {
            auto r = receivers_.pop_front();
            if (r.cancelled())
                continue;
            auto* m = inbox_.pop_front();
            if (r.into) {
                std::swap(*r.into, *m); // the user's old buffers come back to the pool
                complete_later(std::move(r.into_done), {});
            } else {
                r.by_value.complete(io_executor_, {}, std::move(*m));
            }
            message_pool_.push_back(m);
        }
        if (read_paused_ && inbox_.size() < options_.inbox_limit) {
            read_paused_ = false;
            if (transport_open_ && session_->current_state() != session::state::disconnected)
                read();
        }
    }

    // ------------------------------------------------------------ state

    client_options options_;
    detail::client_strand strand_;
    executor_type io_executor_; ///< the strand's: where handlers without an executor run
    Transport transport_;
    Timer connect_timer_; ///< connect timeout, then the DISCONNECT timeout
    Timer keep_alive_timer_;
    Timer reconnect_timer_;
    Store store_;
    handler_bridge handler_;
    std::vector<string_pair> will_user_properties_;    ///< viewed by the session's CONNECT
    std::vector<string_pair> connect_user_properties_; ///< viewed by the session's CONNECT
    protocol_version version_;                         ///< may fall back from 5.0 to 3.1.1
    std::optional<session> session_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    std::vector<std::byte> read_buffer_; ///< client_options::read_buffer_size bytes
    // On the heap and shared with the operations using them: an operation
    // cancelled by the destructor is run or destroyed after the client is gone.
    std::shared_ptr<detail::handler_memory> read_memory_ =
        std::make_shared<detail::handler_memory>();
    std::shared_ptr<detail::handler_memory> write_memory_ =
        std::make_shared<detail::handler_memory>();
    std::shared_ptr<detail::handler_memory> ready_memory_ =
        std::make_shared<detail::handler_memory>();
    std::shared_ptr<detail::handler_memory> timer_memory_ =
        std::make_shared<detail::handler_memory>();
    std::shared_ptr<detail::handler_memory> intake_memory_ =
        std::make_shared<detail::handler_memory>();
    byte_buffer write_buffer_; ///< the bytes of the write in progress
    std::vector<string_pair> scratch_user_properties_;

    std::atomic<std::uint64_t> serial_{0};
    std::atomic<bool> connected_{false};
    bool wanted_ = false;
    bool connecting_ = false;
    bool reconnect_pending_ = false;
    bool transport_open_ = false;
    bool writing_ = false;
    bool reading_ = false;
    bool read_paused_ = false;
    bool drain_wanted_ = false;
    bool fallback_pending_ = false;
    bool closed_while_connected_ = false;
    bool disconnect_timer_active_ = false;
    std::uint64_t attempt_serial_ = 0;
    std::size_t attempt_ = 0;        ///< failed attempts since the last success (backoff)
    std::size_t tried_in_round_ = 0; ///< brokers tried since the last delay
    std::size_t broker_index_ = 0;
    std::size_t redirects_in_row_ = 0;
    std::optional<broker_address> redirect_;      ///< 0x9C: the server for this connection
    std::optional<broker_address> next_redirect_; ///< 0x9C: the server for the next attempt
    std::error_code last_error_;
    session_time recent_{}; ///< when the last I/O event (read, write, timer, connect) happened

    std::optional<std::string> connack_response_information_; ///< for connection_state
    std::vector<std::pair<std::string, std::string>> connack_user_properties_;
    std::error_code transport_error_; ///< why the transport failed, for on_closed
    std::error_code redirect_error_;  ///< why a redirect was not followed, for on_closed
    std::error_code given_up_;        ///< set when no reconnect will follow: publishes fail at once
    std::minstd_rand random_;

    std::vector<waiter> connect_waiters_;
    detail::completion<> disconnect_waiter_;
    detail::completion<> auth_waiter_;
    detail::ring<ready_completion> ready_;
    /// QoS 0 publishes past write_high_water, done when their bytes are written.
    detail::ring<ready_completion> write_waiters_;
    std::size_t waiters_in_write_ = 0; ///< the first of write_waiters_, in the write under way
    bool ready_posted_ = false;

    detail::spin_lock pool_lock_; ///< guards the publish pool and the intake
    std::vector<std::unique_ptr<publish_op>> publish_ops_;
    std::vector<publish_op*> publish_pool_;
    std::vector<publish_op*> intake_;       ///< started off the strand, in call order
    std::vector<publish_op*> intake_taken_; ///< the strand's side of the swap
    std::atomic<bool> intake_waiting_{false};
    struct in_flight_entry {
        detail::completion<> done;
        std::uint64_t serial = 0; ///< the operation's, for cancellation
    };
    std::vector<in_flight_entry> in_flight_; ///< by packet identifier - 1
    detail::ring<publish_op*> queue_;
    std::size_t queued_messages_ = 0; ///< in queue_, not counting cancelled ones
    std::size_t queued_bytes_ = 0;

    std::vector<stored_subscription> subscriptions_;
    bool user_subscription_ids_ = false; ///< a subscription has its own identifier: route by filter
    std::vector<subscribe_waiter> pending_subscribes_; ///< to send once connected
    std::vector<subscribe_waiter> subscribe_waiters_;  ///< sent, waiting for SUBACK
    std::vector<unsubscribe_waiter> pending_unsubscribes_;
    std::vector<unsubscribe_waiter> unsubscribe_waiters_;

    std::vector<std::unique_ptr<message>> messages_; ///< every pooled message
    std::vector<message*> message_pool_;
    detail::ring<message*> inbox_;
    detail::ring<receiver> receivers_;
};

/// The client over TCP with the memory store.
using client = basic_client<>;

} // namespace ctmqtt
