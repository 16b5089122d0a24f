"""The compression table: per technique, size, rolling-origin CV accuracy, the change against
the float model, Go in-process latency, and Go vs Python ONNX Runtime bits.

    python -m dwcp_ml.compress.report --out DIR [--data ROOT] [--train SELECTION]
        [--folds 5] [--calls 2000] [--tiny]

Protocol: the folds are evaluation.pba's rolling-origin folds over the selection
(``eval_pba.dev_folds``: 14 training days, a 1-day gap, equal test ranges). In each fold the
float teacher is trained on the fold's training part exactly as ``eval_pba.cross_validate``
trains it (the PBA LSTM, PbaConfig() on 1 thread), every variant is made from it with the fold's
training windows only (fine-tuning, distillation, calibration), and all of them, beside every
naive baseline, are judged at the same test origins with evaluation.pba's metrics (``wape`` pooled
on the raw scale, ``wape_gain`` against the fold's best baseline). The compression settings
(:class:`CompressConfig`) are fixed before the run. Latency and the Go bit check use the last
fold's models (the architecture, not the weights, sets the cost: ONNX Runtime multiplies
dense tensors, zeros included).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from dwcp_ml.evaluation import pba as eval_pba
from dwcp_ml.export import go_latency
from dwcp_ml.training import cv, data, pba
from dwcp_ml.training.selection import SelectionError, parse

from . import onnx_quant, pba_torch
from .pba_torch import CompressConfig
from .variants import CONTROL, FLOAT, Variant, ort_predict, pba_variants

# Every fold trains the teacher and four more models and exports five: on the shared 2-core
# machine (load ~8) 10 VMs of July + August took 364 s for the first fold alone (~70 min in
# all), so the default is what fits a 25-minute run: 5 VMs of July (evaluation.pba's DEV: 20 VMs
# of July + August).
DEFAULT_TRAIN = "bitbrains:months=2013-7:vms=first:5"
ACCURACY_LOSS_TARGET = 0.02  # at most 2 % of the float model's 1 - WAPE lost, fold mean
GO_BIT_ROWS = 64
LATENCY_ROUNDS = 3
BATCH = 4096
TREE_MODELS = ("scaling", "anomaly")  # bundle models whose graph is a tree ensemble
QUANT_OPS = ("DynamicQuantizeLinear", "MatMulInteger", "DynamicQuantizeLSTM", "QuantizeLinear",
             "DequantizeLinear", "QLinearMatMul", "QGemm")


@dataclass
class Row:
    """One variant: what it is, its CV metrics per fold and its serving figures."""

    name: str
    technique: str
    size_bytes: int
    gzip_bytes: int
    parameters: int
    sparsity: float
    bundle_compatible: bool
    verified_against: str
    max_abs_error: float
    atol: float
    rtol: float
    tolerance_used: float
    folds: list[dict[str, float]]
    go_p50_us: float = float("nan")
    go_p99_us: float = float("nan")
    go_bits_equal: bool = False

    def mean_sd(self, key: str) -> tuple[float, float]:
        v = np.array([f[key] for f in self.folds], dtype=np.float64)
        return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def _batched(onnx_bytes: bytes):  # noqa: ANN202 - a numpy callable
    run = ort_predict(onnx_bytes)
    return lambda x: np.concatenate([run(x[i:i + BATCH]) for i in range(0, len(x), BATCH)])


def _fold_rows(variants: list[Variant], teacher: pba.TrainedPba, test: list[data.Trace],
               origin_from: int) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """evaluation.pba's fold metrics of every variant (and of the baselines) at one fold's origins:
    the windows are made once (with the float model) and replayed through each variant."""
    xs: list[np.ndarray] = []
    float_run = _batched(variants[0].onnx_bytes)

    def record(x: np.ndarray) -> np.ndarray:
        xs.append(x)
        return float_run(x)

    fs = eval_pba.forecasts(teacher.params, teacher.config.horizon, record, test, origin_from)
    if not fs:
        raise cv.FoldError("compress: a fold has no test origin with a complete window and a "
                           "day of history")
    rows, base = {}, {}
    for v in variants:
        run = _batched(v.onnx_bytes)
        model, base = eval_pba.fold_metrics(
            [replace(f, model=run(x).astype(np.float64)) for f, x in zip(fs, xs)])
        rows[v.name] = model
    return rows, base


def cross_validate(traces: list[data.Trace], config: pba.PbaConfig, cc: CompressConfig,
                   folds: list[cv.TimeFold], progress: bool = False
                   ) -> tuple[list[Row], dict[str, list[dict[str, float]]], list[Variant],
                              pba.TrainedPba]:
    """Rows per variant (CV metrics filled), baseline metrics per fold, and the last fold's
    variants and teacher (for latency and the Go check)."""
    config = replace(config, threads=1)
    history = eval_pba.history_seconds(config.params(), config.horizon)
    rows: dict[str, Row] = {}
    baselines: dict[str, list[dict[str, float]]] = {}
    variants: list[Variant] = []
    teacher: pba.TrainedPba | None = None
    for fold in folds:
        started = time.perf_counter()
        train = cv.train_part(traces, fold)
        test = cv.test_part(traces, fold, history=history)
        try:
            teacher = pba.train(train, config)
            variants = pba_variants(teacher, pba_torch.training_windows(teacher, train), cc,
                                    progress)
        except pba.PbaInputError as exc:
            raise cv.FoldError(f"compress {fold.describe()}: {exc}") from None
        fold_rows, base = _fold_rows(variants, teacher, test, fold.test_start)
        for k, m in base.items():
            baselines.setdefault(k, []).append(m)
        acc_float = 1.0 - fold_rows[FLOAT]["wape"]
        acc_control = 1.0 - fold_rows[CONTROL]["wape"]
        for v in variants:
            m = dict(fold_rows[v.name])
            m["accuracy_change"] = (1.0 - m["wape"]) / acc_float - 1.0
            m["accuracy_change_vs_control"] = (1.0 - m["wape"]) / acc_control - 1.0
            if v.name not in rows:
                ver = v.verification
                rows[v.name] = Row(v.name, v.technique, len(v.onnx_bytes),
                                   len(gzip.compress(v.onnx_bytes, mtime=0)), v.parameters,
                                   v.sparsity, v.bundle_compatible, v.verified_against,
                                   ver.max_abs_error, ver.atol, ver.rtol, v.tolerance_used,
                                   [])
            rows[v.name].folds.append(m)
        if progress:
            print(f"compress {fold.describe()}: float WAPE {fold_rows[FLOAT]['wape']:.3f}, "
                  + ", ".join(f"{n} {fold_rows[n]['wape']:.3f}" for n in fold_rows if n != FLOAT)
                  + f" ({time.perf_counter() - started:.0f} s)", flush=True)
    assert teacher is not None
    return list(rows.values()), baselines, variants, teacher


def go_figures(rows: list[Row], variants: list[Variant], teacher: pba.TrainedPba, out: Path,
               calls: int) -> None:
    """Writes each variant's ONNX into out/onnx and fills its Go latency (one row; the median
    over LATENCY_ROUNDS rounds that each time every variant in turn, so a burst of load
    from other processes hits one round, not one variant) and whether Go's outputs equal
    Python ONNX Runtime's bit for bit on held-out rows."""
    (out / "onnx").mkdir(parents=True, exist_ok=True)
    p = teacher.params
    x = teacher.holdout_x[:GO_BIT_ROWS]
    by_name = {r.name: r for r in rows}
    paths = {}
    for v in variants:
        paths[v.name] = out / "onnx" / f"{v.name}.onnx"
        paths[v.name].write_bytes(v.onnx_bytes)
        py = ort_predict(v.onnx_bytes)(x)
        go = go_latency.go_outputs(paths[v.name], x)
        by_name[v.name].go_bits_equal = go.shape == py.shape and bool(
            np.array_equal(go.view(np.uint32), py.view(np.uint32)))
    rounds = [{n: go_latency.go_latency_us(path, (1, p.seq_len, p.n_features), calls)
               for n, path in paths.items()} for _ in range(LATENCY_ROUNDS)]
    for n in paths:
        by_name[n].go_p50_us = float(np.median([r[n][0] for r in rounds]))
        by_name[n].go_p99_us = float(np.median([r[n][1] for r in rounds]))


