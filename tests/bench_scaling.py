"""Latency of the scaling ONNX model in ONNX Runtime (CPU, 1 thread): one row and a batch of
64 rows. Prints figures, asserts nothing (run: python tests/bench_scaling.py)."""

from __future__ import annotations

import time

import numpy as np

from dwcp_ml.export import onnx_scaling
from dwcp_ml.spec.model import INPUT
from dwcp_ml.spec.runtime import session
from dwcp_ml.training import scaling


def _median_us(fn, repeats: int, rounds: int = 7) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(repeats):
            fn()
        times.append((time.perf_counter() - t) / repeats * 1e6)
    return float(np.median(times))


def main() -> None:
    config = scaling.ScalingConfig()  # the real model size, trained on the synthetic traces
    trained = scaling.train(scaling.synthetic_cpu_mhz(), config)
    exported = onnx_scaling.export(trained)
    sess = session(exported.onnx_bytes)
    rows = trained.heldout_rows
    one = np.ascontiguousarray(rows[:1])
    batch = np.ascontiguousarray(np.resize(rows, (64, rows.shape[1])))
    for x in (one, batch):  # warm-up
        sess.run(None, {INPUT: x})
    single = _median_us(lambda: sess.run(None, {INPUT: one}), 2000)
    b64 = _median_us(lambda: sess.run(None, {INPUT: batch}), 300)
    trees = trained.model.booster_.num_trees()
    print(f"scaling ONNX ({trees} trees x <= {config.num_leaves} leaves, "
          f"{rows.shape[1]} features, {len(exported.onnx_bytes) / 1024:.0f} KiB), ORT 1 thread:")
    print(f"  single row : {single:8.1f} us")
    print(f"  batch of 64: {b64:8.1f} us  ({b64 / 64:.2f} us/row)")


if __name__ == "__main__":
    main()
