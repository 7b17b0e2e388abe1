// The DL-7450-style device client (include/ctmqtt/facades/device_client.hpp)
// against a real mosquitto, with a subscriber on `#` checking every topic,
// payload, QoS and retain flag that crosses the wire; the reconnect schedule
// on a fake clock; the fake broker only for CONNACK return codes mosquitto
// never sends (3 server unavailable, 4 bad user name or password).
//
// Two client types: device_client (transport::any, the real clock) and
// fake_clock_device (transport::tcp, a clock the test moves).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctmqtt/facades/device_client.hpp>

#include "support/client_support.hpp"
#include "support/fake_broker.hpp"
#include "support/mosquitto_broker.hpp"
#include "transport/certificates.hpp"

using namespace ctmqtt;
using namespace ctmqtt_test;
using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------- the fake clock

// A clock that moves only when the test moves it. Its waits last at most
// 1 ms of real time, so the reactor looks at the timers again that often.
struct fake_clock {
    using duration = std::chrono::nanoseconds;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::time_point<fake_clock>;
    static constexpr bool is_steady = true;
    static time_point now() noexcept { return time_point{duration{ticks.load()}}; }
    static void set(std::chrono::milliseconds t) noexcept { ticks.store(duration{t}.count()); }
    static std::chrono::milliseconds elapsed() noexcept {
        return std::chrono::duration_cast<std::chrono::milliseconds>(now().time_since_epoch());
    }
    static inline std::atomic<rep> ticks{0};
};

struct fake_wait_traits {
    static fake_clock::duration to_wait_duration(const fake_clock::duration& d) {
        return std::clamp<fake_clock::duration>(d, 0ms, 1ms);
    }
    static fake_clock::duration to_wait_duration(const fake_clock::time_point& t) {
        return to_wait_duration(t - fake_clock::now());
    }
};

using fake_timer = boost::asio::basic_waitable_timer<fake_clock, fake_wait_traits>;
using fake_clock_device = basic_device_client<transport::tcp, store::memory, fake_timer>;

// ---------------------------------------------------------------- recording

struct connect_call {
    int rc = 0;
    device_connect_flags flags;
    std::chrono::milliseconds at{}; ///< fake time (fake-clock tests)
};

std::string show(const std::vector<connect_call>& calls) {
    std::string out;
    for (const auto& c : calls)
        out += "rc " + std::to_string(c.rc) + " at " + std::to_string(c.at.count()) + " ms" +
               (c.flags.lost ? " lost" : "") + (c.flags.gave_up ? " gave up" : "") + " retry in " +
               std::to_string(c.flags.retry_in.count()) + " ms (" + c.flags.error.message() + ")\n";
    return out;
}

device_client::connect_handler record_into(std::vector<connect_call>& calls) {
    return [&calls](int rc, const device_connect_flags& f) {
        calls.push_back({rc, f, fake_clock::elapsed()});
    };
}

struct received {
    std::string topic;
    std::string payload;
    qos q = qos::at_most_once;
    bool retain = false;
    friend bool operator==(const received&, const received&) = default;
};

std::ostream& operator<<(std::ostream& os, const received& r) {
    return os << r.topic << " \"" << r.payload << "\" qos " << static_cast<int>(r.q)
              << (r.retain ? " retained" : "");
}

// The subscriber on `#` that sees what crosses the wire: a plain client of
// the same type as device_client's (no further instantiation).
class wire_checker {
public:
    wire_checker(boost::asio::io_context& io, const mosquitto_broker& broker,
                 bool persistent = false)
        : client_(io.get_executor(), options(broker, persistent)) {
        bool subscribed = false;
        client_.async_connect([](std::error_code ec) { CHECK_FALSE(ec); });
        client_.async_subscribe(
            "#", qos::exactly_once,
            [this](const message_view& m) {
                messages.push_back(
                    {std::string{m.topic}, std::string{m.payload_text()}, m.qos, m.retain});
            },
            [&](std::error_code ec, std::vector<suback_reason_code>) {
                CHECK_FALSE(ec);
                subscribed = true;
            });
        REQUIRE(run_until(io, [&] { return subscribed; }));
    }

    std::vector<received> messages;
    basic_client<transport::any>& client() { return client_; }

private:
    static client_options options(const mosquitto_broker& broker, bool persistent) {
        auto o = options_for(broker, protocol_version::v5, "wire-checker");
        if (persistent)
            o.session_expiry_interval = 3600;
        return o;
    }
    basic_client<transport::any> client_;
};

std::string url_of(const mosquitto_broker& b) {
    return b.url();
}

// Runs until the device reported a connection (rc 0) or anything else.
bool wait_for_calls(boost::asio::io_context& io, const std::vector<connect_call>& calls,
                    std::size_t n, std::chrono::milliseconds limit = 10s) {
    return run_until(
        io, [&] { return calls.size() >= n; }, limit);
}

