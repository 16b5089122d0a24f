"""Serving latency of a candidate ONNX model, one row per call: the second objective of a
multi-objective search.

Through Go (``dwcp_ml.export.go_latency``, ONNX Runtime in-process in the Go runtime) when
that module exists, otherwise ONNX Runtime in Python with one intra- and one inter-op thread,
sequential execution. The backend is returned with the figures so every report says which.
"""

from __future__ import annotations

import importlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

WARMUP = 50
REPEATS = 3  # timing runs per model; the one with the lowest p99 counts (see measure)


@dataclass(frozen=True)
class Latency:
    p50_us: float
    p99_us: float
    backend: str  # "go" or "onnxruntime-python"


def _go() -> object | None:
    try:
        return importlib.import_module("dwcp_ml.export.go_latency")
    except ImportError:
        return None


def ort_latency_us(onnx_bytes: bytes, input_shape: tuple[int, ...],
                   calls: int) -> tuple[float, float]:
    """p50 and p99 in microseconds of ``calls`` single runs on a random float32 input."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal(input_shape).astype(np.float32)
    for _ in range(WARMUP):
        sess.run(None, {name: x})
    times = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter_ns()
        sess.run(None, {name: x})
        times[i] = time.perf_counter_ns() - t0
    p50, p99 = np.percentile(times, [50, 99]) / 1e3
    return float(p50), float(p99)


def measure(onnx_bytes: bytes, shape: tuple[int | None, ...], calls: int) -> Latency:
    """One-row latency; ``shape`` is the model's input shape with None for the batch axis.

    :data:`REPEATS` runs of ``calls`` calls; the run with the lowest p99 is kept. On a
    shared machine a run's p99 is often another process's time slice, not the model's; the
    least-disturbed run is the closest to what the model costs.
    """
    input_shape = tuple(1 if d is None else int(d) for d in shape)
    go = _go()
    if go is None:
        runs = [ort_latency_us(onnx_bytes, input_shape, calls) for _ in range(REPEATS)]
        return Latency(*min(runs, key=lambda r: r[1]), "onnxruntime-python")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        path.write_bytes(onnx_bytes)
        runs = [go.go_latency_us(path, input_shape, calls)  # type: ignore[attr-defined]
                for _ in range(REPEATS)]
    p50, p99 = min(runs, key=lambda r: r[1])
    return Latency(float(p50), float(p99), "go")
