// The sgframework facade (include/ctmqtt/facades/sgframework.hpp) against a
// real mosquitto started by each test, with a subscriber on `#` (MQTT 5,
// retain as published, QoS 2) that records every topic, payload, retain
// flag and QoS crossing the broker: the connect order, re-announcement after
// a lost connection and after a broker restart, the will when the resource's
// process is killed, echo, change-only, unregistered and malformed topics,
// client ids and protocol versions (in mosquitto's log), TLS from a
// certificate directory, both networking modes, the logging hook, and the
// descriptive text byte for byte.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include <ctmqtt/client/blocking.hpp>
#include <ctmqtt/facades/sgframework.hpp>
#include <ctmqtt/transport/tls.hpp>

#include "support/client_support.hpp"
#include "support/mosquitto_broker.hpp"
#include "transport/certificates.hpp"

using namespace std::chrono_literals;
namespace sg = ctmqtt::sgframework;
using ctmqtt_test::mosquitto_broker;
using sv = std::string_view;

namespace {

// ------------------------------------------------------------------ the watcher on `#`

struct wire_message {
    std::string topic;
    std::string payload;
    bool retain = false;
    int qos = 0;
    friend bool operator==(const wire_message&, const wire_message&) = default;
};

std::ostream& operator<<(std::ostream& out, const wire_message& m) {
    return out << "{" << m.topic << " '" << m.payload << "' r" << m.retain << " q" << m.qos << "}";
}

// Everything published on the broker, as published: MQTT 5 with Retain As
// Published, so a live message keeps the retain flag its publisher set.
class watcher {
public:
    explicit watcher(const mosquitto_broker& broker)
        : client_(ctmqtt_test::options_for(broker, ctmqtt::protocol_version::v5, "watcher")) {
        REQUIRE_FALSE(client_.connect(5s));
        ctmqtt::subscribe_options o{ctmqtt::qos::exactly_once};
        o.retain_as_published = true;
        REQUIRE_FALSE(client_.subscribe("#", o, [this](const ctmqtt::message_view& m) {
            std::lock_guard lock(mutex_);
            seen_.push_back({std::string{m.topic}, std::string{m.payload_text()}, m.retain,
                             static_cast<int>(m.qos)});
            changed_.notify_all();
        }));
    }

    std::vector<wire_message> all() const {
        std::lock_guard lock(mutex_);
        return seen_;
    }
    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return seen_.size();
    }
    /// The messages from index `from` on.
    std::vector<wire_message> since(std::size_t from) const {
        std::lock_guard lock(mutex_);
        return {seen_.begin() + static_cast<std::ptrdiff_t>(std::min(from, seen_.size())),
                seen_.end()};
    }
    /// The messages whose topic starts with `prefix`, in arrival order.
    std::vector<wire_message> under(sv prefix, std::size_t from = 0) const {
        std::vector<wire_message> out;
        for (auto& m : since(from))
            if (sv{m.topic}.starts_with(prefix))
                out.push_back(m);
        return out;
    }
    /// Waits until at least n messages arrived (from index `from` on).
    bool wait_for(std::size_t n, std::chrono::milliseconds limit = 5s, std::size_t from = 0) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, limit, [&] { return seen_.size() >= from + n; });
    }
    /// Publishes as a test's raw MQTT client would.
    void publish(sv topic, sv payload, bool retain = false) {
        REQUIRE_FALSE(client_.publish(topic, payload, ctmqtt::qos::at_least_once, retain));
    }

private:
    ctmqtt::blocking_client client_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<wire_message> seen_;
};

wire_message msg(std::string topic, std::string payload, bool retain, int qos = 1) {
    return {std::move(topic), std::move(payload), retain, qos};
}

// Runs a caller-driven app or resource until `done()` or `limit`.
template <class Node, class Done>
bool pump(Node& node, Done done, std::chrono::milliseconds limit = 5s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= end)
            return false;
        REQUIRE_FALSE(node.loop());
    }
    return true;
}

// Waits (threaded networking: nothing to drive) until `done()` or `limit`.
template <class Done>
bool eventually(Done done, std::chrono::milliseconds limit = 5s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= end)
            return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// A thread-safe list of what callbacks were given.
template <class T>
class recorded {
public:
    void add(T v) {
        std::lock_guard lock(mutex_);
        items_.push_back(std::move(v));
    }
    std::vector<T> all() const {
        std::lock_guard lock(mutex_);
        return items_;
    }
    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return items_.size();
    }
    std::size_t count(const T& v) const {
        std::lock_guard lock(mutex_);
        return static_cast<std::size_t>(std::count(items_.begin(), items_.end(), v));
    }

private:
    mutable std::mutex mutex_;
    std::vector<T> items_;
};

// What a facade logs.
struct log_capture : recorded<std::pair<sg::log_level, std::string>> {
    sg::log_sink sink() {
        return [this](sg::log_level l, sv text) { add({l, std::string{text}}); };
    }
    std::size_t count(sg::log_level l, std::string text) const {
        return recorded::count({l, std::move(text)});
    }
};

// (type, service, signal, payload) of each callback.
struct calls : recorded<std::vector<std::string>> {
    void add(sv type, sv service, sv signal, sv payload) {
        recorded::add(
            {std::string{type}, std::string{service}, std::string{signal}, std::string{payload}});
    }
};

// What on_broker_connectionstatus_info was given.
struct statuses : recorded<bool> {
    template <class Node>
    void attach(Node& n) {
        n.on_broker_connectionstatus_info = [this, &n](Node& self, bool up) {
            CHECK(&self == &n);
            add(up);
        };
    }
};

std::string pid_text() {
    return std::to_string(::getpid());
}

// mosquitto's line for a new client: "as <id> (p<protocol>, c<clean>, k<keepalive>)."
std::string connect_line(const std::string& id, int protocol, int clean, int keepalive) {
    return "as " + id + " (p" + std::to_string(protocol) + ", c" + std::to_string(clean) + ", k" +
           std::to_string(keepalive) + ").";
}

