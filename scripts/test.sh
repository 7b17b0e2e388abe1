#!/usr/bin/env bash
# ctmqtt's full test run: the README's second command, and what CI runs. It
# installs the dependencies first (scripts/install-deps.sh, idempotent).
#
#   scripts/test.sh
#
# Steps, in order (each prints a banner and its duration; the first failure
# stops the run and names the step):
#   build      CMake + Ninja, RelWithDebInfo, in build/; ctest
#   asan       the same with CTMQTT_SANITIZE=ON (ASan + UBSan), in build-asan/; ctest
#   fuzz       libFuzzer (clang++-14) on a copy of fuzz/corpus, in build-fuzz/
#              (only if fuzz/decoder_fuzz.cpp exists)
#   amalgamate single_include/ctmqtt/ctmqtt.hpp is up to date
#   meson      meson setup/compile/test in build-meson/ (single header and
#              ctmqtt_dep consumer; the unit tests too with CTMQTT_MESON_CORE_TESTS=true)
#   install    cmake --install into a temporary prefix, then a consumer project
#              with find_package(ctmqtt) and a pkg-config compile against it
#
# Environment:
#   CTMQTT_STEPS="build asan ..."  run only these steps (default: all, in order)
#   CTMQTT_FUZZ_SECONDS=60         fuzzing time
#   CTMQTT_JOBS=2                  parallel build and test jobs
#   CTMQTT_CLEAN=1                 delete the build trees first (default: reuse)
#   CTMQTT_MESON_CORE_TESTS=true   also build/run the Catch2 tests under Meson
#   CXX                            compiler for the build/asan/meson steps
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

jobs=${CTMQTT_JOBS:-2}
fuzz_seconds=${CTMQTT_FUZZ_SECONDS:-60}
steps=${CTMQTT_STEPS:-build asan fuzz amalgamate meson install}
fuzz_cxx=${CTMQTT_FUZZ_CXX:-clang++-14}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ctmqtt-test.XXXXXX")
current_step=setup
summary=()

finish() {
    local rc=$?
    rm -rf "$tmp"
    if ((rc != 0)); then
        printf '\n==== test.sh: FAILED in step "%s" (exit %d) ====\n' "$current_step" "$rc" >&2
    fi
}
trap finish EXIT

banner() {
    printf '\n==================== %s ====================\n' "$*"
}

run_step() {
    local name=$1
    shift
    case " $steps " in *" $name "*) ;; *) return 0 ;; esac
    current_step=$name
    banner "$name: $*"
    local start=$SECONDS
    "step_$name"
    local took=$((SECONDS - start))
    summary+=("$(printf '%-11s %4ds  %s' "$name" "$took" "$*")")
    printf -- '---- %s: ok (%ds)\n' "$name" "$took"
}

if [ "${CTMQTT_SKIP_DEPS:-0}" != 1 ]; then
    scripts/install-deps.sh
fi

if [ "${CTMQTT_CLEAN:-0}" = 1 ]; then
    rm -rf build build-asan build-fuzz build-meson
fi

passed=0
failed=0
# Runs ctest in a build tree and adds its counts to the totals.
run_ctest() {
    local log=$tmp/ctest.log rc=0
    ctest --test-dir "$1" --output-on-failure -j "$jobs" 2>&1 | tee "$log" || rc=$?
    local line total bad
    line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
    total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
    bad=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
    passed=$((passed + ${total:-0} - ${bad:-0}))
    failed=$((failed + ${bad:-0}))
    return "$rc"
}

step_build() {
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
    cmake --build build -j "$jobs"
    run_ctest build
}

step_asan() {
    # The library's tests only: the examples, the tools and the facades'
    # tests are built (and run) in the build step; compiling them again with
    # sanitizers would cost many minutes on two cores (the facades' four test
    # files each instantiate every transport) and exercise the same client.
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCTMQTT_SANITIZE=ON -DCTMQTT_BUILD_BENCHMARKS=OFF -DCTMQTT_BUILD_EXAMPLES=OFF \
        -DCTMQTT_BUILD_TOOLS=OFF -DCTMQTT_FACADE_TESTS=OFF
    cmake --build build-asan -j "$jobs"
    run_ctest build-asan
}

