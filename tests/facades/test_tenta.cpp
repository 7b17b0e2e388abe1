// The Tenta facade (include/ctmqtt/facades/tenta.hpp) against a real
// mosquitto: every topic, payload, QoS and retain flag it sends is checked
// by a subscriber on `#`; every rule of the Tenta server is refused before
// sending; configurations valid and invalid; connection failures, several
// instances, wait_for_publish timing out, teardown and TLS.
//
// One client type in this translation unit (basic_client<transport::any>
// under both the facade and the checking subscriber): it is the expensive
// instantiation.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <ctmqtt/facades/tenta.hpp>

#include "support/mosquitto_broker.hpp"
#include "transport/certificates.hpp"

using namespace std::chrono_literals;
using namespace ctmqtt;
using Catch::Matchers::Contains;
using ctmqtt_test::mosquitto_broker;
using ordered_json = nlohmann::ordered_json;

namespace {

// The facade's own client type, used for the checking subscriber too.
using mqtt_client = tenta::client::mqtt_client_type;

mosquitto_broker& shared_broker() {
    static mosquitto_broker broker;
    return broker;
}

std::string unique_id(std::string_view prefix) {
    static std::atomic<int> n{0};
    return std::string{prefix} + "-" + std::to_string(++n);
}

/// Options for a facade of `broker`: quick reconnects, a 5 s connection timeout.
tenta::options options_for(const mosquitto_broker& broker, std::optional<std::string> sensor) {
    tenta::options o;
    o.host = broker.host();
    o.port = broker.port();
    o.client_id = unique_id("tenta");
    o.sensor_identifier = std::move(sensor);
    o.receive_configs = o.sensor_identifier.has_value();
    o.connection_timeout = 5s;
    o.reconnect_delays = {50ms, 100ms, 200ms};
    return o;
}

struct wire_message {
    std::string topic;
    std::string payload;
    ctmqtt::qos qos = ctmqtt::qos::at_most_once;
    bool retain = false;
};

/// A subscriber on `#` (MQTT 5, Retain As Published: it sees the retain
/// flag the publisher set; maximum QoS 2: it sees the publisher's QoS).
class wire_recorder {
public:
    explicit wire_recorder(const mosquitto_broker& broker) : client_(options(broker)) {
        REQUIRE_FALSE(client_.connect(5s));
        subscribe_options so{ctmqtt::qos::exactly_once};
        so.retain_as_published = true;
        REQUIRE_FALSE(client_.subscribe("#", so, [this](const message_view& m) {
            std::lock_guard lock(mutex_);
            seen_.push_back({std::string{m.topic}, std::string{m.payload_text()}, m.qos, m.retain});
            changed_.notify_all();
        }));
    }

    /// Waits until `n` messages of `sensor` (its measurements, logs and
    /// acknowledgments) arrived; returns all of them seen so far, in order.
    std::vector<wire_message> of_sensor(std::string_view sensor, std::size_t n,
                                        std::chrono::milliseconds timeout = 5s) {
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, timeout, [&] { return matching(sensor).size() >= n; });
        return matching(sensor);
    }

    /// Publishes as the Tenta server would (QoS 1), and waits for PUBACK.
    void server_publish(const std::string& topic, std::string_view payload, bool retain) {
        REQUIRE_FALSE(client_.publish(topic, payload, ctmqtt::qos::at_least_once, retain, 5s));
    }

private:
    static client_options options(const mosquitto_broker& broker) {
        client_options o;
        o.host = broker.host();
        o.port = broker.port();
        o.version = protocol_version::v5;
        o.client_id = unique_id("recorder");
        return o;
    }

    std::vector<wire_message> matching(std::string_view sensor) const {
        std::vector<wire_message> out;
        for (const auto& m : seen_) {
            const auto slash = m.topic.find('/');
            const auto kind = std::string_view{m.topic}.substr(0, slash);
            if (slash != std::string::npos &&
                std::string_view{m.topic}.substr(slash + 1) == sensor &&
                (kind == "measurements" || kind == "logs" || kind == "acknowledgments"))
                out.push_back(m);
        }
        return out;
    }

    mqtt_client client_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<wire_message> seen_;
};

void check_error(std::error_code ec, tenta::errc expected,
                 std::initializer_list<std::string_view> parts) {
    INFO(ec.message());
    CHECK(ec == expected);
    CHECK(ec.category().name() == std::string_view{"ctmqtt.tenta"});
    for (auto part : parts)
        CHECK_THAT(ec.message(), Contains(std::string{part}));
}

std::vector<std::string> keys_of(const ordered_json& object) {
    std::vector<std::string> keys;
    for (const auto& [key, value] : object.items())
        keys.push_back(key);
    return keys;
}

/// Waits (polling) until `done()` holds; false after `limit`.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= end)
            return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

/// A thread-safe list of what a callback was given.
template <class T>
class collected {
public:
    void add(T v) {
        std::lock_guard lock(mutex_);
        items_.push_back(std::move(v));
    }
    std::vector<T> items() const {
        std::lock_guard lock(mutex_);
        return items_;
    }
    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return items_.size();
    }

