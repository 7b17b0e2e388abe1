// Consumer of an installed ctmqtt: found through find_package (CMake) or
// pkg-config; see scripts/test.sh, step f.
#include <iostream>

#include <ctmqtt/ctmqtt.hpp>

int main() {
#ifdef CTMQTT_EXPECTED_VERSION
    if (ctmqtt::version_string != CTMQTT_EXPECTED_VERSION) {
        std::cerr << "header says " << ctmqtt::version_string << ", package says "
                  << CTMQTT_EXPECTED_VERSION << '\n';
        return 1;
    }
#endif
    std::cout << "consumer: ctmqtt " << ctmqtt::version_string << '\n';
    return 0;
}