std::vector<std::byte> der_of_pem(const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    REQUIRE(cert != nullptr);
    unsigned char* out = nullptr;
    const int n = i2d_X509(cert, &out);
    X509_free(cert);
    REQUIRE(n > 0);
    std::vector<std::byte> der(reinterpret_cast<std::byte*>(out),
                               reinterpret_cast<std::byte*>(out) + n);
    OPENSSL_free(out);
    return der;
}

std::string text_of(const std::vector<std::byte>& b) {
    return std::string{as_string(bytes_view{b})};
}

} // namespace

// ---------------------------------------------------------------- URLs and errors

TEST_CASE("device: URL schemes and their default ports; a missing or unknown scheme is refused",
          "[device]") {
    struct row {
        const char* url;
        transport::url_scheme scheme;
        std::uint16_t port;
    };
    using transport::url_scheme;
    for (const auto& r : {row{"tcp://broker.example", url_scheme::mqtt, 1883},
                          row{"mqtt://broker.example", url_scheme::mqtt, 1883},
                          row{"ssl://broker.example", url_scheme::mqtts, 8883},
                          row{"mqtts://broker.example", url_scheme::mqtts, 8883},
                          row{"ws://broker.example", url_scheme::ws, 80},
                          row{"wss://broker.example", url_scheme::wss, 443},
                          row{"SSL://broker.example:9999", url_scheme::mqtts, 9999}}) {
        INFO(r.url);
        auto u = parse_device_url(r.url);
        REQUIRE(u);
        CHECK(u->scheme == r.scheme);
        CHECK(u->port == r.port);
        CHECK(u->host == "broker.example");
    }
    auto no_scheme = parse_device_url("broker.example:1883");
    CHECK(no_scheme.error() == device_errc::bad_protocol);
    CHECK(device_rc(no_scheme.error()) == -14);
    CHECK(no_scheme.error().message() ==
          "bad protocol in URL: \"broker.example:1883\" has no scheme (tcp, mqtt, ssl, mqtts, ws, "
          "wss or unix)");
    auto unknown = parse_device_url("http://broker.example");
    CHECK(unknown.error() == device_errc::bad_protocol);
    CHECK(unknown.error().message() ==
          "bad protocol in URL: unknown URL scheme \"http\" (mqtt, tcp, mqtts, ssl, ws, wss or "
          "unix)");
    auto bad_port = parse_device_url("tcp://broker.example:99999");
    CHECK(bad_port.error() == transport::url_errc::bad_port);

    boost::asio::io_context io;
    CHECK_THROWS_WITH(device_client(io.get_executor(), "http://x", "id"),
                      Catch::StartsWith("bad protocol in URL: unknown URL scheme \"http\""));
    CHECK_THROWS_WITH(device_client(io.get_executor(), "tcp://x", ""),
                      "null value: the client id is empty");
    CHECK_THROWS_WITH(device_client(io.get_executor(), "tcp://x", "bad\xC3"),
                      Catch::StartsWith("invalid UTF-8: the client id: CONNECT: "));
    // A client of one transport serves its own scheme only.
    CHECK_THROWS_WITH(fake_clock_device(io.get_executor(), "ssl://x", "id"),
                      "bad protocol in URL: mqtts: this client's transport serves mqtt URLs only");
    fake_clock_device plain(io.get_executor(), "tcp://x:1", "id");
    CHECK(plain.url().port == 1);
    device_client any(io.get_executor(), "wss://x/mqtt", "id");
    CHECK(any.url().path == "/mqtt");
}

