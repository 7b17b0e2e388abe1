// ctmqtt-pub: a drop-in replacement for mosquitto_pub 2.0.11 on ctmqtt's
// client. The same options, defaults, output and exit statuses; see
// tools/README.md for what differs.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/client_config.hpp"
#include "common/messages.hpp"
#include "common/options.hpp"
#include "common/program.hpp"
#include "common/runtime.hpp"

namespace {

namespace asio = boost::asio;
using namespace ctmqtt;
using namespace ctmqtt::tools;

constexpr std::size_t max_payload = 268'435'455;

class publisher final : public client_program {
public:
    publisher(const config& cfg, connect_setup& setup)
        : client_program(cfg, setup), line_mode_(cfg.mode == message_mode::stdin_line) {
        // mosquitto_pub stops when the connection goes; with -l it reconnects
        // (libmosquitto's threaded loop), every second.
        if (!line_mode_)
            setup_.options.reconnect_delays.clear();
        if (v5_ && cfg.have_topic_alias)
            setup_.options.topic_aliases = topic_alias_policy::when_free;
    }

    int run() {
        const int status = run_client();
        if (reading_) {
            // The reader is still blocked on stdin (the connection ended
            // first): end here rather than destroy what it posts to.
            std::fflush(nullptr);
            std::_Exit(status);
        }
        return status;
    }

private:
    void on_state(const connection_state& s) override {
        if (s.what == connection_state::kind::connected) {
            limits_ = s.limits;
            return;
        }
        if (s.what != connection_state::kind::lost || !connected_once_ || disconnecting_)
            return;
        if (is_protocol_violation(s.error)) {
            term_.error("Error: " + s.error.message() + "\n");
            finish(exit_code::protocol);
        } else if (!line_mode_) {
            term_.error("Error: " + std::string{error_text::lost} + "\n");
            finish(exit_code::lost);
        }
    }

    void on_connect(std::error_code ec) override {
        if (ec) {
            const auto f = describe_connect_failure(ec, cfg_.protocol_version);
            if (f.refused) {
                log_.client("received CONNACK (" + std::to_string(f.status) + ")");
                term_.error(f.text);
                // Then what libmosquitto's loop returned.
                const bool protocol = v5_ && !line_mode_;
                term_.error(
                    "Error: " + std::string{protocol ? error_text::protocol : error_text::refused} +
                    "\n");
            } else {
                term_.error(f.text);
            }
            finish(f.status);
            return;
        }
        log_.client("received CONNACK (0)");
        if (line_mode_)
            start_reading_lines();
        else
            publish(cfg_.mode == message_mode::null ? std::string_view{}
                                                    : std::string_view{cfg_.message});
    }

    // Publishes one message; false when it could not be sent (then the
    // program disconnects, as mosquitto_pub does).
    bool publish(std::string_view payload) {
        const int mid = log_.next_mid();
        last_mid_ = mid;
        if (!v5_ && !cfg_.publish_props.empty()) {
            // libmosquitto refuses properties before MQTT 5, silently here.
            disconnect();
            return false;
        }
        if (cfg_.topic->empty() && !(v5_ && cfg_.have_topic_alias)) {
            term_.error("Error: Invalid input. Does your topic contain '+' or '#'?\n");
            disconnect();
            return false;
        }
        if (v5_ && cfg_.qos > static_cast<int>(limits_.maximum_qos)) {
            term_.error("Error: Message QoS not supported on broker, try a lower QoS.\n");
            disconnect();
            return false;
        }
        message m;
        m.topic = *cfg_.topic;
        const auto bytes = as_bytes(payload);
        m.payload.assign(bytes.begin(), bytes.end());
        m.qos = static_cast<qos>(cfg_.qos);
        m.retain = cfg_.retain && limits_.retain_available; // libmosquitto drops it otherwise
        if (v5_)
            (void)apply_message_properties(cfg_.publish_props, m);
        if (log_.on()) {
            char line[96];
            std::snprintf(line, sizeof(line), "sending PUBLISH (d0, q%d, r%d, m%d, '", cfg_.qos,
                          m.retain ? 1 : 0, mid);
            log_.client(line + m.topic + "', ... (" + std::to_string(m.payload.size()) +
                        " bytes))");
        }
        ++in_flight_;
        mqtt_->async_publish(m, [this, mid](std::error_code ec) { published(mid, ec); });
        return true;
    }

