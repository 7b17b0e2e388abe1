// The SQLite store: a Store policy of basic_client (see store/memory.hpp for
// the interface) that keeps the session state in an SQLite database file, so
// that a new client (a new process, after a crash) resumes the messages the
// last one had in flight:
//
//   ctmqtt::store::sqlite store{"/var/lib/app/mqtt.db", "sensor-17"};  // file, session name
//   ctmqtt::basic_client<ctmqtt::transport::tcp, ctmqtt::store::sqlite> c{ex, opts,
//                                                                          std::move(store)};
//
// - One file may hold several sessions: each store works on the rows of its
//   session name (typically the client identifier). Two tables: the outbound
//   packets in flight (the encoded PUBLISH awaiting PUBACK/PUBREC, or the
//   PUBREL awaiting PUBCOMP, with their resend order) and the inbound QoS 2
//   identifiers awaiting PUBREL. Only one store at a time may work on a
//   session name (the broker, too, allows one connection per client id).
// - stored / released / inbound_qos2 run on the client's strand for every
//   QoS 1/2 message: each is one prepared statement (made once) in its own
//   transaction, WAL journal mode. They allocate nothing themselves. They
//   return nothing: a failure is kept in last_error() and counted in
//   failed_writes().
// - restore() replays the rows into a fresh session in resend order; it
//   fails with the error that made the database unusable (it could not be
//   opened, is not a database, ...). basic_client throws that error from its
//   constructor.
// - Durability (synchronous): a commit survives the process being killed
//   at every level (the data is in the operating system's hands before
//   stored() returns); surviving power loss needs synchronous::full.
//
// Errors are std::error_code in sqlite_category(); the message names the
// operation and SQLite's own message, e.g.
//   "store: opening /no/such/dir/x.db: unable to open database file".
//
// Includes <sqlite3.h> and core/ only (no Asio); link SQLite (CMake:
// find_package(SQLite3), target SQLite::SQLite3).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <sqlite3.h>

#include <ctmqtt/core/byte_buffer.hpp>
#include <ctmqtt/core/session.hpp>

namespace ctmqtt::store {

/// SQLite's synchronous setting (PRAGMA synchronous) in WAL mode: what a
/// committed write (a stored or released message) survives.
enum class synchronous : std::uint8_t {
    /// No fsync at all: survives the process being killed; an operating
    /// system crash or power loss may lose recent writes or corrupt the file.
    off,
    /// fsync at WAL checkpoints only (the default): survives the process being
    /// killed; power loss may lose the last writes (the messages are then sent
    /// again as new, or lost if they were new), the file stays consistent.
    normal,
    /// fsync of the WAL at every commit: survives power loss; costs an fsync
    /// per stored and per released message.
    full,
};

struct sqlite_options {
    synchronous sync = synchronous::normal;
    /// How long a write waits for another connection's lock on the file
    /// (several processes sharing one file) before it fails with "database is locked".
    std::chrono::milliseconds busy_timeout{5000};
    /// Keep the file locked for as long as the store is open (PRAGMA
    /// locking_mode=EXCLUSIVE): each write skips taking and releasing the
    /// file's locks, but no other connection, in this process or another, can
    /// use the file meanwhile (one session per file).
    bool exclusive = false;
};

namespace detail {

// Store error messages carry the path, session name and SQLite's message, so
// they are made at run time; an error_code holds an int. Each distinct message
// is kept once in this table (errors are rare and repeat, so it stays small;
// past `capacity` entries they share one generic message), and the error
// value is its index with the SQLite result code:
//   value = index << 16 | extended result code (0: not an SQLite error).
class sqlite_error_texts {
public:
    static constexpr std::size_t capacity = 4096;

    static sqlite_error_texts& instance() {
        static sqlite_error_texts texts;
        return texts;
    }

    /// The index of `text` (≥ 2), or 1 (the generic message) when full.
    int intern(std::string_view text) noexcept {
        try {
            std::lock_guard lock(mutex_);
            for (std::size_t i = 0; i < texts_.size(); ++i)
                if (texts_[i] == text)
                    return static_cast<int>(i + 1);
            if (texts_.size() >= capacity)
                return 1;
            texts_.emplace_back(text);
            return static_cast<int>(texts_.size());
        } catch (...) {
            return 1;
        }
    }

    std::string text(int index) const {
        std::lock_guard lock(mutex_);
        if (index < 1 || static_cast<std::size_t>(index) > texts_.size())
            return {};
        return texts_[static_cast<std::size_t>(index) - 1];
    }

private:
    sqlite_error_texts() {
        texts_.emplace_back("store: error (not described: too many distinct errors)");
    }

