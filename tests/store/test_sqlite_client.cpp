// basic_client<transport::tcp, store::sqlite> against a real mosquitto: a
// publisher with a persistent session sends QoS 1 and QoS 2 messages that the
// broker never reads (it is stopped with SIGSTOP, then killed with SIGKILL, so
// the PUBLISHes in its socket buffers are lost), and dies without any
// acknowledgement: destroyed in this process, or its own process killed with
// SIGKILL. A new client with the same database file and client id resumes,
// and a subscriber receives every QoS 1 message at least once and every QoS 2
// message exactly once.
//
// The same scenario with store::memory loses every one of those messages (the
// new client has nothing to resend): the last test checks that, so these
// tests cannot pass without the SQLite store doing its work.
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ctmqtt/client/client.hpp>
#include <ctmqtt/store/sqlite.hpp>

#include "../support/client_support.hpp"
#include "../support/mosquitto_broker.hpp"
#include "store_bridge.hpp"

using namespace ctmqtt;
using namespace std::chrono_literals;
using ctmqtt_test::mosquitto_broker;

namespace {

constexpr int n = 10; // per QoS: 2n in flight, within mosquitto's Receive Maximum (20)

// Runs `io` until `done()` holds; false if 10 s pass first (a paused broker
// and a killed process take longer than the shared default).
template <class Done>
bool run_until(boost::asio::io_context& io, Done done) {
    return ctmqtt_test::run_until(io, done, 10s);
}

template <class Client>
bool connect(boost::asio::io_context& io, Client& c) {
    std::optional<std::error_code> result;
    c.async_connect([&](std::error_code ec) { result = ec; });
    return run_until(io, [&] { return result.has_value(); }) && !*result;
}

// A persistent session: MQTT 5 with a Session Expiry Interval (clean start the
// first time unless `resume`), 3.1.1 with Clean Session 0.
client_options persistent(const mosquitto_broker& broker, protocol_version v, std::string id,
                          bool resume, int* connects = nullptr, bool* session_present = nullptr) {
    auto o = ctmqtt_test::options_for(broker, v, std::move(id));
    if (v == protocol_version::v5)
        o.session_expiry_interval = 300;
    o.clean_start = v == protocol_version::v5 && !resume;
    o.on_state = [connects, session_present](const connection_state& s) {
        if (s.what != connection_state::kind::connected)
            return;
        if (connects != nullptr)
            ++*connects;
        if (session_present != nullptr)
            *session_present = s.session_present;
    };
    return o;
}

template <class Store>
Store make_store(const std::string& path, const std::string& id) {
    if constexpr (std::is_same_v<Store, store::sqlite>)
        return store::sqlite{path, id};
    else
        return Store{};
}

template <class Client>
void publish_all(Client& c, const std::string& q1, const std::string& q2) {
    for (int i = 0; i < n; ++i) {
        c.async_publish(q1, std::to_string(i), qos::at_least_once, false, [](std::error_code) {});
        c.async_publish(q2, std::to_string(i), qos::exactly_once, false, [](std::error_code) {});
    }
}

// The publishes in flight that a new client would restore from the file.
std::size_t in_flight_in_file(const std::string& path, const std::string& id, protocol_version v) {
    store::memory none;
    ctmqtt_test::store_bridge<store::memory> handler{none}; // the hooks go nowhere
    session::options o;
    o.version = v;
    session s{o, handler};
    store::sqlite st{path, id};
    const auto ec = st.restore(s);
    INFO(ec.message());
    REQUIRE_FALSE(ec);
    return s.publishes_in_flight();
}

bool write_byte(int fd, char c) {
    return ::write(fd, &c, 1) == 1;
}

// The next byte from `fd`, or 0 if none comes within `limit`.
char read_byte(int fd, std::chrono::milliseconds limit = 10s) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) != 1)
        return 0;
    char c = 0;
    return ::read(fd, &c, 1) == 1 ? c : 0;
}

// In a child process: connects, says 'c' and waits for 'g' (the broker is
// paused then), publishes, lets the writes go out, says 'r' and waits to be
// killed. No test macros here: the parent checks what it left in the file.
[[noreturn]] void child_publisher(client_options o, const std::string& path, const std::string& q1,
                                  const std::string& q2, int to_parent, int from_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    try {
        boost::asio::io_context io;
        basic_client<transport::tcp, store::sqlite> pub(io.get_executor(), o,
                                                        store::sqlite{path, o.client_id});
        if (!connect(io, pub) || !write_byte(to_parent, 'c') || read_byte(from_parent) != 'g')
            ::_exit(1);
        publish_all(pub, q1, q2);
        io.restart();
        io.run_for(300ms);
        write_byte(to_parent, 'r');
        for (;;)
            ::pause();
    } catch (...) {
    }
    ::_exit(2);
}

