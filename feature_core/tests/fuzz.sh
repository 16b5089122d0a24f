#!/usr/bin/env bash
# fuzz.sh [WORK_DIR] [SECONDS]
#
# Builds the libFuzzer targets fuzz_api.c (windows, resampling, names), fuzz_place.c
# (placement factors), fuzz_drift.c (drift statistics), fuzz_partition.c (task
# partitioning) and fuzz_trees.c (tree ensembles) with the feature core sources
# (clang -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all) and runs
# them at the same time for SECONDS (default 30), each from its committed seed corpus
# (feature_core/tests/fuzz_corpus/, fuzz_corpus_place/, fuzz_corpus_drift/,
# fuzz_corpus_partition/ and fuzz_corpus_trees/, read only:
# new inputs go to WORK_DIR/<target>/corpus). A crash, sanitizer report or broken invariant fails the run and
# leaves the input in WORK_DIR/<target> (reproduce with: WORK_DIR/<target>/<target>
# WORK_DIR/<target>/crash-...).
#
# Environment: DWCP_CLANG (default clang), DWCP_FUZZ_CFLAGS (extra compiler flags, e.g.
# -DFC_FUZZ_STATS), DWCP_FUZZ_ARGS (extra libFuzzer flags, e.g. -jobs=2).
set -uo pipefail

script=fuzz
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
work="${1:-}"
seconds="${2:-30}"

require_clang "the fuzz targets need clang with libFuzzer"
case "$seconds" in
    '' | *[!0-9]*) fail "SECONDS must be a whole number, got '$seconds'" ;;
esac
use_work_dir
mkdir -p "$work"

targets=(fuzz_api fuzz_place fuzz_drift fuzz_partition fuzz_trees)
declare -A seeds=([fuzz_api]="$here/fuzz_corpus" [fuzz_place]="$here/fuzz_corpus_place"
    [fuzz_drift]="$here/fuzz_corpus_drift" [fuzz_partition]="$here/fuzz_corpus_partition"
    [fuzz_trees]="$here/fuzz_corpus_trees")

build() {
    local t="$1" dir="$work/$1"
    rm -rf "$dir"
    mkdir -p "$dir/corpus"
    # shellcheck disable=SC2086
    "$clang_bin" -std=c11 -g -O1 -ffp-contract=off -Wall -Wextra -Wpedantic \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all ${DWCP_FUZZ_CFLAGS:-} \
        -I"$core/include" "$here/$t.c" "$core"/src/*.c -lm -o "$dir/$t" 2>"$dir/build.log"
}

for t in "${targets[@]}"; do
    if ! build "$t"; then
        cat "$work/$t/build.log" >&2
        fail "building $t failed (does '$clang_bin' ship libFuzzer and the sanitizer runtimes? Debian: apt-get install clang)"
    fi
done

export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
start=$(date +%s)
declare -A pids=()
for t in "${targets[@]}"; do
    dir="$work/$t"
    # shellcheck disable=SC2086
    "$dir/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
        -print_final_stats=1 -artifact_prefix="$dir/" ${DWCP_FUZZ_ARGS:-} \
        "$dir/corpus" "${seeds[$t]}" >"$dir/fuzz.log" 2>&1 &
    pids[$t]=$!
done
status=0
for t in "${targets[@]}"; do
    wait "${pids[$t]}"
    rc=$?
    dir="$work/$t"
    log="$dir/fuzz.log"
    elapsed=$(($(date +%s) - start))
    execs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)"
    rate="$(grep -Eo 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)"
    cov="$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)"
    if [ "$rc" -ne 0 ]; then
        echo "fuzz: $t stopped after ${elapsed}s, ${execs:-?} executions (exit $rc):" >&2
        grep -E "$t:|runtime error:|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|^SUMMARY|Test unit written" "$log" | head -20 >&2
        crash="$(ls "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-* 2>/dev/null | head -1)"
        [ -n "$crash" ] && echo "fuzz: reproduce with: $dir/$t $crash" >&2
        echo "fuzz: full log: $log" >&2
        status=1
        continue
    fi
    echo "fuzz: $t clean: ${execs:-?} executions in ${elapsed}s (${rate:-?} exec/s), ${cov:-coverage n/a}, corpus $(ls "$dir/corpus" | wc -l) new + $(ls "${seeds[$t]}" | wc -l) seed inputs"
done
[ "$status" -eq 0 ] || fail "a fuzz target found a problem"
