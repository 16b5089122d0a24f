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


def timed(fn) -> float:  # noqa: ANN001
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(rounds: int, core, numpy_ref) -> tuple[float, float, float]:  # noqa: ANN001
    """Alternates the two implementations so both see the same machine load; returns the
    best time of each and the median of the per-round ratios."""
    core_times, ref_times = [], []
    for _ in range(rounds):
        core_times.append(timed(core))
        ref_times.append(timed(numpy_ref))
    ratios = sorted(r / c for c, r in zip(core_times, ref_times))
    return min(core_times), min(ref_times), ratios[len(ratios) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    trace = synthetic.vm_trace(synthetic.SyntheticConfig(days=args.days), 0)
    params = fc.Params()
    grid_ts, values, _ = fc.resample(params, trace.ts, trace.values)
    n = fc.windows_count(params, len(grid_ts))
    print(f"{platform.machine()}, {len(grid_ts)} samples -> {n} windows of "
          f"{params.seq_len}x{len(params.schema.features)}; {args.repeat} alternating rounds, "
          f"best time of each, median of the per-round ratios")
    for seq_len in (params.seq_len, 1):
        p = fc.Params(seq_len=seq_len)
        count = fc.windows_count(p, len(grid_ts))
        core, ref_time, ratio = compare(
            args.repeat,
            lambda: fc.windows(p, grid_ts, values),
            lambda: ref.windows(grid_ts, values, "vm", seq_len, p.stat_window),
        )
        print(f"  seq_len {seq_len:>2}: C core via cffi {core * 1e3:7.2f} ms "
              f"({count / core:12,.0f} windows/s), numpy reference {ref_time * 1e3:7.2f} ms "
              f"({count / ref_time:11,.0f} windows/s); median ratio {ratio:.1f}x")


if __name__ == "__main__":
    main()
