// The TLS transport policy of basic_client: MQTT over TLS over TCP
// (mqtts://, port 8883), with OpenSSL through Asio.
//
//     basic_client<transport::tls> c(ex, options);
//     transport::tls_options tls;
//     tls.ca_file = "/etc/mqtt/ca.pem";       // none given: the system's store
//     c.transport().set_options(tls);
//
// - The server's certificate is verified by default: against a CA file, a CA
//   directory, PEM or DER bytes in memory, or (when none is given) the
//   system's store; and its name against the host connected to (or
//   tls_options::server_name), which is also sent as SNI. Turning that off
//   takes `dangerously_skip_verification = true`.
// - A client certificate and key from files or memory (PEM or DER), the key
//   optionally encrypted with a password.
// - TLS 1.2 at least by default; TLS 1.3 when both sides have it. ALPN,
//   cipher lists (1.2) and ciphersuites (1.3).
// - Every async_open makes a new ssl::stream: one that has been used cannot
//   be used again.
// - A refusal says why, as a tls_errc error: an unknown CA, an expired
//   certificate, a host name mismatch, the server's refusal of our
//   certificate, or OpenSSL's reason for any other handshake failure.
//
// Includes OpenSSL: link with -lssl -lcrypto (CMake: OpenSSL::SSL).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <ctmqtt/client/options.hpp>
#include <ctmqtt/core/result.hpp>
#include <ctmqtt/transport/detail/error_text.hpp>
#include <ctmqtt/transport/detail/operations.hpp>

namespace ctmqtt::transport {

enum class tls_version : std::uint8_t { v1_2, v1_3 };

/// How to set up TLS. Trust comes from ca_file, ca_directory, ca_pem and
/// ca_der together; when none of them is given, from the system's store.
struct tls_options {
    // ---- whom to trust
    std::string ca_file;      ///< PEM file with one or more CA certificates
    std::string ca_directory; ///< directory of CA certificates named by hash (`openssl rehash`)
    std::string ca_pem;       ///< CA certificates as PEM text
    std::vector<std::vector<std::byte>> ca_der; ///< CA certificates, one DER blob each
    bool use_system_store = false; ///< trust the system's store as well as the CAs above

    // ---- who we are, when the server asks for a client certificate
    std::string certificate_file;           ///< PEM: the certificate, then its chain
    std::string certificate_pem;            ///< the same as text
    std::vector<std::byte> certificate_der; ///< the certificate alone, DER
    std::string private_key_file;           ///< PEM
    std::string private_key_pem;
    std::vector<std::byte> private_key_der;
    std::string private_key_password; ///< for an encrypted key

    // ---- the server's name
    /// Sent as SNI and verified against the certificate instead of the host
    /// connected to (empty: that host). SNI is never sent for an IP address.
    std::string server_name;
    bool verify_host_name = true; ///< check the certificate's names (subjectAltName)

    // ---- the protocol
    tls_version min_version = tls_version::v1_2;
    std::optional<tls_version> max_version;  ///< none: the newest both sides have
    std::vector<std::string> alpn_protocols; ///< offered in order, e.g. {"mqtt"}
    std::string ciphers;      ///< TLS 1.2: an OpenSSL cipher list ("" : OpenSSL's default)
    std::string ciphersuites; ///< TLS 1.3: an OpenSSL ciphersuite list ("": the default)

    /// Accept any certificate from anyone: no CA check, no name check. For
    /// tests against throwaway brokers only; a connection made this way can be
    /// read and changed by whoever sits in between.
    bool dangerously_skip_verification = false;

