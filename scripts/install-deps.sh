#!/usr/bin/env bash
# Installs everything ctmqtt's build, tests, benchmarks and demo need on Debian 12.
# Idempotent: packages already present are skipped, npm packages are installed
# into tests/node (package-lock.json pins them) only when missing.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  build-essential cmake ninja-build meson pkg-config python3
  g++ clang-14 libfuzzer-14-dev libclang-rt-14-dev clang-format-14 valgrind
  libboost1.81-dev libssl-dev catch2 libbenchmark-dev
  mosquitto mosquitto-clients libmosquitto-dev libpaho-mqtt-dev libpaho-mqttpp-dev
  libsqlite3-dev nlohmann-json3-dev libyaml-cpp-dev
)
# Node.js and npm: this machine image ships its own (nodesource, which bundles
# npm and conflicts with Debian's npm package); take Debian's only if absent.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  # NodeSource's nodejs package Provides and Conflicts with Debian's npm (it
  # ships its own /usr/bin/npm), so dpkg-query never reports npm installed and
  # asking apt for it makes the whole install fail ("held broken packages").
  # Skip the Node packages when the commands are already there.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The broker must never run as a system service behind the tests' back.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
  systemctl stop mosquitto || true
fi

# Node.js packages for the differential codec test (tests/node/package.json).
if [ ! -d "$here/tests/node/node_modules/mqtt-packet" ]; then
  (cd "$here/tests/node" && npm ci --no-audit --no-fund --silent 2>/dev/null || npm install --no-audit --no-fund --silent)
fi
echo "install-deps: done"
