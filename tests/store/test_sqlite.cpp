// store::sqlite (include/ctmqtt/store/sqlite.hpp) against a real session:
// the session is driven by bytes (as in tests/core/test_session.cpp), its
// store hooks write to the database, and a second session restored from the
// file must hold the same state, in the same resend order. No Asio here.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <ctmqtt/core.hpp>
#include <ctmqtt/store/sqlite.hpp>

#include "../support/mosquitto_broker.hpp" // temp_dir
#include "store_bridge.hpp"

using namespace ctmqtt;

namespace {

constexpr auto v4 = protocol_version::v3_1_1;
constexpr auto v5 = protocol_version::v5;

std::string text_of(bytes_view b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

template <class P>
std::vector<std::byte> encoded(const P& p, protocol_version v) {
    byte_buffer out;
    REQUIRE_FALSE(encode_append(p, v, out));
    return {out.data(), out.data() + out.size()};
}

/// A session whose store hooks write to a store::sqlite, as basic_client's do.
struct peer final : ctmqtt_test::store_bridge<store::sqlite> {
    peer(store::sqlite& st, protocol_version v, bool clean_start = true, bool republish = true)
        : store_bridge(st), s(make_options(v, clean_start, republish), *this) {}

    static session::options make_options(protocol_version v, bool clean_start, bool republish) {
        session::options o;
        o.version = v;
        o.connect.client_id = "c1";
        o.connect.clean_start = clean_start;
        o.republish_after_session_loss = republish;
        return o;
    }

    std::vector<std::string> delivered;
    std::vector<std::pair<std::uint16_t, std::error_code>> done;
    session s;
    session_time now = session_time{} + std::chrono::seconds(1000);

    void on_message(const ctmqtt::publish& p) override { delivered.push_back(text_of(p.payload)); }
    void on_publish_done(std::uint16_t id, std::error_code ec) override {
        done.emplace_back(id, ec);
    }

    template <class P>
    void feed(const P& p) {
        const auto bytes = encoded(p, s.version());
        s.receive(bytes_view{bytes}, now);
    }

    /// CONNECT, then CONNACK; what the session wrote is left in out().
    void connect(bool session_present = false) {
        REQUIRE_FALSE(s.connect(now));
        s.consume_output(s.output().size());
        connack ack;
        ack.session_present = session_present;
        feed(ack);
        REQUIRE(s.current_state() == session::state::connected);
    }

    std::uint16_t publish(std::string_view payload, ctmqtt::qos q,
                          const publish_properties& props = {}) {
        ctmqtt::publish p;
        p.topic = "t";
        p.qos = q;
        p.payload = as_bytes(payload);
        p.properties = props;
        auto id = s.publish(p, now);
        REQUIRE(id);
        return *id;
    }

    template <class Ack>
    void ack(std::uint16_t id) {
        Ack a;
        a.packet_id = id;
        feed(a);
    }

    void inbound_qos2(std::uint16_t id, std::string_view payload) {
        ctmqtt::publish p;
        p.topic = "in";
        p.qos = qos::exactly_once;
        p.packet_id = id;
        p.payload = as_bytes(payload);
        feed(p);
    }

    /// What the session wrote since the last call: "PUBLISH <id> <payload>"
    /// (with " dup" when DUP is set), "PUBREL <id>", else "other".
    std::vector<std::string> out() {
        std::vector<std::string> packets;
        auto data = s.output();
        while (!data.empty()) {
            auto d = decode_packet(data, s.version());
            REQUIRE(d);
            if (const auto* p = std::get_if<ctmqtt::publish>(&d->packet))
                packets.push_back("PUBLISH " + std::to_string(p->packet_id) + " " +
                                  text_of(p->payload) + (p->dup ? " dup" : ""));
            else if (const auto* r = std::get_if<pubrel>(&d->packet))
                packets.push_back("PUBREL " + std::to_string(r->packet_id));
            else
                packets.push_back("other");
            data = data.subspan(d->size);
        }
        s.consume_output(s.output().size());
        return packets;
    }
};

/// The session's saved state as a store would list it: outbound packets in
/// resend order ("<id> publish <payload>" / "<id> pubrel"), then "inbound <id>".
std::vector<std::string> state_of(const session& s) {
    std::vector<std::string> state;
    s.for_each_in_flight([&](const in_flight_packet& p) {
        if (p.pubrel) {
            state.push_back(std::to_string(p.packet_id) + " pubrel");
            return;
        }
        auto decoded = decode<ctmqtt::publish>(p.packet, s.version());
        REQUIRE(decoded);
        state.push_back(std::to_string(p.packet_id) + " publish " + text_of(decoded->payload));
    });
    s.for_each_inbound_qos2(
        [&](std::uint16_t id) { state.push_back("inbound " + std::to_string(id)); });
    return state;
}

/// The state a new session gets from the file (a fresh store, as in a new process).
std::vector<std::string> restored_state(const std::string& path, const std::string& name,
                                        protocol_version v = v5) {
    store::sqlite st{path, name};
    REQUIRE_FALSE(st.last_error());
    peer p{st, v, false};
    const auto ec = st.restore(p.s);
    INFO(ec.message());
    REQUIRE_FALSE(ec);
    return state_of(p.s);
}

using strings = std::vector<std::string>;

struct temp_db {
    ctmqtt_test::detail::temp_dir dir{"ctmqtt-store-"};
    std::string path = (dir.path() / "state.db").string();
};

/// Runs one SQL statement on the file through a connection of its own.
void sql(const std::string& path, const char* statement) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    char* error = nullptr;
    const int rc = sqlite3_exec(db, statement, nullptr, nullptr, &error);
    INFO((error != nullptr ? error : ""));
    sqlite3_free(error);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
}

} // namespace

