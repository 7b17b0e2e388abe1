// Which transport ctmqtt-pub, ctmqtt-sub and ctmqtt-bench connect over,
// and how: a plain description the programs fill from their options. No
// Asio and no OpenSSL here (so the option tests need neither);
// tools/common/transport.hpp runs it, and transport.cpp, compiled once for
// the three programs, holds everything that includes OpenSSL and Beast.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

#include <ctmqtt/transport/url.hpp>

namespace ctmqtt::tools {

/// What TLS trusts and presents (ctmqtt::transport::tls_options, reduced to
/// what the programs' options can say).
struct tls_settings {
    std::string ca_file;      ///< --cafile
    std::string ca_directory; ///< --capath
    /// Trust the system's store as well (--tls-use-os-certs, mqtts://);
    /// with neither CA option it is the only trust.
    bool system_store = false;
    std::string certificate_file; ///< --cert
    /// --key. An encrypted key: OpenSSL asks for its password on the
    /// terminal ("Enter PEM pass phrase:"), as it does for mosquitto's programs.
    std::string private_key_file;
    bool verify_host_name = true;   ///< false with mosquitto's --insecure
    bool skip_verification = false; ///< ctmqtt-bench --insecure: no CA and no name check
    bool tls13_only = false;        ///< --tls-version tlsv1.3
    std::string alpn;               ///< --tls-alpn (empty: none)
    std::string ciphers;            ///< --ciphers (TLS 1.2)
};

struct transport_settings {
    transport::url_scheme scheme = transport::url_scheme::mqtt;
    std::string websocket_path = "/"; ///< ws and wss: the request target
    tls_settings tls;                 ///< mqtts and wss

    bool secure() const noexcept {
        return scheme == transport::url_scheme::mqtts || scheme == transport::url_scheme::wss;
    }
};

/// Kinds of failure mosquitto's programs report differently.
enum class failure_kind : std::uint8_t {
    other,
    tls_setup,              ///< the TLS options could not be used (a bad CA file, key, cipher list)
    tls_handshake,          ///< the server's certificate was refused, or TLS failed
    tls_client_certificate, ///< the server wanted (another) client certificate and hung up
};

/// Which kind `ec` is (defined in transport.cpp, which knows the TLS errors).
failure_kind classify_failure(const std::error_code& ec);

} // namespace ctmqtt::tools
