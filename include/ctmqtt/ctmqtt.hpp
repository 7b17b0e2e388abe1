// ctmqtt umbrella header: includes the whole public API.
// single_include/ctmqtt/ctmqtt.hpp is generated from this file by
// scripts/amalgamate.py; re-run it after changing any header.
#pragma once

#include <ctmqtt/core.hpp>
#include <ctmqtt/version.hpp>
