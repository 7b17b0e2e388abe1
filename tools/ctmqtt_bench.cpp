// ctmqtt-bench: a load generator for MQTT brokers, in the spirit of
// emqtt_bench, written on ctmqtt's public client API.
//
//   ctmqtt-bench pub  -c 100 -I 10 -t bench/%i -s 64 -q 1 --count 1000
//   ctmqtt-bench sub  -c 10 -t 'bench/#' -q 1 --count 100000
//   ctmqtt-bench conn -c 10000 -i 1 --duration 30
//   ctmqtt-bench pub  --url mqtts://broker:8883 --cafile ca.pem -c 10 --count 1000
//
// Any broker URL: mqtt://, mqtts://, ws://, wss://, unix: (the clients run
// over tools::any_transport).
//
// A progress line once a second on stderr; a summary at the end on stdout
// (or JSON with --json). Payloads of 16 bytes or more carry the send time,
// so a `sub` run beside a `pub` reports the latency from publish to receipt.
// `pub` reports the latency from publish to acknowledgement at QoS 1 and 2.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include <ctmqtt/client/client.hpp>
#include <ctmqtt/transport/url.hpp>
#include <ctmqtt/version.hpp>

#include "common/transport.hpp"

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

enum class mode { pub, sub, conn };

struct settings {
    mode what = mode::pub;
    std::string host = "127.0.0.1";
    std::uint16_t port = 1883;
    std::string url;
    ctmqtt::tools::transport_settings transport; ///< from --url and the TLS options
    int clients = 1;
    int connect_interval_ms = 0;  ///< -i: between connection starts
    int message_interval_ms = -1; ///< -I: between messages per client (-1: as fast as allowed)
    double rate = 0;              ///< --rate: messages/s in total
    std::string topic = "bench/%i";
    std::size_t payload_size = 64;
    ctmqtt::qos qos = ctmqtt::qos::at_most_once;
    ctmqtt::protocol_version version = ctmqtt::protocol_version::v5;
    long long count = 0; ///< pub: messages per client; sub: messages in total (0: no limit)
    double duration = 0; ///< seconds (0: no limit)
    int inflight = 100;  ///< pub: unacknowledged publishes per client
    std::string prefix = "ctmqtt-bench";
    std::optional<std::string> user, password;
    std::uint16_t keep_alive = 300;
    bool json = false;
    bool quiet = false;
};

[[noreturn]] void usage_error(const std::string& what) {
    std::fprintf(stderr, "ctmqtt-bench: %s\nRun 'ctmqtt-bench --help' for the options.\n",
                 what.c_str());
    std::exit(2);
}

void print_help() {
    std::printf(
        "ctmqtt-bench %s: an MQTT load generator\n"
        "Usage: ctmqtt-bench pub|sub|conn [options]\n"
        "  -h HOST          broker host (default 127.0.0.1)\n"
        "  -p PORT          broker port (default 1883)\n"
        "  --url URL        broker URL: mqtt://host:port, mqtts://, ws://host:port/path,\n"
        "                   wss://, unix:/path/to/socket (user:password@ before the host)\n"
        "  --cafile FILE    mqtts/wss: trust the CAs in FILE (default: the system's)\n"
        "  --cert FILE, --key FILE\n"
        "                   mqtts/wss: a client certificate and its private key (PEM)\n"
        "  --insecure       mqtts/wss: accept any server certificate (no CA or name check)\n"
        "  -c N             clients (default 1)\n"
        "  -i MS            milliseconds between connection starts (default 0)\n"
        "  -I MS            pub: milliseconds between messages per client\n"
        "                   (default: as fast as --inflight allows)\n"
        "  --rate N         pub: messages per second in total, spread over the clients\n"
        "  -t TOPIC         topic; %%i is the client's index (default bench/%%i)\n"
        "  -s BYTES         pub: payload size (default 64; 16 or more carries the send time)\n"
        "  -q QOS           0, 1 or 2 (default 0)\n"
        "  -V VERSION       3 (3.1), 4 (3.1.1), 5 (default), or 31, 311, mqttv5 ...\n"
        "  --count N        pub: messages per client; sub: messages in total\n"
        "  --duration S     stop after S seconds\n"
        "  --inflight N     pub: unacknowledged messages per client (default 100)\n"
        "  -u USER, -P PASSWORD, -k KEEPALIVE, --prefix CLIENT_ID_PREFIX\n"
        "  --json           the summary as JSON\n"
        "  --quiet          no progress lines\n",
        std::string{ctmqtt::version_string}.c_str());
}

