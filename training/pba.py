"""PBA bandwidth forecaster: an LSTM (4 gates, 128 hidden units) over feature-core windows that
forecasts the mean network bandwidth of a VM over the next 15 minutes, with an interval.

What is predicted (the label)
    For a window whose last sample is grid bin ``e``, the label is the mean of the target
    ``net_rx_kbs + net_tx_kbs`` (KB/s) over the next ``horizon`` = 3 bins ``e+1 .. e+3``: the
    mean bandwidth of the next 15 minutes, which is what an allocator reserves for. A label is
    made only when those bins lie in the same complete run as the window (no missing bin;
    bins the resampler filled, at most ``fill_limit`` in a row, count as observed).

Features and normalisation
    Every input feature comes from the feature core (``fc.windows`` on the resampled grid).
    Per-feature ``center``/``scale`` (median and a robust spread of each feature on the training
    split) travel in ``fc.Params`` so the core applies them, in Python and in Go alike.

Target scale
    The network target spans five orders of magnitude across VMs (idle VMs at ~1 KB/s, busy
    ones at 10^4-10^5 KB/s) and is bursty. The model is trained on ``u = log1p(y)``: quantiles
    are equivariant under monotone maps, so the q-quantile of ``u`` mapped back with ``expm1``
    *is* the q-quantile of ``y`` (the median stays the MAE-optimal point forecast, unlike a mean
    of logs), while gradients no longer depend on a VM's magnitude. The inverse map lives in the
    exported graph, so the ONNX output is KB/s on the raw scale, and every metric is judged on
    the raw scale (DESIGN "What the Bitbrains network data teaches").

Model (inside the graph, so Go runs exactly the same thing through ONNX Runtime)
    ``asinh`` on the normalised features (log-like for the heavy-tailed rates, linear near 0)
    -> LSTM (a GRU or a temporal convolution when searched: PbaConfig.cell) -> last state
    -> linear head of 3. The median is predicted as a correction to
    ``log1p`` of the trailing-hour target mean (feature ``target_mean`` un-normalised with the
    constants of the Params), a strong "persistence in log space" prior that the LSTM refines.
    Quantile crossing is impossible by construction: lower = median - softplus(a),
    upper = median + softplus(b), and expm1/relu are monotone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from torch import nn
from torch.nn import functional as F

from dwcp_ml import feature_core as fc

from . import prepare
from .candidates.quantile import TreeConfig
from .data import Trace, traces_digest

TARGET_CHANNELS = ("net_rx_kbs", "net_tx_kbs")  # the VM schema's target: net_rx + net_tx
LEVEL_FEATURE = "target_mean"  # the median is a correction to log1p of this feature
# PbaConfig.cell, the encoder: sequence cells, and the tabular candidates of the leaderboard
# (``mlp``: layers x (dense + ReLU) over the flattened window; ``linear``: none, so the head is
# a linear quantile regression on the window's asinh features).
CELLS = ("lstm", "gru", "tcn", "mlp", "linear")
TCN_KERNEL = 3


class PbaInputError(ValueError):
    """Bad input to PBA training (too little data, bad configuration); says how to fix it."""


@dataclass(frozen=True)
class PbaConfig:
    """Everything that defines a PBA model; the defaults are the shipped configuration.

    seq_len 12 (1 hour of 5-minute steps) with stat_window 12 (each step carries statistics of
    the trailing hour): a window reads 23 samples, ~2 hours (DESIGN "What the Bitbrains network
    data teaches": lags and rolling statistics of the last hours helped the tree models). Cost
    is linear in T: measured 8.4k / 4.2k / 2.0k training windows/s for T = 12 / 24 / 36
    (2 threads, batch 512). Chosen on July's own validation split (the last 20 % of July;
    1 - WAPE of the median, pooled, raw scale; median of the last hour scores 0.163 there):
    T 24 / stride 2 / 2 epochs 0.214; T 24 stride 1 0.224; T 24 stride 2 / 4 epochs 0.225;
    T 24 stride 1 power 0 0.229; T 12 stride 1 power 0 0.218; T 12 stride 1 0.240 (this one,
    the cheapest of the stride-1 runs). A day-long context (288 steps) would not fit the
    10-minute budget on a shared 2-core machine.

    Architecture (searched by ``dwcp-ml search pba``; the default is the shipped model):
    ``cell`` "lstm" | "gru" | "tcn" (temporal convolution, :class:`TemporalConv`), ``layers``
    stacked cells (depth) of ``hidden`` units (width); the window is ``seq_len`` steps of
    ``stat_window``-sample statistics.
    """

    seq_len: int = 12
    stat_window: int = 12
    step_seconds: int = 300
    fill_limit: int = 2
    horizon: int = 3  # bins averaged by the label: 3 x 5 min = the next 15 minutes
    quantiles: tuple[float, float, float] = (0.1, 0.5, 0.9)
    hidden: int = 128
    cell: str = "lstm"
    layers: int = 1
    epochs: int = 2
    batch_size: int = 512
    lr: float = 2e-3
    grad_clip: float = 1.0
    # Pinball loss weight per window = (trailing-hour mean KB/s + 1) ** level_weight_power,
    # batch-normalised. Weights depend on the input only, so the quantiles stay unbiased; a
    # power > 0 spends capacity on busy VMs, which dominate the pooled (raw-scale) WAPE.
    level_weight_power: float = 0.5  # July validation at T 12: 1-WAPE 0.240 vs 0.218 at 0.0
    train_stride: int = 1  # every window (July validation: stride 1 beat stride 2)
    val_fraction: float = 0.2  # the last 20 % of the time span validates (July 25-31)
    seed: int = 20130701
    threads: int = 2  # the machine is shared; torch defaults to every core
    holdout_rows: int = 512  # validation rows kept for ONNX verification
    golden_windows: int = 6  # raw validation windows kept for golden predictions
    # A tree quantile regressor over the flattened window instead of the network (the
    # leaderboard's tabular candidates, training/candidates/pba_tabular.py); None = PbaNet.
    tree: TreeConfig | None = None

    def __post_init__(self) -> None:
        lo, mid, hi = self.quantiles
        if not 0.0 < lo < mid < hi < 1.0:
            raise PbaInputError(
                f"quantiles must be increasing in (0, 1) as (lower, point, upper), got "
                f"{self.quantiles}")
        if self.cell not in CELLS:
            raise PbaInputError(f"PbaConfig.cell must be one of {', '.join(CELLS)}, got "
                                f"{self.cell!r}")
        for name in ("seq_len", "horizon", "hidden", "layers", "epochs", "batch_size",
                     "train_stride", "threads"):
            if int(getattr(self, name)) < 1:
                raise PbaInputError(f"PbaConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.val_fraction < 1.0:
            raise PbaInputError(
                f"PbaConfig.val_fraction must be in (0, 1), got {self.val_fraction}")

    @classmethod
    def tiny(cls) -> PbaConfig:
        """A seconds-long configuration for tests (same code path, small everything)."""
        return cls(seq_len=6, stat_window=4, hidden=16, epochs=2, batch_size=128, lr=5e-3,
                   train_stride=1, holdout_rows=128, golden_windows=3, threads=1)

    @classmethod
    def shipped(cls, tiny: bool = False) -> PbaConfig:
        """What the default bundle ships: the winner of the PBA leaderboard on the dev CV
        (docs/evaluation/pba.md), LightGBM quantile regression, 3 x 200 trees x 31 leaves."""
        if tiny:
            return replace(cls.tiny(), tree=TreeConfig.tiny("lightgbm"))
        return cls(threads=1, tree=TreeConfig("lightgbm"))

    def params(self, center: tuple[float, ...] = (), scale: tuple[float, ...] = ()) -> fc.Params:
        return fc.Params(schema=fc.Schema.VM, seq_len=self.seq_len, stat_window=self.stat_window,
                         step_seconds=self.step_seconds, fill_limit=self.fill_limit,
                         center=center, scale=scale)


class TemporalConv(nn.Module):
    """Causal dilated convolutions (kernel 3, dilation 1, 2, 4, ... per layer, ReLU, residual
    sums) over (n, T, F) -> the last step's (n, hidden). Its receptive field is
    1 + 2 (2^layers - 1) steps (3, 7, 15, 31 for 1..4 layers): a shallow stack reads only
    the latest steps of the window, which the search weighs against its lower latency."""

    def __init__(self, n_features: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(n_features if i == 0 else hidden, hidden, TCN_KERNEL, dilation=2 ** i)
            for i in range(layers))
        self.skip = nn.Conv1d(n_features, hidden, 1)  # the first residual changes width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.transpose(1, 2)  # (n, F, T): channels first, as Conv1d wants
        for i, conv in enumerate(self.convs):
            pad = (TCN_KERNEL - 1) * conv.dilation[0]
            out = torch.relu(conv(F.pad(h, (pad, 0))))  # left padding only: causal
            h = out + (self.skip(h) if i == 0 else h)
        return h[:, :, -1]


class PbaNet(nn.Module):
    """Normalised windows (n, T, F) -> quantiles of log1p(bandwidth) (n, 3), ordered.

    The encoder is ``cell`` (:data:`CELLS`), ``layers`` deep, ``hidden`` wide (``seq_len``:
    the window length, for the cells that read it flattened); the LSTM keeps
    the attribute name ``lstm`` (and its creation order), so the shipped model's weights and
    ONNX initialisers are what they were before the other cells existed."""

    def __init__(self, n_features: int, hidden: int, level_index: int,
                 level_center: float, level_scale: float, cell: str = "lstm",
                 layers: int = 1, seq_len: int = 0) -> None:
        super().__init__()
        self.cell = cell
        if cell in ("mlp", "linear") and seq_len < 1:
            raise PbaInputError(f"PBA cell {cell!r} reads the flattened window: give seq_len")
        if cell == "lstm":
            self.lstm = nn.LSTM(n_features, hidden, num_layers=layers, batch_first=True)
        elif cell == "gru":
            self.gru = nn.GRU(n_features, hidden, num_layers=layers, batch_first=True)
        elif cell == "tcn":
            self.tcn = TemporalConv(n_features, hidden, layers)
        elif cell == "mlp":
            self.mlp = nn.Sequential(*(m for i in range(layers) for m in (
                nn.Linear(seq_len * n_features if i == 0 else hidden, hidden), nn.ReLU())))
        elif cell != "linear":
            raise PbaInputError(f"unknown PBA cell {cell!r}; expected one of {', '.join(CELLS)}")
        self.head = nn.Linear(seq_len * n_features if cell == "linear" else hidden, 3)
        self.level_index = level_index
        # Constants to undo the core's normalisation of target_mean (model parameters).
        self.register_buffer("level_center", torch.tensor(level_center, dtype=torch.float32))
        self.register_buffer("level_scale", torch.tensor(level_scale, dtype=torch.float32))
        nn.init.zeros_(self.head.weight)  # start as "the median is the trailing-hour mean"
        with torch.no_grad():
            self.head.bias.copy_(torch.tensor([0.5, 0.0, 0.5]))

    def level(self, x: torch.Tensor) -> torch.Tensor:
        """Trailing-hour target mean in KB/s (>= 0), from the last step's features."""
        return torch.relu(x[:, -1, self.level_index] * self.level_scale + self.level_center)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(n, T, F) -> the encoder's state after the last step, (n, hidden)."""
        if self.cell == "tcn":
            return self.tcn(x)
        if self.cell in ("mlp", "linear"):
            flat = x.reshape(x.shape[0], -1)
            return self.mlp(flat) if self.cell == "mlp" else flat
        out, _ = (self.lstm if self.cell == "lstm" else self.gru)(x)
        return out[:, -1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.head(self.encode(torch.asinh(x)))
        base = torch.log1p(self.level(x))
        mid = base + a[:, 1]
        lower = mid - F.softplus(a[:, 0])
        upper = mid + F.softplus(a[:, 2])
        return torch.stack([lower, mid, upper], dim=1)


class PbaRawScale(nn.Module):
    """What is exported: (n, T, F) float32 -> (lower, point, upper) in KB/s, raw scale."""

    def __init__(self, net: PbaNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.expm1(self.net(x)))  # relu: expm1 of u < 0 is below 0 KB/s


@dataclass
class Split:
    """Windows (normalised or not), labels (KB/s) and where each window came from."""

    x: NDArray[np.float32]
    y: NDArray[np.float64]
    trace: NDArray[np.int32]  # index into the traces passed to train()
    end_ts: NDArray[np.int64]  # timestamp of each window's last sample


@dataclass
class TrainedPba:
    config: PbaConfig
    params: fc.Params  # with the training split's center/scale
    model: PbaRawScale | Any  # eval-mode network, or a TabularPba (config.tree); KB/s out
    metrics: dict[str, float]
    history: list[dict[str, float]]
    holdout_x: NDArray[np.float32]  # normalised validation windows for ONNX verification
    golden_ts: NDArray[np.int64]  # (n, input_len) raw held-out windows + edge cases
    golden_values: NDArray[np.float64]  # (n, input_len, 6)
    golden_names: list[str]
    training_data_digest: str
    notes: dict[str, str] = field(default_factory=dict)

    def predict(self, x: np.ndarray, batch: int = 4096) -> NDArray[np.float32]:
        """Raw-scale (lower, point, upper) KB/s for normalised windows."""
        if isinstance(self.model, nn.Module):
            return predict(self.model, x, batch)
        return self.model.predict(x)


def predict(model: nn.Module, x: np.ndarray, batch: int = 4096) -> NDArray[np.float32]:
    model.eval()
    out = np.empty((len(x), 3), np.float32)
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out[i:i + batch] = model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch]))).numpy()
    return out


