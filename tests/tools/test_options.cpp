// ctmqtt-pub and ctmqtt-sub's options (tools/common/options.hpp): the
// defaults, checks and error texts of mosquitto_pub / mosquitto_sub 2.0.11.
// The expected error texts are what those programs printed (with their
// name replaced by ours in the last line).
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "common/client_config.hpp"
#include "common/options.hpp"

using namespace ctmqtt;
using namespace ctmqtt::tools;

namespace {

struct parsed {
    parse_result result;
    config cfg;
};

parsed run(program p, std::vector<std::string> args) {
    parsed r;
    r.result = parse(p, args, r.cfg);
    return r;
}

// The error text of a refused command line.
std::string refusal(program p, std::vector<std::string> args) {
    auto r = run(p, std::move(args));
    CHECK(r.result.status == 1);
    return r.result.error;
}

const std::string sub_usage_hint = "\nUse 'ctmqtt-sub --help' to see usage.\n";
const std::string pub_usage_hint = "\nUse 'ctmqtt-pub --help' to see usage.\n";

} // namespace

TEST_CASE("options: mosquitto's defaults", "[tools][options]") {
    auto r = run(program::pub, {"-t", "a", "-m", "x"});
    REQUIRE(r.result.status == 0);
    const auto& c = r.cfg;
    CHECK(c.protocol_version == 4); // MQTT 3.1.1
    CHECK(c.keepalive == 60);
    CHECK(*c.host == "localhost");
    CHECK(port(c) == 1883);
    CHECK(c.qos == 0);
    CHECK(!c.retain);
    CHECK(c.clean_session);
    CHECK(c.repeat_count == 1);
    CHECK(c.mode == message_mode::command_line);
    CHECK(client_id(c, 1234).empty()); // the broker assigns one
    auto s = make_client_options(c, 1234);
    CHECK(s.options.version == protocol_version::v3_1_1);
    CHECK(s.options.client_id.empty());
    CHECK(s.options.keep_alive == 60);
    CHECK(s.options.receive_maximum == 20); // what libmosquitto announces
    CHECK(!s.options.will);
    CHECK(!s.unsupported);
}

TEST_CASE("options: client identifiers", "[tools][options]") {
    CHECK(client_id(run(program::sub, {"-t", "a", "-I", "pre-"}).cfg, 4321) == "pre-4321");
    CHECK(client_id(run(program::sub, {"-t", "a", "-i", "me"}).cfg, 4321) == "me");
    CHECK(refusal(program::sub, {"-i", "a", "-I", "b"}) ==
          "Error: -i and -I argument cannot be used together.\n\n" + sub_usage_hint);
    // MQTT 3.1 needs one: "mosq-" and 18 letters and digits, as libmosquitto makes it.
    auto s = make_client_options(run(program::pub, {"-t", "a", "-n", "-V", "31"}).cfg, 1);
    REQUIRE(s.options.client_id.size() == 23);
    CHECK(s.options.client_id.starts_with("mosq-"));
    CHECK(s.options.client_id.find_first_not_of(
              "mosq-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") ==
          std::string::npos);
}

TEST_CASE("options: protocol versions", "[tools][options]") {
    for (auto [arg, version] : {std::pair{"mqttv31", 3},
                                {"31", 3},
                                {"mqttv311", 4},
                                {"311", 4},
                                {"mqttv5", 5},
                                {"5", 5}}) {
        CAPTURE(arg);
        auto r = run(program::sub, {"-t", "a", "-V", arg});
        REQUIRE(r.result.status == 0);
        CHECK(r.cfg.protocol_version == version);
    }
    CHECK(refusal(program::sub, {"-t", "a", "-V", "6"}) ==
          "Error: Invalid protocol version argument given.\n\n" + sub_usage_hint);
    // -D means MQTT 5, unless a later -V says otherwise.
    CHECK(run(program::pub, {"-D", "publish", "content-type", "x", "-t", "a", "-n"})
              .cfg.protocol_version == 5);
    CHECK(run(program::pub, {"-D", "publish", "content-type", "x", "-V", "311", "-t", "a", "-n"})
              .cfg.protocol_version == 4);
}

