// Tests of the scripted fake broker (fake_broker.hpp), driven by a raw Asio
// socket in the test's thread: what a script expects and sends, how failures
// are recorded, connections one after another, and a prompt stop.
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include <ctmqtt/core.hpp>

#include "fake_broker.hpp"

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace ctmqtt_test::steps;
using ctmqtt::packet_type;
using ctmqtt::protocol_version;
using ctmqtt_test::fake_broker;
using ctmqtt_test::hex;

// A TCP peer for the broker with timeouts: every call runs its own io_context
// in this thread until the operation completes or the time is up.
class raw_peer {
public:
    explicit raw_peer(const fake_broker& b) : socket_(io_) {
        socket_.connect({asio::ip::make_address(b.host()), b.port()});
        socket_.set_option(asio::ip::tcp::no_delay(true));
    }

    void write(const std::vector<std::byte>& bytes) {
        asio::write(socket_, asio::buffer(bytes.data(), bytes.size()));
    }

    template <ctmqtt::packet P>
    void write(const P& p, protocol_version v) {
        std::vector<std::byte> buffer(ctmqtt::encoded_size(p, v));
        auto e = ctmqtt::encode(p, v, buffer);
        REQUIRE(e);
        buffer.resize(e->header.size());
        buffer.insert(buffer.end(), e->payload.begin(), e->payload.end());
        write(buffer);
    }

    /// Exactly `n` bytes, or nullopt on timeout or end of stream.
    std::optional<std::vector<std::byte>> read(std::size_t n,
                                               std::chrono::milliseconds timeout = 2s) {
        std::vector<std::byte> out(n);
        boost::system::error_code ec = asio::error::would_block;
        asio::async_read(socket_, asio::buffer(out.data(), out.size()),
                         [&](boost::system::error_code e, std::size_t) { ec = e; });
        run(ec, timeout);
        if (ec)
            return std::nullopt;
        return out;
    }

    /// Whether the broker closes the connection (end of stream) within `timeout`.
    bool closed_by_broker(std::chrono::milliseconds timeout = 2s) {
        std::byte one[1];
        boost::system::error_code ec = asio::error::would_block;
        socket_.async_read_some(asio::buffer(one),
                                [&](boost::system::error_code e, std::size_t) { ec = e; });
        run(ec, timeout);
        return ec == asio::error::eof || ec == asio::error::connection_reset;
    }

    void close() { socket_.close(); }

private:
    void run(boost::system::error_code& ec, std::chrono::milliseconds timeout) {
        io_.restart();
        io_.run_for(timeout);
        if (ec == asio::error::would_block) { // still running: cancel and let it finish
            socket_.cancel();
            io_.restart();
            io_.run();
        }
    }

    asio::io_context io_;
    asio::ip::tcp::socket socket_;
};

ctmqtt::connect make_connect(protocol_version v) {
    ctmqtt::connect c;
    c.version = v;
    c.client_id = "raw";
    return c;
}

// Once every script has ended: the one error recorded.
std::string only_error(const fake_broker& b) {
    REQUIRE(b.wait_done(2s));
    const auto errors = b.errors();
    REQUIRE(errors.size() == 1);
    return errors[0];
}

} // namespace

TEST_CASE("fake broker: a script of expect and send, MQTT 3.1.1 and 5.0", "[fake_broker]") {
    for (auto v : {protocol_version::v3_1_1, protocol_version::v5}) {
        INFO(ctmqtt::to_string(v));
        fake_broker b;
        CHECK(b.host() == "127.0.0.1");
        CHECK(b.port() != 0);
        ctmqtt::connack ack; // encoded for the version the CONNECT says
        b.script({expect(packet_type::connect), send(ack), expect(packet_type::disconnect),
                  wait_closed()});
        raw_peer peer(b);
        peer.write(make_connect(v), v);
        const auto got = peer.read(v == protocol_version::v5 ? 5 : 4);
        REQUIRE(got);
        CHECK(*got == hex(v == protocol_version::v5 ? "20 03 00 00 00" : "20 02 00 00"));
        peer.write(ctmqtt::disconnect{}, v);
        peer.close();
        REQUIRE(b.wait_done(2s));
        INFO(b.report());
        CHECK(b.errors().empty());
        CHECK(b.connections() == 1);
        CHECK(b.received_types(1) == std::vector{packet_type::connect, packet_type::disconnect});
        const auto packets = b.received();
        REQUIRE(packets.size() == 2);
        CHECK(packets[0].version == v);
        CHECK(packets[0].as<ctmqtt::connect>().client_id == "raw");
        CHECK(packets[1].bytes == hex("E0 00"));
        CHECK_THAT(packets[0].to_string(), Catch::Contains("CONNECT"));
    }
}

