"""The search's out directory: ``report.md`` (command, data, settings, best trial or Pareto
front and the pick on it, every trial), Optuna's plots as PNG, and ``best.json``, the chosen
configuration in the form :func:`load_config` turns back into the family's config.

The pick: one objective, the completed trial with the lowest mean CV loss; two objectives,
on the Pareto front the lowest loss whose p99 latency is within the budget (or, if none is,
the fastest, and the report says the budget was missed).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from optuna.trial import FrozenTrial, TrialState  # noqa: E402

from . import latency, spaces  # noqa: E402
from .spaces import SearchError  # noqa: E402
from .study import SearchSpec, safe_url  # noqa: E402


@dataclass(frozen=True)
class Pick:
    trial: FrozenTrial
    within_budget: bool  # always True for one objective
    why: str


def pick(study: optuna.Study, budget_us: float) -> Pick:
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        raise SearchError(f"study {study.study_name!r} has no completed trial to pick from")
    if len(study.directions) == 1:
        best = min(done, key=lambda t: (t.value, t.number))
        return Pick(best, True, "lowest mean CV loss over completed trials")
    front = study.best_trials
    inside = [t for t in front if t.values[1] <= budget_us]
    if inside:
        best = min(inside, key=lambda t: (t.values[0], t.number))
        return Pick(best, True, f"lowest CV loss on the Pareto front with p99 <= {budget_us:g} us")
    best = min(front, key=lambda t: (t.values[1], t.number))
    return Pick(best, False, f"no Pareto trial within p99 {budget_us:g} us: the fastest one")


def _plots(study: optuna.Study, out: Path) -> list[str]:
    """Optuna's matplotlib plots; one that cannot be drawn (too few trials) becomes a line."""
    multi = len(study.directions) > 1
    loss = (lambda t: t.values[0]) if multi else None
    plots: list[tuple[str, Callable[[], Any]]] = [
        ("history.png", lambda: optuna.visualization.matplotlib.plot_optimization_history(
            study, target=loss, target_name="CV loss")),
        ("importance.png", lambda: optuna.visualization.matplotlib.plot_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
            target=loss, target_name="CV loss")),
    ]
    if multi:
        plots.append(("pareto.png", lambda: optuna.visualization.matplotlib.plot_pareto_front(
            study, target_names=["CV loss", "p99 latency (us)"])))
    lines = []
    for name, draw in plots:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ax = draw()
            except (ValueError, RuntimeError, ZeroDivisionError) as exc:
                lines.append(f"- {name}: not drawn ({exc})")
                continue
        ax.figure.tight_layout()
        ax.figure.savefig(out / name, dpi=100)
        plt.close(ax.figure)
        lines.append(f"![{name}]({name})")
    return lines


def _range(xs: list[float]) -> str:
    return f"{min(xs):.1f}..{max(xs):.1f}" if xs else "n/a"


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _params(t: FrozenTrial) -> str:
    return ", ".join(f"{k}={_fmt(v) if isinstance(v, float) else v}" for k, v in t.params.items())


def _loss(t: FrozenTrial) -> str:
    return f"{_fmt(t.values[0])} +- {_fmt(t.user_attrs.get('loss_sd', 0.0))}"


def _trial_rows(trials: list[FrozenTrial], multi: bool) -> list[str]:
    head = "| trial | worker | state | CV loss (mean +- sd) | " + (
        "p99 us | p50 us | " if multi else "") + "folds run | params |"
    rows = [head, "|---" * (8 if multi else 6) + "|"]
    for t in trials:
        state = t.state.name.lower()
        loss = _loss(t) if t.state == TrialState.COMPLETE else (
            f"{_fmt(t.intermediate_values[t.last_step])} so far" if t.last_step else "")
        lat = (f"{_fmt(t.values[1])} | {_fmt(t.user_attrs['latency_p50_us'])} | "
               if multi and t.state == TrialState.COMPLETE else "| | " if multi else "")
        folds = len(t.user_attrs.get("fold_losses", [])) or (t.last_step or 0)
        rows.append(f"| {t.number} | {t.user_attrs.get('worker', '')} | {state} | {loss} | "
                    f"{lat}{folds} | {_params(t)} |")
    return rows


