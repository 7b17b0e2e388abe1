// Broker URLs (transport/url.hpp): every scheme and its default port,
// credentials, IPv6, paths, Unix socket paths, and each refusal's message.
#include <catch2/catch.hpp>

#include <ctmqtt/transport/url.hpp>

using namespace ctmqtt;
using transport::parse_url;
using transport::url_errc;
using transport::url_scheme;

namespace {

transport::broker_url parsed(std::string_view text) {
    auto u = parse_url(text);
    INFO(text << ": " << u.error().message());
    REQUIRE(u);
    return *u;
}

std::error_code refused(std::string_view text) {
    auto u = parse_url(text);
    INFO(text);
    REQUIRE_FALSE(u);
    return u.error();
}

} // namespace

TEST_CASE("url: schemes and their default ports", "[url]") {
    struct row {
        const char* text;
        url_scheme scheme;
        std::uint16_t port;
    };
    for (const auto& r :
         {row{"mqtt://broker", url_scheme::mqtt, 1883}, row{"tcp://broker", url_scheme::mqtt, 1883},
          row{"mqtts://broker", url_scheme::mqtts, 8883},
          row{"ssl://broker", url_scheme::mqtts, 8883}, row{"ws://broker", url_scheme::ws, 80},
          row{"wss://broker", url_scheme::wss, 443}, row{"MQTTS://broker", url_scheme::mqtts, 8883},
          row{"broker", url_scheme::mqtt, 1883}}) {
        const auto u = parsed(r.text);
        CHECK(u.scheme == r.scheme);
        CHECK(u.host == "broker");
        CHECK(u.port == r.port);
        CHECK(u.address() == broker_address{"broker", r.port});
    }
}

TEST_CASE("url: ports, IPv6 literals, credentials", "[url]") {
    CHECK(parsed("mqtt://broker:1884").port == 1884);
    CHECK(parsed("broker:1").port == 1);
    CHECK(parsed("mqtt://broker:65535").port == 65535);
    CHECK(parsed("mqtt://broker:").port == 1883); // RFC 3986: an empty port is the default

    const auto v6 = parsed("mqtt://[::1]:1884");
    CHECK(v6.host == "::1");
    CHECK(v6.port == 1884);
    CHECK(parsed("mqtts://[2001:db8::1]").port == 8883);
    CHECK(parsed("[fe80::1%25eth0]:1883").host == "fe80::1%eth0");

    const auto c = parsed("mqtts://alice:s%40cr%3At@broker:8884");
    CHECK(c.user_name == "alice");
    CHECK(c.password == "s@cr:t");
    CHECK(c.host == "broker");
    CHECK(c.port == 8884);
    const auto user_only = parsed("mqtt://bob@broker");
    CHECK(user_only.user_name == "bob");
    CHECK_FALSE(user_only.password);
    CHECK_FALSE(parsed("mqtt://@broker").user_name);
    CHECK(parsed("mqtt://a:@broker").password == "");

    client_options o;
    c.apply_to(o);
    REQUIRE(o.brokers.size() == 1);
    CHECK(o.brokers[0] == broker_address{"broker", 8884});
    CHECK(o.user_name == "alice");
    CHECK(o.password == "s@cr:t");
    CHECK(c.to_string() == "mqtts://alice@broker:8884"); // no password
    CHECK(v6.to_string() == "mqtt://[::1]:1884");
}

TEST_CASE("url: WebSocket paths", "[url]") {
    CHECK(parsed("ws://broker").path == "/");
    CHECK(parsed("wss://broker:8443").path == "/");
    CHECK(parsed("ws://broker/mqtt").path == "/mqtt");
    CHECK(parsed("wss://broker/mqtt?token=a%20b").path == "/mqtt?token=a%20b"); // sent as is
    CHECK(parsed("ws://broker?x=1").path == "/?x=1");
    CHECK(parsed("ws://broker/mqtt#fragment").path == "/mqtt");
    CHECK(parsed("mqtt://broker").path.empty());
    CHECK(parsed("mqtt://broker/topic").path == "/topic");
    CHECK(parsed("wss://broker:443/mqtt").to_string() == "wss://broker:443/mqtt");
}

