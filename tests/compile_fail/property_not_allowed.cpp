// expect: this property is not allowed in this packet
// Topic Alias is a PUBLISH property (MQTT 5 §2.2.2.2, Table 2-4): setting it
// on CONNECT's properties must not compile. The static_assert in
// property_set::slot_index names the rule. (tests/core/test_tables.cpp
// checks that the allowed variants compile.)
#include <cstdint>

#include <ctmqtt/ctmqtt.hpp>

int main() {
    ctmqtt::connect c;
    c.properties.set<ctmqtt::property_id::topic_alias>(std::uint16_t{1});
    return 0;
}
