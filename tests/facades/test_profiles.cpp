// ReMoni-style connection profiles (include/ctmqtt/facades/profiles.hpp):
// the sample files in tests/facades/data/, every mistake named, and clients
// made from profiles against a real mosquitto (TCP, TLS with a client
// certificate, WebSocket, WebSocket over TLS, a Unix socket, credentials),
// with a subscriber on `#` checking topic, payload, QoS and retain flag.
// Also the texts of include/ctmqtt/facades/describe.hpp.
//
// One client type: basic_blocking_client<transport::any> (what
// profiles::connect makes; the checking subscriber is one too).
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <ctmqtt/facades/describe.hpp>
#include <ctmqtt/facades/profiles.hpp>

#include "support/mosquitto_broker.hpp"
#include "transport/certificates.hpp"

using namespace ctmqtt;
using namespace ctmqtt_test;
using namespace std::chrono_literals;

namespace {

const std::string data_dir = CTMQTT_FACADE_TEST_DATA;

profiles::profile_set sample() {
    auto set = profiles::load(data_dir + "/profiles.yaml");
    INFO(set.error().message());
    REQUIRE(set);
    return *set;
}

profiles::profile get(const profiles::profile_set& set, std::string_view name) {
    auto p = set.get(name);
    INFO(p.error().message());
    REQUIRE(p);
    return *p;
}

using any_blocking = basic_blocking_client<transport::any>;

struct seen {
    std::string topic;
    std::string payload;
    qos q = qos::at_most_once;
    bool retain = false;
    friend bool operator==(const seen&, const seen&) = default;
    friend bool operator<(const seen& a, const seen& b) { return a.topic < b.topic; }
};

std::ostream& operator<<(std::ostream& os, const seen& s) {
    return os << s.topic << " \"" << s.payload << "\" qos " << static_cast<int>(s.q)
              << (s.retain ? " retained" : "");
}

// The subscriber on `#`: retain as published, so the retain flag each
// publisher set shows.
class wire_checker {
public:
    explicit wire_checker(const mosquitto_broker& broker, std::optional<std::string> user = {},
                          std::optional<std::string> password = {})
        : client_(options(broker, std::move(user), std::move(password))) {
        REQUIRE_FALSE(client_.connect(5s));
        subscribe_options o{qos::exactly_once};
        o.retain_as_published = true;
        REQUIRE_FALSE(client_.subscribe("#", o, [this](const message_view& m) {
            std::lock_guard lock(mutex_);
            messages_.insert(
                {std::string{m.topic}, std::string{m.payload_text()}, m.qos, m.retain});
        }));
    }

    std::set<seen> wait_for(std::size_t n) {
        const auto end = std::chrono::steady_clock::now() + 10s;
        for (;;) {
            {
                std::lock_guard lock(mutex_);
                if (messages_.size() >= n || std::chrono::steady_clock::now() > end)
                    return messages_;
            }
            std::this_thread::sleep_for(5ms);
        }
    }

private:
    static client_options options(const mosquitto_broker& broker, std::optional<std::string> user,
                                  std::optional<std::string> password) {
        client_options o;
        o.host = broker.host();
        o.port = broker.port();
        o.client_id = "wire-checker";
        o.user_name = std::move(user);
        o.password = std::move(password);
        return o;
    }
    any_blocking client_;
    std::mutex mutex_;
    std::set<seen> messages_;
};

// A file of profiles made at run time (the brokers' ports are known only then).
class profile_file {
public:
    explicit profile_file(const std::string& yaml) : dir_("ctmqtt-profiles-") {
        std::ofstream(path()) << yaml;
    }
    std::filesystem::path path() const { return dir_.path() / "secrets.yaml"; }

private:
    ctmqtt_test::detail::temp_dir dir_;
};

client_options quick(std::string id) {
    client_options o;
    o.client_id = std::move(id);
    o.reconnect_delays = {100ms, 200ms};
    o.connect_timeout = 2s;
    return o;
}

} // namespace