TEST_CASE("store::sqlite: the in-flight state round-trips into a new session, in resend order",
          "[store]") {
    for (auto v : {v4, v5}) {
        INFO(to_string(v));
        temp_db db;
        store::sqlite st{db.path, "c1"};
        REQUIRE(st.is_open());
        peer first{st, v};
        REQUIRE_FALSE(st.restore(first.s)); // an empty file: nothing to restore
        first.connect();
        const auto a = first.publish("a", qos::at_least_once);
        const auto b = first.publish("b", qos::exactly_once);
        const auto c = first.publish("c", qos::at_least_once);
        const auto d = first.publish("d", qos::exactly_once);
        first.ack<pubrec>(b); // b's PUBREL is now the newest
        first.ack<puback>(a); // a is finished: its identifier is free again
        const auto e = first.publish("e", qos::at_least_once);
        CHECK(e == a); // reused: the identifiers' order is not the resend order
        first.inbound_qos2(300, "in-300");
        first.inbound_qos2(7, "in-7");
        first.inbound_qos2(8, "in-8");
        first.ack<pubrel>(8);
        first.out();
        const strings expected{std::to_string(c) + " publish c",
                               std::to_string(d) + " publish d",
                               std::to_string(b) + " pubrel",
                               std::to_string(e) + " publish e",
                               "inbound 7",
                               "inbound 300"};
        REQUIRE(state_of(first.s) == expected);
        CHECK(restored_state(db.path, "c1", v) == expected);
        CHECK_FALSE(st.last_error());

        // The next process resumes it: resends with DUP in that order, the
        // server's resend of an inbound QoS 2 message is not delivered again.
        store::sqlite st2{db.path, "c1"};
        peer second{st2, v, false};
        REQUIRE_FALSE(st2.restore(second.s));
        second.connect(true);
        CHECK(second.out() == strings{"PUBLISH " + std::to_string(c) + " c dup",
                                      "PUBLISH " + std::to_string(d) + " d dup",
                                      "PUBREL " + std::to_string(b),
                                      "PUBLISH " + std::to_string(e) + " e dup"});
        second.inbound_qos2(7, "in-7");
        CHECK(second.delivered.empty());
        second.ack<puback>(c);
        second.ack<pubcomp>(b);
        second.ack<pubrec>(d);
        CHECK(restored_state(db.path, "c1", v) == strings{std::to_string(e) + " publish e",
                                                          std::to_string(d) + " pubrel",
                                                          "inbound 7", "inbound 300"});
        second.ack<pubcomp>(d);
        second.ack<puback>(e);
        second.ack<pubrel>(7);
        second.ack<pubrel>(300);
        CHECK(second.done.size() == 4);
        CHECK(restored_state(db.path, "c1", v).empty());
        CHECK_FALSE(st2.last_error());
        CHECK(st2.failed_writes() == 0);
    }
}