template <class T>
T number(std::string_view opt, std::string_view text) {
    T v{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size())
        usage_error(std::string{opt} + ": not a number: \"" + std::string{text} + "\"");
    return v;
}

settings parse(int argc, char** argv) {
    settings s;
    if (argc < 2)
        usage_error("missing the mode: pub, sub or conn");
    const std::string_view m = argv[1];
    if (m == "--help") {
        print_help();
        std::exit(0);
    }
    if (m == "pub")
        s.what = mode::pub;
    else if (m == "sub")
        s.what = mode::sub;
    else if (m == "conn")
        s.what = mode::conn;
    else
        usage_error("unknown mode \"" + std::string{m} + "\" (pub, sub or conn)");
    for (int i = 2; i < argc; ++i) {
        const std::string_view opt = argv[i];
        auto value = [&]() -> std::string_view {
            if (i + 1 >= argc)
                usage_error(std::string{opt} + " needs a value");
            return argv[++i];
        };
        if (opt == "--help") {
            print_help();
            std::exit(0);
        } else if (opt == "-h" || opt == "--host") {
            s.host = value();
        } else if (opt == "-p" || opt == "--port") {
            const auto p = number<unsigned>(opt, value());
            if (p == 0 || p > 65535)
                usage_error("-p: port out of range");
            s.port = static_cast<std::uint16_t>(p);
        } else if (opt == "--url" || opt == "-L") {
            s.url = value();
        } else if (opt == "--cafile") {
            s.transport.tls.ca_file = value();
        } else if (opt == "--cert") {
            s.transport.tls.certificate_file = value();
        } else if (opt == "--key") {
            s.transport.tls.private_key_file = value();
        } else if (opt == "--insecure") {
            s.transport.tls.skip_verification = true;
        } else if (opt == "-c" || opt == "--count-clients" || opt == "--clients") {
            s.clients = number<int>(opt, value());
            if (s.clients < 1)
                usage_error("-c: at least one client");
        } else if (opt == "-i" || opt == "--interval") {
            s.connect_interval_ms = number<int>(opt, value());
        } else if (opt == "-I" || opt == "--interval-of-msg") {
            s.message_interval_ms = number<int>(opt, value());
        } else if (opt == "--rate") {
            s.rate = number<double>(opt, value());
            if (s.rate <= 0)
                usage_error("--rate: must be positive");
        } else if (opt == "-t" || opt == "--topic") {
            s.topic = value();
        } else if (opt == "-s" || opt == "--size") {
            s.payload_size = number<std::size_t>(opt, value());
        } else if (opt == "-q" || opt == "--qos") {
            const auto q = number<int>(opt, value());
            if (q < 0 || q > 2)
                usage_error("-q: QoS must be 0, 1 or 2");
            s.qos = static_cast<ctmqtt::qos>(q);
        } else if (opt == "-V" || opt == "--version") {
            const auto v = value();
            if (v == "3" || v == "31" || v == "mqttv31")
                s.version = ctmqtt::protocol_version::v3_1;
            else if (v == "4" || v == "311" || v == "mqttv311")
                s.version = ctmqtt::protocol_version::v3_1_1;
            else if (v == "5" || v == "mqttv5")
                s.version = ctmqtt::protocol_version::v5;
            else
                usage_error("-V: unknown protocol version \"" + std::string{v} + "\"");
        } else if (opt == "--count" || opt == "-n") {
            s.count = number<long long>(opt, value());
        } else if (opt == "--duration") {
            s.duration = number<double>(opt, value());
        } else if (opt == "--inflight") {
            s.inflight = number<int>(opt, value());
            if (s.inflight < 1)
                usage_error("--inflight: at least 1");
        } else if (opt == "--prefix") {
            s.prefix = value();
        } else if (opt == "-u" || opt == "--username") {
            s.user = std::string{value()};
        } else if (opt == "-P" || opt == "--password") {
            s.password = std::string{value()};
        } else if (opt == "-k" || opt == "--keepalive") {
            s.keep_alive = number<std::uint16_t>(opt, value());
        } else if (opt == "--json") {
            s.json = true;
        } else if (opt == "--quiet") {
            s.quiet = true;
        } else {
            usage_error("unknown option \"" + std::string{opt} + "\"");
        }
    }
    if (!s.url.empty()) {
        const auto u = ctmqtt::transport::parse_url(s.url);
        if (!u)
            usage_error("--url: " + u.error().message());
        const auto address = u->address();
        s.host = address.host;
        s.port = address.port;
        s.transport.scheme = u->scheme;
        if (u->websocket())
            s.transport.websocket_path = u->path;
        if (u->user_name && !s.user) // -u and -P win over the URL's
            s.user = u->user_name;
        if (u->password && !s.password)
            s.password = u->password;
    }
    const auto& tls = s.transport.tls;
    if (!s.transport.secure() && (!tls.ca_file.empty() || !tls.certificate_file.empty() ||
                                  !tls.private_key_file.empty() || tls.skip_verification))
        usage_error("--cafile, --cert, --key and --insecure need an mqtts:// or wss:// --url");
    if (tls.certificate_file.empty() != tls.private_key_file.empty())
        usage_error("--cert and --key go together");
    if (s.rate > 0 && s.message_interval_ms >= 0)
        usage_error("-I and --rate: give one of them");
    return s;
}

