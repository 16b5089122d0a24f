"""Champion / challenger retraining: ``dwcp-ml retrain --champion NAME@champion --data SEL``.

1. Pull the champion bundle from the registry (``registry.pull``: every bundle check and the
   golden predictions before it is used).
2. Train a challenger per retrained family with the family's committed configuration
   (``FAMILIES[name].make_config``, the one the default bundle ships) on the most recent
   ``--window`` of SEL before the hold-out (the last ``--holdout`` of SEL).
3. Judge champion and challenger on that same hold-out with the family's own evaluation in
   its ``--bundle`` form (each bundle judged as it is, nothing retrained).
4. Recalibration on recent data: scaling's ``train`` calibrates the headroom and floor on
   inner rolling folds of the window; the anomaly detector's threshold is chosen again on the
   window by the cross-validation folds' rule (``evaluation.anomaly.recalibrate``: best
   event F1 at <= 0.3 false alarms/day); pba's quantile forecaster has no operating point to
   calibrate. The new thresholds are the challenger's manifest's.
5. Promote only if, for every retrained family, the challenger's loss is lower than the
   champion's by at least ``--margin`` (absolute, in the loss's units), the challenger bundle
   passes every check and its golden predictions (``bundle.check_goldens``), and its Go
   in-process p50 latency is at most ``--latency-ratio`` x the champion model's
   (``export/go_latency``; no Go toolchain is a refusal, not a pass).

The VM families (scaling, pba) share one date window over ``--data``. The anomaly detector is
judged on labelled NAB series (``--anomaly-data``), each with dates of its own, so its window
and hold-out are cut per series: the last ``--holdout`` of every series is judged, the
``--window`` before it trained and recalibrated on. itp learns from the placement simulator,
which has no dates: it is never retrained here. The challenger bundle holds the retrained
models and, verbatim, the champion's models of the families not retrained, so promoting it
never drops a model. It is always
registered (alias ``challenger``); promotion moves ``champion`` to it and points the MLflow
alias ``previous`` at the old champion (plus a version tag). Decision, scores and reasons
are logged to one MLflow run and printed. docs/retrain.md describes all of it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dwcp_ml import families
from dwcp_ml.export import bundle as bundle_mod
from dwcp_ml.training import data, selection
from dwcp_ml.training.data import Trace, traces_digest
from dwcp_ml.training.selection import Selection

from . import registry, tracking

# Families retrained on a date window of VM data, and on a window per labelled NAB series
# (their dates span different years: no common "most recent window"). itp trains on its
# simulator and is carried from the champion as it is.
DATED = ("scaling", "pba")
PER_SERIES = ("anomaly",)
RETRAINED = DATED + PER_SERIES
ANOMALY_DATA = "nab"  # every labelled NAB series under the data directory
ANOMALY_LOSS = "event_loss"  # 1 - event F1 + false alarms/day beyond 0.3 (evaluation.anomaly)
DEFAULT_MARGIN = 0.0
# p50, not p99: on a shared 2-core machine the tail of a few-microsecond model is noise.
DEFAULT_LATENCY_RATIO = 1.5
LATENCY_CALLS = 2000
_DURATION = re.compile(r"(\d+)([dh])")


class RetrainError(ValueError):
    """Bad retrain input (duration, selection, family); one line."""


def duration(text: str) -> int:
    """``30d`` / ``12h`` as seconds."""
    m = _DURATION.fullmatch(text.strip())
    if not m or int(m.group(1)) < 1:
        raise RetrainError(f"duration {text!r}: expected N d or N h, e.g. 30d, 7d, 12h")
    return int(m.group(1)) * (86400 if m.group(2) == "d" else 3600)


@dataclass(frozen=True)
class RetrainSpec:
    """One retrain: the champion, the data and the promotion rule's parameters."""

    champion: str  # NAME@champion (or NAME/VERSION)
    data: str  # a selection, as dwcp-ml eval --test takes (dated VM data; "" = none)
    out: Path  # work directory: champion/, challenger/, eval/, decision.json
    window_s: int = 30 * 86400
    holdout_s: int = 7 * 86400
    margin: float = DEFAULT_MARGIN
    latency_ratio: float = DEFAULT_LATENCY_RATIO
    models: tuple[str, ...] = ()  # () = the retrained families the champion holds
    anomaly_data: str = ANOMALY_DATA  # labelled NAB series (nab or nab:series=...)
    data_dir: Path | None = None
    tiny: bool = False  # the families' tiny configurations (tests)
    version: str | None = None  # the challenger's bundle version label
    tracking_uri: str | None = None
    latency_calls: int = LATENCY_CALLS
    sidecar_root: Path | None = None  # promote: copy the bundle under the sidecar's root
    sidecar_addr: str | None = None  # and ask it to reload (dwcp-client reload)
    client_args: tuple[str, ...] = ()  # extra dwcp-client flags (-tls-ca, -tls-cert, ...)


