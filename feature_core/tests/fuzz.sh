#!/usr/bin/env bash
# fuzz.sh [WORK_DIR] [SECONDS]
#
# Builds the libFuzzer target fuzz_api.c with the feature core sources
# (clang -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all) and runs it
# for SECONDS (default 30) starting from the committed seed corpus
# feature_core/tests/fuzz_corpus/ (read only: new inputs go to WORK_DIR/corpus). A crash,
# sanitizer report or broken invariant fails the run and leaves the input in WORK_DIR
# (reproduce with: WORK_DIR/fuzz_api WORK_DIR/crash-...).
#
# Environment: DWCP_CLANG (default clang), DWCP_FUZZ_CFLAGS (extra compiler flags, e.g.
# -DFC_FUZZ_STATS), DWCP_FUZZ_ARGS (extra libFuzzer flags, e.g. -jobs=2).
set -uo pipefail

script=fuzz
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
work="${1:-}"
seconds="${2:-30}"


require_clang "the fuzz target needs clang with libFuzzer"
case "$seconds" in
    '' | *[!0-9]*) fail "SECONDS must be a whole number, got '$seconds'" ;;
esac
use_work_dir
mkdir -p "$work"
rm -rf "$work/corpus" "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*
mkdir -p "$work/corpus"

exe="$work/fuzz_api"
# shellcheck disable=SC2086
if ! "$clang_bin" -std=c11 -g -O1 -ffp-contract=off -Wall -Wextra -Wpedantic \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all ${DWCP_FUZZ_CFLAGS:-} \
    -I"$core/include" "$here/fuzz_api.c" "$core"/src/*.c -lm -o "$exe" 2>"$work/build.log"; then
    cat "$work/build.log" >&2
    fail "building fuzz_api failed (does '$clang_bin' ship libFuzzer and the sanitizer runtimes? Debian: apt-get install clang)"
fi

export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
log="$work/fuzz.log"
start=$(date +%s)
# shellcheck disable=SC2086
"$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
    -print_final_stats=1 -artifact_prefix="$work/" ${DWCP_FUZZ_ARGS:-} \
    "$work/corpus" "$here/fuzz_corpus" >"$log" 2>&1
rc=$?
elapsed=$(($(date +%s) - start))

execs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)"
rate="$(grep -Eo 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)"
cov="$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)"
if [ "$rc" -ne 0 ]; then
    echo "fuzz: fuzz_api stopped after ${elapsed}s, ${execs:-?} executions (exit $rc):" >&2
    grep -E 'fuzz_api:|runtime error:|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|^SUMMARY|Test unit written' "$log" | head -20 >&2
    crash="$(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | head -1)"
    [ -n "$crash" ] && echo "fuzz: reproduce with: $exe $crash" >&2
    echo "fuzz: full log: $log" >&2
    fail "fuzz_api found a problem"
fi
echo "fuzz: clean: ${execs:-?} executions in ${elapsed}s (${rate:-?} exec/s), ${cov:-coverage n/a}, corpus $(ls "$work/corpus" | wc -l) new + $(ls "$here/fuzz_corpus" | wc -l) seed inputs"
