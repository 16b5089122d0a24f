"""Backtest of the retraining loop on the dev data: July -> August 2013 in weekly steps.

Per family (scaling, pba): a **frozen** model trained once on July, against a **retrained**
line that starts from the same model and, at the start of every August week t, runs item 3's
rule (lifecycle/retrain.py): a challenger trained with the family's shipped configuration on
the ``window`` before the hold-out [t - holdout, t), both judged as they are on that hold-out
with the family's evaluation, promoted only if better by ``margin``, goldens reproduced and Go
p50 no worse than ``latency_ratio`` x. Then the frozen model and the line's champion are both
scored on the next week [t, t + 7 d), and the drift statistics (PSI per model input column
and of the output) of that week against each model's training reference are computed by the
feature core's drift code (lifecycle/drift.py).

The parameters (:data:`PARAMS`) were fixed before any result was seen; docs/retrain.md has
the command, the figures and what is optimistic about them.
"""

from __future__ import annotations

import calendar
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dwcp_ml import families
from dwcp_ml.export import bundle as bundle_mod
from dwcp_ml.training import data, selection
from dwcp_ml.training.data import Trace

from . import retrain, tracking

DAY = 86400


def _ts(y: int, m: int, d: int) -> int:
    return calendar.timegm((y, m, d, 0, 0, 0))


@dataclass(frozen=True)
class BacktestParams:
    """Fixed before looking at any result."""

    data: str = "bitbrains:months=2013-7,2013-8:vms=first:10"
    families: tuple[str, ...] = ("scaling", "pba")
    frozen_start: int = _ts(2013, 7, 1)
    frozen_end: int = _ts(2013, 8, 1)  # the frozen model: all of July
    steps: tuple[int, ...] = (_ts(2013, 8, 1), _ts(2013, 8, 8), _ts(2013, 8, 15),
                              _ts(2013, 8, 22))
    week_s: int = 7 * DAY
    window_s: int = 30 * DAY
    holdout_s: int = 7 * DAY
    margin: float = retrain.DEFAULT_MARGIN
    latency_ratio: float = retrain.DEFAULT_LATENCY_RATIO
    latency_calls: int = 1000
    tiny: bool = False


PARAMS = BacktestParams()


@dataclass
class Week:
    """One family, one week: the retrain decision at its start, both scores, drift."""

    family: str
    week: str
    loss_name: str
    frozen_loss: float
    retrained_loss: float
    champion: str  # which model the line serves this week
    promoted: bool
    challenger_holdout_loss: float
    champion_holdout_loss: float
    reasons: list[str]
    frozen_psi_max: float
    frozen_psi_median: float
    frozen_output_psi: float
    retrained_psi_max: float
    retrained_output_psi: float
    seconds: float


@dataclass
class Result:
    params: dict[str, Any]
    weeks: list[Week] = field(default_factory=list)


def _day(ts: int) -> str:
    return str(np.datetime64(ts, "s"))[:10]


def _train(family: str, traces: list[Trace], out: Path, version: str, tiny: bool) -> Path:
    fam = families.FAMILIES[family]
    exported = fam.export_models(fam.train(traces, fam.make_config(tiny), False))
    retrain.write_challenger(out, exported, version, None, {family: traces})
    return out


def _psi(b: Path, family: str, sel: selection.Selection, root: Path) -> tuple[float, float,
                                                                                float]:
    """(max, median) PSI over the model's input columns and the output's PSI."""
    from . import drift

    m = retrain.first_model(bundle_mod.load(b), family)
    d = drift.model_drift(m, sel, root)
    inputs = [c.psi for c in d.columns if c.psi is not None and c.kind != "output"]
    outputs = [c.psi for c in d.columns if c.psi is not None and c.kind == "output"]
    nan = float("nan")
    return (max(inputs) if inputs else nan, float(np.median(inputs)) if inputs else nan,
            max(outputs) if outputs else nan)


