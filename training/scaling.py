"""Capacity forecaster for predictive scaling: LightGBM quantile regression on the feature
core's metric schema over a VM's CPU demand in MHz.

What the model answers: an upper quantile (``alpha``) of the **peak** 5-minute CPU demand over
the next ``horizon`` bins (3 x 5 minutes = 15 minutes) after the last sample of its window:

    label(window ending at bin e) = max(y[e+1], ..., y[e+horizon])

The peak, not the mean, because capacity set now has to carry every bin of the next interval;
an upper quantile, not the mean, because under-provisioning costs more than a little spare.
Go turns the output into capacity with :func:`recommend_capacity`, whose parameters travel in
the bundle (``CapacityRule.as_thresholds``). The rule's headroom is chosen by the training on
its own validation part (see :func:`train`), never on test data.

Features come only from the feature core (resample -> complete runs -> windows); labels and
the time split are computed here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

from dwcp_ml import feature_core as fc
from dwcp_ml.export.model import TensorSpec, model_input

from .capacity import (HEADROOM_GRID, REACTIVE_TARGET, CapacityRule, HeadroomChoice, SimVM,
                       choose_headroom, recommend_capacity)
from .data import Trace, traces_digest
from .prepare import GridTrace, complete_runs, to_grid
from .synthetic import START, SyntheticConfig, vm_trace

# A Bitbrains core is provisioned at ~2600 MHz (the "CPU capacity provisioned" column / cores).
CORE_MHZ = 2600.0


class ScalingDataError(ValueError):
    """The traces give no usable training or validation windows; says which and why."""


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
    validation_fraction: float = 0.2  # the latest 20 % of the time span
    train_stride: int = 2  # every 2nd window: neighbours overlap in 22 of 23 samples
    verify_rows: int = 2000  # held-out rows kept for ONNX verification
    golden_windows: int = 6  # raw held-out windows for golden predictions
    # Capacity rule: unit_mhz and min_units as given; the headroom is chosen on the
    # validation part from headroom_grid (see train), or rule.headroom as is if the grid is
    # empty. The reactive scaler it must beat uses target utilisation reactive_target.
    rule: CapacityRule = field(default_factory=CapacityRule)
    headroom_grid: tuple[float, ...] = HEADROOM_GRID
    reactive_target: float = REACTIVE_TARGET

    def __post_init__(self) -> None:
        for name in ("seq_len", "stat_window", "horizon", "n_estimators", "num_leaves",
                     "train_stride", "n_jobs"):
            if getattr(self, name) < 1:
                raise ValueError(f"ScalingConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"ScalingConfig.alpha is a quantile in (0, 1), got {self.alpha}")
        if any(not (math.isfinite(h) and h > 0) for h in self.headroom_grid):
            raise ValueError("ScalingConfig.headroom_grid must hold finite numbers > 0, got "
                             f"{self.headroom_grid}")
        if not 0.0 < self.reactive_target <= 1.0:
            raise ValueError("ScalingConfig.reactive_target is a utilisation in (0, 1], got "
                             f"{self.reactive_target}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError("ScalingConfig.validation_fraction must be in (0, 1), got "
                             f"{self.validation_fraction}")

    @classmethod
    def tiny(cls) -> ScalingConfig:
        """Seconds-fast configuration for tests (same pipeline, small model)."""
        return cls(seq_len=4, stat_window=12, n_estimators=30, num_leaves=7, learning_rate=0.2,
                   min_child_samples=20, verify_rows=500, golden_windows=3)

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
        mhz = trace.values[:, 0:1] / 100.0 * cores * CORE_MHZ
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
    model: lgb.LGBMRegressor
    input_spec: TensorSpec
    metrics: dict[str, float]
    heldout_rows: NDArray[np.float32]  # model input rows for ONNX verification
    golden_ts: NDArray[np.int64]  # (n, input_len)
    golden_values: NDArray[np.float64]  # (n, input_len, 1)
    golden_names: tuple[str, ...]
    training_data_digest: str
    rule: CapacityRule  # config.rule with the headroom chosen on validation
    headroom_choice: HeadroomChoice | None  # None when config.headroom_grid is empty

    def predict(self, rows: NDArray[np.float32]) -> NDArray[np.float64]:
        """Native prediction (double) on model input rows."""
        return self.model.predict(np.asarray(rows, np.float32))

    def capacity(self, rows: NDArray[np.float32]) -> NDArray[np.float64]:
        return recommend_capacity(self.predict(rows), self.rule)


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


def _edge_windows(params: fc.Params) -> tuple[NDArray[np.int64], NDArray[np.float64], tuple[str, ...]]:
    """Raw edge-case windows for golden predictions: constant, zeros, a spike at the end."""
    n = params.input_len
    ts = START + params.step_seconds * np.arange(n, dtype=np.int64)
    constant = np.full(n, 1300.0)
    zeros = np.zeros(n)
    spike = np.full(n, 200.0)
    spike[-1] = 20000.0
    values = np.stack([constant, zeros, spike])[:, :, None]
    return np.stack([ts] * 3), values, ("edge/constant_1300mhz", "edge/zeros", "edge/spike_last")


def _split_time(ends: list[NDArray[np.int64]], fraction: float) -> int:
    """The cut timestamp: windows whose label ends before it train, those whose input starts
    at or after it validate (the gap between keeps overlapping windows out of both)."""
    lo = min(int(e.min()) for e in ends if len(e))
    hi = max(int(e.max()) for e in ends if len(e))
    return int(lo + (1.0 - fraction) * (hi - lo))


def train(traces: list[Trace], config: ScalingConfig = ScalingConfig(), progress: bool = False
          ) -> TrainedScaling:
    """Resamples each trace with the core, builds supervised windows, splits by time (earlier
    part trains, later part validates; never shuffled across time) and fits LightGBM on the
    earlier part. Then it chooses the capacity rule's headroom on the validation part: the
    predictive scaler at every headroom of ``config.headroom_grid`` against the reactive
    threshold scaler, same simulator as the evaluation; the smallest headroom with fewer
    under-provisioned 5-minute bins at no more capacity-hours wins (capacity.select_headroom;
    ``metrics['val_headroom_target_reachable']`` says whether one did)."""
    if not traces:
        raise ScalingDataError("train: no traces given")
    for t in traces:
        if t.values.ndim != 2 or t.values.shape[1] != 1:
            raise ScalingDataError(
                f"train: trace {t.name!r} has values of shape {t.values.shape}; the scaling "
                "model takes one channel (CPU MHz): use load_bitbrains_cpu_mhz or "
                "synthetic_cpu_mhz")
    params = config.params()
    spec = config.input_spec()
    step = params.step_seconds
    span_in = (params.input_len - 1) * step  # first input sample = end_ts - span_in
    span_out = config.horizon * step  # last label bin = end_ts + span_out

    per_trace: list[tuple[GridTrace, Samples]] = []
    iterator = traces
    if progress:
        from tqdm import tqdm
        iterator = tqdm(traces, desc="scaling: windows", unit="trace")
    for trace in iterator:
        grid = to_grid(params, trace)
        per_trace.append((grid, samples(params, grid, config.horizon)))
    if not any(len(s.labels) for _, s in per_trace):
        raise ScalingDataError(
            f"train: no trace has a complete run of {params.input_len + config.horizon} bins "
            f"(seq_len + stat_window - 1 + horizon); use longer traces or shorter windows")
    cut = _split_time([s.end_ts for _, s in per_trace if len(s.end_ts)], config.validation_fraction)

    train_x, train_y, val_x, val_y = [], [], [], []
    val_sim: list[tuple[GridTrace, NDArray[np.int64]]] = []  # per trace, rows in val order
    golden_pool: list[tuple[GridTrace, int]] = []
    for grid, s in per_trace:
        if not len(s.labels):
            continue  # no complete run long enough (e.g. a VM with a few hundred rows)
        is_train = s.end_ts + span_out < cut
        is_val = s.end_ts - span_in >= cut
        tr = np.flatnonzero(is_train)[:: config.train_stride]
        if len(tr):
            train_x.append(model_input(s.windows[tr], spec))
            train_y.append(s.labels[tr])
        if is_val.any():
            val_x.append(model_input(s.windows[is_val], spec))
            val_y.append(s.labels[is_val])
            val_sim.append((grid, s.end[is_val]))
        golden_pool.extend((grid, int(e)) for e in s.end[is_val])
    if not train_y or not val_y:
        raise ScalingDataError(
            f"train: the time split gives {sum(map(len, train_y))} training and "
            f"{sum(map(len, val_y))} validation windows; the traces must span several days")
    x_train, y_train = np.concatenate(train_x), np.concatenate(train_y)
    x_val, y_val = np.concatenate(val_x), np.concatenate(val_y)

    model = lgb.LGBMRegressor(**config.lgb_params())
    model.fit(x_train, y_train)

    pred_val = model.predict(x_val)
    metrics = {"train_rows": float(len(y_train)), "cut_ts": float(cut)}
    metrics.update(quantile_metrics(y_val, pred_val, config.alpha, prefix="val_"))
    choice = _choose_headroom(config, val_sim, pred_val)
    rule = config.rule if choice is None else replace(config.rule, headroom=choice.headroom)
    if choice is not None:
        metrics.update(choice.as_metrics())
    cap = recommend_capacity(pred_val, rule)
    metrics["val_under_provisioned_fraction"] = float((y_val > cap).mean())

    # Evenly spaced held-out rows (fixed, no RNG) for verification; raw windows for goldens.
    verify_idx = np.linspace(0, len(x_val) - 1, min(config.verify_rows, len(x_val))).astype(int)
    pick = np.linspace(0, len(golden_pool) - 1, min(config.golden_windows, len(golden_pool))
                       ).astype(int)
    g_ts, g_val, g_names = [], [], []
    for i in pick:
        grid, e = golden_pool[int(i)]
        lo = e - params.input_len + 1
        g_ts.append(grid.ts[lo:e + 1])
        g_val.append(grid.values[lo:e + 1])
        g_names.append(f"{grid.name}@{int(grid.ts[e])}")
    e_ts, e_val, e_names = _edge_windows(params)
    golden_ts = np.concatenate([np.stack(g_ts), e_ts]).astype(np.int64)
    golden_values = np.concatenate([np.stack(g_val), e_val]).astype(np.float64)

    return TrainedScaling(
        config=config, params=params, model=model, input_spec=spec, metrics=metrics,
        heldout_rows=np.ascontiguousarray(x_val[verify_idx]), golden_ts=golden_ts,
        golden_values=golden_values, golden_names=tuple(g_names) + e_names,
        training_data_digest=traces_digest(traces), rule=rule, headroom_choice=choice,
    )


def _choose_headroom(config: ScalingConfig, val_sim: list[tuple[GridTrace, NDArray[np.int64]]],
                     pred_val: NDArray[np.float64]) -> HeadroomChoice | None:
    """Simulates on the validation windows (every trace's, in the order of ``pred_val``) the
    predictive scaler at each headroom of the grid and the reactive scaler, with the same
    simulator as the evaluation, and picks the headroom by capacity.select_headroom."""
    if not config.headroom_grid:
        return None
    vms, start = [], 0
    for grid, end in val_sim:
        vms.append(SimVM(grid.values[:, 0], end, pred_val[start:start + len(end)]))
        start += len(end)
    return choose_headroom(vms, config.rule, config.headroom_grid, config.reactive_target,
                           config.horizon, config.step_seconds / 3600.0)