def _best_section(chosen: Pick, metric: str, multi: bool) -> list[str]:
    t = chosen.trial
    md = [f"Picked trial {t.number}: {chosen.why}.", "",
          f"| method | {metric} (mean +- sd over folds) |", "|---|---|",
          f"| model (trial {t.number}) | {_loss(t)} |"]
    for name, (mean, sd) in t.user_attrs.get("baselines", {}).items():
        md.append(f"| {name} | {_fmt(mean)} +- {_fmt(sd)} |")
    md += ["", "Per fold: " + ", ".join(_fmt(v) for v in t.user_attrs["fold_losses"]), "",
           "Every metric of the model (mean +- sd over folds): " + ", ".join(
               f"{k} {_fmt(m)} +- {_fmt(sd)}" for k, (m, sd) in t.user_attrs["metrics"].items()),
           "", f"Configuration: {_params(t)}"]
    if multi:
        budget = "within" if chosen.within_budget else "OVER"
        md.append("")
        md.append(f"Latency: p99 {_fmt(t.values[1])} us, p50 "
                  f"{_fmt(t.user_attrs['latency_p50_us'])} us ({budget} the budget; "
                  f"{t.user_attrs['latency_backend']})")
    return md


def write(study: optuna.Study, spec: SearchSpec) -> Pick:
    """Writes report.md, the plots and best.json into ``spec.out``; returns the pick."""
    out = spec.out
    trials = study.get_trials(deepcopy=False)
    multi = len(study.directions) > 1
    chosen = pick(study, spec.budget_us)
    space = spaces.get(spec.family)
    metric = chosen.trial.user_attrs.get("loss_metric", "loss")
    counts = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
    md = [f"# Search: {spec.family}", "", "```", spec.command or "dwcp-ml search", "```", "",
          f"- searched on: {study.user_attrs['data']} "
          f"({study.user_attrs.get('traces', '')}; {study.user_attrs['folds']} "
          f"cross-validation folds of `{space.folds.__name__.strip('_')}`, "
          f"`eval_{spec.family}.cross_validate`); loss `{metric}`, lower is better; "
          "every choice below was made on these folds only",
          f"- study `{study.study_name}` in `{safe_url(spec.storage_url)}`: "
          + ", ".join(f"{n} {s}" for s, n in counts.items() if n),
          f"- sampler {spec.sampler} (seeded from --seed {spec.seed}, the trials the study held "
          "when each command started, and the worker index), pruner "
          f"{spec.pruner_name}" + (" (resource = folds done)" if spec.pruner_name != "none" else "")
          + f", {spec.workers} worker process(es)",
          f"- configuration base: {space.config_class}{'.tiny()' if spec.tiny else '()'}, "
          f"fixed {space.fixed or 'nothing'}; family seeds as in the config",
          "- searched: " + ", ".join(p.name for p in space.active(spec.tiny, spec.nas))]
    if multi:
        md.append(f"- objectives: CV loss and p99 one-row latency, measured by "
                  f"{chosen.trial.user_attrs['latency_backend']} (1 thread, lowest p99 of "
                  f"{latency.REPEATS} runs of {spec.latency_calls} calls) on the "
                  "configuration trained on fold 0's training part; budget p99 <= "
                  f"{spec.budget_us:g} us; load average while timed "
                  + _range([t.user_attrs["load_average"] for t in trials
                           if "load_average" in t.user_attrs]))
    md += ["- folds:"] + [f"  - {r}" for r in study.user_attrs.get("fold_ranges", [])]
    md += ["", "## Pick", ""] + _best_section(chosen, metric, multi)
    if multi:
        front = sorted(study.best_trials, key=lambda t: t.values[1])
        md += ["", "## Pareto front (loss vs p99 latency)", ""] + _trial_rows(front, True)
    md += ["", "## Plots", ""] + _plots(study, out)
    md += ["", "## All trials", ""] + _trial_rows(trials, multi)
    (out / "report.md").write_text("\n".join(md) + "\n")
    best = {"family": spec.family, "base": "tiny" if spec.tiny else "default",
            "params": chosen.trial.params, "trial": chosen.trial.number,
            "loss_metric": metric, "loss": chosen.trial.values[0],
            "selected_on": study.user_attrs["data"], "why": chosen.why}
    if multi:
        best["p99_us"] = chosen.trial.values[1]
    (out / "best.json").write_text(json.dumps(best, indent=2) + "\n")
    return chosen


def load_config(path: Path) -> Any:
    """The family config a search chose: ``best.json`` -> e.g. a ``PbaConfig``."""
    try:
        best = json.loads(Path(path).read_text())
        space = spaces.get(best["family"])
        return space.config(best["params"], best["base"] == "tiny")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SearchError(f"{path}: not a best.json of dwcp-ml search ({exc})") from None
