// A scripted fake MQTT broker for ctmqtt's tests: it listens on a free
// loopback port, accepts connections one after another, and runs a script
// per connection, so a test can make the broker do what a real one never
// does (a malformed CONNACK, a second CONNACK, an acknowledgement for an
// identifier never used, silence) and see exactly what the client sent back.
//
//     using namespace ctmqtt_test::steps;
//     ctmqtt_test::fake_broker b;
//     b.script({expect(packet_type::connect), send_hex("20 03 00 00 00"),
//               expect_disconnect(0x81), wait_closed()});
//     ... connect a client to b.host(), b.port() ...
//     REQUIRE(b.wait_done(2s));            // every script given has finished
//     INFO(b.report());                    // errors and every packet received
//     REQUIRE(b.errors().empty());
//     CHECK(b.received_types(1) == std::vector{packet_type::connect, packet_type::disconnect});
//
// A script is a list of steps (namespace steps below); for anything a list
// cannot say, on_connection() takes a function that drives the connection
// itself through fake_connection's blocking calls (expect, receive, send,
// wait_closed, close, delay), each with a timeout.
//
// How it runs: the broker has its own thread and io_context; a connection's
// script runs on that thread and its blocking calls run the io_context until
// their operation completes or times out. The n-th connection accepted runs
// the n-th script given; the next connection is accepted only when the
// previous script has ended (the broker closes the connection then).
// Connections beyond the scripts are closed at once (on_other_connections
// changes that); they count in connections() and are no error.
//
// A step that fails (a timeout, an unexpected packet, a malformed one, the
// connection closed) ends its connection and is recorded in errors(), with
// the connection and step: REQUIRE(b.errors().empty()). Scripts run on the
// broker's thread: never use Catch2's macros inside them (Catch2 is not
// thread-safe); throw instead, or check received() afterwards. Any exception
// a script throws is recorded as an error.
//
// wait_done() and wait_for_connections() block the calling thread: a client
// whose io_context that thread runs writes and closes nothing meanwhile, so
// keep running it and poll instead, e.g. until b.wait_done(0ms) is true.
//
// The destructor stops the thread promptly whatever the script is doing
// (waiting for a connection that never comes included) and never hangs.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <ctmqtt/core.hpp>

#include "../core/hex.hpp"

namespace ctmqtt_test {

/// One packet the fake broker received, as it came.
struct received_packet {
    std::size_t connection = 0; ///< 1 for the first connection accepted
    ctmqtt::packet_type type = ctmqtt::packet_type::reserved;
    std::vector<std::byte> bytes;                                    ///< the whole packet
    ctmqtt::protocol_version version = ctmqtt::protocol_version::v5; ///< the connection's
    std::chrono::steady_clock::time_point at{};

    /// The packet decoded as P; throws std::runtime_error if it is not a
    /// well-formed P. The result views into `bytes`: keep this object alive.
    template <ctmqtt::packet P>
    P as() const {
        P p;
        if (auto ec = ctmqtt::decode(ctmqtt::bytes_view{bytes}, version, p))
            throw std::runtime_error("received packet is not a well-formed " +
                                     std::string{ctmqtt::to_string(ctmqtt::packet_type_of<P>)} +
                                     ": " + ec.message());
        return p;
    }

    /// The decode error, or none for a well-formed packet.
    std::error_code decode_error() const {
        ctmqtt::decoded_packet d;
        return ctmqtt::decode_packet(ctmqtt::bytes_view{bytes}, version, d);
    }

    /// The packet printed field by field, or its type and why it is malformed.
    std::string to_string() const {
        ctmqtt::decoded_packet d;
        if (auto ec = ctmqtt::decode_packet(ctmqtt::bytes_view{bytes}, version, d))
            return "malformed " + std::string{ctmqtt::to_string(type)} + " (" + ec.message() + ")";
        return ctmqtt::to_string(d.packet, version);
    }
};

/// Thrown by a failing step; caught by the broker, which records it.
class step_failure : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class fake_broker;

/// One accepted connection, as a script sees it. Every call blocks the
/// broker's thread until done or its timeout (default: the broker's
/// options.timeout) and throws step_failure when it fails.
class fake_connection {
public:
    using milliseconds = std::chrono::milliseconds;
    using clock = std::chrono::steady_clock;

    fake_connection(const fake_connection&) = delete;
    fake_connection& operator=(const fake_connection&) = delete;

