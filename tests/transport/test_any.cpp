// transport::any (the transport a URL names, chosen at run time) and
// transport::unix_socket through basic_client against mosquitto: every
// transport publishes and receives at QoS 0, 1 and 2; every transport
// reconnects after the broker is killed and started again; a broker list
// mixing transports fails over between them; url_client made from URLs.
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <ctmqtt/client/client.hpp>
#include <ctmqtt/client/url_client.hpp>
#include <ctmqtt/transport/any.hpp>
#include <ctmqtt/transport/unix_socket.hpp>

#include "transport_test.hpp"

using namespace ctmqtt;
using namespace ctmqtt_test;
using any_client = basic_client<transport::any>;

namespace {

struct url_case {
    std::string name;
    std::string url;
    bool client_certificate = false;
};

// One URL per kind of listener: the default TCP one, TLS (with and without
// a client certificate), WebSocket, WebSocket over TLS, Unix socket.
std::vector<url_case> every_transport(const mosquitto_broker& b) {
    return {
        {"mqtt", b.url()},
        {"mqtts", b.listener_url(tls_listener, "localhost")},
        {"mqtts-cert", b.listener_url(tls_client_cert, "localhost"), true},
        {"ws", b.listener_url(ws_listener) + "mqtt"},
        {"wss", b.listener_url(wss_listener, "localhost")},
        {"unix", b.listener_url(unix_listener)},
    };
}

transport::tls_options test_tls(bool client_certificate) {
    const auto& certs = test_certificates::get();
    transport::tls_options o;
    o.ca_file = certs.path("ca.crt");
    if (client_certificate) {
        o.certificate_file = certs.path("client.crt");
        o.private_key_file = certs.path("client.key");
    }
    return o;
}

// A client for `u`, configured from its URL alone (and the test CA).
std::unique_ptr<any_client> client_for(boost::asio::io_context& io, const url_case& u,
                                       client_options o) {
    auto parsed = transport::parse_url(u.url);
    INFO(u.url << ": " << parsed.error().message());
    REQUIRE(parsed);
    parsed->apply_to(o);
    auto c = std::make_unique<any_client>(io.get_executor(), o);
    c->transport().add(*parsed);
    c->transport().set_tls_options(test_tls(u.client_certificate));
    return c;
}

} // namespace

TEST_CASE("any: a client per URL, every transport, every QoS both ways", "[transport][any]") {
    mosquitto_broker broker(transport_broker_options());
    for (const auto& u : every_transport(broker)) {
        INFO(u.name << " " << u.url);
        boost::asio::io_context io;
        client_options o;
        o.client_id = "any-" + u.name;
        o.reconnect_delays.clear();
        auto c = client_for(io, u, o);
        REQUIRE_FALSE(connect_and_wait(io, *c));
        CHECK(c->transport().is_open());
        exchange_every_qos(io, *c, "any/" + u.name);
        disconnect_and_wait(io, *c);
        CHECK_FALSE(c->transport().is_open());
    }
}

TEST_CASE("any: every transport reconnects after the broker is killed and started again",
          "[transport][any][reconnect]") {
    mosquitto_broker broker(transport_broker_options());
    boost::asio::io_context io;
    const auto cases = every_transport(broker);
    std::vector<std::unique_ptr<any_client>> clients;
    std::vector<int> connections(cases.size(), 0);
    for (std::size_t i = 0; i < cases.size(); ++i) {
        client_options o;
        o.client_id = "reconnect-" + cases[i].name;
        o.reconnect_delays = {std::chrono::milliseconds(50), std::chrono::milliseconds(200)};
        o.on_state = [&connections, i](const connection_state& s) {
            if (s.what == connection_state::kind::connected)
                ++connections[i];
        };
        clients.push_back(client_for(io, cases[i], o));
        INFO(cases[i].url);
        REQUIRE_FALSE(connect_and_wait(io, *clients.back()));
    }

    broker.kill();
    REQUIRE(run_until(io, [&] {
        for (const auto& c : clients)
            if (c->connected())
                return false;
        return true;
    }));
    broker.start();
    REQUIRE(run_until(
        io,
        [&] {
            for (auto n : connections)
                if (n < 2)
                    return false;
            return true;
        },
        20s));
    for (std::size_t i = 0; i < cases.size(); ++i) {
        INFO(cases[i].url);
        CHECK(clients[i]->connected());
        exchange_every_qos(io, *clients[i], "again/" + cases[i].name, {64});
        disconnect_and_wait(io, *clients[i]);
    }
}

TEST_CASE("any: a broker list mixing transports fails over from one to the next",
          "[transport][any]") {
    mosquitto_broker broker(transport_broker_options());
    boost::asio::io_context io;
    client_options o;
    o.client_id = "failover";
    o.reconnect_delays = {std::chrono::milliseconds(50)};
    std::vector<connection_state> states;
    o.on_state = [&](const connection_state& s) { states.push_back(s); };
    const auto dead = transport::parse_url("unix:" + (broker.dir() / "nobody.sock").string());
    const auto alive = transport::parse_url(broker.listener_url(wss_listener, "localhost"));
    REQUIRE(dead);
    REQUIRE(alive);
    dead->apply_to(o);
    alive->apply_to(o);
    any_client listed(io.get_executor(), o);
    listed.transport().add(*dead);
    listed.transport().add(*alive);
    listed.transport().set_tls_options(test_tls(false));
    REQUIRE_FALSE(connect_and_wait(io, listed));
    CHECK(listed.transport().scheme() == transport::url_scheme::wss);
    REQUIRE(states.size() == 2);
    // The Unix socket failed (no such file), the next broker at once ...
    CHECK(states[0].what == connection_state::kind::retrying);
    CHECK(states[0].error == std::errc::no_such_file_or_directory);
    CHECK(states[0].retry_in == std::chrono::milliseconds(0));
    CHECK(states[0].broker == alive->address());
    // ... over WebSocket and TLS.
    CHECK(states[1].what == connection_state::kind::connected);
    CHECK(states[1].broker == alive->address());
    exchange_every_qos(io, listed, "failover", {64});
    disconnect_and_wait(io, listed);
}