@dataclass(frozen=True)
class Windows:
    """The training window and the hold-out, [start, end) in Unix seconds."""

    train_start: int
    train_end: int
    holdout_end: int

    def describe(self) -> dict[str, str]:
        day = (lambda t: str(np.datetime64(t, "s"))[:16])
        return {"train": f"{day(self.train_start)} .. {day(self.train_end)}",
                "holdout": f"{day(self.train_end)} .. {day(self.holdout_end)}"}


@dataclass
class FamilyVerdict:
    """One retrained family: both scores on the hold-out, the latencies, the reasons."""

    family: str
    loss_name: str
    champion_loss: float
    challenger_loss: float
    margin: float
    champion_p50_us: float | None = None
    challenger_p50_us: float | None = None
    latency_ratio: float | None = None
    reasons: list[str] = field(default_factory=list)  # refusals; empty = this family passes

    @property
    def improvement(self) -> float:
        return self.champion_loss - self.challenger_loss


@dataclass
class Decision:
    """The outcome: promote or not, and why."""

    champion: str
    challenger: str  # NAME/VERSION registered (every retrained family)
    promote: bool  # some family's challenger passed, so a new champion was set
    windows: dict[str, str]
    families: list[FamilyVerdict]
    goldens: dict[str, str]
    reasons: list[str]  # every refusal, of the families not promoted
    promoted_families: list[str] = field(default_factory=list)
    promoted: str | None = None  # NAME/VERSION now champion: the challenger, or a composite
    sidecar: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for f, v in zip(out["families"], self.families):
            f["improvement"] = v.improvement
        return out


# ---- data ---------------------------------------------------------------------------------

_LOADERS = {"scaling": data.load_bitbrains_cpu_mhz, "pba": data.load_bitbrains_vm}


def load(family: str, sel: Selection, root: Path) -> list[Trace]:
    """The traces of ``family`` the dated selection names (cut to its from= / to=)."""
    traces = sel.load_bitbrains(root, _LOADERS[family])
    if not traces:
        raise RetrainError(f"{family}: {sel.describe()} holds no samples")
    return traces


def windows(traces: list[Trace], window_s: int, holdout_s: int) -> Windows:
    """The hold-out is the last ``holdout_s`` of the data, the window the ``window_s``
    before it (clipped to the data's start)."""
    start = min(int(t.ts[0]) for t in traces)
    end = max(int(t.ts[-1]) for t in traces) + 1
    train_end = end - holdout_s
    if train_end - start < 2 * 86400:
        raise RetrainError(f"the data spans {(end - start) / 86400:.1f} days: too little "
                           f"before a {holdout_s / 86400:g}-day hold-out to train on")
    return Windows(max(start, train_end - window_s), train_end, end)


def cut(traces: list[Trace], start: int, end: int) -> list[Trace]:
    out = []
    for t in traces:
        keep = (t.ts >= start) & (t.ts < end)
        if keep.any():
            out.append(Trace(t.name, t.ts[keep], t.values[keep]))
    return out