TEST_CASE("device: error codes, result codes and their descriptions", "[device]") {
    struct row {
        device_errc e;
        int rc;
        const char* text;
    };
    for (const auto& r :
         {row{device_errc::failure, -1, "generic failure"},
          row{device_errc::persistence_failure, -2, "persistence failure"},
          row{device_errc::disconnected, -3, "disconnected"},
          row{device_errc::too_many_in_flight, -4, "too many messages in flight"},
          row{device_errc::invalid_utf8, -5, "invalid UTF-8"},
          row{device_errc::null_value, -6, "null value"}, row{device_errc::bad_qos, -9, "bad QoS"},
          row{device_errc::no_more_message_ids, -10, "no more message ids"},
          row{device_errc::bad_protocol, -14, "bad protocol in URL"}}) {
        const auto ec = make_error_code(r.e);
        CHECK(ec.message() == r.text);
        CHECK(device_rc(ec) == r.rc);
        CHECK(device_error_description(r.rc) == r.text);
        CHECK(ec == r.e);
        CHECK(ec.category().name() == std::string{"ctmqtt.device"});
        const auto detailed = make_error_code(r.e, "what went wrong");
        CHECK(detailed.message() == std::string{r.text} + ": what went wrong");
        CHECK(detailed == r.e);
    }
    CHECK(device_error_description(-7) == "unknown result code -7");
    // rc 0 and the CONNACK codes, 3.1.1 and MQTT 5.
    CHECK(device_error_description(0) == "Connection accepted");
    CHECK(device_error_description(4) ==
          "Connection Refused, bad user name or password (CONNACK return code 4): the user name "
          "or password is malformed or not accepted");
    CHECK(device_error_description(0x87) ==
          "Not authorized (CONNACK 0x87): the client is not authorised to connect");
    // Other layers' errors map to the nearest device code.
    CHECK(device_rc({}) == 0);
    CHECK(device_rc(make_error_code(client_errc::offline_queue_full)) == -4);
    CHECK(device_rc(make_error_code(client_errc::disconnected)) == -3);
    CHECK(device_rc(make_error_code(client_errc::gave_up)) == -1);
    CHECK(device_rc(make_error_code(session_errc::packet_ids_exhausted)) == -10);
    CHECK(device_rc(make_error_code(session_errc::connection_refused_v3, 5)) == 5);
    CHECK(device_rc(make_error_code(session_errc::connection_refused, 0x86)) == 0x86);
    CHECK(device_rc(make_error_code(session_errc::connection_lost)) == -1);
    CHECK(device_rc(make_error_code(codec_errc::utf8_malformed, packet_type::publish)) == -5);
    CHECK(device_rc(std::make_error_code(std::errc::connection_refused)) == -1);
}

TEST_CASE("device: bad arguments are refused with an error that names them", "[device]") {
    mosquitto_broker broker;
    boost::asio::io_context io;
    device_client d(io.get_executor(), url_of(broker), "args");
    SECTION("before connect()") {
        auto early = d.publish("t", "x", 1);
        CHECK(early.error() == device_errc::disconnected);
        CHECK(early.error().message() == "disconnected: connect() has not been called");
        CHECK(d.subscribe("t", 0).error() == device_errc::disconnected);
        CHECK_FALSE(d.connected());
        CHECK(d.async_client() == nullptr);
    }
    SECTION("connect options") {
        auto ec = d.connect({}, {.password = "pw"});
        CHECK(ec == device_errc::null_value);
        CHECK(ec.message() ==
              "null value: a password without a username (MQTT 3.1.1 [MQTT-3.1.2-22])");
        ec = d.connect({}, {.will_qos = 1});
        CHECK(ec.message() == "null value: will_qos or will_message without will_topic");
        ec = d.connect({}, {.will_topic = "w", .will_qos = 3});
        CHECK(ec == device_errc::bad_qos);
        CHECK(ec.message() == "bad QoS: 3 for \"w\" (0, 1 or 2)");
        ec = d.connect({}, {.will_topic = "w/#"});
        CHECK(ec == device_errc::failure);
        CHECK(ec.message() == "generic failure: the will topic \"w/#\": PUBLISH: topic name "
                              "contains a wildcard [MQTT-3.3.2-2]");
        ec = d.connect({}, {.will_topic = ""});
        CHECK(ec.message() == "null value: the will topic is empty [MQTT-4.7.3-1]");
        ec = d.connect({}, {.username = "\xFF"});
        CHECK(ec == device_errc::invalid_utf8);
        CHECK_THAT(ec.message(), Catch::StartsWith("invalid UTF-8: the username: CONNECT: "));
        CHECK(d.async_client() == nullptr); // nothing was made of them
    }
    SECTION("publish and subscribe") {
        std::vector<connect_call> calls;
        REQUIRE_FALSE(d.connect(record_into(calls)));
        auto r = d.publish("", "x", 0);
        CHECK(r.error() == device_errc::null_value);
        CHECK(device_rc(r.error()) == -6);
        CHECK(r.error().message() == "null value: the publish topic is empty [MQTT-4.7.3-1]");
        r = d.publish("t", "x", 3);
        CHECK(r.error() == device_errc::bad_qos);
        CHECK(device_rc(r.error()) == -9);
        CHECK(r.error().message() == "bad QoS: 3 for \"t\" (0, 1 or 2)");
        CHECK(d.publish("t", "x", -1).error() == device_errc::bad_qos);
        r = d.publish("a/+", "x", 0);
        CHECK(r.error() == device_errc::failure);
        CHECK_THAT(r.error().message(), Catch::Contains("contains a wildcard"));
        r = d.publish("a\xC0\x80", "x", 0);
        CHECK(r.error() == device_errc::invalid_utf8);
        CHECK(device_rc(r.error()) == -5);
        auto s = d.subscribe("", 1);
        CHECK(s.error().message() == "null value: the topic filter is empty [MQTT-4.7.3-1]");
        s = d.subscribe("a/#/b", 1);
        CHECK(s.error() == device_errc::failure);
        CHECK_THAT(s.error().message(), Catch::StartsWith("generic failure: the topic filter "
                                                          "\"a/#/b\": SUBSCRIBE: "));
        s = d.subscribe({{"ok/#", 1}, {"bad", 7}});
        CHECK(s.error().message() == "bad QoS: 7 for \"bad\" (0, 1 or 2)");
        CHECK(d.subscribe(std::span<const std::pair<std::string, int>>{}).error() ==
              device_errc::null_value);
        REQUIRE(wait_for_calls(io, calls, 1));
        CHECK(calls[0].rc == 0);
        // Other options than the first connect()'s.
        auto again = d.connect({}, {.keep_alive = 30});
        CHECK(again == device_errc::failure);
        CHECK(again.message() == "generic failure: connect() takes the options of the first "
                                 "connect() only; make a new client for other options");
        bool closed = false;
        d.disconnect([&](std::error_code ec) {
            CHECK_FALSE(ec);
            closed = true;
        });
        CHECK(run_until(io, [&] { return closed; }));
    }
}

