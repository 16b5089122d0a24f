"""PBA evaluation: train on Bitbrains July, forecast August on the 5-minute grid.

Protocol (DESIGN "Evaluation protocol"): the quantity is the mean bandwidth
(net_rx_kbs + net_tx_kbs, KB/s) over the next 15 minutes, judged on the raw scale. Every method
answers at the same forecast origins: bins of August with a complete feature window, the 3
label bins, and a full day of history in the same complete run (so every naive baseline is
defined). Baselines (labels and baselines are plain arithmetic on the grid, not features):

- last value: the target at the origin bin;
- same time yesterday: the mean of the same 3 bins 288 bins (one day) earlier;
- mean / median of the last hour (12 bins up to the origin);
- p85 of the last day (288 bins up to the origin): the naive *allocation*.

Allocation view: if the upper forecast is the bandwidth allocated for the next 15 minutes,
``covered`` = share of intervals whose demand fits, ``served`` = share of the traffic that fits
(sum of min(demand, allocation) / sum of demand), ``beyond`` = bandwidth allocated above demand
per KB of demand, ``served per allocated KB`` = sum of min(demand, allocation) / sum of
allocation (the efficiency the target compares with the naive p85).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from . import data, pba, prepare
from .baselines import DAY_BINS, NAMES as BASELINE_NAMES, naive_forecasts

WAPE_GAIN_TARGET = 0.15  # model WAPE at least 15 % below the best naive baseline
COVERAGE_TARGET = 0.85


@dataclass
class VmForecasts:
    """Labels and every method's forecast at the common origins of one VM."""

    vm: str
    ts: NDArray[np.int64]
    y: NDArray[np.float64]
    model: NDArray[np.float64]  # (n, 3) lower, point, upper
    baselines: dict[str, NDArray[np.float64]]


def vm_forecasts(trained: pba.TrainedPba, grid: prepare.GridTrace) -> VmForecasts | None:
    params, horizon = trained.params, trained.config.horizon
    y_t = pba.target_series(grid.values)
    label = pba.future_mean(y_t, horizon)
    xs, es = [], []
    for a, b in prepare.complete_runs(grid, max(params.input_len, DAY_BINS) + horizon):
        for rw in pba.run_windows(params, prepare.GridTrace(grid.name, grid.ts[a:b],
                                                            grid.values[a:b], grid.counts[a:b]),
                                  horizon):
            keep = rw.ends >= DAY_BINS  # a full day (and yesterday's 3 label bins) in this run
            xs.append(rw.x[keep])
            es.append(rw.ends[keep] + a)
    if not xs or not sum(len(e) for e in es):
        return None
    x, e = np.concatenate(xs), np.concatenate(es)
    baselines = naive_forecasts(y_t, e, label[e - DAY_BINS])
    return VmForecasts(grid.name, grid.ts[e], label[e], trained.predict(x).astype(np.float64),
                       baselines)


def allocation(y: np.ndarray, alloc: np.ndarray) -> dict[str, float]:
    served = np.minimum(y, alloc).sum()
    return {
        "covered": float(np.mean(y <= alloc)),
        "served": float(served / y.sum()),
        "beyond_per_kb_demand": float(np.maximum(alloc - y, 0).sum() / y.sum()),
        "served_per_allocated_kb": float(served / alloc.sum()),
    }


def _pooled(fs: list[VmForecasts]) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    y = np.concatenate([f.y for f in fs])
    model = np.concatenate([f.model for f in fs])
    base = {k: np.concatenate([f.baselines[k] for f in fs]) for k in BASELINE_NAMES}
    return y, model, base


def _wape_acc(y: np.ndarray, p: np.ndarray) -> float:
    s = y.sum()
    return 1.0 - float(np.abs(p - y).sum() / s) if s > 0 else float("nan")


def summarise(fs: list[VmForecasts], quantiles: tuple[float, float, float]) -> dict[str, object]:
    y, model, base = _pooled(fs)
    points = {"pba": pba.point_metrics(y, model[:, 1])}
    points.update({k: pba.point_metrics(y, v) for k, v in base.items()})
    best = max(BASELINE_NAMES, key=lambda k: points[k]["accuracy_1_minus_wape"])
    wape_model = 1 - points["pba"]["accuracy_1_minus_wape"]
    wape_best = 1 - points[best]["accuracy_1_minus_wape"]
    coverage = {
        "interval": float(np.mean((y >= model[:, 0]) & (y <= model[:, 2]))),
        "nominal_interval": quantiles[2] - quantiles[0],
        "below_upper": float(np.mean(y <= model[:, 2])),
        "above_lower": float(np.mean(y >= model[:, 0])),
        "below_point": float(np.mean(y <= model[:, 1])),
    }
    alloc = {"pba_upper": allocation(y, model[:, 2]), "pba_point": allocation(y, model[:, 1])}
    alloc.update({k: allocation(y, base[k]) for k in BASELINE_NAMES})
    per_vm = []
    for f in fs:
        row = {"vm": f.vm, "origins": len(f.y), "mean_kbs": float(f.y.mean()),
               "pba": _wape_acc(f.y, f.model[:, 1]),
               "coverage": float(np.mean((f.y >= f.model[:, 0]) & (f.y <= f.model[:, 2])))}
        row.update({k: _wape_acc(f.y, f.baselines[k]) for k in BASELINE_NAMES})
        per_vm.append(row)
    targets = {
        "best_baseline": best,
        "wape_model": wape_model,
        "wape_best_baseline": wape_best,
        "wape_reduction": 1 - wape_model / wape_best if wape_best > 0 else float("nan"),
        "wape_target_met": bool(wape_model <= (1 - WAPE_GAIN_TARGET) * wape_best),
        "coverage_target_met": bool(alloc["pba_upper"]["covered"] >= COVERAGE_TARGET),
        "efficiency_target_met": bool(alloc["pba_upper"]["served_per_allocated_kb"]
                                      > alloc["p85 last day"]["served_per_allocated_kb"]),
    }
    return {"origins": int(len(y)), "vms": len(fs), "point": points, "coverage": coverage,
            "allocation": alloc, "targets": targets, "per_vm": per_vm}