private:
    mutable std::mutex mutex_;
    std::vector<T> items_;
};

} // namespace

TEST_CASE("tenta: measurements, logs and acknowledgments on the wire: topics, JSON in the "
          "spec's key order, QoS 1, no retain; 3.1.1 by default, 5.0 on request",
          "[tenta]") {
    auto& broker = shared_broker();
    wire_recorder wire(broker);
    const auto version = GENERATE(std::optional<protocol_version>{},
                                  std::optional<protocol_version>{protocol_version::v5});
    const auto sensor = unique_id("wire");
    auto o = options_for(broker, sensor);
    o.user_name = "sensor-user";
    o.password = "sensor-password";
    if (version)
        o.version = *version;
    collected<std::pair<tenta::message_id, std::error_code>> finished;
    o.on_publish = [&](tenta::message_id id, std::error_code ec) { finished.add({id, ec}); };
    tenta::client f(o);

    // CONNECT as the broker saw it: the protocol (mosquitto's numbers: p2 is
    // 3.1.1, p5 is 5.0), clean session, keep alive 60 s, the user name.
    CHECK_THAT(broker.log(), Contains(" as " + o.client_id + " (" + (version ? "p5" : "p2") +
                                      ", c1, k60, u'sensor-user')"));

    const std::vector<tenta::measurement_message> measurements{
        {.value = {{"temperature", 20.5}, {"humidity", 45}},
         .revision = 3,
         .timestamp = 1700000000.25},
        {.value = {{"co2_ppm", 415.2}}},
    };
    const std::vector<tenta::log_message> logs{
        {.severity = tenta::log_severity::info, .message = "started"},
        {.severity = tenta::log_severity::warning,
         .message = "Gr\xc3\xbc\xc3\x9f"
                    "e \"quoted\"\nnext line \xe2\x9c\x93",
         .revision = 7},
        {.severity = tenta::log_severity::error, .message = "sensor offline"},
    };
    const double before = tenta::now();
    const auto m_id = f.publish(measurements);
    const auto l_id = f.publish(logs);
    const auto a_id = f.publish(
        {tenta::acknowledgment_message{.revision = 3, .success = true},
         tenta::acknowledgment_message{.revision = 4, .success = false, .timestamp = 1.5}});
    const double after = tenta::now();
    REQUIRE(m_id);
    REQUIRE(l_id);
    REQUIRE(a_id);
    CHECK(*m_id == 1);
    CHECK(*l_id == 2);
    CHECK(*a_id == 3);
    REQUIRE_FALSE(f.wait_for_publish(10s));
    CHECK(f.active_message_count() == 0);
    CHECK(f.was_message_published(*m_id));
    CHECK(f.was_message_published(*l_id));
    CHECK(f.was_message_published(*a_id));
    CHECK_FALSE(f.was_message_published(4)); // not published (yet)
    REQUIRE(eventually([&] { return finished.size() == 3; }));
    for (const auto& [id, ec] : finished.items())
        CHECK_FALSE(ec);

    const auto seen = wire.of_sensor(sensor, 3);
    REQUIRE(seen.size() == 3);
    CHECK(seen[0].topic == "measurements/" + sensor);
    CHECK(seen[1].topic == "logs/" + sensor);
    CHECK(seen[2].topic == "acknowledgments/" + sensor);
    for (const auto& m : seen) {
        CHECK(m.qos == ctmqtt::qos::at_least_once);
        CHECK_FALSE(m.retain);
    }

    // Measurements: the fully given item byte for byte; the other parsed.
    INFO(seen[0].payload);
    CHECK(seen[0].payload.starts_with(
        R"([{"revision":3,"value":{"temperature":20.5,"humidity":45},"timestamp":1700000000.25},)"
        R"({"revision":null,"value":{"co2_ppm":415.2},"timestamp":)"));
    const auto m = ordered_json::parse(seen[0].payload);
    REQUIRE(m.size() == 2);
    CHECK(keys_of(m[1]) == std::vector<std::string>{"revision", "value", "timestamp"});
    const double stamped = m[1]["timestamp"].get<double>();
    CHECK(stamped >= before);
    CHECK(stamped <= after);

    // Logs: key order, values, escaping, one timestamp for the batch.
    const auto l = ordered_json::parse(seen[1].payload);
    REQUIRE(l.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(keys_of(l[i]) ==
              std::vector<std::string>{"severity", "message", "revision", "timestamp"});
        CHECK(l[i]["message"] == logs[i].message);
        CHECK(l[i]["timestamp"] == l[0]["timestamp"]);
    }
    CHECK(l[0]["severity"] == "info");
    CHECK(l[1]["severity"] == "warning");
    CHECK(l[2]["severity"] == "error");
    CHECK(l[0]["revision"].is_null());
    CHECK(l[1]["revision"] == 7);

    // Acknowledgments: byte for byte but for the defaulted timestamp.
    const auto a = ordered_json::parse(seen[2].payload);
    REQUIRE(a.size() == 2);
    CHECK(seen[2].payload == R"([{"revision":3,"success":true,"timestamp":)" +
                                 a[0]["timestamp"].dump() +
                                 R"(},{"revision":4,"success":false,"timestamp":1.5}])");
}

