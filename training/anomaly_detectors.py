"""The anomaly detector candidates: native models behind one serving contract.

Every candidate reads the same input, one flattened feature-core window of the ``metric``
schema per row (``seq_len`` steps x 9 features, step 0 first), and returns one score per row,
higher = more anomalous, with ``flag = score >= thresholds.score``. So Go serves any of them
unchanged (``sidecar/runtime`` checks the score threshold lies in (-0.5, 0.5)).

The scale-free candidates compute a non-negative deviation ``z`` from the core's features and
output ``squash(z) = 0.5 - 1 / (1 + z)``, which maps ``[0, inf)`` monotonically onto
``[-0.5, 0.5)``: a threshold on ``z`` is a threshold on the score, inside the range the bundle
schema and Go already accept. Because ``z`` is a deviation in units of the series' own spread,
one threshold transfers from the training series to unseen ones (CPU percent, bytes, taxi
counts alike), which is what leave-series-out cross-validation asks of a detector.

- :class:`ZScoreModel` (``zscore``): ``|value - target_mean| / target_std`` of the last step,
  the core's trailing statistics over ``stat_window`` samples (current one included); 0 when
  the std is 0 (a flat window has nothing unusual). With ``stat_window = 48`` it is the
  evaluation's baseline.
- :class:`SeasonalModel` (``seasonal``): robust z-score against the same phase of previous
  periods: the ``value`` of the steps ``k * period + j`` before the last one (``k = 1 ..
  periods``, ``j = -halfwidth .. halfwidth``) gives a median and a MAD;
  ``z = |value - median| / (1.4826 MAD + floor |median| + TINY)``. The window must then reach
  ``periods`` periods back, so ``seq_len = periods * period + halfwidth + 1``.
- :class:`ResidualModel` (``residual``): a forecast of the last value from the ``lags``
  previous ones, all normalised by the previous step's trailing mean and std
  (``u = (value - mean) / (std + floor |mean| + TINY)``, clipped to ``+-clip``), by ridge
  regression fitted on the training series' windows; ``z = |u_last - forecast| / sigma``,
  ``sigma`` the training residuals' RMS.
- :class:`BreakoutModel` (``breakout``): how far the value leaves the range of the previous
  ``stat_window`` samples (the core's ``target_min`` / ``target_max`` one step earlier), in
  units of that range: ``z = max(value - max, min - value, 0) / (max - min + floor (|max| +
  |min|) / 2 + TINY)``. A value inside the range scores 0; a long window makes a new extreme
  rare on normal data, so its false alarms are few whatever the series' tails.
- IsolationForest (``iforest``, ``training/anomaly.py``): its own score
  ``-decision_function`` already lies in (-0.5, 0.5); not scale-free, so it is fitted on
  each series' own early data.

The arithmetic on the features here is the model, not a feature: the ONNX export
(``export/onnx_anomaly.py``) computes the same graph and is verified against :meth:`score`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dwcp_ml import feature_core as fc

__all__ = ["TINY", "MAD_TO_SD", "squash", "unsquash", "column", "ZScoreModel", "BreakoutModel",
           "SeasonalModel",
           "ResidualModel", "fit_residual"]

TINY = 1e-6  # keeps a denominator positive on an all-zero window (NAB counters sit at 0)
MAD_TO_SD = 1.4826  # MAD of a normal distribution times this is its standard deviation


def squash(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """``0.5 - 1 / (1 + z)``: ``[0, inf) -> [-0.5, 0.5)``, strictly increasing."""
    return 0.5 - 1.0 / (1.0 + np.asarray(z, dtype=np.float64))


def unsquash(score: float) -> float:
    """The deviation ``z`` of a score: the inverse of :func:`squash`."""
    return 1.0 / (0.5 - float(score)) - 1.0


def column(params: fc.Params, step: int, feature: str) -> int:
    """Index of ``feature`` at window step ``step`` in a flattened row."""
    return step * params.n_features + params.schema.features.index(feature)


def _rows(rows: np.ndarray, params: fc.Params) -> NDArray[np.float64]:
    rows = np.asarray(rows, dtype=np.float32)
    width = params.seq_len * params.n_features
    if rows.ndim != 2 or rows.shape[1] != width:
        raise ValueError(f"rows must have shape (n, {width}), got {rows.shape}")
    return rows.astype(np.float64)


@dataclass(frozen=True)
class ZScoreModel:
    params: fc.Params
    kind: str = "zscore"

    def columns(self) -> tuple[int, int, int]:
        last = self.params.seq_len - 1
        return (column(self.params, last, "value"), column(self.params, last, "target_mean"),
                column(self.params, last, "target_std"))

    def deviation(self, rows: np.ndarray) -> NDArray[np.float64]:
        x = _rows(rows, self.params)
        v, m, s = (x[:, c] for c in self.columns())
        return np.divide(np.abs(v - m), s, out=np.zeros_like(v), where=s > 0)

    def score(self, rows: np.ndarray) -> NDArray[np.float64]:
        return squash(self.deviation(rows))


@dataclass(frozen=True)
class BreakoutModel:
    params: fc.Params  # seq_len 2: the previous step's range, the last step's value
    floor: float
    kind: str = "breakout"

    def columns(self) -> tuple[int, int, int]:
        return (column(self.params, 1, "value"), column(self.params, 0, "target_min"),
                column(self.params, 0, "target_max"))

    def deviation(self, rows: np.ndarray) -> NDArray[np.float64]:
        if self.params.seq_len != 2:
            raise ValueError(f"breakout: seq_len must be 2, got {self.params.seq_len}")
        x = _rows(rows, self.params)
        v, lo, hi = (x[:, c] for c in self.columns())
        out = np.maximum(np.maximum(v - hi, lo - v), 0.0)
        return out / (hi - lo + self.floor * 0.5 * (np.abs(hi) + np.abs(lo)) + TINY)

    def score(self, rows: np.ndarray) -> NDArray[np.float64]:
        return squash(self.deviation(rows))


@dataclass(frozen=True)
class SeasonalModel:
    params: fc.Params
    period: int  # steps per period (a day: 86400 / step_seconds)
    periods: int
    halfwidth: int
    floor: float
    kind: str = "seasonal"

    def __post_init__(self) -> None:
        need = self.periods * self.period + self.halfwidth + 1
        if self.params.seq_len != need:
            raise ValueError(f"seasonal: seq_len {self.params.seq_len} != periods x period + "
                             f"halfwidth + 1 = {need}")

    def history_columns(self) -> list[int]:
        """``value`` of the same phase (+- halfwidth steps) in each previous period."""
        last = self.params.seq_len - 1
        return [column(self.params, last - k * self.period + j, "value")
                for k in range(1, self.periods + 1)
                for j in range(-self.halfwidth, self.halfwidth + 1)]

    def value_column(self) -> int:
        return column(self.params, self.params.seq_len - 1, "value")

    @property
    def median_index(self) -> int:
        """The lower median's rank: an observed value, also for an even count."""
        return (len(self.history_columns()) - 1) // 2

    def score(self, rows: np.ndarray) -> NDArray[np.float64]:
        x = _rows(rows, self.params).astype(np.float32)  # the graph runs in float32
        hist = x[:, self.history_columns()]
        k = self.median_index
        med = np.partition(hist, k, axis=1)[:, k]
        mad = np.partition(np.abs(hist - med[:, None]), k, axis=1)[:, k]
        denom = (np.float32(MAD_TO_SD) * mad + np.float32(self.floor) * np.abs(med)
                 + np.float32(TINY))
        z = np.abs(x[:, self.value_column()] - med) / denom
        return squash(z.astype(np.float64))


