"""Evaluation of task partitioning over DWCP's streams (docs/partition.md).

Completion time of a task cut by the link-model split (per-stream forecasts of the link model,
chunks by the feature core's ``fc_partition_chunks``) against round-robin equal split, one
random stream and the last-value-proportional split (the same C rule with each stream's last
5-minute bandwidth as the forecast), on the multi-stream simulator of
``training/partition_sim.py`` over a grid of stream heterogeneity x volatility.

Statistics: for every task the log ratio ``log(T_baseline / T_link_model)``; its mean over a
seed's tasks is that seed's log speed-up; the interval is the paired 95 % t-interval over the
seeds (30 by default, evaluation seeds disjoint from the link model's training seed). A
speed-up is claimed only where the interval lies above 1, a slow-down only where it lies
below; anything else is reported as no difference shown.

Run: ``python -m dwcp_ml.evaluation.partition --out reports`` (or :func:`evaluate` with an
EvalRequest; :func:`itp_section` for the ITP report).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from dwcp_ml.training import link, partition_sim
from dwcp_ml.training.link_traces import LinkTraceConfig, traces
from dwcp_ml.training.partition_sim import POLICIES, REFERENCES, PartitionSimConfig

from .request import EvalRequest

BASELINES = ("equal_split", "random_stream", "last_value")
MODEL = "link_model"
PLOT = "partition_speedup.png"


@dataclass(frozen=True)
class Interval:
    """A speed-up (T_baseline / T_model, geometric over tasks) with its 95 % interval."""

    mean: float
    lo: float
    hi: float

    @property
    def verdict(self) -> str:
        if self.lo > 1.0:
            return "faster"
        if self.hi < 1.0:
            return "slower"
        return "no difference shown"

    def text(self) -> str:
        return f"{self.mean:.3f} [{self.lo:.3f}, {self.hi:.3f}]"


def interval(per_seed_log: np.ndarray) -> Interval:
    """exp of the mean of per-seed log ratios and of its 95 % t-interval."""
    x = np.asarray(per_seed_log, np.float64)
    m = float(x.mean())
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return Interval(float(np.exp(m)), float(np.exp(m - half)), float(np.exp(m + half)))


def train_link_model(config: link.LinkConfig = link.LinkConfig(),
                     links: LinkTraceConfig = LinkTraceConfig()) -> link.TrainedLink:
    """The link model as shipped: trained on the training seed's links only."""
    return link.train(traces(links), config)


def simulate(model: link.TrainedLink, sim: PartitionSimConfig = PartitionSimConfig()
             ) -> dict[str, object]:
    """Every cell: per-seed log speed-ups of the model over each baseline, geometric mean
    completion seconds of every policy, tasks run and skipped."""
    cells = []
    for h in sim.heterogeneity:
        for v in sim.volatility:
            per_seed: dict[str, list[float]] = {b: [] for b in (*BASELINES, *REFERENCES)}
            log_t: dict[str, list[float]] = {p: [] for p in (*POLICIES, *REFERENCES)}
            n_tasks = skipped = 0
            for k in range(sim.seeds):
                results, sk = partition_sim.run_cell(model.params, model.predict, sim, h, v, k)
                skipped += sk
                if not results:
                    raise partition_sim.PartitionSimError(
                        f"cell H={h} V={v} seed {k}: every task skipped")
                n_tasks += len(results)
                t = {p: np.array([r.seconds[p] for r in results]) for p in log_t}
                for p in log_t:
                    log_t[p] += np.log(t[p]).tolist()
                for b in BASELINES:
                    per_seed[b].append(float(np.mean(np.log(t[b] / t[MODEL]))))
                # the oracle's ratio to the model: how much a perfect 15-minute forecast adds
                per_seed["oracle_15min"].append(
                    float(np.mean(np.log(t[MODEL] / t["oracle_15min"]))))
            cells.append({
                "heterogeneity": h, "volatility": v, "tasks": n_tasks, "skipped": skipped,
                "geomean_seconds": {p: float(np.exp(np.mean(x))) for p, x in log_t.items()},
                "speedup": {b: asdict(interval(np.array(x))) for b, x in per_seed.items()},
            })
    return {"config": asdict(sim), "cells": cells}


def _iv(d: dict[str, float]) -> Interval:
    return Interval(d["mean"], d["lo"], d["hi"])


def table(result: dict[str, object]) -> list[str]:
    """The results table (markdown)."""
    lines = ["| H (capacity ratio) | V (volatility) | tasks | link model s (geo. mean) | "
             "speed-up vs equal split | vs one random stream | vs last value | "
             "oracle-15min over link model |",
             "|---|---|---|---|---|---|---|---|"]
    for c in result["cells"]:  # type: ignore[union-attr]
        s = c["speedup"]
        cols = []
        for b in BASELINES:
            iv = _iv(s[b])
            mark = "**" if iv.verdict == "faster" else ""
            tag = "" if iv.verdict != "slower" else " (slower)"
            cols.append(f"{mark}{iv.text()}{mark}{tag}")
        o = _iv(s["oracle_15min"])
        lines.append(f"| {c['heterogeneity']:g} | {c['volatility']:g} | {c['tasks']} | "
                     f"{c['geomean_seconds'][MODEL]:.0f} | " + " | ".join(cols)
                     + f" | {o.text()} |")
    return lines


