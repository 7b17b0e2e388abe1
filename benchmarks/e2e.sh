#!/usr/bin/env bash
# End-to-end publish benchmark, ctmqtt vs libmosquitto (benchmarks/e2e_bench.cpp).
#
#   benchmarks/e2e.sh [binary]      (default build/benchmarks/ctmqtt_e2e_bench)
#
# 1. Wall-clock table: every run (QoS 0/1/2 x 100/1000 in flight x both
#    clients) REPS times with N messages against a mosquitto the binary starts
#    itself; prints the median of each column.
# 2. Instructions per message with callgrind: the publishing side alone
#    (--only NAME) at N1 and 2*N1 messages against a mosquitto this script
#    starts (outside valgrind); (Ir(2 N1) - Ir(N1)) / N1. Ir counts user-space
#    instructions of the whole publishing process (client library, libstdc++,
#    libc), not the kernel's.
# Environment: N (default 50000), REPS (3), N1 (2000), RUNS (the --only names).
# RUNS defaults to every 1000-in-flight run of both clients.
set -euo pipefail
bin=${1:-build/benchmarks/ctmqtt_e2e_bench}
n=${N:-50000}
reps=${REPS:-3}
n1=${N1:-2000}
runs=${RUNS:-"ctmqtt-qos0-1000 mosquitto-qos0-1000 ctmqtt-qos1-1000 mosquitto-qos1-1000 ctmqtt-qos2-1000 mosquitto-qos2-1000"}

tmp=$(mktemp -d)
broker_pid=
cleanup() {
    if [[ -n $broker_pid ]]; then kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "== wall clock: N=$n, median of $reps repetitions (publishing thread's CPU and allocations) =="
for r in $(seq "$reps"); do
    "$bin" --count "$n" | tail -n +2 >>"$tmp/rows"
done
printf '%-22s %10s %12s %12s\n' run msg/s cpu_us/msg allocs/msg
# Median per run name of columns 3 (msg/s), 4 (cpu us/msg), 5 (allocs/msg);
# runs keep the binary's order.
awk '{print $1}' "$tmp/rows" | awk '!seen[$0]++' | while read -r name; do
    med() { grep "^$name " "$tmp/rows" | awk -v c="$1" '{print $c}' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    printf '%-22s %10s %12s %12s\n' "$name" "$(med 3)" "$(med 4)" "$(med 5)"
done

echo
echo "== callgrind: instructions per message, (Ir(2N) - Ir(N)) / N with N=$n1 =="
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{
    echo "listener $port 127.0.0.1"
    echo "allow_anonymous true"
    echo "persistence false"
    echo "set_tcp_nodelay true"
    "$bin" --print-config
} >"$tmp/mosquitto.conf"
${CTMQTT_MOSQUITTO:-/usr/sbin/mosquitto} -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do
    (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done
ir() { # name count -> Ir of the whole run
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$1.$2" "$bin" --only "$1" --count "$2" --port "$port" >/dev/null 2>&1
    awk '/^summary:/ {print $2}' "$tmp/cg.$1.$2"
}
printf '%-22s %14s %14s %12s\n' run "Ir(N)" "Ir(2N)" instr/msg
for name in $runs; do
    a=$(ir "$name" "$n1")
    b=$(ir "$name" $((2 * n1)))
    printf '%-22s %14d %14d %12d\n' "$name" "$a" "$b" $(((b - a) / n1))
    if [[ -n ${KEEP_CALLGRIND:-} ]]; then cp "$tmp/cg.$name.$((2 * n1))" "$KEEP_CALLGRIND/cg.$name.$((2 * n1))"; fi
done
