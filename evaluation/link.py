"""Link model evaluation (``dwcp-ml eval --models link``): rolling-origin cross-validation on
generated links, scored on links the model never saw, beside naive baselines.

Protocol (docs/link-model.md, "Evaluation"). Training links: :data:`TRAIN` (the shipped
model's links, link_traces v1 seed 20261204). Test links: :data:`TEST`, other links of another
generator seed over the same two weeks: nothing of them reaches training, not even their
normalisation. Fold k has origin ``o_k = start + FIRST_ORIGIN_DAYS + k * span`` days (span =
the rest of the fortnight split evenly): the shipped configuration is trained by
``link.train`` on the training links' samples before ``o_k`` only (its own time cut inside),
then scored on the test links' windows starting at or after ``o_k`` whose labels end before
``o_{k+1}``: forecasting the future of unseen links from the past of others. Every window
whose label bins and the same bins one day earlier exist is scored, by every method on the
same windows.

Methods: the model (native; its ONNX export is verified against it), and baselines per
channel: ``last value`` (the last bin), ``seasonal naive`` (the mean of the same 15 minutes
one day earlier) and, the strongest for a noisy level, ``mean of the last hour`` (the last 12
bins). Scores: 1 - WAPE and MAE of the point forecast per channel (raw units, pooled over
links), the bandwidth interval's coverage (nominal 0.8). Nothing was tuned on these folds:
the configuration and the generator were fixed before the first fold ran.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from dwcp_ml import feature_core as fc
from dwcp_ml.evaluation.request import EvalRequest
from dwcp_ml.spec.model import INPUT, model_input
from dwcp_ml.training import link, prepare
from dwcp_ml.training.data import Trace
from dwcp_ml.training.link import LinkConfig
from dwcp_ml.training.link_traces import DAY, LinkTraceConfig, traces
from dwcp_ml.training.selection import SelectionError

TRAIN = LinkTraceConfig()  # the shipped model's training links
TEST = LinkTraceConfig(seed=TRAIN.seed + 1, links=12)  # unseen links, another seed
FIRST_ORIGIN_DAYS = 4
HOUR_BINS = 12  # the "mean of the last hour" baseline on 5-minute bins
BASELINES = ("last_value", "seasonal_naive", "last_hour_mean")
CHANNELS = fc.Schema.LINK.channels
POINT_COLUMN = {"bandwidth_mbps": 1, "latency_ms": 3, "packet_loss_ratio": 4, "jitter_ms": 5}


@dataclass(frozen=True)
class Scored:
    """Labels and every method's point forecasts on the same windows."""

    y: NDArray[np.float64]  # (n, 4) schema order
    model: NDArray[np.float64]  # (n, 6) OUTPUT_COLUMNS
    baselines: dict[str, NDArray[np.float64]]  # name -> (n, 4)


def truncate(trace: Trace, before: int) -> Trace:
    keep = trace.ts < before
    return Trace(trace.name, trace.ts[keep], trace.values[keep])


def score(params: fc.Params, grids: list[prepare.GridTrace], horizon: int, lo: int, hi: int,
          predict: Callable[[NDArray[np.float32]], NDArray[np.float32]]) -> Scored:
    """Windows of ``grids`` starting at or after ``lo`` whose labels end before ``hi`` and
    whose baselines' bins (the last hour, the label bins one day earlier) exist, with every
    method's forecast."""
    L = params.input_len
    per_day = DAY // params.step_seconds

    def keep(g: prepare.GridTrace, e: NDArray[np.int64]) -> NDArray[np.bool_]:
        ok = (g.ts[e - L + 1] >= lo) & (g.ts[np.minimum(e + horizon, len(g.ts) - 1)] < hi)
        ok &= e + 1 - per_day >= 0
        for k in range(1, horizon + 1):
            ok &= ~g.missing[np.maximum(e + k - per_day, 0)]
        for k in range(HOUR_BINS):  # the last hour's bins (a short window may not hold them)
            ok &= (e - k >= 0) & ~g.missing[np.maximum(e - k, 0)]
        return ok

    w = link.windows(params, grids, horizon, keep)
    if not len(w.end):
        raise SelectionError(f"link: no test window between {lo} and {hi}; generate longer "
                             "links or fewer folds")
    last = np.empty((len(w.end), len(CHANNELS)))
    hour = np.empty_like(last)
    seasonal = np.empty_like(last)
    for i in np.unique(w.trace):
        g, rows = grids[int(i)], np.flatnonzero(w.trace == i)
        e = w.end[rows]
        last[rows] = g.values[e]
        hour[rows] = np.mean([g.values[e - k] for k in range(HOUR_BINS)], axis=0)
        seasonal[rows] = np.mean([g.values[e + k - per_day] for k in range(1, horizon + 1)],
                                 axis=0)
    model = np.asarray(predict(w.x), np.float64)
    return Scored(w.y, model, {"last_value": last, "seasonal_naive": seasonal,
                               "last_hour_mean": hour})