@dataclass(frozen=True)
class SeriesWindows:
    """The anomaly detector's recent data: per labelled series its own training window and
    hold-out (``evaluation.anomaly.Period``), and the series too short to split."""

    traces: list[Trace]
    labels: dict[str, list[tuple[int, int]]]
    train: dict[str, Any]
    holdout: dict[str, Any]
    dropped: list[str]
    window_s: int
    holdout_s: int

    def describe(self) -> str:
        return (f"per NAB series ({len(self.traces)} series"
                + (f"; left out: {', '.join(self.dropped)}" if self.dropped else "")
                + f"): the last {self.holdout_s / 86400:g} d of each judged, up to "
                f"{self.window_s / 86400:g} d before it trained on")

    def window(self) -> list[Trace]:
        return [w for t in self.traces
                for w in cut([t], self.train[t.name].start, self.train[t.name].end)]


def series_windows(text: str, root: Path, window_s: int, holdout_s: int, step_s: int
                   ) -> SeriesWindows:
    """Each labelled NAB series of the selection ``text`` sampled every ``step_s`` (the
    champion model's step: its windows are that many seconds apart) cut like the VM data: the
    hold-out its last ``holdout_s``, the window the ``window_s`` before (clipped to its
    start)."""
    from dwcp_ml.evaluation import anomaly as ea

    sel = selection.parse(text)
    if sel.kind != "nab":
        raise RetrainError(f"--anomaly-data {text!r}: the anomaly detector is judged on "
                           "labelled NAB series (nab or nab:series=...)")
    kept, train, holdout, dropped = [], {}, {}, []
    for t in sel.load_nab(root):
        start, end = int(t.ts.min()), int(t.ts.max()) + 1
        split = end - holdout_s
        if ea.step_of(t) != step_s:
            dropped.append(f"{t.name} (sampled every {ea.step_of(t)} s)")
            continue
        if split - start < 2 * 86400:
            dropped.append(f"{t.name} (shorter than the hold-out + 2 days)")
            continue
        kept.append(t)
        train[t.name] = ea.Period(max(start, split - window_s), split)
        holdout[t.name] = ea.Period(split, end)
    if not kept:
        raise RetrainError(f"anomaly: no series of {sel.describe()} is sampled every "
                           f"{step_s} s and spans the {holdout_s / 86400:g}-day hold-out plus "
                           "2 days to train on")
    return SeriesWindows(kept, ea.load_windows(root), train, holdout, dropped, window_s,
                         holdout_s)


def parse_data(text: str) -> Selection:
    sel = selection.parse(text)
    if sel.kind != "bitbrains":
        raise RetrainError(f"--data {text!r}: retraining needs dated VM data "
                           "(bitbrains:months=...): the window and hold-out are date ranges")
    return sel


# ---- the challenger bundle ----------------------------------------------------------------

