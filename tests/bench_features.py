"""Benchmark (prints figures, asserts nothing): windows per second for a whole-trace batch
through the C core (cffi) vs the straightforward numpy reference, measured in one run.

    .venv/bin/python tests/bench_features.py [--days 60] [--repeat 5]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

import reference as ref
from dwcp_ml import feature_core as fc
from dwcp_ml.training import synthetic


def best_of(repeat: int, fn) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    trace = synthetic.vm_trace(synthetic.SyntheticConfig(days=args.days), 0)
    params = fc.Params()
    grid_ts, values, _ = fc.resample(params, trace.ts, trace.values)
    n = fc.windows_count(params, len(grid_ts))
    print(f"{platform.processor() or platform.machine()}, {n} windows of "
          f"{params.seq_len}x{len(params.schema.features)} from {len(grid_ts)} samples, "
          f"best of {args.repeat}")
    rows = []
    for label, fn in [
        ("C core via cffi, fc_windows", lambda: fc.windows(params, grid_ts, values)),
        ("numpy reference", lambda: ref.windows(grid_ts, values, "vm", params.seq_len,
                                                params.stat_window)),
        ("C core via cffi, seq_len 1", lambda: fc.windows(
            fc.Params(seq_len=1), grid_ts, values)),
        ("numpy reference, seq_len 1", lambda: ref.windows(grid_ts, values, "vm", 1,
                                                            params.stat_window)),
    ]:
        seconds = best_of(args.repeat, fn)
        rows.append((label, seconds))
        print(f"  {label:<30} {seconds * 1e3:9.2f} ms  {n / seconds:14,.0f} windows/s")
    print(f"  speed-up, sequence windows: {rows[1][1] / rows[0][1]:.1f}x; "
          f"step rows: {rows[3][1] / rows[2][1]:.1f}x")


if __name__ == "__main__":
    main()