def fold_metrics(s: Scored) -> dict[str, float]:
    """``<method>.<channel>.accuracy`` (1 - WAPE), ``.mae``; ``model.bandwidth_coverage``."""
    out: dict[str, float] = {"windows": float(len(s.y))}
    for j, ch in enumerate(CHANNELS):
        total = float(np.abs(s.y[:, j]).sum())
        preds = {"model": s.model[:, POINT_COLUMN[ch]],
                 **{b: s.baselines[b][:, j] for b in BASELINES}}
        for method, p in preds.items():
            err = np.abs(p - s.y[:, j])
            out[f"{method}.{ch}.accuracy"] = 1.0 - float(err.sum()) / total if total else 0.0
            out[f"{method}.{ch}.mae"] = float(err.mean())
    bw = s.y[:, 0]
    out["model.bandwidth_coverage"] = float(np.mean((bw >= s.model[:, 0]) & (bw <= s.model[:, 2])))
    out["model.bandwidth_interval_width"] = float(np.mean(s.model[:, 2] - s.model[:, 0]))
    return out


def origins(n_folds: int, config: LinkTraceConfig = TRAIN) -> list[int]:
    """Fold origins plus the end of the span (n_folds + 1 timestamps)."""
    span = (config.days - FIRST_ORIGIN_DAYS) * DAY / n_folds
    if n_folds < 1 or span < DAY:
        raise SelectionError(f"link: {n_folds} folds leave less than a day of test per fold "
                             f"in {config.days} days; use 1..{config.days - FIRST_ORIGIN_DAYS}")
    return [int(config.start + FIRST_ORIGIN_DAYS * DAY + k * span) for k in range(n_folds + 1)]


def cross_validate(n_folds: int, config: LinkConfig = LinkConfig(),
                   train_links: LinkTraceConfig = TRAIN, test_links: LinkTraceConfig = TEST,
                   progress: bool = False) -> list[dict[str, float]]:
    """One metrics dict per rolling-origin fold (see the module doc)."""
    train_traces, test_traces = traces(train_links), traces(test_links)
    bounds = origins(n_folds, train_links)
    folds = []
    for k in range(n_folds):
        started = time.perf_counter()
        trained = link.train([truncate(t, bounds[k]) for t in train_traces], config)
        grids = [prepare.to_grid(trained.params, t) for t in test_traces]
        m = fold_metrics(score(trained.params, grids, config.horizon, bounds[k],
                               bounds[k + 1], trained.predict))
        m.update(origin=float(bounds[k]), end=float(bounds[k + 1]),
                 train_windows=trained.metrics["train_windows"],
                 seconds=time.perf_counter() - started)
        folds.append(m)
        if progress:
            print(f"link fold {k}: bandwidth 1-WAPE {m['model.bandwidth_mbps.accuracy']:.3f} "
                  f"({m['seconds']:.0f} s)")
    return folds


