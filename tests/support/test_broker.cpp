// Tests of the test-support broker (mosquitto_broker.hpp) against a real
// mosquitto: MQTT spoken over raw POSIX sockets with ctmqtt's codec.
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ctmqtt/core.hpp>

#include "mosquitto_broker.hpp"

namespace {

namespace mq = ctmqtt;
using ctmqtt_test::mosquitto_broker;
using ctmqtt_test::tcp_connect_ok;
using namespace std::chrono_literals;

mq::bytes_view bytes_of(std::string_view s) {
    return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

std::string_view text_of(mq::bytes_view b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// A minimal blocking MQTT connection: writes encoded packets, reads whole
// packets (raw bytes) with a timeout.
class raw_client {
public:
    raw_client(const mosquitto_broker& broker, mq::protocol_version v) : broker_(&broker), v_(v) {
        fd_ = ctmqtt_test::detail::unique_fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!fd_)
            ctmqtt_test::detail::throw_errno("socket");
        const auto addr = ctmqtt_test::detail::loopback_address(broker.host(), broker.port());
        if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
            ctmqtt_test::detail::throw_errno("connect to " + broker.url());
        int one = 1;
        ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }

    mq::protocol_version version() const noexcept { return v_; }

    template <class P>
    void send(const P& p) {
        std::vector<std::byte> buffer(mq::header_size(p, v_));
        auto encoded = mq::encode(p, v_, buffer);
        if (!encoded)
            throw std::runtime_error("encode: " + encoded.error().message());
        write_all(encoded->header);
        write_all(encoded->payload);
    }

    /// The next whole packet, or nullopt if none arrives within `timeout` (or
    /// the connection is closed).
    std::optional<std::vector<std::byte>> receive(std::chrono::milliseconds timeout = 5s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto header = mq::parse_fixed_header(in_, v_);
            if (!header)
                throw std::runtime_error("malformed header: " + header.error().message());
            if (*header && (*header)->packet_size() <= in_.size()) {
                const auto n = (*header)->packet_size();
                std::vector<std::byte> packet(in_.begin(), in_.begin() + static_cast<long>(n));
                in_.erase(in_.begin(), in_.begin() + static_cast<long>(n));
                return packet;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0)
                return std::nullopt;
            pollfd p{fd_.get(), POLLIN, 0};
            const int r = ::poll(&p, 1, static_cast<int>(left.count()));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return std::nullopt;
            std::byte chunk[4096];
            const auto got = ::recv(fd_.get(), chunk, sizeof chunk, 0);
            if (got <= 0)
                return std::nullopt; // closed
            in_.insert(in_.end(), chunk, chunk + got);
        }
    }

    /// Receives the next packet and decodes it as P (throws otherwise). The
    /// result's views point into `storage`.
    template <class P>
    P expect(std::vector<std::byte>& storage, std::chrono::milliseconds timeout = 5s) {
        auto packet = receive(timeout);
        if (!packet)
            fail("no packet within " + std::to_string(timeout.count()) + " ms");
        storage = std::move(*packet);
        auto decoded = mq::decode<P>(storage, v_);
        if (!decoded)
            fail("decode: " + decoded.error().message());
        return *decoded;
    }

    /// CONNECT and wait for the CONNACK; true if accepted.
    bool handshake(std::string_view client_id, bool clean = true) {
        send_connect(client_id, clean);
        std::vector<std::byte> storage;
        const auto ack = expect<mq::connack>(storage);
        return ack.accepted(v_);
    }

    void send_connect(std::string_view client_id, bool clean = true) {
        mq::connect c;
        c.version = v_;
        c.client_id = client_id;
        c.clean_start = clean;
        c.keep_alive = 30;
        send(c);
    }

    /// SUBSCRIBE to one filter and wait for a SUBACK granting it.
    void subscribe(std::string_view filter, mq::qos q = mq::qos::at_most_once) {
        const mq::subscription subs[] = {{filter, q}};
        mq::subscribe s;
        s.packet_id = next_id_++;
        s.subscriptions = subs;
        send(s);
        std::vector<std::byte> storage;
        const auto ack = expect<mq::suback>(storage);
        REQUIRE(ack.packet_id == s.packet_id);
        REQUIRE(ack.reason_codes.size() == 1u);
        for (const auto& rc : ack.reason_codes)
            REQUIRE(rc.value() < 0x80);
    }

    /// PUBLISH; at QoS 1, waits for the PUBACK.
    void publish(std::string_view topic, std::string_view payload, bool retain = false,
                 mq::qos q = mq::qos::at_most_once) {
        mq::publish p;
        p.topic = topic;
        p.payload = bytes_of(payload);
        p.retain = retain;
        p.qos = q;
        if (q != mq::qos::at_most_once)
            p.packet_id = next_id_++;
        send(p);
        if (q == mq::qos::at_least_once) {
            std::vector<std::byte> storage;
            const auto ack = expect<mq::puback>(storage);
            REQUIRE(ack.packet_id == p.packet_id);
        }
    }

private:
    // Failures carry the end of the broker's log.
    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error(what + "\n" + broker_->log_tail());
    }

