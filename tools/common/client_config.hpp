// From the parsed options to ctmqtt::client_options, and from a received
// ctmqtt::message to what the formatter prints. No Asio (client/options.hpp
// has none).
//
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <ctmqtt/client/options.hpp>

#include "format.hpp"
#include "options.hpp"
#include "transport_settings.hpp"

namespace ctmqtt::tools {

inline protocol_version version_of(const config& cfg) noexcept {
    switch (cfg.protocol_version) {
    case 3: return protocol_version::v3_1;
    case 5: return protocol_version::v5;
    default: return protocol_version::v3_1_1;
    }
}

/// Sends -D connect authentication-method / authentication-data in CONNECT,
/// as mosquitto's programs do; they answer no AUTH challenge, and neither
/// does this.
class fixed_authenticator final : public authenticator {
public:
    fixed_authenticator(std::string method, std::string data)
        : method_(std::move(method)), data_(std::move(data)) {}
    std::string_view method() const override { return method_; }
    std::error_code initial_data(std::vector<std::byte>& out) override {
        const auto b = as_bytes(std::string_view{data_});
        out.assign(b.begin(), b.end());
        return {};
    }
    std::error_code on_challenge(bytes_view, std::vector<std::byte>&) override {
        return make_error_code(session_errc::authentication_failed, 1);
    }

private:
    std::string method_;
    std::string data_;
};

/// Copies MQTT 5 message properties (-D publish / -D will) into a message.
/// Returns the name of one ctmqtt cannot send, if any.
inline std::optional<std::string> apply_message_properties(const property_list& props, message& m) {
    for (const auto& p : props) {
        switch (p.id) {
        case property_id::payload_format_indicator:
            if (p.number > 1)
                return p.name + " " + std::to_string(p.number);
            m.payload_is_utf8 = p.number == 1;
            break;
        case property_id::message_expiry_interval: m.message_expiry_interval = p.number; break;
        case property_id::content_type: m.content_type = p.text; break;
        case property_id::response_topic: m.response_topic = p.text; break;
        case property_id::correlation_data: {
            const auto b = as_bytes(std::string_view{p.text});
            m.correlation_data.emplace(b.begin(), b.end());
            break;
        }
        case property_id::user_property: m.user_properties.emplace_back(p.key, p.text); break;
        case property_id::will_delay_interval: break; // a client option, not a message field
        case property_id::topic_alias: break;         // see publisher: the client's aliases
        default: return p.name;
        }
    }
    return std::nullopt;
}

/// Whether TLS is used, by mosquitto's rules: with --cafile or --capath,
/// with --tls-use-os-certs (even on port 1883), for mqtts:// (and ours:
/// wss://), and on port 8883 given by -p or -L.
inline bool uses_tls(const config& cfg) noexcept {
    using transport::url_scheme;
    const bool websocket = cfg.url_scheme == url_scheme::ws || cfg.url_scheme == url_scheme::wss;
    return cfg.cafile || cfg.capath || cfg.tls_use_os_certs ||
           cfg.url_scheme == url_scheme::mqtts || cfg.url_scheme == url_scheme::wss ||
           (!websocket && port(cfg) == 8883);
}

/// The transport the options ask for: a Unix socket on port 0 (--unix,
/// unix:), WebSocket for ws:// and wss://, TCP otherwise; TLS over either
/// when uses_tls(). TLS is set up as libmosquitto sets it up: the CAs given
/// (none: the system's), the system's as well with --tls-use-os-certs, the
/// client certificate only with a CA option, --insecure skips the host name
/// check only, --tls-version tlsv1.3 refuses 1.2 (tlsv1.1 and tlsv1.2 allow
/// 1.2 and up: OpenSSL 3 refuses 1.1 at its default security level anyway).
inline transport_settings transport_of(const config& cfg) {
    using transport::url_scheme;
    transport_settings t;
    const bool tls = uses_tls(cfg);
    if (port(cfg) == 0)
        t.scheme = url_scheme::unix_socket;
    else if (cfg.url_scheme == url_scheme::ws || cfg.url_scheme == url_scheme::wss)
        t.scheme = tls ? url_scheme::wss : url_scheme::ws;
    else
        t.scheme = tls ? url_scheme::mqtts : url_scheme::mqtt;
    t.websocket_path = cfg.websocket_path;
    if (!tls)
        return t;
    auto& s = t.tls;
    const bool ca = cfg.cafile || cfg.capath;
    if (cfg.cafile)
        s.ca_file = *cfg.cafile;
    if (cfg.capath)
        s.ca_directory = *cfg.capath;
    s.system_store = cfg.tls_use_os_certs || !ca;
    if (ca && cfg.certfile && cfg.keyfile) {
        s.certificate_file = *cfg.certfile;
        s.private_key_file = *cfg.keyfile;
    }
    s.verify_host_name = !cfg.insecure;
    s.tls13_only = cfg.tls_version == "tlsv1.3";
    if (cfg.tls_alpn)
        s.alpn = *cfg.tls_alpn;
    if (cfg.ciphers)
        s.ciphers = *cfg.ciphers;
    return t;
}

/// What is left to set on the client options once the config is applied.
struct connect_setup {
    client_options options;
    transport_settings transport;
    std::optional<fixed_authenticator> auth;
    /// A -D property (or option) this build's client cannot send; the
    /// program refuses to run rather than send something else.
    std::optional<std::string> unsupported;
};

/// A client identifier for MQTT 3.1, which needs one: "mosq-" and 18
/// letters and digits at random, as libmosquitto makes it.
inline std::string random_client_id() {
    static constexpr std::string_view alphanum =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::random_device rd;
    std::uniform_int_distribution<std::size_t> pick(0, alphanum.size() - 1);
    std::string id = "mosq-";
    for (int i = 0; i < 18; ++i)
        id += alphanum[pick(rd)];
    return id;
}

inline connect_setup make_client_options(const config& cfg, long pid) {
    connect_setup s;
    auto& o = s.options;
    o.host = *cfg.host;
    o.port = port(cfg);
    s.transport = transport_of(cfg);
    // libmosquitto would run TLS over the socket; transport::any has no such transport.
    if (s.transport.scheme == transport::url_scheme::unix_socket && uses_tls(cfg))
        s.unsupported = "TLS over a Unix socket";
    o.version = version_of(cfg);
    o.client_id = client_id(cfg, pid);
    if (o.client_id.empty() && o.version == protocol_version::v3_1)
        o.client_id = random_client_id();
    o.keep_alive = static_cast<std::uint16_t>(cfg.keepalive);
    o.clean_start = cfg.clean_session;
    if (cfg.username)
        o.user_name = *cfg.username;
    if (cfg.password)
        o.password = *cfg.password;
    o.topic_alias_maximum = 0;
    // libmosquitto announces a Receive Maximum of 20; mosquitto_sub -C n below 20 lowers it to n.
    o.receive_maximum = 20;
    if (cfg.msg_count > 0 && cfg.msg_count < 20)
        o.receive_maximum = static_cast<std::uint16_t>(cfg.msg_count);
    // mosquitto_sub reconnects every second; the publisher does not reconnect.
    o.reconnect_delays = {std::chrono::seconds{1}};

    std::optional<std::string> auth_method;
    std::string auth_data;
    std::vector<std::pair<std::string, std::string>> user_properties;
    std::optional<bool> problem_information;
    std::optional<bool> response_information;
    const bool v5 = o.version == protocol_version::v5;
    for (const auto& p : cfg.connect_props) {
        if (!v5)
            break; // libmosquitto refuses CONNECT properties before MQTT 5 (see the programs)
        switch (p.id) {
        case property_id::session_expiry_interval: o.session_expiry_interval = p.number; break;
        case property_id::receive_maximum:
            o.receive_maximum = static_cast<std::uint16_t>(p.number);
            break;
        case property_id::topic_alias_maximum:
            o.topic_alias_maximum = static_cast<std::uint16_t>(p.number);
            break;
        case property_id::maximum_packet_size: o.maximum_packet_size = p.number; break;
        case property_id::authentication_method: auth_method = p.text; break;
        case property_id::authentication_data: auth_data = p.text; break;
        case property_id::request_problem_information: problem_information = p.number == 1; break;
        case property_id::request_response_information: response_information = p.number == 1; break;
        case property_id::user_property: user_properties.emplace_back(p.key, p.text); break;
        default: s.unsupported = "-D connect " + p.name; break;
        }
    }
    if (auth_method) {
        s.auth.emplace(*auth_method, auth_data);
        o.auth = &*s.auth;
    } else if (!auth_data.empty()) {
        s.unsupported = "-D connect authentication-data without authentication-method";
    }
    o.connect_user_properties = std::move(user_properties);
    o.request_problem_information = problem_information;
    o.request_response_information = response_information.value_or(false);

    for (const auto& p : cfg.disconnect_props)
        if (p.id == property_id::server_reference)
            s.unsupported = "-D disconnect server-reference";

    if (cfg.will_topic) {
        message will;
        will.topic = *cfg.will_topic;
        // Not value_or(""): a view into that temporary string would dangle.
        const auto payload =
            cfg.will_payload ? as_bytes(std::string_view{*cfg.will_payload}) : bytes_view{};
        will.payload.assign(payload.begin(), payload.end());
        will.qos = static_cast<qos>(cfg.will_qos);
        will.retain = cfg.will_retain;
        if (v5) {
            if (auto bad = apply_message_properties(cfg.will_props, will))
                s.unsupported = "-D will " + *bad;
            if (const auto* d = config::find(cfg.will_props, property_id::will_delay_interval))
                o.will_delay_interval = d->number;
        }
        o.will = std::move(will);
    }
    return s;
}

/// The DISCONNECT of -D disconnect ... with `reason`.
inline disconnect_options disconnect_how(const config& cfg, disconnect_reason_code reason) {
    disconnect_options o{reason};
    for (const auto& p : cfg.disconnect_props) {
        if (p.id == property_id::session_expiry_interval)
            o.session_expiry_interval = p.number;
        else if (p.id == property_id::reason_string)
            o.reason_string = p.text;
        else if (p.id == property_id::user_property)
            o.user_properties.emplace_back(p.key, p.text);
    }
    return o;
}

/// A received message (owned), as the formatter takes it. The client hands
/// over the properties by field, not in their order on the wire; they are
/// put in the order mosquitto forwards them: Subscription Identifiers
/// first, the publisher's properties in ctmqtt's (and the specification's
/// table) order, the Message Expiry Interval last.
class received {
public:
    received(const message& m, int mid, bool v5) {
        r_.topic = m.topic;
        r_.payload = m.payload_text();
        r_.qos = static_cast<int>(m.qos);
        r_.retain = m.retain;
        r_.mid = mid;
        if (!v5)
            return;
        auto add = [&](property_id id, std::uint32_t n, std::string_view text = {},
                       std::string_view key = {}) {
            r_.properties.push_back({id, n, text, key});
        };
        for (auto id : m.subscription_identifiers)
            add(property_id::subscription_identifier, id);
        if (m.payload_is_utf8)
            add(property_id::payload_format_indicator, 1);
        if (m.content_type)
            add(property_id::content_type, 0, *m.content_type);
        if (m.response_topic)
            add(property_id::response_topic, 0, *m.response_topic);
        if (m.correlation_data)
            add(property_id::correlation_data, 0, as_string(*m.correlation_data));
        for (const auto& [k, v] : m.user_properties)
            add(property_id::user_property, 0, v, k);
        if (m.message_expiry_interval)
            add(property_id::message_expiry_interval, *m.message_expiry_interval);
    }
    const received_message& get() const noexcept { return r_; }

private:
    received_message r_;
};

} // namespace ctmqtt::tools