TEST_CASE("url: Unix sockets", "[url]") {
    for (const char* text : {"unix:/run/mqtt.sock", "unix:///run/mqtt.sock",
                             "unix://localhost/run/mqtt.sock", "UNIX:/run/mqtt.sock"}) {
        const auto u = parsed(text);
        CHECK(u.scheme == url_scheme::unix_socket);
        CHECK(u.path == "/run/mqtt.sock");
        CHECK(u.port == 0);
        CHECK(u.address() == broker_address{"/run/mqtt.sock", 0});
        CHECK(u.to_string() == "unix:/run/mqtt.sock");
    }
    CHECK(parsed("unix:relative.sock").path == "relative.sock");
    CHECK(parsed("unix:/tmp/a%20b.sock").path == "/tmp/a b.sock");
}

TEST_CASE("url: refusals name what is wrong", "[url]") {
    auto ec = refused("");
    CHECK(ec == url_errc::empty);
    CHECK(ec.message() == "the broker URL is empty");

    ec = refused("foo://broker");
    CHECK(ec == url_errc::unknown_scheme);
    CHECK(ec.message() == "unknown URL scheme \"foo\" (mqtt, tcp, mqtts, ssl, ws, wss or unix)");
    CHECK(refused("http://broker:80").message().find("\"http\"") != std::string::npos);

    for (const char* port : {"99999", "0", "12a", "-1", "123456"}) {
        ec = refused("mqtt://broker:" + std::string{port});
        CHECK(ec == url_errc::bad_port);
        CHECK(ec.message() == "bad port \"" + std::string{port} +
                                  "\" in the broker URL (a number from 1 to 65535)");
    }

    for (const char* text : {"mqtt://", "mqtt://:1883", "mqtt://user@", "ws:///path", ":1883"}) {
        ec = refused(text);
        CHECK(ec == url_errc::missing_host);
        CHECK(ec.message() == "the broker URL has no host");
    }

    for (const char* text : {"unix:", "unix://", "unix://host/x.sock", "unix://relative.sock"}) {
        ec = refused(text);
        CHECK(ec == url_errc::missing_socket_path);
        CHECK_THAT(ec.message(), Catch::StartsWith("the unix: URL has no socket path"));
    }

    ec = refused("mqtt://[::1:1883");
    CHECK(ec == url_errc::bad_ipv6_literal);
    CHECK_THAT(ec.message(), Catch::StartsWith("bad IPv6 address \"[::1:1883\""));
    CHECK(refused("mqtt://::1:1883") == url_errc::bad_ipv6_literal);
    CHECK(refused("mqtt://[::1]x") == url_errc::bad_ipv6_literal);
    CHECK(refused("mqtt://[broker]:1883") == url_errc::bad_ipv6_literal);

    ec = refused("mqtt://user:p%zzw@broker");
    CHECK(ec == url_errc::bad_percent_encoding);
    CHECK_THAT(ec.message(), Catch::StartsWith("bad percent-encoding \"%zz\""));
    CHECK(refused("unix:/tmp/%4") == url_errc::bad_percent_encoding);

    ec = refused("mqtt://bro ker:1883");
    CHECK(ec == url_errc::bad_host);
    CHECK(ec.message() == "bad host \"bro ker\" in the broker URL");
}

TEST_CASE("url: a quoted text is kept once however often it is refused", "[url]") {
    const auto first = refused("gopher://x");
    for (int i = 0; i < 100; ++i)
        CHECK(refused("gopher://x") == first); // the same value: the same stored text
    // Quoted text is cut at 200 characters.
    const auto long_scheme = "s" + std::string(300, 'x');
    const auto message = refused(long_scheme + "://host").message();
    CHECK(message.find(std::string(200 - 1, 'x') + "...\"") != std::string::npos);
}