def target_series(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """net_rx + net_tx per bin (the label's series; features never come from here)."""
    channels = fc.Schema.VM.channels
    idx = [channels.index(c) for c in TARGET_CHANNELS]
    return values[:, idx[0]] + values[:, idx[1]]


def future_mean(target: NDArray[np.float64], horizon: int) -> NDArray[np.float64]:
    """out[i] = mean(target[i+1 .. i+horizon]); NaN where the future leaves the array or holds
    a missing bin (a window of its own per label, so one missing bin spoils only its labels)."""
    out = np.full(len(target), np.nan)
    if len(target) > horizon:
        out[: len(target) - horizon] = sliding_window_view(target[1:], horizon).mean(axis=1)
    return out


@dataclass(frozen=True)
class RunWindows:
    """Windows of one complete run plus the grid indices of their last samples."""

    x: NDArray[np.float32]
    ends: NDArray[np.int64]


def run_windows(params: fc.Params, grid: prepare.GridTrace, horizon: int,
                stride: int = 1) -> list[RunWindows]:
    """Windows of every complete run whose ``horizon`` following bins exist in the run."""
    out = []
    for a, b in prepare.complete_runs(grid, params.input_len + horizon):
        x = fc.windows(params, grid.ts[a:b - horizon], grid.values[a:b - horizon], stride=stride)
        ends = a + params.input_len - 1 + stride * np.arange(len(x), dtype=np.int64)
        out.append(RunWindows(x, ends))
    return out


def _splits(params: fc.Params, grids: list[prepare.GridTrace], config: PbaConfig,
            cut: int) -> tuple[Split, Split]:
    """Train: windows whose label ends before the cut (stride train_stride).
    Validation: windows that start at or after it (stride 1). Nothing straddles the cut."""
    parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {
        "train": [], "val": []}
    for i, g in enumerate(grids):
        y_all = future_mean(target_series(g.values), config.horizon)
        for rw in run_windows(params, g, config.horizon):
            start_ts = g.ts[rw.ends - params.input_len + 1]
            label_end_ts = g.ts[rw.ends + config.horizon]
            sel = {"train": np.flatnonzero(label_end_ts < cut)[:: config.train_stride],
                   "val": np.flatnonzero(start_ts >= cut)}
            for name, idx in sel.items():
                if len(idx):
                    e = rw.ends[idx]
                    parts[name].append((rw.x[idx], y_all[e], np.full(len(idx), i, np.int32),
                                        g.ts[e]))
    out = []
    for name in ("train", "val"):
        if not parts[name]:
            raise PbaInputError(f"no {name} window: traces need at least "
                                f"{params.input_len + config.horizon} complete bins on each side "
                                f"of the time cut (val_fraction={config.val_fraction})")
        x, y, t, ts = (np.concatenate(c) for c in zip(*parts[name]))
        if not np.isfinite(y).all():  # labels lie in complete runs; NaN here is a bug
            raise AssertionError(f"{name}: non-finite labels")
        out.append(Split(x, y, t, ts))
    return out[0], out[1]


def pinball(u_pred: torch.Tensor, u_true: torch.Tensor, quantiles: torch.Tensor,
            weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean pinball (quantile) loss over rows and the three quantiles (rows weighted)."""
    d = u_true[:, None] - u_pred
    loss = torch.maximum(quantiles * d, (quantiles - 1.0) * d).mean(dim=1)
    if weight is None:
        return loss.mean()
    return (loss * weight).sum() / weight.sum()


def point_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """1 - WAPE, MAE, RMSE (KB/s, raw scale) and MAPE over labels > 1 KB/s (idle VMs make
    the percentage meaningless)."""
    err = pred - y
    total = float(np.abs(y).sum())
    big = y > 1.0
    return {
        "accuracy_1_minus_wape": (1.0 - float(np.abs(err).sum()) / total if total > 0
                                  else float("nan")),
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err ** 2).mean())),
        "mape": float(np.mean(np.abs(err[big]) / y[big])) if big.any() else float("nan"),
    }


def _evaluate(predict_fn: Callable[[np.ndarray], NDArray[np.float32]],
              split: Split) -> dict[str, float]:
    p = predict_fn(split.x).astype(np.float64)
    m = point_metrics(split.y, p[:, 1])
    m["coverage"] = float(np.mean((split.y >= p[:, 0]) & (split.y <= p[:, 2])))
    return m


def _golden_windows(params: fc.Params, grids: list[prepare.GridTrace], val: Split,
                    n: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Raw samples of n validation windows (spread over the split) plus edge cases."""
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(val.y), size=min(n, len(val.y)), replace=False))
    L = params.input_len
    ts_rows, val_rows, names = [], [], []
    for k in pick:
        g = grids[int(val.trace[k])]
        e = int(np.searchsorted(g.ts, val.end_ts[k]))
        ts_rows.append(g.ts[e - L + 1:e + 1])
        val_rows.append(g.values[e - L + 1:e + 1])
        names.append(f"{g.name}@{int(val.end_ts[k])}")
    t0 = int(ts_rows[0][0]) if ts_rows else 1372636800
    constant = np.tile([20.0, 50.0, 10.0, 30.0, 100.0, 40.0], (L, 1))
    burst = constant.copy()
    burst[-2:, 4:6] *= 100.0  # a 100x network burst in the last 10 minutes
    e_ts, e_values, e_names = prepare.edge_windows(params, t0, {
        "edge:constant": constant, "edge:zeros": np.zeros((L, params.n_channels)),
        "edge:burst": burst})
    ts_rows.extend(e_ts)
    val_rows.extend(e_values)
    names.extend(e_names)
    return (np.stack(ts_rows).astype(np.int64), np.stack(val_rows).astype(np.float64), names)