    mutable std::mutex mutex_;
    std::vector<std::string> texts_;
};

class sqlite_error_category final : public std::error_category {
public:
    const char* name() const noexcept override { return "ctmqtt.store.sqlite"; }
    std::string message(int value) const override {
        const int index = value >> 16;
        const int rc = value & 0xFFFF;
        std::string text = index > 1 ? sqlite_error_texts::instance().text(index) : std::string{};
        if (!text.empty())
            return text;
        text = index == 1 ? sqlite_error_texts::instance().text(1) : std::string{"store"};
        if (rc != 0)
            text.append(": ").append(sqlite3_errstr(rc));
        return text;
    }
};

} // namespace detail

/// The category of the SQLite store's errors.
inline const std::error_category& sqlite_category() noexcept {
    static const detail::sqlite_error_category category;
    return category;
}

/// The SQLite (extended) result code behind a store error: SQLITE_CANTOPEN,
/// SQLITE_NOTADB, SQLITE_BUSY, SQLITE_FULL, ... (compare the primary code with
/// `& 0xFF`); 0 for a store error SQLite did not cause, or another category.
inline int sqlite_result_code(std::error_code ec) noexcept {
    return ec.category() == sqlite_category() ? ec.value() & 0xFFFF : 0;
}

/// A store error with this message and SQLite result code (0: none).
inline std::error_code make_sqlite_error(std::string_view message, int result_code) noexcept {
    const int index = detail::sqlite_error_texts::instance().intern(message);
    return {index << 16 | (result_code & 0xFFFF), sqlite_category()};
}

/// The persistent Store policy. Movable, not copyable.
class sqlite {
public:
    using options = sqlite_options;

    /// Opens (creates) the database file at `path` and prepares the rows of
    /// `session_name`. Does not throw on a database error: the store is then
    /// unusable, last_error() says why, and restore() returns that error.
    sqlite(std::string path, std::string session_name, options opts = {})
        : path_(std::move(path)), name_(std::move(session_name)), options_(opts) {
        open();
    }

    sqlite(sqlite&&) noexcept = default;
    sqlite& operator=(sqlite&&) noexcept = default;
    sqlite(const sqlite&) = delete;
    sqlite& operator=(const sqlite&) = delete;
    ~sqlite() = default;

    // ------------------------------------------------------------ the Store interface

    /// A QoS 1/2 PUBLISH was stored (`packet` its encoding), or turned into a
    /// pending PUBREL (`pubrel`, `packet` empty): the row is written (replaced),
    /// and becomes the newest in resend order.
    void stored(std::uint16_t packet_id, bool pubrel, bytes_view packet) noexcept {
        sqlite3_stmt* st = put_outbound_.get();
        if (st == nullptr)
            return;
        sqlite3_bind_int64(st, 1, key(packet_id));
        sqlite3_bind_int(st, 2, pubrel ? 1 : 0);
        sqlite3_bind_int(st, 3, static_cast<int>(version_));
        sqlite3_bind_int64(st, 4, ++sequence_);
        if (pubrel || packet.empty())
            sqlite3_bind_zeroblob(st, 5, 0);
        else // not copied: the statement runs now
            sqlite3_bind_blob64(st, 5, packet.data(), packet.size(), SQLITE_STATIC);
        execute(st, write_op::store, packet_id);
    }

    /// The identifier's PUBLISH or PUBREL is finished: its row is deleted.
    void released(std::uint16_t packet_id) noexcept {
        sqlite3_stmt* st = delete_outbound_.get();
        if (st == nullptr)
            return;
        sqlite3_bind_int64(st, 1, key(packet_id));
        execute(st, write_op::release, packet_id);
    }

    /// An inbound QoS 2 identifier now awaits PUBREL (a row), or no longer does.
    void inbound_qos2(std::uint16_t packet_id, bool awaiting_pubrel) noexcept {
        sqlite3_stmt* st = awaiting_pubrel ? put_inbound_.get() : delete_inbound_.get();
        if (st == nullptr)
            return;
        sqlite3_bind_int64(st, 1, key(packet_id));
        execute(st, awaiting_pubrel ? write_op::inbound : write_op::inbound_done, packet_id);
    }

