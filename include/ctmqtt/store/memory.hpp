// The memory store: basic_client's default Store policy.
//
// A Store is where the client's session state lives between connections:
// the QoS 1/2 messages in flight (their encoded PUBLISH, or the PUBREL
// still owed) and the inbound QoS 2 identifiers awaiting PUBREL. The
// session keeps all of this in its own tables for as long as the client
// lives; a Store adds durability by following the changes as they happen
// and handing them back to a new client:
//
//   void stored(std::uint16_t packet_id, bool pubrel, bytes_view packet);
//   void released(std::uint16_t packet_id);
//   void inbound_qos2(std::uint16_t packet_id, bool awaiting_pubrel);
//   std::error_code restore(session&);   // called once, before the first connect
//
// The memory store adds nothing to what the session already keeps: state
// survives reconnects (with clean start off) but not the process. Its hooks
// are empty inline functions, so it costs nothing per message.
#pragma once

#include <cstdint>
#include <system_error>

#include <ctmqtt/core/session.hpp>

namespace ctmqtt::store {

struct memory {
    void stored(std::uint16_t, bool, bytes_view) noexcept {}
    void released(std::uint16_t) noexcept {}
    void inbound_qos2(std::uint16_t, bool) noexcept {}
    std::error_code restore(session&) noexcept { return {}; }
};

} // namespace ctmqtt::store