std::size_t occurrences(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1))
        ++n;
    return n;
}

// Waits until mosquitto's log shows `text` `times` times (it logs a packet
// when it has read it: a DISCONNECT may still be on its way when stop() returns).
bool log_shows(const mosquitto_broker& broker, const std::string& text, std::size_t times = 1) {
    return eventually([&] { return occurrences(broker.log(), text) >= times; });
}

} // namespace

// ------------------------------------------------------------------ the wire contract

TEST_CASE("sgframework: a resource subscribes, then announces in the contract's order; stop() "
          "publishes False",
          "[sgframework]") {
    mosquitto_broker broker;
    watcher w(broker);
    sg::resource r{"testresource", broker.host(), broker.port()};
    r.timeout = 20ms;
    const auto noop = [](sg::resource&, sv, sv, sv, sv) {};
    REQUIRE_FALSE(r.register_outgoing_data("teststate4", {.default_value = "101"}));
    REQUIRE_FALSE(r.register_outgoing_data("temperature", {.send_data_as_retained = true}));
    REQUIRE_FALSE(r.register_incoming_command(
        "targettemp", noop, {.send_echo_as_retained = true, .default_value = "20"}));
    REQUIRE_FALSE(
        r.register_incoming_command("light", noop, {.echo = false, .default_value = "on"}));
    REQUIRE_FALSE(r.register_incoming_data("otherres", "x", noop));
    REQUIRE_FALSE(
        r.register_incoming_availability(sg::availability::resource, "otherres", "unused", noop));
    REQUIRE_FALSE(r.start());
    REQUIRE(pump(r, [&] { return w.size() >= 8; }));
    const std::vector<wire_message> expected = {
        msg("resourceavailable/testresource/presence", "True", true),
        msg("dataavailable/testresource/teststate4", "True", true),
        msg("data/testresource/teststate4", "101", false),
        msg("dataavailable/testresource/temperature", "True", true),
        msg("commandavailable/testresource/targettemp", "True", true),
        msg("dataavailable/testresource/targettemp", "True", true),
        msg("data/testresource/targettemp", "20", true),
        msg("commandavailable/testresource/light", "True", true),
    };
    CHECK(w.all() == expected);
    CHECK(r.connected());

    // In mosquitto's log: MQTT 3.1 (p1), clean session, keepalive 10, the will,
    // and every subscription before the first PUBLISH.
    const auto id = "testresource-" + pid_text();
    const auto log = broker.log();
    INFO(log);
    CHECK(log.find(connect_line(id, 1, 1, 10)) != std::string::npos);
    CHECK(log.find("Will message specified (5 bytes) (r1, q1).") != std::string::npos);
    CHECK(log.find("\tresourceavailable/testresource/presence\n") != std::string::npos);
    const auto first_publish = log.find("Received PUBLISH from " + id);
    REQUIRE(first_publish != std::string::npos);
    for (const char* topic : {"command/testresource/targettemp", "command/testresource/light",
                              "data/otherres/x", "resourceavailable/otherres/presence"}) {
        const auto at = log.find(std::string{"\t"} + topic + " (QoS 1)");
        CHECK(at != std::string::npos);
        CHECK(at < first_publish);
    }

    REQUIRE_FALSE(r.stop());
    REQUIRE(w.wait_for(9));
    CHECK(w.since(8) == std::vector{msg("resourceavailable/testresource/presence", "False", true)});
    CHECK(log_shows(broker, "Received DISCONNECT from " + id));
    CHECK_FALSE(r.connected());
    CHECK_FALSE(r.started());
    // A clean DISCONNECT: the will is not published.
    std::this_thread::sleep_for(200ms);
    CHECK(w.size() == 9);
}

