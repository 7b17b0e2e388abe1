// ctmqtt's version. Keep in sync with project() in CMakeLists.txt and
// meson.build (tests/single_include/main.cpp checks the string against the
// numbers).
#pragma once

#include <string_view>

namespace ctmqtt {

inline constexpr int version_major = 0;
inline constexpr int version_minor = 1;
inline constexpr int version_patch = 0;

/// "major.minor.patch"
inline constexpr std::string_view version_string = "0.1.0";

} // namespace ctmqtt