TEST_CASE("fake broker: raw bytes go out as they are, packets split in pieces are joined",
          "[fake_broker]") {
    fake_broker b;
    // A CONNACK with a reserved flag set: malformed, sent anyway.
    b.script({expect(packet_type::connect), send_hex("20 03 02 00 00"),
              expect(packet_type::pingreq), wait_closed()});
    raw_peer peer(b);
    peer.write(make_connect(protocol_version::v5), protocol_version::v5);
    const auto got = peer.read(5);
    REQUIRE(got);
    CHECK(*got == hex("20 03 02 00 00"));
    peer.write(hex("C0"));
    std::this_thread::sleep_for(20ms);
    peer.write(hex("00"));
    peer.close();
    REQUIRE(b.wait_done(2s));
    INFO(b.report());
    CHECK(b.errors().empty());
    CHECK(b.received_types(1) == std::vector{packet_type::connect, packet_type::pingreq});
}

TEST_CASE("fake broker: a step that fails is recorded with its connection and step, and ends "
          "the connection",
          "[fake_broker]") {
    SECTION("another packet than expected") {
        fake_broker b;
        b.script({expect(packet_type::connect), send_hex("20 03 00 00 00")});
        raw_peer peer(b);
        peer.write(ctmqtt::pingreq{}, protocol_version::v5);
        CHECK(peer.closed_by_broker());
        CHECK_THAT(only_error(b), Catch::StartsWith("connection 1, step 1 (expect CONNECT): ") &&
                                      Catch::Contains("expected CONNECT, got PINGREQ"));
    }
    SECTION("nothing within the timeout") {
        fake_broker b;
        b.script({expect(packet_type::connect, 100ms), send_hex("20 03 00 00 00")});
        raw_peer peer(b);
        const auto t0 = std::chrono::steady_clock::now();
        CHECK(peer.closed_by_broker());
        CHECK(std::chrono::steady_clock::now() - t0 < 1s);
        CHECK_THAT(only_error(b),
                   Catch::Contains("expected CONNECT, but nothing came within 100 ms"));
    }
    SECTION("the client closes instead") {
        fake_broker b;
        b.script({expect(packet_type::connect)});
        raw_peer peer(b);
        peer.write(hex("10 0A")); // the start of a CONNECT
        peer.close();
        CHECK_THAT(only_error(b), Catch::Contains("expected CONNECT, but the client closed the "
                                                  "connection (2 bytes of an incomplete packet"));
    }
    SECTION("a malformed packet of the expected type") {
        fake_broker b;
        b.script({expect(packet_type::connect), expect(packet_type::disconnect)});
        raw_peer peer(b);
        peer.write(make_connect(protocol_version::v5), protocol_version::v5);
        peer.write(hex("E0 01 03")); // reason code 0x03 does not exist for DISCONNECT
        CHECK(peer.closed_by_broker());
        CHECK_THAT(only_error(b), Catch::Contains("step 2 (expect DISCONNECT)") &&
                                      Catch::Contains("got a malformed one: DISCONNECT"));
        // Recorded anyway, as it came.
        const auto packets = b.received(1);
        REQUIRE(packets.size() == 2);
        CHECK(packets[1].bytes == hex("E0 01 03"));
        CHECK(packets[1].decode_error());
    }
    SECTION("a DISCONNECT with another reason code") {
        fake_broker b;
        b.script({expect(packet_type::connect), expect_disconnect(0x81)});
        raw_peer peer(b);
        peer.write(make_connect(protocol_version::v5), protocol_version::v5);
        peer.write(hex("E0 01 82"));
        CHECK_THAT(only_error(b),
                   Catch::Contains("expected DISCONNECT with reason code 0x81, got DISCONNECT"));
    }
    SECTION("the client does not close") {
        fake_broker b;
        b.script({wait_closed(100ms)});
        raw_peer peer(b);
        CHECK(peer.closed_by_broker());
        CHECK_THAT(only_error(b), Catch::Contains("still open after 100 ms"));
    }
    SECTION("an exception from a handler") {
        fake_broker b;
        b.on_connection([](ctmqtt_test::fake_connection&) { throw std::runtime_error("boom"); });
        raw_peer peer(b);
        REQUIRE(b.wait_done(2s));
        CHECK(b.errors() == std::vector<std::string>{"connection 1, script: boom"});
    }
}

