// transport::tls through basic_client against mosquitto's TLS listeners:
// every QoS, every way to say whom to trust and who we are, TLS versions,
// and each refusal with an error that says why.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <openssl/ssl.h>

#include <ctmqtt/client/client.hpp>
#include <ctmqtt/transport/tls.hpp>

#include "transport_test.hpp"

using namespace ctmqtt;
using namespace ctmqtt_test;
using transport::tls_errc;
using transport::tls_options;

namespace {

mosquitto_broker& shared_broker() {
    static mosquitto_broker broker(transport_broker_options());
    return broker;
}

tls_options trusting_test_ca() {
    tls_options o;
    o.ca_file = test_certificates::get().path("ca.crt");
    return o;
}

struct attempt {
    std::error_code error;
    std::string version; ///< the protocol version agreed, when connected
};

// One connection attempt to TLS listener `index` at `host`; disconnects
// again when it succeeds.
attempt connect_tls(std::size_t index, const tls_options& tls,
                    const std::string& host = "localhost", const std::string& id = "tls") {
    auto& broker = shared_broker();
    boost::asio::io_context io;
    basic_client<transport::tls> c(io.get_executor(),
                                   one_attempt(host, broker.listener_port(index), id));
    c.transport().set_options(tls);
    attempt a;
    a.error = connect_and_wait(io, c);
    if (!a.error) {
        a.version = c.transport().protocol_version();
        disconnect_and_wait(io, c);
    }
    return a;
}

} // namespace

TEST_CASE("tls: every QoS both ways, 64 B and 64 KiB, TLS 1.3 by default", "[transport][tls]") {
    auto& broker = shared_broker();
    for (const std::string host : {"localhost", "127.0.0.1"}) {
        INFO("host " << host); // a DNS name and an IP address in subjectAltName
        boost::asio::io_context io;
        basic_client<transport::tls> c(
            io.get_executor(), one_attempt(host, broker.listener_port(tls_listener), "qos"));
        c.transport().set_options(trusting_test_ca());
        REQUIRE_FALSE(connect_and_wait(io, c));
        CHECK(c.transport().protocol_version() == "TLSv1.3");
        exchange_every_qos(io, c, "tls/" + host);
        disconnect_and_wait(io, c);
    }
}

TEST_CASE("tls: trust from a CA file, a CA directory, PEM and DER in memory", "[transport][tls]") {
    const auto& certs = test_certificates::get();
    tls_options file = trusting_test_ca();
    tls_options directory;
    directory.ca_directory = certs.path("hashed");
    tls_options pem;
    pem.ca_pem = certs.text("ca.crt");
    tls_options der;
    der.ca_der = {certs.bytes("ca.der")};
    tls_options with_system = trusting_test_ca();
    with_system.use_system_store = true;
    for (const auto* o : {&file, &directory, &pem, &der, &with_system}) {
        const auto a = connect_tls(tls_listener, *o);
        INFO(a.error.message());
        CHECK_FALSE(a.error);
    }
}

TEST_CASE("tls: verification is on by default: the system store does not know the test CA",
          "[transport][tls]") {
    const auto a = connect_tls(tls_listener, tls_options{});
    CHECK(a.error == tls_errc::unknown_ca);
    // (mosquitto sends the CA with its certificate: OpenSSL says "self-signed
    // certificate in certificate chain".)
    CHECK_THAT(a.error.message(),
               Catch::StartsWith("TLS: the server's certificate is not signed by "
                                 "a trusted certificate authority ("));
}

TEST_CASE("tls: refusals say why: another CA, expired, host name mismatch, not TLS",
          "[transport][tls]") {
    SECTION("a certificate from another CA") {
        const auto a = connect_tls(tls_other_ca, trusting_test_ca());
        CHECK(a.error == tls_errc::unknown_ca);
        CHECK_THAT(a.error.message(), Catch::Contains("not signed by a trusted certificate"));
    }
    SECTION("an expired certificate") {
        const auto a = connect_tls(tls_expired, trusting_test_ca());
        CHECK(a.error == tls_errc::certificate_expired);
        CHECK_THAT(a.error.message(), Catch::Contains("certificate has expired"));
    }
    SECTION("a certificate for another host name") {
        auto o = trusting_test_ca();
        o.server_name = "broker.example.org";
        const auto a = connect_tls(tls_listener, o);
        CHECK(a.error == tls_errc::host_name_mismatch);
        CHECK_THAT(a.error.message(),
                   Catch::Contains("not valid for the host name \"broker.example.org\""));
    }
    SECTION("an IP address the certificate does not name") {
        // The certificate names 127.0.0.1; 127.0.0.2 reaches the same listener
        // only if it listens there: verify the name instead of connecting to it.
        auto o = trusting_test_ca();
        o.server_name = "127.0.0.2";
        const auto a = connect_tls(tls_listener, o);
        CHECK(a.error == tls_errc::host_name_mismatch);
        CHECK_THAT(a.error.message(), Catch::Contains("\"127.0.0.2\""));
    }
    SECTION("name verification can be turned off on its own") {
        auto o = trusting_test_ca();
        o.server_name = "broker.example.org";
        o.verify_host_name = false;
        CHECK_FALSE(connect_tls(tls_listener, o).error);
    }
    SECTION("a plain MQTT port") {
        auto& broker = shared_broker();
        boost::asio::io_context io;
        basic_client<transport::tls> c(io.get_executor(),
                                       one_attempt("localhost", broker.port(), "plain"));
        c.transport().set_options(trusting_test_ca());
        const auto ec = connect_and_wait(io, c);
        CHECK(ec == tls_errc::handshake_failed);
        CHECK_THAT(ec.message(), Catch::StartsWith("TLS handshake failed ("));
    }
}

