#!/usr/bin/env bash
# The README's first command: installs what ctmqtt needs (Debian 12), builds
# the programs (tools and examples, not the tests) and runs the demo on the
# embedded default: its own mosquitto on a free loopback port, no broker of
# yours needed.
#
#   scripts/demo.sh
#
# What it shows:
#   1. ctmqtt-sub subscribed to demo/#, printing what arrives (-F format);
#   2. ctmqtt-pub publishing at QoS 0, 1 and 2, a retained message, and MQTT 5
#      user properties;
#   3. a will: a client connects with a will, is killed (SIGKILL), and the
#      broker publishes its will;
#   4. a short ctmqtt-bench run (publishers and a subscriber, QoS 1);
#   5. the facades: a Tenta sensor (measurements, logs, the acknowledgment of
#      a retained configuration) and an sgframework climate resource with an
#      app commanding it, each with a subscriber showing what crosses the wire;
#   6. the codec demo (every packet type encoded and decoded);
# then stops the broker.
#
# Environment: CTMQTT_JOBS (parallel build jobs, default 2),
# CTMQTT_DEMO_BUILD (build directory, default build-demo).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
build=${CTMQTT_DEMO_BUILD:-build-demo}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCTMQTT_BUILD_TESTS=OFF \
    -DCTMQTT_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" --target ctmqtt-pub ctmqtt-sub ctmqtt-bench ctmqtt_demo \
    ctmqtt_tenta_sensor ctmqtt_sg_climate_resource ctmqtt_sg_climate_app -j "${CTMQTT_JOBS:-2}"

pub="$build/tools/ctmqtt-pub"
sub="$build/tools/ctmqtt-sub"
bench="$build/tools/ctmqtt-bench"
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)

# ---------------------------------------------------------------- the broker
work=$(mktemp -d "${TMPDIR:-/tmp}/ctmqtt-demo.XXXXXX")
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{
    echo "listener $port 127.0.0.1"
    echo "allow_anonymous true"
    echo "max_queued_messages 0"
    if [ "$(id -u)" = 0 ]; then echo "user root"; fi
} >"$work/mosquitto.conf"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
"$mosquitto" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
broker=$!
pids+=("$broker")
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.05
done
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say "mosquitto (pid $broker) listens on 127.0.0.1:$port"

# ---------------------------------------------------------------- 1. a subscriber
say "ctmqtt-sub -t 'demo/#' -V 5 -F '[sub] %t qos=%q retain=%r %p'"
"$sub" -p "$port" -V 5 -t 'demo/#' -F '[sub] %t qos=%q retain=%r %p' &
pids+=("$!")
sleep 0.5

# ---------------------------------------------------------------- 2. publishing
for q in 0 1 2; do
    say "ctmqtt-pub -t demo/qos$q -q $q -m 'hello at QoS $q'"
    "$pub" -p "$port" -V 5 -t "demo/qos$q" -q "$q" -m "hello at QoS $q"
    sleep 0.2
done
say "ctmqtt-pub -t demo/status -r -m online  (retained)"
"$pub" -p "$port" -V 5 -t demo/status -r -m online
sleep 0.2
say "a later subscriber gets the retained message (ctmqtt-sub -C 1 -v)"
"$sub" -p "$port" -V 5 -t demo/status -C 1 -v
say "MQTT 5 user properties (ctmqtt-pub -D publish user-property unit celsius)"
"$sub" -p "$port" -V 5 -t demo/temperature -C 1 -F '[props] %t %p user properties: %P' &
props=$!
sleep 0.3
"$pub" -p "$port" -V 5 -t demo/temperature -m 21.5 -D publish user-property unit celsius
wait "$props" || true

# ---------------------------------------------------------------- 3. a will
say "a client with a will (--will-topic demo/will), killed with SIGKILL"
"$sub" -p "$port" -V 5 -t demo/nothing -i demo-sensor --will-topic demo/will \
    --will-payload "demo-sensor went away" --will-qos 1 >/dev/null &
victim=$!
sleep 0.5
kill -9 "$victim"
wait "$victim" 2>/dev/null || true
sleep 0.5

# ---------------------------------------------------------------- 4. a load run
say "ctmqtt-bench: 4 publishers x 2000 messages at QoS 1, one subscriber"
"$bench" sub -p "$port" -t 'bench/#' -q 1 --count 8000 --quiet &
bench_sub=$!
sleep 0.5
"$bench" pub -p "$port" -c 4 -t 'bench/%i' -q 1 --count 2000 --quiet
wait "$bench_sub"

# ---------------------------------------------------------------- 5. the facades
say "Tenta: a sensor publishes measurements and logs, and acknowledges its configuration"
echo "(a subscriber on measurements/#, logs/#, acknowledgments/# and configurations/# shows the wire)"
"$sub" -p "$port" -t 'measurements/#' -t 'logs/#' -t 'acknowledgments/#' -t 'configurations/#' \
    -F '[wire] %t retain=%r %p' &
wire=$!
pids+=("$wire")
sleep 0.3
# The Tenta server's part: a retained configuration for the sensor (revision 7).
"$pub" -p "$port" -t configurations/demo-sensor -q 1 -r \
    -m '{"revision": 7, "configuration": {"interval": 60, "unit": "celsius"}}'
"$build/examples/ctmqtt_tenta_sensor" --port "$port" --sensor demo-sensor --rounds 2 \
    --interval-ms 300 | sed 's/^/[sensor] /'
sleep 0.3
kill "$wire" 2>/dev/null || true
wait "$wire" 2>/dev/null || true

say "sgframework: a climate resource and an app that commands it (MQTT 3.1)"
echo "(a subscriber on +/# shows the wire: presence, availability, defaults, commands, data)"
"$sub" -p "$port" -V 31 -t '+/#' -F '[wire] %t %p' &
wire=$!
pids+=("$wire")
sleep 0.3
"$build/examples/ctmqtt_sg_climate_resource" 127.0.0.1 "$port" 6 | sed 's/^/[resource] /' &
resource=$!
sleep 0.5
"$build/examples/ctmqtt_sg_climate_app" 127.0.0.1 "$port" 4 | sed 's/^/[app] /'
wait "$resource" || true
sleep 0.3
kill "$wire" 2>/dev/null || true
wait "$wire" 2>/dev/null || true

# ---------------------------------------------------------------- 6. the codec
say "the codec: one packet of every type in every protocol version"
"$build/examples/ctmqtt_demo" | head -40
echo "... (run $build/examples/ctmqtt_demo for all of it)"

say "stopping mosquitto"