@dataclass
class FitData:
    """What every PBA learner fits on (the LSTM here, the leaderboard's other candidates):
    Params with the training split's normalisation, the gridded traces, the time cut, and
    the train / validation windows on either side of it."""

    params: fc.Params
    grids: list[prepare.GridTrace]
    cut: int
    train: Split
    val: Split

    def level_index(self) -> int:
        return self.params.schema.features.index(LEVEL_FEATURE)


def fit_data(traces: list[Trace], config: PbaConfig) -> FitData:
    """Grids, time cut (the last ``val_fraction`` validates), normalisation constants from
    the training side only, and the windows of both sides."""
    raw = config.params()
    raw.to_c()  # reject bad window parameters before any work
    grids = [prepare.to_grid(raw, t) for t in traces]
    cut = prepare.time_cut(grids, config.val_fraction)
    rows = prepare.step_rows(raw, grids, cut)
    if not len(rows):
        raise PbaInputError("no complete training window before the time cut; "
                            "give longer traces or a smaller val_fraction")
    center, scale = prepare.robust_constants(rows)
    params = config.params(center, scale)
    train_split, val_split = _splits(params, grids, config, cut)
    return FitData(params, grids, cut, train_split, val_split)


def train(traces: list[Trace], config: PbaConfig = PbaConfig(),
          progress: bool = False) -> TrainedPba:
    """Trains on the earlier part of every trace, validates on the later part (time cut)."""
    if not traces:
        raise PbaInputError("train() needs at least one trace")
    if config.tree is not None:
        from .candidates import pba_tabular  # it builds on this module

        fit = fit_data(traces, config)
        model = pba_tabular.fit_on(fit, config, config.tree)
        u = np.log1p(model.predict(fit.val.x).astype(np.float64))
        err = np.log1p(fit.val.y)[:, None] - u
        q = np.asarray(config.quantiles)
        pinball_u = float(np.maximum(q * err, (q - 1.0) * err).mean())
        result = trained(traces, config, fit, model, model.predict, [],
                         {"val_pinball_log1p": pinball_u})
        result.notes["model"] = (f"{config.tree.kind} quantile regression, one model per "
                                 f"quantile, {config.tree.trees} trees x {config.tree.leaves} "
                                 "leaves, on the flattened window; level-relative log1p target")
        return result
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    try:
        return _train(traces, config, progress)
    finally:  # leave the process as we found it
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _train(traces: list[Trace], config: PbaConfig, progress: bool) -> TrainedPba:
    from tqdm import tqdm

    fit = fit_data(traces, config)
    params, train_split, val_split = fit.params, fit.train, fit.val
    center, scale = params.center, params.scale

    torch.manual_seed(config.seed)
    li = params.schema.features.index(LEVEL_FEATURE)
    net = PbaNet(params.n_features, config.hidden, li, center[li], scale[li], config.cell,
                 config.layers, config.seq_len)
    model = PbaRawScale(net)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    steps = config.epochs * -(-len(train_split.y) // config.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - 0.9 * min(s / steps, 1.0))
    q = torch.tensor(config.quantiles, dtype=torch.float32)
    x_all = torch.from_numpy(train_split.x)
    u_all = torch.from_numpy(np.log1p(train_split.y).astype(np.float32))
    gen = torch.Generator().manual_seed(config.seed)  # batch order within the train split only
    history: list[dict[str, float]] = []
    best: tuple[float, dict[str, torch.Tensor]] | None = None
    for epoch in range(config.epochs):
        net.train()
        order = torch.randperm(len(u_all), generator=gen)
        total = 0.0
        batches = range(0, len(order), config.batch_size)
        for i in tqdm(batches, desc=f"pba epoch {epoch + 1}", disable=not progress, leave=False):
            idx = order[i:i + config.batch_size]
            xb = x_all[idx]
            w = None
            if config.level_weight_power:
                w = (net.level(xb) + 1.0) ** config.level_weight_power
            loss = pinball(net(xb), u_all[idx], q, w)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        net.eval()
        with torch.no_grad():
            u_val = torch.from_numpy(np.log1p(val_split.y).astype(np.float32))
            val_loss = float(pinball(torch.from_numpy(_predict_u(net, val_split.x)), u_val, q))
        history.append({"epoch": epoch + 1, "train_pinball": total / len(u_all),
                        "val_pinball": val_loss})
        if progress:
            print(f"pba epoch {epoch + 1}: train {total / len(u_all):.4f} val {val_loss:.4f}")
        if best is None or val_loss < best[0]:
            best = (val_loss, {k: v.clone() for k, v in net.state_dict().items()})
    assert best is not None
    net.load_state_dict(best[1])
    model.eval()

    return trained(traces, config, fit, model, lambda x: predict(model, x), history,
                   {"val_pinball_log1p": best[0]})


def trained(traces: list[Trace], config: PbaConfig, fit: FitData, model: Any,
            predict_fn: Callable[[np.ndarray], NDArray[np.float32]],
            history: list[dict[str, float]], extra: dict[str, float]) -> TrainedPba:
    """A fitted PBA model with what every learner records: validation metrics, the held-out
    verification rows, the golden windows, the data digest and the notes."""
    params, val_split = fit.params, fit.val
    metrics = {f"val_{k}": v for k, v in _evaluate(predict_fn, val_split).items()}
    # No wall-clock figure here: these metrics go into the bundle manifest, which must be
    # the same bytes run to run (train logs its seconds to MLflow).
    metrics.update(train_windows=float(len(fit.train.y)), val_windows=float(len(val_split.y)),
                   **extra)
    rng = np.random.default_rng(config.seed)
    hold = np.sort(rng.choice(len(val_split.y), size=min(config.holdout_rows, len(val_split.y)),
                              replace=False))
    g_ts, g_values, g_names = _golden_windows(params, fit.grids, val_split,
                                              config.golden_windows, config.seed)
    return TrainedPba(
        config=config, params=params, model=model, metrics=metrics, history=history,
        holdout_x=np.ascontiguousarray(val_split.x[hold]), golden_ts=g_ts,
        golden_values=g_values, golden_names=g_names, training_data_digest=traces_digest(traces),
        notes={"output": "lower, point, upper: quantiles "
                         f"{config.quantiles} of the mean net_rx_kbs+net_tx_kbs over the next "
                         f"{config.horizon} bins ({config.horizon * config.step_seconds // 60} "
                         "minutes), KB/s",
               "label": "mean of net_rx_kbs + net_tx_kbs over grid bins e+1..e+horizon after "
                        "the window's last bin e",
               "split": f"time cut at {fit.cut}: train labels end before it, validation "
                        "windows start at or after it"},
    )


def _predict_u(net: PbaNet, x: np.ndarray, batch: int = 4096) -> NDArray[np.float32]:
    out = np.empty((len(x), 3), np.float32)
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out[i:i + batch] = net(torch.from_numpy(np.ascontiguousarray(x[i:i + batch]))).numpy()
    return out