TEST_CASE("fake broker: connections are accepted one after another, each with its script",
          "[fake_broker]") {
    fake_broker b;
    b.script({expect(packet_type::connect), send_hex("20 03 00 00 88"), close_connection()});
    b.script({expect(packet_type::connect), send_hex("20 03 00 00 00"), wait_closed()});
    {
        raw_peer first(b);
        first.write(make_connect(protocol_version::v5), protocol_version::v5);
        CHECK(first.read(5) == hex("20 03 00 00 88"));
        CHECK(first.closed_by_broker());
    }
    REQUIRE(b.wait_for_connections(1, 1s));
    {
        raw_peer second(b);
        second.write(make_connect(protocol_version::v5), protocol_version::v5);
        CHECK(second.read(5) == hex("20 03 00 00 00"));
    }
    REQUIRE(b.wait_done(2s));
    // Beyond the scripts: accepted, counted, closed at once, no error.
    raw_peer third(b);
    CHECK(third.closed_by_broker());
    CHECK(b.wait_for_connections(3, 1s));
    INFO(b.report());
    CHECK(b.errors().empty());
    CHECK(b.received_types(1) == std::vector{packet_type::connect});
    CHECK(b.received_types(2) == std::vector{packet_type::connect});
    CHECK(b.received_types(3).empty());
}

TEST_CASE("fake broker: a handler function drives the connection itself", "[fake_broker]") {
    fake_broker b;
    b.on_connection([](ctmqtt_test::fake_connection& c) {
        c.expect(packet_type::connect);
        c.send(ctmqtt::connack{});
        // Answers every PINGREQ until the client goes.
        while (auto p = c.receive(1s))
            if (p->type == packet_type::pingreq)
                c.send(ctmqtt::pingresp{});
        if (!c.peer_closed())
            throw ctmqtt_test::step_failure("the client did not close");
    });
    raw_peer peer(b);
    peer.write(make_connect(protocol_version::v3_1_1), protocol_version::v3_1_1);
    CHECK(peer.read(4) == hex("20 02 00 00"));
    for (int i = 0; i < 3; ++i) {
        peer.write(hex("C0 00"));
        CHECK(peer.read(2) == hex("D0 00"));
    }
    peer.close();
    REQUIRE(b.wait_done(3s));
    INFO(b.report());
    CHECK(b.errors().empty());
    CHECK(b.received(1).size() == 4);
}

TEST_CASE("fake broker: the destructor stops promptly whatever the script waits for",
          "[fake_broker]") {
    using clock = std::chrono::steady_clock;
    SECTION("no client ever connects") {
        const auto t0 = clock::now();
        {
            fake_broker b;
            b.script({expect(packet_type::connect, 10s)});
            std::this_thread::sleep_for(20ms);
        }
        CHECK(clock::now() - t0 < 1s);
    }
    SECTION("a client connects and says nothing") {
        auto b = std::make_unique<fake_broker>();
        b->script({expect(packet_type::connect, 10s)});
        raw_peer peer(*b);
        REQUIRE(b->wait_for_connections(1, 1s));
        const auto t0 = clock::now();
        b.reset();
        CHECK(clock::now() - t0 < 1s);
        CHECK(peer.closed_by_broker());
    }
    SECTION("a script in a long delay") {
        auto b = std::make_unique<fake_broker>();
        b->script({delay(10s)});
        raw_peer peer(*b);
        REQUIRE(b->wait_for_connections(1, 1s));
        const auto t0 = clock::now();
        b.reset();
        CHECK(clock::now() - t0 < 1s);
    }
}