    /// Puts the session's saved state into `s` (new, disconnected): the
    /// outbound packets in resend order, then the inbound QoS 2 identifiers.
    /// Also takes the session's protocol version, which later rows are stored
    /// with (call it again with the new session if the client replaces it,
    /// e.g. after falling back from MQTT 5 to 3.1.1). A PUBLISH stored by a
    /// client of another protocol version is re-encoded for this one (MQTT 5
    /// properties are dropped for 3.1/3.1.1).
    std::error_code restore(session& s) {
        if (!db_)
            return unusable();
        version_ = s.version();
        const auto read_failed = [&] {
            return fail_now("reading session " + quoted_name() + " from " + path_);
        };
        const auto refused = [&](std::uint16_t id, const std::string& why) {
            last_error_ = make_sqlite_error(
                "store: restoring packet " + std::to_string(id) + " of " + where() + ": " + why, 0);
            return last_error_;
        };
        auto rows = prepare("SELECT key, pubrel, version, packet FROM ctmqtt_outbound "
                            "WHERE key BETWEEN ?1 AND ?2 ORDER BY seq");
        if (!rows)
            return read_failed();
        bind_session_range(rows.get());
        byte_buffer transcoded;
        int rc = SQLITE_ROW;
        while ((rc = sqlite3_step(rows.get())) == SQLITE_ROW) {
            const auto id = packet_id_of(sqlite3_column_int64(rows.get(), 0));
            const bool pubrel = sqlite3_column_int(rows.get(), 1) != 0;
            const int stored_version = sqlite3_column_int(rows.get(), 2);
            const auto* data = static_cast<const std::byte*>(sqlite3_column_blob(rows.get(), 3));
            const auto size = static_cast<std::size_t>(sqlite3_column_bytes(rows.get(), 3));
            bytes_view packet{data, data == nullptr ? 0 : size};
            if (stored_version < 3 || stored_version > 5)
                return refused(id, "stored with unknown protocol version " +
                                       std::to_string(stored_version));
            std::error_code ec;
            if (!pubrel && static_cast<protocol_version>(stored_version) != version_)
                ec = transcode(packet, static_cast<protocol_version>(stored_version), transcoded);
            if (!ec)
                ec = s.restore_in_flight(id, pubrel, pubrel ? bytes_view{} : packet);
            if (ec)
                return refused(id, ec.message());
        }
        if (rc != SQLITE_DONE)
            return read_failed();
        auto inbound = prepare("SELECT key FROM ctmqtt_inbound_qos2 WHERE key BETWEEN ?1 AND ?2");
        if (!inbound)
            return read_failed();
        bind_session_range(inbound.get());
        while ((rc = sqlite3_step(inbound.get())) == SQLITE_ROW)
            s.restore_inbound_qos2(packet_id_of(sqlite3_column_int64(inbound.get(), 0)));
        if (rc != SQLITE_DONE)
            return read_failed();
        return {};
    }

    // ------------------------------------------------------------ beyond the interface

    /// The last failure: opening the database, or a write from a hook (until
    /// clear_error()). Empty while every write succeeded.
    std::error_code last_error() const noexcept { return last_error_; }
    /// How many hook writes failed since the store was opened.
    std::uint64_t failed_writes() const noexcept { return failed_writes_; }
    void clear_error() noexcept {
        if (db_)
            last_error_ = {};
    }
    /// Whether the database is open and set up.
    bool is_open() const noexcept { return static_cast<bool>(db_); }
    const std::string& path() const noexcept { return path_; }
    const std::string& session_name() const noexcept { return name_; }

    /// Deletes this session's saved state, for a clean start: call it before
    /// handing the store to a client (or restore() would bring the old
    /// messages back, and a client with clean start sends them as new ones).
    std::error_code clear_session() { return clear_session(name_); }