def _plots(fs: list[VmForecasts], summary: dict[str, object], out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    points = summary["point"]
    methods = ["pba", *BASELINE_NAMES]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    acc = [points[m]["accuracy_1_minus_wape"] for m in methods]
    ax.bar(methods, acc, color=["tab:blue"] + ["tab:gray"] * len(BASELINE_NAMES))
    ax.set_ylabel("1 - WAPE (pooled, August)")
    ax.axhline(0, color="black", lw=0.5)
    ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    fig.savefig(out_dir / "pba_accuracy.png", dpi=110)
    plt.close(fig)
    names.append("pba_accuracy.png")

    # The VM with the most traffic: where allocation errors cost the most.
    f = max(fs, key=lambda v: float(v.y.sum()))
    n = min(len(f.y), 3 * DAY_BINS)
    t = (f.ts[:n] - f.ts[0]) / 3600.0
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.fill_between(t, f.model[:n, 0], f.model[:n, 2], color="tab:blue", alpha=0.25,
                    label="PBA interval (q0.1-q0.9)")
    ax.plot(t, f.y[:n], color="black", lw=0.8, label="actual mean of next 15 min")
    ax.plot(t, f.model[:n, 1], color="tab:blue", lw=0.8, label="PBA point (median)")
    ax.plot(t, f.baselines["p85 last day"][:n], color="tab:orange", lw=0.8,
            label="naive p85 of last day")
    ax.set_yscale("symlog", linthresh=10)
    ax.set_xlabel("hours since first origin")
    ax.set_ylabel("KB/s")
    ax.set_title(f"{f.vm}: first 3 days of August origins")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "pba_example.png", dpi=110)
    plt.close(fig)
    names.append("pba_example.png")
    return names


def _fmt(v: float) -> str:
    return "n/a" if v != v else f"{v:.3f}" if abs(v) < 1000 else f"{v:,.0f}"