def run_family(family: str, p: BacktestParams, root: Path, out: Path,
               log: Any = print) -> list[Week]:
    sel = selection.parse(p.data)
    traces = retrain.load(family, sel, root)
    frozen = _train(family, retrain.cut(traces, p.frozen_start, p.frozen_end),
                    out / family / "frozen", "frozen-july", p.tiny)
    champion, champion_name = frozen, "frozen (July)"
    weeks = []
    for k, t in enumerate(p.steps):
        started = time.perf_counter()
        hold = replace(sel, start=t - p.holdout_s, end=t)
        window = retrain.cut(traces, t - p.holdout_s - p.window_s, t - p.holdout_s)
        chall = _train(family, window, out / family / f"challenger-{k}", f"week-{k}", p.tiny)
        ev = out / family / "eval" / str(k)
        loss, champ_h = retrain.judge(family, champion, hold, root, ev / "champion-holdout")
        _, chall_h = retrain.judge(family, chall, hold, root, ev / "challenger-holdout")
        v = retrain.FamilyVerdict(family, loss, champ_h, chall_h, p.margin)
        retrain.check_loss(v)
        cb, nb = bundle_mod.load(champion), bundle_mod.load(chall)
        bad = {r.model: r.detail for r in bundle_mod.check_goldens(nb) if not r.ok}
        v.reasons += [f"golden {m}: {d}" for m, d in bad.items()]
        retrain.check_latency(v, retrain.first_model(cb, family),
                              retrain.first_model(nb, family), p.latency_ratio,
                              p.latency_calls)
        if not v.reasons:
            champion, champion_name = chall, f"retrained at {_day(t)}"
        week = replace(sel, start=t, end=t + p.week_s)
        _, frozen_loss = retrain.judge(family, frozen, week, root, ev / "frozen-week")
        _, line_loss = retrain.judge(family, champion, week, root, ev / "line-week")
        fmax, fmed, fout = _psi(frozen, family, week, root)
        rmax, _, rout = _psi(champion, family, week, root)
        w = Week(family, f"{_day(t)} .. {_day(t + p.week_s)}", loss, frozen_loss, line_loss,
                 champion_name, not v.reasons, chall_h, champ_h, v.reasons, fmax, fmed, fout,
                 rmax, rout, time.perf_counter() - started)
        weeks.append(w)
        log(f"{family} {w.week}: frozen {frozen_loss:.4f}, line {line_loss:.4f} "
            f"({champion_name}; hold-out champion {champ_h:.4f} vs challenger {chall_h:.4f}"
            f"{'; ' + '; '.join(v.reasons) if v.reasons else ''}), PSI max {fmax:.3f} "
            f"({w.seconds:.0f} s)")
    return weeks


def _fmt(x: float, d: int = 4) -> str:
    return "n/a" if x != x else f"{x:.{d}f}"