// ---------------------------------------------------------------- the sample file

TEST_CASE("profiles: the sample file: every key, the defaults, the URLs", "[device][profiles]") {
    const auto set = sample();
    CHECK(set.source() == data_dir + "/profiles.yaml");
    CHECK(set.names() == std::vector<std::string>{"mqtt_local", "mqtt_cloud", "mqtt_tls_defaults",
                                                  "mqtt_websockets", "mqtt_websockets_tls",
                                                  "mqtt_unix", "logging"});
    using profiles::transport_kind;

    const auto local = get(set, "mqtt_local");
    CHECK(local.name == "mqtt_local");
    CHECK(local.transport == transport_kind::tcp);
    CHECK(local.host == "127.0.0.1");
    CHECK(local.port == 1883);
    CHECK(local.username == "gateway");
    CHECK(local.password == "secret");
    CHECK_FALSE(local.tls);
    CHECK_FALSE(local.secure());
    CHECK(local.url().to_string() == "mqtt://127.0.0.1:1883");

    const auto cloud = get(set, "mqtt_cloud");
    CHECK(cloud.transport == transport_kind::tls);
    CHECK(cloud.host == "203.0.113.7"); // from `ip`
    CHECK(cloud.port == 8883);
    CHECK(cloud.username == "gateway-17");
    CHECK(cloud.password == "s3cret: with @ odd characters");
    CHECK(cloud.client_id == "gateway-17");
    CHECK(cloud.keepalive == 30);
    REQUIRE(cloud.tls);
    CHECK(*cloud.tls == profiles::tls_files{"/etc/remoni/ca.pem", "/etc/remoni/gateway.pem",
                                            "/etc/remoni/gateway.key"});
    CHECK(cloud.url().to_string() == "mqtts://203.0.113.7:8883");
    const auto tls = cloud.tls_options();
    CHECK(tls.ca_file == "/etc/remoni/ca.pem");
    CHECK(tls.certificate_file == "/etc/remoni/gateway.pem");
    CHECK(tls.private_key_file == "/etc/remoni/gateway.key");

    client_options o;
    o.client_id = "mine";
    o.brokers = {{"old.example", 1}};
    cloud.apply_to(o);
    CHECK(o.brokers == std::vector<broker_address>{{"203.0.113.7", 8883}});
    CHECK(o.user_name == "gateway-17");
    CHECK(o.password == "s3cret: with @ odd characters");
    CHECK(o.keep_alive == 30);
    CHECK(o.client_id == "mine"); // the caller's id wins
    client_options unnamed;
    cloud.apply_to(unnamed);
    CHECK(unnamed.client_id == "gateway-17");

    const auto defaults = get(set, "mqtt_tls_defaults");
    CHECK(defaults.port == 8883);
    CHECK(defaults.secure());
    CHECK(defaults.tls_options().ca_file.empty()); // the system's store
    CHECK(get(set, "mqtt_websockets").url().to_string() == "ws://broker.example.com:80/mqtt/ws");
    CHECK(get(set, "mqtt_websockets_tls").url().to_string() == "wss://broker.example.com:443/mqtt");
    const auto unix_profile = get(set, "mqtt_unix");
    CHECK(unix_profile.url().to_string() == "unix:/run/mosquitto/mqtt.sock");
    CHECK(unix_profile.url().address() == broker_address{"/run/mosquitto/mqtt.sock", 0});

    // A top-level key that is not a profile says so only when asked for.
    CHECK(set.get("logging").error().message() == "profiles: profile \"logging\" in " + data_dir +
                                                      "/profiles.yaml has no \"host\" (or \"ip\")");
}

