#!/usr/bin/env bash
# determinism_matrix.sh GOLDEN_FILE [WORK_DIR [MORE_GOLDEN_FILES...]]
#
# Builds fc_golden together with the feature core sources directly (no CMake flags) with
# {gcc, clang} x {-O0, -O3} x {-march=x86-64, -march=x86-64-v3}: ISO C11 (-std=c11), no
# fast-math and no -ffp-contract flag, exactly as the cffi and cgo builds compile the core
# (for clang the sources' `#pragma STDC FP_CONTRACT OFF` is what prevents FMA). Each build
# prints the canonical dump of the golden files (`fc_golden dump FILE...`: the window
# features and the placement factors); all 8 SHA-256 digests must be equal, and equal to
# the digest of the expected values (`fc_golden dump --expected FILE...`). The x86-64-v3
# objects of the core are disassembled: any vfmadd / vfmsub / vfnmadd / vfnmsub
# instruction fails the run. A ninth, deliberately contracting build (-std=gnu11) must give
# a different digest for EACH golden file, proving every file's vectors can see FMA.
# With DWCP_FC_PARTITION_GOLDEN set (ctest sets it to golden/partition_v1.txt), each of the
# 8 builds also runs `fc_golden_partition check` on it (and, with DWCP_FC_TREES_GOLDEN,
# `fc_golden_trees check`: golden/trees_v1.txt). No negative control: a contracting
# gcc -std=gnu11 -O3 -march=x86-64-v3 build still matches all 156 vectors (checked), since
# the rule's one contractible expression, the fraction q - floor(q), only orders the
# remainder bytes and no vector has two fractions within an FMA's rounding of each other.
#
# Compilers: $DWCP_GCC (default gcc) and $DWCP_CLANG (default clang).
set -euo pipefail

script=determinism_matrix
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
golden="${1:-}"
work="${2:-}"
require_golden
golden="$(cd "$(dirname "$golden")" && pwd)/$(basename "$golden")"
goldens=("$golden")
for extra in "${@:3}"; do
    [ -f "$extra" ] || fail "golden file not found: $extra"
    goldens+=("$(cd "$(dirname "$extra")" && pwd)/$(basename "$extra")")
done
command -v "$gcc_bin" >/dev/null 2>&1 || fail "gcc not found ('$gcc_bin'); install gcc"
require_clang "the matrix needs clang"
command -v objdump >/dev/null 2>&1 || fail "objdump not found; install binutils"
if command -v sha256sum >/dev/null 2>&1; then
    sha() { sha256sum "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then
    sha() { shasum -a 256 "$1" | cut -d' ' -f1; }
else
    fail "neither sha256sum nor shasum found"
fi

# x86-64-v3 binaries can only run on a CPU with AVX2, FMA, BMI1/2, MOVBE, F16C, LZCNT.
if [ "$(uname -m)" != "x86_64" ]; then
    fail "this matrix targets x86-64; machine is $(uname -m)"
fi
flags="$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)"
for f in avx2 fma bmi1 bmi2 movbe f16c abm; do
    case " $flags " in
        *" $f "*) ;;
        *) fail "this CPU lacks '$f', so -march=x86-64-v3 builds cannot run here" ;;
    esac
done

use_work_dir
rm -rf "$work"
mkdir -p "$work"