std::string expand(std::string_view pattern, int index) {
    std::string out;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == 'i') {
            out += std::to_string(index);
            ++i;
        } else {
            out += pattern[i];
        }
    }
    return out;
}

// The send time in a payload: "CTMB" and CLOCK_MONOTONIC nanoseconds (the
// same clock in every process of the machine), then padding.
constexpr std::size_t stamp_size = 16;

std::int64_t monotonic_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void stamp(std::vector<std::byte>& payload) {
    if (payload.size() < stamp_size)
        return;
    std::memcpy(payload.data(), "CTMB", 4);
    const auto now = monotonic_ns();
    std::memcpy(payload.data() + 8, &now, sizeof now);
}

std::optional<std::int64_t> read_stamp(ctmqtt::bytes_view payload) {
    if (payload.size() < stamp_size || std::memcmp(payload.data(), "CTMB", 4) != 0)
        return std::nullopt;
    std::int64_t sent = 0;
    std::memcpy(&sent, payload.data() + 8, sizeof sent);
    return sent;
}

long rss_kib() {
    long pages = 0, resident = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        std::fclose(f);
    }
    return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

// Raises the open-file limit to the hard limit: one descriptor per connection.
void raise_file_limit(int wanted) {
    rlimit r{};
    if (::getrlimit(RLIMIT_NOFILE, &r) != 0)
        return;
    const auto need = static_cast<rlim_t>(wanted) + 64;
    if (r.rlim_cur >= need)
        return;
    r.rlim_cur = std::min(need, r.rlim_max);
    if (::setrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur < need)
        std::fprintf(stderr,
                     "ctmqtt-bench: the open-file limit is %llu, fewer than %d connections need "
                     "(raise it with ulimit -n)\n",
                     static_cast<unsigned long long>(r.rlim_cur), wanted);
}

struct percentiles {
    double p50 = 0, p90 = 0, p99 = 0, max = 0; ///< milliseconds
};