def write_challenger(out: Path, exported: list[Any], version: str,
                     champion: bundle_mod.Bundle | None,
                     retrained: dict[str, list[Trace]]) -> bundle_mod.Bundle:
    """The retrained models (drift references from their training window) plus the
    champion's models of every other family (if a champion is given), copied verbatim with
    their manifest entries."""
    from dwcp_ml.lifecycle import drift

    b = bundle_mod.write(out, exported, version)
    manifest = json.loads((out / bundle_mod.MANIFEST).read_text())
    for entry in manifest["models"]:  # drift reference = the window the challenger saw
        m = b.models[entry["name"]]
        doc = bundle_mod.drift_bytes(drift.reference(m, retrained[m.family]))
        (out / "drift").mkdir(exist_ok=True)
        (out / "drift" / f"{m.name}.json").write_bytes(doc)
        entry.update(drift=f"drift/{m.name}.json",
                     drift_sha256=hashlib.sha256(doc).hexdigest())
    for m in (champion.models.values() if champion is not None else ()):
        if m.family in retrained:
            continue
        entry = dict(m.entry)
        for key in ("file", "golden", "drift"):
            if key in entry:
                dst = out / str(entry[key])
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(champion.path / str(entry[key]), dst)
        manifest["models"].append(entry)
    (out / bundle_mod.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return registry.verify(out)


# ---- judging ------------------------------------------------------------------------------

def judge(family: str, bundle_dir: Path, holdout: Selection, root: Path, out: Path
          ) -> tuple[str, float]:
    """The family's evaluation of a bundle as it is on the hold-out: (loss name, loss)."""
    from dwcp_ml.evaluation.request import EvalRequest

    request = EvalRequest(data_root=root, out_dir=out, test=holdout, bundle=bundle_dir)
    _, metrics = families.FAMILIES[family].evaluate(request)
    result = metrics["result"]
    assert isinstance(result, dict)
    loss = str(result["loss"])
    return loss, float(result["model"][0][loss])


def judge_series(bundle_dir: Path, recent: SeriesWindows) -> tuple[str, float, str]:
    """The bundle's anomaly model as it is on every series' hold-out: (loss name, loss, a
    line with F1 and false alarms per day)."""
    from dwcp_ml.evaluation import anomaly as ea

    m = first_model(bundle_mod.load(bundle_dir), "anomaly")
    counts, scored = ea.bundle_counts(m, recent.traces, recent.labels, recent.holdout)
    detail = (f"F1 {counts.f1:.3f} ({counts.detected}/{counts.windows} windows), "
              f"{counts.false_alarms_per_day:.3f} false alarms/day, threshold "
              f"{float(m.thresholds['score']):.4f}, {scored} windows")
    return ANOMALY_LOSS, ea.loss_of(counts), detail


def train_series_challenger(recent: SeriesWindows, spec: RetrainSpec, log: Any
                            ) -> tuple[list[Any], list[Trace]]:
    """The anomaly challenger: the committed configuration, its threshold recalibrated on
    the series' windows, trained on those windows."""
    from dwcp_ml.evaluation import anomaly as ea
    from dwcp_ml.training.anomaly import trainable

    family = families.FAMILIES["anomaly"]
    started = time.perf_counter()
    committed = family.make_config(spec.tiny)
    config = ea.recalibrate(committed, recent.traces, recent.labels, recent.train)
    # The threshold saw every series' window; the model (fit, goldens) those with a gap-free
    # window in both of train's splits.
    window = [t for t in recent.window() if trainable(t, config)]
    if not window:
        raise RetrainError("anomaly: no series window has a gap-free run of "
                           f"{config.params().input_len} steps in both halves to train on")
    trained = family.train(window, config, False)
    was = "none" if committed.threshold is None else f"{committed.threshold:.4f}"
    log(f"anomaly: challenger threshold {config.threshold:.4f} (committed {was}) recalibrated on {len(recent.traces)} series windows, trained "
        f"on {len(window)} ({time.perf_counter() - started:.1f} s; data "
        f"{traces_digest(window)[:19]})")
    return family.export_models(trained), window


def input_shape(m: bundle_mod.BundleModel) -> tuple[int, ...]:
    """One row of the model's input (the batch dimension is free in the manifest)."""
    return tuple(1 if not isinstance(d, int) or d < 1 else d for d in m.inputs[0].shape)


def latency(m: bundle_mod.BundleModel, calls: int) -> float:
    """Go in-process p50 (microseconds) of one call of the model."""
    from dwcp_ml.export import go_latency

    p50, _ = go_latency.go_latency_us(m.path, input_shape(m), calls)
    return p50


def check_latency(v: FamilyVerdict, champ: bundle_mod.BundleModel,
                  chall: bundle_mod.BundleModel, ratio: float, calls: int) -> None:
    from dwcp_ml.export.go_latency import GoLatencyError

    try:
        v.champion_p50_us = latency(champ, calls)
        v.challenger_p50_us = latency(chall, calls)
    except GoLatencyError as exc:
        v.reasons.append(f"Go latency unavailable, so not shown no worse: {exc}")
        return
    v.latency_ratio = v.challenger_p50_us / v.champion_p50_us
    if v.latency_ratio > ratio:
        v.reasons.append(f"Go p50 {v.challenger_p50_us:.1f} us is {v.latency_ratio:.2f} x the "
                         f"champion's {v.champion_p50_us:.1f} us (allowed {ratio:g} x)")


def check_loss(v: FamilyVerdict) -> None:
    """Lower is better. A loss the evaluation cannot define on the hold-out (NaN: e.g.
    scaling's headroom sweep never reaches the reactive scaler's capacity) refuses the
    challenger; the champion's alone being undefined counts as the challenger better."""
    if np.isnan(v.challenger_loss):
        v.reasons.append(f"{v.loss_name} of the challenger is undefined (n/a) on the hold-out")
        return
    if np.isnan(v.champion_loss):
        return
    if not v.improvement >= v.margin:
        v.reasons.append(f"{v.loss_name} {v.challenger_loss:.6g} vs champion "
                         f"{v.champion_loss:.6g}: better by {v.improvement:.6g}, margin "
                         f"{v.margin:g} not met")


def first_model(b: bundle_mod.Bundle, family: str) -> bundle_mod.BundleModel:
    return next(m for m in b.models.values() if m.family == family)


# ---- the flow -----------------------------------------------------------------------------

def chosen_families(spec: RetrainSpec, champion: bundle_mod.Bundle) -> list[str]:
    held = {m.family for m in champion.models.values()}
    names = list(spec.models) or [f for f in RETRAINED if f in held]
    families.families(names)  # unknown names: FamilyError
    bad = [n for n in names if n not in RETRAINED]
    if bad:
        raise RetrainError(f"cannot retrain {', '.join(bad)} on recent data (its training "
                           f"data has no dates; retrain takes {', '.join(RETRAINED)}); its "
                           "champion model is carried as it is")
    missing = [n for n in names if n not in held]
    if missing:
        raise RetrainError(f"the champion holds no {', '.join(missing)} model")
    if not names:
        raise RetrainError(f"the champion holds none of {', '.join(RETRAINED)}: nothing to "
                           "retrain")
    return names


def train_challengers(names: list[str], sel: Selection, root: Path, spec: RetrainSpec,
                      log: Any) -> tuple[list[Any], dict[str, list[Trace]], Windows]:
    exported: list[Any] = []
    trained_on: dict[str, list[Trace]] = {}
    w: Windows | None = None
    for name in names:
        traces = load(name, sel, root)
        w = w or windows(traces, spec.window_s, spec.holdout_s)
        window = cut(traces, w.train_start, w.train_end)
        family = families.FAMILIES[name]
        started = time.perf_counter()
        trained = family.train(window, family.make_config(spec.tiny), False)
        exported += family.export_models(trained)
        trained_on[name] = window
        log(f"{name}: challenger trained on {len(window)} VMs, {w.describe()['train']} "
            f"({time.perf_counter() - started:.1f} s; data {traces_digest(window)[:19]})")
    assert w is not None
    return exported, trained_on, w


@dataclass
class Challengers:
    """What the challenger bundle is made of, and where each family is judged."""

    exported: list[Any] = field(default_factory=list)
    trained_on: dict[str, list[Trace]] = field(default_factory=dict)
    windows: dict[str, str] = field(default_factory=dict)
    holdout: Selection | None = None  # the VM families' common hold-out
    series: SeriesWindows | None = None  # the anomaly detector's per-series windows


def train_all(names: list[str], spec: RetrainSpec, root: Path, champion: bundle_mod.Bundle,
              log: Any) -> Challengers:
    c = Challengers()
    dated = [n for n in names if n in DATED]
    if dated:
        if not spec.data:
            raise RetrainError(f"retraining {', '.join(dated)} needs --data (dated VM data, "
                               "e.g. bitbrains:months=2013-7,2013-8:vms=first:30)")
        sel = parse_data(spec.data)
        c.exported, c.trained_on, w = train_challengers(dated, sel, root, spec, log)
        c.holdout = replace(sel, start=w.train_end, end=w.holdout_end)
        c.windows.update(w.describe())
    if "anomaly" in names:
        step = first_model(champion, "anomaly").params.step_seconds
        c.series = series_windows(spec.anomaly_data, root, spec.window_s, spec.holdout_s, step)
        models, c.trained_on["anomaly"] = train_series_challenger(c.series, spec, log)
        c.exported += models
        c.windows["anomaly"] = c.series.describe()
    return c


def judge_both(name: str, champion: Path, challenger: Path, c: Challengers, root: Path,
               out: Path, log: Any) -> tuple[str, float, float]:
    """(loss name, champion loss, challenger loss) on the family's hold-out."""
    if c.series is not None and name in PER_SERIES:
        loss, champ, champ_line = judge_series(champion, c.series)
        _, chall, chall_line = judge_series(challenger, c.series)
        log(f"{name} hold-out: champion {champ_line}; challenger {chall_line}")
        return loss, champ, chall
    assert c.holdout is not None
    loss, champ = judge(name, champion, c.holdout, root, out / "eval" / "champion")
    _, chall = judge(name, challenger, c.holdout, root, out / "eval" / "challenger")
    return loss, champ, chall


def retrain(spec: RetrainSpec, argv: list[str] | None = None, log: Any = print) -> Decision:
    """Runs the whole flow (module docstring); returns the decision (also logged)."""
    ref = registry.parse_ref(spec.champion)
    target = tracking.resolve(spec.tracking_uri)
    reg = registry.Registry(target)
    if spec.data:
        parse_data(spec.data)  # a bad selection fails before anything is pulled
    root = data.data_dir(spec.data_dir)
    out = Path(spec.out)
    if out.exists() and any(out.iterdir()):
        raise RetrainError(f"--out {out} is not empty; choose a new directory")
    with tracking.track("retrain", target, run_name=f"retrain {ref}", argv=argv,
                        tags={"registered_model": ref.name}) as run:
        pulled = reg.pull(ref, out / "champion")
        champion = bundle_mod.load(pulled.path)
        log(f"champion {ref} = {ref.name}/{pulled.version.version} ({', '.join(pulled.models)})")
        names = chosen_families(spec, champion)
        run.log_params({"champion": str(ref), "champion.version": pulled.version.version,
                        "data": spec.data, "anomaly_data": spec.anomaly_data,
                        "window_s": spec.window_s, "holdout_s": spec.holdout_s,
                        "margin": spec.margin, "latency_ratio": spec.latency_ratio,
                        "families": ",".join(names), "tiny": spec.tiny})
        c = train_all(names, spec, root, champion, log)
        version = spec.version or f"retrain-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        challenger = write_challenger(out / "challenger", c.exported, version, champion,
                                      c.trained_on)
        goldens = {r.model: r.detail for r in bundle_mod.check_goldens(challenger)}
        verdicts = []
        for name in names:
            v = FamilyVerdict(name, *judge_both(name, champion.path, challenger.path, c, root,
                                                out, log), spec.margin)
            check_loss(v)
            check_latency(v, first_model(champion, name), first_model(challenger, name),
                          spec.latency_ratio, spec.latency_calls)
            verdicts.append(v)
        reasons = [f"{v.family}: {r}" for v in verdicts for r in v.reasons]
        winners = [v.family for v in verdicts if not v.reasons]
        registered = reg.register(challenger.path, ref.name, alias="challenger")
        decision = Decision(str(ref), f"{ref.name}/{registered.version}", bool(winners),
                            c.windows, verdicts, goldens, reasons, winners)
        if winners:
            served = challenger if len(winners) == len(names) else write_composite(
                out / "composite", c, winners, f"{version}-{'-'.join(winners)}", champion)
            new = (registered if served is challenger
                   else reg.register(served.path, ref.name, argv=argv))
            promote(reg, ref.name, pulled.version.version, new.version)
            decision.promoted = f"{ref.name}/{new.version}"
            if spec.sidecar_root is not None:
                decision.sidecar = to_sidecar(served.path, spec, served.version)
        record(run, decision, out)
    return decision


