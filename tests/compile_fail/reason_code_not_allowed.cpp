// expect: reason_code_not_allowed_in_this_packet
// Banned (0x8A) is a CONNACK reason code, not a PUBACK one (MQTT 5 §3.4.2.1):
// the consteval constructor of basic_reason_code<PUBACK> calls a non-constexpr
// function, whose name the compiler reports. (tests/core/test_tables.cpp
// checks that the allowed variants compile.)
#include <ctmqtt/ctmqtt.hpp>

int main() {
    ctmqtt::puback a;
    a.reason_code = ctmqtt::reason::banned;
    return a.reason_code.value();
}
