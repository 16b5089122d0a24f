"""Capacity forecaster for predictive scaling: LightGBM quantile regression on the feature
core's metric schema over a VM's CPU demand in MHz.

What the model answers: an upper quantile (``alpha``) of the **peak** 5-minute CPU demand over
the next ``horizon`` bins (3 x 5 minutes = 15 minutes) after the last sample of its window:

    label(window ending at bin e) = max(y[e+1], ..., y[e+horizon])

The peak, not the mean, because capacity set now has to carry every bin of the next interval;
an upper quantile, not the mean, because under-provisioning costs more than a little spare.
Go turns the output into capacity with :func:`recommend_capacity`, whose parameters travel in
the bundle (``CapacityRule.as_thresholds``). The rule's operating point (headroom, and the
hybrid policy's floor on the recent peak) is calibrated by the training for a stated SLO on
inner rolling folds of its own data (see :func:`train`), never on test data.

Features come only from the feature core (resample -> complete runs -> windows); labels and
the time split are computed here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

from dwcp_ml import feature_core as fc
from dwcp_ml.spec.model import TensorSpec, model_input

from . import cv, data
from .capacity import (FLOOR_GRID, HEADROOM_GRID, REACTIVE_TARGET, SLO, SLO_VS_REACTIVE,
                       Calibration, CapacityRule, SimVM, calibrate, recommend_capacity)
from .data import Trace, traces_digest
from .prepare import GridTrace, complete_runs, edge_windows, to_grid
from .synthetic import START, SyntheticConfig, vm_trace

POLICIES = ("auto", "hybrid", "predictive")
# The recent peak is read from this feature of the model input (the core's resampled value).
VALUE_FEATURE = fc.Schema.METRIC.features.index("value")


class ScalingDataError(ValueError):
    """The traces give no usable training or validation windows; says which and why."""


class Forecaster(Protocol):
    """What the policy calibration needs of a model: the alpha-quantile of the next peak, in
    MHz, for each flat model-input row."""

    def predict(self, rows: NDArray[np.float32]) -> NDArray[np.float64]: ...


# The seam for other forecasters (AutoML candidates): fits one model on (rows, labels) parts,
# one part per trace in time order, before the training stride; :func:`train` calls it for
# each inner calibration fold and for the final model, so calibration is the same for all.
Fitter = Callable[["ScalingConfig", list[tuple[NDArray[np.float32], NDArray[np.float64]]]],
                  Forecaster]


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class ScalingConfig:
    """The real configuration by default.

    seq_len / stat_window: measured on July only (first 80 % trains, last 20 % validates;
    200 trees, every 2nd window), pinball loss at 0.9 on the validation peak (MHz, lower is
    better): (12, 12) 68.8; (12, 36) 71.8; (6, 36) 72.8; (24, 36) 71.2; (12, 144) 75.2;
    (6, 288) 73.2. Longer windows lose windows after gaps, so the validation sets differ
    slightly; none of the longer contexts helped, and (12, 12) is the cheapest to serve
    (23 samples per call), so it is the default.
    """

    seq_len: int = 12  # the last hour of 5-minute steps
    stat_window: int = 12  # statistics over the trailing hour at every step
    step_seconds: int = 300
    fill_limit: int = 2
    horizon: int = 3  # 3 bins = 15 minutes
    alpha: float = 0.9  # upper quantile the model predicts
    n_estimators: int = 300
    num_leaves: int = 31
    learning_rate: float = 0.05
    min_child_samples: int = 100
    seed: int = 20130701
    n_jobs: int = 1
    train_stride: int = 2  # every 2nd window: neighbours overlap in 22 of 23 samples
    verify_rows: int = 2000  # rows of the latest calibration fold kept for ONNX verification
    golden_windows: int = 6  # raw windows of the latest calibration fold for golden predictions
    # Operating point: unit_mhz and min_units as given; headroom and floor are calibrated for
    # the SLO (share of under-provisioned 5-minute bins) on calib_folds inner rolling-origin
    # folds of the training data (the first calib_min_train of its span trains the first
    # one, calib_gap seconds between train and test), see capacity.calibrate. policy says
    # which calibrated point ships: "hybrid" (floor from floor_grid), "predictive" (floor 0)
    # or "auto": of the two, the one meeting the SLO on the inner folds with less capacity
    # (else the one with fewer under-provisioned bins), chosen by the training itself.
    # The reactive scaler it must beat uses target utilisation reactive_target.
    rule: CapacityRule = field(default_factory=CapacityRule)
    policy: str = "auto"
    slo: float = SLO
    # None: the SLO is slo. A number r: the SLO is r x the reactive scaler's under-provisioned
    # share on the same inner-fold bins (a service level stated against the baseline; the
    # default: it met the target in 4 of 5 dev folds, slo alone in 0 of 5).
    slo_vs_reactive: float | None = SLO_VS_REACTIVE
    headroom_grid: tuple[float, ...] = HEADROOM_GRID
    floor_grid: tuple[float, ...] = FLOOR_GRID
    reactive_target: float = REACTIVE_TARGET
    calib_folds: int = 3
    calib_min_train: float = 0.5
    calib_gap: int = cv.DAY

    def __post_init__(self) -> None:
        for name in ("seq_len", "stat_window", "horizon", "n_estimators", "num_leaves",
                     "train_stride", "n_jobs", "calib_folds"):
            if getattr(self, name) < 1:
                raise ValueError(f"ScalingConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"ScalingConfig.alpha is a quantile in (0, 1), got {self.alpha}")
        if not self.headroom_grid or any(not (math.isfinite(h) and h > 0)
                                         for h in self.headroom_grid):
            raise ValueError("ScalingConfig.headroom_grid must hold finite numbers > 0, got "
                             f"{self.headroom_grid}")
        if not self.floor_grid or any(not (math.isfinite(f) and f > 0) for f in self.floor_grid):
            raise ValueError("ScalingConfig.floor_grid must hold finite numbers > 0, got "
                             f"{self.floor_grid}")
        if self.policy not in POLICIES:
            raise ValueError(f"ScalingConfig.policy must be one of {', '.join(POLICIES)}, got "
                             f"{self.policy!r}")
        if self.horizon > self.seq_len:
            raise ValueError(f"ScalingConfig.horizon ({self.horizon}) must be <= seq_len "
                             f"({self.seq_len}): the recent peak is read from the window")
        if not 0.0 < self.slo < 1.0:
            raise ValueError(f"ScalingConfig.slo is a share of bins in (0, 1), got {self.slo}")
        if self.slo_vs_reactive is not None and not 0.0 < self.slo_vs_reactive <= 10.0:
            raise ValueError("ScalingConfig.slo_vs_reactive is a multiple of the reactive "
                             f"scaler's share in (0, 10], got {self.slo_vs_reactive}")
        if not 0.0 < self.reactive_target <= 1.0:
            raise ValueError("ScalingConfig.reactive_target is a utilisation in (0, 1], got "
                             f"{self.reactive_target}")
        if not 0.0 < self.calib_min_train < 1.0 or self.calib_gap < 0:
            raise ValueError("ScalingConfig.calib_min_train must be in (0, 1) and calib_gap "
                             f">= 0, got {self.calib_min_train}, {self.calib_gap}")

    @classmethod
    def tiny(cls) -> ScalingConfig:
        """Seconds-fast configuration for tests (same pipeline, small model)."""
        return cls(seq_len=4, stat_window=12, n_estimators=30, num_leaves=7, learning_rate=0.2,
                   min_child_samples=20, verify_rows=500, golden_windows=3,
                   calib_gap=2 * 3600)

    def params(self) -> fc.Params:
        # Identity normalisation: trees are invariant to monotone feature scaling, and raw
        # MHz keeps the output in MHz for recommend_capacity.
        return fc.Params(schema=fc.Schema.METRIC, seq_len=self.seq_len,
                         stat_window=self.stat_window, step_seconds=self.step_seconds,
                         fill_limit=self.fill_limit)

    def input_spec(self) -> TensorSpec:
        return TensorSpec("input", (None, self.seq_len * len(fc.Schema.METRIC.features)))

    def lgb_params(self) -> dict[str, object]:
        return {
            "objective": "quantile", "alpha": self.alpha, "n_estimators": self.n_estimators,
            "num_leaves": self.num_leaves, "learning_rate": self.learning_rate,
            "min_child_samples": self.min_child_samples, "random_state": self.seed,
            "n_jobs": self.n_jobs,
            # Same model bytes run to run and machine to machine.
            "deterministic": True, "force_col_wise": True, "verbosity": -1,
        }


# --------------------------------------------------------------------------- data


def synthetic_cpu_mhz(config: SyntheticConfig = SyntheticConfig()) -> list[Trace]:
    """The synthetic default in the shape of :func:`data.load_bitbrains_cpu_mhz`: CPU MHz =
    cpu_pct / 100 x a per-VM capacity of 1, 2, 4 or 8 cores of 2600 MHz (seeded)."""
    out = []
    for vm in range(config.vms):
        trace = vm_trace(config, vm)
        cores = np.random.default_rng([config.seed, vm, 1]).choice([1, 2, 4, 8])
        mhz = trace.values[:, 0:1] / 100.0 * cores * float(data.MHZ_PER_CORE)
        out.append(Trace(f"synthetic/vm{vm}/cpu_mhz", trace.ts, np.ascontiguousarray(mhz)))
    return out


@dataclass(frozen=True)
class Samples:
    """Supervised windows of one trace: feature windows, labels and where they sit.

    end: grid index of each window's last input sample; the label covers end+1 .. end+horizon.
    """

    windows: NDArray[np.float32]  # (n, seq_len, features)
    labels: NDArray[np.float64]  # (n,)
    end: NDArray[np.int64]  # (n,)
    end_ts: NDArray[np.int64]  # (n,) timestamp of the last input sample


def future_peak(values: NDArray[np.float64], end: NDArray[np.int64], horizon: int
                ) -> NDArray[np.float64]:
    """max(values[e+1 .. e+horizon]) for each e in ``end`` (values: one grid channel)."""
    idx = end[:, None] + np.arange(1, horizon + 1)[None, :]
    return values[idx].max(axis=1)


def samples(params: fc.Params, grid: GridTrace, horizon: int, stride: int = 1) -> Samples:
    """Every window of every complete run whose next ``horizon`` bins are also complete."""
    parts_w, parts_e = [], []
    for a, b in complete_runs(grid, params.input_len + horizon):
        # Windows over [a, b - horizon) so that each one's label bins lie inside the run.
        w = fc.windows(params, grid.ts[a:b - horizon], grid.values[a:b - horizon], stride=stride)
        parts_w.append(w)
        parts_e.append(a + params.input_len - 1 + stride * np.arange(len(w), dtype=np.int64))
    if not parts_w:
        n_f = params.n_features
        return Samples(np.empty((0, params.seq_len, n_f), np.float32), np.empty(0),
                       np.empty(0, np.int64), np.empty(0, np.int64))
    end = np.concatenate(parts_e)
    return Samples(np.concatenate(parts_w), future_peak(grid.values[:, 0], end, horizon), end,
                   grid.ts[end])


# --------------------------------------------------------------------------- training


@dataclass
class TrainedScaling:
    """The native model and everything export and the bundle need."""

    config: ScalingConfig
    params: fc.Params
    model: lgb.LGBMRegressor | Any  # the shipped LightGBM, or a Fitter's Forecaster
    input_spec: TensorSpec
    metrics: dict[str, float]
    heldout_rows: NDArray[np.float32]  # model input rows for ONNX verification
    golden_ts: NDArray[np.int64]  # (n, input_len)
    golden_values: NDArray[np.float64]  # (n, input_len, 1)
    golden_names: tuple[str, ...]
    training_data_digest: str
    rule: CapacityRule  # the shipped policy's calibrated operating point
    calibrations: dict[str, Calibration]  # policy -> its calibration on the inner folds
    calib_folds: tuple[str, ...]  # describe() of each inner fold

    def predict(self, rows: NDArray[np.float32]) -> NDArray[np.float64]:
        """Native prediction (double) on model input rows."""
        return self.model.predict(np.asarray(rows, np.float32))

    def capacity(self, rows: NDArray[np.float32]) -> NDArray[np.float64]:
        return recommend_capacity(self.predict(rows), self.rule,
                                  recent_peak(rows, self.config.seq_len, self.config.horizon))


def recent_peak(rows: NDArray[np.float32], seq_len: int, horizon: int) -> NDArray[np.float64]:
    """The hybrid policy's view of current demand: the largest ``value`` feature of each
    row's last ``horizon`` steps (rows step-major, as the model takes them). It is the feature
    core's resampled value (identity normalisation), so Python and Go read the same float32
    and the simulator scores the same grid."""
    x = np.asarray(rows, np.float32).reshape(len(rows), seq_len, -1)
    return x[:, -horizon:, VALUE_FEATURE].max(axis=1).astype(np.float64)


def quantile_metrics(y: NDArray[np.float64], pred: NDArray[np.float64], alpha: float,
                     prefix: str = "") -> dict[str, float]:
    """Raw-scale accuracy: 1 - WAPE, MAE, RMSE, pinball loss at alpha, coverage P(y <= pred)."""
    err = y - pred
    denom = np.abs(y).sum()
    return {
        prefix + "accuracy_1_minus_wape": float(1.0 - np.abs(err).sum() / denom) if denom else math.nan,
        prefix + "mae": float(np.abs(err).mean()),
        prefix + "rmse": float(np.sqrt((err ** 2).mean())),
        prefix + "pinball": float(np.maximum(alpha * err, (alpha - 1.0) * err).mean()),
        prefix + "coverage": float((y <= pred).mean()),
        prefix + "rows": float(len(y)),
    }


def _edge_windows(params: fc.Params
                  ) -> tuple[NDArray[np.int64], NDArray[np.float64], tuple[str, ...]]:
    """Raw edge-case windows for golden predictions: constant, zeros, a spike at the end."""
    n = params.input_len
    spike = np.full((n, 1), 200.0)
    spike[-1] = 20000.0
    return edge_windows(params, START, {"edge/constant_1300mhz": np.full((n, 1), 1300.0),
                                        "edge/zeros": np.zeros((n, 1)),
                                        "edge/spike_last": spike})


def _windows(traces: list[Trace], config: ScalingConfig, progress: bool
             ) -> list[tuple[GridTrace, Samples, NDArray[np.float32]]]:
    """Per trace with at least one window: grid, supervised windows, model input rows."""
    params, spec = config.params(), config.input_spec()
    iterator = traces
    if progress:
        from tqdm import tqdm
        iterator = tqdm(traces, desc="scaling: windows", unit="trace")
    out = []
    for trace in iterator:
        grid = to_grid(params, trace)
        s = samples(params, grid, config.horizon)
        if len(s.labels):  # else no complete run long enough (a VM with a few hundred rows)
            out.append((grid, s, model_input(s.windows, spec)))
    return out


def fit_lightgbm(config: ScalingConfig,
                 parts: list[tuple[NDArray[np.float32], NDArray[np.float64]]]
                 ) -> lgb.LGBMRegressor:
    """The shipped forecaster's :data:`Fitter`: every ``train_stride``-th window of each part."""
    x = np.concatenate([p[0][:: config.train_stride] for p in parts])
    y = np.concatenate([p[1][:: config.train_stride] for p in parts])
    return lgb.LGBMRegressor(**config.lgb_params()).fit(x, y)