TEST_CASE("sgframework: an app commands a resource: echo with and without a return value, "
          "change-only, retained commands",
          "[sgframework]") {
    mosquitto_broker broker;
    watcher w(broker);

    sg::resource r{"testresource", broker.host(), broker.port()};
    calls commands;
    const auto record = [&](sg::resource&, sv type, sv service, sv signal, sv payload) {
        commands.add(type, service, signal, payload);
    };
    REQUIRE_FALSE(r.register_incoming_command("targettemp", record, {.default_value = "20"}));
    REQUIRE_FALSE(r.register_incoming_command(
        "mode", [&](sg::resource& self, sv type, sv service, sv signal, sv payload) {
            record(self, type, service, signal, payload);
            return payload == "auto" ? std::optional<int>{42} : std::nullopt;
        }));
    REQUIRE_FALSE(r.register_incoming_command(
        "level", [&](sg::resource& self, sv type, sv service, sv signal, sv payload) {
            record(self, type, service, signal, payload);
            return 21.0;
        }));
    REQUIRE_FALSE(r.register_incoming_command("light", record, {.echo = false}));
    REQUIRE_FALSE(r.register_incoming_command("fan", record, {.callback_on_change_only = true}));
    REQUIRE_FALSE(r.register_outgoing_data("status"));
    REQUIRE_FALSE(r.start({.threaded_networking = true}));
    REQUIRE(eventually([&] { return r.connected(); }));

    sg::app a{"testapp", broker.host(), broker.port()};
    a.timeout = 20ms;
    calls data;
    const auto on_data = [&](sg::app&, sv type, sv service, sv signal, sv payload) {
        data.add(type, service, signal, payload);
    };
    REQUIRE_FALSE(a.register_incoming_data("testresource", "targettemp", on_data));
    REQUIRE_FALSE(a.register_incoming_data("testresource", "status", on_data, true));
    REQUIRE_FALSE(a.register_incoming_availability(sg::availability::resource, "testresource",
                                                   "ignored", on_data));
    REQUIRE_FALSE(a.start());
    // The retained presence comes with the subscription.
    REQUIRE(pump(a, [&] { return data.size() >= 1; }));
    CHECK(data.all()[0] ==
          std::vector<std::string>{"resourceavailable", "testresource", "presence", "True"});
    const auto base = w.size();

    REQUIRE_FALSE(a.send_command("testresource", "targettemp", "  22 "));
    REQUIRE_FALSE(a.send_command("testresource", "mode", "auto"));
    REQUIRE_FALSE(a.send_command("testresource", "mode", "manual"));
    REQUIRE_FALSE(a.send_command("testresource", "light", "on"));
    REQUIRE_FALSE(a.send_command("testresource", "fan", 1));
    REQUIRE_FALSE(a.send_command("testresource", "fan", 1));
    REQUIRE_FALSE(a.send_command("testresource", "fan", 2));
    REQUIRE_FALSE(a.send_command("testresource", "level", 5));
    REQUIRE_FALSE(a.send_command("testresource", "targettemp", 23, true));
    // data/testresource/... echoes: 22, 42, manual, 1, 2, 21.0, 23
    REQUIRE(pump(a, [&] { return w.under("data/", base).size() >= 7; }));
    CHECK(w.under("command/", base) == std::vector{
                                           msg("command/testresource/targettemp", "  22 ", false),
                                           msg("command/testresource/mode", "auto", false),
                                           msg("command/testresource/mode", "manual", false),
                                           msg("command/testresource/light", "on", false),
                                           msg("command/testresource/fan", "1", false),
                                           msg("command/testresource/fan", "1", false),
                                           msg("command/testresource/fan", "2", false),
                                           msg("command/testresource/level", "5", false),
                                           msg("command/testresource/targettemp", "23", true),
                                       });
    CHECK(w.under("data/", base) == std::vector{
                                        msg("data/testresource/targettemp", "22", false),
                                        msg("data/testresource/mode", "42", false),
                                        msg("data/testresource/mode", "manual", false),
                                        msg("data/testresource/fan", "1", false),
                                        msg("data/testresource/fan", "2", false),
                                        msg("data/testresource/level", "21.0", false),
                                        msg("data/testresource/targettemp", "23", false),
                                    });
    using row = std::vector<std::string>;
    CHECK(commands.all() == std::vector<row>{
                                {"command", "testresource", "targettemp", "22"},
                                {"command", "testresource", "mode", "auto"},
                                {"command", "testresource", "mode", "manual"},
                                {"command", "testresource", "light", "on"},
                                {"command", "testresource", "fan", "1"},
                                {"command", "testresource", "fan", "2"},
                                {"command", "testresource", "level", "5"},
                                {"command", "testresource", "targettemp", "23"},
                            });
    // The echo became the default value.
    CHECK(r.descriptive_ascii_art().find("IN: 'command'-'testresource'-'targettemp' Default: "
                                         "'23'") != std::string::npos);

    // Data with change-only on the app's side.
    REQUIRE_FALSE(r.send_data("status", "ok"));
    REQUIRE_FALSE(r.send_data("status", "ok"));
    REQUIRE_FALSE(r.send_data("status", "fail"));
    REQUIRE(pump(a, [&] { return w.under("data/testresource/status", base).size() >= 3; }));
    REQUIRE(pump(a, [&] { return data.size() >= 5; }));
    a.timeout = 100ms;
    REQUIRE_FALSE(a.loop()); // a third status callback would come now
    CHECK(data.all() == std::vector<row>{
                            {"resourceavailable", "testresource", "presence", "True"},
                            {"data", "testresource", "targettemp", "22"},
                            {"data", "testresource", "targettemp", "23"},
                            {"data", "testresource", "status", "ok"},
                            {"data", "testresource", "status", "fail"},
                        });
    REQUIRE_FALSE(a.stop());
    REQUIRE_FALSE(r.stop());
}

// ------------------------------------------------------------------ reconnecting

TEST_CASE("sgframework: after a lost connection the will says False, and the resource "
          "announces itself again with its latest default values",
          "[sgframework]") {
    mosquitto_broker broker;
    watcher w(broker);
    sg::resource r{"testresource", broker.host(), broker.port()};
    r.timeout = 20ms;
    r.reconnect_delays = {100ms};
    log_capture logs;
    r.logger = logs.sink();
    statuses status;
    status.attach(r);
    REQUIRE_FALSE(r.register_outgoing_data("x", {.default_value = "1"}));
    REQUIRE_FALSE(r.register_incoming_command("y", [](sg::resource&, sv, sv, sv, sv) {},
                                              {.default_value = "a"}));
    REQUIRE_FALSE(r.start());
    REQUIRE(pump(r, [&] { return w.size() >= 6; }));
    REQUIRE_FALSE(r.send_data("x", 7));
    // All acknowledged: nothing is sent again after the reconnect.
    REQUIRE(pump(r, [&] { return w.size() >= 7 && r.unacknowledged() == 0; }));
    CHECK(w.since(6) == std::vector{msg("data/testresource/x", "7", false)});

    r.client()->abort_connection(); // as a network failure would: no DISCONNECT
    REQUIRE(pump(r, [&] { return w.size() >= 14; }));
    CHECK(w.since(7) == std::vector{
                            msg("resourceavailable/testresource/presence", "False", true),
                            msg("resourceavailable/testresource/presence", "True", true),
                            msg("dataavailable/testresource/x", "True", true),
                            msg("data/testresource/x", "7", false),
                            msg("commandavailable/testresource/y", "True", true),
                            msg("dataavailable/testresource/y", "True", true),
                            msg("data/testresource/y", "a", false),
                        });
    CHECK(status.all() == std::vector{true, false, true});
    const auto where = "host '" + broker.host() + "', port " + std::to_string(broker.port());
    CHECK(logs.count(sg::log_level::info, "connected to " + where) == 2);
    CHECK(logs.count(sg::log_level::warning,
                     "connection to " + where + " lost: the connection was lost") == 1);
    CHECK(logs.count(sg::log_level::warning, "not connected to " + where +
                                                 " (the connection was lost): next attempt in "
                                                 "100 ms") == 1);
    REQUIRE_FALSE(r.stop());
    CHECK(status.all() == std::vector{true, false, true, false});
    const auto log = broker.log();
    CHECK(occurrences(log, connect_line("testresource-" + pid_text(), 1, 1, 10)) == 2);
}