    void published(int mid, std::error_code ec) {
        --in_flight_;
        if (ec && ec.category() == session_category() &&
            static_cast<session_errc>(ec.value() & 0xFF) == session_errc::publish_refused) {
            const auto code = static_cast<unsigned>((ec.value() >> 8) & 0xFF);
            term_.error("Warning: Publish " + std::to_string(mid) +
                        " failed: " + std::string{reason_string(code)} + ".\n");
        } else if (ec) {
            // The connection went (on_state says so), or the client could not
            // send this message (e.g. larger than the broker's maximum): say why.
            if (mqtt_->connected() && !disconnecting_) {
                term_.error("Error: " + ec.message() + "\n");
                disconnect();
            }
            return;
        }
        if (log_.on()) {
            const auto m = std::to_string(mid);
            if (cfg_.qos == 1) {
                log_.client("received PUBACK (Mid: " + m + ", RC:0)");
            } else if (cfg_.qos == 2) {
                log_.client("received PUBREC (Mid: " + m + ")");
                log_.client("sending PUBREL (m" + m + ")");
                log_.client("received PUBCOMP (Mid: " + m + ", RC:0)");
            }
        }
        ++published_;
        if (line_mode_) {
            if (input_done_ && in_flight_ == 0)
                disconnect();
        } else if (published_ < cfg_.repeat_count) {
            repeat_timer_.expires_after(std::chrono::microseconds{cfg_.repeat_delay_us});
            repeat_timer_.async_wait([this](std::error_code e) {
                if (!e)
                    publish(cfg_.mode == message_mode::null ? std::string_view{}
                                                            : std::string_view{cfg_.message});
            });
        } else {
            disconnect();
        }
    }

    // -l: one message a line, read by a thread of its own (stdin may be a
    // terminal, a pipe or a file); the lines are published on the client's thread.
    void start_reading_lines() {
        reading_ = true;
        std::thread([this] {
            std::string line;
            char buf[1024];
            bool partial = false;
            while (std::fgets(buf, sizeof(buf), stdin)) {
                const std::size_t n = std::strlen(buf);
                line.append(buf, n);
                if (n > 0 && buf[n - 1] == '\n') {
                    line.pop_back();
                    asio::post(io_, [this, l = std::move(line)] { publish(l); });
                    line.clear();
                    partial = false;
                } else {
                    partial = true;
                }
            }
            if (partial)
                asio::post(io_, [this, l = std::move(line)] { publish(l); });
            asio::post(io_, [this] {
                input_done_ = true;
                if (in_flight_ == 0)
                    disconnect();
            });
            reading_ = false;
        }).detach();
    }

    void disconnect() {
        repeat_timer_.cancel();
        send_disconnect(disconnect_reason_code{}, [this](std::error_code) { finish(0); });
    }

    void on_finish() override { repeat_timer_.cancel(); }

    bool line_mode_;
    asio::steady_timer repeat_timer_{io_};
    session::server_limits limits_;
    int last_mid_ = 0;
    int published_ = 0;
    std::size_t in_flight_ = 0;
    bool input_done_ = false;
    std::atomic<bool> reading_{false};
};

// -s: all of stdin. Returns false (after the message) when it cannot be sent.
bool load_stdin(config& cfg, const terminal& term) {
    cfg.message.assign(std::istreambuf_iterator<char>{std::cin.rdbuf()},
                       std::istreambuf_iterator<char>{});
    if (cfg.message.size() > max_payload) {
        term.error("Error: Message length must be less than 268435455 bytes.\n\n");
        return false;
    }
    if (cfg.message.empty()) {
        term.error("Error: Zero length input.\n");
        return false;
    }
    return true;
}

// -f: the whole file.
bool load_file(config& cfg, const terminal& term) {
    std::ifstream in{*cfg.file_input, std::ios::binary};
    if (!in) {
        term.error("Error: Unable to open file \"" + *cfg.file_input + "\".\n");
        return false;
    }
    cfg.message.assign(std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{});
    if (cfg.message.size() > max_payload) {
        term.error("Error: File must be less than 268435455 bytes.\n\n");
        return false;
    }
    return true;
}

} // namespace

int main(int argc, char** argv) {
    config cfg;
    if (auto status = load_options(program::pub, argc, argv, cfg))
        return *status;
    const terminal term{cfg.quiet};
    if (cfg.mode == message_mode::stdin_file) {
        if (!load_stdin(cfg, term)) {
            term.error("Error loading input from stdin.\n");
            return 1;
        }
    } else if (cfg.file_input) {
        if (!load_file(cfg, term)) {
            term.error("Error loading input file \"" + *cfg.file_input + "\".\n");
            return 1;
        }
    }
    if (!cfg.topic || cfg.mode == message_mode::none) {
        std::fputs("Error: Both topic and message must be supplied.\n", stderr);
        std::fputs(usage(program::pub).c_str(), stdout);
        return 1;
    }
    auto setup = make_client_options(cfg, process_id());
    if (refuse_unavailable(program::pub, cfg, setup))
        return 1;
    if (refuse_before_connect(program::pub, cfg, setup, term))
        return 1;
    return publisher{cfg, setup}.run();
}