TEST_CASE("any: without URLs it is plain TCP", "[transport][any]") {
    mosquitto_broker broker;
    boost::asio::io_context io;
    any_client c(io.get_executor(), one_attempt(broker.host(), broker.port(), "plain"));
    REQUIRE_FALSE(connect_and_wait(io, c));
    CHECK(c.transport().scheme() == transport::url_scheme::mqtt);
    CHECK(c.transport().tcp_transport() != nullptr);
    disconnect_and_wait(io, c);
}

TEST_CASE("unix_socket: every QoS both ways; a missing or too long path is an error",
          "[transport][unix]") {
    mosquitto_broker broker(transport_broker_options());
    boost::asio::io_context io;
    {
        basic_client<transport::unix_socket> c(
            io.get_executor(),
            one_attempt(broker.listener_path(unix_listener).string(), 0, "unix"));
        REQUIRE_FALSE(connect_and_wait(io, c));
        exchange_every_qos(io, c, "unix");
        disconnect_and_wait(io, c);
    }
    {
        basic_client<transport::unix_socket> c(
            io.get_executor(), one_attempt((broker.dir() / "nobody.sock").string(), 0, "none"));
        const auto ec = connect_and_wait(io, c);
        CHECK(ec == std::errc::no_such_file_or_directory);
    }
    {
        basic_client<transport::unix_socket> c(io.get_executor(),
                                               one_attempt("/" + std::string(200, 'x'), 0, "long"));
        CHECK(connect_and_wait(io, c) == std::errc::filename_too_long);
    }
    {
        basic_client<transport::unix_socket> c(io.get_executor(), one_attempt("", 0, "empty"));
        const auto ec = connect_and_wait(io, c);
        CHECK(ec == transport::url_errc::missing_socket_path);
    }
}

TEST_CASE("url_client: made from a URL or a failover list, the URL's credentials and transport",
          "[transport][any][url_client]") {
    mosquitto_broker broker(transport_broker_options());
    boost::asio::io_context io;

    SECTION("one URL per transport") {
        for (const auto& u : every_transport(broker)) {
            INFO(u.url);
            client_options o;
            o.client_id = "url-client-" + u.name;
            o.reconnect_delays.clear();
            url_client c(io.get_executor(), u.url, o);
            c.set_tls_options(test_tls(u.client_certificate));
            REQUIRE(c.urls().size() == 1);
            REQUIRE_FALSE(connect_and_wait(io, c));
            exchange_every_qos(io, c, "url-client/" + u.name, {64});
            disconnect_and_wait(io, c);
        }
    }

    SECTION("a failover list: a dead URL first, then a WebSocket one") {
        const auto dead =
            "mqtt://127.0.0.1:" + std::to_string(ctmqtt_test::detail::pick_free_port("127.0.0.1"));
        client_options o;
        o.client_id = "url-client-failover";
        o.reconnect_delays = {std::chrono::milliseconds(20)};
        url_client c(io.get_executor(),
                     std::vector<std::string>{dead, broker.listener_url(ws_listener)}, o);
        REQUIRE(c.urls().size() == 2);
        REQUIRE_FALSE(connect_and_wait(io, c));
        CHECK(c.transport().scheme() == transport::url_scheme::ws);
        disconnect_and_wait(io, c);
    }

    SECTION("the URL's user name and password are the ones sent") {
        client_options o;
        o.client_id = "url-client-credentials";
        o.user_name = "options-user";
        o.password = "options-password";
        o.reconnect_delays.clear();
        url_client c(io.get_executor(),
                     "mqtt://alice:s3cret@127.0.0.1:" + std::to_string(broker.port()), o);
        REQUIRE_FALSE(connect_and_wait(io, c));
        disconnect_and_wait(io, c);
        // mosquitto logs the CONNECT's user name: "... as url-client-credentials (..., u'alice')"
        CHECK_THAT(broker.log(),
                   Catch::Contains("url-client-credentials") && Catch::Contains("u'alice'"));
        CHECK_THAT(broker.log(), !Catch::Contains("options-user"));
        CHECK(c.urls().front().user_name == "alice");
        CHECK(c.urls().front().to_string().find("s3cret") == std::string::npos);
    }

    SECTION("a URL that cannot be used throws, quoting the bad part") {
        auto refused = [&](const std::string& url) {
            try {
                url_client c(io.get_executor(), url);
            } catch (const std::system_error& e) {
                return std::string{e.what()};
            }
            return std::string{"accepted"};
        };
        CHECK_THAT(refused("http://broker"),
                   Catch::Contains("unknown URL scheme") && Catch::Contains("http"));
        CHECK_THAT(refused("mqtt://broker:99999"),
                   Catch::Contains("bad port") && Catch::Contains("99999"));
        CHECK_THAT(refused("unix:"), Catch::Contains("no socket path"));
        CHECK_THAT(refused(""), Catch::Contains("empty"));
        try {
            url_client c(io.get_executor(), std::vector<std::string>{}, client_options{});
            FAIL("an empty URL list was accepted");
        } catch (const std::system_error& e) {
            CHECK_THAT(e.what(), Catch::Contains("no broker URL"));
        }
    }
}