TEST_CASE("sgframework: a resource announces itself again after the broker was killed and "
          "restarted",
          "[sgframework]") {
    mosquitto_broker broker;
    watcher w(broker);
    sg::resource r{"testresource", broker.host(), broker.port()};
    r.reconnect_delays = {2000ms}; // the watcher (at most 200 ms) is back first
    log_capture logs;
    r.logger = logs.sink();
    statuses status;
    status.attach(r);
    REQUIRE_FALSE(r.register_outgoing_data("x", {.default_value = "1"}));
    REQUIRE_FALSE(r.start({.threaded_networking = true}));
    REQUIRE(w.wait_for(3));
    // All acknowledged: nothing is sent again after the reconnect.
    REQUIRE(eventually([&] { return r.unacknowledged() == 0; }));
    broker.kill();
    REQUIRE(eventually([&] { return !r.connected(); }));
    broker.start();
    const auto before = w.size();
    REQUIRE(w.wait_for(3, 10s, before));
    CHECK(w.since(before) == std::vector{
                                 msg("resourceavailable/testresource/presence", "True", true),
                                 msg("dataavailable/testresource/x", "True", true),
                                 msg("data/testresource/x", "1", false),
                             });
    REQUIRE(eventually([&] { return status.all().size() >= 3; }));
    CHECK(status.all() == std::vector{true, false, true});
    const auto where = "host '" + broker.host() + "', port " + std::to_string(broker.port());
    CHECK(logs.count(sg::log_level::info, "connected to " + where) == 2);
    REQUIRE_FALSE(r.stop());
}

TEST_CASE("sgframework: the will says False when the resource's process is killed",
          "[sgframework]") {
    mosquitto_broker broker;
    watcher w(broker);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // The child: a resource in caller-driven mode until SIGKILL. No Catch2 here.
#if defined(__linux__)
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
        try {
            sg::resource r{"killedresource", broker.host(), broker.port()};
            r.logger = nullptr;
            r.timeout = 50ms;
            if (r.register_outgoing_data("x", {.default_value = "1"}) || r.start())
                ::_exit(2);
            for (;;)
                (void)r.loop();
        } catch (...) {
        }
        ::_exit(3);
    }
    const bool up = w.wait_for(3);
    ::kill(child, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(up);
    CHECK(WIFSIGNALED(status));
    REQUIRE(w.wait_for(4));
    CHECK(w.all() == std::vector{
                         msg("resourceavailable/killedresource/presence", "True", true),
                         msg("dataavailable/killedresource/x", "True", true),
                         msg("data/killedresource/x", "1", false),
                         msg("resourceavailable/killedresource/presence", "False", true),
                     });
    // The child's client id carried the child's process id.
    CHECK(broker.log().find(connect_line("killedresource-" + std::to_string(child), 1, 1, 10)) !=
          std::string::npos);
}

// ------------------------------------------------------------------ the connection's parameters

TEST_CASE("sgframework: client id <name>-<pid> or <name>, MQTT 3.1 by default, 3.1.1 and 5.0 "
          "on request",
          "[sgframework]") {
    mosquitto_broker broker;
    const auto connect_and_stop = [&](auto& node, sg::start_options how) {
        node.timeout = 20ms;
        REQUIRE_FALSE(node.start(how));
        REQUIRE(pump(node, [&] { return node.connected(); }));
        REQUIRE_FALSE(node.stop());
    };
    {
        sg::resource r{"idres", broker.host(), broker.port()};
        std::string store_for;
        r.store_factory = [&](const std::string& id) {
            store_for = id;
            return ctmqtt::store::memory{};
        };
        connect_and_stop(r, {});
        CHECK(store_for == "idres-" + pid_text());
        connect_and_stop(r, {.clean_session = false});
        CHECK(store_for == "idres");
        r.protocol = ctmqtt::protocol_version::v3_1_1;
        r.keepalive = 30s;
        connect_and_stop(r, {});
        r.protocol = ctmqtt::protocol_version::v5;
        connect_and_stop(r, {});
    }
    {
        sg::app a{"idapp", broker.host(), broker.port()};
        connect_and_stop(a, {});
        connect_and_stop(a, {.clean_session = false});
    }
    const auto log = broker.log();
    INFO(log);
    CHECK(occurrences(log, connect_line("idres-" + pid_text(), 1, 1, 10)) == 1);
    CHECK(occurrences(log, connect_line("idres", 1, 0, 10)) == 1);
    CHECK(occurrences(log, connect_line("idres-" + pid_text(), 2, 1, 30)) == 1);
    CHECK(occurrences(log, connect_line("idres-" + pid_text(), 5, 1, 30)) == 1);
    CHECK(occurrences(log, connect_line("idapp-" + pid_text(), 1, 1, 10)) == 1);
    CHECK(occurrences(log, connect_line("idapp", 1, 0, 10)) == 1);
    // An app has no will; a resource's is its presence.
    CHECK(occurrences(log, "Will message specified") == 4);

    // MQTT 3.1 allows 23 bytes of client id.
    sg::resource long_name{"averyveryverylongname", broker.host(), broker.port()};
    const auto ec = long_name.start();
    CHECK(ec == sg::errc::client_id_too_long);
    CHECK(ec.message() == "sgframework: the client id \"averyveryverylongname-" + pid_text() +
                              "\" is longer than the 23 bytes MQTT 3.1 allows (use a shorter "
                              "name, or protocol 3.1.1 or 5.0)");
    CHECK_FALSE(long_name.started());
    long_name.protocol = ctmqtt::protocol_version::v3_1_1;
    connect_and_stop(long_name, {});
}

