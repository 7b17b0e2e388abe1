// The part of ctmqtt-pub and ctmqtt-sub that runs the client: one
// io_context on the main thread, one client over the transport the options
// name (any_transport: TCP, TLS, WebSocket, Unix socket), connect,
// DISCONNECT once, and the exit status.
#pragma once

#include <csignal>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include <boost/asio/io_context.hpp>

#include <ctmqtt/client/client.hpp>

#include "client_config.hpp"
#include "options.hpp"
#include "runtime.hpp"
#include "transport.hpp"

namespace ctmqtt::tools {

class client_program {
public:
    client_program(const client_program&) = delete;
    client_program& operator=(const client_program&) = delete;

protected:
    client_program(const config& cfg, connect_setup& setup)
        : cfg_(cfg), setup_(setup), term_(cfg.quiet), log_(cfg.debug, setup.options.client_id),
          v5_(cfg.protocol_version == 5) {}
    virtual ~client_program() = default;

    /// Connects, and runs until finish(); returns the exit status.
    int run_client() {
        // As libmosquitto does: a closed stdout is seen as a write error
        // (mosquitto_sub then disconnects and exits 0), not a SIGPIPE.
        std::signal(SIGPIPE, SIG_IGN);
        setup_.options.on_state = [this](const connection_state& s) {
            if (s.what == connection_state::kind::connected && !s.limits.assigned_client_id.empty())
                log_.set_id(s.limits.assigned_client_id); // libmosquitto adopts it too
            // The first attempt failing ends the program, as mosquitto's
            // connect does (the client itself would try again).
            if (!connect_reported_ && s.what != connection_state::kind::connected &&
                s.what != connection_state::kind::lost)
                connect_result(s.error ? s.error : make_error_code(session_errc::connection_lost));
            on_state(s);
        };
        mqtt_.emplace(io_.get_executor(), setup_.options);
        mqtt_->transport().configure({setup_.options.host, setup_.options.port}, setup_.transport);
        log_.client("sending CONNECT");
        mqtt_->async_connect([this](std::error_code ec) { connect_result(ec); });
        io_.run();
        return status_;
    }

    virtual void on_state(const connection_state& s) = 0;
    /// The first connection is up (no error), or could not be made.
    virtual void on_connect(std::error_code ec) = 0;
    /// Called once by finish(): cancel what would keep the io_context busy.
    virtual void on_finish() {}

    /// Sends DISCONNECT once (with -D disconnect's properties), then calls `done`.
    template <class Done>
    void send_disconnect(disconnect_reason_code reason, Done done) {
        if (disconnecting_)
            return;
        disconnecting_ = true;
        log_.client("sending DISCONNECT");
        mqtt_->async_disconnect(disconnect_how(cfg_, reason), std::move(done));
    }

    void connect_result(std::error_code ec) {
        if (connect_reported_ || finished_)
            return;
        connect_reported_ = true;
        connected_once_ = !ec;
        // mosquitto's programs say only "A TLS error occurred."; with -d
        // libmosquitto logs OpenSSL's reason, and this says ours.
        if (ec && classify_failure(ec) != failure_kind::other)
            log_.line(ec.message());
        on_connect(ec);
    }

    void finish(int status) {
        if (finished_)
            return;
        finished_ = true;
        status_ = status;
        on_finish();
        io_.stop();
    }

    const config& cfg_;
    connect_setup& setup_;
    terminal term_;
    debug_log log_;
    const bool v5_;
    boost::asio::io_context io_;
    std::optional<basic_client<any_transport>> mqtt_;
    bool connect_reported_ = false;
    bool connected_once_ = false; ///< the first connection was made
    bool disconnecting_ = false;
    bool finished_ = false;
    int status_ = 0;
};

} // namespace ctmqtt::tools
