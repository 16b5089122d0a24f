"""Quantile regressors over flat feature-core window rows, each with an ONNX export that
decides like the native model: any family that forecasts quantiles of a target from window
rows (PBA bandwidth, scaling CPU peaks) fits and exports them through one interface.

Kinds (:data:`KINDS`):

- ``lightgbm``: one LightGBM model per quantile, objective ``quantile``;
- ``xgboost``: one XGBoost model per quantile, objective ``reg:quantileerror``;
- ``forest``: one scikit-learn random forest of the target's mean, its quantiles the mean
  plus the empirical quantiles of its residuals on the validation rows (a split conformal
  interval; the validation rows must come from the training data, after it in time).

``export/onnx_candidates.quantile_graph`` gives ``input`` [N, d] float32 -> ``raw`` [N, q]: one
``TreeEnsembleRegressor`` per model, thresholds stored as the largest float32 at or below the
native double threshold (``export/trees.py``; XGBoost compares float32 already) and the
columns concatenated. The family appends its own output map (a target transform, ordering).
Every fit is single-threaded (the machine is shared).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

KINDS = ("lightgbm", "xgboost", "forest")


class CandidateError(ValueError):
    """A candidate configuration or its data cannot be fitted as asked."""


@dataclass(frozen=True)
class TreeConfig:
    """One tree candidate. ``trees`` boosting rounds or forest size; ``leaves`` LightGBM
    leaves, ``depth`` XGBoost / forest depth; ``max_rows``: rows subsampled (seeded) for the
    fit so a 2-core machine can afford it; ``min_leaf`` forest leaf size."""

    kind: str
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    trees: int = 200
    leaves: int = 31
    depth: int = 6
    learning_rate: float = 0.05
    min_leaf: int = 50
    max_rows: int = 100_000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise CandidateError(f"candidate kind must be one of {', '.join(KINDS)}, got "
                                 f"{self.kind!r}")
        if not all(0.0 < q < 1.0 for q in self.quantiles) or not self.quantiles:
            raise CandidateError(f"quantiles must lie in (0, 1), got {self.quantiles}")
        for name in ("trees", "leaves", "depth", "min_leaf", "max_rows"):
            if int(getattr(self, name)) < 1:
                raise CandidateError(f"TreeConfig.{name} must be >= 1, got "
                                     f"{getattr(self, name)}")

    @classmethod
    def tiny(cls, kind: str) -> TreeConfig:
        return cls(kind, trees=10, leaves=7, depth=3, min_leaf=5, max_rows=5_000)


@dataclass
class QuantileRegressor:
    """Fitted models, one per quantile (``forest``: one model plus residual offsets)."""

    config: TreeConfig
    models: list[Any]
    offsets: NDArray[np.float64]  # added per quantile column (forest), else zeros
    n_inputs: int

    def predict(self, rows: NDArray[np.float32]) -> NDArray[np.float64]:
        """(n, d) float32 rows -> (n, q) quantiles of the fitted target (not reordered)."""
        x = np.ascontiguousarray(rows, dtype=np.float32)
        cols = [np.asarray(m.predict(x), dtype=np.float64) for m in self.models]
        if len(cols) == 1 and len(self.offsets) > 1:
            cols = cols * len(self.offsets)
        return np.column_stack(cols) + self.offsets



def _subsample(n: int, max_rows: int, seed: int) -> NDArray[np.int64]:
    if n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def fit(config: TreeConfig, rows: NDArray[np.float32], target: NDArray[np.float64],
        val_rows: NDArray[np.float32] | None = None,
        val_target: NDArray[np.float64] | None = None,
        weight: NDArray[np.float64] | None = None) -> QuantileRegressor:
    """Fits ``config`` on (rows, target), rows weighted by ``weight`` if given; ``forest``
    needs the validation rows for its residual quantiles."""
    if len(rows) != len(target) or not len(rows):
        raise CandidateError(f"need as many targets as rows (> 0), got {len(rows)} rows and "
                             f"{len(target)} targets")
    keep = _subsample(len(rows), config.max_rows, config.seed)
    x, y = np.ascontiguousarray(rows[keep], np.float32), np.asarray(target[keep], np.float64)
    w = None if weight is None else np.asarray(weight[keep], np.float64)
    q = config.quantiles
    if config.kind == "lightgbm":
        import lightgbm

        models = [lightgbm.LGBMRegressor(
            objective="quantile", alpha=a, n_estimators=config.trees,
            num_leaves=config.leaves, learning_rate=config.learning_rate,
            min_child_samples=config.min_leaf, subsample_freq=0, random_state=config.seed,
            n_jobs=1, verbose=-1).fit(x, y, sample_weight=w) for a in q]
        return QuantileRegressor(config, models, np.zeros(len(q)), rows.shape[1])
    if config.kind == "xgboost":
        import xgboost

        models = [xgboost.XGBRegressor(
            objective="reg:quantileerror", quantile_alpha=a, n_estimators=config.trees,
            max_depth=config.depth, learning_rate=config.learning_rate, tree_method="hist",
            min_child_weight=float(config.min_leaf), random_state=config.seed, n_jobs=1,
            base_score=float(np.quantile(y, a))).fit(x, y, sample_weight=w) for a in q]
        return QuantileRegressor(config, models, np.zeros(len(q)), rows.shape[1])
    from sklearn.ensemble import RandomForestRegressor

    if val_rows is None or val_target is None or not len(val_rows):
        raise CandidateError("forest: residual quantiles need validation rows")
    forest = RandomForestRegressor(n_estimators=config.trees, max_depth=config.depth,
                                   min_samples_leaf=config.min_leaf, max_features=0.33,
                                   random_state=config.seed, n_jobs=1).fit(x, y, sample_weight=w)
    resid = np.asarray(val_target, np.float64) - forest.predict(
        np.ascontiguousarray(val_rows, np.float32))
    return QuantileRegressor(config, [forest], np.quantile(resid, q), rows.shape[1])

