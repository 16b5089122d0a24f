"""Raw trace -> regular grid -> windows, every step done by the feature core.

Missing-value policy (docs/feature-core.md): fc_resample fills short gaps and marks long ones
missing; windows are taken only from runs of bins without a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dwcp_ml import feature_core as fc

from .data import Trace


@dataclass(frozen=True)
class GridTrace:
    """A trace on the step grid: bin timestamps, bin values (NaN rows are missing), and how
    many raw samples each bin averaged (0 = filled or missing)."""

    name: str
    ts: NDArray[np.int64]
    values: NDArray[np.float64]
    counts: NDArray[np.uint32]

    @property
    def missing(self) -> NDArray[np.bool_]:
        return np.isnan(self.values).any(axis=1)

    @property
    def filled(self) -> NDArray[np.bool_]:
        return (self.counts == 0) & ~self.missing


def to_grid(params: fc.Params, trace: Trace) -> GridTrace:
    ts, values, counts = fc.resample(params, trace.ts, trace.values)
    return GridTrace(trace.name, ts, values, counts)


def complete_runs(grid: GridTrace, min_len: int) -> list[tuple[int, int]]:
    """[start, end) of the runs of bins without a missing one that hold min_len bins."""
    ok = ~grid.missing
    edges = np.flatnonzero(np.diff(np.r_[0, ok.astype(np.int8), 0]))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_len]


def grid_windows(params: fc.Params, grid: GridTrace, stride: int = 1) -> NDArray[np.float32]:
    """Every window of every complete run, (n, seq_len, features)."""
    parts = [fc.windows(params, grid.ts[a:b], grid.values[a:b], stride=stride)
             for a, b in complete_runs(grid, params.input_len)]
    if not parts:
        return np.empty((0, params.seq_len, params.n_features), np.float32)
    return np.concatenate(parts)
