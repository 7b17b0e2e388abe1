// ctmqtt-sub: a drop-in replacement for mosquitto_sub 2.0.11 on ctmqtt's
// client. The same options, defaults, output and exit statuses; see
// tools/README.md for what differs.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <ctmqtt/core/topic.hpp>

#include "common/client_config.hpp"
#include "common/format.hpp"
#include "common/messages.hpp"
#include "common/options.hpp"
#include "common/program.hpp"
#include "common/runtime.hpp"

namespace {

namespace asio = boost::asio;
using namespace ctmqtt;
using namespace ctmqtt::tools;

class subscriber final : public client_program {
public:
    subscriber(const config& cfg, connect_setup& setup) : client_program(cfg, setup) {
        output_.format = cfg.format;
        output_.verbose = cfg.verbose;
        output_.eol = cfg.eol;
        output_.pretty = cfg.pretty;
        if (cfg.random_filter < 10000)
            random_.seed(std::random_device{}());
    }

    int run() {
        signals_.async_wait([this](std::error_code ec, int) {
            if (!ec)
                interrupted(false);
        });
        if (cfg_.timeout != 0) {
            timer_.expires_after(std::chrono::seconds{cfg_.timeout});
            timer_.async_wait([this](std::error_code ec) {
                if (!ec)
                    interrupted(true);
            });
        }
        return run_client();
    }

private:
    void on_state(const connection_state& s) override {
        // A broker that breaks the protocol ends the program; the network
        // going away or the broker closing do not: it connects again every second.
        if (s.what == connection_state::kind::lost && connected_once_ &&
            is_protocol_violation(s.error) && !disconnecting_) {
            term_.error("Error: " + s.error.message() + "\n");
            finish(exit_code::protocol);
        }
    }

    void on_connect(std::error_code ec) override {
        if (ec) {
            const auto f = describe_connect_failure(ec, cfg_.protocol_version);
            if (f.refused)
                log_.client("received CONNACK (" + std::to_string(f.status) + ")");
            term_.error(f.text);
            finish(f.status);
            return;
        }
        log_.client("received CONNACK (0)");
        subscribe();
        unsubscribe();
        receive();
    }

    subscribe_options subscription_options() {
        subscribe_options o{static_cast<qos>(cfg_.qos)};
        o.retain_as_published = cfg_.retain_as_published;
        if (cfg_.send_retain_never)
            o.retain_handling = retain_handling::do_not_send;
        for (const auto& p : cfg_.subscribe_props) {
            if (p.id == property_id::user_property)
                o.user_properties.emplace_back(p.key, p.text);
            else if (p.id == property_id::subscription_identifier)
                o.subscription_identifier = p.number;
        }
        return o;
    }

    // One SUBSCRIBE per filter (mosquitto_sub sends them in one packet).
    void subscribe() {
        const int mid = log_.next_mid();
        const auto options = subscription_options();
        // The subscription options byte; libmosquitto clears it before MQTT 5.
        const unsigned options_byte =
            !v5_ ? 0u
                 : (cfg_.retain_as_published ? 0x08u : 0u) | (cfg_.send_retain_never ? 0x20u : 0u);
        for (const auto& topic : cfg_.topics) {
            char line[64];
            std::snprintf(line, sizeof(line), ", QoS: %d, Options: 0x%02x)", cfg_.qos,
                          options_byte);
            log_.client("sending SUBSCRIBE (Mid: " + std::to_string(mid) + ", Topic: " + topic +
                        line);
        }
        granted_.clear();
        waiting_subacks_ = cfg_.topics.size();
        for (const auto& topic : cfg_.topics) {
            mqtt_->async_subscribe(
                topic, options,
                [this, mid](std::error_code ec, std::vector<suback_reason_code> codes) {
                    // A filter the client cannot send (mosquitto_sub would wait forever).
                    if (ec && !disconnecting_) {
                        term_.error("Error: " + ec.message() + "\n");
                        send_disconnect(disconnect_reason_code{},
                                        [this](std::error_code) { finish(1); });
                    }
                    if (ec)
                        return;
                    for (auto c : codes)
                        granted_.push_back(c.value());
                    if (--waiting_subacks_ == 0)
                        subscribed(mid);
                });
        }
    }

    void subscribed(int mid) {
        log_.client("received SUBACK");
        bool some_allowed = false;
        std::string line = "Subscribed (mid: " + std::to_string(mid) + "): ";
        for (std::size_t i = 0; i < granted_.size(); ++i) {
            line += (i ? ", " : "") + std::to_string(granted_[i]);
            some_allowed |= granted_[i] < 0x80;
        }
        if (!cfg_.quiet)
            log_.line(line);
        if (!some_allowed) {
            disconnect(disconnect_reason_code{});
            term_.error("All subscription requests were denied.\n");
        }
        if (cfg_.exit_after_sub)
            disconnect(disconnect_reason_code{});
    }

    void unsubscribe() {
        for (const auto& topic : cfg_.unsub_topics) {
            const int mid = log_.next_mid();
            log_.client("sending UNSUBSCRIBE (Mid: " + std::to_string(mid) + ", Topic: " + topic +
                        ")");
            auto done = [this](std::error_code ec, std::vector<unsuback_reason_code>) {
                if (!ec)
                    log_.client("received UNSUBACK");
            };
            unsubscribe_options o;
            for (const auto& p : cfg_.unsubscribe_props)
                o.user_properties.emplace_back(p.key, p.text);
            mqtt_->async_unsubscribe(topic, std::move(o), done);
        }
    }