percentiles summarise(std::vector<std::int64_t>& ns) {
    percentiles p;
    if (ns.empty())
        return p;
    auto at = [&](double q) {
        const auto k = static_cast<std::size_t>(q * static_cast<double>(ns.size() - 1));
        std::nth_element(ns.begin(), ns.begin() + static_cast<std::ptrdiff_t>(k), ns.end());
        return static_cast<double>(ns[k]) / 1e6;
    };
    p.p50 = at(0.50);
    p.p90 = at(0.90);
    p.p99 = at(0.99);
    p.max = static_cast<double>(*std::max_element(ns.begin(), ns.end())) / 1e6;
    return p;
}

class bench {
public:
    explicit bench(settings s) : s_(std::move(s)), signals_(io_, SIGINT, SIGTERM) {
        signals_.async_wait([this](const boost::system::error_code& ec, int) {
            if (!ec)
                finish("interrupted");
        });
    }

    int run() {
        raise_file_limit(s_.clients);
        rss_before_ = rss_kib();
        start_ = clock_type::now();
        cpu_start_ = cpu_seconds();
        clients_.reserve(static_cast<std::size_t>(s_.clients));
        for (int i = 0; i < s_.clients; ++i)
            clients_.push_back(std::make_unique<bench_client>(*this, i));
        connect_next(0);
        tick();
        if (s_.duration > 0) {
            deadline_.emplace(io_, std::chrono::duration_cast<clock_type::duration>(
                                       std::chrono::duration<double>(s_.duration)));
            deadline_->async_wait([this](const boost::system::error_code& ec) {
                if (!ec)
                    finish("duration reached");
            });
        }
        io_.run();
        report();
        return errors_ == 0 && !refused_ ? 0 : 1;
    }

private:
    struct bench_client {
        bench& b;
        int index;
        ctmqtt::basic_client<ctmqtt::tools::any_transport> mqtt;
        std::string topic;
        std::vector<std::byte> payload;
        long long sent = 0;
        int in_flight = 0;
        bool connected = false;
        bool done = false;
        std::optional<asio::steady_timer> pacer;

        bench_client(bench& owner, int i)
            : b(owner), index(i), mqtt(owner.io_.get_executor(), owner.options_for(i)),
              topic(expand(owner.s_.topic, i)), payload(owner.s_.payload_size, std::byte{'x'}) {
            mqtt.transport().configure({owner.s_.host, owner.s_.port}, owner.s_.transport);
        }

        // Publishes while the window and the count allow (or one, when paced).
        void publish_more() {
            const auto& s = b.s_;
            while (!b.stopping_ && !done && in_flight < s.inflight &&
                   (s.count == 0 || sent < s.count)) {
                publish_one();
                if (pacer)
                    return;
            }
            if (s.count != 0 && sent >= s.count && in_flight == 0 && !done) {
                done = true;
                b.client_done();
            }
        }

        void publish_one() {
            stamp(payload);
            ++sent;
            ++in_flight;
            ++b.sent_;
            const auto started = monotonic_ns();
            mqtt.async_publish(topic, ctmqtt::bytes_view{payload}, b.s_.qos, false,
                               [this, started](std::error_code ec) {
                                   --in_flight;
                                   if (ec) {
                                       b.error("publish", ec);
                                   } else {
                                       ++b.acked_;
                                       if (b.s_.qos != ctmqtt::qos::at_most_once)
                                           b.latency_.push_back(monotonic_ns() - started);
                                   }
                                   if (!pacer)
                                       publish_more();
                                   else if (b.s_.count != 0 && sent >= b.s_.count &&
                                            in_flight == 0 && !done) {
                                       done = true;
                                       b.client_done();
                                   }
                               });
        }

        void pace(clock_type::duration every) {
            pacer.emplace(b.io_);
            pace_next(clock_type::now() + every, every);
        }