    /// 1 for the first connection the broker accepted.
    std::size_t index() const noexcept { return index_; }
    /// The protocol version: the broker's default until a CONNECT says which.
    ctmqtt::protocol_version version() const noexcept { return version_; }
    void set_version(ctmqtt::protocol_version v) noexcept { version_ = v; }
    /// Whether the client closed its side (end of stream or reset).
    bool peer_closed() const noexcept { return peer_closed_; }

    /// The next packet; it must be of type `t` and well-formed.
    received_packet expect(ctmqtt::packet_type t, std::optional<milliseconds> timeout = {});

    /// The next packet, well-formed or not (recorded in either case), or
    /// nullopt if none came within `timeout` or the client closed.
    std::optional<received_packet> receive(std::optional<milliseconds> timeout = {});

    /// Sends bytes as they are (a malformed packet is fine).
    void send(ctmqtt::bytes_view raw);
    /// Sends a packet encoded for this connection's version.
    template <ctmqtt::packet P>
    void send(const P& p) {
        std::vector<std::byte> buffer(ctmqtt::header_size(p, version_));
        auto encoded = ctmqtt::encode(p, version_, buffer);
        if (!encoded)
            throw step_failure("cannot encode " +
                               std::string{ctmqtt::to_string(ctmqtt::packet_type_of<P>)} + ": " +
                               encoded.error().message());
        buffer.insert(buffer.end(), encoded->payload.begin(), encoded->payload.end());
        send(ctmqtt::bytes_view{buffer});
    }

    /// Waits until the client closes the connection; packets that come
    /// meanwhile are recorded, not checked.
    void wait_closed(std::optional<milliseconds> timeout = {});

    /// Closes the connection (FIN; the client sees the end of the stream).
    void close();

    /// Does nothing for `d` (the broker still stops promptly when destroyed).
    void delay(milliseconds d);

    /// What the running step is (set by script(); appears in errors).
    void set_step(std::string what) { step_ = std::move(what); }
    const std::string& step() const noexcept { return step_; }

private:
    friend class fake_broker;
    fake_connection(fake_broker& broker, std::size_t index, boost::asio::ip::tcp::socket socket,
                    ctmqtt::protocol_version v)
        : broker_(broker), index_(index), socket_(std::move(socket)), version_(v) {}

    clock::time_point deadline(std::optional<milliseconds> timeout) const;
    // The next whole packet in in_ (nullopt if incomplete); throws on a malformed fixed header.
    std::optional<received_packet> take_packet();
    // Reads more bytes into in_ until `deadline`: false on timeout or when the client closed.
    bool read_more(clock::time_point deadline);

    fake_broker& broker_;
    std::size_t index_;
    boost::asio::ip::tcp::socket socket_;
    ctmqtt::protocol_version version_;
    std::vector<std::byte> in_;
    bool peer_closed_ = false;
    std::string step_;
};

/// One step of a script: what it does (for error messages) and the doing.
struct step {
    std::string what;
    std::function<void(fake_connection&)> run;
};

class fake_broker {
public:
    using milliseconds = std::chrono::milliseconds;
    using clock = std::chrono::steady_clock;
    using handler = std::function<void(fake_connection&)>;

    struct options {
        /// How long a step waits when it is given no timeout of its own.
        milliseconds timeout = std::chrono::seconds(2);
        /// The protocol version of a connection until its CONNECT says which.
        ctmqtt::protocol_version version = ctmqtt::protocol_version::v5;
    };

    fake_broker() : fake_broker(options{}) {}

    /// Listens on 127.0.0.1, on a port the system picks, and starts the thread.
    explicit fake_broker(options opts)
        : opts_(opts), work_(boost::asio::make_work_guard(io_)), acceptor_(io_) {
        const boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address("127.0.0.1"), 0);
        acceptor_.open(ep.protocol());
        acceptor_.set_option(boost::asio::ip::tcp::acceptor::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        thread_ = std::thread([this] { run(); });
    }

    fake_broker(const fake_broker&) = delete;
    fake_broker& operator=(const fake_broker&) = delete;

    /// Stops whatever runs (a script's wait is cut short) and joins the thread.
    ~fake_broker() {
        boost::asio::post(io_, [this] {
            stopping_ = true;
            boost::system::error_code ignored;
            acceptor_.close(ignored);
            if (current_ != nullptr)
                current_->socket_.close(ignored);
        });
        thread_.join();
    }

    std::string host() const { return "127.0.0.1"; }
    unsigned short port() const noexcept { return port_; }
    const options& config() const noexcept { return opts_; }