TEST_CASE("tenta: QoS 0 on request", "[tenta]") {
    auto& broker = shared_broker();
    wire_recorder wire(broker);
    const auto sensor = unique_id("qos0");
    auto o = options_for(broker, sensor);
    o.qos = ctmqtt::qos::at_most_once;
    tenta::client f(o);
    const auto id = f.publish(tenta::log_message{.message = "fire and forget"});
    REQUIRE(id);
    REQUIRE_FALSE(f.wait_for_publish(5s));
    CHECK(f.was_message_published(*id));
    const auto seen = wire.of_sensor(sensor, 1);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].topic == "logs/" + sensor);
    CHECK(seen[0].qos == ctmqtt::qos::at_most_once);
    CHECK_FALSE(seen[0].retain);
}

TEST_CASE("tenta: a publish's sensor id overrides the default; without any, publishing is "
          "refused",
          "[tenta]") {
    auto& broker = shared_broker();
    wire_recorder wire(broker);
    const tenta::measurement_message m{.value = {{"t", 1}}};

    SECTION("no default sensor") {
        auto o = options_for(broker, std::nullopt);
        tenta::client f(o);
        CHECK_FALSE(f.sensor_identifier());
        check_error(f.publish(m).error(), tenta::errc::no_sensor_identifier,
                    {"no sensor identifier", "sensor_identifier"});
        check_error(f.publish(m, "").error(), tenta::errc::no_sensor_identifier, {});
        const auto a = unique_id("node-a");
        const auto b = unique_id("node-b");
        REQUIRE(f.publish(m, a));
        REQUIRE(f.publish(tenta::log_message{.message = "hi"}, b));
        REQUIRE_FALSE(f.wait_for_publish(5s));
        const auto on_a = wire.of_sensor(a, 1);
        const auto on_b = wire.of_sensor(b, 1);
        REQUIRE(on_a.size() == 1);
        REQUIRE(on_b.size() == 1);
        CHECK(on_a[0].topic == "measurements/" + a);
        CHECK(on_b[0].topic == "logs/" + b);
    }
    SECTION("a default sensor, and another one for one publish") {
        const auto fallback = unique_id("default");
        const auto other = unique_id("other");
        auto o = options_for(broker, fallback);
        tenta::client f(o);
        REQUIRE(f.publish(m));
        REQUIRE(f.publish(m, other));
        REQUIRE(f.publish(m, "")); // empty: the default
        REQUIRE_FALSE(f.wait_for_publish(5s));
        CHECK(wire.of_sensor(fallback, 2).size() == 2);
        const auto on_other = wire.of_sensor(other, 1);
        REQUIRE(on_other.size() == 1);
        CHECK(on_other[0].topic == "measurements/" + other);
    }
    SECTION("sensor ids that cannot be a topic level") {
        auto o = options_for(broker, std::nullopt);
        tenta::client f(o);
        for (std::string_view bad : std::initializer_list<std::string_view>{
                 "a/b", "+", "#", "x#", std::string_view{"nul\0", 4}, "\xff"}) {
            check_error(f.publish(m, bad).error(), tenta::errc::bad_sensor_identifier,
                        {"topic level"});
        }
        check_error(f.publish(m, "a/b").error(), tenta::errc::bad_sensor_identifier, {"\"a/b\""});
        check_error(f.publish(m, "\xff").error(), tenta::errc::bad_sensor_identifier,
                    {"\"\\xff\""});
        CHECK(f.active_message_count() == 0);
        auto bad_default = options_for(broker, "a/b");
        try {
            tenta::client g(bad_default);
            FAIL("a sensor identifier with '/' was taken");
        } catch (const std::system_error& e) {
            check_error(e.code(), tenta::errc::bad_sensor_identifier, {"\"a/b\""});
        }
    }
    SECTION("configurations need a sensor identifier") {
        auto o = options_for(broker, std::nullopt);
        o.receive_configs = true;
        try {
            tenta::client f(o);
            FAIL("receive_configs without a sensor identifier was taken");
        } catch (const std::system_error& e) {
            check_error(e.code(), tenta::errc::receive_configs_without_sensor_identifier,
                        {"receive_configs", "sensor_identifier"});
        }
    }
}