// Pauses the broker and waits until the kernel shows it stopped (Linux: the
// state in /proc/<pid>/stat), so that it reads nothing sent after this.
void pause_broker(mosquitto_broker& broker) {
    broker.pause();
    const std::string stat = "/proc/" + std::to_string(broker.pid()) + "/stat";
    const auto end = std::chrono::steady_clock::now() + 2s;
    for (;;) {
        std::ifstream in(stat);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto paren = text.rfind(')'); // "pid (comm) S ..."
        if (paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'T')
            return;
        REQUIRE(std::chrono::steady_clock::now() < end);
        std::this_thread::sleep_for(1ms);
    }
}

enum class ending { destroyed, process_killed };

struct outcome {
    std::vector<int> q1 = std::vector<int>(n); ///< times each QoS 1 message arrived
    std::vector<int> q2 = std::vector<int>(n); ///< times each QoS 2 message arrived
    std::size_t in_flight_at_death = 0;        ///< rows in the file (store::sqlite)
    std::size_t in_flight_at_end = 0;
    bool session_present = false; ///< at the new publisher's connection
};

template <class Store>
outcome resume_after_death(protocol_version v, ending how) {
    using publisher = basic_client<transport::tcp, Store>;
    constexpr bool persistent_store = std::is_same_v<Store, store::sqlite>;
    const std::string tag{to_string(v)};
    const std::string q1 = "resume/" + tag + "/q1";
    const std::string q2 = "resume/" + tag + "/q2";
    const std::string pub_id = "pub-" + tag;
    mosquitto_broker broker({.persistence = true});
    const std::string db = (broker.dir() / "client-state.db").string();
    outcome out;
    bool end_received = false;

    boost::asio::io_context io;
    int sub_connects = 0;
    client sub(io.get_executor(), persistent(broker, v, "sub-" + tag, false, &sub_connects));
    REQUIRE(connect(io, sub));
    const auto on_message = [&](const message_view& m) {
        const std::string text{reinterpret_cast<const char*>(m.payload.data()), m.payload.size()};
        if (text == "end") {
            end_received = true;
            return;
        }
        const int i = std::stoi(text);
        REQUIRE(i >= 0);
        REQUIRE(i < n);
        ++(m.topic == q1 ? out.q1 : out.q2)[static_cast<std::size_t>(i)];
    };
    for (auto [filter, q] : {std::pair{q1, qos::at_least_once}, std::pair{q2, qos::exactly_once}}) {
        bool subscribed = false;
        sub.async_subscribe(filter, q, on_message,
                            [&](std::error_code ec, std::vector<suback_reason_code> codes) {
                                subscribed = !ec && codes.size() == 1 && !codes[0].is_error();
                            });
        REQUIRE(run_until(io, [&] { return subscribed; }));
    }

    int pub_connects = 0;
    std::optional<publisher> pub;
    if (how == ending::destroyed) {
        pub.emplace(io.get_executor(), persistent(broker, v, pub_id, false, &pub_connects),
                    make_store<Store>(db, pub_id));
        REQUIRE(connect(io, *pub));
    }
    // mosquitto saves its sessions and subscriptions when it stops: they
    // survive the SIGKILL below (the publisher's too, when it is connected now).
    broker.stop();
    broker.start();
    REQUIRE(run_until(io, [&] { return sub_connects == 2 && (!pub || pub_connects == 2); }));

    if (how == ending::destroyed) {
        pause_broker(broker);
        publish_all(*pub, q1, q2);
        io.restart();
        io.run_for(300ms); // the PUBLISHes are written; the broker does not read them
        pub.reset();       // no DISCONNECT, no acknowledgement
    } else {
        int to_parent[2];
        int to_child[2];
        REQUIRE(::pipe2(to_parent, O_CLOEXEC) == 0);
        REQUIRE(::pipe2(to_child, O_CLOEXEC) == 0);
        const pid_t child = ::fork();
        REQUIRE(child >= 0);
        if (child == 0)
            child_publisher(persistent(broker, v, pub_id, false), db, q1, q2, to_parent[1],
                            to_child[0]);
        const char connected = read_byte(to_parent[0]);
        if (connected == 'c') {
            pause_broker(broker);
            write_byte(to_child[1], 'g');
        }
        const char published = connected == 'c' ? read_byte(to_parent[0]) : 0;
        ::kill(child, SIGKILL);
        int status = 0;
        ::waitpid(child, &status, 0);
        for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]})
            ::close(fd);
        REQUIRE(connected == 'c');
        REQUIRE(published == 'r');
        REQUIRE(WIFSIGNALED(status));
        CHECK(WTERMSIG(status) == SIGKILL);
    }
    if constexpr (persistent_store)
        out.in_flight_at_death = in_flight_in_file(db, pub_id, v);

    broker.kill(); // what it had not read is gone
    broker.start();
    REQUIRE(run_until(io, [&] { return sub_connects == 3; }));

    pub.emplace(io.get_executor(),
                persistent(broker, v, pub_id, true, &pub_connects, &out.session_present),
                make_store<Store>(db, pub_id));
    REQUIRE(connect(io, *pub));
    // After every resend: a duplicate would arrive before it.
    bool end_done = false;
    pub->async_publish(q2, "end", qos::exactly_once, false, [&](std::error_code ec) {
        CHECK_FALSE(ec);
        end_done = true;
    });
    REQUIRE(run_until(io, [&] { return end_received && end_done; }));
    if constexpr (persistent_store) {
        CHECK_FALSE(pub->store().last_error());
        out.in_flight_at_end = in_flight_in_file(db, pub_id, v);
    }
    return out;
}

