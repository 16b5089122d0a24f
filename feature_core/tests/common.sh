# common.sh: sourced by the C test scripts (determinism_matrix.sh, sanitizers.sh, fuzz.sh).
# Expects $script (name used in messages). Sets $here, $core, $clang_bin and $gcc_bin;
# defines fail, require_golden, require_clang and use_work_dir.

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
core="$(cd "$here/.." && pwd)"
clang_bin="${DWCP_CLANG:-clang}"
gcc_bin="${DWCP_GCC:-gcc}"

fail() { echo "$script: FAIL: $*" >&2; exit 1; }

# require_clang WHAT: fails with an install hint when clang is missing.
require_clang() {
    command -v "$clang_bin" >/dev/null 2>&1 ||
        fail "clang not found ('$clang_bin'): $1; install it (Debian: apt-get install clang, as the Makefile does) or set DWCP_CLANG"
}

# use_work_dir: $work as given, or a temporary directory removed on exit.
use_work_dir() {
    if [ -z "$work" ]; then
        work="$(mktemp -d)"
        trap 'rm -rf "$work"' EXIT
    fi
}

# require_golden: $golden must name an existing golden file (usage error otherwise).
require_golden() {
    [ -n "$golden" ] || { echo "usage: $0 GOLDEN_FILE [WORK_DIR]" >&2; exit 2; }
    [ -f "$golden" ] || fail "golden file not found: $golden"
}