TEST_CASE("sgframework: names and hosts are stripped of white space; names that cannot be "
          "topic levels are refused",
          "[sgframework]") {
    mosquitto_broker broker;
    watcher w(broker);
    sg::resource r{"  trimmed \t", " " + broker.host() + "\n", broker.port()};
    r.timeout = 20ms;
    CHECK(r.name() == "trimmed");
    CHECK(r.host() == broker.host());
    calls commands;
    REQUIRE_FALSE(
        r.register_incoming_command(" \u3000cmd ",
                                    [&](sg::resource&, sv type, sv service, sv signal, sv payload) {
                                        commands.add(type, service, signal, payload);
                                    },
                                    {.echo = false}));
    REQUIRE_FALSE(r.register_outgoing_data("  temp "));
    CHECK(r.summary() == "SG Resource: 'trimmed', connecting to host '" + broker.host() +
                             "', port " + std::to_string(broker.port()) +
                             ". Has 1 incoming and 1 outgoing topics registered.");

    auto ec = r.register_outgoing_data("a/b");
    CHECK(ec == sg::errc::bad_name);
    CHECK(ec.message() == "sgframework: the name \"a/b\" cannot be a topic level (empty, or "
                          "contains '/', '+', '#', U+0000 or bytes that are not UTF-8)");
    CHECK(r.register_outgoing_data("+") == sg::errc::bad_name);
    CHECK(r.register_outgoing_data(" \t ") == sg::errc::bad_name);
    CHECK(r.register_incoming_data("svc", "a#", [](sg::resource&, sv, sv, sv, sv) {}) ==
          sg::errc::bad_name);
    try {
        sg::resource bad{"a/b", "localhost"};
        FAIL("a resource named a/b was made");
    } catch (const std::system_error& e) {
        CHECK(e.code() == sg::errc::bad_name);
    }
    try {
        sg::app bad{"app", "  "};
        FAIL("an app without a host was made");
    } catch (const std::system_error& e) {
        CHECK(e.code() == sg::errc::bad_host);
        CHECK(e.code().message() == "sgframework: the broker host is empty");
    }

    REQUIRE_FALSE(r.start());
    REQUIRE(pump(r, [&] { return w.size() >= 3; }));
    REQUIRE_FALSE(r.send_data(" temp\n", 3));
    REQUIRE_FALSE(r.send_command(" other ", " do ", "x"));
    CHECK(r.send_command("other", "a/b", "x") == sg::errc::bad_name);
    w.publish("command/trimmed/cmd", " \t hello \n");
    w.publish("command/trimmed/cmd", "\xc2\xa0hi\xe3\x80\x80");
    REQUIRE(pump(r, [&] {
        return commands.size() >= 2 && !w.under("data/trimmed/temp").empty() &&
               !w.under("command/other/").empty();
    }));
    using row = std::vector<std::string>;
    CHECK(commands.all() == std::vector<row>{{"command", "trimmed", "cmd", "hello"},
                                             {"command", "trimmed", "cmd", "hi"}});
    CHECK(w.under("data/trimmed/temp") == std::vector{msg("data/trimmed/temp", "3", false)});
    CHECK(w.under("command/other/") == std::vector{msg("command/other/do", "x", false)});
    REQUIRE_FALSE(r.stop());
}

TEST_CASE("sgframework: operations before start() (and after stop()) are errors", "[sgframework]") {
    sg::resource r{"early", "127.0.0.1", 1};
    sg::app a{"early", "127.0.0.1", 1};
    REQUIRE_FALSE(r.register_outgoing_data("x"));
    const auto check = [](std::error_code ec, const std::string& op) {
        CHECK(ec == sg::errc::not_started);
        CHECK(ec.category().name() == std::string{"ctmqtt.sgframework"});
        CHECK(ec.message() == "sgframework: \"" + op + "\" called before start()");
    };
    check(r.send_data("x", 1), "send_data");
    check(r.send_command("svc", "sig", 1), "send_command");
    check(a.send_command("svc", "sig", 1), "send_command");
    check(r.loop(), "loop");
    check(a.loop(), "loop");
    check(r.stop(), "stop");
    check(a.stop(), "stop");
    CHECK_FALSE(r.started());
    CHECK(r.client() == nullptr);

    // After stop(), the same again (nothing listens on port 1: the resource
    // never connects, and stop() has nothing to wait for).
    r.logger = nullptr;
    r.reconnect_delays = {50ms};
    REQUIRE_FALSE(r.start());
    CHECK(r.started());
    CHECK(r.client() != nullptr);
    REQUIRE_FALSE(r.stop());
    check(r.send_data("x", 1), "send_data");
    check(r.stop(), "stop");
}

TEST_CASE("sgframework: start() twice restarts: presence False, then a new connection",
          "[sgframework]") {
    mosquitto_broker broker;
    watcher w(broker);
    sg::resource r{"restartres", broker.host(), broker.port()};
    r.timeout = 20ms;
    statuses status;
    status.attach(r);
    REQUIRE_FALSE(r.start());
    REQUIRE(pump(r, [&] { return w.size() >= 1; }));
    REQUIRE_FALSE(r.start());
    REQUIRE(pump(r, [&] { return w.size() >= 3; }));
    CHECK(w.all() == std::vector{
                         msg("resourceavailable/restartres/presence", "True", true),
                         msg("resourceavailable/restartres/presence", "False", true),
                         msg("resourceavailable/restartres/presence", "True", true),
                     });
    CHECK(status.all() == std::vector{true, false, true});
    const auto id = "restartres-" + pid_text();
    REQUIRE(log_shows(broker, "Received DISCONNECT from " + id));
    const auto log = broker.log();
    CHECK(occurrences(log, connect_line(id, 1, 1, 10)) == 2);
    CHECK(occurrences(log, "Received DISCONNECT from " + id) == 1);
    REQUIRE_FALSE(r.stop());
}