TEST_CASE("store::sqlite: new rows after a restore come after the restored ones", "[store]") {
    temp_db db;
    {
        store::sqlite st{db.path, "c1"};
        peer p{st, v5};
        p.connect();
        p.publish("one", qos::at_least_once);
        p.publish("two", qos::at_least_once);
    }
    store::sqlite st{db.path, "c1"};
    peer p{st, v5, false};
    REQUIRE_FALSE(st.restore(p.s));
    p.connect(true);
    const auto three = p.publish("three", qos::at_least_once);
    CHECK(three == 3);
    CHECK(restored_state(db.path, "c1") ==
          strings{"1 publish one", "2 publish two", "3 publish three"});
}

TEST_CASE("store::sqlite: two session names in one file keep apart; clear_session clears one",
          "[store]") {
    temp_db db;
    store::sqlite sa{db.path, "client-a"};
    store::sqlite sb{db.path, "client-b"};
    peer a{sa, v5};
    peer b{sb, v4};
    REQUIRE_FALSE(sa.restore(a.s));
    REQUIRE_FALSE(sb.restore(b.s));
    a.connect();
    b.connect();
    a.publish("a1", qos::at_least_once);
    b.publish("b1", qos::exactly_once);
    b.publish("b2", qos::at_least_once);
    a.inbound_qos2(5, "x");
    b.inbound_qos2(6, "y");
    CHECK(restored_state(db.path, "client-a") == strings{"1 publish a1", "inbound 5"});
    CHECK(restored_state(db.path, "client-b", v4) ==
          strings{"1 publish b1", "2 publish b2", "inbound 6"});
    CHECK(restored_state(db.path, "client-c").empty());

    REQUIRE_FALSE(sa.clear_session("client-b"));
    CHECK(restored_state(db.path, "client-b", v4).empty());
    CHECK(restored_state(db.path, "client-a") == strings{"1 publish a1", "inbound 5"});
    REQUIRE_FALSE(sa.clear_session());
    CHECK(restored_state(db.path, "client-a").empty());
    REQUIRE_FALSE(sa.clear_session("never-seen"));
    CHECK_FALSE(sa.last_error());
    CHECK_FALSE(sb.last_error());
}

TEST_CASE("store::sqlite: a PUBLISH stored in one protocol version is restored in another",
          "[store]") {
    temp_db db;
    {
        store::sqlite st{db.path, "c1"};
        peer p{st, v5};
        REQUIRE_FALSE(st.restore(p.s));
        p.connect();
        publish_properties props;
        props.set<property_id::content_type>("text/plain");
        p.publish("five", qos::at_least_once, props);
    }
    {
        // A 3.1.1 session (e.g. after falling back): re-encoded without properties.
        store::sqlite st{db.path, "c1"};
        peer p{st, v4, false};
        REQUIRE_FALSE(st.restore(p.s));
        CHECK(state_of(p.s) == strings{"1 publish five"});
        p.connect(true);
        CHECK(p.out() == strings{"PUBLISH 1 five dup"});
        p.publish("four", qos::exactly_once); // stored as 3.1.1
    }
    store::sqlite st{db.path, "c1"};
    peer p{st, v5, false};
    REQUIRE_FALSE(st.restore(p.s));
    CHECK(state_of(p.s) == strings{"1 publish five", "2 publish four"});
    p.connect(true);
    CHECK(p.out() == strings{"PUBLISH 1 five dup", "PUBLISH 2 four dup"});
}

