#!/usr/bin/env bash
# The README's first command: installs what ctmqtt needs (Debian 12), builds
# the demo and runs it. The demo encodes and decodes one packet of every type
# in every protocol version and prints the bytes and the decoded packets.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target ctmqtt_demo -j "${CTMQTT_JOBS:-2}"
echo
build/examples/ctmqtt_demo
