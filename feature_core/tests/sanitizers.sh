#!/usr/bin/env bash
# sanitizers.sh GOLDEN_FILE [WORK_DIR [MORE_GOLDEN_FILES...]]
#
# Builds test_api, test_drift, test_partition, test_trees, fc_golden and fc_golden_trees
# (the tree vectors of $DWCP_FC_TREES_GOLDEN, default golden/trees_v1.txt) with the feature core
# sources under AddressSanitizer + UndefinedBehaviorSanitizer (-fsanitize=address,undefined
# -fno-sanitize-recover=all -g), with clang and with gcc, and runs both: the unit tests and
# `fc_golden check GOLDEN_FILE MORE_GOLDEN_FILES...` (window features and placement
# factors). Any sanitizer report, leak or test failure fails the run.
#
# Compilers: $DWCP_CLANG (default clang, required) and $DWCP_GCC (default gcc; skipped with
# a note when it has no sanitizer runtime).
set -uo pipefail

script=sanitizers
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
golden="${1:-}"
work="${2:-}"
require_golden
goldens=("$golden")
for extra in "${@:3}"; do
    [ -f "$extra" ] || fail "golden file not found: $extra"
    goldens+=("$extra")
done
require_clang "the sanitizer build needs clang"
trees_golden="${DWCP_FC_TREES_GOLDEN:-$here/../../golden/trees_v1.txt}"
[ -f "$trees_golden" ] || fail "tree golden file not found: $trees_golden"

use_work_dir
rm -rf "$work"
mkdir -p "$work"

san=(-fsanitize=address,undefined -fno-sanitize-recover=all -g -O1 -fno-omit-frame-pointer)
flags=(-std=c11 -ffp-contract=off -Wall -Wextra -Wpedantic -I"$core/include" -I"$core/src")
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

status=0
compilers=(clang)
if command -v "$gcc_bin" >/dev/null 2>&1 &&
    echo 'int main(void){return 0;}' >"$work/probe.c" &&
    "$gcc_bin" "${san[@]}" "$work/probe.c" -o "$work/probe" >/dev/null 2>&1 &&
    "$work/probe" >/dev/null 2>&1; then
    compilers+=(gcc)
else
    echo "sanitizers: note: gcc sanitizer runtime not available, running clang only"
fi

for cc_name in "${compilers[@]}"; do
    cc="$clang_bin"
    [ "$cc_name" = gcc ] && cc="$gcc_bin"
    for prog in test_api test_drift test_partition test_trees fc_golden fc_golden_trees; do
        exe="$work/$cc_name-$prog"
        if ! "$cc" "${flags[@]}" "${san[@]}" "$here/$prog.c" "$core"/src/*.c -lm -o "$exe" \
            2>"$exe.build.log"; then
            cat "$exe.build.log" >&2
            fail "$cc_name: building $prog failed"
        fi
    done
    for run in test_api test_drift test_partition test_trees fc_golden fc_golden_trees; do
        exe="$work/$cc_name-$run"
        log="$exe.log"
        if [ "$run" = fc_golden ]; then
            "$exe" check "${goldens[@]}" >"$log" 2>&1
        elif [ "$run" = fc_golden_trees ]; then
            "$exe" check "$trees_golden" >"$log" 2>&1
        else
            "$exe" >"$log" 2>&1
        fi
        rc=$?
        summary="$(tail -n 1 "$log")"
        if grep -Eq 'runtime error:|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|SUMMARY: [A-Za-z]+Sanitizer' "$log"; then
            echo "sanitizers: $cc_name $run: SANITIZER REPORT (exit $rc):"
            grep -E -A12 'runtime error:|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer' "$log" | head -40
            status=1
        elif [ "$rc" -ne 0 ]; then
            echo "sanitizers: $cc_name $run: tests failed under sanitizers (exit $rc):"
            grep -E '^(FAIL|vector|file) ' "$log" | head -20
            echo "  $summary"
            status=1
        else
            echo "sanitizers: $cc_name $run: clean ($summary)"
        fi
    done
done

[ "$status" -eq 0 ] || fail "see above"
echo "sanitizers: all clean (${compilers[*]}: test_api, test_drift, test_partition, test_trees, fc_golden check, fc_golden_trees check)"