def pareto(rows: list[Row], cost: str) -> set[str]:
    """Names on the front of (cost, mean WAPE), both lower is better; cost is a Row field."""
    pts = {r.name: (float(getattr(r, cost)), r.mean_sd("wape")[0]) for r in rows}
    return {n for n, (c, w) in pts.items()
            if not any(c2 <= c and w2 <= w and (c2, w2) != (c, w) for c2, w2 in pts.values())}


def tree_quantization(bundle_dir: Path) -> list[str]:
    """What int8 dynamic quantization does to the bundle's tree-ensemble models."""
    import onnx

    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    lines = []
    for m in manifest["models"]:
        if m["name"] not in TREE_MODELS:
            continue
        onnx_bytes = (bundle_dir / m["file"]).read_bytes()
        q = onnx.load_from_string(onnx_quant.dynamic_int8(onnx_bytes))
        n = sum(node.op_type in QUANT_OPS for node in q.graph.node)
        ops = sorted({node.op_type for node in onnx.load_from_string(onnx_bytes).graph.node})
        lines.append(f"- `{m['name']}` ({', '.join(ops)}): quantize_dynamic rewrote {n} nodes "
                     f"into int8 ones; ONNX Runtime has no int8 tree ensemble, so INT8 "
                     f"{'does not apply' if n == 0 else 'applies to part of it'}.")
    return lines


