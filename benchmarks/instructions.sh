#!/usr/bin/env bash
# Instructions per operation (callgrind) for the codec's PUBLISH hot paths:
# (Ir at 2N - Ir at N) / N for each case. Usage: benchmarks/instructions.sh [binary]
set -euo pipefail
bin=${1:-build/benchmarks/ctmqtt_codec_instructions}
n=20000
ir() {
    local out
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" >/dev/null 2>&1
    awk '/^summary:/ {print $2}' "$out"
    rm -f "$out"
}
printf '%-10s %s\n' case instructions/op
for c in encode decode encode4 decode4; do
    a=$(ir "$c" "$n")
    b=$(ir "$c" $((2 * n)))
    printf '%-10s %d\n' "$c" $(((b - a) / n))
done