    void write_all(mq::bytes_view data) {
        while (!data.empty()) {
            const auto n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                ctmqtt_test::detail::throw_errno("send");
            data = data.subspan(static_cast<std::size_t>(n));
        }
    }

    const mosquitto_broker* broker_;
    ctmqtt_test::detail::unique_fd fd_;
    mq::protocol_version v_;
    std::vector<std::byte> in_;
    std::uint16_t next_id_ = 1;
};

// Whether a process exists and is not a zombie.
bool process_alive(pid_t pid) {
    if (::kill(pid, 0) != 0)
        return false;
    std::string stat = ctmqtt_test::detail::read_file("/proc/" + std::to_string(pid) + "/stat");
    const auto paren = stat.rfind(')');
    return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

bool wait_until_dead(pid_t pid, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (process_alive(pid)) {
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        ::usleep(5000);
    }
    return true;
}

} // namespace

TEST_CASE("broker: starts on a free loopback port, not 1883", "[broker]") {
    mosquitto_broker broker;
    INFO("broker log: " << broker.log_file().string());
    CHECK(broker.host() == "127.0.0.1");
    CHECK(broker.port() != 0);
    CHECK(broker.port() != 1883);
    CHECK(broker.url() == "mqtt://127.0.0.1:" + std::to_string(broker.port()));
    REQUIRE(broker.running());
    CHECK(process_alive(broker.pid()));
    CHECK(tcp_connect_ok(broker.host(), broker.port()));
    CHECK(std::filesystem::is_regular_file(broker.config_file()));
    CHECK(broker.log().find("Opening ipv4 listen socket on port " +
                            std::to_string(broker.port())) != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(broker.persistence_dir()));
}

TEST_CASE("broker: CONNECT/CONNACK over a raw socket, MQTT 3.1.1 and 5.0", "[broker]") {
    mosquitto_broker broker;
    INFO("broker log: " << broker.log_file().string());
    for (auto v : {mq::protocol_version::v3_1_1, mq::protocol_version::v5}) {
        INFO(mq::to_string(v));
        raw_client client(broker, v);
        client.send_connect("ctmqtt-connect");
        std::vector<std::byte> storage;
        const auto ack = client.expect<mq::connack>(storage);
        CHECK(ack.accepted(v));
        CHECK_FALSE(ack.session_present);
    }
    CHECK(broker.log().find("ctmqtt-connect") != std::string::npos);
}

TEST_CASE("broker: SUBSCRIBE and PUBLISH round trip through the broker", "[broker]") {
    mosquitto_broker broker;
    INFO("broker log: " << broker.log_file().string());
    for (auto v : {mq::protocol_version::v3_1_1, mq::protocol_version::v5}) {
        INFO(mq::to_string(v));
        raw_client subscriber(broker, v);
        REQUIRE(subscriber.handshake("ctmqtt-sub"));
        subscriber.subscribe("ctmqtt/test/+");
        raw_client publisher(broker, v);
        REQUIRE(publisher.handshake("ctmqtt-pub"));
        publisher.publish("ctmqtt/test/a", "hello");

        std::vector<std::byte> storage;
        const auto got = subscriber.expect<mq::publish>(storage);
        CHECK(got.topic == "ctmqtt/test/a");
        CHECK(text_of(got.payload) == "hello");
        CHECK_FALSE(got.retain);
    }
}

TEST_CASE("broker: kill, connection refused, start again on the same port", "[broker]") {
    mosquitto_broker broker;
    INFO("broker log: " << broker.log_file().string());
    const auto port = broker.port();
    const auto first_pid = broker.pid();

    broker.kill();
    CHECK_FALSE(broker.running());
    CHECK(broker.pid() == -1);
    CHECK_FALSE(process_alive(first_pid)); // reaped, not a zombie
    CHECK_FALSE(tcp_connect_ok(broker.host(), broker.port()));
    CHECK_THROWS_AS(raw_client(broker, mq::protocol_version::v5), std::system_error);
    CHECK_THROWS_AS(broker.pause(), std::logic_error);
    broker.kill(); // no-op when not running
    broker.stop();

    broker.start();
    CHECK(broker.running());
    CHECK(broker.port() == port);
    CHECK(broker.pid() != first_pid);
    CHECK_THROWS_AS(broker.start(), std::logic_error);
    {
        raw_client client(broker, mq::protocol_version::v5);
        CHECK(client.handshake("ctmqtt-after-kill"));
    }

    const auto second_pid = broker.pid();
    broker.restart();
    CHECK(broker.port() == port);
    CHECK_FALSE(process_alive(second_pid));
    raw_client client(broker, mq::protocol_version::v3_1_1);
    CHECK(client.handshake("ctmqtt-after-restart"));
}