    /// A context of your own (for what the fields above cannot say): used
    /// instead of one built from the fields above, which are then ignored
    /// except server_name, verify_host_name and dangerously_skip_verification.
    std::shared_ptr<boost::asio::ssl::context> context;
};

/// Why TLS failed. Each message starts with "TLS" and quotes the detail
/// (the file, the host name, OpenSSL's reason).
enum class tls_errc : std::uint8_t {
    // the options
    bad_ca_file = 1,         ///< detail: file and OpenSSL's reason
    bad_ca_directory,        ///< detail: directory
    bad_ca_certificate,      ///< ca_pem / ca_der could not be read; detail: reason
    bad_client_certificate,  ///< detail: file or "memory", and reason
    bad_private_key,         ///< detail: file or "memory", and reason (a wrong password too)
    private_key_mismatch,    ///< the key does not belong to the certificate
    certificate_without_key, ///< a client certificate without a private key, or the reverse
    bad_cipher_list,         ///< detail: the list
    bad_alpn_protocols,      ///< empty or longer than 255 bytes
    // the server's certificate
    unknown_ca,                ///< not signed by a trusted CA; detail: OpenSSL's verify result
    certificate_expired,       ///< detail: OpenSSL's verify result
    certificate_not_yet_valid, ///< detail: OpenSSL's verify result
    host_name_mismatch,        ///< detail: the name verified
    certificate_revoked,       ///< detail: OpenSSL's verify result
    certificate_rejected,      ///< any other verify failure; detail: OpenSSL's verify result
    // the handshake and the session
    handshake_failed,            ///< detail: OpenSSL's reason
    client_certificate_required, ///< the server wants a client certificate and got none
    client_certificate_rejected, ///< the server refused ours; detail: the alert
    session_failed,              ///< a TLS error after the handshake; detail: OpenSSL's reason
};

namespace detail {

struct tls_error_traits {
    using errc = tls_errc;
    static constexpr const char* name = "ctmqtt.tls";
    static std::string message(tls_errc e, std::uint32_t text) {
        const auto q = quoted(text);
        const auto paren = [&] {
            return text == 0 ? std::string{} : " (" + error_texts::recall(text) + ")";
        };
        switch (e) {
        case tls_errc::bad_ca_file: return "TLS: cannot load the CA file" + q;
        case tls_errc::bad_ca_directory: return "TLS: cannot use the CA directory" + q;
        case tls_errc::bad_ca_certificate:
            return "TLS: cannot read the CA certificate given in memory" + paren();
        case tls_errc::bad_client_certificate: return "TLS: cannot load the client certificate" + q;
        case tls_errc::bad_private_key:
            return "TLS: cannot load the private key" + q + " (a wrong password?)";
        case tls_errc::private_key_mismatch:
            return "TLS: the private key does not belong to the client certificate";
        case tls_errc::certificate_without_key:
            return "TLS: a client certificate needs its private key, and a key its certificate";
        case tls_errc::bad_cipher_list: return "TLS: no usable cipher in the list" + q;
        case tls_errc::bad_alpn_protocols:
            return "TLS: an ALPN protocol name must be 1 to 255 bytes long";
        case tls_errc::unknown_ca:
            return "TLS: the server's certificate is not signed by a trusted certificate "
                   "authority" +
                   paren();
        case tls_errc::certificate_expired:
            return "TLS: the server's certificate has expired" + paren();
        case tls_errc::certificate_not_yet_valid:
            return "TLS: the server's certificate is not valid yet" + paren();
        case tls_errc::host_name_mismatch:
            return "TLS: the server's certificate is not valid for the host name" + q +
                   " (host name mismatch)";
        case tls_errc::certificate_revoked:
            return "TLS: the server's certificate has been revoked" + paren();
        case tls_errc::certificate_rejected:
            return "TLS: the server's certificate was refused" + paren();
        case tls_errc::handshake_failed: return "TLS handshake failed" + paren();
        case tls_errc::client_certificate_required:
            return "TLS: the server requires a client certificate (tls_options::certificate_file)";
        case tls_errc::client_certificate_rejected:
            return "TLS: the server refused the client certificate" + paren();
        case tls_errc::session_failed: return "TLS session failed" + paren();
        }
        return "TLS error";
    }
};

} // namespace detail

inline const std::error_category& tls_category() noexcept {
    return detail::packed_category<detail::tls_error_traits>::instance();
}

/// An error of `e` whose message quotes `text`.
inline std::error_code make_error_code(tls_errc e, std::string_view text = {}) {
    return detail::packed_error_quoting<detail::tls_error_traits>(e, text);
}

inline std::error_condition make_error_condition(tls_errc e) noexcept {
    return detail::packed_condition<detail::tls_error_traits>(e);
}

namespace detail {

namespace ssl = boost::asio::ssl;

/// OpenSSL's reason for an error of Asio's SSL category ("wrong version number").
inline std::string openssl_reason(const boost::system::error_code& ec) {
    if (ec.category() == boost::asio::error::get_ssl_category()) {
        if (const char* r = ::ERR_reason_error_string(static_cast<unsigned long>(ec.value())))
            return r;
    }
    return ec.message();
}

inline std::string with_reason(std::string_view what, const boost::system::error_code& ec) {
    return std::string{what} + ": " + openssl_reason(ec);
}

inline int protocol_constant(tls_version v) noexcept {
    return v == tls_version::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
}

inline std::error_code add_der_authority(ssl::context& ctx, const std::vector<std::byte>& der) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    X509* cert = ::d2i_X509(nullptr, &p, static_cast<long>(der.size()));
    if (cert == nullptr)
        return make_error_code(tls_errc::bad_ca_certificate, "not a DER certificate");
    const int ok = ::X509_STORE_add_cert(::SSL_CTX_get_cert_store(ctx.native_handle()), cert);
    ::X509_free(cert);
    if (ok != 1)
        return make_error_code(tls_errc::bad_ca_certificate, "the store refused it");
    return {};
}

// Whom to trust: the CAs given, else the system's store.
inline std::error_code load_trust(ssl::context& ctx, const tls_options& o) {
    boost::system::error_code ec;
    if (!o.ca_file.empty()) {
        ctx.load_verify_file(o.ca_file, ec);
        if (ec)
            return make_error_code(tls_errc::bad_ca_file, with_reason(o.ca_file, ec));
    }
    if (!o.ca_directory.empty()) {
        std::error_code fs;
        if (!std::filesystem::is_directory(o.ca_directory, fs))
            return make_error_code(tls_errc::bad_ca_directory,
                                   o.ca_directory + ": not a directory");
        ctx.add_verify_path(o.ca_directory, ec);
        if (ec)
            return make_error_code(tls_errc::bad_ca_directory, with_reason(o.ca_directory, ec));
    }
    if (!o.ca_pem.empty()) {
        ctx.add_certificate_authority(boost::asio::buffer(o.ca_pem), ec);
        if (ec)
            return make_error_code(tls_errc::bad_ca_certificate, openssl_reason(ec));
    }
    for (const auto& der : o.ca_der)
        if (auto e = add_der_authority(ctx, der))
            return e;
    const bool given =
        !o.ca_file.empty() || !o.ca_directory.empty() || !o.ca_pem.empty() || !o.ca_der.empty();
    if (!given || o.use_system_store) {
        ctx.set_default_verify_paths(ec);
        if (ec)
            return make_error_code(tls_errc::bad_ca_directory, with_reason("system store", ec));
    }
    return {};
}

// Who we are: a client certificate and its key, when given.
inline std::error_code load_identity(ssl::context& ctx, const tls_options& o) {
    const bool has_cert =
        !o.certificate_file.empty() || !o.certificate_pem.empty() || !o.certificate_der.empty();
    const bool has_key =
        !o.private_key_file.empty() || !o.private_key_pem.empty() || !o.private_key_der.empty();
    if (!has_cert && !has_key)
        return {};
    if (has_cert != has_key)
        return make_error_code(tls_errc::certificate_without_key);
    if (!o.private_key_password.empty())
        ctx.set_password_callback(
            [password = o.private_key_password](std::size_t, ssl::context::password_purpose) {
                return password;
            });
    boost::system::error_code ec;
    if (!o.certificate_file.empty()) {
        ctx.use_certificate_chain_file(o.certificate_file, ec);
        if (ec)
            return make_error_code(tls_errc::bad_client_certificate,
                                   with_reason(o.certificate_file, ec));
    } else if (!o.certificate_pem.empty()) {
        ctx.use_certificate_chain(boost::asio::buffer(o.certificate_pem), ec);
        if (ec)
            return make_error_code(tls_errc::bad_client_certificate,
                                   with_reason("PEM in memory", ec));
    } else {
        ctx.use_certificate(boost::asio::buffer(o.certificate_der), ssl::context::asn1, ec);
        if (ec)
            return make_error_code(tls_errc::bad_client_certificate,
                                   with_reason("DER in memory", ec));
    }
    const char* key_source = "DER in memory";
    if (!o.private_key_file.empty()) {
        key_source = o.private_key_file.c_str();
        ctx.use_private_key_file(o.private_key_file, ssl::context::pem, ec);
    } else if (!o.private_key_pem.empty()) {
        key_source = "PEM in memory";
        ctx.use_private_key(boost::asio::buffer(o.private_key_pem), ssl::context::pem, ec);
    } else {
        ctx.use_private_key(boost::asio::buffer(o.private_key_der), ssl::context::asn1, ec);
    }
    if (ec && ec.category() == boost::asio::error::get_ssl_category() &&
        ERR_GET_LIB(static_cast<unsigned long>(ec.value())) == ERR_LIB_X509 &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH)
        return make_error_code(tls_errc::private_key_mismatch);
    if (ec)
        return make_error_code(tls_errc::bad_private_key, with_reason(key_source, ec));
    if (::SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
        ::ERR_clear_error();
        return make_error_code(tls_errc::private_key_mismatch);
    }
    return {};
}

inline std::error_code set_protocol(ssl::context& ctx, const tls_options& o) {
    SSL_CTX* native = ctx.native_handle();
    ::SSL_CTX_set_min_proto_version(native, protocol_constant(o.min_version));
    if (o.max_version)
        ::SSL_CTX_set_max_proto_version(native, protocol_constant(*o.max_version));
    if (!o.ciphers.empty() && ::SSL_CTX_set_cipher_list(native, o.ciphers.c_str()) != 1) {
        ::ERR_clear_error();
        return make_error_code(tls_errc::bad_cipher_list, o.ciphers);
    }
    if (!o.ciphersuites.empty() &&
        ::SSL_CTX_set_ciphersuites(native, o.ciphersuites.c_str()) != 1) {
        ::ERR_clear_error();
        return make_error_code(tls_errc::bad_cipher_list, o.ciphersuites);
    }
    if (!o.alpn_protocols.empty()) {
        std::vector<unsigned char> wire; // RFC 7301 §3.1: length-prefixed names
        for (const auto& p : o.alpn_protocols) {
            if (p.empty() || p.size() > 255)
                return make_error_code(tls_errc::bad_alpn_protocols);
            wire.push_back(static_cast<unsigned char>(p.size()));
            wire.insert(wire.end(), p.begin(), p.end());
        }
        if (::SSL_CTX_set_alpn_protos(native, wire.data(), static_cast<unsigned>(wire.size())) != 0)
            return make_error_code(tls_errc::bad_alpn_protocols);
    }
    return {};
}

/// A client context built from `o`.
inline result<std::shared_ptr<ssl::context>> make_tls_context(const tls_options& o) {
    if (o.context)
        return o.context;
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
    if (auto e = set_protocol(*ctx, o))
        return e;
    if (o.dangerously_skip_verification) {
        ctx->set_verify_mode(ssl::verify_none);
    } else {
        ctx->set_verify_mode(ssl::verify_peer);
        if (auto e = load_trust(*ctx, o))
            return e;
    }
    if (auto e = load_identity(*ctx, o))
        return e;
    return ctx;
}

/// What one TLS session needs besides the context: the name to send as SNI
/// and to verify. Copied into each open operation.
struct tls_session_params {
    std::string server_name; ///< empty: the host connected to
    bool verify_host_name = true;
    bool skip_verification = false;
    bool own_context = true; ///< built from tls_options (not the user's own context)

