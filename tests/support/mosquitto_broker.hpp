// A real mosquitto broker for ctmqtt's tests: each mosquitto_broker runs its
// own mosquitto process, with a generated configuration, a free loopback TCP
// port and a private temporary directory (configuration, persistence, log),
// and stops it when destroyed. It never touches the system's mosquitto service
// or port 1883, so test executables can run in parallel (ctest -j).
//
// POSIX and the standard library only (Linux: prctl). Not thread-safe: use one
// broker object from one thread at a time. On Linux mosquitto gets SIGKILL
// when the THREAD that started it exits (PR_SET_PDEATHSIG): start() and the
// constructor belong in the test's own thread, not in a short-lived worker.
//
//     ctmqtt_test::mosquitto_broker broker;          // started, accepting
//     connect_to(broker.host(), broker.port());
//     broker.kill();   broker.start();               // same port, same dirs
//     broker.pause();  broker.resume();              // SIGSTOP / SIGCONT
//     INFO(broker.log());
//
// The mosquitto executable: $CTMQTT_MOSQUITTO if set, else the first of
// /usr/sbin/mosquitto, /usr/local/sbin/mosquitto, /opt/homebrew/sbin/mosquitto,
// or `mosquitto` on PATH. Set CTMQTT_KEEP_BROKER_DIR=1 to keep the temporary
// directory (its path is printed to stderr) for a look at the log afterwards.
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

namespace ctmqtt_test {

namespace detail {

[[noreturn]] inline void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

/// A file descriptor closed on destruction.
class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    void reset() noexcept {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

inline sockaddr_in loopback_address(const std::string& host, unsigned short port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1)
        throw std::invalid_argument("not an IPv4 address: " + host);
    return addr;
}

inline std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string tail(const std::string& text, std::size_t lines) {
    std::size_t pos = text.size();
    if (pos > 0 && text[pos - 1] == '\n')
        --pos;
    while (lines > 0 && pos > 0) {
        pos = text.rfind('\n', pos - 1);
        if (pos == std::string::npos) {
            pos = 0;
            break;
        }
        if (--lines == 0)
            ++pos; // start after the newline
    }
    return text.substr(pos);
}

inline bool env_flag(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' && std::string_view(v) != "0";
}

inline std::string find_mosquitto() {
    if (const char* env = std::getenv("CTMQTT_MOSQUITTO"); env != nullptr && *env != '\0')
        return env;
    for (const char* candidate :
         {"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto"})
        if (::access(candidate, X_OK) == 0)
            return candidate;
    return "mosquitto"; // execvp searches PATH
}

/// A private directory made with mkdtemp, removed (recursively) on destruction
/// unless CTMQTT_KEEP_BROKER_DIR is set.
class temp_dir {
public:
    explicit temp_dir(std::string_view prefix) {
        std::error_code ec;
        std::filesystem::path base;
        if (const char* t = std::getenv("TMPDIR"); t != nullptr && *t != '\0')
            base = t;
        else
            base = std::filesystem::temp_directory_path(ec);
        if (base.empty())
            base = "/tmp";
        std::string templ = (base / (std::string(prefix) + "XXXXXX")).string();
        if (::mkdtemp(templ.data()) == nullptr)
            throw_errno("mkdtemp(" + templ + ")");
        path_ = templ;
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() {
        if (env_flag("CTMQTT_KEEP_BROKER_DIR")) {
            std::fprintf(stderr, "ctmqtt_test: keeping broker directory %s\n", path_.c_str());
            return;
        }
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

/// A loopback TCP port that was free a moment ago: bind port 0, read it back,
/// close. (Another process may take it before mosquitto binds it; the broker
/// retries with a new port when that happens.)
inline unsigned short pick_free_port(const std::string& host) {
    unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd)
        throw_errno("socket");
    sockaddr_in addr = loopback_address(host, 0);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        throw_errno("bind(" + host + ":0)");
    socklen_t len = sizeof addr;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        throw_errno("getsockname");
    return ntohs(addr.sin_port);
}

} // namespace detail

/// Whether a TCP connection to host:port (IPv4) is accepted within `timeout`.
/// (A stopped broker's port still accepts: the kernel completes the handshake.)
namespace detail {

/// A TCP connection to host:port (IPv4), or an empty fd if it is refused or
/// not accepted within `timeout`.
inline unique_fd tcp_connect(const std::string& host, unsigned short port,
                             std::chrono::milliseconds timeout) {
    unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd)
        return {};
    const sockaddr_in addr = loopback_address(host, port);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0)
        return fd;
    if (errno != EINPROGRESS)
        return {};
    pollfd p{fd.get(), POLLOUT, 0};
    int n = 0;
    do
        n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return {};
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
        return {};
    return fd;
}

inline unsigned short local_port(const unique_fd& fd) {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        throw_errno("getsockname");
    return ntohs(addr.sin_port);
}

} // namespace detail

/// Whether a TCP connection to host:port (IPv4) is accepted within `timeout`.
/// (A stopped broker's port still accepts: the kernel completes the handshake.)
inline bool tcp_connect_ok(const std::string& host, unsigned short port,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(1000)) {
    return static_cast<bool>(detail::tcp_connect(host, port, timeout));
}

/// One mosquitto process with its own configuration, port and directory.
class mosquitto_broker {
public:
    /// A listener beside the default TCP one: TLS, WebSocket (over TCP or
    /// TLS) or a Unix socket. Each gets a free loopback port of its own when
    /// the broker is made (kept across restarts), a Unix socket the path
    /// listener_path(i) in the broker's directory.
    struct listener {
        enum class kind : unsigned char { tcp, tls, websocket, websocket_tls, unix_socket };
        kind type = kind::tcp;
        /// TLS kinds: PEM files of the server certificate and key, and of the
        /// CA that client certificates must be signed by.
        std::string certfile{};
        std::string keyfile{};
        std::string cafile{};
        bool require_certificate = false; ///< TLS kinds: clients must present a certificate
        /// Lines after this listener's own (e.g. "tls_version tlsv1.3").
        std::vector<std::string> extra_config{};
    };