TEST_CASE("profiles: a missing file, profile or key, and a bad value, each named",
          "[device][profiles]") {
    const auto mistakes_file = data_dir + "/profiles-mistakes.yaml";
    auto mistakes = profiles::load(mistakes_file);
    REQUIRE(mistakes);
    const auto in = " in " + mistakes_file;
    struct row {
        const char* profile;
        profiles::errc kind;
        std::string message;
    };
    using profiles::errc;
    const std::vector<row> rows = {
        {"no_host", errc::missing_key,
         "profiles: profile \"no_host\"" + in + " has no \"host\" (or \"ip\")"},
        {"bad_port", errc::bad_value,
         "profiles: profile \"bad_port\"" + in +
             ": \"port\" is \"70000\", not a number from 1 to 65535 (line 6)"},
        {"port_not_a_number", errc::bad_value,
         "profiles: profile \"port_not_a_number\"" + in +
             ": \"port\" is \"eighteen-eighty-three\", not a number from 1 to 65535 (line 9)"},
        {"bad_transport", errc::bad_value,
         "profiles: profile \"bad_transport\"" + in +
             ": \"transport\" is \"udp\" (tcp, tls, websockets or unix) (line 11)"},
        {"host_and_ip", errc::bad_value,
         "profiles: profile \"host_and_ip\"" + in +
             ": \"ip\" and \"host\" are both given (one of them) (line 15)"},
        {"cert_without_key", errc::missing_key,
         "profiles: profile \"cert_without_key\"" + in +
             " has no \"tls.key\" (\"tls.cert\" needs it: a client certificate and its key go "
             "together)"},
        {"tls_over_unix", errc::bad_value,
         "profiles: profile \"tls_over_unix\"" + in +
             ": \"tls\" is given for a unix profile (TLS over a Unix socket is not supported) "
             "(line 25)"},
        {"unix_without_path", errc::missing_key,
         "profiles: profile \"unix_without_path\"" + in +
             " has no \"path\" (the socket of a unix profile)"},
        {"username_not_text", errc::bad_value,
         "profiles: profile \"username_not_text\"" + in +
             ": \"username\" is not a single value (line 30)"},
        {"just_a_value", errc::bad_yaml,
         "profiles: profile \"just_a_value\"" + in + " is not a mapping of settings (line 31)"},
    };
    for (const auto& r : rows) {
        INFO(r.profile);
        const auto p = mistakes->get(r.profile);
        REQUIRE_FALSE(p);
        CHECK(p.error() == r.kind);
        CHECK(p.error().message() == r.message);
        CHECK(p.error().category().name() == std::string{"ctmqtt.profiles"});
    }
    // A profile that is not there: the names there are (a long list is cut
    // where error texts are: 200 characters).
    const auto absent = mistakes->get("absent");
    CHECK(absent.error() == errc::missing_profile);
    CHECK_THAT(absent.error().message(),
               Catch::StartsWith("profiles: " + mistakes_file +
                                 " has no profile \"absent\" (it has no_host, bad_port, ") &&
                   Catch::EndsWith("..."));
    CHECK(sample().get("mqtt").error().message() ==
          "profiles: " + data_dir +
              "/profiles.yaml has no profile \"mqtt\" (it has mqtt_local, mqtt_cloud, "
              "mqtt_tls_defaults, mqtt_websockets, mqtt_websockets_tls, mqtt_unix, logging)");

    SECTION("the file") {
        const auto missing = profiles::load(data_dir + "/no-such-file.yaml");
        CHECK(missing.error() == errc::unreadable_file);
        CHECK(missing.error().message() == "profiles: cannot read " + data_dir +
                                               "/no-such-file.yaml: No such file or directory");
        const auto broken = profiles::load(data_dir + "/profiles-broken.yaml");
        CHECK(broken.error() == errc::bad_yaml);
        CHECK_THAT(broken.error().message(),
                   Catch::StartsWith("profiles: " + data_dir + "/profiles-broken.yaml:5:"));
        const auto list = profiles::profile_set::parse("- a\n- b\n", "list.yaml");
        CHECK(list.error().message() ==
              "profiles: list.yaml is not a mapping of profile names to settings");
        // connect() says the same before doing anything.
        auto c = profiles::connect(data_dir + "/profiles.yaml", "absent");
        CHECK(c.error() == errc::missing_profile);
        c = profiles::connect(mistakes_file, "bad_port");
        CHECK(c.error() == errc::bad_value);
    }
}

