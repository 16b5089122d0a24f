"""``dwcp-ml eval --models itp``: the learned placers against every baseline in the
simulator, over 30 evaluation seeds and a load sweep, on the synthetic default workload and
on the Bitbrains replay; Markdown tables and a speed-vs-load plot.

Protocol (docs/itp.md, fixed before results): the scorers train on training seeds
(TRAIN_SEED_BASE + i) only — synthetic scenarios for the synthetic evaluation; Bitbrains July
for the replay of Bitbrains August — and are evaluated as exported ONNX, the way Go serves
them. Every policy goes through the same hard-constraint filter; violations are recounted
independently of it. Speed-ups are paired per seed (same VMs, same cluster) with 95 % t
intervals.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

from dwcp_ml.evaluation.request import EvalRequest
from dwcp_ml.export import onnx_itp
from dwcp_ml.training import data
from dwcp_ml.training.itp.evaluate import (BITBRAINS_LOADS, EVAL_SEEDS, LOADS, RunMetrics,
                                           ScenarioConfig, SummaryRow, bitbrains_config, summarise,
                                           sweep)
from dwcp_ml.training.itp.learned import LearnedPolicy
from dwcp_ml.training.itp.policies import BASELINES, EXTRA
from dwcp_ml.training.itp.scorer import ItpConfig, fit, training_scenarios
from dwcp_ml.training.selection import Selection, SelectionError

# The Bitbrains replay: scorers learn on one month and are judged on another (eval --train
# and --test choose others; only their months are used, the simulator draws its own VMs).
DEV_TRAIN = Selection("bitbrains", months=("2013-7",))
DEV_TEST = Selection("bitbrains", months=("2013-8",))


def _month(sel: Selection | None, default: Selection, flag: str) -> str:
    sel = sel or default
    if sel.kind != "bitbrains" or len(sel.months) != 1:
        raise SelectionError(f"itp replays one Bitbrains month; {flag} gave {sel.describe()}")
    return sel.months[0]


def policies(exported: list[Any]) -> dict[str, Any]:
    """Baselines, the extra heuristic and the two exported scorers (picklable factories)."""
    out: dict[str, Any] = {**BASELINES, **EXTRA}
    for model, name in zip(exported, ("learned_lightgbm", "learned_gb")):
        out[name] = functools.partial(LearnedPolicy, model.onnx_bytes, name,
                                      model.feature_params.history)
    return out


def _fmt(ci: tuple[float, float, float], digits: int = 3) -> str:
    m, lo, hi = ci
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def table(rows_random: list[SummaryRow], rows_best: list[SummaryRow]) -> str:
    best = {(r.policy, r.target_load): r for r in rows_best}
    lines = ["| load | policy | speed [95 % CI] | vs random [95 % CI] | vs best-fit [95 % CI] "
             "| violations | rejected VMs | decision µs mean / p99 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows_random, key=lambda r: (r.target_load, r.policy)):
        b = best[(r.policy, r.target_load)]
        lines.append(f"| {r.target_load:g} | {r.policy} | {_fmt(r.speed)} | {_fmt(r.speedup)} "
                     f"| {_fmt(b.speedup)} | {r.violations} | {r.rejected:.1f} "
                     f"| {r.decision_us_mean:.0f} / {r.decision_us_p99:.0f} |")
    return "\n".join(lines)


def _plot(out: Path, name: str, rows: list[SummaryRow]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for policy in dict.fromkeys(r.policy for r in rows):
        pts = sorted((r.target_load, r.speedup) for r in rows if r.policy == policy)
        x = [p[0] for p in pts]
        ax.errorbar(x, [p[1][0] for p in pts],
                    yerr=[[p[1][0] - p[1][1] for p in pts], [p[1][2] - p[1][0] for p in pts]],
                    marker="o", capsize=3, label=policy)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("offered CPU load (target)")
    ax.set_ylabel("workload speed / random's (paired, 95 % CI)")
    ax.set_title(f"ITP placement, {name}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    file = f"itp_{name}.png"
    fig.savefig(out / file, dpi=110)
    plt.close(fig)
    return file


def _section(out: Path, name: str, results: list[RunMetrics], train_s: float,
             metrics: dict[str, Any]) -> str:
    rows_random, rows_best = summarise(results, "random"), summarise(results, "best_fit")
    seeds = len({m.seed for m in results})
    violations = sum(m.violations for m in results)
    plot = _plot(out, name, rows_random)
    held = metrics
    return "\n".join([
        f"## {name}", "",
        f"{seeds} evaluation seeds x loads {sorted({m.target_load for m in results})} x "
        f"{len({m.policy for m in results})} policies; {len(results)} runs, "
        f"{violations} constraint violations in total (recounted). Scorers trained in "
        f"{train_s:.0f} s; held-out decisions: LightGBM mean regret "
        f"{held['lightgbm']['mean_regret']:.4f} (best host {held['lightgbm']['best_host_rate']:.3f}), "
        f"GradientBoosting {held['gradient_boosting']['mean_regret']:.4f} "
        f"({held['gradient_boosting']['best_host_rate']:.3f}), random "
        f"{held['random']['mean_regret']:.4f} ({held['random']['best_host_rate']:.3f}).", "",
        table(rows_random, rows_best), "", f"![speed-up vs load]({plot})", ""])


def evaluate(request: EvalRequest, config: ItpConfig = ItpConfig(),
             seeds: tuple[int, ...] = EVAL_SEEDS) -> tuple[str, dict[str, Any]]:
    """Synthetic default and Bitbrains replay; writes PNGs into out_dir and returns (Markdown
    report, {"synthetic": [RunMetrics], "bitbrains": [...]})."""
    if request.bundle is not None:
        raise SelectionError("itp: eval --bundle is not supported yet (the simulator runs the "
                             "scorers it trains)")
    train_month = _month(request.train, DEV_TRAIN, "--train")
    test_month = _month(request.test, DEV_TEST, "--test")
    progress = request.progress
    out = Path(request.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = data.data_dir(request.data_root)
    sections, results = [], {}
    for name, base_train, base_eval, loads in (
        ("synthetic", ScenarioConfig(cluster=config.cluster), ScenarioConfig(cluster=config.cluster),
         LOADS),
        ("bitbrains", bitbrains_config(train_month, root=str(root)),
         bitbrains_config(test_month, root=str(root)), BITBRAINS_LOADS),
    ):
        t0 = time.perf_counter()
        train_cfg = config if name == "synthetic" else ItpConfig(loads=BITBRAINS_LOADS,
                                                                  cluster=base_train.cluster)
        trained = fit(training_scenarios(train_cfg, base_train), train_cfg, progress)
        exported = onnx_itp.export(trained)
        train_s = time.perf_counter() - t0
        runs = sweep(loads=loads, seeds=seeds, policies=policies(exported), base=base_eval)
        results[name] = runs
        sections.append(_section(out, name, runs, train_s, trained.metrics))
        if progress:
            print(f"itp {name}: {len(runs)} runs in {time.perf_counter() - t0:.0f} s")
    head = [
        "# ITP placement: learned scorers vs baselines", "",
        "Workload speed = completed / demanded CPU work over every VM-step (rejected VMs "
        "complete nothing); 1.0 means no contention. It is bounded by 1, so a speed-up over "
        "random is bounded by 1 / random's speed (docs/itp.md). Decision times are the "
        "simulator's Python policies (the learned ones include building the query in Python, "
        "the C factors and ONNX Runtime); Go's PlaceVM latency is in docs/serving.md.", "",
        f"Synthetic scorers: trained on training seeds; Bitbrains scorers: trained on "
        f"{train_month}, evaluated on a replay of {test_month}.", ""]
    return "\n".join(head + sections), results


__all__ = ["evaluate", "policies", "table"]