def summary(folds: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per key: fold mean and sd (ddof 1 when there are 2+ folds)."""
    out = {}
    for key in folds[0]:
        v = np.asarray([f[key] for f in folds], np.float64)
        out[key] = {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0}
    return out


def _ms(s: dict[str, dict[str, float]], key: str, digits: int = 3) -> str:
    return f"{s[key]['mean']:.{digits}f} ± {s[key]['sd']:.{digits}f}"


def table(folds: list[dict[str, float]]) -> tuple[list[str], dict[str, object]]:
    """The markdown table (1 - WAPE per channel and method, fold mean ± sd; the model's gain
    over the best baseline and the folds where it wins) and its figures."""
    s = summary(folds)
    lines = ["| channel | model | last value | seasonal naive | mean of last hour | "
             "best baseline | model wins (folds) | model MAE | best baseline MAE |",
             "|---|---|---|---|---|---|---|---|---|"]
    wins: dict[str, object] = {}
    for ch in CHANNELS:
        best = max(BASELINES, key=lambda b: s[f"{b}.{ch}.accuracy"]["mean"])
        won = sum(f[f"model.{ch}.accuracy"] > max(f[f"{b}.{ch}.accuracy"] for b in BASELINES)
                  for f in folds)
        wins[ch] = {"best_baseline": best, "folds_won": int(won), "folds": len(folds)}
        digits = 5 if ch == "packet_loss_ratio" else 3
        lines.append(
            f"| {ch} | {_ms(s, f'model.{ch}.accuracy')} | "
            + " | ".join(_ms(s, f"{b}.{ch}.accuracy") for b in BASELINES)
            + f" | {best.replace('_', ' ')} | {won} of {len(folds)} | "
            f"{_ms(s, f'model.{ch}.mae', digits)} | {_ms(s, f'{best}.{ch}.mae', digits)} |")
    lines += ["", f"Bandwidth interval [q0.1, q0.9]: coverage "
              f"{_ms(s, 'model.bandwidth_coverage')} (nominal 0.8), mean width "
              f"{_ms(s, 'model.bandwidth_interval_width', 1)} Mbit/s."]
    return lines, {"summary": s, "wins": wins}


def _check_request(request: EvalRequest) -> None:
    if request.train is not None or request.test is not None:
        raise SelectionError("link: --train/--test select Bitbrains or NAB data; the link model "
                             "is evaluated on generated links (docs/link-model.md): leave them "
                             "out")


def _cross_validation_report(request: EvalRequest, config: LinkConfig
                             ) -> tuple[list[str], dict[str, object]]:
    started = time.perf_counter()
    folds = cross_validate(request.n_folds, config, progress=request.progress)
    rows, figures = table(folds)
    lines = [
        "# Link model: rolling-origin cross-validation on unseen generated links", "",
        f"Training links: {TRAIN.links} links of `link_traces v1` seed {TRAIN.seed}; test links:"
        f" {TEST.links} other links of seed {TEST.seed}, never trained on; {TRAIN.days} days "
        f"of 1-minute samples on 5-minute bins. {len(folds)} folds, origins from day "
        f"{FIRST_ORIGIN_DAYS}: each trains the shipped configuration on the training links "
        "before its origin and scores the test links' windows up to the next origin. Forecast:"
        f" the mean of the next {config.horizon} bins (15 minutes). 1 - WAPE per channel, fold "
        "mean ± sd; nothing was tuned on these folds (synthetic data: these figures say how "
        "the model does on this generator's links, not on real ones)."
        + (" The bandwidth interval's split-conformal calibration (calibrate_interval) was "
           "added after the first run of these folds measured coverage 0.754; it is computed "
           "from the training links only." if config.calibrate_interval else ""),
        "", *rows, "",
        f"{int(sum(f['windows'] for f in folds))} scored windows in all; "
        f"{time.perf_counter() - started:.0f} s.", "",
        "| fold | origin (UTC s) | windows | model bandwidth 1-WAPE | coverage | model latency "
        "1-WAPE | model jitter 1-WAPE | seconds |", "|---|---|---|---|---|---|---|---|"]
    for k, f in enumerate(folds):
        lines.append(f"| {k} | {int(f['origin'])} | {int(f['windows'])} | "
                     f"{f['model.bandwidth_mbps.accuracy']:.3f} | "
                     f"{f['model.bandwidth_coverage']:.3f} | "
                     f"{f['model.latency_ms.accuracy']:.3f} | "
                     f"{f['model.jitter_ms.accuracy']:.3f} | {f['seconds']:.0f} |")
    return lines, {"train_links": asdict(TRAIN), "test_links": asdict(TEST),
                   "config": asdict(config), "folds": folds, **figures}


def _judge_bundle(request: EvalRequest, _: Path) -> tuple[list[str], dict[str, object]]:
    """The bundle's link model as it is, on the test links from day 1 (seasonal history) on."""
    b, model = request.bundle_model("link")
    params = model.params
    assert isinstance(params, fc.Params)
    grids = [prepare.to_grid(params, t) for t in traces(TEST)]

    def predict(x: NDArray[np.float32]) -> NDArray[np.float32]:
        return model.session.run(None, {INPUT: model_input(x, model.inputs[0])})[0]

    horizon = int(round(model.thresholds["horizon_seconds"] / params.step_seconds))
    start = TEST.start + DAY
    end = TEST.start + TEST.days * DAY + DAY
    f = fold_metrics(score(params, grids, horizon, start, end, predict))
    rows, figures = table([f])
    lines = [f"# Link model of bundle {b.version}, judged as it is", "",
             f"Test links: {TEST.links} links of `link_traces v1` seed {TEST.seed} (not the "
             f"training seed {TRAIN.seed}), every window from day 1 on: "
             f"{int(f['windows'])} windows. 1 - WAPE per channel (one pass, sd 0).", "", *rows]
    return lines, {"bundle": str(request.bundle), "test_links": asdict(TEST), "metrics": f,
                   **figures}


def evaluate(request: EvalRequest, config: LinkConfig = LinkConfig()
             ) -> tuple[str, dict[str, object]]:
    """Cross-validates ``config`` over ``request.n_folds`` rolling origins (or judges
    ``request.bundle``'s link model); writes link_report.md and link_metrics.json."""
    _check_request(request)
    return request.report("link", _judge_bundle,
                          lambda: _cross_validation_report(request, config))


__all__ = ["TRAIN", "TEST", "cross_validate", "evaluate", "fold_metrics", "origins", "score",
           "summary", "table"]