def markdown(summary: dict[str, object], train: dict[str, object], images: list[str]) -> str:
    pts, alloc, cov, tg = (summary["point"], summary["allocation"], summary["coverage"],
                           summary["targets"])
    lines = [
        "# PBA bandwidth forecaster: July -> August 2013 (Bitbrains)",
        "",
        f"Trained on July ({train['train_vms']} VMs, {train['train_windows']:.0f} train / "
        f"{train['val_windows']:.0f} validation windows, time split), in "
        f"{train['train_seconds']:.0f} s of training after {train['load_seconds']:.0f} s of "
        f"loading, {train['threads']} torch threads. Configuration: `{train['config']}`.",
        "",
        f"ONNX export verified against torch on {train['onnx_rows_verified']:.0f} held-out July "
        f"rows: max |diff| {train['onnx_max_abs_error_kbs']:.3g} KB/s, max relative "
        f"{train['onnx_max_rel_error']:.3g} (tolerance atol {train['onnx_atol']:g} KB/s + "
        f"rtol {train['onnx_rtol']:g}).",
        "",
        f"Evaluated on August: {summary['vms']} VMs, {summary['origins']:,} forecast origins on "
        "the 5-minute grid (each with a full window, a full day of history and the 3 label "
        "bins). Quantity: mean of net_rx_kbs + net_tx_kbs over the next 15 minutes, KB/s, raw "
        "scale. MAPE over labels >= 1 KB/s only.",
        "",
        "## Point forecast (pooled)",
        "",
        "| method | 1 - WAPE | MAE KB/s | RMSE KB/s | MAPE |",
        "|---|---|---|---|---|",
    ]
    for m, v in pts.items():
        lines.append(f"| {m} | {_fmt(v['accuracy_1_minus_wape'])} | {_fmt(v['mae'])} | "
                     f"{_fmt(v['rmse'])} | {_fmt(v['mape'])} |")
    lines += [
        "",
        f"Target: WAPE at least {WAPE_GAIN_TARGET:.0%} below the best naive baseline "
        f"({tg['best_baseline']}): model WAPE {tg['wape_model']:.3f} vs {tg['wape_best_baseline']:.3f}"
        f", a reduction of {tg['wape_reduction']:.1%} -> **{'met' if tg['wape_target_met'] else 'NOT met'}**.",
        "",
        "## Interval",
        "",
        f"- q0.1-q0.9 interval coverage: {cov['interval']:.3f} (nominal {cov['nominal_interval']:.2f})",
        f"- demand <= upper: {cov['below_upper']:.3f}; >= lower: {cov['above_lower']:.3f}; "
        f"<= point: {cov['below_point']:.3f}",
        "",
        "## Allocation view (allocated bandwidth = forecast)",
        "",
        "| allocator | intervals covered | traffic served | allocated beyond demand (per KB demand) | served per allocated KB |",
        "|---|---|---|---|---|",
    ]
    for m, v in alloc.items():
        lines.append(f"| {m} | {v['covered']:.3f} | {v['served']:.3f} | "
                     f"{v['beyond_per_kb_demand']:.3f} | {v['served_per_allocated_kb']:.3f} |")
    lines += [
        "",
        f"Target: >= {COVERAGE_TARGET:.0%} of intervals covered by the upper forecast -> "
        f"**{'met' if tg['coverage_target_met'] else 'NOT met'}**; more traffic served per "
        "allocated KB than the naive p85 of the last day -> "
        f"**{'met' if tg['efficiency_target_met'] else 'NOT met'}**.",
        "",
    ]
    lines += [f"![{name}]({name})" for name in images]
    per_vm = summary["per_vm"]
    acc = np.array([r["pba"] for r in per_vm])
    best = np.array([max(r[k] for k in BASELINE_NAMES) for r in per_vm])
    lines += [
        "",
        "## Per VM (1 - WAPE)",
        "",
        f"Median over VMs with traffic: PBA {np.nanmedian(acc):.3f}, best baseline per VM "
        f"{np.nanmedian(best):.3f}; "
        f"PBA beats every baseline on {int((acc > best).sum())} of {len(per_vm)} VMs.",
        "",
        "| vm | origins | mean KB/s | PBA | coverage | " + " | ".join(BASELINE_NAMES) + " |",
        "|---|---|---|---|---|" + "---|" * len(BASELINE_NAMES),
    ]
    for r in sorted(per_vm, key=lambda r: -r["mean_kbs"]):
        lines.append(f"| {r['vm']} | {r['origins']} | {_fmt(r['mean_kbs'])} | {_fmt(r['pba'])} | "
                     f"{r['coverage']:.3f} | " + " | ".join(_fmt(r[k]) for k in BASELINE_NAMES) + " |")
    return "\n".join(lines) + "\n"


def _export_check(trained: pba.TrainedPba, out: Path) -> dict[str, float]:
    """Exports the evaluated model (raises if ONNX disagrees with torch) and writes pba.onnx."""
    from dwcp_ml.export import onnx_pba  # export depends on training, not the other way

    model = onnx_pba.export(trained)
    (out / "pba.onnx").write_bytes(model.onnx_bytes)
    v = model.verification
    return {"onnx_rows_verified": float(v.rows), "onnx_max_abs_error_kbs": v.max_abs_error,
            "onnx_max_rel_error": v.max_rel_error, "onnx_atol": v.atol, "onnx_rtol": v.rtol}


def load_month(month: str, root: Path) -> list[data.Trace]:
    return [data.load_bitbrains_vm(month, vm, root) for vm in data.bitbrains_vms(month, root)]


def evaluate(data_root: Path | str | None, out_dir: Path | str,
             config: pba.PbaConfig = pba.PbaConfig(), progress: bool = False,
             ) -> tuple[str, dict[str, object]]:
    """Trains on July, evaluates on August; writes pba_report.md, pba_metrics.json and PNGs
    into out_dir and returns (markdown, metrics)."""
    root = data.data_dir(data_root)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    july = load_month("2013-7", root)
    load_s = time.perf_counter() - t
    trained = pba.train(july, config, progress=progress)
    train_info = {"train_vms": len(july), "load_seconds": load_s, "threads": config.threads,
                  "config": str(asdict(config)), **trained.metrics}
    train_info.update(_export_check(trained, out))
    august = load_month("2013-8", root)
    fs = [f for f in (vm_forecasts(trained, prepare.to_grid(trained.params, tr)) for tr in august)
          if f is not None]
    if not fs:
        raise pba.PbaInputError("no August VM has a complete day plus a window to forecast from")
    summary = summarise(fs, config.quantiles)
    images = _plots(fs, summary, out)
    md = markdown(summary, train_info, images)
    metrics = {"train": train_info, "history": trained.history, **summary}
    (out / "pba_report.md").write_text(md)
    (out / "pba_metrics.json").write_text(json.dumps(metrics, indent=1, default=float))
    return md, metrics


if __name__ == "__main__":  # python -m dwcp_ml.training.eval_pba OUT_DIR
    import sys

    text, _ = evaluate(None, sys.argv[1] if len(sys.argv) > 1 else "pba_eval", progress=True)
    print(text)
