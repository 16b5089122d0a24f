"""Anomaly detector: configuration, training and the shipped default (the breakout detector).

Pipeline (every feature from the feature core, docs/feature-core.md):

    raw trace -> fc.resample (grid) -> fc.windows (seq_len x 9 metric features)
              -> one flat row per window -> detector -> score -> flag at a threshold

The detectors (``training/anomaly_detectors.py``: breakout, z-score, seasonal robust z-score,
ridge forecast residual; IsolationForest here) all read such rows and output one score in
[-0.5, 0.5), higher = more anomalous; ``flag = score >= threshold``. The ONNX export
(``export/onnx_anomaly.py``) outputs exactly this number.

**IsolationForest score.** ``score(x) = -decision_function(x) = 2 ** (-E[h(x)] / c(psi)) +
offset_`` where ``E[h(x)]`` is the mean over trees of the path length of ``x`` (depth of its
leaf plus ``c(n_leaf)``, the expected path length of the ``n_leaf`` training samples left
unsplit), ``c(psi)`` the expected path length of a tree grown on ``psi = max_samples`` samples,
and ``offset_ = -0.5`` (sklearn's ``contamination="auto"``). So the score lies in (-0.5, 0.5)
and 0 is the original paper's 0.5 boundary.

**Threshold.** ``config.threshold`` when set: the shipped one was chosen by leave-series-out
cross-validation on labelled NAB series (``evaluation/anomaly.py``). Otherwise it is
calibrated on a tuning split held out *in time* (the last ``tuning_fraction`` of every trace's
grid, never shuffled) as a high quantile of its scores times a margin (:func:`calibrate`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import IsolationForest

from dwcp_ml import feature_core as fc
from dwcp_ml.spec.model import TensorSpec, model_input

from . import anomaly_detectors as det
from .data import Trace, traces_digest
from .prepare import GridTrace, complete_runs, edge_windows, split_in_time, to_grid

__all__ = [
    "AnomalyConfig",
    "TrainedAnomaly",
    "TraceTooShortError",
    "train",
    "build_model",
    "needs_fit",
    "calibrate",
    "native_score",
    "windows_with_ends",
    "with_step",
    "shipped_traces",
    "SHIPPED_SERIES",
]

# A feature is switched off by normalising it with this scale: (x - 0) / 1e300 rounds to
# exactly 0.0f in the core for every x the core accepts (|x| < 1e8 here), so the feature is
# constant in training and the forest never splits on it. The bundle carries the scale, so Go
# and the goldens see the same zero. (IsolationForest is invariant to per-feature affine
# scaling, so the other features need no normalisation.)
MASK_SCALE = 1e300

DETECTORS = ("iforest", "zscore", "breakout", "seasonal", "residual")


Model = (IsolationForest | det.ZScoreModel | det.BreakoutModel | det.SeasonalModel
         | det.ResidualModel)


class TraceTooShortError(ValueError):
    """A trace has no complete run long enough for one window (or for both splits)."""


@dataclass(frozen=True)
class AnomalyConfig:
    """Everything that decides the detector; the defaults are the shipped configuration.

    **Shipped: the breakout detector** (``training/anomaly_detectors.py``), the winner of the
    leave-series-out leaderboard over the 20 labelled NAB series (``dwcp-ml eval --models
    anomaly``; docs/evaluation/anomaly.md): event F1 0.376 +- 0.187 at 0.057 +- 0.070 false
    alarms/day over 5 folds, against 0.173 +- 0.048 at 0.365 for the rolling z-score baseline
    and 0.097 for IsolationForest, thresholds and configurations chosen inside each fold on
    its training series. Its configuration and threshold are the ones the same procedure
    chooses on all 20 series (grid ``eval_anomaly.CANDIDATES["breakout"]``):

    - ``stat_window = 576`` (two days of 5-minute steps): a flag needs the value to leave the
      range of the previous two days; shorter windows make new extremes common on normal
      data, four days (1152) leave too little of a two-week series to score.
    - ``scale_floor = 1e-3``: the range is widened by 0.1 % of the level, only so that a flat
      window does not divide by 0.
    - ``threshold = -0.2799`` (score ``0.5 - 1 / (1 + z)``, so ``z >= 0.282``): the value must
      leave the range by 28 % of its width; the best event F1 over the 20 series at <= 0.3
      false alarms/day (it makes 0.03/day there).
    - ``masked = ("day_of_week",)``: irrelevant to the breakout (it reads value, min and max),
      kept so that a forest configured from these defaults never isolates an unseen weekday.

    Fields the other detectors read (``detector="iforest"`` etc.): the forest's former shipped
    configuration was ``seq_len = 3``, ``stat_window = 24``, 200 trees of ``max_samples =
    256``, threshold ``1.1 x`` the highest tuning-split score (``threshold_quantile``,
    ``threshold_margin``; used when ``threshold`` is None). ``threshold`` belongs to the
    detector it was chosen for: set it to None when changing ``detector``.
    """

    detector: str = "breakout"
    schema: fc.Schema = fc.Schema.METRIC
    seq_len: int = 3
    stat_window: int = 576
    step_seconds: int = 300
    fill_limit: int = 2
    masked: tuple[str, ...] = ("day_of_week",)
    n_estimators: int = 200
    max_samples: int = 256
    seed: int = 20140219
    tuning_fraction: float = 0.3
    threshold_quantile: float = 1.0
    threshold_margin: float = 1.1
    golden_windows: int = 6
    max_heldout_rows: int = 4096
    # seasonal robust z-score: same phase (+- halfwidth steps) of the previous `periods`
    period_seconds: int = 86400
    periods: int = 2
    halfwidth: int = 1
    # residual: ridge forecast of the last value from `seq_len - 1` lags
    ridge_alpha: float = 1.0
    clip: float = 20.0
    max_fit_rows: int = 50_000
    # scale-free detectors: denominator floor, relative to the level
    scale_floor: float = 1e-3
    # an absolute score threshold chosen by cross-validation (None: the quantile rule above)
    threshold: float | None = -0.27990489298649357

    @classmethod
    def tiny(cls) -> AnomalyConfig:
        """A small, fast configuration for tests: a two-hour stat window (the shipped two days
        would not fit in a forest's probationary split), a small forest."""
        return cls(stat_window=24, n_estimators=25, max_samples=64, golden_windows=3,
                   max_heldout_rows=512)

    @property
    def period_steps(self) -> int:
        return self.period_seconds // self.step_seconds

    def window_shape(self) -> tuple[int, int]:
        """(seq_len, stat_window) the detector reads: the seasonal one reaches ``periods``
        periods back with the smallest stat window; the z-score reads one step."""
        if self.detector == "seasonal":
            return self.periods * self.period_steps + self.halfwidth + 1, 2
        if self.detector == "zscore":
            return 1, self.stat_window
        if self.detector == "breakout":
            return 2, self.stat_window
        return self.seq_len, self.stat_window

    def params(self) -> fc.Params:
        """Feature-core parameters; masked features get :data:`MASK_SCALE`."""
        features = self.schema.features
        unknown = sorted(set(self.masked) - set(features))
        if unknown:
            raise ValueError(f"masked features {unknown} are not in schema "
                             f"{self.schema.label}: {features}")
        scale = tuple(MASK_SCALE if f in self.masked else 1.0 for f in features)
        center = (0.0,) * len(features) if self.masked else ()
        seq_len, stat_window = self.window_shape()
        return fc.Params(schema=self.schema, seq_len=seq_len, stat_window=stat_window,
                         step_seconds=self.step_seconds, fill_limit=self.fill_limit,
                         center=center, scale=scale if self.masked else ())

    def check(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"detector {self.detector!r} is not one of {', '.join(DETECTORS)}")
        if self.detector == "seasonal" and (self.period_steps < 2 * self.halfwidth + 2
                                            or self.periods < 1 or self.halfwidth < 0):
            raise ValueError(f"seasonal: period {self.period_seconds} s is too short for step "
                             f"{self.step_seconds} s and halfwidth {self.halfwidth}, or "
                             f"periods {self.periods} < 1")
        if self.detector == "residual" and self.seq_len < 2:
            raise ValueError("residual: seq_len must be >= 2")
        if self.threshold is not None and not -0.5 < self.threshold < 0.5:
            raise ValueError(f"threshold must be in (-0.5, 0.5), got {self.threshold}")
        if not 0.0 < self.tuning_fraction < 1.0:
            raise ValueError(f"tuning_fraction must be in (0, 1), got {self.tuning_fraction}")
        if not 0.0 < self.threshold_quantile <= 1.0:
            raise ValueError(f"threshold_quantile must be in (0, 1], got "
                             f"{self.threshold_quantile}")
        if self.threshold_margin <= 0.0:
            raise ValueError(f"threshold_margin must be > 0, got {self.threshold_margin}")
        if self.max_samples < 2 or self.n_estimators < 1:
            raise ValueError("need max_samples >= 2 and n_estimators >= 1")


@dataclass
class TrainedAnomaly:
    """A fitted detector and what export, verification and the bundle need."""

    model: Model
    params: fc.Params
    config: AnomalyConfig
    input_spec: TensorSpec
    threshold: float
    metrics: dict[str, float]
    heldout_rows: NDArray[np.float32]  # tuning-split rows, for native-vs-ONNX verification
    sample_ts: NDArray[np.int64]  # (n, input_len) raw held-out windows, golden predictions
    sample_values: NDArray[np.float64]  # (n, input_len, 1)
    edge_ts: NDArray[np.int64]  # constant, zeros, spike
    edge_values: NDArray[np.float64]
    edge_names: tuple[str, ...] = field(default=())
    training_data_digest: str = ""

    @property
    def golden_ts(self) -> NDArray[np.int64]:
        return np.concatenate([self.sample_ts, self.edge_ts])

    @property
    def golden_values(self) -> NDArray[np.float64]:
        return np.concatenate([self.sample_values, self.edge_values])

    def score(self, rows: NDArray[np.float32]) -> NDArray[np.float64]:
        return native_score(self.model, rows)


def native_score(model: Model, rows: np.ndarray) -> NDArray[np.float64]:
    """The detector's score, higher = more anomalous: ``-decision_function`` for the forest,
    ``model.score`` for the others (``training/anomaly_detectors.py``)."""
    if isinstance(model, IsolationForest):
        return -model.decision_function(np.asarray(rows, dtype=np.float32))
    return model.score(rows)


def calibrate(scores: NDArray[np.float64], quantile: float, margin: float = 1.0,
              floor: float = -0.5) -> float:
    """Threshold = ``floor + margin * (q - floor)``, ``q`` the ``quantile`` of held-out scores
    of normal operation and ``floor`` the lowest possible score.

    The quantile uses ``method="higher"`` (an observed score, never an interpolation), so the
    share of tuning rows flagged is at most ``1 - quantile`` (plus ties). The margin scales the
    distance above the score floor -0.5 (scores live in (-0.5, 0.5)), so a margin > 1 moves
    the threshold up for every forest alike; it is monotone in both arguments. ``floor`` is
    -0.5 for the forest's score and 0 for a z-score.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        raise ValueError("calibrate: no tuning scores (the tuning split has no window)")
    q = float(np.quantile(scores, quantile, method="higher"))
    return floor + margin * (q - floor)


def windows_with_ends(params: fc.Params, grid: GridTrace) -> tuple[NDArray[np.float32],
                                                                   NDArray[np.int64]]:
    """Every window of every complete run and the grid timestamp of its last step (the
    instant its score is about)."""
    parts, ends = [], []
    for a, b in complete_runs(grid, params.input_len):
        parts.append(fc.windows(params, grid.ts[a:b], grid.values[a:b]))
        ends.append(grid.ts[a + params.input_len - 1:b])
    if not parts:
        return (np.empty((0, params.seq_len, params.n_features), np.float32),
                np.empty(0, np.int64))
    return np.concatenate(parts), np.concatenate(ends)


def _raw_windows(params: fc.Params, grid: GridTrace, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n evenly spaced complete raw windows (grid timestamps and bin values) of a grid."""
    starts = [(a, k) for a, b in complete_runs(grid, params.input_len)
              for k in range(a, b - params.input_len + 1)]
    if not starts or n <= 0:
        return (np.empty((0, params.input_len), np.int64),
                np.empty((0, params.input_len, params.n_channels), np.float64))
    pick = np.unique(np.linspace(0, len(starts) - 1, n).round().astype(int))
    ts = np.stack([grid.ts[starts[i][1]:starts[i][1] + params.input_len] for i in pick])
    values = np.stack([grid.values[starts[i][1]:starts[i][1] + params.input_len] for i in pick])
    return ts.astype(np.int64), values.astype(np.float64)


def _edge_windows(params: fc.Params, t0: int, level: float
                  ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Raw edge cases for the goldens: a constant window at a typical level, all zeros, and
    the same constant with a spike of 10x on the last sample."""
    constant = np.full((params.input_len, 1), level)
    spike = constant.copy()
    spike[-1, 0] = 10.0 * level if level > 0 else 10.0
    return edge_windows(params, t0, {"constant": constant, "zeros": np.zeros_like(constant),
                                     "spike": spike})


def _bins_needed(params: fc.Params, config: AnomalyConfig) -> int:
    """Grid bins a trace needs for one window in both its fit and its tuning split."""
    share = min(config.tuning_fraction, 1 - config.tuning_fraction)
    return int(np.ceil(params.input_len / share))


def _trace_windows(params: fc.Params, trace: Trace,
                   config: AnomalyConfig) -> tuple[GridTrace, GridTrace]:
    if trace.values.ndim != 2 or trace.values.shape[1] != params.n_channels:
        raise ValueError(f"trace {trace.name}: values must have shape (samples, "
                         f"{params.n_channels}) for schema {params.schema.label}, "
                         f"got {trace.values.shape}")
    if len(trace.ts) == 0:
        raise TraceTooShortError(f"trace {trace.name} has no samples")
    grid = to_grid(params, trace)
    fit, tune = split_in_time(grid, config.tuning_fraction)
    for part, label in ((fit, "fit"), (tune, "tuning")):
        if not complete_runs(part, params.input_len):
            raise TraceTooShortError(
                f"trace {trace.name}: its {label} split ({len(part.ts)} bins of "
                f"{params.step_seconds} s) has no run of {params.input_len} bins without a "
                f"missing one (seq_len {params.seq_len} + stat_window {params.stat_window} - 1);"
                f" supply a longer trace, about {_bins_needed(params, config)} bins or more"
            )
    return fit, tune


def trainable(trace: Trace, config: AnomalyConfig) -> bool:
    """Whether ``train`` can use the trace: a gap-free window in both of its splits."""
    try:
        _trace_windows(config.params(), trace, config)
    except TraceTooShortError:
        return False
    return True


def needs_fit(config: AnomalyConfig) -> bool:
    """Whether the detector learns from data (the others are fixed functions of a window)."""
    return config.detector in ("iforest", "residual")


def build_model(config: AnomalyConfig, params: fc.Params,
                fit_rows: NDArray[np.float32] | None = None) -> Model:
    """The native model of ``config.detector`` (fitted on ``fit_rows`` if it learns)."""
    if needs_fit(config) and (fit_rows is None or len(fit_rows) == 0):
        raise ValueError(f"{config.detector}: no training rows to fit on")
    if config.detector == "iforest":
        return IsolationForest(n_estimators=config.n_estimators,
                               max_samples=min(config.max_samples, len(fit_rows)),
                               random_state=config.seed, n_jobs=1).fit(fit_rows)
    if config.detector == "residual":
        return det.fit_residual(params, fit_rows, config.ridge_alpha, config.scale_floor,
                                config.clip)
    if config.detector == "breakout":
        return det.BreakoutModel(params, config.scale_floor)
    if config.detector == "seasonal":
        return det.SeasonalModel(params, config.period_steps, config.periods, config.halfwidth,
                                 config.scale_floor)
    return det.ZScoreModel(params)


def thin(rows: np.ndarray, n: int) -> np.ndarray:
    """At most ``n`` rows, evenly spread and in order."""
    keep = np.unique(np.linspace(0, len(rows) - 1, min(len(rows), n)).round().astype(int))
    return rows[keep] if len(rows) else rows


def train(traces: list[Trace], config: AnomalyConfig = AnomalyConfig(), progress: bool = False
          ) -> TrainedAnomaly:
    """Fits the detector (if it learns) on the fit split of every trace; the threshold is
    ``config.threshold`` when set (chosen by cross-validation), else calibrated on the tuning
    split (the last ``config.tuning_fraction`` of each trace in time)."""
    config.check()
    if not traces:
        raise ValueError("train: no traces")
    params = config.params()
    width = params.seq_len * params.n_features
    spec = TensorSpec("input", (None, width))
    iterator = traces
    if progress:
        from tqdm import tqdm
        iterator = tqdm(traces, desc="anomaly windows", unit="trace")
    fit_parts, tune_parts, grids_tune = [], [], []
    for trace in iterator:
        fit, tune = _trace_windows(params, trace, config)
        if needs_fit(config):
            fit_parts.append(windows_with_ends(params, fit)[0])
        tune_parts.append(windows_with_ends(params, tune)[0])
        grids_tune.append(tune)
    x_fit = (thin(model_input(np.concatenate(fit_parts), spec), config.max_fit_rows)
             if fit_parts else None)
    x_tune = model_input(np.concatenate(tune_parts), spec)

    model = build_model(config, params, x_fit)
    tune_scores = native_score(model, x_tune)
    if config.threshold is not None:
        threshold = float(config.threshold)
    elif isinstance(model, IsolationForest):
        threshold = calibrate(tune_scores, config.threshold_quantile, config.threshold_margin)
    else:  # the margin scales the deviation z, so the threshold stays below 0.5
        q = calibrate(tune_scores, config.threshold_quantile)
        threshold = float(det.squash(config.threshold_margin * det.unsquash(q)))

    # Golden raw windows: evenly spread over the tuning splits, first trace first.
    per = max(1, config.golden_windows // len(grids_tune))
    raw = [_raw_windows(params, g, per) for g in grids_tune]
    sample_ts = np.concatenate([r[0] for r in raw])[:config.golden_windows]
    sample_values = np.concatenate([r[1] for r in raw])[:config.golden_windows]
    level = float(np.median(np.concatenate([g.values[~g.missing, 0] for g in grids_tune])))
    edge_ts, edge_values, edge_names = _edge_windows(params, int(sample_ts[0, 0]), level)

    # Verification rows: the tuning rows, evenly thinned to a bounded count (and at most
    # 2^22 floats for the long seasonal rows), in time order.
    held = thin(x_tune, min(config.max_heldout_rows, max(1, (1 << 22) // width)))
    metrics = {
        "fit_rows": float(len(x_fit)) if x_fit is not None else 0.0,
        "tuning_rows": float(len(x_tune)),
        "tuning_flag_rate": float(np.mean(tune_scores >= threshold)),
        "tuning_score_mean": float(tune_scores.mean()),
        "tuning_score_p99": float(np.quantile(tune_scores, 0.99)),
        "tuning_score_max": float(tune_scores.max()),
    }
    if x_fit is not None:
        metrics["fit_score_mean"] = float(native_score(model, x_fit).mean())
    return TrainedAnomaly(
        model=model, params=params, config=config, input_spec=spec, threshold=threshold,
        metrics=metrics, heldout_rows=held, sample_ts=sample_ts,
        sample_values=sample_values, edge_ts=edge_ts, edge_values=edge_values,
        edge_names=edge_names, training_data_digest=traces_digest(traces),
    )


def with_step(config: AnomalyConfig, step_seconds: int) -> AnomalyConfig:
    """The same configuration on another sampling step (NAB series differ)."""
    return dataclasses.replace(config, step_seconds=int(step_seconds))


SHIPPED_SERIES = (
    "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv",
)


# The data root holding ``nab/``: the NAB subset shipped in ``training/nab``.
SHIPPED_ROOT = Path(__file__).resolve().parent


def shipped_traces() -> list[Trace]:
    """The default training data: the NAB EC2 CPU series shipped in ``training/nab`` (MIT,
    see its README), so training runs without ``../shared/data``."""
    from .data import load_nab

    return [load_nab(name, SHIPPED_ROOT) for name in SHIPPED_SERIES]