// ---------------------------------------------------------------- against mosquitto

TEST_CASE("device: connect, subscribe, publish at every QoS: callbacks, mids and the wire",
          "[device]") {
    for (auto version : {protocol_version::v3_1_1, protocol_version::v5, protocol_version::v3_1}) {
        INFO("MQTT version " << static_cast<int>(version));
        mosquitto_broker broker;
        boost::asio::io_context io;
        wire_checker wire(io, broker);
        device_client d(io.get_executor(), url_of(broker), "dev-1");
        std::vector<connect_call> calls;
        std::vector<std::pair<int, std::error_code>> published;
        std::vector<std::pair<int, std::vector<int>>> subscribed;
        std::vector<received> got;
        d.on_publish([&](int mid, std::error_code ec) { published.emplace_back(mid, ec); });
        d.on_subscribe([&](int mid, const std::vector<int>& granted) {
            subscribed.emplace_back(mid, granted);
        });
        d.on_message([&](std::string_view topic, bytes_view payload) {
            got.push_back({std::string{topic}, std::string{as_string(payload)}});
        });
        REQUIRE_FALSE(d.connect(record_into(calls), {.keep_alive = 20, .version = version}));
        REQUIRE(wait_for_calls(io, calls, 1));
        INFO(show(calls));
        CHECK(calls[0].rc == 0);
        CHECK_FALSE(calls[0].flags.error);
        CHECK(calls[0].flags.broker.port == broker.port());
        CHECK(d.connected());

        auto sub = d.subscribe({{"device/in/#", 1}, {"device/cmd/+", 2}, {"device/low", 0}});
        REQUIRE(sub);
        auto one = d.subscribe("device/one", 2);
        REQUIRE(one);
        CHECK(*one != *sub);
        REQUIRE(run_until(io, [&] { return subscribed.size() == 2; }));
        CHECK(subscribed[0] == std::pair<int, std::vector<int>>{*sub, {1, 2, 0}});
        CHECK(subscribed[1] == std::pair<int, std::vector<int>>{*one, {2}});

        std::vector<int> mids;
        for (int q : {0, 1, 2}) {
            auto mid = d.publish("device/status/" + std::to_string(q), "{\"status\": 42}", q);
            REQUIRE(mid);
            mids.push_back(*mid);
        }
        auto in = d.publish("device/in/a", "to myself", 1);
        auto cmd = d.publish("device/cmd/reboot", "", 2); // an empty message is fine
        REQUIRE(in);
        REQUIRE(cmd);
        mids.push_back(*in);
        mids.push_back(*cmd);
        REQUIRE(run_until(io, [&] {
            return published.size() == mids.size() && got.size() == 2 && wire.messages.size() == 5;
        }));
        // Each mid reported once, without error (QoS 2 takes longer than the
        // QoS 1 message after it: acknowledgements come in their own order).
        std::sort(published.begin(), published.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
        for (std::size_t i = 0; i < mids.size(); ++i) {
            CHECK(published[i].first == mids[i]);
            CHECK_FALSE(published[i].second);
        }
        // Distinct ids, counting up.
        CHECK(std::adjacent_find(mids.begin(), mids.end(), std::greater_equal<>{}) == mids.end());
        CHECK(got ==
              std::vector<received>{{"device/in/a", "to myself"}, {"device/cmd/reboot", ""}});
        auto by_topic = [](const received& a, const received& b) { return a.topic < b.topic; };
        std::sort(wire.messages.begin(), wire.messages.end(), by_topic);
        CHECK(wire.messages ==
              std::vector<received>{{"device/cmd/reboot", "", qos::exactly_once},
                                    {"device/in/a", "to myself", qos::at_least_once},
                                    {"device/status/0", "{\"status\": 42}", qos::at_most_once},
                                    {"device/status/1", "{\"status\": 42}", qos::at_least_once},
                                    {"device/status/2", "{\"status\": 42}", qos::exactly_once}});

        bool closed = false;
        d.disconnect([&](std::error_code ec) {
            CHECK_FALSE(ec);
            closed = true;
        });
        REQUIRE(run_until(io, [&] { return closed; }));
        CHECK(calls.size() == 1); // disconnect() is no on_connect news
        CHECK_FALSE(d.connected());
        // And connect() again, with the same options.
        REQUIRE_FALSE(d.connect(record_into(calls), {.keep_alive = 20, .version = version}));
        REQUIRE(wait_for_calls(io, calls, 2));
        CHECK(calls[1].rc == 0);
        auto after = d.publish("device/in/b", "again", 1);
        REQUIRE(after);
        REQUIRE(run_until(io, [&] { return got.size() == 3 && published.size() == 6; }));
        CHECK(got.back() == received{"device/in/b", "again"});
        CHECK(published.back().first == *after);
    }
}

TEST_CASE("device: the will is published when the connection dies", "[device]") {
    mosquitto_broker broker;
    boost::asio::io_context io;
    wire_checker wire(io, broker);
    device_client d(io.get_executor(), url_of(broker), "dev-will");
    std::vector<connect_call> calls;
    REQUIRE_FALSE(d.connect(record_into(calls), {.username = "logger",
                                                 .will_topic = "device/dev-will/state",
                                                 .will_qos = 1,
                                                 .will_message = "offline",
                                                 .will_retain = true}));
    REQUIRE(wait_for_calls(io, calls, 1));
    REQUIRE(calls[0].rc == 0);
    d.async_client()->abort_connection(); // as a network failure would
    REQUIRE(run_until(io, [&] { return !wire.messages.empty() && calls.size() >= 3; }));
    INFO(show(calls));
    CHECK(wire.messages[0] ==
          received{"device/dev-will/state", "offline", qos::at_least_once, false});
    // The loss (rc -1), then the reconnect after 1 s (rc 0).
    CHECK(calls[1].rc == -1);
    CHECK(calls[1].flags.lost);
    CHECK(calls[2].rc == 0);
    CHECK(calls[2].flags.session_present); // clean_session false: the broker kept it
    // Retained: a new subscriber gets it too.
    std::vector<received> late;
    bool subscribed = false;
    wire.client().async_subscribe(
        "device/+/state", qos::at_least_once,
        [&](const message_view& m) {
            late.push_back({std::string{m.topic}, std::string{m.payload_text()}, m.qos, m.retain});
        },
        [&](std::error_code, std::vector<suback_reason_code>) { subscribed = true; });
    REQUIRE(run_until(io, [&] { return subscribed && !late.empty(); }));
    CHECK(late[0] == received{"device/dev-will/state", "offline", qos::at_least_once, true});
}

TEST_CASE("device: messages published while the broker is down go out after it restarts",
          "[device]") {
    mosquitto_broker::options o;
    o.persistence = true;
    o.extra_config = {"queue_qos0_messages true"};
    mosquitto_broker broker(o);
    boost::asio::io_context io;
    wire_checker wire(io, broker, /*persistent=*/true);
    device_client d(io.get_executor(), url_of(broker), "dev-queue");
    std::vector<connect_call> calls;
    std::vector<std::pair<int, std::error_code>> published;
    d.on_publish([&](int mid, std::error_code ec) { published.emplace_back(mid, ec); });
    REQUIRE_FALSE(d.connect(record_into(calls)));
    REQUIRE(wait_for_calls(io, calls, 1));
    REQUIRE(calls[0].rc == 0);
    auto first = d.publish("queue/first", "before", 1);
    REQUIRE(run_until(io, [&] { return published.size() == 1 && wire.messages.size() == 1; }));

    broker.stop();
    REQUIRE(run_until(io, [&] { return calls.size() == 2; }));
    CHECK(calls[1].rc == -1);
    CHECK(calls[1].flags.lost);
    CHECK_FALSE(d.connected());
    std::vector<int> offline;
    for (int q : {0, 1, 2}) {
        auto mid =
            d.publish("queue/offline/" + std::to_string(q), "while down " + std::to_string(q), q);
        REQUIRE(mid);
        offline.push_back(*mid);
    }
    run_for(io, 300ms);
    CHECK(published.size() == 1); // waiting in the queue
    broker.start();
    REQUIRE(run_until(
        io, [&] { return published.size() == 4 && wire.messages.size() == 4; }, 20s));
    INFO(show(calls));
    CHECK(calls.back().rc == 0);
    CHECK(published[0].first == *first);
    for (std::size_t i = 0; i < offline.size(); ++i) {
        CHECK(published[i + 1].first == offline[i]);
        CHECK_FALSE(published[i + 1].second);
    }
    CHECK(wire.messages ==
          std::vector<received>{{"queue/first", "before", qos::at_least_once},
                                {"queue/offline/0", "while down 0", qos::at_most_once},
                                {"queue/offline/1", "while down 1", qos::at_least_once},
                                {"queue/offline/2", "while down 2", qos::exactly_once}});
}

TEST_CASE("device: TLS material from memory (PEM and DER) against mosquitto's TLS listeners",
          "[device]") {
    const auto& certs = test_certificates::get();
    using kind = mosquitto_broker::listener::kind;
    mosquitto_broker::options o;
    o.listeners = {{kind::tls,
                    certs.path("server.crt"),
                    certs.path("server.key"),
                    certs.path("ca.crt"),
                    true,
                    {}},
                   {kind::websocket_tls,
                    certs.path("server.crt"),
                    certs.path("server.key"),
                    certs.path("ca.crt"),
                    false,
                    {}}};
    mosquitto_broker broker(o);
    boost::asio::io_context io;
    wire_checker wire(io, broker);
    const auto tls_url = "ssl://localhost:" + std::to_string(broker.listener_port(0));
    const auto wss_url = "wss://127.0.0.1:" + std::to_string(broker.listener_port(1)) + "/";
    const auto ca_pem = certs.text("ca.crt");
    const auto client_pem = certs.text("client.crt");
    const auto key_pem = certs.text("client.key");

    struct variant {
        std::string name;
        std::string url;
        device_connect_options options;
    };
    const std::vector<variant> variants = {
        {"PEM", tls_url, {.trust_store = ca_pem, .private_key = key_pem, .key_store = client_pem}},
        {"DER",
         tls_url,
         {.trust_store = text_of(certs.bytes("ca.der")),
          .private_key = text_of(certs.bytes("client.key.der")),
          .key_store = text_of(certs.bytes("client.crt.der"))}},
        // Two DER certificates one after the other, ours second; the key in the chain.
        {"DER chain, key in the key store",
         tls_url,
         {.trust_store =
              text_of(der_of_pem(certs.text("other-ca.crt"))) + text_of(certs.bytes("ca.der")),
          .key_store = client_pem + key_pem}},
        {"WebSocket over TLS", wss_url, {.trust_store = ca_pem}},
    };
    SECTION("PEM, DER, a DER chain, a key inside the key store; TLS and WebSocket over TLS") {
        for (std::size_t i = 0; i < variants.size(); ++i) {
            const auto& v = variants[i];
            INFO(v.name);
            device_client d(io.get_executor(), v.url, "dev-tls-" + std::to_string(i));
            std::vector<connect_call> calls;
            REQUIRE_FALSE(d.connect(record_into(calls), v.options));
            REQUIRE(wait_for_calls(io, calls, 1));
            INFO(show(calls));
            CHECK(calls[0].rc == 0);
            bool done = false;
            d.on_publish([&](int, std::error_code ec) {
                CHECK_FALSE(ec);
                done = true;
            });
            REQUIRE(d.publish("tls/" + std::to_string(i), v.name, 1));
            REQUIRE(run_until(io, [&] { return done && wire.messages.size() == i + 1; }));
            CHECK(wire.messages.back() ==
                  received{"tls/" + std::to_string(i), v.name, qos::at_least_once});
            bool closed = false;
            d.disconnect([&](std::error_code) { closed = true; });
            REQUIRE(run_until(io, [&] { return closed; }));
        }
    }
    SECTION("a broker certificate from a CA the trust store does not hold: rc -1, TLS says why") {
        device_client d(io.get_executor(), tls_url, "dev-tls-other");
        std::vector<connect_call> calls;
        REQUIRE_FALSE(d.connect(record_into(calls), {.trust_store = certs.text("other-ca.crt")}));
        REQUIRE(wait_for_calls(io, calls, 1));
        CHECK(calls[0].rc == -1);
        CHECK(calls[0].flags.error == transport::tls_errc::unknown_ca);
        CHECK(calls[0].flags.retry_in == 1s);
        CHECK_FALSE(calls[0].flags.gave_up);
    }
    SECTION("TLS material OpenSSL cannot read is refused by connect()") {
        device_client d(io.get_executor(), tls_url, "dev-tls-bad");
        auto ec = d.connect({}, {.trust_store = "-----BEGIN CERTIFICATE-----\nnot base64\n"});
        CHECK(ec == transport::tls_errc::bad_ca_certificate);
        ec = d.connect({}, {.trust_store = "\x30\x82\x01"});
        CHECK(ec.message() == "generic failure: trust_store: a DER certificate of unreadable "
                              "length");
        ec = d.connect({}, {.trust_store = ca_pem, .key_store = client_pem});
        CHECK(ec == transport::tls_errc::certificate_without_key);
        CHECK(d.async_client() == nullptr);
    }
}

TEST_CASE("device: a refusal by mosquitto for authorisation is final (3.1.1 rc 5, MQTT 5 0x87)",
          "[device]") {
    mosquitto_broker::options o;
    o.allow_anonymous = false;
    mosquitto_broker broker(o);
    for (auto [version, code] :
         {std::pair{protocol_version::v3_1_1, 5}, std::pair{protocol_version::v5, 0x87}}) {
        INFO("MQTT version " << static_cast<int>(version));
        fake_clock::set(0ms);
        boost::asio::io_context io;
        fake_clock_device d(io.get_executor(), url_of(broker), "dev-refused");
        std::vector<connect_call> calls;
        std::vector<std::pair<int, std::error_code>> published;
        d.on_publish([&](int mid, std::error_code ec) { published.emplace_back(mid, ec); });
        REQUIRE_FALSE(d.connect(record_into(calls), {.version = version}));
        auto queued = d.publish("never/sent", "x", 1);
        REQUIRE(queued);
        REQUIRE(wait_for_calls(io, calls, 1));
        // Three minutes on the client's clock: no further attempt.
        for (auto t = 500ms; t <= 180s; t += 500ms) {
            fake_clock::set(t);
            run_for(io, 2ms);
        }
        run_for(io, 100ms);
        INFO(show(calls));
        REQUIRE(calls.size() == 1);
        CHECK(calls[0].rc == code);
        CHECK(calls[0].flags.gave_up);
        CHECK(refusal_code(calls[0].flags.error) == code);
        CHECK(describe_connect_result(calls[0].flags.error) == device_error_description(code));
        REQUIRE(published.size() == 1); // the queued message fails with the refusal
        CHECK(published[0].first == *queued);
        CHECK(device_rc(published[0].second) == code);
    }
    // Each attempt is one CONNACK in mosquitto's log: one per version.
    const auto log = broker.log();
    std::size_t connacks = 0;
    for (auto at = log.find("Sending CONNACK to"); at != std::string::npos;
         at = log.find("Sending CONNACK to", at + 1))
        ++connacks;
    CHECK(connacks == 2);
}

// ---------------------------------------------------------------- the schedule on a fake clock

namespace {

// Moves the fake clock from `from` to `to` in 500 ms steps. After each step
// the io_context runs: until the next on_connect call where `expected` has
// one, else for a few milliseconds (a call that comes elsewhere is recorded
// where it comes, and the comparison with `expected` shows it).
void step_clock(boost::asio::io_context& io, const std::vector<connect_call>& calls,
                std::chrono::milliseconds from, std::chrono::milliseconds to,
                const std::vector<std::chrono::milliseconds>& expected) {
    for (auto t = from; t <= to; t += 500ms) {
        fake_clock::set(t);
        const auto before = calls.size();
        if (std::find(expected.begin(), expected.end(), t) != expected.end())
            run_until(
                io, [&] { return calls.size() > before; }, 5s);
        else
            run_for(io, 3ms);
    }
}

std::vector<std::chrono::milliseconds> times_of(const std::vector<connect_call>& calls) {
    std::vector<std::chrono::milliseconds> out;
    for (const auto& c : calls)
        out.push_back(c.at);
    return out;
}

} // namespace

TEST_CASE("device: reconnects after 1, 2, 4, 8, 16, 32 s, then every 60 s; a connection resets "
          "the schedule (fake clock)",
          "[device]") {
    mosquitto_broker broker;
    broker.kill(); // its port refuses connections until start()
    fake_clock::set(0ms);
    boost::asio::io_context io;
    fake_clock_device d(io.get_executor(),
                        "tcp://" + broker.host() + ":" + std::to_string(broker.port()),
                        "dev-schedule");
    std::vector<connect_call> calls;
    REQUIRE_FALSE(d.connect(record_into(calls)));
    REQUIRE(wait_for_calls(io, calls, 1));

    // Down: an attempt at 0 s, then after 1, 2, 4, 8, 16, 32, 60 and 60 s.
    const std::vector<std::chrono::milliseconds> down = {0s, 1s, 3s, 7s, 15s, 31s, 63s, 123s, 183s};
    step_clock(io, calls, 500ms, 183s, down);
    INFO(show(calls));
    REQUIRE(times_of(calls) == down);
    const std::vector<std::chrono::milliseconds> delays = {1s, 2s, 4s, 8s, 16s, 32s, 60s, 60s, 60s};
    for (std::size_t i = 0; i < calls.size(); ++i) {
        CHECK(calls[i].rc == -1);
        CHECK(calls[i].flags.retry_in == delays[i]);
        CHECK_FALSE(calls[i].flags.lost);
        CHECK_FALSE(calls[i].flags.gave_up);
        CHECK(calls[i].flags.error == std::errc::connection_refused);
    }

    // Up again: the next attempt, 60 s later, connects.
    broker.start();
    step_clock(io, calls, 183500ms, 243s, {243s});
    REQUIRE(calls.size() == down.size() + 1);
    CHECK(calls.back().rc == 0);
    CHECK(calls.back().at == 243s);

    // Lost (rc -1 at once), then 1, 2, 4 s again: the schedule started over.
    broker.kill();
    REQUIRE(wait_for_calls(io, calls, down.size() + 2));
    CHECK(calls.back().rc == -1);
    CHECK(calls.back().flags.lost);
    CHECK(calls.back().at == 243s);
    step_clock(io, calls, 243500ms, 250s, {244s, 246s, 250s});
    std::vector<std::chrono::milliseconds> all = down;
    for (auto t : {243s, 243s, 244s, 246s, 250s})
        all.push_back(t);
    CHECK(times_of(calls) == all);
    CHECK(calls.back().flags.retry_in == 8s);
}

TEST_CASE("device: CONNACK 3 (server unavailable) is retried, 4 (bad user name or password) is "
          "final (fake broker, fake clock)",
          "[device]") {
    using namespace ctmqtt_test::steps;
    fake_broker::options fo;
    fo.version = protocol_version::v3_1_1;
    fake_broker b(fo);
    for (const char* connack : {"20 02 00 03", "20 02 00 03", "20 02 00 04"})
        b.script({expect(packet_type::connect), send_hex(connack), wait_closed()});
    fake_clock::set(0ms);
    boost::asio::io_context io;
    fake_clock_device d(io.get_executor(), "mqtt://127.0.0.1:" + std::to_string(b.port()),
                        "dev-fake");
    std::vector<connect_call> calls;
    REQUIRE_FALSE(d.connect(record_into(calls), {.username = "u", .password = "wrong"}));
    REQUIRE(wait_for_calls(io, calls, 1));
    step_clock(io, calls, 500ms, 200s, {1s, 3s});
    REQUIRE(run_until(io, [&] { return b.wait_done(0ms); }));
    INFO(show(calls) << b.report());
    CHECK(b.errors().empty());
    CHECK(b.connections() == 3);
    REQUIRE(times_of(calls) == std::vector<std::chrono::milliseconds>{0s, 1s, 3s});
    CHECK(calls[0].rc == 3);
    CHECK(calls[1].rc == 3);
    CHECK_FALSE(calls[1].flags.gave_up);
    CHECK(calls[2].rc == 4);
    CHECK(calls[2].flags.gave_up);
    CHECK(device_error_description(calls[0].rc) ==
          "Connection Refused, Server unavailable (CONNACK return code 3): the network "
          "connection is up, but the MQTT service is unavailable");
    // The CONNECTs carried the credentials.
    const auto first = b.received(1).at(0);
    const auto c = first.as<ctmqtt::connect>();
    CHECK(c.client_id == "dev-fake");
    CHECK(c.user_name == "u");
    CHECK_FALSE(c.clean_start); // the DL-7450's clean_session 0
    CHECK(c.keep_alive == 0);   // no keep alive unless asked
}

TEST_CASE("device: after a loss and disconnect(), connect() again reports its failed attempts",
          "[device]") {
    mosquitto_broker broker;
    fake_clock::set(0ms);
    boost::asio::io_context io;
    fake_clock_device d(io.get_executor(), url_of(broker), "dev-again");
    std::vector<connect_call> calls;
    REQUIRE_FALSE(d.connect(record_into(calls)));
    REQUIRE(wait_for_calls(io, calls, 1));
    REQUIRE(calls[0].rc == 0);
    broker.kill();
    REQUIRE(wait_for_calls(io, calls, 2));
    CHECK(calls[1].flags.lost);
    bool closed = false;
    d.disconnect([&](std::error_code) { closed = true; }); // while the reconnect waits
    REQUIRE(run_until(io, [&] { return closed; }));
    run_for(io, 20ms);
    CHECK(calls.size() == 2);
    REQUIRE_FALSE(d.connect(record_into(calls)));
    REQUIRE(wait_for_calls(io, calls, 3));
    INFO(show(calls));
    CHECK(calls[2].rc == -1);
    CHECK_FALSE(calls[2].flags.lost);
    CHECK(calls[2].flags.error == std::errc::connection_refused);
    // (The client's backoff goes on from where the loss left it: 2 s.)
    const auto next = calls[2].flags.retry_in;
    CHECK(next > 0ms);
    broker.start();
    step_clock(io, calls, 500ms, next, {next});
    REQUIRE(calls.size() == 4);
    CHECK(calls[3].rc == 0);
    CHECK(calls[3].at == next);
}