TEST_CASE("options: refusals and their texts", "[tools][options]") {
    CHECK(refusal(program::sub, {"-p", "1"}) ==
          "Error: You must specify a topic to subscribe to.\n" + sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a/#/b"}) ==
          "Error: Invalid subscription topic 'a/#/b', are all '+' and '#' wildcards correct?\n" +
              sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "--bogus"}) ==
          "Error: Unknown option '--bogus'.\n" + sub_usage_hint);
    CHECK(refusal(program::pub, {"-t", "a/+", "-m", "x"}) ==
          "Error: Invalid publish topic 'a/+', does it contain '+' or '#'?\n" + pub_usage_hint);
    CHECK(refusal(program::pub, {"-t", "a", "-m", "x", "-c"}) ==
          "Error: You must provide a client id if you are using the -c option.\n" + pub_usage_hint);
    CHECK(refusal(program::pub, {"-t", "a", "-m", "x", "-m", "y"}) ==
          "Error: Only one type of message can be sent at once.\n\n" + pub_usage_hint);
    CHECK(refusal(program::sub, {"-t"}) ==
          "Error: -t argument given but no topic specified.\n\n" + sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "-q", "3"}) ==
          "Error: Invalid QoS given: 3\n" + sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "-k", "4"}) ==
          "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.\n\n" +
              sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "-p", "70000"}) ==
          "Error: Invalid port given: 70000\n" + sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "-C", "0"}) ==
          "Error: Invalid message count \"0\".\n\n" + sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "-W", "x"}) ==
          "Error: Invalid timeout \"0\".\n\n" + sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a\tb"}) ==
          "Error: Malformed UTF-8 in -t argument.\n\n" + sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "--will-retain"}) ==
          "Error: Will retain given, but no will topic given.\n" + sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "-x", "12x"}) ==
          "Error: session-expiry-interval not a number.\n\n" + sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "-x", "-2"}) ==
          "Error: session-expiry-interval out of range.\n\n" + sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "-V", "5", "-c"}) ==
          "Error: You must provide a client id if you are using an infinite session expiry "
          "interval.\n" +
              sub_usage_hint);
    // Options of the other program.
    CHECK(refusal(program::pub, {"-t", "a", "-n", "-v"}) ==
          "Error: Unknown option '-v'.\n" + pub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "-m", "x"}) ==
          "Error: Unknown option '-m'.\n" + sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "--repeat", "2"}) ==
          "Error: Unknown option '--repeat'.\n" + sub_usage_hint);
    CHECK(run(program::pub, {"--help"}).result.status == 2);
    CHECK(run(program::sub, {"--version"}).result.status == 3);
}

