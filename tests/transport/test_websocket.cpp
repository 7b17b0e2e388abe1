// transport::websocket and transport::websocket_tls through basic_client:
// against mosquitto's WebSocket listeners (every QoS, frames of a chosen
// size), and against small Beast servers for what mosquitto never does: a
// server that refuses the "mqtt" subprotocol or the upgrade, MQTT packets
// split across frames and messages and several in one frame; the same
// servers check what the client sends (path, headers, binary frames, a
// clean close).
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <catch2/catch.hpp>

#include <ctmqtt/client/client.hpp>
#include <ctmqtt/transport/websocket.hpp>
#include <ctmqtt/transport/websocket_tls.hpp>

#include "transport_test.hpp"

using namespace ctmqtt;
using namespace ctmqtt_test;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using boost::asio::ip::tcp;
using transport::websocket_errc;

namespace {

mosquitto_broker& shared_broker() {
    static mosquitto_broker broker(transport_broker_options());
    return broker;
}

std::vector<unsigned char> bytes_of(const beast::flat_buffer& b) {
    const auto* p = static_cast<const unsigned char*>(b.data().data());
    return {p, p + b.size()};
}

http::request<http::string_body> read_request(tcp::socket& socket, beast::flat_buffer& buffer) {
    http::request<http::string_body> request;
    http::read(socket, buffer, request);
    return request;
}

// Accepts the upgrade, answering `subprotocol` (none when empty).
void accept_websocket(beast::websocket::stream<tcp::socket>& ws,
                      const http::request<http::string_body>& request,
                      const std::string& subprotocol) {
    ws.set_option(
        beast::websocket::stream_base::decorator([subprotocol](beast::websocket::response_type& r) {
            if (!subprotocol.empty())
                r.set(http::field::sec_websocket_protocol, subprotocol);
        }));
    ws.accept(request);
}

} // namespace

TEST_CASE("websocket: every QoS both ways over ws and wss, 64 B and 64 KiB",
          "[transport][websocket]") {
    auto& broker = shared_broker();
    SECTION("ws") {
        boost::asio::io_context io;
        basic_client<transport::websocket> c(
            io.get_executor(), one_attempt("127.0.0.1", broker.listener_port(ws_listener), "ws"));
        REQUIRE_FALSE(connect_and_wait(io, c));
        REQUIRE(c.transport().handshake_response() != nullptr);
        CHECK(c.transport().handshake_response()->at(http::field::sec_websocket_protocol) ==
              "mqtt");
        exchange_every_qos(io, c, "ws");
        disconnect_and_wait(io, c);
    }
    SECTION("wss, the server's certificate verified") {
        boost::asio::io_context io;
        basic_client<transport::websocket_tls> c(
            io.get_executor(), one_attempt("localhost", broker.listener_port(wss_listener), "wss"));
        transport::tls_options tls;
        tls.ca_file = test_certificates::get().path("ca.crt");
        c.transport().set_tls_options(tls);
        REQUIRE_FALSE(connect_and_wait(io, c));
        exchange_every_qos(io, c, "wss");
        disconnect_and_wait(io, c);
    }
    SECTION("wss refuses a server it cannot verify, and says why") {
        boost::asio::io_context io;
        basic_client<transport::websocket_tls> c(
            io.get_executor(), one_attempt("localhost", broker.listener_port(wss_listener), "x"));
        const auto ec = connect_and_wait(io, c); // the system store: no test CA
        CHECK(ec == transport::tls_errc::unknown_ca);
        CHECK_THAT(ec.message(), Catch::Contains("not signed by a trusted certificate authority"));
    }
}

TEST_CASE("websocket: packets split across frames of max_frame_size reach mosquitto whole",
          "[transport][websocket]") {
    auto& broker = shared_broker();
    for (std::size_t frame : {std::size_t{7}, std::size_t{1000}}) {
        INFO("max_frame_size " << frame);
        boost::asio::io_context io;
        basic_client<transport::websocket> c(
            io.get_executor(),
            one_attempt("127.0.0.1", broker.listener_port(ws_listener), "frames"));
        transport::websocket_options o;
        o.max_frame_size = frame;
        c.transport().set_options(o);
        REQUIRE_FALSE(connect_and_wait(io, c));
        exchange_every_qos(io, c, "frames/" + std::to_string(frame), {100, 64 * 1024});
        disconnect_and_wait(io, c);
    }
}