// ------------------------------------------------------------------ what is ignored, and logged

TEST_CASE("sgframework: a throwing callback is logged and not echoed; unregistered, malformed "
          "and non-text messages are logged and ignored; send_data on an unregistered signal",
          "[sgframework]") {
    mosquitto_broker broker;
    watcher w(broker);
    {
        // A session the broker keeps for client id "logres", with
        // subscriptions the resource below does not register.
        auto o = ctmqtt_test::options_for(broker, ctmqtt::protocol_version::v3_1_1, "logres");
        o.clean_start = false;
        ctmqtt::blocking_client old(o);
        REQUIRE_FALSE(old.connect(5s));
        REQUIRE_FALSE(old.subscribe("command/logres/unknown", ctmqtt::qos::at_least_once, {}));
        REQUIRE_FALSE(old.subscribe("extra/#", ctmqtt::qos::at_least_once, {}));
        REQUIRE_FALSE(old.disconnect(5s));
    }
    sg::resource r{"logres", broker.host(), broker.port()};
    r.timeout = 20ms;
    r.protocol = ctmqtt::protocol_version::v3_1_1;
    log_capture logs;
    r.logger = logs.sink();
    REQUIRE_FALSE(r.register_incoming_command("boom", [](sg::resource&, sv, sv, sv, sv) -> int {
        throw std::runtime_error("no can do");
    }));
    REQUIRE_FALSE(
        r.register_incoming_command("bang", [](sg::resource&, sv, sv, sv, sv) { throw 7; }));
    REQUIRE_FALSE(r.register_incoming_command("ok", [](sg::resource&, sv, sv, sv, sv) {}));
    REQUIRE_FALSE(r.start({.clean_session = false}));
    REQUIRE(pump(r, [&] { return w.size() >= 7; }));
    const auto base = w.size();

    w.publish("command/logres/boom", "x");
    w.publish("command/logres/bang", "y");
    w.publish("command/logres/unknown", "u");
    w.publish("extra/a/b/c", "v");
    w.publish("extra/a", "v2");
    w.publish("extra/a/b", "\xff\xfe");
    w.publish("command/logres/ok", "fine");
    REQUIRE(pump(r, [&] { return !w.under("data/", base).empty(); }));
    // Only the last command was echoed.
    CHECK(w.under("data/", base) == std::vector{msg("data/logres/ok", "fine", false)});
    using sg::log_level;
    CHECK(logs.count(log_level::warning,
                     "the callback for topic 'command/logres/boom', payload 'x' failed: "
                     "no can do") == 1);
    CHECK(logs.count(log_level::warning,
                     "the callback for topic 'command/logres/bang', payload 'y' failed: an "
                     "exception that is not a std::exception") == 1);
    CHECK(logs.count(log_level::warning,
                     "ignoring a message on unregistered topic 'command/logres/unknown', "
                     "payload 'u'") == 1);
    CHECK(logs.count(log_level::warning, "ignoring a message on topic 'extra/a/b/c', payload "
                                         "'v': a topic must have exactly 3 levels") == 1);
    CHECK(logs.count(log_level::warning, "ignoring a message on topic 'extra/a', payload 'v2': "
                                         "a topic must have exactly 3 levels") == 1);
    CHECK(logs.count(log_level::warning,
                     "ignoring a message on topic 'extra/a/b': the payload is not UTF-8 text") ==
          1);

    const auto ec = r.send_data("nosuch", 1);
    CHECK(ec == sg::errc::unregistered_signal);
    CHECK(ec.message() ==
          "sgframework: the data signal \"nosuch\" is not registered (register_outgoing_data)");
    CHECK(logs.count(log_level::warning, "send_data: the signal 'nosuch' is not registered "
                                         "(register_outgoing_data); '1' not sent") == 1);
    REQUIRE_FALSE(r.stop());
    CHECK(w.under("data/logres/nosuch").empty());
    CHECK(logs.count(log_level::info, "connecting to host '" + broker.host() + "', port " +
                                          std::to_string(broker.port()) +
                                          " as 'logres' (MQTT 3.1.1, QoS 1, keepalive 10 s)") == 1);
    CHECK(logs.count(log_level::info, "disconnecting from host '" + broker.host() + "', port " +
                                          std::to_string(broker.port())) == 1);
}

TEST_CASE("sgframework: the default logger writes LEVEL:name:message to stderr, warnings and "
          "errors only",
          "[sgframework]") {
    mosquitto_broker broker;
    sg::resource r{"stderrres", broker.host(), broker.port()};
    r.timeout = 20ms;
    REQUIRE_FALSE(r.start());
    REQUIRE(pump(r, [&] { return r.connected(); }));

    const auto path =
        std::filesystem::temp_directory_path() / ("ctmqtt-sg-stderr-" + pid_text() + ".txt");
    std::fflush(stderr);
    const int saved = ::dup(2);
    const int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(saved >= 0);
    REQUIRE(file >= 0);
    ::dup2(file, 2);
    const auto ec = r.send_data("nosuch", 2.5); // a warning through the default sink
    const auto sink = sg::stderr_logger("other");
    sink(sg::log_level::info, "not shown");
    sink(sg::log_level::error, "shown");
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    ::close(file);
    std::ifstream in(path);
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::filesystem::remove(path);
    CHECK(ec == sg::errc::unregistered_signal);
    CHECK(text == "WARNING:stderrres:send_data: the signal 'nosuch' is not registered "
                  "(register_outgoing_data); '2.5' not sent\n"
                  "ERROR:other:shown\n");
    REQUIRE_FALSE(r.stop());
}

// ------------------------------------------------------------------ text