TEST_CASE("options: -D properties", "[tools][options]") {
    auto ok = run(program::pub, {"-t",
                                 "a",
                                 "-m",
                                 "x",
                                 "-D",
                                 "publish",
                                 "user-property",
                                 "k",
                                 "v",
                                 "-D",
                                 "PUBLISH",
                                 "Message-Expiry-Interval",
                                 "60",
                                 "-D",
                                 "connect",
                                 "session-expiry-interval",
                                 "30",
                                 "-D",
                                 "will",
                                 "will-delay-interval",
                                 "5",
                                 "--will-topic",
                                 "w"});
    REQUIRE(ok.result.status == 0);
    REQUIRE(ok.cfg.publish_props.size() == 2);
    CHECK(ok.cfg.publish_props[0].id == property_id::user_property);
    CHECK(ok.cfg.publish_props[0].key == "k");
    CHECK(ok.cfg.publish_props[0].text == "v");
    CHECK(ok.cfg.publish_props[1].number == 60);
    auto s = make_client_options(ok.cfg, 1);
    CHECK(s.options.session_expiry_interval == 30);
    CHECK(s.options.will_delay_interval == 5);
    REQUIRE(s.options.will);
    CHECK(s.options.will->topic == "w");

    const auto tail = "\n" + pub_usage_hint;
    CHECK(refusal(program::pub, {"-t", "a", "-m", "x", "-D", "publish", "subscription-identifier",
                                 "3"}) == "Error: subscription-identifier property not supported "
                                          "for publish in --property argument.\n" +
                                              tail);
    CHECK(refusal(program::pub, {"-t", "a", "-m", "x", "-D", "connect", "payload-format-indicator",
                                 "3"}) == "Error: payload-format-indicator property not allowed "
                                          "for connect in --property argument.\n" +
                                              tail);
    CHECK(refusal(program::pub, {"-t", "a", "-m", "x", "-D", "publish", "payload-format-indicator",
                                 "1", "-D", "publish", "payload-format-indicator", "1"}) ==
          "Error in PUBLISH properties: Duplicate property in property list\n" + pub_usage_hint);
    CHECK(refusal(program::pub, {"-t", "a", "-m", "x", "-D", "publish", "foo", "1"}) ==
          "Error: Invalid property name given in --property argument.\n" + tail);
    CHECK(refusal(program::pub, {"-t", "a", "-m", "x", "-D", "foo", "bar", "1"}) ==
          "Error: Invalid command given in --property argument.\n" + tail);
    CHECK(refusal(program::pub, {"-t", "a", "-m", "x", "-D", "publish"}) ==
          "Error: --property argument given but not enough arguments specified.\n" + tail);
    CHECK(refusal(program::pub, {"-t", "a", "-m", "x", "-D", "publish", "user-property", "a"}) ==
          "Error: --property argument given but not enough arguments specified.\n" + tail);
    CHECK(refusal(program::pub, {"-t", "a", "-m", "x", "-D", "auth", "user-property", "a", "b"}) ==
          "Error: user-property property not supported for auth in --property argument.\n" + tail);
    CHECK(
        refusal(program::pub, {"-t", "a", "-m", "x", "-D", "puback", "user-property", "a", "b"}) ==
        "Error: user-property property not supported for puback in --property argument.\n" + tail);
    CHECK(refusal(program::pub,
                  {"-t", "a", "-m", "x", "-D", "publish", "message-expiry-interval", "-1"}) ==
          "Error: Property value (-1) out of range for property message-expiry-interval.\n" + tail);
    CHECK(refusal(program::pub, {"-t", "a", "-m", "x", "-D", "publish", "message-expiry-interval",
                                 "99999999999"}) == "Error: Property value (99999999999) out of "
                                                    "range for property "
                                                    "message-expiry-interval.\n" +
                                                        tail);
    CHECK(refusal(program::pub, {"-t", "a", "-m", "x", "-D", "connect", "receive-maximum", "0"}) ==
          "Error in CONNECT properties: A network protocol error occurred when communicating "
          "with the broker.\n" +
              pub_usage_hint);
    // "connack" is a command name mosquitto knows, and then refuses without a word.
    CHECK(refusal(program::pub, {"-t", "a", "-m", "x", "-D", "connack", "maximum-qos", "1"}) ==
          pub_usage_hint);
    // Accepted: mosquitto allows user properties in SUBSCRIBE, even in the publisher.
    CHECK(run(program::pub, {"-t", "a", "-m", "x", "-D", "subscribe", "user-property", "a", "b"})
              .result.status == 0);
}