TEST_CASE("websocket: a server that does not accept the mqtt subprotocol is refused",
          "[transport][websocket]") {
    for (const std::string answer : {"", "mqttv3.1"}) {
        INFO("the server answers \"" << answer << "\"");
        script_server server([&](tcp::socket& socket) {
            beast::flat_buffer buffer;
            const auto request = read_request(socket, buffer);
            beast::websocket::stream<tcp::socket> ws(std::move(socket));
            accept_websocket(ws, request, answer);
            beast::error_code ignored;
            ws.read(buffer, ignored); // until the client goes
        });
        boost::asio::io_context io;
        basic_client<transport::websocket> c(io.get_executor(),
                                             one_attempt("127.0.0.1", server.port(), "sub"));
        const auto ec = connect_and_wait(io, c);
        CHECK(ec == websocket_errc::subprotocol_refused);
        CHECK_THAT(ec.message(),
                   Catch::StartsWith("WebSocket: the server did not accept the subprotocol"));
        if (answer.empty())
            CHECK_THAT(ec.message(), Catch::EndsWith("(its Sec-WebSocket-Protocol: none)"));
        else
            CHECK_THAT(ec.message(), Catch::EndsWith("(its Sec-WebSocket-Protocol: \"mqttv3.1\")"));
        CHECK(server.error().empty());
    }
}

TEST_CASE("websocket: a text frame from the server ends the connection [MQTT-6.0.0-1]",
          "[transport][websocket]") {
    script_server server([](tcp::socket& socket) {
        beast::flat_buffer buffer;
        const auto request = read_request(socket, buffer);
        beast::websocket::stream<tcp::socket> ws(std::move(socket));
        accept_websocket(ws, request, "mqtt");
        ws.read(buffer); // CONNECT
        const unsigned char connack[] = {0x20, 0x03, 0x00, 0x00, 0x00};
        ws.text(true);
        ws.write(boost::asio::buffer(connack));
        beast::error_code ignored;
        ws.read(buffer, ignored); // until the client goes
    });
    boost::asio::io_context io;
    basic_client<transport::websocket> c(io.get_executor(),
                                         one_attempt("127.0.0.1", server.port(), "text"));
    const auto ec = connect_and_wait(io, c);
    CHECK(ec == websocket_errc::text_frame);
    CHECK_THAT(ec.message(), Catch::Contains("text frame") && Catch::Contains("[MQTT-6.0.0-1]"));
}

TEST_CASE("websocket: a refused upgrade gives its HTTP status", "[transport][websocket]") {
    script_server server([](tcp::socket& socket) {
        beast::flat_buffer buffer;
        const auto request = read_request(socket, buffer);
        http::response<http::string_body> response{http::status::not_found, request.version()};
        response.body() = "no such path";
        response.prepare_payload();
        http::write(socket, response);
    });
    boost::asio::io_context io;
    basic_client<transport::websocket> c(io.get_executor(),
                                         one_attempt("127.0.0.1", server.port(), "404"));
    const auto ec = connect_and_wait(io, c);
    CHECK(ec == websocket_errc::upgrade_declined);
    CHECK(ec.message() == "WebSocket: the server refused the upgrade with HTTP status 404 (is the "
                          "path right?)");
}