TEST_CASE("tenta: every rule of the Tenta server is refused before sending, naming the field",
          "[tenta]") {
    static_assert(!std::is_constructible_v<tenta::number, bool>,
                  "a boolean is not a measurement value");
    static_assert(!std::is_convertible_v<bool, tenta::number>);

    auto& broker = shared_broker();
    wire_recorder wire(broker);
    const auto sensor = unique_id("rules");
    tenta::client f(options_for(broker, sensor));
    using tenta::errc;
    using tenta::measurement_message;
    const measurement_message good{.value = {{"t", 1.0}}};
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();

    check_error(f.publish(std::span<const measurement_message>{}).error(), errc::empty_batch,
                {"empty batch", "measurements"});
    check_error(f.publish(std::span<const tenta::log_message>{}).error(), errc::empty_batch,
                {"logs"});
    check_error(f.publish(std::span<const tenta::acknowledgment_message>{}).error(),
                errc::empty_batch, {"acknowledgments"});

    check_error(f.publish(measurement_message{}).error(), errc::empty_measurement_value,
                {"\"value\"", "batch item 0"});
    // One bad item refuses the whole batch, and the error says which.
    check_error(f.publish({good, measurement_message{.value = {{"Temperature", 1}}}}).error(),
                errc::bad_measurement_key,
                {"^[a-z0-9](_?[a-z0-9])*$", "\"Temperature\"", "batch item 1"});
    for (const char* key : {"_x", "x_", "a__b", "a-b", "", "t\xc3\xa9", "a b", "A"}) {
        INFO(key);
        check_error(f.publish(measurement_message{.value = {{key, 1}}}).error(),
                    errc::bad_measurement_key, {std::string{"\""} + key + "\""});
    }
    check_error(f.publish(measurement_message{.value = {{std::string(65, 'a'), 1}}}).error(),
                errc::measurement_key_too_long, {"64", "65 characters"});
    check_error(f.publish(measurement_message{.value = {{"t", 1}, {"h", 2}, {"t", 3}}}).error(),
                errc::duplicate_measurement_key, {"\"t\""});
    check_error(f.publish(measurement_message{.value = {{"t", nan}}}).error(),
                errc::measurement_value_not_finite, {"\"t\" = NaN"});
    check_error(f.publish(measurement_message{.value = {{"t", inf}}}).error(),
                errc::measurement_value_not_finite, {"\"t\" = inf"});
    check_error(f.publish(measurement_message{.value = {{"t", -inf}}}).error(),
                errc::measurement_value_not_finite, {"-inf"});

    check_error(f.publish(measurement_message{.value = {{"t", 1}}, .revision = -1}).error(),
                errc::revision_out_of_range, {"\"revision\"", "-1 (measurement, batch item 0)"});
    check_error(f.publish(tenta::log_message{.message = "x", .revision = 2147483648}).error(),
                errc::revision_out_of_range, {"2147483648 (log, batch item 0)"});
    check_error(f.publish(tenta::acknowledgment_message{.revision = -5}).error(),
                errc::revision_out_of_range, {"-5 (acknowledgment"});
    check_error(f.publish({tenta::acknowledgment_message{.revision = 1},
                           tenta::acknowledgment_message{.success = true}})
                    .error(),
                errc::missing_revision, {"acknowledgment without \"revision\"", "batch item 1"});

    check_error(
        f.publish(tenta::log_message{.severity = static_cast<tenta::log_severity>(7)}).error(),
        errc::bad_log_severity, {"\"severity\"", "7 (batch item 0)"});
    check_error(f.publish(tenta::log_message{.message = "bad \xc3\x28 byte"}).error(),
                errc::log_message_not_utf8, {"\"message\"", "UTF-8"});

    check_error(f.publish(measurement_message{.value = {{"t", 1}}, .timestamp = nan}).error(),
                errc::timestamp_not_finite, {"\"timestamp\"", "NaN (measurement"});
    check_error(f.publish(tenta::log_message{.message = "x", .timestamp = inf}).error(),
                errc::timestamp_not_finite, {"inf (log"});
    check_error(f.publish(tenta::acknowledgment_message{.revision = 0, .timestamp = -inf}).error(),
                errc::timestamp_not_finite, {"-inf (acknowledgment"});
    CHECK(f.active_message_count() == 0);

    // The limits themselves are accepted.
    const std::string longest(64, 'k');
    REQUIRE(f.publish(measurement_message{.value = {{longest, 1}, {"a_1_b", 2}, {"0", 3}},
                                          .revision = 2147483647}));
    REQUIRE(
        f.publish(tenta::log_message{.message = std::string{"nul \0 inside", 12}, .revision = 0}));
    REQUIRE(f.publish(tenta::acknowledgment_message{.revision = 0}));
    REQUIRE_FALSE(f.wait_for_publish(5s));

    // Nothing of the refused ones reached the broker: the accepted ones are
    // all there is, in order (one client's messages keep their order).
    const auto seen = wire.of_sensor(sensor, 3);
    REQUIRE(seen.size() == 3);
    CHECK(seen[0].topic == "measurements/" + sensor);
    CHECK_THAT(seen[0].payload, Contains("\"" + longest + "\":1,\"a_1_b\":2,\"0\":3}"));
    CHECK_THAT(seen[0].payload, Contains("\"revision\":2147483647"));
    CHECK(seen[1].topic == "logs/" + sensor);
    CHECK(ordered_json::parse(seen[1].payload)[0]["message"] == std::string{"nul \0 inside", 12});
    CHECK(seen[2].topic == "acknowledgments/" + sensor);
    std::this_thread::sleep_for(200ms);
    CHECK(wire.of_sensor(sensor, 3, 0ms).size() == 3);
}

