"""Independent, straightforward numpy implementation of the feature definitions in
docs/feature-core.md. Used only by tests and the benchmark, to check the C core is *correct*
(not just consistent); it shares no code with it."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# Channels summed into the statistics' target series, per schema label.
TARGETS = {"vm": [4, 5], "link": [0], "metric": [0]}


def step_features(ts: np.ndarray, values: np.ndarray, schema: str, stat_window: int,
                  center: np.ndarray | None = None, scale: np.ndarray | None = None
                  ) -> np.ndarray:
    """Features of every step that has a full stat window behind it, in float64 then
    rounded to float32: shape (n - stat_window + 1, features)."""
    w = stat_window
    target = values[:, TARGETS[schema]].sum(axis=1)
    windows = sliding_window_view(target, w)  # (steps, w)
    mean = windows.mean(axis=1)
    std = windows.std(axis=1)
    k = np.arange(w) - (w - 1) / 2
    slope = ((windows - mean[:, None]) * k).sum(axis=1) / (k * k).sum()
    alpha = 2.0 / (w + 1)
    ewma = windows[:, 0].copy()
    for j in range(1, w):
        ewma = (1 - alpha) * ewma + alpha * windows[:, j]
    step_ts = ts[w - 1:]
    feats = np.column_stack([
        values[w - 1:],
        (step_ts % 86400) / 86400.0,
        ((step_ts // 86400) + 3) % 7,  # 1970-01-01 was a Thursday; Monday = 0
        mean, std, windows.min(axis=1), windows.max(axis=1), slope, ewma,
    ])
    if center is not None:
        feats = (feats - center) / scale
    return feats.astype(np.float32)


def windows(ts: np.ndarray, values: np.ndarray, schema: str, seq_len: int, stat_window: int,
            stride: int = 1, center: np.ndarray | None = None,
            scale: np.ndarray | None = None) -> np.ndarray:
    """(n_windows, seq_len, features) by stacking step rows, like a numpy user would."""
    steps = step_features(ts, values, schema, stat_window, center, scale)
    starts = np.arange(0, len(steps) - seq_len + 1, stride)
    return steps[starts[:, None] + np.arange(seq_len)]


def resample(ts: np.ndarray, values: np.ndarray, t0: int, n_bins: int, step: int,
             fill_limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin means on the grid, carry-forward fill up to fill_limit bins, NaN after."""
    bins = (ts - t0) // step
    keep = (ts >= t0) & (bins < n_bins)
    counts = np.bincount(bins[keep], minlength=n_bins)
    sums = np.zeros((n_bins, values.shape[1]))
    np.add.at(sums, bins[keep], values[keep])
    out = np.full((n_bins, values.shape[1]), np.nan)
    seen = counts > 0
    out[seen] = sums[seen] / counts[seen, None]
    last = -1
    for b in range(n_bins):
        if seen[b]:
            last = b
        elif last >= 0 and b - last <= fill_limit:
            out[b] = out[last]
    return out, counts