    static tls_session_params from(const tls_options& o) {
        return {o.server_name, o.verify_host_name, o.dangerously_skip_verification, !o.context};
    }
};

/// Sets SNI and the name to verify on a new session, and notes in `state`
/// whether the server asks for a client certificate.
inline std::error_code prepare_tls_session(SSL* ssl, const std::string& host,
                                           const tls_session_params& p, tls_session_state& state) {
    state = {};
    state.verified_name = p.server_name.empty() ? host : p.server_name;
    const auto& name = state.verified_name;
    boost::system::error_code not_ip;
    boost::asio::ip::make_address(name, not_ip);
    const bool is_ip = !not_ip;
    // RFC 6066 §3: SNI carries a host name, never an address.
    if (!is_ip && ::SSL_set_tlsext_host_name(ssl, const_cast<char*>(name.c_str())) != 1) {
        ::ERR_clear_error();
        return make_error_code(tls_errc::handshake_failed, "cannot send the server name " + name);
    }
    if (p.own_context) {
        // Called when the server asks for a client certificate. In TLS 1.3 a
        // server that refuses ours (or its absence) says so after the
        // handshake, and often closes before its alert can be read (our
        // CONNECT, unread, makes its close a reset): this explains the reset.
        ::SSL_set_cert_cb(
            ssl,
            [](SSL*, void* arg) {
                static_cast<tls_session_state*>(arg)->certificate_requested = true;
                return 1;
            },
            &state);
    }
    if (p.skip_verification) {
        ::SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
        return {};
    }
    if (p.verify_host_name) {
        int ok = 0;
        if (is_ip) {
            ok = ::X509_VERIFY_PARAM_set1_ip_asc(::SSL_get0_param(ssl), name.c_str());
        } else {
            ::SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            ok = ::SSL_set1_host(ssl, name.c_str());
        }
        if (ok != 1) {
            ::ERR_clear_error();
            return make_error_code(tls_errc::handshake_failed, "cannot verify the name " + name);
        }
    }
    return {};
}

// The server's certificate failed verification: say why.
inline std::error_code verify_failure(SSL* ssl, const std::string& name) {
    const long result = ::SSL_get_verify_result(ssl);
    const std::string text = ::X509_verify_cert_error_string(result);
    switch (result) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED: return make_error_code(tls_errc::unknown_ca, text);
    case X509_V_ERR_CERT_HAS_EXPIRED: return make_error_code(tls_errc::certificate_expired, text);
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return make_error_code(tls_errc::certificate_not_yet_valid, text);
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH: return make_error_code(tls_errc::host_name_mismatch, name);
    case X509_V_ERR_CERT_REVOKED: return make_error_code(tls_errc::certificate_revoked, text);
    default: return make_error_code(tls_errc::certificate_rejected, text);
    }
}

