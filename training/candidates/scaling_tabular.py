"""Forecasters for the scaling family's AutoML leaderboard: each replaces only the shipped
LightGBM in ``scaling.train`` (its :data:`~dwcp_ml.training.scaling.Fitter` seam), so the
policy calibration, the simulator and the judging stay the shipped pipeline's.

Every candidate answers the same question as the shipped model: the ``alpha`` (0.9) quantile
of the next 15 minutes' CPU peak in MHz, from one flat feature-core window row (seq_len x 9
metric-schema features, raw MHz; identity normalisation). Kinds (:data:`KINDS`):

- ``xgboost`` / ``forest``: the generic tree quantile regressors of ``quantile.py``
  (XGBoost ``reg:quantileerror``; a random forest of the mean plus the alpha-quantile of its
  residuals on the later rows, a split-conformal offset);
- ``linear``: least squares on standardised rows plus the alpha-quantile of its residuals on
  the later rows, folded back to raw-row weights so the export is one MatMul (scikit-learn's
  ``QuantileRegressor`` with the ``highs`` LP stopped with "numerical difficulties", status
  4, on these rows even with a standardised target, so the linear candidate is this form);
- ``mlp``: scikit-learn ``MLPRegressor`` (ReLU, Adam, squared error) on standardised rows and
  target, plus the alpha-quantile of its residuals on the later rows.

"Later rows": the last ``val_fraction`` of each trace's windows (they come in time order),
inside the training data the fitter is given; the model fits on the earlier rows. Every fit
is single-threaded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import quantile
from .quantile import CandidateError, TreeConfig

KINDS = ("xgboost", "forest", "linear", "mlp")
RIDGE = 1e-6  # x rows: the linear fit's ridge on standardised columns
Parts = list[tuple[NDArray[np.float32], NDArray[np.float64]]]


@dataclass(frozen=True)
class DenseConfig:
    """A linear or MLP candidate. ``max_rows``: rows subsampled (seeded) for the fit;
    ``hidden``: MLP layer widths; ``epochs``: MLP passes over the rows."""

    kind: str
    max_rows: int = 20_000
    hidden: tuple[int, ...] = (64, 32)
    epochs: int = 40
    learning_rate: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("linear", "mlp"):
            raise CandidateError(f"dense candidate kind must be linear or mlp, got "
                                 f"{self.kind!r}")
        if self.max_rows < 10 or self.epochs < 1 or not all(h >= 1 for h in self.hidden):
            raise CandidateError(f"DenseConfig needs max_rows >= 10, epochs >= 1 and widths "
                                 f">= 1, got {self.max_rows}, {self.epochs}, {self.hidden}")


@dataclass(frozen=True)
class ScalingCandidate:
    """One forecaster: a tree (``tree``) or a dense model (``dense``) for quantile ``alpha``."""

    alpha: float
    tree: TreeConfig | None = None
    dense: DenseConfig | None = None
    val_fraction: float = 0.2

    def __post_init__(self) -> None:
        if (self.tree is None) == (self.dense is None):
            raise CandidateError("a scaling candidate is exactly one of tree or dense")
        if not 0.0 < self.val_fraction < 1.0:
            raise CandidateError(f"val_fraction must be in (0, 1), got {self.val_fraction}")

    @property
    def kind(self) -> str:
        return self.tree.kind if self.tree is not None else self.dense.kind  # type: ignore[union-attr]


@dataclass
class TreeForecaster:
    """A ``quantile.QuantileRegressor`` of one quantile: (n, d) rows -> (n,) MHz."""

    model: quantile.QuantileRegressor

    @property
    def kind(self) -> str:
        return self.model.config.kind

    def predict(self, rows: NDArray[np.float32]) -> NDArray[np.float64]:
        return self.model.predict(rows)[:, 0]


@dataclass
class LinearForecaster:
    """q = rows @ coef + intercept (raw rows, double)."""

    coef: NDArray[np.float64]  # (d,)
    intercept: float
    kind: str = "linear"

    def predict(self, rows: NDArray[np.float32]) -> NDArray[np.float64]:
        return np.asarray(rows, np.float64) @ self.coef + self.intercept


@dataclass
class MlpForecaster:
    """q = mlp((rows - mean) / std) x y_scale + y_center + offset (offset: residual quantile)."""

    mlp: Any  # sklearn.neural_network.MLPRegressor
    mean: NDArray[np.float64]
    std: NDArray[np.float64]
    y_center: float
    y_scale: float
    offset: float
    kind: str = "mlp"

    def predict(self, rows: NDArray[np.float32]) -> NDArray[np.float64]:
        z = (np.asarray(rows, np.float64) - self.mean) / self.std
        return np.asarray(self.mlp.predict(z), np.float64) * self.y_scale + self.y_center \
            + self.offset


def split(parts: Parts, stride: int, val_fraction: float
          ) -> tuple[NDArray[np.float32], NDArray[np.float64], NDArray[np.float32],
                     NDArray[np.float64]]:
    """Every ``stride``-th window; per trace the earlier rows fit, the last ``val_fraction``
    validate (later in time than that trace's fitting rows)."""
    fx, fy, vx, vy = [], [], [], []
    for x, y in parts:
        x, y = x[::stride], y[::stride]
        cut = int(round(len(y) * (1.0 - val_fraction)))
        fx.append(x[:cut])
        fy.append(y[:cut])
        vx.append(x[cut:])
        vy.append(y[cut:])
    out = (np.concatenate(fx), np.concatenate(fy), np.concatenate(vx), np.concatenate(vy))
    if not len(out[1]) or not len(out[3]):
        raise CandidateError(f"scaling candidate: {len(out[1])} fitting and {len(out[3])} "
                             "validation rows; need both")
    return out


def _standardise(x: NDArray[np.float32]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    mean = x.astype(np.float64).mean(axis=0)
    std = x.astype(np.float64).std(axis=0)
    return mean, np.where(std > 1e-9, std, 1.0)  # constant columns: leave them at 0


def _subsample(n: int, max_rows: int, seed: int) -> NDArray[np.int64]:
    if n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def fit_linear(c: DenseConfig, alpha: float, x: NDArray[np.float32], y: NDArray[np.float64],
               vx: NDArray[np.float32], vy: NDArray[np.float64]) -> LinearForecaster:
    """Least squares on standardised rows (a tiny ridge keeps collinear columns finite), plus
    the alpha-quantile of the residuals on the later rows, folded into raw-row weights."""
    keep = _subsample(len(y), c.max_rows, c.seed)
    mean, std = _standardise(x[keep])
    z = (x[keep].astype(np.float64) - mean) / std
    yc = float(y[keep].mean())
    gram = z.T @ z + RIDGE * len(z) * np.eye(z.shape[1])
    w = np.linalg.solve(gram, z.T @ (y[keep] - yc))
    coef = w / std
    model = LinearForecaster(coef, yc - float(coef @ mean))
    model.intercept += float(np.quantile(vy - model.predict(vx), alpha))
    return model


def fit_mlp(c: DenseConfig, alpha: float, x: NDArray[np.float32], y: NDArray[np.float64],
            vx: NDArray[np.float32], vy: NDArray[np.float64]) -> MlpForecaster:
    from sklearn.neural_network import MLPRegressor

    keep = _subsample(len(y), c.max_rows, c.seed)
    mean, std = _standardise(x[keep])
    yc, ys = float(y[keep].mean()), float(y[keep].std()) or 1.0
    mlp = MLPRegressor(hidden_layer_sizes=c.hidden, activation="relu", solver="adam",
                       learning_rate_init=c.learning_rate, max_iter=c.epochs, batch_size=256,
                       random_state=c.seed, early_stopping=False, tol=0.0,
                       n_iter_no_change=c.epochs)
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed epoch budget, by design
        mlp.fit((x[keep].astype(np.float64) - mean) / std, (y[keep] - yc) / ys)
    model = MlpForecaster(mlp, mean, std, yc, ys, 0.0)
    model.offset = float(np.quantile(vy - model.predict(vx), alpha))
    return model


Forecaster = TreeForecaster | LinearForecaster | MlpForecaster


def fit(candidate: ScalingCandidate, parts: Parts, stride: int) -> Forecaster:
    """Fits ``candidate`` on every ``stride``-th window (the shipped fit's ``train_stride``)
    of the (rows, labels) parts ``scaling.train`` passes its fitter."""
    c = candidate
    x, y, vx, vy = split(parts, stride, c.val_fraction)
    if c.tree is not None:
        tree = replace(c.tree, quantiles=(c.alpha,))
        if tree.kind == "forest":  # the residual quantile needs the later rows held out
            return TreeForecaster(quantile.fit(tree, x, y, vx, vy))
        return TreeForecaster(quantile.fit(tree, np.concatenate([x, vx]),
                                           np.concatenate([y, vy])))
    assert c.dense is not None
    if c.dense.kind == "linear":
        return fit_linear(c.dense, c.alpha, x, y, vx, vy)
    return fit_mlp(c.dense, c.alpha, x, y, vx, vy)