// ---------------------------------------------------------------- against mosquitto

TEST_CASE("profiles: connected clients from profiles over TCP, TLS, WebSocket, WebSocket over "
          "TLS and a Unix socket",
          "[device][profiles]") {
    const auto& certs = test_certificates::get();
    using kind = mosquitto_broker::listener::kind;
    mosquitto_broker::options bo;
    bo.listeners = {{kind::tls,
                     certs.path("server.crt"),
                     certs.path("server.key"),
                     certs.path("ca.crt"),
                     true,
                     {}},
                    {kind::websocket},
                    {kind::websocket_tls,
                     certs.path("server.crt"),
                     certs.path("server.key"),
                     certs.path("ca.crt"),
                     false,
                     {}},
                    {kind::unix_socket}};
    mosquitto_broker broker(bo);
    wire_checker wire(broker);
    const auto port = [&](std::size_t i) { return std::to_string(broker.listener_port(i)); };
    profile_file file("local_tcp:\n  host: 127.0.0.1\n  port: " + std::to_string(broker.port()) +
                      "\n"
                      "local_tls:\n  transport: tls\n  host: localhost\n  port: " +
                      port(0) + "\n  tls:\n    ca: " + certs.path("ca.crt") + "\n    cert: " +
                      certs.path("client.crt") + "\n    key: " + certs.path("client.key") +
                      "\n"
                      "local_ws:\n  transport: websockets\n  host: 127.0.0.1\n  port: " +
                      port(1) +
                      "\n"
                      "local_wss:\n  transport: websockets\n  ip: 127.0.0.1\n  port: " +
                      port(2) + "\n  tls: {ca: " + certs.path("ca.crt") +
                      "}\n"
                      "local_unix:\n  transport: unix\n  path: " +
                      broker.listener_path(3).string() + "\n");
    std::set<seen> expected;
    bool retain = false;
    for (const char* name : {"local_tcp", "local_tls", "local_ws", "local_wss", "local_unix"}) {
        INFO(name);
        auto client = profiles::connect(file.path(), name, quick(std::string{"gw-"} + name), 10s);
        INFO(client.error().message());
        REQUIRE(client);
        REQUIRE((*client)->connected());
        const auto topic = std::string{"gateway/"} + name;
        retain = !retain;
        CHECK_FALSE((*client)->publish(topic, name, qos::at_least_once, retain));
        expected.insert({topic, name, qos::at_least_once, retain});
        CHECK_FALSE((*client)->disconnect(5s));
    }
    CHECK(wire.wait_for(expected.size()) == expected);
}