void check_all_delivered(const outcome& out) {
    for (int i = 0; i < n; ++i) {
        INFO("message " << i);
        CHECK(out.q1[static_cast<std::size_t>(i)] >= 1); // QoS 1: at least once
        CHECK(out.q2[static_cast<std::size_t>(i)] == 1); // QoS 2: exactly once
    }
    CHECK(out.in_flight_at_death == 2 * n);
    CHECK(out.in_flight_at_end == 0); // every acknowledgement deleted its row
}

} // namespace

TEST_CASE("store::sqlite: a new client resumes what a destroyed one had in flight",
          "[store][client]") {
    for (auto v : {protocol_version::v5, protocol_version::v3_1_1}) {
        INFO(to_string(v));
        const auto out = resume_after_death<store::sqlite>(v, ending::destroyed);
        check_all_delivered(out);
        // 3.1.1: the broker kept the publisher's session, the messages are resent
        // with DUP. (mosquitto 2.0.11 restores no MQTT 5 session after a
        // restart: Session Present 0, and they are published again as new.)
        if (v == protocol_version::v3_1_1)
            CHECK(out.session_present);
    }
}

TEST_CASE("store::sqlite: a new process resumes what a killed process had in flight",
          "[store][client]") {
    for (auto v : {protocol_version::v5, protocol_version::v3_1_1}) {
        INFO(to_string(v));
        const auto out = resume_after_death<store::sqlite>(v, ending::process_killed);
        check_all_delivered(out);
        // The broker lost the publisher's session with the SIGKILL: published again as new.
        CHECK_FALSE(out.session_present);
    }
}

TEST_CASE("store::memory loses what was in flight in the same scenario", "[store][client]") {
    const auto out = resume_after_death<store::memory>(protocol_version::v5, ending::destroyed);
    CHECK(out.q1 == std::vector<int>(n, 0));
    CHECK(out.q2 == std::vector<int>(n, 0));
}

TEST_CASE("store::sqlite: a store keeping another session than the client id's is refused "
          "[MQTT-3.1.3-2]",
          "[store][client]") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("ctmqtt-store-mismatch-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto path = (dir / "session.db").string();
    boost::asio::io_context io;
    client_options o;
    o.client_id = "sensor-1";
    try {
        basic_client<transport::tcp, store::sqlite> c(io.get_executor(), o,
                                                      store::sqlite{path, "sensor-2"});
        FAIL("constructed with another session's store");
    } catch (const std::system_error& e) {
        CHECK(e.code() == make_error_code(client_errc::store_session_mismatch));
        CHECK_THAT(e.what(), Catch::Contains("'sensor-2'") && Catch::Contains("'sensor-1'"));
    }
    // The same name is accepted.
    basic_client<transport::tcp, store::sqlite> ok(io.get_executor(), o,
                                                   store::sqlite{path, "sensor-1"});
    std::filesystem::remove_all(dir);
}