    struct options {
        bool persistence = false;    ///< persistence true, in dir()/data/
        bool allow_anonymous = true; ///< allow_anonymous true/false
        bool log_all = true;         ///< log_type all (every packet, for diagnostics)
        /// Lines appended to mosquitto.conf after the default listener's
        /// block, so listener options here apply to that listener (e.g.
        /// "max_keepalive 10", "protocol mqtt"), and a `listener` line here
        /// starts a further listener (TLS, WebSocket and Unix-socket listeners:
        /// `listeners` below). (Keep `connection_messages`
        /// and `log_type information` on: start() waits for a log line.)
        std::vector<std::string> extra_config{};
        /// Further listeners, written after extra_config (see listener).
        std::vector<listener> listeners{};
        /// How long start() waits for the port to accept connections.
        std::chrono::milliseconds start_timeout = std::chrono::seconds(10);
        /// How long stop() waits after SIGTERM before SIGKILL.
        std::chrono::milliseconds stop_timeout = std::chrono::seconds(5);
    };

    /// Starts a broker with default options.
    mosquitto_broker() : mosquitto_broker(options{}) {}

    /// Creates the directory and configuration and starts the broker; throws
    /// (with the end of mosquitto's log) if it does not accept connections in time.
    explicit mosquitto_broker(options opts)
        : opts_(std::move(opts)), dir_("ctmqtt-broker-"), executable_(detail::find_mosquitto()) {
        if (opts_.persistence)
            std::filesystem::create_directory(persistence_dir());
        // The port was free when picked but may be taken before mosquitto binds
        // it (another test, an outgoing connection's ephemeral port): retry.
        constexpr int attempts = 5;
        try {
            for (int attempt = 1;; ++attempt) {
                port_ = detail::pick_free_port(host());
                pick_listener_ports();
                write_config();
                if (spawn_and_wait(/*may_retry=*/attempt < attempts))
                    return;
            }
        } catch (...) {
            kill(); // no destructor runs for a constructor that throws
            throw;
        }
    }

    mosquitto_broker(const mosquitto_broker&) = delete;
    mosquitto_broker& operator=(const mosquitto_broker&) = delete;

    /// Stops the broker (SIGTERM, then SIGKILL) and removes the directory.
    ~mosquitto_broker() {
        try {
            stop();
        } catch (...) {
        }
    }

    const std::string& host() const noexcept { return host_; }
    unsigned short port() const noexcept { return port_; }
    std::string url() const { return "mqtt://" + host_ + ":" + std::to_string(port_); }

