"""Go in-process latency and outputs of any ONNX file: `dwcp-bench -onnx` (cmd/dwcp-bench).

The Go figures are the ones that matter for serving: the sidecar runs ONNX Runtime through
onnxruntime_go with its own session options (CPU, sequential, 1 intra-op and 1 inter-op
thread) and, to give the same bits as Python, the libonnxruntime.so of the pinned Python
wheel. `dwcp-bench -onnx` opens a file in exactly such a session (runtime.OpenONNXFile), so
search, AutoML and compression can time a candidate and check Go against Python ORT before
the candidate is in any bundle. The binary is built on first use, and again whenever a Go
or C source it is built from is newer than it; a lock keeps concurrent callers (search
workers, several helpers) from building over each other.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "build" / "bin" / "dwcp-bench"
# What the binary is built from: the command, the Go packages it links, the C feature core
# (cgo) and the module files.
SOURCE_DIRS = ("cmd/dwcp-bench", "sidecar", "feature_core/src", "feature_core/include")
SOURCE_SUFFIXES = (".go", ".c", ".h")
TIMEOUT_S = 600


class GoLatencyError(RuntimeError):
    """dwcp-bench cannot be built or run (no Go toolchain, no checkout, a bad ONNX file)."""


def ort_library() -> Path:
    """libonnxruntime.so of the onnxruntime wheel this Python imports: Go loads the same one."""
    capi = Path(onnxruntime.__file__).parent / "capi"
    libs = sorted(capi.glob("libonnxruntime.so.*"))
    if not libs:
        raise GoLatencyError(f"no libonnxruntime.so.* in {capi}: the onnxruntime wheel has none")
    return libs[-1]


def _newest_source() -> float:
    newest = 0.0
    for name in ("go.mod", "go.sum"):
        newest = max(newest, (REPO / name).stat().st_mtime)
    for d in SOURCE_DIRS:
        for root, _, files in os.walk(REPO / d):
            for f in files:
                if f.endswith(SOURCE_SUFFIXES) and not f.endswith("_test.go"):
                    newest = max(newest, os.stat(os.path.join(root, f)).st_mtime)
    return newest


def bench_binary() -> Path:
    """build/bin/dwcp-bench, built (``go build``) if it is missing or older than its sources."""
    if not (REPO / "cmd" / "dwcp-bench").is_dir() or not (REPO / "go.mod").is_file():
        raise GoLatencyError(f"Go latency needs the dwcp-ml checkout with cmd/dwcp-bench; "
                             f"{REPO} has none")
    BENCH.parent.mkdir(parents=True, exist_ok=True)
    with open(BENCH.parent / ".dwcp-bench.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if BENCH.is_file() and BENCH.stat().st_mtime >= _newest_source():
            return BENCH
        go = shutil.which("go")
        if go is None:
            raise GoLatencyError("Go is not installed (no `go` on PATH): Go latency needs it to "
                                 "build build/bin/dwcp-bench (`go build -o build/bin/dwcp-bench "
                                 "./cmd/dwcp-bench`)")
        fd, tmp = tempfile.mkstemp(prefix=".dwcp-bench.", dir=BENCH.parent)
        os.close(fd)
        env = dict(os.environ, CGO_ENABLED="1")
        done = subprocess.run([go, "build", "-o", tmp, "./cmd/dwcp-bench"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT_S)
        if done.returncode != 0:
            os.unlink(tmp)
            raise GoLatencyError(f"go build ./cmd/dwcp-bench failed: {_one_line(done.stderr)}")
        os.replace(tmp, BENCH)
    return BENCH


def _one_line(text: str) -> str:
    """stderr as one line (ONNX Runtime's messages span several), at most 400 characters."""
    line = " ".join(text.replace("dwcp-bench: error: ", "").split()) or "(no output)"
    return line if len(line) <= 400 else line[:397] + "..."


def _shape_arg(shape: tuple[int, ...] | list[int]) -> str:
    if not shape or any(int(d) < 1 for d in shape):
        raise GoLatencyError(f"input shape {tuple(shape)}: need positive dimensions")
    return "x".join(str(int(d)) for d in shape)


def _run(args: list[str]) -> dict[str, object]:
    env = dict(os.environ, ONNXRUNTIME_LIB=str(ort_library()))
    done = subprocess.run([str(bench_binary()), *args, "-json"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    if done.returncode != 0:
        raise GoLatencyError(f"dwcp-bench {' '.join(args)}: {_one_line(done.stderr)}")
    result: dict[str, object] = json.loads(done.stdout)
    return result


def go_latency_us(onnx_path: Path | str, input_shape: tuple[int, ...] | list[int],
                  calls: int = 2000) -> tuple[float, float]:
    """(p50, p99) in microseconds of one Go in-process ONNX Runtime call on ``input_shape``
    (model only: no features), after a warm-up of min(calls, 500) calls. Inputs are fixed
    pseudo-random standard-normal values (features are normalised)."""
    if calls < 1:
        raise GoLatencyError(f"calls {calls}: need at least 1")
    r = _run(["-onnx", str(Path(onnx_path).resolve()), "-shape", _shape_arg(input_shape),
              "-calls", str(calls)])
    return float(r["p50_us"]), float(r["p99_us"])  # type: ignore[arg-type]


def one_row_latency_us(onnx_path: Path | str, input_shape: tuple[int, ...],
                       calls: int) -> tuple[float, float, str]:
    """(p50, p99, where) in microseconds of one call on ``input_shape``: Go in-process ONNX
    Runtime (:func:`go_latency_us`) when dwcp-bench builds here, else ONNX Runtime from
    Python in the runtime's session options, with the reason in ``where``."""
    try:
        p50, p99 = go_latency_us(onnx_path, input_shape, calls)
        return p50, p99, "Go in-process (dwcp-bench)"
    except GoLatencyError as exc:
        from dwcp_ml.spec.runtime import session

        sess = session(Path(onnx_path).read_bytes())
        feed = {sess.get_inputs()[0].name: np.zeros(input_shape, np.float32)}
        times = np.empty(calls)
        for i in range(calls):
            t0 = time.perf_counter_ns()
            sess.run(None, feed)
            times[i] = time.perf_counter_ns() - t0
        p50, p99 = np.percentile(times, [50, 99]) / 1e3
        return float(p50), float(p99), f"Python ONNX Runtime (Go unavailable: {exc})"


def go_outputs(onnx_path: Path | str, x: np.ndarray) -> np.ndarray:
    """The float32 outputs Go ONNX Runtime gives for ``x`` (float32), to compare bit for bit
    with Python ONNX Runtime's."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    with tempfile.NamedTemporaryFile("w", suffix=".hex", delete=False) as f:
        f.write(x.astype(">f4").tobytes().hex())
    try:
        r = _run(["-onnx", str(Path(onnx_path).resolve()), "-shape", _shape_arg(x.shape),
                  "-input-hex", f.name])
    finally:
        os.unlink(f.name)
    shape = [int(d) for d in r["output_shape"]]  # type: ignore[attr-defined]
    data = bytes.fromhex(str(r["float32"]))
    return np.frombuffer(data, ">f4").astype(np.float32).reshape(shape)