def verdicts(result: dict[str, object]) -> list[str]:
    """One sentence per baseline: where the intervals show a speed-up and where they do not."""
    out = []
    for b in BASELINES:
        by: dict[str, list[str]] = {"faster": [], "slower": [], "no difference shown": []}
        for c in result["cells"]:  # type: ignore[union-attr]
            by[_iv(c["speedup"][b]).verdict].append(
                f"H={c['heterogeneity']:g}/V={c['volatility']:g}")
        out.append(f"- vs {b}: faster in {len(by['faster'])} of {len(result['cells'])} cells"
                   f" ({', '.join(by['faster']) or 'none'}); slower in "
                   f"{', '.join(by['slower']) or 'none'}; no difference shown in "
                   f"{', '.join(by['no difference shown']) or 'none'}.")
    return out


def plot(result: dict[str, object], path: Path) -> None:
    """Speed-up vs volatility, one line per heterogeneity, one panel per baseline, 95 %
    intervals as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = result["cells"]  # type: ignore[assignment]
    hs = sorted({c["heterogeneity"] for c in cells})
    fig, axes = plt.subplots(1, len(BASELINES), figsize=(5 * len(BASELINES), 4), sharex=True)
    for ax, b in zip(axes, BASELINES):
        for h in hs:
            row = sorted((c for c in cells if c["heterogeneity"] == h),
                         key=lambda c: c["volatility"])
            v = [c["volatility"] for c in row]
            iv = [_iv(c["speedup"][b]) for c in row]
            m = np.array([i.mean for i in iv])
            err = np.array([[i.mean - i.lo for i in iv], [i.hi - i.mean for i in iv]])
            ax.errorbar(v, m, yerr=err, marker="o", capsize=3, label=f"H={h:g}")
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("volatility V (x generator default)")
        ax.set_title(f"link-model split vs {b}")
        ax.set_ylabel("speed-up (T_baseline / T_model)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(result: dict[str, object], seconds: float) -> list[str]:
    sim: dict = result["config"]  # type: ignore[assignment]
    lo, hi = sim["duration_seconds_log"]
    return ["# Task partitioning: link-model split vs baselines", "",
            f"Simulator `training/partition_sim.py` ({sim['streams']} streams, {sim['seeds']} "
            f"evaluation seeds from {sim['eval_seed_base']}, {sim['tasks']} tasks per seed, "
            f"ideal durations {lo:g}-{hi:g} s); speed-up = T_baseline / T_link_model, "
            "geometric mean over a seed's tasks, paired 95 % t-interval over seeds; bold = the "
            "interval lies above 1.", "",
            *table(result), "", *verdicts(result), "", f"![speed-up curves]({PLOT})", "",
            f"Run time {seconds:.0f} s."]


def run(out_dir: Path, model_config: link.LinkConfig = link.LinkConfig(),
        links: LinkTraceConfig = LinkTraceConfig(),
        sim: PartitionSimConfig = PartitionSimConfig()) -> tuple[list[str], dict[str, object]]:
    """Trains the link model, simulates every cell, writes the plot; returns the report
    lines and the metrics."""
    started = time.perf_counter()
    model = train_link_model(model_config, links)
    result = simulate(model, sim)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot(result, out_dir / PLOT)
    result["seconds"] = time.perf_counter() - started
    result["link_training_data"] = model.training_data
    return report(result, float(result["seconds"])), result


def evaluate(request: EvalRequest, sim: PartitionSimConfig = PartitionSimConfig(),
             model_config: link.LinkConfig = link.LinkConfig()) -> tuple[str, dict[str, object]]:
    """``partition_report.md`` / ``partition_metrics.json`` into request.out_dir. Synthetic
    links only: a request naming train/test selections or a bundle is refused."""
    if request.train is not None or request.test is not None or request.bundle is not None:
        raise partition_sim.PartitionSimError(
            "partition: the evaluation runs on generated links only; drop --train/--test/"
            "--bundle")
    lines, metrics = run(Path(request.out_dir), model_config, sim=sim)
    return request.write_report("partition", lines, metrics)


def itp_section(request: EvalRequest, sim: PartitionSimConfig = PartitionSimConfig(),
                model_config: link.LinkConfig = link.LinkConfig()
                ) -> tuple[list[str], dict[str, object]]:
    """The partition report as a section of the ITP report (its lines one heading level
    down) and its metrics; also writes partition_report.md beside it. The ITP request's
    selections and bundle are ITP's: the partition evaluation runs on generated links
    whatever they are."""
    own = EvalRequest(data_root=request.data_root, out_dir=request.out_dir,
                      progress=request.progress)
    md, metrics = evaluate(own, sim, model_config)
    lines = ["#" + line if line.startswith("#") else line for line in md.splitlines()]
    return lines, metrics


# ---- exploratory diagnosis (docs/partition.md "Diagnosis"; not part of the committed plan) --


def forecast_accuracy(model: link.TrainedLink, sim: PartitionSimConfig, heterogeneity: float,
                      volatility: float, seeds: int) -> dict[str, float]:
    """At every task start: 1 - WAPE, mean absolute share error (summed over streams) and
    mean forecast / truth of the model's median and of the last value, against the true mean
    rate of the next ``oracle_minutes``."""
    p = model.params
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for k in range(seeds):
        links = sim.links(heterogeneity, volatility, k)
        streams = [partition_sim.make_stream(p, links, i) for i in range(sim.streams)]
        t_first = int(links.start + sim.first_task_hour * 3600)
        for j in range(sim.tasks):
            start = t_first + int(j * sim.task_every_hours * 3600)
            wins, last, truth = [], [], []
            for st in streams:
                e = int(np.searchsorted(st.grid.ts, start)) - 1
                wins.append(partition_sim.window_at(p, st.grid, e))
                last.append(float(st.grid.values[e, 0]))
                k0 = int(np.searchsorted(st.rate_ts, start))
                truth.append(float(np.mean(st.rate_mbps[k0:k0 + sim.oracle_minutes])))
            if any(w is None for w in wins):
                continue
            rows.append((np.asarray(model.predict(np.stack(wins))[:, 1], np.float64),
                         np.array(last), np.array(truth)))
    m, lv, o = (np.array([r[i] for r in rows]) for i in range(3))
    out: dict[str, float] = {}
    for name, f in (("model", m), ("last_value", lv)):
        out[f"{name}_1_minus_wape"] = float(1 - np.abs(f - o).sum() / o.sum())
        out[f"{name}_share_error"] = float(np.abs(f / f.sum(1, keepdims=True)
                                                  - o / o.sum(1, keepdims=True)).sum(1).mean())
        out[f"{name}_over_truth"] = float(np.mean(f / o))
    return out


def lower_quantile_split(model: link.TrainedLink, sim: PartitionSimConfig,
                         heterogeneity: float, volatility: float) -> dict[str, Interval]:
    """Speed-ups of the split by the model's lower quantile (column 0) over the median split
    and over the last-value split, per-seed paired as in :func:`simulate`."""
    def lower(x: np.ndarray) -> np.ndarray:
        out = np.array(model.predict(x), copy=True)
        out[:, 1] = out[:, 0]
        return out

    vs_median, vs_last = [], []
    for k in range(sim.seeds):
        a, _ = partition_sim.run_cell(model.params, lower, sim, heterogeneity, volatility, k)
        b, _ = partition_sim.run_cell(model.params, model.predict, sim, heterogeneity,
                                      volatility, k)
        t_low = np.array([r.seconds[MODEL] for r in a])
        vs_median.append(float(np.mean(np.log(np.array([r.seconds[MODEL] for r in b]) / t_low))))
        vs_last.append(float(np.mean(np.log(np.array([r.seconds["last_value"] for r in a])
                                            / t_low))))
    return {"vs_median_split": interval(np.array(vs_median)),
            "vs_last_value": interval(np.array(vs_last))}


def diagnose(sim: PartitionSimConfig = PartitionSimConfig(), heterogeneity: float = 16.0
             ) -> list[str]:
    """The tables of docs/partition.md "Diagnosis" (about 5 minutes)."""
    model = train_link_model()
    lines = ["| V | 1 - WAPE model / last | share error model / last | forecast / truth "
             "model / last | q0.1 split vs median split | q0.1 split vs last value |",
             "|---|---|---|---|---|---|"]
    for v in sim.volatility:
        a = forecast_accuracy(model, sim, heterogeneity, v, 10)
        q = lower_quantile_split(model, sim, heterogeneity, v)
        lines.append(
            f"| {v:g} | {a['model_1_minus_wape']:.4f} / {a['last_value_1_minus_wape']:.4f} | "
            f"{a['model_share_error']:.4f} / {a['last_value_share_error']:.4f} | "
            f"{a['model_over_truth']:.4f} / {a['last_value_over_truth']:.4f} | "
            f"{q['vs_median_split'].text()} | {q['vs_last_value'].text()} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dwcp_ml.evaluation.partition",
                                     description="task-partitioning evaluation "
                                                 "(docs/partition.md)")
    parser.add_argument("--out", type=Path, required=True, help="report directory")
    parser.add_argument("--tiny", action="store_true", help="seconds-long smoke run")
    parser.add_argument("--diagnose", action="store_true",
                        help="print the exploratory diagnosis tables instead (docs/partition.md)")
    args = parser.parse_args(argv)
    if args.diagnose:
        print("\n".join(diagnose()))
        return 0
    sim = PartitionSimConfig.tiny() if args.tiny else PartitionSimConfig()
    cfg = link.LinkConfig.tiny() if args.tiny else link.LinkConfig()
    links = LinkTraceConfig(links=4, days=3) if args.tiny else LinkTraceConfig()
    lines, metrics = run(args.out, cfg, links, sim)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "partition_report.md").write_text("\n".join(lines) + "\n")
    (args.out / "partition_metrics.json").write_text(json.dumps(metrics, indent=1,
                                                                default=float))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