    void receive() {
        mqtt_->async_receive(message_, [this](std::error_code ec) {
            if (ec)
                return;
            on_message();
            if (!finished_)
                receive();
        });
    }

    // The packet identifier of the message; the client reports it where it
    // can, else it is counted as mosquitto counts those it sends a client.
    template <class M>
    int packet_id_of(const M& m) {
        if constexpr (requires { m.packet_id; }) {
            return static_cast<int>(m.packet_id);
        } else {
            if (m.qos == qos::at_most_once)
                return 0;
            if (++inbound_mid_ == 0x10000)
                inbound_mid_ = 1;
            return inbound_mid_;
        }
    }

    void on_message() {
        const auto& m = message_;
        const int mid = packet_id_of(m);
        if (log_.on()) {
            char line[96];
            std::snprintf(line, sizeof(line), "received PUBLISH (d0, q%d, r%d, m%d, '",
                          static_cast<int>(m.qos), m.retain ? 1 : 0, mid);
            log_.client(line + m.topic + "', ... (" + std::to_string(m.payload.size()) +
                        " bytes))");
            if (m.qos == qos::at_least_once) {
                log_.client("sending PUBACK (m" + std::to_string(mid) + ", rc0)");
            } else if (m.qos == qos::exactly_once) {
                log_.client("sending PUBREC (m" + std::to_string(mid) + ", rc0)");
                log_.client("received PUBREL (Mid: " + std::to_string(mid) + ")");
                log_.client("sending PUBCOMP (m" + std::to_string(mid) + ")");
            }
        }
        if (!processing_)
            return;
        if (cfg_.retained_only && !m.retain) {
            processing_ = false;
            disconnect_when_removed();
            return;
        }
        if (m.retain && cfg_.no_retain)
            return;
        for (const auto& filter : cfg_.filter_outs)
            if (topic_matches(filter, m.topic))
                return;
        if (cfg_.remove_retained && m.retain)
            remove_retained(m.topic);
        if (cfg_.random_filter < 10000 &&
            static_cast<long>(random_() % 10000) >= cfg_.random_filter) {
            // not printed
        } else {
            std::string out;
            std::string err;
            const received r{m, mid, v5_};
            print_message(output_, r.get(), now, out, err);
            const bool ok = term_.out(out);
            term_.error(err);
            if (!ok)
                disconnect(disconnect_reason_code{});
        }
        if (cfg_.msg_count > 0 && ++count_ == cfg_.msg_count) {
            processing_ = false;
            disconnect_when_removed();
        }
    }

    // --remove-retained: an empty retained message clears the topic's.
    void remove_retained(const std::string& topic) {
        const int mid = log_.next_mid();
        log_.client("sending PUBLISH (d0, q1, r1, m" + std::to_string(mid) + ", '" + topic +
                    "', ... (0 bytes))");
        ++removals_;
        mqtt_->async_publish(
            topic, std::string_view{}, qos::at_least_once, true, [this, mid](std::error_code) {
                log_.client("received PUBACK (Mid: " + std::to_string(mid) + ", RC:0)");
                if (--removals_ == 0 && disconnect_after_removals_)
                    disconnect(disconnect_reason_code{});
            });
    }

    // mosquitto_sub disconnects at once unless a removal is still on its
    // way; it then never does (a bug): here it does once they are acknowledged.
    void disconnect_when_removed() {
        if (removals_ == 0)
            disconnect(disconnect_reason_code{});
        else
            disconnect_after_removals_ = true;
    }

    // SIGINT, SIGTERM, or -W's time is up.
    void interrupted(bool timeout) {
        if (!connected_once_) {
            finish(255); // mosquitto_sub calls exit(-1) before CONNACK
            return;
        }
        timed_out_ = timed_out_ || timeout;
        processing_ = false;
        disconnect(disconnect_reason_code{reason::disconnect_with_will_message});
        if (timeout)
            signals_.async_wait([this](std::error_code ec, int) {
                if (!ec)
                    interrupted(false);
            });
    }

    void disconnect(disconnect_reason_code reason) {
        send_disconnect(reason, [this](std::error_code) {
            if (timed_out_) {
                term_.error("Timed out\n");
                finish(exit_code::timeout);
            } else {
                finish(0);
            }
        });
    }

    void on_finish() override {
        signals_.cancel();
        timer_.cancel();
    }

    output_options output_;
    asio::signal_set signals_{io_, SIGINT, SIGTERM};
    asio::steady_timer timer_{io_};
    message message_;
    std::vector<unsigned> granted_;
    std::size_t waiting_subacks_ = 0;
    std::minstd_rand random_;
    int inbound_mid_ = 0;
    int count_ = 0;
    std::size_t removals_ = 0;
    bool disconnect_after_removals_ = false;
    bool processing_ = true;
    bool timed_out_ = false;
};

} // namespace

int main(int argc, char** argv) {
    config cfg;
    if (auto status = load_options(program::sub, argc, argv, cfg))
        return *status;
    if (cfg.no_retain && cfg.retained_only) {
        std::fputs("\nError: Combining '-R' and '--retained-only' makes no sense.\n", stderr);
        return 1;
    }
    auto setup = make_client_options(cfg, process_id());
    if (refuse_unavailable(program::sub, cfg, setup))
        return 1;
    const terminal term{cfg.quiet};
    if (refuse_before_connect(program::sub, cfg, setup, term))
        return 1;
    return subscriber{cfg, setup}.run();
}