TEST_CASE("broker: pause stops answering, resume answers", "[broker]") {
    mosquitto_broker broker;
    INFO("broker log: " << broker.log_file().string());
    broker.pause();
    CHECK(broker.paused());
    // The kernel still completes the TCP handshake, but nobody reads.
    raw_client client(broker, mq::protocol_version::v5);
    client.send_connect("ctmqtt-paused");
    CHECK_FALSE(client.receive(1s).has_value());

    broker.resume();
    CHECK_FALSE(broker.paused());
    std::vector<std::byte> storage;
    const auto ack = client.expect<mq::connack>(storage);
    CHECK(ack.accepted(mq::protocol_version::v5));
}

bool exited_cleanly(int status) {
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST_CASE("broker: stop right after start and after pause: SIGTERM is enough", "[broker]") {
    // SIGTERM handled, no SIGKILL fallback: mosquitto exits with status 0.
    mosquitto_broker broker;
    INFO("broker log: " << broker.log_file().string());
    for (int i = 0; i < 5; ++i) {
        const auto pid = broker.pid();
        if (i % 2 == 1)
            broker.pause();
        const auto t0 = std::chrono::steady_clock::now();
        broker.stop();
        CHECK(std::chrono::steady_clock::now() - t0 < 1s);
        CHECK(exited_cleanly(broker.last_exit_status()));
        CHECK_FALSE(broker.running());
        CHECK_FALSE(broker.paused());
        CHECK_FALSE(process_alive(pid));
        broker.start();
    }
    broker.kill();
    CHECK(WIFSIGNALED(broker.last_exit_status()));
}

namespace {

// Subscribes to `filter` and returns the payload of the retained message the
// broker sends, or "" if none: a sentinel published after the SUBACK arrives
// after any retained message, so no timeout is needed.
std::string retained_payload(const mosquitto_broker& broker, std::string_view topic) {
    raw_client client(broker, mq::protocol_version::v5);
    REQUIRE(client.handshake("ctmqtt-retained-reader"));
    client.subscribe("ctmqtt/sentinel");
    client.subscribe(topic); // any retained message follows this SUBACK
    client.publish("ctmqtt/sentinel", "sentinel");
    std::vector<std::byte> storage;
    const auto got = client.expect<mq::publish>(storage);
    if (got.topic == "ctmqtt/sentinel")
        return "";
    CHECK(got.topic == topic);
    CHECK(got.retain);
    return std::string(text_of(got.payload));
}

void publish_retained(const mosquitto_broker& broker, std::string_view topic,
                      std::string_view payload) {
    raw_client client(broker, mq::protocol_version::v5);
    REQUIRE(client.handshake("ctmqtt-retained-writer"));
    client.publish(topic, payload, /*retain=*/true, mq::qos::at_least_once);
}

} // namespace

TEST_CASE("broker: persistence keeps a retained message across stop/start", "[broker]") {
    mosquitto_broker broker({.persistence = true});
    INFO("broker log: " << broker.log_file().string());
    publish_retained(broker, "ctmqtt/retained", "kept");
    REQUIRE(retained_payload(broker, "ctmqtt/retained") == "kept");

    broker.stop(); // SIGTERM: mosquitto saves its database
    CHECK(std::filesystem::is_regular_file(broker.persistence_file()));
    broker.start();
    CHECK(retained_payload(broker, "ctmqtt/retained") == "kept");
}

TEST_CASE("broker: without persistence a retained message is lost on restart", "[broker]") {
    mosquitto_broker broker;
    INFO("broker log: " << broker.log_file().string());
    publish_retained(broker, "ctmqtt/retained", "lost");
    REQUIRE(retained_payload(broker, "ctmqtt/retained") == "lost");
    broker.restart();
    CHECK(retained_payload(broker, "ctmqtt/retained").empty());
    CHECK_FALSE(std::filesystem::exists(broker.persistence_file()));
}

TEST_CASE("broker: two brokers at once", "[broker]") {
    mosquitto_broker a;
    mosquitto_broker b;
    CHECK(a.port() != b.port());
    CHECK(a.pid() != b.pid());
    CHECK(a.dir() != b.dir());
    raw_client ca(a, mq::protocol_version::v5);
    raw_client cb(b, mq::protocol_version::v5);
    CHECK(ca.handshake("ctmqtt-a"));
    CHECK(cb.handshake("ctmqtt-b"));
}

TEST_CASE("broker: extra_config and allow_anonymous", "[broker]") {
    SECTION("anonymous refused") {
        mosquitto_broker broker({.allow_anonymous = false});
        INFO("broker log: " << broker.log_file().string());
        raw_client client(broker, mq::protocol_version::v3_1_1);
        CHECK_FALSE(client.handshake("ctmqtt-anonymous"));
    }
    SECTION("a listener option from extra_config") {
        // max_keepalive: MQTT 5 clients asking for more get it in the CONNACK.
        mosquitto_broker broker({.extra_config = {"max_keepalive 10"}});
        INFO("broker log: " << broker.log_file().string());
        raw_client client(broker, mq::protocol_version::v5);
        client.send_connect("ctmqtt-keepalive");
        std::vector<std::byte> storage;
        const auto ack = client.expect<mq::connack>(storage);
        CHECK(ack.accepted(mq::protocol_version::v5));
        CHECK(ack.properties.get<mq::property_id::server_keep_alive>() == 10u);
    }
}

TEST_CASE("broker: a broker that cannot start throws with its log", "[broker]") {
    try {
        mosquitto_broker broker({.extra_config = {"no_such_option 1"}});
        FAIL("constructor did not throw");
    } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        INFO(what);
        CHECK(what.find("mosquitto exited during startup") != std::string::npos);
        CHECK(what.find("no_such_option") != std::string::npos);
    }
}