TEST_CASE("tls: dangerously_skip_verification accepts what verification refuses",
          "[transport][tls]") {
    tls_options o; // no CA at all
    o.dangerously_skip_verification = true;
    CHECK_FALSE(connect_tls(tls_expired, o).error);
    CHECK_FALSE(connect_tls(tls_other_ca, o).error);
}

TEST_CASE("tls: client certificates from files and memory, with a password", "[transport][tls]") {
    const auto& certs = test_certificates::get();
    SECTION("none: the server requires one") {
        const auto a = connect_tls(tls_client_cert, trusting_test_ca());
        CHECK(a.error == tls_errc::client_certificate_required);
        CHECK_THAT(a.error.message(), Catch::Contains("requires a client certificate"));
    }
    SECTION("files") {
        auto o = trusting_test_ca();
        o.certificate_file = certs.path("client.crt");
        o.private_key_file = certs.path("client.key");
        CHECK_FALSE(connect_tls(tls_client_cert, o).error);
    }
    SECTION("PEM in memory, the key encrypted") {
        auto o = trusting_test_ca();
        o.certificate_pem = certs.text("client.crt");
        o.private_key_pem = certs.text("client-enc.key");
        o.private_key_password = "secret";
        CHECK_FALSE(connect_tls(tls_client_cert, o).error);
    }
    SECTION("DER in memory") {
        auto o = trusting_test_ca();
        o.certificate_der = certs.bytes("client.crt.der");
        o.private_key_der = certs.bytes("client.key.der");
        CHECK_FALSE(connect_tls(tls_client_cert, o).error);
    }
    SECTION("one from another CA is refused by the server") {
        auto o = trusting_test_ca();
        o.certificate_file = certs.path("other-client.crt");
        o.private_key_file = certs.path("other-client.key");
        const auto a = connect_tls(tls_client_cert, o);
        // The alert ("tlsv1 alert unknown ca") when it arrives before the
        // server's close; else the close after it asked for the certificate.
        CHECK(a.error == tls_errc::client_certificate_rejected);
        CHECK_THAT(a.error.message(), Catch::StartsWith("TLS: the server refused the client "
                                                        "certificate ("));
    }
}

TEST_CASE("tls: TLS versions, cipher lists and ALPN", "[transport][tls]") {
    SECTION("TLS 1.2 when the client goes no higher") {
        auto o = trusting_test_ca();
        o.max_version = transport::tls_version::v1_2;
        const auto a = connect_tls(tls_listener, o);
        CHECK_FALSE(a.error);
        CHECK(a.version == "TLSv1.2");
    }
    SECTION("a server that wants 1.3 refuses a 1.2 client") {
        auto o = trusting_test_ca();
        o.max_version = transport::tls_version::v1_2;
        const auto a = connect_tls(tls13_only, o);
        CHECK(a.error == tls_errc::handshake_failed);
        CHECK_THAT(a.error.message(), Catch::Contains("protocol version"));
    }
    SECTION("a TLS 1.2 cipher list") {
        auto o = trusting_test_ca();
        o.max_version = transport::tls_version::v1_2;
        o.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";
        CHECK_FALSE(connect_tls(tls_listener, o).error);
    }
    SECTION("TLS 1.3 ciphersuites") {
        auto o = trusting_test_ca();
        o.ciphersuites = "TLS_CHACHA20_POLY1305_SHA256";
        CHECK_FALSE(connect_tls(tls_listener, o).error);
    }
    SECTION("ALPN offered to a broker that chooses none") {
        auto o = trusting_test_ca();
        o.alpn_protocols = {"mqtt"};
        CHECK_FALSE(connect_tls(tls_listener, o).error);
    }
}

