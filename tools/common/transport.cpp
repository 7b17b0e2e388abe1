// The transports of ctmqtt-pub, ctmqtt-sub and ctmqtt-bench, compiled once
// for the three (see transport.hpp): transport::any with type-erased
// handlers, and what the programs need to know about its errors.
#include "transport.hpp"

#include <memory>
#include <string>
#include <utility>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_executor.hpp>

#include <ctmqtt/transport/any.hpp>

namespace ctmqtt::tools {

namespace {

transport::tls_options tls_options_of(const tls_settings& s) {
    transport::tls_options o;
    o.ca_file = s.ca_file;
    o.ca_directory = s.ca_directory;
    o.use_system_store = s.system_store;
    o.certificate_file = s.certificate_file;
    o.private_key_file = s.private_key_file;
    o.verify_host_name = s.verify_host_name;
    o.dangerously_skip_verification = s.skip_verification;
    if (s.tls13_only)
        o.min_version = transport::tls_version::v1_3;
    if (!s.alpn.empty())
        o.alpn_protocols = {s.alpn};
    o.ciphers = s.ciphers;
    return o;
}

// The handler the transport gets: the erased one on the client's strand,
// with Asio's default allocator (its per-thread recycling) rather than the
// erased handler's. An any_completion_handler's allocator refers to the
// handler object itself, which is gone once the handler has run; the
// WebSocket transport keeps Beast's read, made with that allocator, pending
// after the client's read completed (the clean close goes on in the
// background, possibly past the client), and freed it through a dangling
// pointer (found by AddressSanitizer).
template <class Handler>
auto on_strand(any_transport::executor_type ex, Handler handler) {
    return boost::asio::bind_allocator(
        std::allocator<void>(), boost::asio::bind_executor(std::move(ex), std::move(handler)));
}

} // namespace

struct any_transport::impl {
    explicit impl(const executor_type& ex) : t(ex) {}
    transport::any t;
};

any_transport::any_transport(const executor_type& ex)
    : executor_(ex), impl_(std::make_unique<impl>(ex)) {}
any_transport::any_transport(any_transport&&) noexcept = default;
any_transport& any_transport::operator=(any_transport&&) noexcept = default;
any_transport::~any_transport() = default;

void any_transport::configure(const broker_address& address, const transport_settings& s) {
    transport::broker_url url;
    url.scheme = s.scheme;
    if (s.scheme == transport::url_scheme::unix_socket) {
        url.port = 0;
        url.path = address.host;
    } else {
        url.host = address.host;
        url.port = address.port;
        url.path = s.websocket_path;
    }
    impl_->t.add(url);
    if (s.secure())
        impl_->t.set_tls_options(tls_options_of(s.tls));
}

void any_transport::open(const broker_address& address, executor_type ex, open_handler handler) {
    impl_->t.async_open(address, on_strand(std::move(ex), std::move(handler)));
}

void any_transport::read_some(boost::asio::mutable_buffer buffer, executor_type ex,
                              io_handler handler) {
    impl_->t.async_read_some(buffer, on_strand(std::move(ex), std::move(handler)));
}

void any_transport::write(boost::asio::const_buffer buffer, executor_type ex, io_handler handler) {
    impl_->t.async_write(buffer, on_strand(std::move(ex), std::move(handler)));
}

void any_transport::close() noexcept {
    impl_->t.close();
}

bool any_transport::is_open() const noexcept {
    return impl_->t.is_open();
}

failure_kind classify_failure(const std::error_code& ec) {
    using transport::tls_errc;
    if (ec.category() != transport::tls_category())
        return failure_kind::other;
    // Not bad_ca_directory: OpenSSL 3 takes any directory name, so
    // libmosquitto fails on the certificate instead (in the handshake).
    for (auto setup : {tls_errc::bad_ca_file, tls_errc::bad_ca_certificate,
                       tls_errc::bad_client_certificate, tls_errc::bad_private_key,
                       tls_errc::private_key_mismatch, tls_errc::certificate_without_key,
                       tls_errc::bad_cipher_list, tls_errc::bad_alpn_protocols})
        if (ec == setup)
            return failure_kind::tls_setup;
    if (ec == tls_errc::client_certificate_required || ec == tls_errc::client_certificate_rejected)
        return failure_kind::tls_client_certificate;
    return failure_kind::tls_handshake;
}

} // namespace ctmqtt::tools