TEST_CASE("sgframework: the descriptive text, byte for byte", "[sgframework]") {
    const auto noop = [](auto&, sv, sv, sv, sv) {};
    sg::resource r{"testresource", "broker.example", 1884};
    REQUIRE_FALSE(r.register_incoming_command(
        "targettemp", noop,
        {.callback_on_change_only = true, .send_echo_as_retained = true, .default_value = "20"}));
    REQUIRE_FALSE(r.register_incoming_command("light", noop, {.echo = false}));
    REQUIRE_FALSE(r.register_incoming_data("otherres", "x", noop));
    REQUIRE_FALSE(
        r.register_incoming_availability(sg::availability::command, "otherres", "go", noop));
    REQUIRE_FALSE(r.register_outgoing_data("teststate4", {.default_value = sg::to_payload(101)}));
    REQUIRE_FALSE(r.register_outgoing_data(
        "on", {.default_value = sg::to_payload(true), .send_data_as_retained = true}));
    REQUIRE_FALSE(r.register_outgoing_data("none"));
    // Registering a topic again replaces it in its place.
    REQUIRE_FALSE(r.register_outgoing_data("teststate4", {.default_value = "102"}));
    CHECK(r.summary() == "SG Resource: 'testresource', connecting to host 'broker.example', port "
                         "1884. Has 4 incoming and 3 outgoing topics registered.");
    CHECK(r.descriptive_ascii_art() ==
          "SG Resource: 'testresource', connecting to host 'broker.example', port 1884. Has 4 "
          "incoming and 3 outgoing topics registered. Details: \n"
          "  Registered incoming topics:\n"
          "    command/testresource/targettemp\n"
          "        IN: 'command'-'testresource'-'targettemp' Default: '20' Echo: True (echo "
          "retained: True) Callback only on change: True\n"
          "    command/testresource/light\n"
          "        IN: 'command'-'testresource'-'light' Default: 'None' Echo: False (echo "
          "retained: False) Callback only on change: False\n"
          "    data/otherres/x\n"
          "        IN: 'data'-'otherres'-'x' Default: 'None' Echo: False (echo retained: False) "
          "Callback only on change: False\n"
          "    commandavailable/otherres/go\n"
          "        IN: 'commandavailable'-'otherres'-'go' Default: 'None' Echo: False (echo "
          "retained: False) Callback only on change: False\n"
          "  Registered outgoing topics:\n"
          "    data/testresource/teststate4\n"
          "        OUT: 'data'-'testresource'-'teststate4' Default: '102' Retained: False\n"
          "    data/testresource/on\n"
          "        OUT: 'data'-'testresource'-'on' Default: 'True' Retained: True\n"
          "    data/testresource/none\n"
          "        OUT: 'data'-'testresource'-'none' Default: 'None' Retained: False\n");

    sg::app a{"testapp", "localhost"};
    REQUIRE_FALSE(a.register_incoming_data("testresource", "teststate4", noop, true));
    REQUIRE_FALSE(a.register_incoming_availability(sg::availability::resource, "testresource",
                                                   "whatever", noop));
    std::ostringstream line;
    line << a;
    CHECK(line.str() == "SG App: 'testapp', connecting to host 'localhost', port 1883. Has 2 "
                        "input signals registered.");
    CHECK(a.descriptive_ascii_art() ==
          "SG App: 'testapp', connecting to host 'localhost', port 1883. Has 2 input signals "
          "registered. Details: \n"
          "  Registered incoming topics:\n"
          "    data/testresource/teststate4\n"
          "        IN: 'data'-'testresource'-'teststate4' Default: 'None' Echo: False (echo "
          "retained: False) Callback only on change: True\n"
          "    resourceavailable/testresource/presence\n"
          "        IN: 'resourceavailable'-'testresource'-'presence' Default: 'None' Echo: False "
          "(echo retained: False) Callback only on change: False\n"
          "  Registered outgoing topics:\n");
}

TEST_CASE("sgframework: values are sent as Python's str() writes them", "[sgframework]") {
    CHECK(sg::to_payload(true) == "True");
    CHECK(sg::to_payload(false) == "False");
    CHECK(sg::to_payload(101) == "101");
    CHECK(sg::to_payload(-7L) == "-7");
    CHECK(sg::to_payload(std::uint64_t{18'446'744'073'709'551'615u}) == "18446744073709551615");
    CHECK(sg::to_payload('x') == "x");
    CHECK(sg::to_payload("text") == "text");
    CHECK(sg::to_payload(std::string{" kept "}) == " kept ");
    CHECK(sg::to_payload(21.0) == "21.0");
    CHECK(sg::to_payload(21.5) == "21.5");
    CHECK(sg::to_payload(0.1) == "0.1");
    CHECK(sg::to_payload(-0.0) == "-0.0");
    CHECK(sg::to_payload(0.0001) == "0.0001");
    CHECK(sg::to_payload(0.00001) == "1e-05");
    CHECK(sg::to_payload(1e15) == "1000000000000000.0");
    CHECK(sg::to_payload(1e16) == "1e+16");
    CHECK(sg::to_payload(123456789012345678.0) == "1.2345678901234568e+17");
    CHECK(sg::to_payload(1.5e-300) == "1.5e-300");
    CHECK(sg::to_payload(2.5f) == "2.5");
    CHECK(sg::to_payload(0.1f) == "0.1");
    CHECK(sg::to_payload(std::numeric_limits<double>::infinity()) == "inf");
    CHECK(sg::to_payload(-std::numeric_limits<double>::infinity()) == "-inf");
    CHECK(sg::to_payload(std::numeric_limits<double>::quiet_NaN()) == "nan");
    CHECK(sg::trim(" \t\r\n\v\f\x1c\x1d\x1e\x1fx y\xc2\x85\xe2\x80\x8a\xe2\x80\xaf\xe3\x80\x80") ==
          "x y");
    CHECK(sg::trim("\xe2\x80\x8b"
                   "x") == "\xe2\x80\x8b"
                           "x"); // U+200B is not white space to Python
    CHECK(sg::is_utf8_text(std::string_view{"a\0b", 3}));
    CHECK_FALSE(sg::is_utf8_text("\xed\xa0\x80")); // a surrogate
}