        void pace_next(clock_type::time_point at, clock_type::duration every) {
            pacer->expires_at(at);
            pacer->async_wait([this, at, every](const boost::system::error_code& ec) {
                if (ec || b.stopping_ || done)
                    return;
                if (in_flight < b.s_.inflight && (b.s_.count == 0 || sent < b.s_.count))
                    publish_one();
                if (b.s_.count != 0 && sent >= b.s_.count) {
                    if (in_flight == 0 && !done) {
                        done = true;
                        b.client_done();
                    }
                    return;
                }
                pace_next(at + every, every);
            });
        }
    };

    ctmqtt::client_options options_for(int i) {
        ctmqtt::client_options o;
        o.host = s_.host;
        o.port = s_.port;
        o.version = s_.version;
        o.client_id = s_.prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(i);
        o.keep_alive = s_.keep_alive;
        o.user_name = s_.user;
        o.password = s_.password;
        o.offline_queue_messages = static_cast<std::size_t>(s_.inflight) + 1;
        o.reconnect_delays = {1s, 2s, 4s};
        // Idle connections by the thousand: a small read buffer (packets
        // larger than it are put together by the session).
        if (s_.what == mode::conn)
            o.read_buffer_size = 1024;
        o.on_state = [this, i](const ctmqtt::connection_state& st) { on_state(i, st); };
        return o;
    }

    void on_state(int i, const ctmqtt::connection_state& st) {
        auto& c = *clients_[static_cast<std::size_t>(i)];
        using kind = ctmqtt::connection_state::kind;
        if (st.what == kind::connected) {
            if (!c.connected) {
                c.connected = true;
                ++connected_;
                if (connected_ == s_.clients)
                    all_connected_ = clock_type::now();
            }
        } else if (c.connected) {
            c.connected = false;
            --connected_;
        }
        if (st.what == kind::lost || st.what == kind::retrying)
            ++connection_errors_;
        if (st.what == kind::gave_up && !stopping_) {
            error("connection", st.error);
            refused_ = true;
            c.done = true;
            client_done();
        }
        // TLS that failed (a certificate refused, a CA file OpenSSL cannot
        // read) fails again on every attempt: say why and stop.
        if (st.what == kind::retrying && !stopping_ &&
            ctmqtt::tools::classify_failure(st.error) != ctmqtt::tools::failure_kind::other) {
            error("connection", st.error);
            refused_ = true;
            finish("TLS failed");
        }
    }

    void connect_next(int i) {
        if (i >= s_.clients || stopping_)
            return;
        auto& c = *clients_[static_cast<std::size_t>(i)];
        c.mqtt.async_connect([this, i](std::error_code ec) {
            if (ec || stopping_)
                return; // gave up: on_state counted it
            started(i);
        });
        if (s_.connect_interval_ms > 0) {
            auto t = std::make_shared<asio::steady_timer>(
                io_, std::chrono::milliseconds{s_.connect_interval_ms});
            t->async_wait([this, i, t](const boost::system::error_code& ec) {
                if (!ec)
                    connect_next(i + 1);
            });
        } else {
            connect_next(i + 1);
        }
    }

    // Client i is connected for the first time: start its work.
    void started(int i) {
        auto& c = *clients_[static_cast<std::size_t>(i)];
        switch (s_.what) {
        case mode::conn:
            if (connected_ == s_.clients && rss_connected_ == 0)
                rss_connected_ = rss_kib();
            return;
        case mode::sub:
            c.mqtt.async_subscribe(
                c.topic, ctmqtt::subscribe_options{s_.qos},
                [this](const ctmqtt::message_view& m) { on_message(m); },
                [this](std::error_code ec, std::vector<ctmqtt::suback_reason_code> codes) {
                    if (ec)
                        return error("subscribe", ec);
                    for (auto code : codes)
                        if (code.value() >= 0x80)
                            error("subscribe", std::make_error_code(std::errc::permission_denied));
                });
            return;
        case mode::pub: {
            clock_type::duration every{};
            if (s_.rate > 0)
                every = std::chrono::duration_cast<clock_type::duration>(
                    std::chrono::duration<double>(s_.clients / s_.rate));
            else if (s_.message_interval_ms > 0)
                every = std::chrono::milliseconds{s_.message_interval_ms};
            if (every > clock_type::duration::zero())
                c.pace(every);
            else
                c.publish_more();
            return;
        }
        }
    }