TEST_CASE("broker: start() on a port someone else took throws", "[broker]") {
    mosquitto_broker broker;
    broker.kill();
    // Take the broker's port.
    ctmqtt_test::detail::unique_fd squatter(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(squatter);
    int one = 1;
    ::setsockopt(squatter.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    const auto addr = ctmqtt_test::detail::loopback_address(broker.host(), broker.port());
    REQUIRE(::bind(squatter.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(squatter.get(), 4) == 0);
    try {
        broker.start();
        FAIL("start() did not throw");
    } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        INFO(what);
        CHECK(what.find("Address already in use") != std::string::npos);
    }
    CHECK_FALSE(broker.running());
    squatter.reset();
    broker.start(); // the port is free again
    raw_client client(broker, mq::protocol_version::v5);
    CHECK(client.handshake("ctmqtt-after-squatter"));
}

TEST_CASE("broker: the destructor leaves no process and no directory", "[broker]") {
    pid_t pid = -1;
    std::filesystem::path dir;
    {
        mosquitto_broker broker({.persistence = true});
        pid = broker.pid();
        dir = broker.dir();
        REQUIRE(process_alive(pid));
        broker.pause(); // a paused broker is stopped too
    }
    CHECK(::kill(pid, 0) == -1);
    CHECK(errno == ESRCH); // gone and reaped
    if (!ctmqtt_test::detail::env_flag("CTMQTT_KEEP_BROKER_DIR"))
        CHECK_FALSE(std::filesystem::exists(dir));
}

TEST_CASE("broker: the broker dies with the process that started it", "[broker]") {
    // A child process starts a broker and is killed. The test process becomes
    // a subreaper so the orphaned broker is re-parented to it, not to PID 1,
    // and can be reaped here.
    struct report {
        pid_t pid = -1;
        char dir[1024] = {};
    };
    REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(fds[0]);
        report r;
        try {
            auto* broker = new mosquitto_broker; // never destroyed: this process is killed
            r.pid = broker->pid();
            broker->dir().string().copy(r.dir, sizeof r.dir - 1);
        } catch (...) {
        }
        [[maybe_unused]] auto n = ::write(fds[1], &r, sizeof r);
        for (;;)
            ::pause();
    }
    ::close(fds[1]);
    report r;
    const auto n = ::read(fds[0], &r, sizeof r);
    ::close(fds[0]);
    REQUIRE(n == static_cast<long>(sizeof r));
    REQUIRE(r.pid > 0);
    REQUIRE(process_alive(r.pid));

    ::kill(child, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(wait_until_dead(r.pid, 5s));
    CHECK(::waitpid(r.pid, &status, 0) == r.pid); // reap the orphan: we are its subreaper
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
    CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    // The killed process could not remove its directory.
    std::error_code ec;
    std::filesystem::remove_all(r.dir, ec);
}