    /// Deletes the saved state of session `name` in the same file.
    std::error_code clear_session(std::string_view name) {
        if (!db_)
            return unusable();
        const auto what = [&] {
            return "clearing session '" + std::string{name} + "' in " + path_;
        };
        if (sqlite3_exec(db_.get(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
            return fail_now(what());
        const bool done = delete_rows(name) &&
                          sqlite3_exec(db_.get(), "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
        if (done)
            return {};
        auto ec = fail_now(what());
        sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
        return ec;
    }

private:
    struct db_closer {
        void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
    };
    struct statement_finalizer {
        void operator()(sqlite3_stmt* st) const noexcept { sqlite3_finalize(st); }
    };
    using statement = std::unique_ptr<sqlite3_stmt, statement_finalizer>;

    enum class write_op : std::uint8_t { store, release, inbound, inbound_done };

    // Rows are keyed by session number << 16 | packet identifier: one integer
    // primary key (the table's own b-tree), one range per session.
    std::int64_t key(std::uint16_t packet_id) const noexcept {
        return session_id_ << 16 | packet_id;
    }

    static std::uint16_t packet_id_of(std::int64_t key) noexcept {
        return static_cast<std::uint16_t>(key & 0xFFFF);
    }

    void bind_session_range(sqlite3_stmt* st) const noexcept {
        sqlite3_bind_int64(st, 1, session_id_ << 16);
        sqlite3_bind_int64(st, 2, session_id_ << 16 | 0xFFFF);
    }

    // Why the database cannot be used: it failed to open, or was moved away.
    std::error_code unusable() const {
        return last_error_
                   ? last_error_
                   : make_sqlite_error("store: " + where() + ": the store was moved from", 0);
    }

    std::string quoted_name() const { return "'" + name_ + "'"; }
    std::string where() const { return "session " + quoted_name() + " in " + path_; }

    void open() {
        sqlite3* raw = nullptr;
        const int rc = sqlite3_open_v2(
            path_.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
            nullptr);
        db_.reset(raw);
        if (rc != SQLITE_OK) {
            fail_setup("opening " + path_, rc);
            return;
        }
        sqlite3_extended_result_codes(db_.get(), 1);
        sqlite3_busy_timeout(db_.get(), static_cast<int>(options_.busy_timeout.count()));
        static constexpr const char* sync_pragma[] = {
            "PRAGMA synchronous=OFF", "PRAGMA synchronous=NORMAL", "PRAGMA synchronous=FULL"};
        if ((options_.exclusive && !exec("PRAGMA locking_mode=EXCLUSIVE", "locking " + path_)) ||
            !exec("PRAGMA journal_mode=WAL", "setting WAL journal mode on " + path_) ||
            !exec(sync_pragma[static_cast<std::size_t>(options_.sync)],
                  "setting synchronous on " + path_) ||
            !exec("CREATE TABLE IF NOT EXISTS ctmqtt_sessions("
                  "id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
                  "CREATE TABLE IF NOT EXISTS ctmqtt_outbound("
                  "key INTEGER PRIMARY KEY, pubrel INTEGER NOT NULL, version INTEGER NOT NULL, "
                  "seq INTEGER NOT NULL, packet BLOB NOT NULL);"
                  "CREATE TABLE IF NOT EXISTS ctmqtt_inbound_qos2(key INTEGER PRIMARY KEY);",
                  "creating the tables in " + path_) ||
            !find_session())
            return;
        put_outbound_ =
            prepare("INSERT OR REPLACE INTO ctmqtt_outbound(key, pubrel, version, seq, packet) "
                    "VALUES(?1, ?2, ?3, ?4, ?5)");
        delete_outbound_ = prepare("DELETE FROM ctmqtt_outbound WHERE key = ?1");
        put_inbound_ = prepare("INSERT OR IGNORE INTO ctmqtt_inbound_qos2(key) VALUES(?1)");
        delete_inbound_ = prepare("DELETE FROM ctmqtt_inbound_qos2 WHERE key = ?1");
        if (!put_outbound_ || !delete_outbound_ || !put_inbound_ || !delete_inbound_)
            fail_setup("preparing the statements for " + path_,
                       sqlite3_extended_errcode(db_.get()));
    }

    // clear_session's work, inside its transaction.
    bool delete_rows(std::string_view name) {
        int rc = 0;
        auto find = step_with_name("SELECT id FROM ctmqtt_sessions WHERE name = ?1", name, rc);
        if (!find || rc == SQLITE_DONE)
            return static_cast<bool>(find); // SQLITE_DONE: the name never stored anything
        if (rc != SQLITE_ROW)
            return false;
        const auto first = sqlite3_column_int64(find.get(), 0) << 16;
        find.reset();
        for (const char* sql : {"DELETE FROM ctmqtt_outbound WHERE key BETWEEN ?1 AND ?2",
                                "DELETE FROM ctmqtt_inbound_qos2 WHERE key BETWEEN ?1 AND ?2"}) {
            auto del = prepare(sql);
            if (!del)
                return false;
            sqlite3_bind_int64(del.get(), 1, first);
            sqlite3_bind_int64(del.get(), 2, first + 0xFFFF);
            if (sqlite3_step(del.get()) != SQLITE_DONE)
                return false;
        }
        return true;
    }

    // The session's number (made on first use) and the newest resend order.
    bool find_session() {
        const auto failed = [&] {
            return fail_setup("registering session " + quoted_name() + " in " + path_,
                              sqlite3_extended_errcode(db_.get()));
        };
        int rc = 0;
        if (!step_with_name("INSERT OR IGNORE INTO ctmqtt_sessions(name) VALUES(?1)", name_, rc) ||
            rc != SQLITE_DONE)
            return failed();
        auto find = step_with_name("SELECT id FROM ctmqtt_sessions WHERE name = ?1", name_, rc);
        if (!find || rc != SQLITE_ROW)
            return failed();
        session_id_ = sqlite3_column_int64(find.get(), 0);
        auto newest = prepare(
            "SELECT coalesce(max(seq), 0) FROM ctmqtt_outbound WHERE key BETWEEN ?1 AND ?2");
        if (!newest)
            return failed();
        bind_session_range(newest.get());
        if (sqlite3_step(newest.get()) != SQLITE_ROW)
            return failed();
        sequence_ = sqlite3_column_int64(newest.get(), 0);
        return true;
    }

    // Prepares `sql`, binds `name` to ?1 and takes the first step (`rc`: its
    // result); null when it cannot be prepared.
    statement step_with_name(const char* sql, std::string_view name, int& rc) noexcept {
        auto st = prepare(sql);
        if (st) {
            sqlite3_bind_text(st.get(), 1, name.data(), static_cast<int>(name.size()),
                              SQLITE_STATIC);
            rc = sqlite3_step(st.get());
        }
        return st;
    }

    statement prepare(const char* sql) noexcept {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) !=
            SQLITE_OK) {
            sqlite3_finalize(st);
            return nullptr;
        }
        return statement{st};
    }

    bool exec(const char* sql, const std::string& what) {
        if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) == SQLITE_OK)
            return true;
        return fail_setup(what, sqlite3_extended_errcode(db_.get()));
    }