    /// The port of options::listeners[i] (0 for a Unix socket).
    unsigned short listener_port(std::size_t i) const { return listener_ports_.at(i); }
    /// The socket path of options::listeners[i] when it is a Unix socket.
    std::filesystem::path listener_path(std::size_t i) const {
        return dir() / ("listener-" + std::to_string(i) + ".sock");
    }
    /// A URL for options::listeners[i]: mqtt://, mqtts://, ws://, wss://
    /// `host`:port, or unix:path.
    std::string listener_url(std::size_t i, const std::string& host = "127.0.0.1") const {
        const auto port = std::to_string(listener_port(i));
        switch (opts_.listeners.at(i).type) {
        case listener::kind::tcp: return "mqtt://" + host + ":" + port;
        case listener::kind::tls: return "mqtts://" + host + ":" + port;
        case listener::kind::websocket: return "ws://" + host + ":" + port + "/";
        case listener::kind::websocket_tls: return "wss://" + host + ":" + port + "/";
        case listener::kind::unix_socket: return "unix:" + listener_path(i).string();
        }
        return {};
    }
    /// The process id, or -1 when not running.
    pid_t pid() const noexcept { return pid_; }
    bool running() const noexcept { return pid_ > 0; }
    bool paused() const noexcept { return paused_; }
    /// The waitpid() status of the last process that ended (-1: none yet):
    /// after stop(), WIFEXITED and exit status 0 unless SIGKILL was needed.
    int last_exit_status() const noexcept { return last_status_; }
    const options& config() const noexcept { return opts_; }

    const std::filesystem::path& dir() const noexcept { return dir_.path(); }
    std::filesystem::path config_file() const { return dir() / "mosquitto.conf"; }
    std::filesystem::path log_file() const { return dir() / "mosquitto.log"; }
    /// mosquitto's stdout and stderr (what it prints before its log is open).
    std::filesystem::path output_file() const { return dir() / "mosquitto.out"; }
    std::filesystem::path persistence_dir() const { return dir() / "data"; }
    std::filesystem::path persistence_file() const { return persistence_dir() / "mosquitto.db"; }

    /// mosquitto's log so far (every start of this broker, appended).
    std::string log() const { return detail::read_file(log_file()); }
    /// The last `lines` lines of the log and of mosquitto's stdout/stderr.
    std::string log_tail(std::size_t lines = 30) const {
        std::string out =
            "--- " + log_file().string() + " (tail) ---\n" + detail::tail(log(), lines);
        const std::string printed = detail::read_file(output_file());
        if (!printed.empty())
            out +=
                "\n--- " + output_file().string() + " (tail) ---\n" + detail::tail(printed, lines);
        return out;
    }

    /// Starts the stopped broker again: same port, configuration and
    /// directories; returns once the port accepts connections.
    void start() {
        if (running())
            throw std::logic_error("mosquitto_broker::start: already running (pid " +
                                   std::to_string(pid_) + ")");
        spawn_and_wait(/*may_retry=*/false);
    }

    /// SIGTERM (mosquitto saves its persistence database and exits), then
    /// SIGKILL if it has not exited within options::stop_timeout. Works on a
    /// paused broker too. Does nothing when not running.
    void stop() {
        if (!running())
            return;
        send_signal(SIGTERM);
        send_signal(SIGCONT); // a stopped process only acts on SIGTERM once continued
        paused_ = false;
        // mosquitto blocks signals while it waits for events (up to 100 ms
        // at a time): a connection wakes it up, so that it handles SIGTERM now.
        const auto deadline = std::chrono::steady_clock::now() + opts_.stop_timeout;
        for (;;) {
            tcp_connect_ok(host_, port_, std::chrono::milliseconds(100));
            if (wait_exit(std::chrono::milliseconds(50)))
                return;
            if (std::chrono::steady_clock::now() >= deadline)
                break;
        }
        std::fprintf(stderr,
                     "ctmqtt_test: mosquitto (pid %d) did not exit within %lld ms of "
                     "SIGTERM; sending SIGKILL\n%s\n",
                     static_cast<int>(pid_), static_cast<long long>(opts_.stop_timeout.count()),
                     log_tail(10).c_str());
        send_signal(SIGKILL);
        wait_exit(std::nullopt);
    }

    /// SIGKILL: the broker dies at once, saving nothing. Does nothing when not running.
    void kill() {
        if (!running())
            return;
        send_signal(SIGKILL);
        paused_ = false;
        wait_exit(std::nullopt);
    }

    /// stop() then start(): same port, directories and persistence.
    void restart() {
        stop();
        start();
    }

    /// SIGSTOP: the broker stops answering (its port still accepts TCP
    /// connections, but no packet is read or sent) until resume().
    void pause() {
        require_running("pause");
        send_signal(SIGSTOP);
        paused_ = true;
    }

    /// SIGCONT after pause().
    void resume() {
        require_running("resume");
        send_signal(SIGCONT);
        paused_ = false;
    }

private:
    void require_running(const char* what) const {
        if (!running())
            throw std::logic_error(std::string("mosquitto_broker::") + what + ": not running");
    }