TEST_CASE("profiles: credentials from the profile; refusals and unreachable brokers say why",
          "[device][profiles]") {
    mosquitto_broker::options bo;
    bo.allow_anonymous = false;
    // Made before the broker, which reads it at start.
    ctmqtt_test::detail::temp_dir passwords("ctmqtt-passwd-");
    const auto password_file = passwords.path() / "passwd";
    const auto command = "mosquitto_passwd -c -b '" + password_file.string() +
                         "' gateway 's3cret: with @' > /dev/null 2>&1";
    REQUIRE(std::system(command.c_str()) == 0);
    bo.extra_config = {"password_file " + password_file.string()};
    mosquitto_broker broker(bo);
    const auto& certs = test_certificates::get();
    profile_file file("good:\n  host: 127.0.0.1\n  port: " + std::to_string(broker.port()) +
                      "\n  username: gateway\n  password: \"s3cret: with @\"\n"
                      "wrong_password:\n  host: 127.0.0.1\n  port: " +
                      std::to_string(broker.port()) +
                      "\n  username: gateway\n  password: guess\n"
                      "nobody_listens:\n  host: 127.0.0.1\n  port: " +
                      std::to_string(ctmqtt_test::detail::pick_free_port("127.0.0.1")) +
                      "\n"
                      "missing_ca:\n  transport: tls\n  host: 127.0.0.1\n  tls: {ca: " +
                      certs.path("no-such-ca.crt") + "}\n");

    wire_checker wire(broker, "gateway", "s3cret: with @");
    auto good = profiles::connect(file.path(), "good", quick("gw-good"));
    INFO(good.error().message());
    REQUIRE(good);
    CHECK_FALSE((*good)->publish("gateway/good", "with credentials", qos::exactly_once));
    CHECK(wire.wait_for(1) ==
          std::set<seen>{{"gateway/good", "with credentials", qos::exactly_once, false}});

    // A final refusal comes back at once, in MQTT 5 and 3.1.1 words.
    const auto start = std::chrono::steady_clock::now();
    auto refused = profiles::connect(file.path(), "wrong_password", quick("gw-wrong"), 10s);
    CHECK(refused.error() == session_errc::connection_refused);
    CHECK(refused.error().message() == "connection refused: Not authorized (CONNACK 0x87)");
    CHECK(describe_connect_result(refused.error()) ==
          "Not authorized (CONNACK 0x87): the client is not authorised to connect");
    auto v311 = quick("gw-wrong-311");
    v311.version = protocol_version::v3_1_1;
    refused = profiles::connect(file.path(), "wrong_password", v311, 10s);
    CHECK(refusal_code(refused.error()) == 5);
    CHECK(describe_connect_result(refused.error()) ==
          "Connection Refused, not authorized (CONNACK return code 5): the client is not "
          "authorised to connect");
    CHECK(std::chrono::steady_clock::now() - start < 5s);

    // Retried until the timeout, then the last attempt's error.
    auto unreachable = profiles::connect(file.path(), "nobody_listens", quick("gw-none"), 1s);
    CHECK(unreachable.error() == std::errc::connection_refused);
    // TLS files that cannot be used: at once, naming the file.
    auto no_ca = profiles::connect(file.path(), "missing_ca", quick("gw-ca"), 10s);
    CHECK(no_ca.error() == transport::tls_errc::bad_ca_file);
    CHECK_THAT(no_ca.error().message(), Catch::Contains(certs.path("no-such-ca.crt")));
}

// ---------------------------------------------------------------- describe.hpp