@dataclass(frozen=True)
class ResidualModel:
    params: fc.Params
    weights: tuple[float, ...]  # one per lag, oldest first
    bias: float
    sigma: float
    floor: float
    clip: float
    kind: str = "residual"

    @property
    def lags(self) -> int:
        return len(self.weights)

    def columns(self) -> tuple[list[int], int, int]:
        """(value at every step, oldest first; mean and std at the step before the last)."""
        prev = self.params.seq_len - 2
        return ([column(self.params, t, "value") for t in range(self.params.seq_len)],
                column(self.params, prev, "target_mean"), column(self.params, prev, "target_std"))

    def normalised(self, rows: np.ndarray) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(lagged inputs (n, lags), target (n,)) in units of the previous step's spread."""
        x = _rows(rows, self.params)
        values, mc, sc = self.columns()
        m, s = x[:, mc], x[:, sc]
        u = (x[:, values] - m[:, None]) / (s + self.floor * np.abs(m) + TINY)[:, None]
        u = np.clip(u, -self.clip, self.clip)
        return u[:, :-1], u[:, -1]

    def score(self, rows: np.ndarray) -> NDArray[np.float64]:
        u, y = self.normalised(rows)
        forecast = u @ np.asarray(self.weights) + self.bias
        return squash(np.abs(y - forecast) / self.sigma)


def fit_residual(params: fc.Params, rows: np.ndarray, alpha: float, floor: float,
                 clip: float) -> ResidualModel:
    """Ridge regression (intercept unpenalised) of the normalised last value on the normalised
    lags, over ``rows`` of windows from the training series."""
    if params.seq_len < 2:
        raise ValueError("residual: seq_len must be >= 2 (lags + the value forecast)")
    blank = ResidualModel(params, (0.0,) * (params.seq_len - 1), 0.0, 1.0, floor, clip)
    u, y = blank.normalised(rows)
    if len(y) < 2:
        raise ValueError("residual: fewer than 2 training windows")
    um, ym = u.mean(axis=0), y.mean()
    uc, yc = u - um, y - ym
    w = np.linalg.solve(uc.T @ uc + alpha * np.eye(u.shape[1]), uc.T @ yc)
    b = float(ym - um @ w)
    resid = y - (u @ w + b)
    sigma = float(np.sqrt(np.mean(resid ** 2)))
    return ResidualModel(params, tuple(float(v) for v in w), b, max(sigma, TINY), floor, clip)
