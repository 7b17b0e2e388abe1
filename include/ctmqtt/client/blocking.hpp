// blocking_client: the client for scripts and simple programs. It runs the
// network on a thread of its own; every call blocks until done or until its
// timeout, and returns a std::error_code (std::errc::timed_out on timeout).
//
//   ctmqtt::blocking_client c(options);
//   if (auto ec = c.connect(5s)) ...
//   c.subscribe("sensors/#", qos::at_least_once, [](const message_view& m) { ... });
//   c.publish("sensors/t1", "21.5", qos::at_least_once);   // waits for PUBACK
//   c.wait_until_all_acknowledged(10s);
//   c.disconnect();
//
// Subscription callbacks run on the network thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <ctmqtt/client/client.hpp>

namespace ctmqtt {

template <class Transport = transport::tcp, class Store = store::memory>
class basic_blocking_client {
public:
    using client_type = basic_client<Transport, Store>;
    using duration = std::chrono::milliseconds;
    static constexpr duration default_timeout = std::chrono::seconds{30};

    /// Starts the network thread; connect() connects.
    explicit basic_blocking_client(client_options opts, Store store = Store{})
        : user_on_state_(std::move(opts.on_state)) {
        opts.on_state = [this](const connection_state& s) { on_state(s); };
        client_.emplace(io_.get_executor(), std::move(opts), std::move(store));
        thread_ = std::thread([this] { io_.run(); });
    }

    basic_blocking_client(const basic_blocking_client&) = delete;
    basic_blocking_client& operator=(const basic_blocking_client&) = delete;

    /// Disconnects (if connected) and stops the network thread.
    ~basic_blocking_client() {
        if (connected())
            (void)disconnect(std::chrono::seconds{2});
        work_.reset();
        io_.stop();
        if (thread_.joinable())
            thread_.join();
        // The client goes while nothing runs it.
        client_.reset();
    }

    /// Connects and waits for the CONNACK. The client then stays connected
    /// (reconnecting by itself) until disconnect().
    std::error_code connect(duration timeout = default_timeout) {
        return wait_for<>(timeout, [&](auto done) { client_->async_connect(std::move(done)); });
    }

    /// Publishes and waits until the broker acknowledged it (QoS 1/2) or it
    /// was written (QoS 0).
    std::error_code publish(std::string_view topic, std::string_view payload,
                            ctmqtt::qos q = ctmqtt::qos::at_most_once, bool retain = false,
                            duration timeout = default_timeout) {
        return wait_for<>(timeout, [&](auto done) {
            client_->async_publish(topic, payload, q, retain, std::move(done));
        });
    }
    std::error_code publish(const message& m, duration timeout = default_timeout) {
        return wait_for<>(timeout, [&](auto done) { client_->async_publish(m, std::move(done)); });
    }

    /// Publishes without waiting; wait_until_all_acknowledged() waits for
    /// every such message. Errors are counted in failed_publishes().
    void publish_async(const message& m) {
        {
            std::lock_guard lock(mutex_);
            ++unacknowledged_;
        }
        client_->async_publish(m, [this](boost::system::error_code ec) {
            std::lock_guard lock(mutex_);
            --unacknowledged_;
            if (ec)
                ++failed_;
            changed_.notify_all();
        });
    }

    /// Subscribes and waits for the SUBACK; `on_message` is called on the
    /// network thread for each message of this subscription. The result
    /// holds the granted reason codes.
    std::error_code subscribe(std::string filter, subscribe_options opts,
                              message_callback on_message,
                              std::vector<suback_reason_code>* granted = nullptr,
                              duration timeout = default_timeout) {
        return wait_for<std::vector<suback_reason_code>>(
            timeout,
            [&](auto done) {
                client_->async_subscribe(std::move(filter), std::move(opts), std::move(on_message),
                                         std::move(done));
            },
            granted);
    }

    std::error_code unsubscribe(std::string filter, duration timeout = default_timeout) {
        return wait_for<std::vector<unsuback_reason_code>>(timeout, [&](auto done) {
            client_->async_unsubscribe(std::move(filter), std::move(done));
        });
    }