TEST_CASE("store::sqlite: the file follows the session when it drops its state at a clean start",
          "[store]") {
    for (bool republish : {true, false}) {
        INFO("republish_after_session_loss " << republish);
        temp_db db;
        {
            store::sqlite st{db.path, "c1"};
            peer p{st, v5};
            p.connect();
            p.publish("q1", qos::at_least_once);
            const auto q2 = p.publish("q2", qos::exactly_once);
            p.ack<pubrec>(q2); // a pending PUBREL
            p.publish("q2b", qos::exactly_once);
            p.inbound_qos2(9, "in");
            REQUIRE(restored_state(db.path, "c1").size() == 4);
        }
        // The next client restores the state, then connects with Clean Start 1.
        store::sqlite st{db.path, "c1"};
        peer p{st, v5, true, republish};
        REQUIRE_FALSE(st.restore(p.s));
        REQUIRE_FALSE(p.s.connect(p.now));
        // The session kept (republishes) or failed its PUBLISHes, finished the
        // PUBREL and forgot the inbound identifier: the file says the same.
        CHECK(restored_state(db.path, "c1") == state_of(p.s));
        CHECK(state_of(p.s) == (republish ? strings{"1 publish q1", "3 publish q2b"} : strings{}));
        CHECK_FALSE(st.last_error());
    }
}

TEST_CASE("store::sqlite: a database that cannot be used gives a clear error", "[store][errors]") {
    temp_db db;
    SECTION("a directory that does not exist") {
        const auto path = (db.dir.path() / "missing" / "x.db").string();
        store::sqlite st{path, "c1"};
        CHECK_FALSE(st.is_open());
        peer p{st, v5};
        const auto ec = st.restore(p.s);
        REQUIRE(ec);
        CHECK(ec == st.last_error());
        CHECK(ec.category() == store::sqlite_category());
        CHECK(ec.message() == "store: opening " + path + ": unable to open database file");
        CHECK(store::sqlite_result_code(ec) == SQLITE_CANTOPEN);
        // The hooks do nothing on an unusable store.
        p.connect();
        p.publish("x", qos::at_least_once);
        CHECK(st.failed_writes() == 0);
        CHECK(st.last_error() == ec);
    }
    SECTION("a path that is a directory") {
        store::sqlite st{db.dir.path().string(), "c1"};
        peer p{st, v5};
        CHECK_THAT(st.restore(p.s).message(),
                   Catch::StartsWith("store: opening " + db.dir.path().string() + ": ") &&
                       Catch::EndsWith("unable to open database file"));
    }
    SECTION("a file that is not a database") {
        std::ofstream(db.path) << std::string(4096, 'x');
        store::sqlite st{db.path, "c1"};
        peer p{st, v5};
        const auto ec = st.restore(p.s);
        CHECK(ec.message() ==
              "store: setting WAL journal mode on " + db.path + ": file is not a database");
        CHECK(store::sqlite_result_code(ec) == SQLITE_NOTADB);
    }
    SECTION("a stored packet the session refuses") {
        {
            store::sqlite st{db.path, "c1"};
            peer p{st, v5};
            p.connect();
            p.publish("x", qos::at_least_once);
        }
        // Packet identifier 1, an empty topic and no Topic Alias: no connection could resolve it.
        sql(db.path, "UPDATE ctmqtt_outbound SET packet = x'32050000000100'");
        store::sqlite st{db.path, "c1"};
        peer p{st, v5, false};
        const auto ec = st.restore(p.s);
        REQUIRE(ec);
        CHECK_THAT(ec.message(), Catch::StartsWith("store: restoring packet 1 of session 'c1' in " +
                                                   db.path + ": "));
        CHECK(store::sqlite_result_code(ec) == 0);
        CHECK(st.last_error() == ec);
        sql(db.path, "UPDATE ctmqtt_outbound SET version = 9");
        store::sqlite again{db.path, "c1"};
        peer q{again, v5, false};
        CHECK(again.restore(q.s).message() == "store: restoring packet 1 of session 'c1' in " +
                                                  db.path +
                                                  ": stored with unknown protocol version 9");
    }
    SECTION("the same error twice is the same error code") {
        const auto path = (db.dir.path() / "missing" / "x.db").string();
        store::sqlite one{path, "c1"};
        store::sqlite two{path, "c1"};
        CHECK(one.last_error() == two.last_error());
        CHECK(make_error_code(std::errc::io_error) != one.last_error());
    }
}