TEST_CASE("describe: text for every CONNACK return code and every MQTT 5 reason code",
          "[device][describe]") {
    // Every code of the core table, in every packet that may carry it.
    std::size_t described = 0;
    for (const auto& row : reason_code_table) {
        for (unsigned t = 1; t <= 15; ++t) {
            const auto packet = static_cast<packet_type>(t);
            if ((row.packets & (1u << t)) == 0)
                continue;
            INFO(to_string(packet) << " " << static_cast<int>(row.value));
            const auto meaning = reason_code_meaning(packet, row.value);
            CHECK_FALSE(meaning.empty());
            const auto text = describe_reason_code(packet, row.value);
            CHECK(text == std::string{row.name} + " (" + std::string{to_string(packet)} + " " +
                              ctmqtt::detail::hex_byte(row.value) + "): " + std::string{meaning});
            ++described;
        }
    }
    CHECK(described == 96);
    CHECK(reason_code_meaning(packet_type::puback, 0x86).empty()); // PUBACK never carries it
    CHECK(describe_reason_code(packet_type::puback, 0x86) ==
          "Unknown reason code (PUBACK 0x86): not a reason code this packet may carry");
    // Per packet where the meaning differs.
    CHECK(describe_reason_code(packet_type::connack, 0x87) ==
          "Not authorized (CONNACK 0x87): the client is not authorised to connect");
    CHECK(describe_reason_code(packet_type::suback, 0x87) ==
          "Not authorized (SUBACK 0x87): the client is not authorised to make this subscription");
    CHECK(describe_reason_code(packet_type::disconnect, 0x00) ==
          "Normal disconnection (DISCONNECT 0x00): the connection is closed normally; the will "
          "is not published");

    // 3.1/3.1.1 return codes 0-5 and the reserved rest.
    const std::vector<std::string> v311 = {
        "Connection Accepted (CONNACK return code 0): the connection is accepted",
        "Connection Refused, unacceptable protocol version (CONNACK return code 1): the server "
        "does not support the MQTT protocol level the client asked for",
        "Connection Refused, identifier rejected (CONNACK return code 2): the client identifier "
        "is correct UTF-8, but the server does not allow it",
        "Connection Refused, Server unavailable (CONNACK return code 3): the network connection "
        "is up, but the MQTT service is unavailable",
        "Connection Refused, bad user name or password (CONNACK return code 4): the user name or "
        "password is malformed or not accepted",
        "Connection Refused, not authorized (CONNACK return code 5): the client is not authorised "
        "to connect",
    };
    for (std::uint8_t code = 0; code < v311.size(); ++code) {
        CHECK(describe_connack(protocol_version::v3_1_1, code) == v311[code]);
        CHECK(describe_connack(protocol_version::v3_1, code) == v311[code]);
    }
    CHECK(describe_connack(protocol_version::v3_1_1, 6) ==
          "Connection Refused, reserved return code (CONNACK return code 6): a reserved return "
          "code (3.1.1 §3.2.2.3): the connection is refused");
    CHECK(describe_connack(protocol_version::v5, 0x86) ==
          "Bad User Name or Password (CONNACK 0x86): the server does not accept the user name or "
          "password");

    // From the errors a connection ends with.
    CHECK(describe_connect_result({}) == "Connection accepted");
    CHECK(describe_connect_result(make_error_code(session_errc::connection_refused_v3, 2)) ==
          v311[2]);
    CHECK(describe_connect_result(make_error_code(session_errc::connection_lost)) ==
          "the connection was lost");
    CHECK(refusal_code(make_error_code(session_errc::connection_refused, 0x9F)) == 0x9F);
    CHECK_FALSE(refusal_code(make_error_code(session_errc::server_disconnected, 0x8E)));
    CHECK_FALSE(refusal_code(std::make_error_code(std::errc::connection_refused)));
}

TEST_CASE("describe: text for every publish result, and whether it was sent",
          "[device][describe]") {
    CHECK(was_sent({}));
    CHECK(describe_publish_result({}) == "Message sent");
    // The acknowledgements' error codes (PUBACK and PUBREC carry the same ones).
    for (const auto& row : reason_code_table) {
        if (row.value < 0x80 || !reason_code_allowed(packet_type::puback, row.value))
            continue;
        const auto ec = make_error_code(session_errc::publish_refused, row.value);
        CHECK_FALSE(was_sent(ec));
        CHECK(describe_publish_result(ec) ==
              "Message refused by the broker: " +
                  describe_reason_code(packet_type::puback, row.value));
    }
    CHECK(describe_publish_result(make_error_code(session_errc::publish_refused, 0x92)) ==
          "Message refused by the broker: Packet Identifier not found (PUBCOMP 0x92): the packet "
          "identifier is not known (the two sides' session states differ)");
    // Everything else a publish can end with says why in its own words.
    for (const auto ec : {make_error_code(client_errc::offline_queue_full),
                          make_error_code(client_errc::disconnected),
                          make_error_code(client_errc::dropped_from_queue),
                          make_error_code(client_errc::message_too_large),
                          make_error_code(session_errc::message_expired),
                          make_error_code(session_errc::session_expired),
                          make_error_code(session_errc::qos_not_supported),
                          make_error_code(session_errc::retain_not_supported),
                          make_error_code(session_errc::outbound_packet_too_large),
                          make_error_code(session_errc::packet_ids_exhausted),
                          make_error_code(session_errc::connection_refused, 0x86),
                          std::make_error_code(std::errc::operation_canceled)}) {
        INFO(ec.message());
        CHECK_FALSE(was_sent(ec));
        CHECK(describe_publish_result(ec) == "Message not sent: " + ec.message());
    }
}