    /// Waits for a message no subscription callback took.
    std::error_code receive(message& into, duration timeout = default_timeout) {
        return wait_for<>(timeout,
                          [&](auto done) { client_->async_receive(into, std::move(done)); });
    }

    /// Sends DISCONNECT and waits until the connection is closed.
    std::error_code disconnect(duration timeout = default_timeout) {
        return wait_for<>(timeout, [&](auto done) { client_->async_disconnect(std::move(done)); });
    }

    bool connected() const noexcept { return client_->connected(); }

    /// Waits until a connection is up (e.g. after a loss, while the client reconnects).
    std::error_code wait_until_connected(duration timeout = default_timeout) {
        std::unique_lock lock(mutex_);
        if (!changed_.wait_for(lock, timeout, [&] { return client_->connected() || gave_up_; }))
            return make_error_code(std::errc::timed_out);
        return client_->connected() ? std::error_code{} : gave_up_reason_;
    }

    /// Waits until no connection is up.
    std::error_code wait_until_disconnected(duration timeout = default_timeout) {
        std::unique_lock lock(mutex_);
        if (!changed_.wait_for(lock, timeout, [&] { return !client_->connected(); }))
            return make_error_code(std::errc::timed_out);
        return {};
    }

    /// Waits until every message given to publish_async() is acknowledged (or failed).
    std::error_code wait_until_all_acknowledged(duration timeout = default_timeout) {
        std::unique_lock lock(mutex_);
        if (!changed_.wait_for(lock, timeout, [&] { return unacknowledged_ == 0; }))
            return make_error_code(std::errc::timed_out);
        return {};
    }

    std::size_t failed_publishes() const {
        std::lock_guard lock(mutex_);
        return failed_;
    }

    /// The asynchronous client underneath, for what the facade does not offer.
    client_type& async_client() noexcept { return *client_; }

private:
    void on_state(const connection_state& s) {
        {
            std::lock_guard lock(mutex_);
            if (s.what == connection_state::kind::gave_up) {
                gave_up_ = true;
                gave_up_reason_ = s.error;
            } else if (s.what == connection_state::kind::connected) {
                gave_up_ = false;
            }
        }
        changed_.notify_all();
        if (user_on_state_)
            user_on_state_(s);
    }

    // Starts an operation with a handler that records its result, and waits
    // for it; on timeout the operation is cancelled (and waited for, so that
    // nothing it refers to goes away under it).
    template <class... Extra, class Start, class Out = void>
    std::error_code wait_for(duration timeout, Start&& start, Out* out = nullptr) {
        struct state {
            std::mutex m;
            std::condition_variable cv;
            bool done = false;
            std::error_code ec;
        };
        auto st = std::make_shared<state>();
        auto signal = std::make_shared<boost::asio::cancellation_signal>();
        auto handler = boost::asio::bind_cancellation_slot(
            signal->slot(), [st, out](boost::system::error_code ec, Extra... extra) {
                if constexpr (sizeof...(Extra) == 1 && !std::is_void_v<Out>) {
                    if (out)
                        ((*out = std::move(extra)), ...);
                } else {
                    ((void)extra, ...);
                }
                std::lock_guard lock(st->m);
                st->ec = ec;
                st->done = true;
                st->cv.notify_all();
            });
        boost::asio::dispatch(client_->get_executor(),
                              [&start, h = std::move(handler)]() mutable { start(std::move(h)); });
        std::unique_lock lock(st->m);
        if (st->cv.wait_for(lock, timeout, [&] { return st->done; }))
            return st->ec;
        lock.unlock();
        // Cancel on the client's strand, then wait for the operation to finish.
        boost::asio::dispatch(client_->get_executor(),
                              [signal] { signal->emit(boost::asio::cancellation_type::all); });
        lock.lock();
        st->cv.wait(lock, [&] { return st->done; });
        return make_error_code(std::errc::timed_out);
    }

    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
        boost::asio::make_work_guard(io_);
    std::function<void(const connection_state&)> user_on_state_;
    std::optional<client_type> client_;
    std::thread thread_;

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::size_t unacknowledged_ = 0;
    std::size_t failed_ = 0;
    bool gave_up_ = false;
    std::error_code gave_up_reason_;
};

using blocking_client = basic_blocking_client<>;

} // namespace ctmqtt