TEST_CASE("options: -x and -c", "[tools][options]") {
    auto r = run(program::sub, {"-t", "a", "-V", "5", "-c", "-i", "me"});
    REQUIRE(r.result.status == 0);
    CHECK(make_client_options(r.cfg, 1).options.session_expiry_interval == 0xFFFF'FFFFu);
    CHECK(!make_client_options(r.cfg, 1).options.clean_start);
    r = run(program::sub, {"-t", "a", "-V", "5", "-x", "\xE2\x88\x9E", "-i", "me"});
    CHECK(make_client_options(r.cfg, 1).options.session_expiry_interval == 0xFFFF'FFFFu);
    r = run(program::sub, {"-t", "a", "-V", "5", "-x", "0x10"});
    CHECK(make_client_options(r.cfg, 1).options.session_expiry_interval == 16);
    r = run(program::sub, {"-t", "a", "-x", "100"}); // 3.1.1: -x does nothing
    CHECK(make_client_options(r.cfg, 1).options.session_expiry_interval == 0);
    CHECK(refusal(program::sub, {"-t", "a", "-V", "5", "-x", "10", "-D", "connect",
                                 "session-expiry-interval", "20"}) ==
          "Error in CONNECT properties: Duplicate property in property list\n" + sub_usage_hint);
}

TEST_CASE("options: -L URLs", "[tools][options]") {
    auto r = run(program::sub, {"-L", "mqtt://user:secret@example.net:1999/a/b"});
    REQUIRE(r.result.status == 0);
    CHECK(*r.cfg.host == "example.net");
    CHECK(port(r.cfg) == 1999);
    CHECK(*r.cfg.username == "user");
    CHECK(*r.cfg.password == "secret");
    REQUIRE(r.cfg.topics.size() == 1);
    CHECK(r.cfg.topics[0] == "a/b");
    r = run(program::pub, {"-L", "tcp://host/t", "-n"});
    REQUIRE(r.result.status == 0);
    CHECK(*r.cfg.host == "host");
    CHECK(port(r.cfg) == 1883);
    CHECK(*r.cfg.topic == "t");
    CHECK(refusal(program::sub, {"-L", "http://host/t"}) ==
          "Error: unsupported URL scheme.\n\n" + sub_usage_hint);
    CHECK(refusal(program::sub, {"-L", "mqtt://host"}) ==
          "Error: Invalid URL for -L argument specified - topic missing.\n" + sub_usage_hint);
    CHECK(r.cfg.url_scheme == transport::url_scheme::mqtt);
    // mosquitto: mqtts:// is port 8883 and trusts the system's CAs (as well as --cafile's).
    r = run(program::sub, {"-L", "mqtts://host/t", "--cafile", "ca.pem"});
    REQUIRE(r.result.status == 0);
    CHECK(port(r.cfg) == 8883);
    CHECK(r.cfg.tls_use_os_certs);
    auto t = transport_of(r.cfg);
    CHECK(t.scheme == transport::url_scheme::mqtts);
    CHECK(t.tls.ca_file == "ca.pem");
    CHECK(t.tls.system_store);
    r = run(program::sub, {"-L", "ssl://host:1999/t"});
    CHECK(transport_of(r.cfg).scheme == transport::url_scheme::mqtts);
    CHECK(port(r.cfg) == 1999);
    // ctmqtt's URLs: WebSocket's path is the request target, the topic comes from -t.
    r = run(program::sub, {"-L", "wss://me:p%40ss@[::1]/mqtt?x=1", "-t", "a/#"});
    REQUIRE(r.result.status == 0);
    CHECK(*r.cfg.host == "::1");
    CHECK(port(r.cfg) == 443);
    CHECK(*r.cfg.username == "me");
    CHECK(*r.cfg.password == "p@ss");
    CHECK(r.cfg.topics == std::vector<std::string>{"a/#"});
    t = transport_of(r.cfg);
    CHECK(t.scheme == transport::url_scheme::wss);
    CHECK(t.websocket_path == "/mqtt?x=1");
    CHECK(t.tls.system_store); // no CA given: the system's
    CHECK(t.tls.verify_host_name);
    r = run(program::pub, {"-L", "ws://host:9001", "-t", "t", "-n"});
    REQUIRE(r.result.status == 0);
    t = transport_of(r.cfg);
    CHECK(t.scheme == transport::url_scheme::ws);
    CHECK(t.websocket_path == "/");
    CHECK(port(r.cfg) == 9001);
    CHECK(refusal(program::sub, {"-L", "ws://host:0/"}) ==
          "Error: Invalid URL for -L argument specified - bad port \"0\" in the broker URL (a "
          "number from 1 to 65535).\n" +
              sub_usage_hint);
    // A Unix socket is a path on port 0, as --unix gives it.
    for (auto url : {"unix:/run/mqtt.sock", "unix:///run/mqtt.sock"}) {
        CAPTURE(url);
        r = run(program::sub, {"-L", url, "-t", "x"});
        REQUIRE(r.result.status == 0);
        CHECK(*r.cfg.host == "/run/mqtt.sock");
        CHECK(port(r.cfg) == 0);
        CHECK(transport_of(r.cfg).scheme == transport::url_scheme::unix_socket);
        CHECK(!r.cfg.unavailable);
    }
}

TEST_CASE("options: when TLS is used, as mosquitto decides it", "[tools][options]") {
    using transport::url_scheme;
    const auto scheme = [](std::vector<std::string> args) {
        auto r = run(program::sub, std::move(args));
        REQUIRE(r.result.status == 0);
        CHECK(!r.cfg.unavailable);
        return transport_of(r.cfg).scheme;
    };
    CHECK(scheme({"-t", "a"}) == url_scheme::mqtt);
    CHECK(scheme({"-t", "a", "--cafile", "ca.pem"}) == url_scheme::mqtts);
    CHECK(scheme({"-t", "a", "--capath", "/etc/ssl/certs"}) == url_scheme::mqtts);
    // Port 8883 means TLS with the system's CAs, even when -p alone says so.
    CHECK(scheme({"-t", "a", "-p", "8883"}) == url_scheme::mqtts);
    CHECK(scheme({"-t", "a", "-L", "mqtt://h:8883/t"}) == url_scheme::mqtts);
    // --tls-use-os-certs turns TLS on, on port 1883 too.
    CHECK(scheme({"-t", "a", "--tls-use-os-certs"}) == url_scheme::mqtts);
    // Options that only shape TLS do not turn it on.
    CHECK(scheme({"-t", "a", "--insecure", "--tls-version", "tlsv1.3", "--tls-alpn", "mqtt",
                  "--ciphers", "HIGH", "--cert", "c.pem", "--key", "k.pem"}) == url_scheme::mqtt);
    // WebSocket: the scheme says it, a CA option turns ws into wss; 8883 is just a port.
    CHECK(scheme({"-L", "ws://h/", "-t", "a", "--cafile", "ca.pem"}) == url_scheme::wss);
    CHECK(scheme({"-L", "ws://h:8883/", "-t", "a"}) == url_scheme::ws);
    CHECK(scheme({"-t", "a", "--unix", "/tmp/s"}) == url_scheme::unix_socket);
    // -p after --unix: TCP to a host named like the path, as in mosquitto.
    CHECK(scheme({"-t", "a", "--unix", "/tmp/s", "-p", "1883"}) == url_scheme::mqtt);

    auto r = run(program::sub,
                 {"-t", "a", "--cafile", "ca.pem", "--insecure", "--tls-version", "tlsv1.3",
                  "--tls-alpn", "mqtt", "--ciphers", "HIGH", "--cert", "c.pem", "--key", "k.pem"});
    REQUIRE(r.result.status == 0);
    CHECK(port(r.cfg) == 8883); // mosquitto's default with a CA
    const auto t = transport_of(r.cfg);
    CHECK(t.tls.ca_file == "ca.pem");
    CHECK(!t.tls.system_store);
    CHECK(!t.tls.verify_host_name); // --insecure: the name only
    CHECK(!t.tls.skip_verification);
    CHECK(t.tls.tls13_only);
    CHECK(t.tls.alpn == "mqtt");
    CHECK(t.tls.ciphers == "HIGH");
    CHECK(t.tls.certificate_file == "c.pem");
    CHECK(t.tls.private_key_file == "k.pem");
    // A client certificate is used only with a CA option (mosquitto_tls_set).
    r = run(program::sub, {"-t", "a", "-p", "8883", "--cert", "c.pem", "--key", "k.pem"});
    CHECK(transport_of(r.cfg).tls.certificate_file.empty());
    // TLS over a Unix socket: libmosquitto has it, this build's transports do not.
    r = run(program::sub, {"-t", "a", "--unix", "/tmp/s", "--cafile", "ca.pem"});
    CHECK(make_client_options(r.cfg, 1).unsupported == "TLS over a Unix socket");
}

TEST_CASE("options: TLS engines, TLS-PSK, SOCKS and -A are parsed and marked unavailable",
          "[tools][options]") {
    auto r = run(program::sub, {"-t", "a", "--tls-engine", "pkcs11"});
    REQUIRE(r.result.status == 0);
    REQUIRE(r.cfg.unavailable);
    CHECK(r.cfg.unavailable->first == "--tls-engine");
    CHECK(r.cfg.unavailable->second == "TLS engine support");
    r = run(program::sub, {"-t", "a", "--keyform", "ENGINE", "--cert", "c", "--key", "k"});
    REQUIRE(r.cfg.unavailable);
    CHECK(r.cfg.unavailable->first == "--keyform");
    CHECK(!run(program::sub, {"-t", "a", "--keyform", "pem", "--cert", "c", "--key", "k"})
               .cfg.unavailable);
    CHECK(run(program::sub, {"-t", "a", "--psk", "00", "--psk-identity", "me"})
              .cfg.unavailable->second == "TLS-PSK");
    CHECK(refusal(program::sub, {"-t", "a", "--cert", "c.pem"}) ==
          "Error: Both certfile and keyfile must be provided if one of them is set.\n" +
              sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "--cafile"}) ==
          "Error: --cafile argument given but no file specified.\n\n" + sub_usage_hint);
}