sources=("$core"/src/*.c)
fma_re='v(fn?m(add|sub)(sub|add)?[0-9]+[ps][sd])'
common=(-std=c11 -Wall -Wextra -Wpedantic -I"$core/include" -I"$core/src")

# build NAME CC OPT MARCH [EXTRA...]: objects in $work/NAME, binary $work/NAME/fc_golden
build() {
    local name="$1" cc="$2" opt="$3" march="$4"
    shift 4
    local dir="$work/$name" objs=() src obj
    mkdir -p "$dir"
    for src in "${sources[@]}" "$here/fc_golden.c"; do
        obj="$dir/$(basename "${src%.c}").o"
        "$cc" "${common[@]}" "$opt" "-march=$march" "$@" -c "$src" -o "$obj" 2>>"$dir/build.log" ||
            { cat "$dir/build.log" >&2; fail "build $name: $cc failed on $(basename "$src")"; }
        objs+=("$obj")
    done
    "$cc" "$opt" "-march=$march" "${objs[@]}" -lm -o "$dir/fc_golden" 2>>"$dir/build.log" ||
        { cat "$dir/build.log" >&2; fail "build $name: link failed"; }
}

# partition_check NAME: with $DWCP_FC_PARTITION_GOLDEN set, links fc_golden_partition
# against the build's core objects (its own object lives in a subdirectory, so fma_count
# still sees only the core) and requires `check` of that file to pass bit for bit.
partition_check() {
    local name="$1" cc="$2" opt="$3" march="$4"
    shift 4
    [ -n "${DWCP_FC_PARTITION_GOLDEN:-}" ] || return 0
    local dir="$work/$name" core_objs=() o
    mkdir -p "$dir/partition"
    for o in "$dir"/*.o; do
        [ "$(basename "$o")" = fc_golden.o ] || core_objs+=("$o")
    done
    "$cc" "${common[@]}" "$opt" "-march=$march" "$@" -c "$here/fc_golden_partition.c" \
        -o "$dir/partition/fc_golden_partition.o" 2>>"$dir/build.log" &&
        "$cc" "$opt" "-march=$march" "$dir/partition/fc_golden_partition.o" "${core_objs[@]}" -lm \
            -o "$dir/partition/fc_golden_partition" 2>>"$dir/build.log" ||
        { cat "$dir/build.log" >&2; fail "build $name: fc_golden_partition failed"; }
    "$dir/partition/fc_golden_partition" check "$DWCP_FC_PARTITION_GOLDEN" \
        >"$dir/partition/check.txt" 2>&1 ||
        { cat "$dir/partition/check.txt" >&2; fail "build $name: partition golden vectors differ"; }
}

# trees_check NAME: the same for fc_golden_trees and $DWCP_FC_TREES_GOLDEN (tree ensembles
# scored with ONNX Runtime's bits by every kernel).
trees_check() {
    local name="$1" cc="$2" opt="$3" march="$4"
    shift 4
    [ -n "${DWCP_FC_TREES_GOLDEN:-}" ] || return 0
    local dir="$work/$name" core_objs=() o
    mkdir -p "$dir/trees"
    for o in "$dir"/*.o; do
        [ "$(basename "$o")" = fc_golden.o ] || core_objs+=("$o")
    done
    "$cc" "${common[@]}" "$opt" "-march=$march" "$@" -c "$here/fc_golden_trees.c" \
        -o "$dir/trees/fc_golden_trees.o" 2>>"$dir/build.log" &&
        "$cc" "$opt" "-march=$march" "$dir/trees/fc_golden_trees.o" "${core_objs[@]}" -lm \
            -o "$dir/trees/fc_golden_trees" 2>>"$dir/build.log" ||
        { cat "$dir/build.log" >&2; fail "build $name: fc_golden_trees failed"; }
    "$dir/trees/fc_golden_trees" check "$DWCP_FC_TREES_GOLDEN" >"$dir/trees/check.txt" 2>&1 ||
        { cat "$dir/trees/check.txt" >&2; fail "build $name: tree golden vectors differ"; }
}

# fma_count NAME: FMA instructions in the core objects of a build
fma_count() {
    local dir="$work/$1" n=0 o c
    for o in "$dir"/*.o; do
        [ "$(basename "$o")" = fc_golden.o ] && continue
        c="$(objdump -d --no-show-raw-insn "$o" | grep -Ec "$fma_re" || true)"
        n=$((n + c))
    done
    echo "$n"
}

# Positive control: the disassembly check must see an FMA where one certainly is.
cat >"$work/fma_probe.c" <<'EOF'
double fma_probe(double a, double b, double c) { return a * b + c; }
EOF
"$clang_bin" -std=c11 -O3 -march=x86-64-v3 -ffp-contract=fast -c "$work/fma_probe.c" \
    -o "$work/fma_probe.o"
if ! objdump -d "$work/fma_probe.o" | grep -Eq "$fma_re"; then
    fail "FMA detection is broken: no FMA found in the positive control (objdump output changed?)"
fi

expected_txt="$work/expected.txt"
status=0
declare -a rows=()
declare -A digest_of=()
first_digest=""
expected_digest=""

for cc_name in gcc clang; do
    cc="$gcc_bin"
    [ "$cc_name" = clang ] && cc="$clang_bin"
    for opt in -O0 -O3; do
        for march in x86-64 x86-64-v3; do
            name="${cc_name}${opt}-${march}"
            build "$name" "$cc" "$opt" "$march"
            partition_check "$name" "$cc" "$opt" "$march"
            trees_check "$name" "$cc" "$opt" "$march"
            if ! "$work/$name/fc_golden" dump "${goldens[@]}" >"$work/$name/dump.txt" 2>"$work/$name/dump.err"; then
                cat "$work/$name/dump.err" >&2
                fail "build $name: fc_golden dump failed"
            fi
            d="$(sha "$work/$name/dump.txt")"
            digest_of[$name]="$d"
            fmas="-"
            if [ "$march" = x86-64-v3 ]; then
                fmas="$(fma_count "$name")"
            fi
            rows+=("$cc_name|$opt|$march|$d|$fmas")
            if [ -z "$expected_digest" ]; then
                "$work/$name/fc_golden" dump --expected "${goldens[@]}" >"$expected_txt"
                expected_digest="$(sha "$expected_txt")"
            fi
            [ -z "$first_digest" ] && first_digest="$d"
        done
    done
done

printf '%-8s %-4s %-10s %-64s %s\n' compiler -O -march "sha256(fc_golden dump)" "FMA in core"
for r in "${rows[@]}"; do
    IFS='|' read -r c o m d f <<<"$r"
    printf '%-8s %-4s %-10s %-64s %s\n' "$c" "$o" "$m" "$d" "$f"
done
printf '%-8s %-4s %-10s %-64s\n' expected "" "" "$expected_digest"

# Negative control: GNU C lets GCC contract a*b+c into FMA. Such a build must emit FMA and
# must change the digest of every golden file (their fma_canary vectors), or the matrix
# could not tell a contracting build from a good one.
control="gcc-gnu11-O3-x86-64-v3"
build "$control" "$gcc_bin" -O3 x86-64-v3 -std=gnu11
"$work/$control/fc_golden" dump "${goldens[@]}" >"$work/$control/dump.txt" ||
    fail "negative control $control: fc_golden dump failed"
control_fmas="$(fma_count "$control")"
control_digest="$(sha "$work/$control/dump.txt")"
echo "negative control: gcc -std=gnu11 -O3 -march=x86-64-v3 emits $control_fmas FMA" \
    "instruction(s) in the core; digest $control_digest"
[ "$control_fmas" -gt 0 ] || fail "negative control emitted no FMA: the control is void"
[ "$control_digest" != "$expected_digest" ] ||
    fail "an FMA-contracting build gives the expected digest: the golden vectors cannot see FMA (regenerate with the fma_canary vector)"
for g in "${goldens[@]}"; do
    base="$(basename "$g")"
    "$work/$control/fc_golden" dump "$g" >"$work/$control/dump-$base" ||
        fail "negative control $control: fc_golden dump $base failed"
    "$work/$control/fc_golden" dump --expected "$g" >"$work/expected-$base"
    control_file="$(sha "$work/$control/dump-$base")"
    expected_file="$(sha "$work/expected-$base")"
    changed="$(diff "$work/expected-$base" "$work/$control/dump-$base" | grep -c '^>' || true)"
    echo "negative control on $base: digest $control_file (expected $expected_file), $changed vector(s) differ"
    [ "$control_file" != "$expected_file" ] ||
        fail "an FMA-contracting build gives the expected digest of $base: its vectors cannot see FMA (add an fma_canary vector)"
done

# Verdict.
for r in "${rows[@]}"; do
    IFS='|' read -r c o m d f <<<"$r"
    if [ "$d" != "$expected_digest" ]; then
        echo "determinism_matrix: build $c $o -march=$m: digest $d differs from the expected $expected_digest" >&2
        diff <(tr ' ' '\n' <"$expected_txt") <(tr ' ' '\n' <"$work/$c$o-$m/dump.txt") | head -5 >&2 || true
        status=1
    fi
    if [ "$f" != "-" ] && [ "$f" != 0 ]; then
        echo "determinism_matrix: build $c $o -march=$m: $f FMA instruction(s) in the core objects:" >&2
        for o2 in "$work/$c$o-$m"/*.o; do
            [ "$(basename "$o2")" = fc_golden.o ] && continue
            objdump -d --no-show-raw-insn "$o2" | grep -E "$fma_re" | sed "s|^|  $(basename "$o2"): |" | head -5 >&2 || true
        done
        status=1
    fi
done
if [ "$status" -ne 0 ]; then
    fail "the builds do not agree (see above)"
fi
echo "determinism_matrix: all 8 builds print the same dump of ${#goldens[@]} golden file(s) ($(wc -l <"$expected_txt") vectors); digest $expected_digest; no FMA in the x86-64-v3 core objects"
if [ -n "${DWCP_FC_PARTITION_GOLDEN:-}" ]; then
    echo "determinism_matrix: all 8 builds match $(basename "$DWCP_FC_PARTITION_GOLDEN") bit for bit ($(cat "$work/gcc-O0-x86-64/partition/check.txt"))"
fi
if [ -n "${DWCP_FC_TREES_GOLDEN:-}" ]; then
    echo "determinism_matrix: all 8 builds match $(basename "$DWCP_FC_TREES_GOLDEN") bit for bit ($(tail -n 1 "$work/gcc-O0-x86-64/trees/check.txt"))"
fi