TEST_CASE("tenta: timestamps: given ones kept, defaulted ones the publish time (one per "
          "batch, sub-second); JSON numbers round-trip",
          "[tenta]") {
    auto& broker = shared_broker();
    wire_recorder wire(broker);
    const auto sensor = unique_id("time");
    tenta::client f(options_for(broker, sensor));

    const std::vector<tenta::measurement_message> three(
        3, tenta::measurement_message{.value = {{"t", 1}}});
    const double t0 = tenta::now();
    REQUIRE(f.publish(three));
    const double t1 = tenta::now();
    std::this_thread::sleep_for(50ms);
    REQUIRE(f.publish(three));

    const std::vector<double> stamps{1700000000.123456,
                                     0.1,
                                     1e-7,
                                     1234567890.000001,
                                     std::numeric_limits<double>::denorm_min(),
                                     std::numeric_limits<double>::max(),
                                     0.0};
    const std::vector<tenta::number> values{0.1,
                                            1.0 / 3.0,
                                            -2.5e-300,
                                            1e21,
                                            std::int64_t{9007199254740993},
                                            std::numeric_limits<std::int64_t>::min(),
                                            std::numeric_limits<std::uint64_t>::max()};
    std::vector<tenta::measurement_message> exact;
    for (std::size_t i = 0; i < stamps.size(); ++i)
        exact.push_back({.value = {{"v", values[i]}}, .timestamp = stamps[i]});
    REQUIRE(f.publish(exact));
    REQUIRE_FALSE(f.wait_for_publish(5s));

    const auto seen = wire.of_sensor(sensor, 3);
    REQUIRE(seen.size() == 3);
    const auto first = ordered_json::parse(seen[0].payload);
    const auto second = ordered_json::parse(seen[1].payload);
    const double ts1 = first[0]["timestamp"].get<double>();
    for (const auto& item : first)
        CHECK(item["timestamp"].get<double>() == ts1);
    CHECK(ts1 >= t0);
    CHECK(ts1 <= t1);
    const double ts2 = second[0]["timestamp"].get<double>();
    CHECK(ts2 - ts1 >= 0.04); // 50 ms apart: sub-second precision survives
    CHECK(ts2 - ts1 < 5.0);

    const auto round = ordered_json::parse(seen[2].payload);
    REQUIRE(round.size() == stamps.size());
    for (std::size_t i = 0; i < stamps.size(); ++i) {
        INFO(round[i].dump());
        const double back = round[i]["timestamp"].get<double>();
        CHECK(std::memcmp(&back, &stamps[i], sizeof back) == 0);
        const auto& v = round[i]["value"]["v"];
        std::visit(
            [&](auto x) {
                using T = decltype(x);
                CHECK(v.get<T>() == x);
                if constexpr (std::is_same_v<T, double>)
                    CHECK(v.is_number_float());
                else
                    CHECK(v.is_number_integer());
            },
            values[i].value());
    }
}

