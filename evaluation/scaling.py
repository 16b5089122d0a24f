"""Scaling evaluation on any data: rolling-origin cross-validation of the three policies, a
held-out test selection, or a bundle judged as it is.

Protocol. Every ``horizon`` bins (15 minutes) each scaler sets a VM's CPU capacity for the
next ``horizon`` 5-minute bins, at the same decision points (windows with a complete input and
complete label bins, in the fold's test range). Scored per fold, pooled over VMs:
under-provisioned bins (demand > capacity) and their share, capacity (MHz-hours; also per MHz-h
of demand and per the reactive scaler's), shortfall (MHz-h of demand above capacity).

- **predictive**: ``recommend_capacity(q)``, q = the model's upper quantile of the 15-minute
  peak; headroom calibrated for the SLO (floor 0);
- **hybrid**: ``max(predictive, floor x recent peak)``, recent peak = the largest value of
  the window's last ``horizon`` steps; headroom and floor calibrated together;
- **reactive** (the baseline to beat): threshold scaler with target utilisation 0.7, resizing
  to peak / 0.7 when the last interval's peak utilisation leaves [0.35, 0.85], one interval late.

Inside each fold everything is chosen on the fold's training part only (``scaling.train``):
the model, and each policy's operating point for the SLO on inner rolling folds of that
training part (out-of-sample forecasts, ``capacity.calibrate``). The test part is then scored
once. ``loss`` = ``under_share_at_reactive_capacity``: the shipped policy swept over headroom
on the test part, its under-provisioned share interpolated at the reactive scaler's capacity
(how good the forecast is, whatever the operating point; lower is better; a metric, never a
choice). The target: the shipped policy has fewer under-provisioned bins than the reactive
scaler at no more capacity, in every fold (``beats_reactive``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from dwcp_ml.evaluation.request import EvalRequest
from dwcp_ml.spec.model import model_input
from dwcp_ml.training import cv, data
from dwcp_ml.training.capacity import (HEADROOM_GRID, CapacityRule, SimResult, SimVM,
                                       simulate_policy,
                                       simulate_reactive, under_at_capacity)
from dwcp_ml.training.cv import CvResult, FoldCallback, TimeFold
from dwcp_ml.training.data import Trace
from dwcp_ml.training.prepare import to_grid
from dwcp_ml.training.scaling import (Fitter, ScalingConfig, TrainedScaling, quantile_metrics,
                                      recent_peak, samples, shipped_calibration,
                                      synthetic_cpu_mhz, train)
from dwcp_ml.training.selection import Selection, SelectionError, parse

# The dev selection: both dev months joined per VM; 30 VMs keep the 5-fold CV (5 x 4 LightGBM
# fits) near 10 minutes on one core of this 2-core machine.
DEV: Selection = parse("bitbrains:months=2013-7,2013-8:vms=first:30")
MIN_TRAIN = 14 * cv.DAY
GAP = cv.DAY
LOSS = "under_share_at_reactive_capacity"
POLICY_TEXT = {"auto": "of predictive and hybrid, the one meeting the SLO on the inner folds "
                       "with less capacity, chosen inside each fold",
               "hybrid": "the hybrid", "predictive": "the predictive"}
METRICS = ("under_share", "capacity_vs_reactive", "capacity_vs_demand", "beats_reactive", LOSS)
Predict = Callable[[NDArray[np.float32]], NDArray[np.float64]]


# --------------------------------------------------------------------------- judging


def sim_vms(traces: Sequence[Trace], config: ScalingConfig, predict: Predict,
            start: int | None = None) -> tuple[list[SimVM], NDArray[np.float64],
                                               NDArray[np.float64]]:
    """Every window of ``traces`` whose input ends at or after ``start`` (all if None) with its
    forecast and recent peak; also the pooled labels and forecasts."""
    params, spec = config.params(), config.input_spec()
    vms, ys, qs = [], [], []
    for trace in traces:
        grid = to_grid(params, trace)
        s = samples(params, grid, config.horizon)
        keep = np.ones(len(s.end), bool) if start is None else s.end_ts >= start
        if not keep.any():
            continue
        x = model_input(s.windows[keep], spec)
        q = np.asarray(predict(x), np.float64)
        vms.append(SimVM(grid.values[:, 0], s.end[keep], q,
                         recent_peak(x, config.seq_len, config.horizon)))
        ys.append(s.labels[keep])
        qs.append(q)
    if not vms:
        raise SelectionError("scaling: no window with a complete input and 15 minutes of "
                             "complete demand after it in the data judged")
    return vms, np.concatenate(ys), np.concatenate(qs)


def slo_on(config: ScalingConfig, reactive: SimResult) -> float:
    """The SLO as a share of these bins (absolute, or against the reactive scaler's)."""
    if config.slo_vs_reactive is None:
        return config.slo
    return config.slo_vs_reactive * reactive.under_share


def slo_text(config: ScalingConfig) -> str:
    if config.slo_vs_reactive is None:
        return f"{config.slo:.2%} of 5-minute bins"
    return (f"{config.slo_vs_reactive:g} x the reactive scaler's share of 5-minute bins, on "
            "the same bins")


def _row(r: SimResult, reactive: SimResult, rule: CapacityRule | None, loss: float,
         slo: float) -> dict[str, float]:
    return {
        "under": float(r.under), "bins": float(r.bins), "under_share": r.under_share,
        "capacity_mhz_h": r.capacity_mhz_h, "shortfall_mhz_h": r.shortfall_mhz_h,
        "capacity_vs_reactive": r.capacity_mhz_h / reactive.capacity_mhz_h,
        "capacity_vs_demand": r.capacity_mhz_h / r.demand_mhz_h,
        "beats_reactive": float(r.under < reactive.under
                                and r.capacity_mhz_h <= reactive.capacity_mhz_h),
        "slo_met": float(r.under_share <= slo),
        "headroom": math.nan if rule is None else rule.headroom,
        "floor": math.nan if rule is None else rule.floor,
        LOSS: loss,
    }


def judge(vms: list[SimVM], config: ScalingConfig, rules: dict[str, CapacityRule]
          ) -> dict[str, dict[str, float]]:
    """Metrics of each policy (name -> rule) and of the reactive scaler on the same bins."""
    step_h = config.step_seconds / 3600.0
    h = config.horizon
    reactive = simulate_reactive(vms, next(iter(rules.values())), config.reactive_target, h,
                                 step_h)
    out = {name: _row(simulate_policy(vms, rule, h, step_h), reactive, rule,
                      under_at_capacity(vms, rule, reactive.capacity_mhz_h, h, step_h),
                      slo_on(config, reactive))
           for name, rule in rules.items()}
    out["reactive"] = _row(reactive, reactive, None, reactive.under_share,
                           slo_on(config, reactive))
    return out


SHIPPED = "shipped"
# The headroom sweep drawn in the report: under_at_capacity's own grid (every 0.05).
CURVE_GRID = HEADROOM_GRID[::5]


@dataclass(frozen=True)
class HeadroomCurve:
    """One fold's shipped rule swept over headroom on its test part (for the report's plot;
    the points under_at_capacity interpolates the loss from)."""

    fold: int
    headroom: tuple[float, ...]
    capacity_vs_reactive: tuple[float, ...]
    under_share: tuple[float, ...]


def headroom_curve(fold: int, vms: list[SimVM], config: ScalingConfig, rule: CapacityRule,
                   reactive_capacity_mhz_h: float) -> HeadroomCurve:
    step_h = config.step_seconds / 3600.0
    pts = [simulate_policy(vms, replace(rule, headroom=h), config.horizon, step_h)
           for h in CURVE_GRID]
    return HeadroomCurve(fold, tuple(CURVE_GRID),
                         tuple(r.capacity_mhz_h / reactive_capacity_mhz_h for r in pts),
                         tuple(r.under_share for r in pts))


def _fold_rows(trained: TrainedScaling, vms: list[SimVM], y: NDArray[np.float64],
               q: NDArray[np.float64]) -> dict[str, dict[str, float]]:
    """The shipped rule (trained.rule), then each calibrated policy, then the reactive
    scaler; the shipped row also holds the forecast's pinball loss and coverage."""
    cals = {SHIPPED: shipped_calibration(trained.calibrations, trained.config.policy),
            **trained.calibrations}
    rows = judge(vms, trained.config, {name: c.rule for name, c in cals.items()})
    rows[SHIPPED].update({k: v for k, v in quantile_metrics(y, q, trained.config.alpha).items()
                          if k in ("pinball", "coverage", "rows")})
    for name, c in cals.items():
        rows[name].update({"calib_under_share": c.result.under_share,
                           "calib_reactive_under_share": c.reactive.under_share,
                           "calib_capacity_vs_reactive": c.result.capacity_mhz_h
                           / c.reactive.capacity_mhz_h,
                           "calib_reachable": float(c.reachable)})
    return rows


def cross_validate(traces: list[Trace], config: ScalingConfig, folds: Sequence[TimeFold],
                   on_fold: FoldCallback | None = None, progress: bool = False,
                   fitter: Fitter | None = None,
                   curves: list[HeadroomCurve] | None = None) -> CvResult:
    """Per fold: ``scaling.train`` on the training part (model and both policies' operating
    points, calibrated on inner folds of that part only), then the shipped policy
    (``trained.rule``, the CvResult's model), each calibrated policy and the reactive scaler on
    the test part (windows ending in the test range; their input reaches back into the gap).
    ``on_fold(k, mean loss so far)`` after each fold; its exceptions propagate. ``fitter``:
    another forecaster in place of the shipped LightGBM (``scaling.train``'s seam; the
    AutoML leaderboard), the same calibration and judging. ``curves``: if given, each fold's
    :class:`HeadroomCurve` is appended (the report's plot; no number depends on it)."""
    if not folds:
        raise cv.FoldError("scaling: cross_validate needs at least one fold")
    history = (config.params().input_len - 1) * config.step_seconds
    rows: list[dict[str, dict[str, float]]] = []
    for fold in folds:
        started = time.perf_counter()
        if not isinstance(fold, TimeFold):
            raise cv.FoldError("scaling: cross_validate takes rolling-origin TimeFolds only "
                               "(the policies' state runs forward in time)")
        trained = train(cv.train_part(traces, fold), config, fitter=fitter)
        vms, y, q = sim_vms(cv.test_part(traces, fold, history), config, trained.predict,
                            fold.test_start)
        rows.append(_fold_rows(trained, vms, y, q))
        if curves is not None:
            curves.append(headroom_curve(fold.index, vms, config, trained.rule,
                                         rows[-1]["reactive"]["capacity_mhz_h"]))
        rows[-1][SHIPPED]["seconds"] = time.perf_counter() - started
        if progress:
            r = rows[-1]
            print(f"scaling {fold.describe()}: " + ", ".join(
                f"{k} {v['under_share']:.4f} at {v['capacity_vs_reactive']:.3f}"
                for k, v in r.items()) + f" ({r[SHIPPED]['seconds']:.0f} s)", flush=True)
        if on_fold is not None:
            on_fold(fold.index, float(np.mean([r[SHIPPED][LOSS] for r in rows])))
    names = list(rows[0])
    return CvResult(loss=LOSS, folds=tuple(f.describe() for f in folds),
                    model=tuple(r[SHIPPED] for r in rows),
                    baselines={n: tuple(r[n] for r in rows) for n in names
                               if n != SHIPPED})


def dev_folds(traces: list[Trace], n_folds: int) -> list[TimeFold]:
    """Rolling-origin folds: 14 training days (half the span when the data is shorter), a
    1-day gap, the rest split into ``n_folds`` test ranges."""
    start, end = cv.span(traces)
    return cv.rolling_origin(start, end, n_folds, min_train=min(MIN_TRAIN, (end - start) // 2),
                             gap=GAP)


def load(sel: Selection, root: Path) -> list[Trace]:
    """The CPU-demand traces (MHz) a selection names."""
    if sel.kind == "bitbrains":
        traces = sel.load_bitbrains(data.data_dir(root), data.load_bitbrains_cpu_mhz)
    elif sel.kind == "synthetic":
        traces = synthetic_cpu_mhz()
    else:
        raise SelectionError(f"scaling sizes VM CPU: {sel.describe()} is not VM data "
                             "(use bitbrains:... or synthetic)")
    if not traces:
        raise SelectionError(f"scaling: {sel.describe()} holds no samples")
    return traces


# --------------------------------------------------------------------------- report


def _span(traces: list[Trace]) -> str:
    a, b = cv.span(traces)
    return (f"{len(traces)} VMs, {np.datetime_as_string(np.datetime64(a, 's'), 'm')} .. "
            f"{np.datetime_as_string(np.datetime64(b, 's'), 'm')}")


def targets(result: CvResult) -> dict[str, object]:
    beats = result.values("beats_reactive")
    return {"per_fold_beats_reactive": beats.tolist(), "met_in_every_fold": bool(beats.all())}


def _fmt(v: float, digits: int = 4) -> str:
    return "n/a" if v is None or math.isnan(v) else f"{v:.{digits}f}"


def section(title: str, result: CvResult, config: ScalingConfig) -> list[str]:
    """Mean +- sd table, then every fold with the three policies side by side."""
    t = targets(result)
    lines = [f"## {title}", "",
             f"Rows: `model` = the shipped rule (policy `{config.policy}`: "
             f"{POLICY_TEXT[config.policy]}), then each calibrated policy and the reactive "
             "scaler on the same bins. Mean +- sd over folds.", "",
             result.table(METRICS, digits=4), "",
             *[f"- {fold}" for fold in result.folds], "",
             "| fold | policy | headroom | floor | under-provisioned bins | share | capacity "
             "(M MHz-h) | vs reactive | beats reactive | inner-fold share (calibration) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for k in range(len(result.folds)):
        for name, rows in (("model", result.model), *result.baselines.items()):
            r = rows[k]
            label = (f"shipped ({'hybrid' if r['floor'] > 0 else 'predictive'})"
                     if name == "model" else name)
            lines.append(
                f"| {k} | {label} | {_fmt(r['headroom'], 2)} | {_fmt(r['floor'], 2)} | "
                f"{int(r['under'])} / {int(r['bins'])} | {_fmt(r['under_share'])} | "
                f"{r['capacity_mhz_h'] / 1e6:.3f} | {_fmt(r['capacity_vs_reactive'], 3)} | "
                f"{'yes' if r['beats_reactive'] else '-' if name == 'reactive' else 'NO'} | "
                f"{_fmt(r.get('calib_under_share', math.nan))} |")
    met = t["met_in_every_fold"]
    lines += ["", f"Target (the shipped policy has fewer under-provisioned bins than the reactive "
              f"scaler at no more capacity, in every fold): **{'met' if met else 'MISSED'}** "
              f"({int(sum(t['per_fold_beats_reactive']))} of {len(result.folds)} folds). SLO "
              f"({slo_text(config)}) met on test in "
              f"{int(result.values('slo_met').sum())} of {len(result.folds)} folds.", ""]
    return lines


POLICY_STYLE = {"model": ("shipped", "o", "C0"), "predictive": ("predictive", "s", "C1"),
                "hybrid": ("hybrid", "^", "C2"), "reactive": ("reactive", "x", "k")}


def plot_policies(result: CvResult, path: Path) -> None:
    """Per fold: under-provisioned share vs capacity (relative to the reactive scaler's) of
    each policy and the reactive scaler; the target is the region left of and below the
    reactive point of the same fold."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(result.folds)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n + 1, 3.2), sharey=True, squeeze=False)
    for k, ax in enumerate(axes[0]):
        for name, rows in (("model", result.model), *result.baselines.items()):
            label, marker, color = POLICY_STYLE.get(name, (name, ".", "grey"))
            r = rows[k]
            ax.plot(r["capacity_vs_reactive"], r["under_share"], marker, color=color,
                    ms=7, mfc="none" if name == "hybrid" else color, label=label)
        react = result.baselines["reactive"][k]
        ax.axvline(1.0, color="grey", lw=0.6, ls=":")
        ax.axhline(react["under_share"], color="grey", lw=0.6, ls=":")
        ax.set_title(f"fold {k}", fontsize=9)
        ax.set_xlabel("capacity / reactive's")
    axes[0][0].set_ylabel("under-provisioned share")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_headroom(result: CvResult, curves: Sequence[HeadroomCurve], path: Path) -> None:
    """Each fold's headroom curve of the shipped rule on its test part, the calibrated point
    on it and the reactive scaler (capacity 1)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for c in curves:
        color = f"C{c.fold % 10}"
        ax.plot(c.capacity_vs_reactive, c.under_share, "-", color=color, lw=1,
                label=f"fold {c.fold}")
        m = result.model[c.fold]
        ax.plot(m["capacity_vs_reactive"], m["under_share"], "o", color=color, ms=6)
        ax.plot(1.0, result.baselines["reactive"][c.fold]["under_share"], "x", color=color,
                ms=8)
    ax.set_xlim(0.5, 2.0)
    ax.set_ylim(0.0, None)
    ax.axvline(1.0, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("capacity / reactive scaler's (headroom 0.5 .. 3.0)")
    ax.set_ylabel("under-provisioned share")
    ax.set_title("shipped rule swept over headroom: o calibrated point, x reactive",
                 fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_lines(result: CvResult, curves: Sequence[HeadroomCurve], out: Path,
               prefix: str = "scaling") -> list[str]:
    """Writes both plots into ``out``; the report's lines that show them."""
    out.mkdir(parents=True, exist_ok=True)
    plot_policies(result, out / f"{prefix}_policies.png")
    plot_headroom(result, curves, out / f"{prefix}_headroom.png")
    return ["## Plots", "",
            f"![under-provisioned share vs capacity per fold]({prefix}_policies.png)", "",
            f"![headroom curve per fold]({prefix}_headroom.png)", ""]


def _config_text(config: ScalingConfig) -> str:
    """The configuration without the long headroom grid (the protocol states its range)."""
    return str({k: v for k, v in asdict(config).items() if k != "headroom_grid"})


def _protocol(config: ScalingConfig) -> list[str]:
    return [
        "## Protocol", "",
        f"Model: LightGBM quantile regression (alpha {config.alpha}, {config.n_estimators} trees "
        f"x {config.num_leaves} leaves) of the peak CPU demand over the next {config.horizon} "
        f"bins, from the feature core's metric schema (seq_len {config.seq_len}, stat window "
        f"{config.stat_window}). Capacity rule: `max(ceil(max(q,0) x headroom / unit), "
        f"ceil(max(p,0) x floor / unit), min_units) x unit`, unit {config.rule.unit_mhz:g} MHz, "
        "p = the largest value of the window's last 15 minutes (floor 0 = predictive).", "",
        f"Operating point, per fold on its training part only: SLO **{slo_text(config)}** "
        f"under-provisioned. {config.calib_folds} inner "
        "rolling-origin folds of the training part (first "
        f"{config.calib_min_train:.0%} of its span trains the first one, "
        f"{config.calib_gap / 3600:g} h gap) give out-of-sample forecasts; pooled, each policy "
        "takes the smallest headroom of "
        f"{min(config.headroom_grid):g}..{max(config.headroom_grid):g} (0.01 steps) whose "
        "under-provisioned share is at most the SLO (empirical split-conformal calibration of "
        "the rule with its rounding); the hybrid also picks the floor of "
        f"{list(config.floor_grid)} that meets the SLO with the least capacity. Then the model "
        "is refitted on the whole training part.", "",
        f"Reactive scaler: target utilisation {config.reactive_target:g}, resize to peak / "
        f"target when utilisation leaves [{config.reactive_target / 2:g}, "
        f"{(1 + config.reactive_target) / 2:g}], one decision interval late.", "",
        f"`{LOSS}` (the CV loss): the shipped policy's under-provisioned share interpolated at "
        "the reactive scaler's capacity along a headroom sweep on the test part (a yardstick "
        "of the forecast, never used to choose anything).", ""]


def _judge_bundle(request: EvalRequest, root: Path) -> tuple[list[str], dict[str, object]]:
    from dwcp_ml.spec import runtime
    from dwcp_ml.spec.model import INPUT

    sel = request.test or request.train or DEV
    b, model = request.bundle_model("scaling")
    t = model.thresholds
    p = model.params
    config = ScalingConfig(seq_len=p.seq_len, stat_window=p.stat_window,
                           step_seconds=p.step_seconds, fill_limit=p.fill_limit,
                           horizon=int(t["horizon_steps"]), alpha=t["alpha"])
    rule = CapacityRule(headroom=t["headroom"], unit_mhz=t["unit_mhz"],
                        min_units=int(t["min_units"]), floor=t.get("floor", 0.0))
    sess = runtime.session(model.onnx_bytes)

    def predict(x: NDArray[np.float32]) -> NDArray[np.float64]:
        return np.concatenate([sess.run(None, {INPUT: x[i:i + 4096]})[0][:, 0]
                               for i in range(0, len(x), 4096)]).astype(np.float64)

    traces = load(sel, root)
    vms, y, q = sim_vms(traces, config, predict)
    rows = judge(vms, config, {"bundle": rule})
    rows["bundle"].update({k: v for k, v in quantile_metrics(y, q, config.alpha).items()
                           if k in ("pinball", "coverage", "rows")})
    result = CvResult(LOSS, (f"all of {sel.describe()}",), (rows["bundle"],),
                      {"reactive": (rows["reactive"],)})
    lines = [
        "# Scaling: a bundle judged as it is", "",
        f"- **Model**: `{model.name}` from bundle `{request.bundle}` (version {b.version}), "
        f"trained on the data with digest `{model.entry.get('training_data_digest', 'n/a')}`, "
        f"not retrained here; policy {rule.policy}, headroom {rule.headroom:g}, floor "
        f"{rule.floor:g} (the bundle's thresholds, calibrated when it was trained).",
        f"- **Tested on**: {sel.describe()}: {_span(traces)}.",
        "- **Selected on**: nothing here. Model: ONNX Runtime (1 thread).", "",
        *section("Test", result, replace(config, policy=rule.policy))]
    return lines, {"bundle": str(request.bundle), "test": sel.describe(),
                   "result": asdict(result), "targets": targets(result)}


def evaluate(request: EvalRequest, config: ScalingConfig = ScalingConfig()
             ) -> tuple[str, dict[str, object]]:
    """Cross-validates ``config`` on ``request.train`` (default :data:`DEV`) over rolling
    folds; with ``request.test`` also trains on all of train and judges once on test; with
    ``request.bundle`` judges that bundle's scaling model and thresholds without training.
    Writes scaling_report.md and scaling_metrics.json into out_dir."""
    root = Path(request.data_root)
    return request.report("scaling", _judge_bundle, lambda: _cross_validation_report(request, root, config))


def _cross_validation_report(request: EvalRequest, root: Path, config: ScalingConfig
                             ) -> tuple[list[str], dict[str, object]]:
    started = time.perf_counter()
    sel = request.train or DEV
    traces = load(sel, root)
    folds = dev_folds(traces, request.n_folds)
    curves: list[HeadroomCurve] = []
    result = cross_validate(traces, config, folds, progress=request.progress, curves=curves)
    metrics: dict[str, object] = {"train": sel.describe(), "config": asdict(config),
                                  "rolling_origin": asdict(result), "targets": targets(result)}
    tested = "cross-validation folds inside the training selection only (no --test)"
    test_lines: list[str] = []
    if request.test is not None:
        test_traces = load(request.test, root)
        tested = f"{request.test.describe()}: {_span(test_traces)}, after the cross-validation"
        trained = train(traces, config, progress=request.progress)
        vms, y, q = sim_vms(test_traces, config, trained.predict)
        rows = _fold_rows(trained, vms, y, q)
        test = CvResult(LOSS, (f"trained on all of {sel.describe()}",),
                        (rows[SHIPPED],),
                        {n: (r,) for n, r in rows.items() if n != SHIPPED})
        test_lines = section("Test (trained on all of the training selection)", test, config)
        metrics.update(test=request.test.describe(), test_result=asdict(test),
                       test_targets=targets(test))
    lines = [
        "# Scaling: operating point by calibration, three policies", "",
        f"- **Trained on**: {sel.describe()}: {_span(traces)}"
        f"{' (the dev selection)' if request.train is None else ''}; each fold trains only on "
        "its training part.",
        f"- **Tested on**: {tested}.",
        "- **Selected on**: the model configuration and the SLO are fixed before this run (the "
        "SLO's form, against the reactive scaler, was chosen on an earlier run of this "
        "cross-validation with an absolute SLO of 0.75 % of bins, which missed; see "
        "docs/evaluation/scaling.md); "
        "each fold's headrooms and floor are calibrated on inner rolling folds of that fold's "
        "training part only (never its test part), and so is the shipped policy "
        f"(`{config.policy}`: {POLICY_TEXT[config.policy]}). Dev data: read the figures as "
        "optimistic.",
        f"- **Configuration**: `{_config_text(config)}`.", "", *_protocol(config),
        *section(f"Rolling origin ({len(folds)} folds, {GAP // cv.DAY}-day gap)", result,
                 config), *plot_lines(result, curves, Path(request.out_dir)), *test_lines,
        f"Run time {time.perf_counter() - started:.0f} s.", ""]
    return lines, metrics