step_fuzz() {
    if [ ! -f fuzz/decoder_fuzz.cpp ]; then
        echo "fuzz/decoder_fuzz.cpp does not exist: skipped"
        return 0
    fi
    cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_COMPILER="$fuzz_cxx" -DCTMQTT_BUILD_FUZZ=ON \
        -DCTMQTT_BUILD_TESTS=OFF -DCTMQTT_BUILD_BENCHMARKS=OFF -DCTMQTT_BUILD_EXAMPLES=OFF
    cmake --build build-fuzz -j "$jobs" --target ctmqtt_decoder_fuzz

    # Fuzz a copy of the committed corpus: new inputs and crash files stay
    # out of the source tree. Findings are written to build-fuzz/findings/.
    local corpus=$tmp/corpus findings=$root/build-fuzz/findings
    mkdir -p "$corpus"
    if [ -d fuzz/corpus ]; then
        cp -R fuzz/corpus/. "$corpus/"
    fi
    rm -rf "$findings"
    mkdir -p "$findings"
    local log=$root/build-fuzz/fuzz.log
    echo "fuzzing for ${fuzz_seconds}s on a copy of fuzz/corpus ($(find "$corpus" -type f | wc -l) inputs); log: $log"
    local rc=0 dict=()
    if [ -f fuzz/mqtt.dict ]; then
        dict=(-dict=fuzz/mqtt.dict)
    fi
    build-fuzz/fuzz/ctmqtt_decoder_fuzz "${dict[@]}" \
        -max_total_time="$fuzz_seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$findings/" "$corpus" >"$log" 2>&1 || rc=$?
    if ((rc != 0)) || [ -n "$(ls -A "$findings")" ]; then
        tail -n 80 "$log"
        echo "fuzzer FOUND A PROBLEM (exit $rc); reproducer(s) in $findings:" >&2
        ls -l "$findings" >&2
        echo "reproduce: build-fuzz/fuzz/ctmqtt_decoder_fuzz <file>" >&2
        return 1
    fi
    grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || tail -n 5 "$log"
    echo "corpus after fuzzing: $(find "$corpus" -type f | wc -l) inputs (the copy is discarded)"
}

step_amalgamate() {
    python3 scripts/amalgamate.py --check
}

step_meson() {
    # The unit tests already ran twice (build, asan): by default Meson only
    # builds and runs the single-header and dependency checks here.
    local opts=(-Dcore_tests="${CTMQTT_MESON_CORE_TESTS:-false}")
    if [ -f build-meson/meson-private/coredata.dat ]; then
        meson setup --reconfigure build-meson "${opts[@]}"
    else
        meson setup build-meson "${opts[@]}"
    fi
    meson compile -C build-meson -j "$jobs"
    meson test -C build-meson --print-errorlogs --num-processes "$jobs"
}

step_install() {
    local prefix=$tmp/prefix
    if [ ! -f build/cmake_install.cmake ]; then # e.g. CTMQTT_STEPS=install alone
        cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
    fi
    cmake --install build --prefix "$prefix"

    echo "-- find_package(ctmqtt CONFIG REQUIRED) from $prefix"
    cmake -S tests/consumer -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix"
    cmake --build "$tmp/consumer"
    "$tmp/consumer/ctmqtt_consumer"

    echo "-- pkg-config from $prefix"
    export PKG_CONFIG_PATH="$prefix/share/pkgconfig:$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    local cflags version
    cflags=$(pkg-config --cflags ctmqtt)
    version=$(pkg-config --modversion ctmqtt)
    echo "pkg-config --cflags ctmqtt: $cflags"
    echo "pkg-config --modversion ctmqtt: $version"
    # shellcheck disable=SC2086 # word splitting of the flags is intended
    "${CXX:-c++}" -std=c++20 $cflags tests/consumer/main.cpp \
        -DCTMQTT_EXPECTED_VERSION="\"$version\"" -o "$tmp/pkgconfig-consumer"
    "$tmp/pkgconfig-consumer"
}

run_step build "CMake RelWithDebInfo build + ctest (build/)"
run_step asan "ASan+UBSan build + ctest (build-asan/)"
run_step fuzz "libFuzzer ${fuzz_seconds}s with $fuzz_cxx (build-fuzz/)"
run_step amalgamate "single_include/ctmqtt/ctmqtt.hpp is up to date"
run_step meson "meson setup/compile/test (build-meson/)"
run_step install "cmake --install + find_package + pkg-config consumers"

current_step=summary
banner "summary"
printf '%s\n' "${summary[@]}"
echo "test.sh: all ${#summary[@]} steps passed (total ${SECONDS}s)"
echo "$passed passed, $failed failed"
