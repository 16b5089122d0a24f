"""Compression of a trained PBA forecaster in torch: magnitude pruning (unstructured, and of
whole hidden units), distillation into a small student, and low-rank factorisation of the
recurrent weights, each followed by training on the same training windows.

Every function takes the teacher (a :class:`pba.TrainedPba`) and :class:`Windows` of the
fold's training part only, and returns a new ``PbaRawScale``-shaped module (normalised
windows (n, T, F) -> lower, point, upper KB/s) that ``export.onnx_pba.to_onnx`` exports like
the shipped model. The loss is the teacher's own: level-weighted pinball on log1p (pba.py).

Why each one can pay off in ONNX Runtime, or not:
- unstructured pruning zeroes weights but ONNX stores and multiplies dense tensors, so size
  and latency stay; only a compressor (gzip of the file) sees the zeros;
- unit pruning drops whole hidden units: a smaller dense LSTM, so fewer bytes and FLOPs;
- the student is a smaller LSTM trained on the teacher's quantiles and the labels;
- low-rank replaces the 4H x H recurrent matrix by two factors (4H x r, r x H); ONNX's LSTM
  node takes full matrices, so the low-rank cell is written out step by step (T MatMuls of
  each factor): fewer bytes, but more nodes per call.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from torch.nn.utils import prune

from dwcp_ml.training import pba, prepare
from dwcp_ml.training.data import Trace


@dataclass(frozen=True)
class CompressConfig:
    """The compression settings, fixed before any result is seen.

    prune_amount: share of LSTM and head weights zeroed (global L1 magnitude); keep_units:
    hidden units a unit-pruned LSTM keeps (of the teacher's hidden); student_hidden: the
    distilled LSTM's hidden size; distil_alpha: weight of the teacher-matching term (the rest
    is pinball on the labels); rank: of the low-rank recurrent matrix; finetune_epochs and
    finetune_lr_factor (of the teacher's lr) for the fine-tuning after pruning / factorising;
    the student trains for the teacher's epochs at its lr. calibration_rows: training windows
    the static quantizer calibrates on.
    """

    prune_amount: float = 0.5
    keep_units: int = 64
    student_hidden: int = 32
    distil_alpha: float = 0.5
    rank: int = 32
    finetune_epochs: int = 1
    finetune_lr_factor: float = 0.25
    calibration_rows: int = 2048
    seed: int = 11

    @classmethod
    def tiny(cls) -> CompressConfig:
        """For tests with ``PbaConfig.tiny()`` (hidden 16)."""
        return cls(keep_units=8, student_hidden=4, rank=4)


@dataclass(frozen=True)
class Windows:
    """Normalised training windows and their labels (KB/s)."""

    x: NDArray[np.float32]
    y: NDArray[np.float64]


def training_windows(trained: pba.TrainedPba, traces: list[Trace]) -> Windows:
    """Every labelled window of ``traces`` (a fold's training part) with the teacher's Params:
    the same windows and labels pba.train fits, without its validation cut."""
    params, horizon = trained.params, trained.config.horizon
    xs, ys = [], []
    for t in traces:
        grid = prepare.to_grid(params, t)
        label = pba.future_mean(pba.target_series(grid.values), horizon)
        for rw in pba.run_windows(params, grid, horizon):
            xs.append(rw.x)
            ys.append(label[rw.ends])
    if not xs:
        raise pba.PbaInputError("no complete training window to fine-tune on")
    return Windows(np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys))


def _net(model: nn.Module) -> pba.PbaNet:
    net = model.net
    assert isinstance(net, pba.PbaNet)
    return net


def _fit(model: pba.PbaRawScale, data: Windows, config: pba.PbaConfig, epochs: int, lr: float,
         seed: int, teacher: pba.PbaNet | None = None, alpha: float = 0.0) -> None:
    """pba.train's loop (Adam, linear decay to 0.1, clipping, level-weighted pinball on
    log1p) for ``epochs``; with a teacher, ``alpha`` of the loss is the weighted mean absolute
    distance to the teacher's log1p quantiles. No validation: nothing is chosen here."""
    net = _net(model)
    torch.manual_seed(seed)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    steps = max(1, epochs * -(-len(data.y) // config.batch_size))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - 0.9 * min(s / steps, 1.0))
    q = torch.tensor(config.quantiles, dtype=torch.float32)
    x_all = torch.from_numpy(data.x)
    u_all = torch.from_numpy(np.log1p(data.y).astype(np.float32))
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(u_all), generator=gen)
        for i in range(0, len(order), config.batch_size):
            idx = order[i:i + config.batch_size]
            xb = x_all[idx]
            w = (net.level(xb) + 1.0) ** config.level_weight_power
            u = net(xb)
            loss = pba.pinball(u, u_all[idx], q, w)
            if teacher is not None:
                with torch.no_grad():
                    target = teacher(xb)
                match = ((u - target).abs().mean(dim=1) * w).sum() / w.sum()
                loss = (1.0 - alpha) * loss + alpha * match
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, config.grad_clip)
            opt.step()
            sched.step()
    model.eval()


def copy_model(trained: pba.TrainedPba) -> pba.PbaRawScale:
    """A deep copy of the teacher to compress (the teacher stays as trained)."""
    model = copy.deepcopy(trained.model)
    assert isinstance(model, pba.PbaRawScale)
    return model


def finetune(model: pba.PbaRawScale, trained: pba.TrainedPba, data: Windows,
             cc: CompressConfig) -> None:
    """``finetune_epochs`` of the teacher's loss at ``finetune_lr_factor`` of its lr."""
    c = trained.config
    _fit(model, data, c, cc.finetune_epochs, c.lr * cc.finetune_lr_factor, cc.seed)


def prune_magnitude(trained: pba.TrainedPba, data: Windows, cc: CompressConfig
                    ) -> pba.PbaRawScale:
    """Global L1 (magnitude) pruning of ``prune_amount`` of the LSTM and head weights
    (torch.nn.utils.prune), fine-tuned with the masks held, then the masks made permanent
    (prune.remove) so the exported weights are plain tensors with zeros."""
    model = copy_model(trained)
    net = _net(model)
    targets = [(net.lstm, "weight_ih_l0"), (net.lstm, "weight_hh_l0"), (net.head, "weight")]
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured,
                              amount=cc.prune_amount)
    finetune(model, trained, data, cc)
    for module, name in targets:
        prune.remove(module, name)
    net.lstm.flatten_parameters()
    return model


