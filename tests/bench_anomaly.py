"""Latency of the compact anomaly export vs the skl2onnx export in ONNX Runtime (CPU, 1
thread), single row and batch of 64, on the default configuration trained on the shipped NAB
subset. Prints figures, asserts nothing.

    /tmp/venvtest/bin/python tests/bench_anomaly.py [--reps 2000] [--tiny]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from dwcp_ml.export import onnx_anomaly
from dwcp_ml.spec.model import INPUT
from dwcp_ml.spec.runtime import session
from dwcp_ml.training import anomaly
from dwcp_ml.training.data import load_nab

SHIPPED = Path(anomaly.__file__).resolve().parent
SERIES = ("realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv",
          "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv",
          "realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv")


def per_call_us(sess, x: np.ndarray, reps: int) -> float:  # noqa: ANN001
    """Median over 5 rounds of the mean time per call (after a warm-up)."""
    for _ in range(20):
        sess.run(None, {INPUT: x})
    rounds = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            sess.run(None, {INPUT: x})
        rounds.append((time.perf_counter() - t0) / reps * 1e6)
    return float(np.median(rounds))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--tiny", action="store_true", help="AnomalyConfig.tiny() (fast)")
    args = ap.parse_args()
    config = anomaly.AnomalyConfig.tiny() if args.tiny else anomaly.AnomalyConfig()
    config = dataclasses.replace(config, detector="iforest", stat_window=24, threshold=None)
    trained = anomaly.train([load_nab(s, SHIPPED) for s in SERIES], config)
    compact = onnx_anomaly.export(trained).onnx_bytes
    t0 = time.perf_counter()
    reference = onnx_anomaly.export_skl2onnx(trained)
    convert_s = time.perf_counter() - t0
    sc, sr = session(compact), session(reference)
    rows = trained.heldout_rows
    a = sc.run(None, {INPUT: rows})[0].astype(np.float64)
    b = sr.run(None, {INPUT: rows})[0].astype(np.float64)
    native = trained.score(rows)
    print(f"forest: {config.n_estimators} trees x max_samples {trained.model.max_samples_}, "
          f"{rows.shape[1]} features; held-out rows {len(rows)}")
    print(f"model size: compact {len(compact) / 1e3:.0f} kB, skl2onnx {len(reference) / 1e3:.0f}"
          f" kB (conversion {convert_s:.1f} s)")
    print(f"max |compact - skl2onnx| {np.abs(a - b).max():.3g}; max |compact - native| "
          f"{np.abs(a[:, 0] - native).max():.3g}; max |skl2onnx - native| "
          f"{np.abs(b[:, 0] - native).max():.3g}")
    print("| batch | compact (us/call) | skl2onnx (us/call) | speed-up |")
    print("|---|---|---|---|")
    for batch in (1, 64):
        x = np.ascontiguousarray(rows[:batch])
        tc = per_call_us(sc, x, args.reps)
        tr = per_call_us(sr, x, max(50, args.reps // 20))
        print(f"| {batch} | {tc:.1f} | {tr:.1f} | {tr / tc:.1f}x |")


if __name__ == "__main__":
    main()