def calibration_folds(traces: list[Trace], config: ScalingConfig) -> list[cv.TimeFold]:
    """Inner rolling-origin folds over the training data's span (cv.rolling_origin)."""
    start, end = cv.span(traces)
    try:
        return cv.rolling_origin(start, end, config.calib_folds,
                                 min_train=int(config.calib_min_train * (end - start)),
                                 gap=config.calib_gap)
    except cv.FoldError as exc:
        raise ScalingDataError(f"train: calibration folds: {exc}; the traces must span several "
                               "days") from None


def shipped_calibration(calibrations: dict[str, Calibration], policy: str) -> Calibration:
    """The calibration that ships: the one ``policy`` names, or for "auto" the policy that
    meets the SLO on the inner folds with less capacity (predictive on a tie; if neither
    meets it, the one with fewer under-provisioned bins)."""
    if policy != "auto":
        return calibrations[policy]
    both = [calibrations["predictive"], calibrations["hybrid"]]
    met = [c for c in both if c.reachable]
    return (min(met, key=lambda c: c.result.capacity_mhz_h) if met else
            min(both, key=lambda c: c.result.under))


def train(traces: list[Trace], config: ScalingConfig = ScalingConfig(), progress: bool = False,
          fitter: Fitter | None = None) -> TrainedScaling:
    """Resamples each trace with the core and builds supervised windows. Calibration: on
    ``config.calib_folds`` inner rolling-origin folds of these traces (a window trains a fold
    when its label ends before the fold's training end, tests it when it ends in the fold's
    test range), a model fitted on each fold's training part forecasts its test part; pooled
    over the folds, these out-of-sample forecasts fix the operating point of each policy for
    ``config.slo`` (capacity.calibrate: predictive = floor 0, hybrid = a floor of
    ``config.floor_grid``), same simulator as the evaluation. Then the model is fitted on
    every window and ships with the calibrated point of ``config.policy``
    (:func:`shipped_calibration`). Nothing here sees
    data outside ``traces``. ``fitter`` replaces the LightGBM fit (the shipped model) by
    another forecaster's, everything else unchanged."""
    fit = fit_lightgbm if fitter is None else fitter
    if not traces:
        raise ScalingDataError("train: no traces given")
    for t in traces:
        if t.values.ndim != 2 or t.values.shape[1] != 1:
            raise ScalingDataError(
                f"train: trace {t.name!r} has values of shape {t.values.shape}; the scaling "
                "model takes one channel (CPU MHz): use load_bitbrains_cpu_mhz or "
                "synthetic_cpu_mhz")
    params = config.params()
    step = params.step_seconds
    span_out = config.horizon * step  # last label bin = end_ts + span_out
    per_trace = _windows(traces, config, progress)
    if not per_trace:
        raise ScalingDataError(
            f"train: no trace has a complete run of {params.input_len + config.horizon} bins "
            f"(seq_len + stat_window - 1 + horizon); use longer traces or shorter windows")
    folds = calibration_folds(traces, config)

    sims: list[SimVM] = []
    y_cal, q_cal = [], []
    tests: list[tuple[GridTrace, Samples, NDArray[np.float32], NDArray[np.bool_]]] = []
    for fold in folds:
        fit_on = [(x[s.end_ts + span_out < fold.train_end], s.labels[s.end_ts + span_out <
                                                                    fold.train_end])
                  for _, s, x in per_trace]
        fit_on = [(x, y) for x, y in fit_on if len(y)]
        tests = [(g, s, x, (s.end_ts >= fold.test_start) & (s.end_ts + span_out < fold.test_end))
                 for g, s, x in per_trace]
        tests = [t for t in tests if t[3].any()]
        if not fit_on or not tests:
            raise ScalingDataError(
                f"train: calibration {fold.describe()} has {sum(len(y) for _, y in fit_on)} "
                f"training and {sum(int(t[3].sum()) for t in tests)} test windows; the traces "
                "must span several days without long gaps")
        model = fit(config, fit_on)
        for g, s, x, keep in tests:
            q = model.predict(x[keep])
            sims.append(SimVM(g.values[:, 0], s.end[keep], q,
                              recent_peak(x[keep], config.seq_len, config.horizon)))
            y_cal.append(s.labels[keep])
            q_cal.append(q)
    step_h = step / 3600.0
    calibrations = {
        policy: calibrate(sims, config.rule, config.slo, floors, config.reactive_target,
                          config.horizon, step_h, config.headroom_grid, config.slo_vs_reactive)
        for policy, floors in (("predictive", (0.0,)), ("hybrid", config.floor_grid))}
    rule = shipped_calibration(calibrations, config.policy).rule

    model = fit(config, [(x, s.labels) for _, s, x in per_trace])
    metrics = {"train_rows": float(sum(len(s.labels[:: config.train_stride])
                                       for _, s, _ in per_trace)),
               "slo": calibrations["predictive"].slo}
    metrics.update(quantile_metrics(np.concatenate(y_cal), np.concatenate(q_cal), config.alpha,
                                    prefix="calib_"))
    for policy, c in calibrations.items():
        metrics.update(c.as_metrics(f"calib_{policy}_"))

    # Verification rows and golden windows from the latest calibration fold's test part
    # (evenly spaced, no RNG); the final model trained on them, which parity does not mind.
    rows = np.concatenate([x[keep] for _, _, x, keep in tests])
    verify_idx = np.linspace(0, len(rows) - 1, min(config.verify_rows, len(rows))).astype(int)
    pool = [(g, int(e)) for g, s, _, keep in tests for e in s.end[keep]]
    pick = np.linspace(0, len(pool) - 1, min(config.golden_windows, len(pool))).astype(int)
    g_ts, g_val, g_names = [], [], []
    for i in pick:
        grid, e = pool[int(i)]
        lo = e - params.input_len + 1
        g_ts.append(grid.ts[lo:e + 1])
        g_val.append(grid.values[lo:e + 1])
        g_names.append(f"{grid.name}@{int(grid.ts[e])}")
    e_ts, e_val, e_names = _edge_windows(params)
    golden_ts = np.concatenate([np.stack(g_ts), e_ts]).astype(np.int64)
    golden_values = np.concatenate([np.stack(g_val), e_val]).astype(np.float64)

    return TrainedScaling(
        config=config, params=params, model=model, input_spec=config.input_spec(),
        metrics=metrics, heldout_rows=np.ascontiguousarray(rows[verify_idx]),
        golden_ts=golden_ts, golden_values=golden_values,
        golden_names=tuple(g_names) + e_names, training_data_digest=traces_digest(traces),
        rule=rule, calibrations=calibrations, calib_folds=tuple(f.describe() for f in folds),
    )
