# common.sh: sourced by the C test scripts (determinism_matrix.sh, sanitizers.sh, fuzz.sh).
# Expects $script (name used in messages). Sets $here, $core and $clang_bin; defines fail,
# require_clang and use_work_dir.

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
core="$(cd "$here/.." && pwd)"
clang_bin="${DWCP_CLANG:-clang}"

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