TEST_CASE("websocket: path and headers sent; packets split across frames and messages, several "
          "in one frame, read whole; binary frames and a clean close",
          "[transport][websocket]") {
    struct seen_by_server {
        std::string target, authorization, user_agent, subprotocol;
        bool connect_binary = false;
        unsigned char connect_type = 0;
        unsigned char subscribe_type = 0;
        unsigned char disconnect_type = 0;
        int close_code = -1;
    } seen;
    script_server server([&](tcp::socket& socket) {
        beast::flat_buffer buffer;
        const auto request = read_request(socket, buffer);
        seen.target = std::string{request.target()};
        seen.authorization = std::string{request[http::field::authorization]};
        seen.user_agent = std::string{request[http::field::user_agent]};
        seen.subprotocol = std::string{request[http::field::sec_websocket_protocol]};
        beast::websocket::stream<tcp::socket> ws(std::move(socket));
        accept_websocket(ws, request, "mqtt");
        ws.binary(true);

        buffer.clear();
        ws.read(buffer); // CONNECT
        seen.connect_binary = ws.got_binary();
        seen.connect_type = bytes_of(buffer).at(0);
        // CONNACK (MQTT 5, accepted) in two frames of one message.
        const unsigned char connack[] = {0x20, 0x03, 0x00, 0x00, 0x00};
        ws.write_some(false, boost::asio::buffer(connack, 2));
        ws.write_some(true, boost::asio::buffer(connack + 2, 3));

        buffer.clear();
        ws.read(buffer); // SUBSCRIBE: 0x82, remaining length, packet identifier
        const auto subscribe = bytes_of(buffer);
        seen.subscribe_type = subscribe.at(0);
        // SUBACK and a PUBLISH (QoS 0, "a/b", "hi") in one frame ...
        const unsigned char suback_publish[] = {0x90,
                                                0x04,
                                                subscribe.at(2),
                                                subscribe.at(3),
                                                0x00,
                                                0x00, // SUBACK: no properties, QoS 0
                                                0x30,
                                                0x08,
                                                0x00,
                                                0x03,
                                                'a',
                                                '/',
                                                'b',
                                                0x00,
                                                'h',
                                                'i'};
        ws.write(boost::asio::buffer(suback_publish));
        // ... and a PUBLISH ("a/c", "split") whose bytes come in three messages.
        const unsigned char publish[] = {0x30, 0x0b, 0x00, 0x03, 'a', '/', 'c',
                                         0x00, 's',  'p',  'l',  'i', 't'};
        ws.write(boost::asio::buffer(publish, 1));
        ws.write(boost::asio::buffer(publish + 1, 6));
        ws.write(boost::asio::buffer(publish + 7, sizeof publish - 7));

        buffer.clear();
        ws.read(buffer); // DISCONNECT
        seen.disconnect_type = bytes_of(buffer).at(0);
        beast::error_code ec;
        ws.read(buffer, ec); // the client's close frame: Beast answers it
        if (ec == beast::websocket::error::closed)
            seen.close_code = ws.reason().code;
    });

    boost::asio::io_context io;
    basic_client<transport::websocket> c(io.get_executor(),
                                         one_attempt("127.0.0.1", server.port(), "frames"));
    transport::websocket_options o;
    o.path = "/mqtt?x=1";
    o.headers = {{"Authorization", "Bearer t0k3n"}};
    c.transport().set_options(o);
    REQUIRE_FALSE(connect_and_wait(io, c));
    std::vector<message> received;
    bool subscribed = false;
    c.async_subscribe(
        "a/#", qos::at_most_once,
        [&](const message_view& m) {
            message copy;
            m.copy_to(copy);
            received.push_back(std::move(copy));
        },
        [&](std::error_code ec, std::vector<suback_reason_code>) {
            CHECK_FALSE(ec);
            subscribed = true;
        });
    REQUIRE(run_until(io, [&] { return subscribed && received.size() == 2; }));
    CHECK(received[0].topic == "a/b");
    CHECK(received[0].payload_text() == "hi");
    CHECK(received[1].topic == "a/c");
    CHECK(received[1].payload_text() == "split");
    disconnect_and_wait(io, c);
    REQUIRE(run_until(io, [&] { return server.done(); }));

    INFO(server.error());
    CHECK(server.error().empty());
    CHECK(seen.target == "/mqtt?x=1");
    CHECK(seen.authorization == "Bearer t0k3n");
    CHECK_THAT(seen.user_agent, Catch::StartsWith("ctmqtt/"));
    CHECK(seen.subprotocol == "mqtt");
    CHECK(seen.connect_binary);
    CHECK(seen.connect_type == 0x10);
    CHECK(seen.subscribe_type == 0x82);
    CHECK(seen.disconnect_type == 0xE0);
    CHECK(seen.close_code == 1000); // RFC 6455 §7.4.1: normal closure
}