    /// The next connection without a handler runs `h`.
    void on_connection(handler h) {
        std::lock_guard lock(mutex_);
        handlers_.push_back(std::move(h));
    }

    /// The next connection without a handler runs these steps in order.
    void script(std::vector<step> steps) {
        on_connection([steps = std::move(steps)](fake_connection& c) {
            for (std::size_t i = 0; i < steps.size(); ++i) {
                c.set_step("step " + std::to_string(i + 1) + " (" + steps[i].what + ")");
                steps[i].run(c);
            }
            c.set_step("after the last step");
        });
    }

    /// What connections beyond the scripts run (by default none: closed at once).
    void on_other_connections(handler h) {
        std::lock_guard lock(mutex_);
        otherwise_ = std::move(h);
    }

    /// Connections accepted so far (including unscripted ones).
    std::size_t connections() const {
        std::lock_guard lock(mutex_);
        return accepted_;
    }

    /// Waits until `n` connections were accepted; false on timeout.
    bool wait_for_connections(std::size_t n, milliseconds timeout) const {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return accepted_ >= n; });
    }

    /// Waits until every handler given so far has run to its end; false on timeout.
    bool wait_done(milliseconds timeout) const {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout,
                                 [&] { return handlers_.empty() && !handler_running_; });
    }

    /// Every packet received so far, in order, from every connection.
    std::vector<received_packet> received() const {
        std::lock_guard lock(mutex_);
        return received_;
    }

    /// The packets received on connection `index` (1 for the first).
    std::vector<received_packet> received(std::size_t index) const {
        std::vector<received_packet> out;
        for (auto& p : received())
            if (p.connection == index)
                out.push_back(std::move(p));
        return out;
    }

    /// The types of the packets received on connection `index`.
    std::vector<ctmqtt::packet_type> received_types(std::size_t index) const {
        std::vector<ctmqtt::packet_type> out;
        for (const auto& p : received(index))
            out.push_back(p.type);
        return out;
    }

    /// What went wrong: failed steps, exceptions from scripts, accept errors.
    std::vector<std::string> errors() const {
        std::lock_guard lock(mutex_);
        return errors_;
    }

    /// The errors and every packet received, one a line: for INFO().
    std::string report() const {
        std::string out = "fake broker on port " + std::to_string(port_) + ": " +
                          std::to_string(connections()) + " connection(s)\n";
        for (const auto& e : errors())
            out += "  error: " + e + "\n";
        for (const auto& p : received())
            out += "  connection " + std::to_string(p.connection) + " received " + p.to_string() +
                   "\n";
        return out;
    }

private:
    friend class fake_connection;

    struct stopped {}; // unwinds a script when the broker is destroyed

    void record_error(std::string e) {
        std::lock_guard lock(mutex_);
        errors_.push_back(std::move(e));
    }

    void record(const received_packet& p) {
        std::lock_guard lock(mutex_);
        received_.push_back(p);
    }

    // Runs the io_context until `done`, `deadline` or the broker stops. If
    // not done by then, `cancel` is called and the io_context runs until the
    // operation's handler has run (it refers to the caller's locals). Throws
    // `stopped` when the broker stops; returns `done`.
    template <class Cancel>
    bool run_until(const bool& done, clock::time_point deadline, Cancel&& cancel) {
        while (!done && !stopping_ && clock::now() < deadline)
            io_.run_one_until(deadline);
        if (!done) {
            cancel();
            while (!done)
                io_.run_one();
        }
        if (stopping_)
            throw stopped{};
        return done;
    }

    void run() {
        try {
            while (!stopping_)
                serve_one();
        } catch (stopped&) {
        }
        // Handlers of cancelled operations have run (run_until); drop the rest.
        std::lock_guard lock(mutex_);
        handler_running_ = false;
        changed_.notify_all();
    }

    void serve_one() {
        boost::asio::ip::tcp::socket socket(io_);
        bool accepted = false;
        boost::system::error_code ec;
        acceptor_.async_accept(socket, [&](boost::system::error_code e) {
            ec = e;
            accepted = true;
        });
        run_until(accepted, clock::time_point::max(), [this] {
            boost::system::error_code ignored;
            acceptor_.cancel(ignored);
        });
        if (ec) {
            record_error("accept: " + ec.message());
            throw stopped{}; // the acceptor is unusable
        }
        socket.set_option(boost::asio::ip::tcp::no_delay(true));
        handler h;
        std::size_t index = 0;
        {
            std::lock_guard lock(mutex_);
            index = ++accepted_;
            if (!handlers_.empty()) {
                h = std::move(handlers_.front());
                handlers_.pop_front();
                handler_running_ = true;
            } else {
                h = otherwise_;
            }
            changed_.notify_all();
        }
        fake_connection c(*this, index, std::move(socket), opts_.version);
        current_ = &c;
        try {
            if (h)
                h(c);
        } catch (stopped&) {
            current_ = nullptr;
            throw;
        } catch (const std::exception& e) {
            record_error("connection " + std::to_string(index) + ", " +
                         (c.step().empty() ? std::string{"script"} : c.step()) + ": " + e.what());
        } catch (...) {
            record_error("connection " + std::to_string(index) + ": unknown exception");
        }
        current_ = nullptr;
        boost::system::error_code ignored;
        c.socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
        c.socket_.close(ignored);
        std::lock_guard lock(mutex_);
        handler_running_ = false;
        changed_.notify_all();
    }

    options opts_;
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    boost::asio::ip::tcp::acceptor acceptor_;
    unsigned short port_ = 0;
    std::atomic<bool> stopping_{false};
    fake_connection* current_ = nullptr; ///< only touched on the broker's thread

    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::deque<handler> handlers_;
    handler otherwise_;
    bool handler_running_ = false;
    std::size_t accepted_ = 0;
    std::vector<received_packet> received_;
    std::vector<std::string> errors_;

    std::thread thread_; // last: starts after everything it uses exists
};