inline bool closed_by_peer(const boost::system::error_code& ec) noexcept {
    return ec == ssl::error::stream_truncated || ec == boost::asio::error::eof ||
           ec == boost::asio::error::connection_reset || ec == boost::asio::error::broken_pipe;
}

/// A TLS failure (in the handshake, or in a read or write after it) as an
/// error that says why; other errors (the network's) unchanged.
inline boost::system::error_code describe_tls_failure(const boost::system::error_code& ec, SSL* ssl,
                                                      const tls_session_state& state,
                                                      bool handshake) {
    if (!ec || ec == boost::asio::error::operation_aborted)
        return ec;
    if (closed_by_peer(ec)) {
        // Closed before a byte came: after asking for a client certificate,
        // that is the server refusing ours, or its absence.
        if (state.certificate_requested && !state.received)
            return ::SSL_get_certificate(ssl) == nullptr
                       ? make_error_code(tls_errc::client_certificate_required)
                       : make_error_code(tls_errc::client_certificate_rejected,
                                         "it closed the connection after asking for it");
        if (handshake)
            return make_error_code(tls_errc::handshake_failed,
                                   "the server closed the connection: is it a TLS port?");
        return ec;
    }
    if (ec.category() != boost::asio::error::get_ssl_category())
        return ec;
    const std::string reason = openssl_reason(ec);
    switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
    case SSL_R_CERTIFICATE_VERIFY_FAILED: return verify_failure(ssl, state.verified_name);
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return make_error_code(tls_errc::client_certificate_required);
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
        return make_error_code(tls_errc::client_certificate_rejected, reason);
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
        // TLS 1.2: the server ends the handshake when it wanted a certificate.
        if (state.certificate_requested && ::SSL_get_certificate(ssl) == nullptr)
            return make_error_code(tls_errc::client_certificate_required);
        [[fallthrough]];
    default:
        return make_error_code(handshake ? tls_errc::handshake_failed : tls_errc::session_failed,
                               reason);
    }
}