    void on_message(const ctmqtt::message_view& m) {
        last_message_ = clock_type::now();
        if (received_++ == 0)
            first_message_ = last_message_;
        if (auto sent = read_stamp(m.payload))
            latency_.push_back(monotonic_ns() - *sent);
        if (s_.count > 0 && received_ >= static_cast<std::uint64_t>(s_.count))
            finish("count reached");
    }

    void client_done() {
        if (++clients_done_ == s_.clients && s_.what == mode::pub)
            finish("count reached");
    }

    void error(const char* what, std::error_code ec) {
        if (++errors_ <= 5)
            std::fprintf(stderr, "ctmqtt-bench: %s: %s\n", what, ec.message().c_str());
    }

    void tick() {
        ticker_.expires_after(1s);
        ticker_.async_wait([this](const boost::system::error_code& ec) {
            if (ec || stopping_)
                return;
            if (!s_.quiet) {
                const auto t = std::chrono::duration<double>(clock_type::now() - start_).count();
                std::fprintf(stderr, "[%6.1fs] conns %d/%d  out %llu/s  in %llu/s  errors %llu\n",
                             t, connected_, s_.clients,
                             static_cast<unsigned long long>(acked_ - last_acked_),
                             static_cast<unsigned long long>(received_ - last_received_),
                             static_cast<unsigned long long>(errors_));
            }
            last_acked_ = acked_;
            last_received_ = received_;
            tick();
        });
    }

    void finish(const char* why) {
        if (stopping_)
            return;
        stopping_ = true;
        stop_reason_ = why;
        connected_at_end_ = connected_;
        end_ = clock_type::now();
        cpu_end_ = cpu_seconds();
        if (s_.what == mode::conn && rss_connected_ == 0)
            rss_connected_ = rss_kib();
        ticker_.cancel();
        signals_.cancel();
        if (deadline_)
            deadline_->cancel();
        for (auto& c : clients_) {
            if (c->pacer)
                c->pacer->cancel();
            c->mqtt.async_disconnect([this](std::error_code) {
                if (++disconnected_ == s_.clients)
                    io_.stop();
            });
        }
        // A broker that does not answer must not keep the summary waiting.
        auto t = std::make_shared<asio::steady_timer>(io_, 5s);
        t->async_wait([this, t](const boost::system::error_code& ec) {
            if (!ec)
                io_.stop();
        });
    }

    static double cpu_seconds() {
        rusage u{};
        ::getrusage(RUSAGE_SELF, &u);
        return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
               static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
    }

    static long peak_rss_kib() {
        rusage u{};
        ::getrusage(RUSAGE_SELF, &u);
        return u.ru_maxrss;
    }