TEST_CASE("options: -F is checked when given", "[tools][options]") {
    CHECK(run(program::sub, {"-t", "a", "-F", "%-08p %.3t %%%I %j %J \\n @Y @@"}).result.status ==
          0);
    CHECK(refusal(program::sub, {"-t", "a", "-F", "%t %"}) ==
          "Error: Incomplete format specifier.\n" + sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "-F", "%5"}) ==
          "Error: Incomplete format specifier.\n" + sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "-F", "%k"}) ==
          "Error: Invalid format specifier 'k'.\n" + sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "-F", "x\\"}) ==
          "Error: Incomplete escape specifier.\n" + sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "-F", "\\q"}) ==
          "Error: Invalid escape specifier 'q'.\n" + sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "-F", "@"}) ==
          "Error: Incomplete format specifier.\n" + sub_usage_hint);
}

TEST_CASE("options: the defaults file", "[tools][options]") {
    const auto args = split_config_file("# comment\n-h broker.example\r\n\n-q 1\n-v\n"
                                        "--will-payload two words\n");
    CHECK(args == std::vector<std::string>{"-h", "broker.example", "-q", "1", "-v",
                                           "--will-payload", "two words"});
    config cfg;
    const auto r = parse(program::sub, {"-h", "file-host", "-q", "1"}, {"-t", "a", "-q", "2"}, cfg);
    REQUIRE(r.status == 0);
    CHECK(*cfg.host == "file-host");
    CHECK(cfg.qos == 2); // the command line comes after the file
}