// ------------------------------------------------------------ fake_connection

inline fake_connection::clock::time_point
fake_connection::deadline(std::optional<milliseconds> timeout) const {
    return clock::now() + timeout.value_or(broker_.opts_.timeout);
}

inline std::optional<received_packet> fake_connection::take_packet() {
    // Before CONNECT says otherwise, parse as 5.0 (AUTH is a packet type there).
    auto header = ctmqtt::parse_fixed_header(in_, version_);
    if (!header)
        throw step_failure("malformed fixed header from the client: " + header.error().message() +
                           " (bytes " + std::to_string(in_.size()) + " buffered)");
    if (!*header || (*header)->packet_size() > in_.size())
        return std::nullopt;
    const auto n = static_cast<std::ptrdiff_t>((*header)->packet_size());
    received_packet p;
    p.connection = index_;
    p.type = (*header)->type;
    p.bytes.assign(in_.begin(), in_.begin() + n);
    in_.erase(in_.begin(), in_.begin() + n);
    p.at = clock::now();
    if (p.type == ctmqtt::packet_type::connect) {
        ctmqtt::connect c;
        if (!ctmqtt::decode(ctmqtt::bytes_view{p.bytes}, version_, c))
            version_ = c.version; // the rest of the connection speaks it
    }
    p.version = version_;
    broker_.record(p);
    return p;
}