def sparsity(model: nn.Module) -> float:
    """Share of exactly-zero weights over the LSTM and head weight matrices."""
    net = _net(model)
    ws = [w for n, w in net.named_parameters() if "weight" in n]
    return float(sum(int((w == 0).sum()) for w in ws) / sum(w.numel() for w in ws))


def prune_units(trained: pba.TrainedPba, data: Windows, cc: CompressConfig) -> pba.PbaRawScale:
    """Structured magnitude pruning: keep the ``keep_units`` hidden units with the largest L1
    norm of all their weights (their 4 gate rows of W_ih, W_hh and the biases, their column
    of W_hh and of the head), as a smaller dense LSTM; then fine-tune."""
    old = _net(trained.model)
    h = old.lstm.hidden_size
    if not 1 <= cc.keep_units < h:
        raise pba.PbaInputError(f"keep_units {cc.keep_units}: need 1 <= keep_units < {h}")
    w_ih, w_hh = old.lstm.weight_ih_l0.detach(), old.lstm.weight_hh_l0.detach()
    b_ih, b_hh = old.lstm.bias_ih_l0.detach(), old.lstm.bias_hh_l0.detach()
    rows = lambda w: w.reshape(4, h, -1).abs().sum(dim=(0, 2))  # noqa: E731 - per unit
    score = (rows(w_ih) + rows(w_hh) + rows(b_ih[:, None]) + rows(b_hh[:, None])
             + w_hh.abs().sum(dim=0) + old.head.weight.detach().abs().sum(dim=0))
    keep = torch.sort(torch.topk(score, cc.keep_units).indices).values
    gate_rows = (keep[None, :] + h * torch.arange(4)[:, None]).reshape(-1)
    net = _student(trained, cc.keep_units)
    with torch.no_grad():
        net.lstm.weight_ih_l0.copy_(w_ih[gate_rows])
        net.lstm.weight_hh_l0.copy_(w_hh[gate_rows][:, keep])
        net.lstm.bias_ih_l0.copy_(b_ih[gate_rows])
        net.lstm.bias_hh_l0.copy_(b_hh[gate_rows])
        net.head.weight.copy_(old.head.weight[:, keep])
        net.head.bias.copy_(old.head.bias)
    model = pba.PbaRawScale(net)
    finetune(model, trained, data, cc)
    return model