TEST_CASE("tenta: configurations: the latest valid one kept and handed to the callback; "
          "invalid ones ignored, reported and counted",
          "[tenta]") {
    auto& broker = shared_broker();
    wire_recorder wire(broker);
    const auto sensor = unique_id("config");
    const auto topic = "configurations/" + sensor;
    auto o = options_for(broker, sensor);
    collected<tenta::configuration_message> received;
    collected<std::pair<std::error_code, std::string>> invalid;
    std::atomic<std::thread::id> callback_thread{};
    std::atomic<tenta::client*> self{nullptr};
    collected<std::error_code> acknowledged;
    o.on_configuration = [&](const tenta::configuration_message& c) {
        callback_thread = std::this_thread::get_id();
        received.add(c);
        // A callback may publish: the sensor acknowledges each configuration.
        if (auto* sensor_client = self.load())
            acknowledged.add(sensor_client
                                 ->publish(tenta::acknowledgment_message{.revision = c.revision,
                                                                         .success = true})
                                 .error());
    };
    o.on_invalid_configuration = [&](std::error_code ec, std::string_view payload) {
        invalid.add({ec, std::string{payload}});
    };
    tenta::client f(o);
    self = &f;
    CHECK_FALSE(f.latest_configuration());

    wire.server_publish(topic, R"({"revision":0,"configuration":{"interval":5,"name":"x"}})", true);
    REQUIRE(eventually([&] { return received.size() == 1; }));
    CHECK(callback_thread.load() != std::this_thread::get_id());
    const tenta::configuration_message first{0, {{"interval", 5}, {"name", "x"}}};
    CHECK(received.items()[0] == first);
    REQUIRE(f.latest_configuration());
    CHECK(*f.latest_configuration() == first);

    struct bad_case {
        std::string payload;
        tenta::errc expected;
        std::string detail;
    };
    using tenta::errc;
    const std::vector<bad_case> bad{
        {"not json{", errc::configuration_not_json, "parse error at line 1"},
        {"", errc::configuration_not_json, "parse error"},
        {"[1,2]", errc::configuration_not_object, "it is an array"},
        {"\"text\"", errc::configuration_not_object, "it is a string"},
        {"null", errc::configuration_not_object, "it is null"},
        {R"({"revision":true,"configuration":{}})", errc::configuration_revision_not_integer,
         ": true"},
        {R"({"revision":1.5,"configuration":{}})", errc::configuration_revision_not_integer,
         ": 1.5"},
        {R"({"revision":"1","configuration":{}})", errc::configuration_revision_not_integer,
         ": \"1\""},
        {R"({"configuration":{}})", errc::configuration_revision_missing, "no \"revision\""},
        {R"({"revision":1})", errc::configuration_missing, "no \"configuration\""},
        {R"({"revision":-1,"configuration":{}})", errc::configuration_revision_out_of_range,
         ": -1"},
        {R"({"revision":2147483648,"configuration":{}})", errc::configuration_revision_out_of_range,
         ": 2147483648"},
        {R"({"revision":18446744073709551615,"configuration":{}})",
         errc::configuration_revision_out_of_range, ": 18446744073709551615"},
    };
    for (const auto& b : bad) // an empty retained payload would delete the retained one
        wire.server_publish(topic, b.payload, !b.payload.empty());
    REQUIRE(eventually([&] { return invalid.size() == bad.size(); }));
    const auto reported = invalid.items();
    for (std::size_t i = 0; i < bad.size(); ++i) {
        INFO(bad[i].payload);
        CHECK(reported[i].second == bad[i].payload);
        check_error(reported[i].first, bad[i].expected, {bad[i].detail});
    }
    CHECK(f.ignored_configuration_count() == bad.size());
    CHECK(received.size() == 1);
    CHECK(*f.latest_configuration() == first); // the invalid ones changed nothing
    CHECK(f.connected());                      // nor stopped the client

    // Any JSON value is a configuration; keys beyond the two are ignored.
    wire.server_publish(topic, R"({"revision":1,"configuration":[1,"a",null]})", true);
    wire.server_publish(topic, R"({"note":"x","configuration":null,"revision":2})", true);
    REQUIRE(eventually([&] { return received.size() == 3; }));
    CHECK(received.items()[1] == tenta::configuration_message{1, {1, "a", nullptr}});
    const tenta::configuration_message latest{2, nullptr};
    CHECK(received.items()[2] == latest);
    CHECK(*f.latest_configuration() == latest);

    // The callback acknowledged each valid one, and nothing else.
    REQUIRE_FALSE(f.wait_for_publish(5s));
    for (const auto& ec : acknowledged.items())
        CHECK_FALSE(ec);
    const auto seen = wire.of_sensor(sensor, 3);
    REQUIRE(seen.size() == 3);
    for (std::int64_t revision = 0; revision < 3; ++revision) {
        const auto& ack = seen[static_cast<std::size_t>(revision)];
        CHECK(ack.topic == "acknowledgments/" + sensor);
        const auto item = ordered_json::parse(ack.payload)[0];
        CHECK(item["revision"] == revision);
        CHECK(item["success"] == true);
    }
}

TEST_CASE("tenta: a retained configuration is received at start", "[tenta]") {
    auto& broker = shared_broker();
    wire_recorder server(broker);
    const auto sensor = unique_id("start");
    server.server_publish("configurations/" + sensor,
                          R"({"revision":4,"configuration":{"rate":2.5}})", true);
    const auto invalid_sensor = unique_id("start-invalid");
    server.server_publish("configurations/" + invalid_sensor, R"({"revision":false})", true);

    auto o = options_for(broker, sensor);
    collected<tenta::configuration_message> received;
    o.on_configuration = [&](const tenta::configuration_message& c) { received.add(c); };
    tenta::client f(o);
    REQUIRE(eventually([&] { return received.size() == 1; }));
    const tenta::configuration_message expected{4, {{"rate", 2.5}}};
    CHECK(received.items()[0] == expected);
    CHECK(f.latest_configuration() == expected);
    CHECK(f.ignored_configuration_count() == 0);

    auto oi = options_for(broker, invalid_sensor);
    collected<std::error_code> errors;
    oi.on_invalid_configuration = [&](std::error_code ec, std::string_view) { errors.add(ec); };
    tenta::client g(oi);
    REQUIRE(eventually([&] { return errors.size() == 1; }));
    check_error(errors.items()[0], tenta::errc::configuration_revision_not_integer, {"false"});
    CHECK(g.ignored_configuration_count() == 1);
    CHECK_FALSE(g.latest_configuration());
}