def write_composite(out: Path, c: Challengers, winners: list[str], version: str,
                    champion: bundle_mod.Bundle) -> bundle_mod.Bundle:
    """The bundle that serves after a partial promotion: the winning families' challenger
    models and the champion's models of every other family, verified like the challenger
    (every check and the golden predictions, ``registry.verify``)."""
    exported = [e for e in c.exported if e.family in winners]
    return write_challenger(out, exported, version, champion,
                            {f: c.trained_on[f] for f in winners})


def promote(reg: registry.Registry, name: str, old: str, new: str) -> None:
    """``champion`` -> new; MLflow alias ``previous`` and a version tag -> the old one."""
    reg.set_alias(name, new, registry.CHAMPION)
    reg.set_alias(name, old, registry.PREVIOUS)
    reg._call("set_model_version_tag", name, old, "dwcp_ml.replaced_by", new)
    reg._call("set_model_version_tag", name, new, "dwcp_ml.previous_champion", old)


def to_sidecar(bundle_dir: Path, spec: RetrainSpec, version: str) -> str:
    """Copies the bundle to ROOT/<version> and asks the sidecar to reload it (dwcp-client
    reload: an admin call, allowed to the sidecar's admin uids on its Unix socket or to a
    client certificate over mutual TLS)."""
    assert spec.sidecar_root is not None
    dst = Path(spec.sidecar_root).resolve() / version
    shutil.copytree(bundle_dir, dst)
    if spec.sidecar_addr is None:
        return f"copied to {dst}; no --sidecar, so no reload asked"
    client = shutil.which("dwcp-client") or str(Path(__file__).resolve().parents[1] / "build"
                                                 / "bin" / "dwcp-client")
    done = subprocess.run([client, "-addr", spec.sidecar_addr, *spec.client_args, "reload",
                           str(dst)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        return f"copied to {dst}; reload refused: {' '.join(done.stderr.split())[:300]}"
    return f"copied to {dst}; sidecar reloaded"


def record(run: Any, d: Decision, out: Path) -> None:
    """The decision, both scores and the reasons: MLflow metrics, tags and decision.json."""
    metrics: dict[str, float] = {"promoted": float(d.promote)}
    for v in d.families:
        metrics.update({f"{v.family}.champion.{v.loss_name}": v.champion_loss,
                        f"{v.family}.challenger.{v.loss_name}": v.challenger_loss,
                        f"{v.family}.improvement": v.improvement})
        for k in ("champion_p50_us", "challenger_p50_us", "latency_ratio"):
            if getattr(v, k) is not None:
                metrics[f"{v.family}.{k}"] = float(getattr(v, k))
    run.log_metrics({k: x for k, x in metrics.items() if np.isfinite(x)})
    partial = d.promote and len(d.promoted_families) < len(d.families)
    run.set_tags({"dwcp_ml.retrain.decision": (
                      f"promote {','.join(d.promoted_families)}" if partial
                      else "promote" if d.promote else "keep champion"),
                  "dwcp_ml.retrain.challenger": d.challenger,
                  "dwcp_ml.retrain.champion": d.promoted or d.champion,
                  "dwcp_ml.retrain.reasons": "; ".join(d.reasons) or "all checks passed"})
    path = out / "decision.json"
    path.write_text(json.dumps(d.as_dict(), indent=1, default=float) + "\n")
    run.log_artifact(path)
    if (out / "eval").is_dir():
        run.log_artifacts(out / "eval", "eval")


def summary(d: Decision) -> list[str]:
    lines = []
    if "train" in d.windows:
        lines.append(f"window {d.windows['train']}, hold-out {d.windows['holdout']}")
    if "anomaly" in d.windows:
        lines.append(f"anomaly: {d.windows['anomaly']}")
    for v in d.families:
        lat = (f", Go p50 {v.challenger_p50_us:.1f} vs {v.champion_p50_us:.1f} us"
               if v.latency_ratio is not None else "")
        lines.append(f"{v.family:<8} {v.loss_name}: champion {v.champion_loss:.6g}, challenger "
                     f"{v.challenger_loss:.6g} (better by {v.improvement:.6g}, margin "
                     f"{v.margin:g}){lat}")
    lines.append(f"goldens: {len(d.goldens)} models reproduced")
    if d.promote and d.promoted == d.challenger:
        lines.append(f"decision: PROMOTE {d.challenger} to champion (old champion: alias "
                     f"{registry.PREVIOUS})")
    elif d.promote:
        kept = [v.family for v in d.families if v.family not in d.promoted_families]
        lines.append(f"decision: PROMOTE {d.promoted} to champion: "
                     f"{', '.join(d.promoted_families)} from the challenger {d.challenger}, "
                     f"{', '.join(kept)} kept from {d.champion} (old champion: alias "
                     f"{registry.PREVIOUS})")
        lines += [f"  - not promoted: {r}" for r in d.reasons]
    else:
        lines.append(f"decision: KEEP {d.champion}; {d.challenger} stays challenger")
        lines += [f"  - {r}" for r in d.reasons]
    if d.sidecar:
        lines.append(f"sidecar: {d.sidecar}")
    return lines


# ---- command line -------------------------------------------------------------------------

def add_arguments(p: Any) -> None:
    p.add_argument("--champion", required=True, metavar="NAME@champion",
                   help="the registered bundle to challenge (NAME@ALIAS or NAME/VERSION)")
    p.add_argument("--data", default="", metavar="SEL", help="dated VM data for scaling and "
                   "pba, e.g. bitbrains:months=2013-7,2013-8:vms=first:30")
    p.add_argument("--anomaly-data", default=ANOMALY_DATA, metavar="SEL", help="labelled NAB "
                   "series for the anomaly detector, each cut into its own window and hold-out "
                   f"(default {ANOMALY_DATA}: every labelled series)")
    p.add_argument("--data-dir", help="the data directory (default $DWCP_DATA_DIR or "
                   "../shared/data)")
    p.add_argument("--window", default="30d", help="training window before the hold-out")
    p.add_argument("--holdout", default="7d", help="the most recent span, judged on")
    p.add_argument("--margin", type=float, default=DEFAULT_MARGIN, help="the challenger's "
                   "loss must be lower by at least this (absolute, the family's loss units)")
    p.add_argument("--latency-ratio", type=float, default=DEFAULT_LATENCY_RATIO,
                   help="challenger Go p50 at most this x the champion's")
    p.add_argument("--models", help=f"comma-separated subset of {','.join(RETRAINED)}")
    p.add_argument("--out", default="reports/retrain", help="new work directory")
    p.add_argument("--version", help="the challenger bundle's version label")
    p.add_argument("--tiny", action="store_true", help="tiny configurations (tests)")
    p.add_argument("--latency-calls", type=int, default=LATENCY_CALLS)
    p.add_argument("--promote-to-sidecar", metavar="ROOT", help="on promotion copy the "
                   "bundle under the sidecar's -bundle-root")
    p.add_argument("--sidecar", metavar="ADDR", help="and ask the sidecar at ADDR to reload")
    p.add_argument("--client-arg", action="append", default=[], metavar="FLAG",
                   help="extra dwcp-client flag for the reload (e.g. -tls-cert=C.pem)")
    p.add_argument("--json", action="store_true", help="print the decision as JSON")


def spec_from(args: Any) -> RetrainSpec:
    models = tuple(m.strip() for m in (args.models or "").split(",") if m.strip())
    return RetrainSpec(
        champion=args.champion, data=args.data, anomaly_data=args.anomaly_data,
        out=Path(args.out),
        window_s=duration(args.window), holdout_s=duration(args.holdout), margin=args.margin,
        latency_ratio=args.latency_ratio, models=models,
        data_dir=Path(args.data_dir) if args.data_dir else None, tiny=args.tiny,
        version=args.version, tracking_uri=getattr(args, "tracking_uri", None),
        latency_calls=args.latency_calls,
        sidecar_root=Path(args.promote_to_sidecar) if args.promote_to_sidecar else None,
        sidecar_addr=args.sidecar, client_args=tuple(args.client_arg))


def run(args: Any) -> int:
    """``dwcp-ml retrain``: exit 0 whether promoted or not (the decision is the output)."""
    try:
        spec = spec_from(args)
        d = retrain(spec, getattr(args, "argv", None),
                    log=(lambda _: None) if args.json else print)
    except RetrainError as exc:
        import sys

        print(f"dwcp-ml: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(d.as_dict(), indent=1, default=float) if args.json
          else "\n".join(summary(d)))
    return 0
