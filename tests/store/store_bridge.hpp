// Test helper: a session_handler that passes the session's store hooks to a
// Store, as basic_client's handler_bridge does, and ignores everything else
// (a test overrides what it records).
#pragma once

#include <cstdint>
#include <system_error>

#include <ctmqtt/core/session.hpp>

namespace ctmqtt_test {

template <class Store>
struct store_bridge : ctmqtt::session_handler {
    explicit store_bridge(Store& s) : target(s) {}
    Store& target;

    void on_connack(const ctmqtt::connack&, std::error_code) override {}
    void on_message(const ctmqtt::publish&) override {}
    void on_publish_done(std::uint16_t, std::error_code) override {}
    void on_suback(const ctmqtt::suback&) override {}
    void on_unsuback(const ctmqtt::unsuback&) override {}
    void on_connection_closed(std::error_code) override {}
    void on_stored(std::uint16_t id, bool pubrel, ctmqtt::bytes_view packet) override {
        target.stored(id, pubrel, packet);
    }
    void on_released(std::uint16_t id) override { target.released(id); }
    void on_inbound_qos2(std::uint16_t id, bool awaiting) override {
        target.inbound_qos2(id, awaiting);
    }
};

} // namespace ctmqtt_test
