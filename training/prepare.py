"""Raw trace -> regular grid -> windows, every step done by the feature core.

Missing-value policy (docs/feature-core.md): fc_resample fills short gaps and marks long ones
missing; windows are taken only from runs of bins without a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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

    def bins(self, a: int, b: int) -> GridTrace:
        """Bins [a, b) of the grid."""
        return GridTrace(self.name, self.ts[a:b], self.values[a:b], self.counts[a:b])


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


# --------------------------------------------------------------------------- time splits
# Two held-out-in-time splits, both on the grid (not on windows, so no window straddles
# them): one shared clock over a set of traces, or a fraction of each trace's own bins.

def time_cut(grids: list[GridTrace], fraction: float) -> int:
    """The timestamp from which the last ``fraction`` of the traces' common time span lies,
    over all traces: bins before it train, bins from it on are held out."""
    lo = min(int(g.ts[0]) for g in grids if len(g.ts))
    hi = max(int(g.ts[-1]) for g in grids if len(g.ts))
    return lo + int((1.0 - fraction) * (hi - lo))


def split_in_time(grid: GridTrace, fraction: float) -> tuple[GridTrace, GridTrace]:
    """(earlier, later): the first ``1 - fraction`` of the grid's bins and the rest."""
    cut = int(round(len(grid.ts) * (1.0 - fraction)))
    return grid.bins(0, cut), grid.bins(cut, len(grid.ts))


# --------------------------------------------------------------------------- golden edges

def edge_windows(params: fc.Params, t0: int, cases: dict[str, NDArray[np.float64]]
                 ) -> tuple[NDArray[np.int64], NDArray[np.float64], tuple[str, ...]]:
    """Raw edge-case windows for a family's golden predictions (constant, zeros, a spike...):
    each case's (input_len, channels) values on one grid starting at ``t0``, stacked as the
    golden raw samples ``(timestamps, values, names)``."""
    n, c = params.input_len, params.n_channels
    ts = t0 + params.step_seconds * np.arange(n, dtype=np.int64)
    values = [np.asarray(v, np.float64) for v in cases.values()]
    for name, v in zip(cases, values):
        if v.shape != (n, c):
            raise ValueError(f"edge window {name}: shape {v.shape}, need ({n}, {c})")
    return np.stack([ts] * len(values)), np.stack(values), tuple(cases)


def step_rows(params: fc.Params, grids: list[GridTrace], cut: int) -> NDArray[np.float32]:
    """Un-normalised feature rows (seq_len 1) of every step before ``cut`` in a complete run,
    from the core: what the normalisation constants are fitted on. Empty (0 rows) when no
    run has a complete window before the cut."""
    one = replace(params, seq_len=1, center=(), scale=())
    parts = [np.empty((0, one.n_features), np.float32)]
    for g in grids:
        for a, b in complete_runs(g, one.input_len):
            n = int((g.ts[a:b] < cut).sum())
            if n >= one.input_len:
                parts.append(fc.windows(one, g.ts[a:a + n], g.values[a:a + n]).reshape(
                    -1, one.n_features))
    return np.concatenate(parts)


def robust_constants(rows: NDArray[np.float32]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """center = median, scale = IQR / 1.349 (the std of a normal) per feature, falling back to
    the std and then 1 for features that barely vary, so the core never divides by ~0."""
    r = rows.astype(np.float64)
    center = np.median(r, axis=0)
    q75, q25 = np.percentile(r, [75, 25], axis=0)
    scale = (q75 - q25) / 1.349
    std = r.std(axis=0)
    scale = np.where(scale > 1e-6, scale, np.where(std > 1e-6, std, 1.0))
    return tuple(float(v) for v in center), tuple(float(v) for v in scale)
