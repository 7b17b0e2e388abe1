// Catch2 v2 test runner for ctmqtt's unit tests (tests/core/*.cpp).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