def markdown(r: Result, plots: list[str]) -> str:
    lines = ["# Backtest: frozen July model vs weekly retrain-with-promotion", "",
             f"Parameters (fixed before the run): `{json.dumps(r.params)}`", "",
             "| family | week | loss | frozen | retrained line | line serves | promoted | "
             "hold-out champion / challenger | PSI max (frozen ref) | PSI median | output PSI "
             "| PSI max (line ref) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for w in r.weeks:
        lines.append(f"| {w.family} | {w.week} | {w.loss_name} | {_fmt(w.frozen_loss)} | "
                     f"{_fmt(w.retrained_loss)} | {w.champion} | "
                     f"{'yes' if w.promoted else 'no'} | {_fmt(w.champion_holdout_loss)} / "
                     f"{_fmt(w.challenger_holdout_loss)} | {_fmt(w.frozen_psi_max, 3)} | "
                     f"{_fmt(w.frozen_psi_median, 3)} | {_fmt(w.frozen_output_psi, 3)} | "
                     f"{_fmt(w.retrained_psi_max, 3)} |")
    lines += ["", "Reasons for every refusal:", ""]
    lines += [f"- {w.family} {w.week}: {'; '.join(w.reasons)}" for w in r.weeks if w.reasons]
    lines += ["", *[f"![{p}]({p})" for p in plots], ""]
    return "\n".join(lines)


def plot(r: Result, out: Path) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    for family in dict.fromkeys(w.family for w in r.weeks):
        ws = [w for w in r.weeks if w.family == family]
        x = np.arange(len(ws))
        fig, (a, b) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
        a.plot(x, [w.frozen_loss for w in ws], "o-", label="frozen July")
        a.plot(x, [w.retrained_loss for w in ws], "s-", label="retrained line")
        a.set_ylabel(ws[0].loss_name, fontsize=8)
        a.legend(fontsize=8)
        a.set_title(f"{family}: next-week loss (lower is better)", fontsize=9)
        b.plot(x, [w.frozen_psi_max for w in ws], "o-", label="max input PSI (frozen ref)")
        b.plot(x, [w.frozen_psi_median for w in ws], "^-", label="median input PSI")
        b.plot(x, [w.frozen_output_psi for w in ws], "x-", label="output PSI")
        b.axhline(0.1, color="grey", lw=0.6, ls=":")
        b.axhline(0.25, color="grey", lw=0.6, ls="--")
        b.set_ylabel("PSI vs July reference", fontsize=8)
        b.set_xticks(x, [w.week[:10] for w in ws], fontsize=8)
        b.legend(fontsize=7)
        fig.tight_layout()
        name = f"backtest_{family}.png"
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        names.append(name)
    return names


def backtest(p: BacktestParams, out: Path, data_dir: Path | None = None,
             tracking_uri: str | None = None, track: bool = True, log: Any = print) -> Result:
    root = data.data_dir(data_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = tracking.resolve(tracking_uri) if track else None
    r = Result(asdict(p))
    with tracking.track("backtest", target) as run:
        run.log_params(tracking.flatten(p))
        for family in p.families:
            r.weeks += run_family(family, p, root, out, log)
        plots = plot(r, out)
        (out / "backtest.md").write_text(markdown(r, plots))
        (out / "backtest.json").write_text(json.dumps(asdict(r), indent=1, default=float))
        for k, w in enumerate(r.weeks):
            run.log_metrics({(f"{w.family}.frozen", k % len(p.steps)): w.frozen_loss,
                             (f"{w.family}.retrained", k % len(p.steps)): w.retrained_loss,
                             (f"{w.family}.psi_max", k % len(p.steps)): w.frozen_psi_max})
        for name in ("backtest.md", "backtest.json", *plots):
            run.log_artifact(out / name)
    return r


def add_arguments(p: Any) -> None:
    p.add_argument("--out", default="reports/backtest", help="report directory")
    p.add_argument("--data-dir", help="the data directory (default ../shared/data)")
    p.add_argument("--data", default=PARAMS.data, help="dated VM data (default: the fixed "
                   "backtest selection)")
    p.add_argument("--models", default=",".join(PARAMS.families))
    p.add_argument("--tiny", action="store_true", help="tiny configurations (tests)")
    p.add_argument("--weeks", type=int, default=len(PARAMS.steps), help="the first N weeks")
    p.add_argument("--no-track", action="store_true", help="record no MLflow run")


def run(args: Any) -> int:
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    families.families(list(models))
    p = replace(PARAMS, data=args.data, families=models, tiny=args.tiny,
                steps=PARAMS.steps[:max(1, args.weeks)])
    started = time.perf_counter()
    backtest(p, Path(args.out), Path(args.data_dir) if args.data_dir else None,
             getattr(args, "tracking_uri", None), not args.no_track)
    print(f"report: {Path(args.out) / 'backtest.md'} ({time.perf_counter() - started:.0f} s)")
    return 0