    void report() {
        if (!stopping_) { // io_context ran out of work without finish()
            end_ = clock_type::now();
            cpu_end_ = cpu_seconds();
            connected_at_end_ = connected_;
        }
        // A subscriber's rate counts from its first message to its last (it
        // may wait long for a publisher to start).
        const double seconds = std::chrono::duration<double>(s_.what == mode::sub && received_ > 1
                                                                 ? last_message_ - first_message_
                                                                 : end_ - start_)
                                   .count();
        const double cpu = cpu_end_ - cpu_start_;
        const auto messages = s_.what == mode::sub ? received_ : acked_;
        const double rate = seconds > 0 ? static_cast<double>(messages) / seconds : 0;
        const double cpu_per_message_us = messages ? cpu * 1e6 / static_cast<double>(messages) : 0;
        const auto lat = summarise(latency_);
        const double per_connection_kib =
            s_.what == mode::conn && connected_at_end_ > 0
                ? static_cast<double>(rss_connected_ - rss_before_) / connected_at_end_
                : 0;
        const char* mode_name = s_.what == mode::pub   ? "pub"
                                : s_.what == mode::sub ? "sub"
                                                       : "conn";
        if (s_.json) {
            std::printf("{\"mode\":\"%s\",\"clients\":%d,\"connected\":%d,\"qos\":%d,"
                        "\"payload_size\":%zu,\"seconds\":%.3f,\"sent\":%llu,\"acknowledged\":%llu,"
                        "\"received\":%llu,\"errors\":%llu,\"connection_errors\":%llu,"
                        "\"messages_per_second\":%.1f,\"latency_ms\":{\"samples\":%zu,\"p50\":%.3f,"
                        "\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f},\"cpu_seconds\":%.3f,"
                        "\"cpu_us_per_message\":%.3f,\"peak_rss_kib\":%ld,"
                        "\"rss_kib_per_connection\":%.2f,\"stopped\":\"%s\"}\n",
                        mode_name, s_.clients, connected_at_end_, static_cast<int>(s_.qos),
                        s_.payload_size, seconds, static_cast<unsigned long long>(sent_),
                        static_cast<unsigned long long>(acked_),
                        static_cast<unsigned long long>(received_),
                        static_cast<unsigned long long>(errors_),
                        static_cast<unsigned long long>(connection_errors_), rate, latency_.size(),
                        lat.p50, lat.p90, lat.p99, lat.max, cpu, cpu_per_message_us, peak_rss_kib(),
                        per_connection_kib, stop_reason_);
            return;
        }
        std::printf("ctmqtt-bench %s: %d client(s), %d connected at the end (%s)\n", mode_name,
                    s_.clients, connected_at_end_, stop_reason_);
        if (s_.what == mode::pub)
            std::printf("  sent %llu, acknowledged %llu, errors %llu in %.2f s: %.0f msg/s\n",
                        static_cast<unsigned long long>(sent_),
                        static_cast<unsigned long long>(acked_),
                        static_cast<unsigned long long>(errors_), seconds, rate);
        else if (s_.what == mode::sub)
            std::printf("  received %llu, errors %llu in %.2f s: %.0f msg/s\n",
                        static_cast<unsigned long long>(received_),
                        static_cast<unsigned long long>(errors_), seconds, rate);
        if (!latency_.empty())
            std::printf(
                "  latency (%s, ms): p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  (%zu samples)\n",
                s_.what == mode::sub ? "publish to receipt" : "publish to acknowledgement", lat.p50,
                lat.p90, lat.p99, lat.max, latency_.size());
        std::printf("  client CPU %.3f s", cpu);
        if (messages)
            std::printf(" (%.2f us per message)", cpu_per_message_us);
        std::printf(", peak memory %ld KiB\n", peak_rss_kib());
        if (s_.what == mode::conn)
            std::printf("  memory per idle connection: %.1f KiB (%d connections)\n",
                        per_connection_kib, connected_at_end_);
        if (connection_errors_)
            std::printf("  connection losses and failed attempts: %llu\n",
                        static_cast<unsigned long long>(connection_errors_));
    }

    settings s_;
    asio::io_context io_;
    asio::signal_set signals_;
    asio::steady_timer ticker_{io_};
    std::optional<asio::steady_timer> deadline_;
    std::vector<std::unique_ptr<bench_client>> clients_;
    clock_type::time_point start_, end_, all_connected_, first_message_, last_message_;
    int connected_at_end_ = 0;
    double cpu_start_ = 0, cpu_end_ = 0;
    long rss_before_ = 0, rss_connected_ = 0;
    int connected_ = 0;
    int clients_done_ = 0;
    int disconnected_ = 0;
    bool stopping_ = false;
    bool refused_ = false;
    const char* stop_reason_ = "no work left";
    std::uint64_t sent_ = 0, acked_ = 0, received_ = 0, errors_ = 0, connection_errors_ = 0;
    std::uint64_t last_acked_ = 0, last_received_ = 0;
    std::vector<std::int64_t> latency_;
};

} // namespace

int main(int argc, char** argv) {
    bench b(parse(argc, argv));
    return b.run();
}