    // A failure while opening: the store is unusable (the database is closed).
    bool fail_setup(const std::string& what, int rc) {
        last_error_ = make_sqlite_error("store: " + what + ": " + message_of(rc), rc);
        put_outbound_.reset();
        delete_outbound_.reset();
        put_inbound_.reset();
        delete_inbound_.reset();
        db_.reset();
        return false;
    }

    // A failure of the statement just run: returned (and kept in last_error()).
    std::error_code fail_now(const std::string& what) {
        const int rc = sqlite3_extended_errcode(db_.get());
        last_error_ = make_sqlite_error("store: " + what + ": " + message_of(rc), rc);
        return last_error_;
    }

    // SQLite's message for the connection's last error (its own text when it
    // has one: "unable to open database file", "file is not a database").
    std::string message_of(int rc) const {
        const char* msg = db_ ? sqlite3_errmsg(db_.get()) : nullptr;
        return msg != nullptr && *msg != '\0' ? msg : sqlite3_errstr(rc);
    }

    // Runs one write of a hook. The error path alone allocates (the message).
    void execute(sqlite3_stmt* st, write_op op, std::uint16_t packet_id) noexcept {
        const int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
            sqlite3_reset(st);
            return;
        }
        ++failed_writes_;
        const int code = sqlite3_extended_errcode(db_.get());
        try {
            static constexpr const char* verb[] = {"storing packet ", "releasing packet ",
                                                   "marking inbound QoS 2 packet ",
                                                   "unmarking inbound QoS 2 packet "};
            last_error_ = make_sqlite_error(
                "store: " + std::string{verb[static_cast<std::size_t>(op)]} +
                    std::to_string(packet_id) + " of " + where() + ": " + message_of(code),
                code);
        } catch (...) {
            last_error_ = make_sqlite_error({}, code);
        }
        sqlite3_reset(st);
    }

    // A PUBLISH stored by a client of another protocol version, encoded for
    // this one (into `out`; `packet` then views it).
    std::error_code transcode(bytes_view& packet, protocol_version from, byte_buffer& out) const {
        publish p;
        if (auto ec = decode(packet, from, p))
            return ec;
        if (version_ != protocol_version::v5)
            p.properties = {};
        out.clear();
        if (auto ec = encode_append(p, version_, out))
            return ec;
        packet = out.view();
        return {};
    }

    std::string path_;
    std::string name_;
    options options_;
    std::unique_ptr<sqlite3, db_closer> db_; // closed last (close_v2 waits for statements anyway)
    statement put_outbound_;
    statement delete_outbound_;
    statement put_inbound_;
    statement delete_inbound_;
    std::int64_t session_id_ = 0;
    std::int64_t sequence_ = 0;                       ///< resend order of the newest row
    protocol_version version_ = protocol_version::v5; ///< of what is stored; set by restore()
    std::error_code last_error_;
    std::uint64_t failed_writes_ = 0;
};

} // namespace ctmqtt::store