/// The context, built once for a set of options (again after set_options).
class tls_context_cache {
public:
    explicit tls_context_cache(tls_options o = {}) : options_(std::move(o)) {}
    void set(tls_options o) {
        options_ = std::move(o);
        context_.reset();
    }
    const tls_options& options() const noexcept { return options_; }
    result<std::shared_ptr<ssl::context>> get() {
        if (!context_) {
            auto made = make_tls_context(options_);
            if (!made)
                return made.error();
            context_ = std::move(*made);
        }
        return context_;
    }

private:
    tls_options options_;
    std::shared_ptr<ssl::context> context_;
};

/// One TLS connection: its own resolver and stream, alive as long as an
/// operation on them is (the transport makes a new one for every open).
struct tls_connection {
    tls_connection(const boost::asio::any_io_executor& ex, std::shared_ptr<ssl::context> c)
        : context(std::move(c)), resolver(ex), stream(ex, *context) {}
    std::shared_ptr<ssl::context> context; ///< holds callbacks the session uses (password)
    boost::asio::ip::tcp::resolver resolver;
    ssl::stream<boost::asio::ip::tcp::socket> stream;
    tls_session_state state;
    ctmqtt::detail::completion<> opener; ///< the caller's async_open
    bool closed = false;
};

// Translates the errors of reads and writes, and keeps the connection alive.
struct tls_hook {
    std::shared_ptr<tls_connection> c;
    void operator()(boost::system::error_code& ec) const {
        if (ec)
            ec = describe_tls_failure(ec, c->stream.native_handle(), c->state, false);
        else
            c->state.received = true;
    }
};