inline bool fake_connection::read_more(clock::time_point deadline) {
    if (peer_closed_)
        return false;
    std::array<std::byte, 4096> buffer;
    bool done = false;
    boost::system::error_code ec;
    std::size_t n = 0;
    socket_.async_read_some(boost::asio::buffer(buffer),
                            [&](boost::system::error_code e, std::size_t got) {
                                ec = e;
                                n = got;
                                done = true;
                            });
    broker_.run_until(done, deadline, [this] {
        boost::system::error_code ignored;
        socket_.cancel(ignored);
    });
    in_.insert(in_.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
    if (ec == boost::asio::error::operation_aborted) // the deadline passed
        return n > 0;
    if (ec) { // end of stream, reset: the client is gone
        peer_closed_ = true;
        return n > 0;
    }
    return true;
}

inline std::optional<received_packet>
fake_connection::receive(std::optional<milliseconds> timeout) {
    const auto end = deadline(timeout);
    for (;;) {
        if (auto p = take_packet())
            return p;
        if (!read_more(end) && (peer_closed_ || clock::now() >= end))
            return std::nullopt;
    }
}

inline received_packet fake_connection::expect(ctmqtt::packet_type t,
                                               std::optional<milliseconds> timeout) {
    const auto wanted = std::string{ctmqtt::to_string(t)};
    auto p = receive(timeout);
    if (!p) {
        const auto left = in_.empty() ? std::string{}
                                      : " (" + std::to_string(in_.size()) +
                                            " bytes of an incomplete packet received)";
        if (peer_closed_)
            throw step_failure("expected " + wanted + ", but the client closed the connection" +
                               left);
        throw step_failure("expected " + wanted + ", but nothing came within " +
                           std::to_string(timeout.value_or(broker_.opts_.timeout).count()) + " ms" +
                           left);
    }
    if (p->type != t)
        throw step_failure("expected " + wanted + ", got " + p->to_string());
    if (auto ec = p->decode_error())
        throw step_failure("expected a well-formed " + wanted +
                           ", got a malformed one: " + ec.message());
    return *p;
}

inline void fake_connection::send(ctmqtt::bytes_view raw) {
    bool done = false;
    boost::system::error_code ec;
    boost::asio::async_write(socket_, boost::asio::buffer(raw.data(), raw.size()),
                             [&](boost::system::error_code e, std::size_t) {
                                 ec = e;
                                 done = true;
                             });
    broker_.run_until(done, deadline({}), [this] {
        boost::system::error_code ignored;
        socket_.cancel(ignored);
    });
    if (ec == boost::asio::error::operation_aborted)
        throw step_failure("sending " + std::to_string(raw.size()) + " bytes timed out");
    if (ec)
        throw step_failure("sending " + std::to_string(raw.size()) + " bytes: " + ec.message());
}

inline void fake_connection::wait_closed(std::optional<milliseconds> timeout) {
    const auto end = deadline(timeout);
    while (!peer_closed_) {
        while (take_packet()) {
        }
        if (!read_more(end) && !peer_closed_ && clock::now() >= end)
            throw step_failure("expected the client to close the connection, still open after " +
                               std::to_string(timeout.value_or(broker_.opts_.timeout).count()) +
                               " ms");
    }
    while (take_packet()) {
    }
}

inline void fake_connection::close() {
    boost::system::error_code ignored;
    socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
}

inline void fake_connection::delay(milliseconds d) {
    boost::asio::steady_timer timer(broker_.io_, d);
    bool done = false;
    timer.async_wait([&](boost::system::error_code) { done = true; });
    broker_.run_until(done, clock::time_point::max(), [&] { timer.cancel(); });
}

// ------------------------------------------------------------ steps

/// The steps of fake_broker::script().
namespace steps {

/// The next packet must be a well-formed packet of type `t`.
inline step expect(ctmqtt::packet_type t,
                   std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    return {"expect " + std::string{ctmqtt::to_string(t)},
            [t, timeout](fake_connection& c) { c.expect(t, timeout); }};
}

/// The next packet must be DISCONNECT with this reason code (MQTT 5; before
/// 5.0 DISCONNECT has none, and `reason` must be 0).
inline step expect_disconnect(std::uint8_t reason,
                              std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    return {"expect DISCONNECT " + ctmqtt::detail::hex_byte(reason),
            [reason, timeout](fake_connection& c) {
                const auto p = c.expect(ctmqtt::packet_type::disconnect, timeout);
                const auto d = p.as<ctmqtt::disconnect>();
                if (d.reason_code.value() != reason)
                    throw step_failure("expected DISCONNECT with reason code " +
                                       ctmqtt::detail::hex_byte(reason) + ", got " + p.to_string());
            }};
}

/// Sends these bytes as they are.
inline step send(std::vector<std::byte> raw) {
    return {"send " + std::to_string(raw.size()) + " raw bytes",
            [raw = std::move(raw)](fake_connection& c) { c.send(ctmqtt::bytes_view{raw}); }};
}

/// Sends the bytes written in hex ("20 03 00 00 00"; spaces ignored).
inline step send_hex(std::string_view text) {
    return {"send " + std::string{text},
            [raw = hex(text)](fake_connection& c) { c.send(ctmqtt::bytes_view{raw}); }};
}

/// Sends a packet encoded for the connection's version (known from its
/// CONNECT). The packet's views (strings, properties) must outlive the script.
template <ctmqtt::packet P>
step send(P packet) {
    return {"send " + std::string{ctmqtt::to_string(ctmqtt::packet_type_of<P>)},
            [packet](fake_connection& c) { c.send(packet); }};
}

/// Waits for the client to close the connection.
inline step wait_closed(std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    return {"wait for the client to close",
            [timeout](fake_connection& c) { c.wait_closed(timeout); }};
}

/// Closes the connection.
inline step close_connection() {
    return {"close the connection", [](fake_connection& c) { c.close(); }};
}

/// Does nothing for a while.
inline step delay(std::chrono::milliseconds d) {
    return {"delay " + std::to_string(d.count()) + " ms", [d](fake_connection& c) { c.delay(d); }};
}

/// Anything else, with a name for error messages.
inline step run(std::string what, std::function<void(fake_connection&)> f) {
    return {std::move(what), std::move(f)};
}

} // namespace steps

} // namespace ctmqtt_test