def _student(trained: pba.TrainedPba, hidden: int) -> pba.PbaNet:
    old = _net(trained.model)
    return pba.PbaNet(old.lstm.input_size, hidden, old.level_index, float(old.level_center),
                      float(old.level_scale))


def distil(trained: pba.TrainedPba, data: Windows, cc: CompressConfig) -> pba.PbaRawScale:
    """A fresh LSTM of ``student_hidden`` units trained for the teacher's epochs on
    (1 - alpha) pinball to the labels + alpha |student - teacher| on the log1p quantiles."""
    torch.manual_seed(cc.seed)
    model = pba.PbaRawScale(_student(trained, cc.student_hidden))
    teacher = copy.deepcopy(_net(trained.model)).eval()
    c = trained.config
    _fit(model, data, c, c.epochs, c.lr, cc.seed, teacher=teacher, alpha=cc.distil_alpha)
    return model


class LowRankLSTM(nn.Module):
    """One-layer LSTM (torch gate order i, f, g, o; zero initial state) whose recurrent
    matrix is ``up @ down`` (4H x r times r x H), unrolled over the window. Returns what
    PbaNet reads of nn.LSTM: ``(out, None)`` with ``out[:, -1]`` the last hidden state."""

    def __init__(self, lstm: nn.LSTM, rank: int) -> None:
        super().__init__()
        h = lstm.hidden_size
        if not 1 <= rank <= h:
            raise pba.PbaInputError(f"rank {rank}: need 1 <= rank <= hidden {h}")
        self.hidden_size = h
        self.weight_ih = nn.Parameter(lstm.weight_ih_l0.detach().clone())
        self.bias = nn.Parameter((lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().clone())
        u, s, vh = torch.linalg.svd(lstm.weight_hh_l0.detach(), full_matrices=False)
        root = s[:rank].sqrt()
        self.up = nn.Parameter((u[:, :rank] * root).contiguous())  # 4H x r
        self.down = nn.Parameter((root[:, None] * vh[:rank]).contiguous())  # r x H

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        n, steps, _ = x.shape
        h = x.new_zeros((n, self.hidden_size))
        c = x.new_zeros((n, self.hidden_size))
        xw = x @ self.weight_ih.T + self.bias  # all steps' input terms in one MatMul
        for t in range(steps):
            gates = xw[:, t] + (h @ self.down.T) @ self.up.T
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        return h[:, None], None


def low_rank(trained: pba.TrainedPba, data: Windows, cc: CompressConfig) -> pba.PbaRawScale:
    """SVD of the teacher's recurrent matrix truncated to ``rank`` (the input matrix, 4H x F
    with F = 14 features, is already of rank <= 14 and stays), then fine-tuned."""
    model = copy_model(trained)
    net = _net(model)
    net.lstm = LowRankLSTM(net.lstm, cc.rank)
    finetune(model, trained, data, cc)
    return model


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