struct tls_open_op {
    std::shared_ptr<tls_connection> c;
    std::string host;
    std::uint16_t port;
    tls_session_params params;
    int step = 0;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}) {
        if (!ec && c->closed)
            ec = boost::asio::error::operation_aborted;
        if (ec)
            return self.complete(
                step == 2 ? describe_tls_failure(ec, c->stream.native_handle(), c->state, true)
                          : ec);
        switch (step++) {
        case 0:
            return async_connect_tcp(c->resolver, c->stream.next_layer(), c->closed, host, port,
                                     std::move(self));
        case 1:
            if (auto e = prepare_tls_session(c->stream.native_handle(), host, params, c->state))
                return self.complete(e);
            return c->stream.async_handshake(ssl::stream_base::client, std::move(self));
        default: return self.complete({});
        }
    }
};

} // namespace detail

/// The TLS transport policy (see the top of this file).
class tls {
public:
    using executor_type = boost::asio::any_io_executor;

    explicit tls(const executor_type& ex, tls_options options = {})
        : executor_(ex), contexts_(std::move(options)) {}

    tls(tls&&) noexcept = default;
    tls& operator=(tls&&) noexcept = default;
    ~tls() { close(); }

    /// Takes effect at the next async_open.
    void set_options(tls_options options) { contexts_.set(std::move(options)); }
    const tls_options& options() const noexcept { return contexts_.options(); }

    /// Builds the TLS context from the options now, so that a mistake in them
    /// (a missing CA file, a wrong key password) shows before connecting;
    /// async_open reports the same error otherwise.
    std::error_code prepare() { return contexts_.get().error(); }

    template <class Handler>
    void async_open(const broker_address& address, Handler&& handler) {
        close();
        auto context = contexts_.get();
        if (!context)
            return detail::post_failure(executor_, std::forward<Handler>(handler), context.error());
        connection_ = std::make_shared<detail::tls_connection>(executor_, std::move(*context));
        auto h = detail::erase_open_handler(connection_, executor_, std::forward<Handler>(handler));
        boost::asio::async_compose<decltype(h), void(boost::system::error_code)>(
            detail::tls_open_op{connection_, address.host, address.port,
                                detail::tls_session_params::from(contexts_.options())},
            h, connection_->stream.next_layer());
    }

    template <class MutableBuffer, class Handler>
    void async_read_some(const MutableBuffer& buffer, Handler&& handler) {
        connection_->stream.async_read_some(
            buffer, detail::hook(std::forward<Handler>(handler), detail::tls_hook{connection_}));
    }

    template <class ConstBuffers, class Handler>
    void async_write(const ConstBuffers& buffers, Handler&& handler) {
        boost::asio::async_write(
            connection_->stream, buffers,
            detail::hook(std::forward<Handler>(handler), detail::tls_hook{connection_}));
    }

    /// Closes the socket at once (no close_notify: MQTT's DISCONNECT, already
    /// written, is what ends the session); pending operations complete with
    /// operation_aborted.
    void close() noexcept {
        if (!connection_)
            return;
        connection_->closed = true;
        connection_->resolver.cancel();
        auto& socket = connection_->stream.next_layer();
        boost::system::error_code ignored;
        if (socket.is_open()) {
            socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
            socket.close(ignored);
        }
    }

    bool is_open() const noexcept {
        return connection_ && connection_->stream.next_layer().is_open();
    }

    /// After a handshake: the protocol version agreed ("TLSv1.3"), empty before.
    std::string protocol_version() const {
        return connection_ ? ::SSL_get_version(connection_->stream.native_handle()) : "";
    }

    /// After a handshake: the protocol ALPN agreed on (empty: none).
    std::string alpn_protocol() const {
        if (!connection_)
            return {};
        const unsigned char* data = nullptr;
        unsigned int size = 0;
        ::SSL_get0_alpn_selected(connection_->stream.native_handle(), &data, &size);
        return data ? std::string(reinterpret_cast<const char*>(data), size) : std::string{};
    }

    /// The current connection's stream (null before the first async_open).
    boost::asio::ssl::stream<boost::asio::ip::tcp::socket>* stream() noexcept {
        return connection_ ? &connection_->stream : nullptr;
    }

private:
    executor_type executor_;
    detail::tls_context_cache contexts_;
    std::shared_ptr<detail::tls_connection> connection_;
};

} // namespace ctmqtt::transport

template <>
struct std::is_error_condition_enum<ctmqtt::transport::tls_errc> : std::true_type {};
