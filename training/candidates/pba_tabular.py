"""Tree quantile regressors as PBA models: the same windows, labels, normalisation, level
prior and serving contract as the PBA network, so any of them can replace it in a bundle.

The model reads the feature-core window (n, T, F) flattened step-major, fits the quantiles of
``u - log1p(level)`` (``u = log1p(bandwidth)``, ``level`` = the trailing-hour target mean of
the last step, as PbaNet's persistence prior) with the network's level weighting, and maps
back inside the graph: ``lower = min(q_lo, q_mid)``, ``upper = max(q_hi, q_mid)`` (no
crossing), then ``relu(expm1(.))``: ONNX ``input`` [N, T, F] -> ``output`` [N, 3] KB/s, like
``export/onnx_pba.py`` (``export/onnx_candidates.py`` writes the graph); verified against the native model with the same tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dwcp_ml import feature_core as fc
from dwcp_ml.training import pba
from dwcp_ml.training.data import Trace

from . import quantile
from .quantile import TreeConfig


@dataclass
class TabularPba:
    """A fitted tree candidate with what it needs to run like the PBA network."""

    config: pba.PbaConfig
    tree: TreeConfig
    params: fc.Params
    model: quantile.QuantileRegressor
    holdout_x: NDArray[np.float32]  # validation windows for ONNX verification
    train_windows: int

    @property
    def level_column(self) -> int:
        """Column of the last step's target_mean in a flattened row."""
        li = self.params.schema.features.index(pba.LEVEL_FEATURE)
        return (self.params.seq_len - 1) * self.params.n_features + li

    def level_scale(self) -> tuple[float, float]:
        li = self.params.schema.features.index(pba.LEVEL_FEATURE)
        return float(self.params.center[li]), float(self.params.scale[li])

    def predict(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        """Normalised windows (n, T, F) -> (n, 3) lower, point, upper KB/s."""
        rows = x.reshape(len(x), -1)
        u = self.model.predict(rows) + base_u(rows, self.level_column, *self.level_scale())
        mid = u[:, 1]
        out = np.stack([np.minimum(u[:, 0], mid), mid, np.maximum(u[:, 2], mid)], axis=1)
        return np.maximum(np.expm1(out), 0.0).astype(np.float32)


def base_u(rows: NDArray[np.float32], column: int, center: float,
           scale: float) -> NDArray[np.float64]:
    """log1p of the trailing-hour target mean (KB/s >= 0) of each flattened row, (n, 1)."""
    level = np.maximum(rows[:, column].astype(np.float32) * np.float32(scale)
                       + np.float32(center), 0.0)
    return np.log1p(level.astype(np.float64))[:, None]


def fit(traces: list[Trace], config: pba.PbaConfig, tree: TreeConfig) -> TabularPba:
    """Fits ``tree`` on the windows ``pba.train`` would fit (the earlier 1 - val_fraction of
    the traces); the forest takes its residual quantiles from the later part."""
    return fit_on(pba.fit_data(traces, config), config, tree)


def fit_on(data: pba.FitData, config: pba.PbaConfig, tree: TreeConfig) -> TabularPba:
    """:func:`fit` on windows already made (``pba.train`` with ``config.tree`` uses it)."""
    if tuple(tree.quantiles) != tuple(config.quantiles):
        tree = TreeConfig(**{**tree.__dict__, "quantiles": tuple(config.quantiles)})
    li = data.level_index()
    col = (data.params.seq_len - 1) * data.params.n_features + li
    center, scale = float(data.params.center[li]), float(data.params.scale[li])

    def rows_target(split: pba.Split) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
        rows = split.x.reshape(len(split.x), -1)
        return rows, np.log1p(split.y) - base_u(rows, col, center, scale)[:, 0]

    x, y = rows_target(data.train)
    vx, vy = rows_target(data.val)
    weight = None
    if config.level_weight_power:
        # (trailing-hour mean + 1) ** power, as pba.train weighs its pinball loss
        weight = np.exp(base_u(x, col, center, scale)[:, 0]) ** config.level_weight_power
    model = quantile.fit(tree, x, y, vx, vy, weight)
    rng = np.random.default_rng(config.seed)
    hold = np.sort(rng.choice(len(data.val.y), size=min(config.holdout_rows, len(data.val.y)),
                              replace=False))
    return TabularPba(config, tree, data.params, model,
                      np.ascontiguousarray(data.val.x[hold]), len(data.train.y))