    void send_signal(int sig) const {
        if (::kill(pid_, sig) != 0 && errno != ESRCH)
            detail::throw_errno("kill(" + std::to_string(pid_) + ", " + std::to_string(sig) + ")");
    }

    void write_config() const {
        std::ofstream out(config_file(), std::ios::trunc);
        out << "# generated by ctmqtt_test::mosquitto_broker\n";
        // As root, mosquitto 2 switches to user `mosquitto`, which could not
        // write to this (0700) directory; stay the user that runs the tests.
        if (::geteuid() == 0)
            out << "user root\n";
        out << "log_dest file " << log_file().string() << "\n"
            << "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n";
        if (opts_.log_all)
            out << "log_type all\n";
        out << "log_timestamp_format %Y-%m-%dT%H:%M:%S\n"
            << "connection_messages true\n"
            // Without it, Nagle's algorithm holds a small packet sent right
            // after another until the client's delayed ACK (40 ms on Linux).
            << "set_tcp_nodelay true\n";
        if (opts_.persistence)
            out << "persistence true\n"
                << "persistence_location " << persistence_dir().string() << "/\n"
                << "persistence_file mosquitto.db\n";
        else
            out << "persistence false\n";
        out << "allow_anonymous " << (opts_.allow_anonymous ? "true" : "false") << "\n"
            << "listener " << port_ << " " << host_ << "\n";
        for (const auto& line : opts_.extra_config)
            out << line << "\n";
        write_listeners(out);
        out.close();
        if (!out)
            throw std::runtime_error("cannot write " + config_file().string());
    }

    // A free port for each TCP-based listener, none the same as another's.
    void pick_listener_ports() {
        listener_ports_.clear();
        for (const auto& l : opts_.listeners) {
            unsigned short p = 0;
            if (l.type != listener::kind::unix_socket)
                do
                    p = detail::pick_free_port(host());
                while (p == port_ || std::find(listener_ports_.begin(), listener_ports_.end(), p) !=
                                         listener_ports_.end());
            listener_ports_.push_back(p);
        }
    }

    void write_listeners(std::ofstream& out) const {
        using kind = listener::kind;
        for (std::size_t i = 0; i < opts_.listeners.size(); ++i) {
            const auto& l = opts_.listeners[i];
            if (l.type == kind::unix_socket) {
                out << "listener 0 " << listener_path(i).string() << "\n";
            } else if (l.type == kind::websocket || l.type == kind::websocket_tls) {
                // mosquitto hands a WebSocket listener's address to
                // libwebsockets as an interface name: "lo" is loopback.
                out << "listener " << listener_ports_[i] << " lo\nprotocol websockets\n";
            } else {
                out << "listener " << listener_ports_[i] << " " << host_ << "\n";
            }
            if (l.type == kind::tls || l.type == kind::websocket_tls) {
                out << "certfile " << l.certfile << "\nkeyfile " << l.keyfile << "\n";
                if (!l.cafile.empty())
                    out << "cafile " << l.cafile << "\n";
                if (l.require_certificate)
                    out << "require_certificate true\n";
            }
            for (const auto& line : l.extra_config)
                out << line << "\n";
        }
    }

    // Forks and execs mosquitto, then waits until it serves the port. Returns
    // false (broker not running) if mosquitto could not bind the port and
    // `may_retry`; throws on any other failure.
    bool spawn_and_wait(bool may_retry) {
        const auto log_before = log().size();
        spawn();
        const auto deadline = std::chrono::steady_clock::now() + opts_.start_timeout;
        auto delay = std::chrono::milliseconds(1);
        detail::unique_fd probe; // a connection made to see it in the log
        std::string expected;
        for (;;) {
            int status = 0;
            const pid_t r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_) {
                last_status_ = status;
                pid_ = -1;
                const bool in_use =
                    log().find("Address already in use", log_before) != std::string::npos;
                if (in_use && may_retry)
                    return false;
                throw std::runtime_error("mosquitto exited during startup (" +
                                         describe_status(status) + ", port " +
                                         std::to_string(port_) + ")\n" + log_tail());
            }
            // Ready when a connection to the port shows up in OUR log: then
            // the port is ours (not someone else's listener; mosquitto would
            // have exited with EADDRINUSE, seen above), and mosquitto is in its
            // main loop. The "running" line is not enough: mosquitto sets its
            // run flag only after logging it, so a SIGTERM sent in between is
            // lost (mosquitto 2.0 main(): log "running"; run = 1; main loop).
            if (!probe) {
                probe = detail::tcp_connect(host_, port_, std::chrono::milliseconds(200));
                if (probe)
                    expected = "New connection from " + host_ + ":" +
                               std::to_string(detail::local_port(probe)) + " on port " +
                               std::to_string(port_) + ".";
            }
            if (probe && log().find(expected, log_before) != std::string::npos)
                return true;
            if (std::chrono::steady_clock::now() >= deadline) {
                kill();
                throw std::runtime_error("mosquitto did not accept connections on " + url() +
                                         " within " + std::to_string(opts_.start_timeout.count()) +
                                         " ms\n" + log_tail());
            }
            std::this_thread::sleep_for(delay);
            delay = std::min(delay * 2, std::chrono::milliseconds(20));
        }
    }

