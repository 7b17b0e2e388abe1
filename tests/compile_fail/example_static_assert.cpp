// expect: this must not compile
// Proves the compile-fail mechanism (tests/cmake/compile_fail.cmake): the
// build of this file must fail with the message above. The assertion depends
// on the template parameter, so it fires only when the template is
// instantiated, the way real compile-time checks in ctmqtt do.
#include <ctmqtt/ctmqtt.hpp>

template <typename T>
inline constexpr bool false_v = false;

template <typename T>
void reject() {
    static_assert(false_v<T>, "this must not compile");
}

int main() {
    reject<int>();
}