// ------------------------------------------------------------------ TLS

TEST_CASE("sgframework: TLS from a certificate directory", "[sgframework]") {
    const auto& certs = ctmqtt_test::test_certificates::get();
    mosquitto_broker::options bo;
    mosquitto_broker::listener tls;
    tls.type = mosquitto_broker::listener::kind::tls;
    tls.certfile = certs.path("server.crt");
    tls.keyfile = certs.path("server.key");
    tls.cafile = certs.path("ca.crt");
    tls.require_certificate = true;
    bo.listeners.push_back(tls);
    mosquitto_broker broker(bo);
    watcher w(broker);

    ctmqtt_test::detail::temp_dir dir("ctmqtt-sg-certs-");
    std::filesystem::copy_file(certs.path("ca.crt"), dir.path() / "ca_public_certificate.pem");
    std::filesystem::copy_file(certs.path("client.crt"), dir.path() / "public_certificate.pem");
    std::filesystem::copy_file(certs.path("client.key"), dir.path() / "private_key.pem");

    sg::basic_resource<ctmqtt::transport::tls> r{"tlsres", "localhost", broker.listener_port(0),
                                                 dir.path()};
    REQUIRE_FALSE(r.register_outgoing_data("x", {.default_value = "1"}));
    REQUIRE_FALSE(r.start({.threaded_networking = true}));
    REQUIRE(w.wait_for(3));
    CHECK(w.all() == std::vector{
                         msg("resourceavailable/tlsres/presence", "True", true),
                         msg("dataavailable/tlsres/x", "True", true),
                         msg("data/tlsres/x", "1", false),
                     });
    CHECK(r.client()->transport().protocol_version().starts_with("TLSv1."));
    REQUIRE_FALSE(r.stop());

    // A directory without the files: start() says which file.
    ctmqtt_test::detail::temp_dir empty("ctmqtt-sg-empty-");
    sg::basic_resource<ctmqtt::transport::tls> missing{"tlsres", "localhost",
                                                       broker.listener_port(0), empty.path()};
    const auto ec = missing.start();
    CHECK(ec == ctmqtt::transport::tls_errc::bad_ca_file);
    CHECK(ec.message().find((empty.path() / "ca_public_certificate.pem").string()) !=
          std::string::npos);
    CHECK_FALSE(missing.started());

    // A transport without TLS cannot use a certificate directory.
    sg::resource plain{"tlsres", "localhost", broker.port(), dir.path()};
    const auto no_tls = plain.start();
    CHECK(no_tls == sg::errc::no_tls_transport);
    CHECK(no_tls.message() == "sgframework: the certificate directory \"" + dir.path().string() +
                                  "\" needs a transport with TLS (transport::tls or "
                                  "transport::any)");
}

// ------------------------------------------------------------------ networking modes

TEST_CASE("sgframework: threaded networking runs callbacks on its own thread; caller-driven "
          "runs them inside loop()",
          "[sgframework]") {
    mosquitto_broker broker;
    watcher w(broker);
    const auto test_thread = std::this_thread::get_id();

    sg::resource threaded{"threadedres", broker.host(), broker.port()};
    std::mutex m;
    std::optional<std::thread::id> callback_thread;
    std::error_code stop_inside, loop_inside;
    REQUIRE_FALSE(threaded.register_incoming_command("go", [&](sg::resource& self, sv, sv, sv, sv) {
        std::lock_guard lock(m);
        callback_thread = std::this_thread::get_id();
        stop_inside = self.stop();
        loop_inside = self.loop();
    }));
    REQUIRE_FALSE(threaded.start({.threaded_networking = true}));
    REQUIRE(eventually([&] { return threaded.connected(); }));
    const auto e = threaded.loop();
    CHECK(e == sg::errc::threaded_networking);
    CHECK(e.message() == "sgframework: loop() drives the network only without threaded "
                         "networking (start_options::threaded_networking is set)");
    w.publish("command/threadedres/go", "1");
    REQUIRE(eventually([&] {
        std::lock_guard lock(m);
        return callback_thread.has_value();
    }));
    {
        std::lock_guard lock(m);
        CHECK(*callback_thread != test_thread);
        CHECK(stop_inside == sg::errc::in_callback);
        CHECK(stop_inside.message() == "sgframework: \"stop\" cannot run inside a callback of "
                                       "the same object (it waits for the network)");
        CHECK(loop_inside == sg::errc::threaded_networking);
    }
    REQUIRE(eventually([&] { return !w.under("data/threadedres/go").empty(); }));
    CHECK(threaded.started()); // the refused stop() changed nothing
    REQUIRE_FALSE(threaded.stop());

    sg::resource caller{"callerres", broker.host(), broker.port()};
    caller.timeout = 20ms;
    std::optional<std::thread::id> caller_thread;
    REQUIRE_FALSE(caller.register_incoming_command("go", [&](sg::resource& self, sv, sv, sv, sv) {
        caller_thread = std::this_thread::get_id();
        loop_inside = self.loop();
    }));
    const auto before = w.size();
    REQUIRE_FALSE(caller.start());
    // presence, commandavailable/go, dataavailable/go
    REQUIRE(pump(caller, [&] { return w.size() >= before + 3; }));
    // loop() returns once a message was handled, long before its timeout.
    caller.timeout = 10s;
    w.publish("command/callerres/go", "1");
    const auto start = std::chrono::steady_clock::now();
    REQUIRE_FALSE(caller.loop());
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    REQUIRE(caller_thread.has_value());
    CHECK(*caller_thread == test_thread);
    CHECK(loop_inside == sg::errc::in_callback);
    REQUIRE_FALSE(caller.stop());
}