TEST_CASE("store::sqlite: a write that fails is remembered and counted", "[store][errors]") {
    temp_db db;
    store::sqlite st{db.path, "c1", {.busy_timeout = std::chrono::milliseconds(0)}};
    peer p{st, v5};
    REQUIRE_FALSE(st.restore(p.s));
    p.connect();
    sqlite3* other = nullptr;
    REQUIRE(sqlite3_open(db.path.c_str(), &other) == SQLITE_OK);
    REQUIRE(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
    const auto id = p.publish("locked out", qos::at_least_once);
    REQUIRE(st.last_error());
    CHECK(st.last_error().message() == "store: storing packet " + std::to_string(id) +
                                           " of session 'c1' in " + db.path +
                                           ": database is locked");
    CHECK((store::sqlite_result_code(st.last_error()) & 0xFF) == SQLITE_BUSY);
    CHECK(st.failed_writes() == 1);
    p.ack<puback>(id);
    CHECK(st.failed_writes() == 2);
    CHECK_THAT(st.last_error().message(), Catch::StartsWith("store: releasing packet "));
    REQUIRE(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(other);

    st.clear_error();
    CHECK_FALSE(st.last_error());
    p.publish("after", qos::at_least_once);
    CHECK_FALSE(st.last_error());
    CHECK(st.failed_writes() == 2);
    CHECK(restored_state(db.path, "c1") == strings{std::to_string(id) + " publish after"});
}

TEST_CASE("store::sqlite: moves; every synchronous level stores; the file is in WAL mode",
          "[store]") {
    temp_db db;
    for (auto level :
         {store::synchronous::off, store::synchronous::normal, store::synchronous::full}) {
        const auto name = "s" + std::to_string(static_cast<int>(level));
        store::sqlite first{db.path, name, {.sync = level}};
        store::sqlite st{std::move(first)};
        peer p{st, v5};
        REQUIRE_FALSE(st.restore(p.s));
        p.connect();
        p.publish("m", qos::at_least_once);
        CHECK(restored_state(db.path, name) == strings{"1 publish m"});
        CHECK_FALSE(first.is_open());
        peer q{first, v5};
        CHECK_THAT(first.restore(q.s).message(), Catch::Contains("moved from"));
        store::sqlite other{db.path, "other"};
        other = std::move(st);
        CHECK(other.session_name() == name);
        CHECK(other.path() == db.path);
        CHECK(other.is_open());
    }
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(db.path.c_str(), &raw) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    CHECK(std::string{reinterpret_cast<const char*>(sqlite3_column_text(st, 0))} == "wal");
    sqlite3_finalize(st);
    sqlite3_close(raw);
}

TEST_CASE("store::sqlite: an exclusive store keeps the file to itself", "[store]") {
    temp_db db;
    store::sqlite st{db.path, "c1", {.exclusive = true}};
    peer p{st, v5};
    REQUIRE_FALSE(st.restore(p.s));
    p.connect();
    p.publish("m", qos::at_least_once);
    CHECK_FALSE(st.last_error());
    store::sqlite other{db.path, "c2", {.busy_timeout = std::chrono::milliseconds(0)}};
    REQUIRE(other.last_error());
    CHECK_THAT(other.last_error().message(), Catch::StartsWith("store: ") &&
                                                 Catch::Contains(db.path) &&
                                                 Catch::EndsWith(": database is locked"));
    CHECK((store::sqlite_result_code(other.last_error()) & 0xFF) == SQLITE_BUSY);
}