TEST_CASE("tls: ALPN: the protocol the server chooses", "[transport][tls]") {
    // mosquitto 2.0 chooses none: a TLS server of our own that picks "mqtt".
    namespace ssl = boost::asio::ssl;
    const auto& certs = test_certificates::get();
    ssl::context server_context(ssl::context::tls_server);
    server_context.use_certificate_chain_file(certs.path("server.crt"));
    server_context.use_private_key_file(certs.path("server.key"), ssl::context::pem);
    ::SSL_CTX_set_alpn_select_cb(
        server_context.native_handle(),
        [](SSL*, const unsigned char** out, unsigned char* out_size, const unsigned char* offered,
           unsigned int offered_size, void*) {
            static const unsigned char ours[] = {4, 'm', 'q', 't', 't'};
            auto** chosen = const_cast<unsigned char**>(out);
            return ::SSL_select_next_proto(chosen, out_size, ours, sizeof ours, offered,
                                           offered_size) == OPENSSL_NPN_NEGOTIATED
                       ? SSL_TLSEXT_ERR_OK
                       : SSL_TLSEXT_ERR_ALERT_FATAL;
        },
        nullptr);
    script_server server([&](tcp::socket& socket) {
        ssl::stream<tcp::socket&> stream(socket, server_context);
        stream.handshake(ssl::stream_base::server);
        unsigned char packet[256];
        stream.read_some(boost::asio::buffer(packet)); // CONNECT
        const unsigned char connack[] = {0x20, 0x03, 0x00, 0x00, 0x00};
        boost::asio::write(stream, boost::asio::buffer(connack));
        boost::system::error_code ignored;
        while (!ignored) // DISCONNECT, then the end
            stream.read_some(boost::asio::buffer(packet), ignored);
    });
    boost::asio::io_context io;
    basic_client<transport::tls> c(io.get_executor(),
                                   one_attempt("localhost", server.port(), "alpn"));
    auto o = trusting_test_ca();
    o.alpn_protocols = {"x-unknown", "mqtt"};
    c.transport().set_options(o);
    REQUIRE_FALSE(connect_and_wait(io, c));
    CHECK(c.transport().alpn_protocol() == "mqtt");
    disconnect_and_wait(io, c);
    REQUIRE(run_until(io, [&] { return server.done(); }));
    CHECK(server.error().empty());
}

TEST_CASE("tls: mistakes in the options are reported by prepare() and by the connection",
          "[transport][tls]") {
    const auto& certs = test_certificates::get();
    boost::asio::io_context io;
    transport::tls t(io.get_executor());
    auto check = [&](const tls_options& o, tls_errc expected, const std::string& text) {
        t.set_options(o);
        const auto ec = t.prepare();
        CHECK(ec == expected);
        CHECK_THAT(ec.message(), Catch::Contains(text));
    };
    tls_options o;
    o.ca_file = "/nonexistent/ca.pem";
    check(o, tls_errc::bad_ca_file, "cannot load the CA file \"/nonexistent/ca.pem");
    o = {};
    o.ca_directory = "/nonexistent";
    check(o, tls_errc::bad_ca_directory, "/nonexistent: not a directory");
    o = {};
    o.ca_pem = "not a certificate";
    check(o, tls_errc::bad_ca_certificate, "CA certificate given in memory");
    o = {};
    o.ca_der = {{std::byte{1}, std::byte{2}}};
    check(o, tls_errc::bad_ca_certificate, "not a DER certificate");
    o = trusting_test_ca();
    o.certificate_file = certs.path("client.crt");
    check(o, tls_errc::certificate_without_key, "needs its private key");
    o.private_key_file = certs.path("other-client.key");
    check(o, tls_errc::private_key_mismatch, "does not belong");
    o.private_key_file = "";
    o.private_key_pem = certs.text("client-enc.key");
    o.private_key_password = "wrong";
    check(o, tls_errc::bad_private_key, "cannot load the private key");
    o = trusting_test_ca();
    o.ciphers = "NO-SUCH-CIPHER";
    check(o, tls_errc::bad_cipher_list, "\"NO-SUCH-CIPHER\"");
    o = trusting_test_ca();
    o.alpn_protocols = {""};
    check(o, tls_errc::bad_alpn_protocols, "1 to 255 bytes");

    // The client meets the same error when it connects.
    auto& broker = shared_broker();
    basic_client<transport::tls> c(
        io.get_executor(), one_attempt("localhost", broker.listener_port(tls_listener), "x"));
    tls_options missing;
    missing.ca_file = "/nonexistent/ca.pem";
    c.transport().set_options(missing);
    CHECK(connect_and_wait(io, c) == tls_errc::bad_ca_file);
}