def _pm(mean_sd: tuple[float, float], fmt: str = ".3f", sign: str = "") -> str:
    return f"{mean_sd[0]:{sign}{fmt}} +- {mean_sd[1]:{fmt}}"


def markdown(rows: list[Row], baselines: dict[str, list[dict[str, float]]], folds: list[str],
             header: list[str], trees: list[str]) -> str:
    fronts = [pareto(rows, cost) for cost in ("size_bytes", "go_p50_us", "go_p99_us")]
    lines = [*header, "", *[f"- {f}" for f in folds], "",
             "| variant | technique | size B | gzip B | params | zeros | bundle opsets | "
             "verified vs | max abs err KB/s (share of tolerance) | WAPE | accuracy change | "
             "vs control | gain vs best baseline | covered | Go p50 / p99 µs | "
             "Go = Python bits | Pareto size / p50 / p99 |",
             "|---" * 17 + "|"]
    for r in rows:
        tol = f"{r.tolerance_used:.2g} of {r.atol:g} + {r.rtol:g} rel" + (
            "" if r.tolerance_used <= 1 else ": EXCEEDED")
        cells = [r.name, r.technique, f"{r.size_bytes:,}", f"{r.gzip_bytes:,}",
                 f"{r.parameters:,}", f"{r.sparsity:.0%}",
                 "yes" if r.bundle_compatible else "no", r.verified_against,
                 f"{r.max_abs_error:.2g} ({tol})", _pm(r.mean_sd("wape")),
                 _pm(r.mean_sd("accuracy_change"), ".2%", "+"),
                 _pm(r.mean_sd("accuracy_change_vs_control"), ".2%", "+"),
                 _pm(r.mean_sd("wape_gain"), ".1%", "+"), _pm(r.mean_sd("covered")),
                 f"{r.go_p50_us:.1f} / {r.go_p99_us:.1f}", "yes" if r.go_bits_equal else "NO",
                 "/".join("yes" if r.name in f else "no" for f in fronts)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Naive baselines at the same origins (WAPE, mean +- sd over folds):", ""]
    for k, v in baselines.items():
        w = np.array([m["wape"] for m in v])
        lines.append(f"- {k}: {w.mean():.3f} +- {w.std(ddof=1) if len(w) > 1 else 0.0:.3f}")
    met = [r.name for r in rows if r.name not in (FLOAT, CONTROL)
           and r.mean_sd("accuracy_change")[0] >= -ACCURACY_LOSS_TARGET]
    quant = [r for r in rows if "int8" in r.name]
    winners = [r.name for r in quant if r.name in met and any(r.name in f for f in fronts)]
    lines += ["", f"Accuracy target (at most {ACCURACY_LOSS_TARGET:.0%} of the float model's "
              f"1 - WAPE lost, fold mean): met by {', '.join(met) or 'none'}.",
              "Quantized variants on a Pareto front (size, Go p50 or Go p99 vs mean WAPE) "
              f"within the accuracy target: {', '.join(winners) or 'none'}.", "",
              "Tree-ensemble models of the default bundle:", "", *trees]
    return "\n".join(lines) + "\n"


def run(out: Path, train: str, data_root: Path | None, n_folds: int, calls: int, tiny: bool,
        bundle_dir: Path, progress: bool = True) -> str:
    sel = parse(train)
    # The techniques compress a network: the teacher is the PBA LSTM (the shipped LightGBM
    # is a tree ensemble; INT8, pruning and low-rank do not apply to it).
    config = pba.PbaConfig.tiny() if tiny else pba.PbaConfig(threads=1)
    cc = CompressConfig.tiny() if tiny else CompressConfig()
    traces = eval_pba.load(sel, data.data_dir(data_root))
    folds = eval_pba.dev_folds(traces, n_folds)[0]
    torch.set_num_threads(1)
    started = time.perf_counter()
    rows, baselines, variants, teacher = cross_validate(traces, config, cc, folds, progress)
    go_figures(rows, variants, teacher, out, calls)
    load = os.getloadavg()
    header = [
        "# PBA compression", "",
        f"- **Trained and tested on**: {sel.describe()} ({len(traces)} traces), rolling-origin "
        f"folds ({len(folds)}); each fold's teacher and variants see its training part only.",
        "- **Selected on**: nothing; the teacher is the PBA LSTM "
        f"(`{asdict(replace(config, threads=1))}`), the compression settings are fixed "
        f"before the run: `{asdict(cc)}`.",
        "- **Accuracy**: evaluation.pba's pooled raw-scale WAPE of the point forecast at the test "
        "origins; accuracy change = (1 - WAPE) / (1 - WAPE of the float model) - 1 per fold; "
        f"vs control: the same against `{CONTROL}` (the teacher given the fine-tuning the "
        "pruned and low-rank variants get, uncompressed); covered = share of intervals the "
        "upper quantile covers.",
        f"- **Go**: `dwcp-bench -onnx` (Go in-process, ONNX Runtime 1 thread, model only, one "
        f"row of {teacher.params.seq_len} x {teacher.params.n_features}), {calls} calls, median "
        f"of {LATENCY_ROUNDS} rounds over all variants, last fold's models; bits compared on "
        f"{GO_BIT_ROWS} held-out rows. Size: ONNX bytes as a bundle holds them (no per-node "
        "exporter metadata).",
        f"- Run time {time.perf_counter() - started:.0f} s on 1 torch thread; load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) when the Go latency was "
        "measured (the 2 cores are shared: p99 is the noisy figure)."]
    md = markdown(rows, baselines, [f.describe() for f in folds], header,
                  tree_quantization(bundle_dir))
    out.mkdir(parents=True, exist_ok=True)
    (out / "compress_report.md").write_text(md)
    (out / "compress_metrics.json").write_text(json.dumps(
        {"train": sel.describe(), "folds": [f.describe() for f in folds],
         "config": asdict(config), "compress": asdict(cc), "rows": [asdict(r) for r in rows],
         "baselines": baselines}, indent=1, default=float))
    return md


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dwcp_ml.compress.report",
                                 description="PBA compression table (size, CV accuracy, Go "
                                             "latency) into OUT/compress_report.md")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--train", default=DEFAULT_TRAIN, help=f"selection (default {DEFAULT_TRAIN})")
    ap.add_argument("--data", type=Path, default=None, help="data root (default ../shared/data)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=2000, help="Go latency calls per variant")
    ap.add_argument("--tiny", action="store_true", help="tiny teacher and variants (tests)")
    ap.add_argument("--bundle", type=Path, default=go_latency.REPO / "golden" / "bundle",
                    help="bundle whose tree models are checked for INT8")
    args = ap.parse_args(argv)
    try:
        print(run(args.out, args.train, args.data, args.folds, args.calls, args.tiny,
                  args.bundle))
    except (SelectionError, cv.FoldError, data.TraceFormatError, pba.PbaInputError,
            go_latency.GoLatencyError) as exc:
        print(f"dwcp-ml compress: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
