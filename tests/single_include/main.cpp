// Builds against the generated single header only: the include path has
// single_include/ and NOT include/ (see tests/CMakeLists.txt and meson.build).
#include <iostream>
#include <string>

#include <ctmqtt/ctmqtt.hpp>

#if __has_include(<ctmqtt/version.hpp>)
#error "include/ is on the include path; this test must see only single_include/"
#endif

int main() {
    const std::string expected = std::to_string(ctmqtt::version_major) + "." +
                                 std::to_string(ctmqtt::version_minor) + "." +
                                 std::to_string(ctmqtt::version_patch);
    if (ctmqtt::version_string != expected) {
        std::cerr << "version_string " << ctmqtt::version_string << " != " << expected << '\n';
        return 1;
    }
    std::cout << "ctmqtt " << ctmqtt::version_string << " (single header)\n";
    return 0;
}