TEST_CASE("tenta: a failed first connection says host, port and why", "[tenta]") {
    SECTION("nothing listens on the port: retried until the connection timeout") {
        const auto port = ctmqtt_test::detail::pick_free_port("127.0.0.1");
        tenta::options o;
        o.port = port;
        o.receive_configs = false;
        o.connection_timeout = 1500ms;
        const auto start = std::chrono::steady_clock::now();
        try {
            tenta::client f(o);
            FAIL("connected to a port nobody listens on");
        } catch (const std::system_error& e) {
            const auto took = std::chrono::steady_clock::now() - start;
            check_error(e.code(), tenta::errc::connection_failed,
                        {"cannot connect to the MQTT broker", "127.0.0.1:" + std::to_string(port),
                         "within 1500 ms", "Connection refused"});
            CHECK(took >= 1400ms);
            CHECK(took < 5s);
        }
    }
    SECTION("the broker refuses: at once, with the broker's reason") {
        mosquitto_broker::options bo;
        bo.allow_anonymous = false;
        mosquitto_broker closed(bo);
        auto o = options_for(closed, std::nullopt);
        const auto start = std::chrono::steady_clock::now();
        try {
            tenta::client f(o);
            FAIL("an anonymous connection was accepted");
        } catch (const std::system_error& e) {
            check_error(e.code(), tenta::errc::connection_failed,
                        {"127.0.0.1:" + std::to_string(closed.port()), "not authori"});
            CHECK(std::chrono::steady_clock::now() - start < 3s);
        }
    }
    SECTION("a bad URL") {
        tenta::options o;
        o.url = "foo://host";
        o.receive_configs = false;
        try {
            tenta::client f(o);
            FAIL("a foo:// URL was taken");
        } catch (const std::system_error& e) {
            CHECK_THAT(e.code().message(), Contains("foo"));
        }
    }
}

TEST_CASE("tenta: several instances in one process, publishing at the same time", "[tenta]") {
    auto& broker = shared_broker();
    wire_recorder wire(broker);
    constexpr std::size_t instances = 3;
    constexpr std::size_t per_instance = 20;
    std::vector<std::string> sensors;
    std::vector<std::unique_ptr<tenta::client>> clients;
    for (std::size_t i = 0; i < instances; ++i) {
        sensors.push_back(unique_id("many"));
        clients.push_back(std::make_unique<tenta::client>(options_for(broker, sensors.back())));
    }
    std::vector<std::thread> threads;
    std::vector<std::vector<tenta::message_id>> ids(instances);
    for (std::size_t i = 0; i < instances; ++i)
        threads.emplace_back([&, i] {
            for (std::size_t n = 0; n < per_instance; ++n) {
                auto id = clients[i]->publish(
                    tenta::measurement_message{.value = {{"n", n}, {"instance", i}}});
                ids[i].push_back(id ? *id : 0);
            }
        });
    for (auto& t : threads)
        t.join();
    for (std::size_t i = 0; i < instances; ++i) {
        REQUIRE_FALSE(clients[i]->wait_for_publish(10s));
        CHECK(clients[i]->active_message_count() == 0);
        for (std::size_t n = 0; n < per_instance; ++n)
            CHECK(ids[i][n] == n + 1); // each instance numbers its own
        const auto seen = wire.of_sensor(sensors[i], per_instance);
        REQUIRE(seen.size() == per_instance);
        for (std::size_t n = 0; n < per_instance; ++n) {
            const auto item = ordered_json::parse(seen[n].payload)[0];
            CHECK(item["value"]["n"] == n);
            CHECK(item["value"]["instance"] == i);
        }
    }
}

TEST_CASE("tenta: wait_for_publish times out while the broker is stopped, and succeeds once "
          "it is back",
          "[tenta]") {
    mosquitto_broker broker;
    auto o = options_for(broker, unique_id("stopped"));
    tenta::client f(o);
    const tenta::log_message m{.message = "hello"};
    const auto first = f.publish(m);
    REQUIRE(first);
    REQUIRE_FALSE(f.wait_for_publish(*first, 5s));

    broker.stop();
    REQUIRE(eventually([&] { return !f.connected(); }));
    const auto id = f.publish(m);
    REQUIRE(id);
    CHECK(*id == 2);
    CHECK(f.active_message_count() == 1);
    CHECK_FALSE(f.was_message_published(*id));
    const auto start = std::chrono::steady_clock::now();
    check_error(f.wait_for_publish(300ms), tenta::errc::publish_timeout,
                {"not acknowledged", "1 still in flight after 300 ms"});
    CHECK(std::chrono::steady_clock::now() - start >= 300ms);
    check_error(f.wait_for_publish(*id, 100ms), tenta::errc::publish_timeout,
                {"message id 2 after 100 ms"});
    check_error(f.wait_for_publish(99, 100ms), tenta::errc::unknown_message_id, {"id 99"});
    check_error(f.wait_for_publish(0, 100ms), tenta::errc::unknown_message_id, {"id 0"});

    broker.start();
    REQUIRE_FALSE(f.wait_for_publish(10s));
    CHECK(f.was_message_published(*id));
    CHECK(f.active_message_count() == 0);
}

