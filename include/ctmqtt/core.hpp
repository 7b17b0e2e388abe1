// The sans-I/O core: codec, properties, reason codes, topics, session. No Asio,
// no OpenSSL, no threads, no clock.
#pragma once

#include <ctmqtt/core/byte_buffer.hpp>
#include <ctmqtt/core/codec.hpp>
#include <ctmqtt/core/error.hpp>
#include <ctmqtt/core/print.hpp>
#include <ctmqtt/core/properties.hpp>
#include <ctmqtt/core/reason_codes.hpp>
#include <ctmqtt/core/session.hpp>
#include <ctmqtt/core/session_error.hpp>
#include <ctmqtt/core/topic.hpp>
#include <ctmqtt/core/types.hpp>