TEST_CASE("options: the publisher's inputs and the will", "[tools][options]") {
    auto r = run(program::pub, {"-t", "a", "-l", "--repeat", "3", "--repeat-delay", "0.25"});
    REQUIRE(r.result.status == 0);
    CHECK(r.cfg.mode == message_mode::stdin_line);
    CHECK(r.cfg.repeat_count == 3);
    CHECK(r.cfg.repeat_delay_us == 250000);
    r = run(program::pub, {"-t", "a", "-f", "/etc/hostname"});
    CHECK(r.cfg.mode == message_mode::file);
    CHECK(*r.cfg.file_input == "/etc/hostname");
    r = run(program::sub, {"-t", "a", "--will-topic", "w", "--will-payload", "gone", "--will-qos",
                           "2", "--will-retain", "-V", "5", "-D", "will", "content-type", "t"});
    REQUIRE(r.result.status == 0);
    auto s = make_client_options(r.cfg, 1);
    REQUIRE(s.options.will);
    CHECK(s.options.will->payload_text() == "gone");
    CHECK(s.options.will->qos == qos::exactly_once);
    CHECK(s.options.will->retain);
    CHECK(*s.options.will->content_type == "t");
    CHECK(refusal(program::sub, {"-t", "a", "--will-qos", "3"}) ==
          "Error: Invalid will QoS 3.\n\n" + sub_usage_hint);
    CHECK(refusal(program::sub, {"-t", "a", "--will-topic", "w/#"}) ==
          "Error: Invalid will topic 'w/#', does it contain '+' or '#'?\n" + sub_usage_hint);
}