TEST_CASE("tenta: teardown disconnects; later publishes and messages in flight fail", "[tenta]") {
    auto& broker = shared_broker();
    SECTION("a clean teardown") {
        auto o = options_for(broker, unique_id("teardown"));
        tenta::client f(o);
        REQUIRE(f.publish(tenta::log_message{.message = "bye"}));
        REQUIRE_FALSE(f.wait_for_publish(5s));
        CHECK_FALSE(f.teardown());
        CHECK_FALSE(f.connected());
        CHECK(eventually([&] {
            return broker.log().find("Client " + o.client_id + " disconnected.") !=
                   std::string::npos;
        }));
        check_error(f.publish(tenta::log_message{.message = "late"}).error(),
                    tenta::errc::torn_down, {"teardown()"});
        CHECK_FALSE(f.teardown()); // a second time: nothing to do
    }
    SECTION("in flight at teardown: failed, reported, and wait_for_publish says so") {
        mosquitto_broker own;
        auto o = options_for(own, unique_id("inflight"));
        collected<std::pair<tenta::message_id, std::error_code>> finished;
        o.on_publish = [&](tenta::message_id id, std::error_code ec) { finished.add({id, ec}); };
        tenta::client f(o);
        own.stop(); // the message waits in the client's queue
        REQUIRE(eventually([&] { return !f.connected(); }));
        const auto id = f.publish(tenta::log_message{.message = "never sent"});
        REQUIRE(id);
        CHECK_FALSE(f.teardown());
        REQUIRE(eventually([&] { return finished.size() == 1; }));
        CHECK(finished.items()[0].first == *id);
        CHECK(finished.items()[0].second == client_errc::disconnected);
        CHECK_FALSE(f.was_message_published(*id));
        check_error(f.wait_for_publish(1s), tenta::errc::publish_failed,
                    {"1 since the last wait", "message id 1"});
        CHECK_FALSE(f.wait_for_publish(1s)); // reported once
        CHECK(f.wait_for_publish(*id, 1s) == client_errc::disconnected);
    }
    SECTION("blocking calls from a callback are refused") {
        auto o = options_for(broker, unique_id("callback"));
        std::atomic<tenta::client*> self{nullptr};
        collected<std::error_code> from_callback;
        o.on_publish = [&](tenta::message_id, std::error_code) {
            from_callback.add(self.load()->wait_for_publish(1s));
            from_callback.add(self.load()->teardown());
        };
        tenta::client f(o);
        self = &f;
        REQUIRE(f.publish(tenta::log_message{.message = "x"}));
        REQUIRE(eventually([&] { return from_callback.size() == 2; }));
        check_error(from_callback.items()[0], tenta::errc::called_from_callback,
                    {"wait_for_publish()"});
        check_error(from_callback.items()[1], tenta::errc::called_from_callback, {"teardown()"});
        CHECK(f.connected());
    }
}

TEST_CASE("tenta: TLS: CA file, client certificate, mqtts URL; a refused certificate says why",
          "[tenta]") {
    const auto& certs = ctmqtt_test::test_certificates::get();
    using kind = mosquitto_broker::listener::kind;
    mosquitto_broker::options bo;
    bo.listeners = {
        {kind::tls,
         certs.path("server.crt"),
         certs.path("server.key"),
         certs.path("ca.crt"),
         false,
         {}},
        {kind::tls,
         certs.path("server.crt"),
         certs.path("server.key"),
         certs.path("ca.crt"),
         true,
         {}},
    };
    mosquitto_broker broker(bo);
    wire_recorder wire(broker); // on the plain listener
    transport::tls_options trust;
    trust.ca_file = certs.path("ca.crt");

    SECTION("host, port and TLS options") {
        const auto sensor = unique_id("tls");
        auto o = options_for(broker, sensor);
        o.port = broker.listener_port(0);
        o.tls = trust;
        tenta::client f(o);
        CHECK(f.mqtt().async_client().transport().scheme() == transport::url_scheme::mqtts);
        REQUIRE(f.publish(tenta::measurement_message{.value = {{"t", 1}}}));
        REQUIRE_FALSE(f.wait_for_publish(5s));
        const auto seen = wire.of_sensor(sensor, 1);
        REQUIRE(seen.size() == 1);
        CHECK(seen[0].topic == "measurements/" + sensor);
    }
    SECTION("a client certificate, and an mqtts URL") {
        const auto sensor = unique_id("tls-client");
        auto o = options_for(broker, sensor);
        o.url = "mqtts://localhost:" + std::to_string(broker.listener_port(1));
        o.tls = trust;
        o.tls->certificate_file = certs.path("client.crt");
        o.tls->private_key_file = certs.path("client.key");
        tenta::client f(o);
        REQUIRE(f.publish(tenta::log_message{.message = "over TLS"}));
        REQUIRE_FALSE(f.wait_for_publish(5s));
        CHECK(wire.of_sensor(sensor, 1).size() == 1);
    }
    SECTION("a server certificate from an unknown CA") {
        auto o = options_for(broker, std::nullopt);
        o.port = broker.listener_port(0);
        o.tls.emplace();
        o.tls->ca_file = certs.path("other-ca.crt");
        o.connection_timeout = 1s;
        try {
            tenta::client f(o);
            FAIL("a certificate from an untrusted CA was accepted");
        } catch (const std::system_error& e) {
            check_error(e.code(), tenta::errc::connection_failed,
                        {"127.0.0.1:" + std::to_string(broker.listener_port(0)),
                         "not signed by a trusted certificate authority"});
        }
    }
}