    void spawn() {
        // Everything the child needs is prepared before fork(): after it, the
        // child may only make async-signal-safe calls.
        const std::string conf = config_file().string();
        std::vector<std::string> args = {executable_, "-c", conf};
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);

        detail::unique_fd out(
            ::open(output_file().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
        if (!out)
            detail::throw_errno("open(" + output_file().string() + ")");
        detail::unique_fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (!devnull)
            detail::throw_errno("open(/dev/null)");

        const pid_t parent = ::getpid();
        const pid_t child = ::fork();
        if (child < 0)
            detail::throw_errno("fork");
        if (child == 0) {
#if defined(__linux__)
            // Killed when the thread that started it dies (a crashed or killed
            // test): no broker outlives its test. SIGKILL rather than SIGTERM
            // so that a paused (SIGSTOPped) broker dies too.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) // the parent died before prctl
                ::_exit(127);
#else
            (void)parent;
#endif
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::signal(SIGPIPE, SIG_DFL);
            ::dup2(devnull.get(), 0);
            ::dup2(out.get(), 1);
            ::dup2(out.get(), 2);
            close_inherited_fds();
            ::execvp(argv[0], argv.data());
            static constexpr char msg[] = "ctmqtt_test: exec of mosquitto failed\n";
            [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
            ::_exit(127);
        }
        pid_ = child;
        paused_ = false;
    }

    // In the child: close everything but stdin/stdout/stderr (sockets of the
    // test, Catch2's files), so that nothing of the test stays open in the broker.
    static void close_inherited_fds() noexcept {
#if defined(__linux__) && defined(SYS_close_range)
        if (::syscall(SYS_close_range, 3u, ~0u, 0u) == 0)
            return;
#endif
        long max = ::sysconf(_SC_OPEN_MAX);
        if (max < 0 || max > 65536)
            max = 65536;
        for (int fd = 3; fd < max; ++fd)
            ::close(fd);
    }

    // Waits for the process to exit (forever if no timeout); reaps it.
    bool wait_exit(std::optional<std::chrono::milliseconds> timeout) {
        const auto deadline =
            std::chrono::steady_clock::now() + timeout.value_or(std::chrono::milliseconds(0));
        auto delay = std::chrono::milliseconds(1);
        for (;;) {
            int status = 0;
            const pid_t r = ::waitpid(pid_, &status, timeout ? WNOHANG : 0);
            if (r == pid_ || (r < 0 && errno == ECHILD)) {
                last_status_ = r == pid_ ? status : -1;
                pid_ = -1;
                paused_ = false;
                return true;
            }
            if (r < 0 && errno != EINTR)
                detail::throw_errno("waitpid(" + std::to_string(pid_) + ")");
            if (timeout && std::chrono::steady_clock::now() >= deadline)
                return false;
            if (timeout) {
                std::this_thread::sleep_for(delay);
                delay = std::min(delay * 2, std::chrono::milliseconds(20));
            }
        }
    }

    static std::string describe_status(int status) {
        if (WIFEXITED(status))
            return "exit status " + std::to_string(WEXITSTATUS(status));
        if (WIFSIGNALED(status))
            return "killed by signal " + std::to_string(WTERMSIG(status));
        return "status " + std::to_string(status);
    }

    options opts_;
    detail::temp_dir dir_; // removed after ~mosquitto_broker() has stopped the process
    std::string executable_;
    std::string host_ = "127.0.0.1";
    unsigned short port_ = 0;
    std::vector<unsigned short> listener_ports_; ///< options::listeners' ports (0: Unix socket)
    pid_t pid_ = -1;
    int last_status_ = -1;
    bool paused_ = false;
};

} // namespace ctmqtt_test
