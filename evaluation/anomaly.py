"""NAB evaluation of the anomaly detectors: leave-series-out cross-validation, candidates,
thresholds chosen inside the folds, the rolling z-score baseline; the event metrics.

Protocol (docs/evaluation/anomaly.md), per NAB series:

- the first 15 % of the series' samples (NAB's probationary period) is never scored; windows
  lying wholly inside it are dropped (NAB does the same). IsolationForest is fitted on it (as
  :func:`training.anomaly.train` does: first 70 % fit, last 30 % tuning); the scale-free
  detectors need no per-series fitting (``training/anomaly_detectors.py``);
- every grid step of the detection period with a complete window gets a score; a step is
  flagged when ``score >= threshold``;
- **event level**: an anomaly window (``labels/combined_windows.json``) is *detected* (a true
  positive) if any flag falls inside it; flags outside every window are merged, consecutive
  grid steps together, into false-positive events. precision = TP / (TP + FP events),
  recall = TP / windows, F1 their harmonic mean, false alarms per day = FP events / days of the
  detection period, delay = hours from a detected window's start to its first flag (NAB
  windows are centred on the labelled anomaly, so a delay of about half the window length
  means "at the anomaly"). Totals are summed over series (micro averages);
- **leave series out** (:func:`cross_validate`, ``cv.leave_series_out``): per fold, the
  threshold (:func:`choose_threshold`: best F1 at <= 0.3 false alarms/day, flagging at most
  2 % of the windows) and, in the leaderboard, each candidate's configuration are chosen on the
  training series and applied unchanged to the held-out series;
- the baseline scores a step by ``|value - target_mean| / target_std`` with the feature core's
  trailing mean and std over ``BASELINE_WINDOW`` steps (the current step included), its
  threshold chosen the same way on the same training series.

Until issue 11 the detector's configuration was swept on the 19 series it was then reported
on; the leaderboard (:data:`CANDIDATES`, :func:`evaluate`) replaces that sweep.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from dwcp_ml import feature_core as fc
from dwcp_ml.evaluation.request import EvalRequest
from dwcp_ml.export.bundle import BundleModel
from dwcp_ml.training import anomaly_detectors as det
from dwcp_ml.training import cv
from dwcp_ml.training.anomaly import (SHIPPED_ROOT, AnomalyConfig, Model, TraceTooShortError,
                                      build_model, native_score, needs_fit, shipped_traces, thin,
                                      train, windows_with_ends, with_step)
from dwcp_ml.training.cv import FoldError
from dwcp_ml.training.data import DataNotFoundError, Trace, TraceFormatError, data_dir
from dwcp_ml.training.prepare import GridTrace, complete_runs, to_grid
from dwcp_ml.training.selection import Selection, SelectionError, parse

PROBATION = 0.15
BASELINE_WINDOW = 48  # 4 hours of 5-minute steps: a stable trailing mean/std
DAY = 86400.0
FA_BUDGET = 0.3  # false alarms per day the target allows
CHUNK = 1024  # windows scored at once
FLAG_BUDGET = 0.02  # most windows a threshold may flag on the training series
DEV: Selection = parse("nab")  # every labelled NAB series under --data


@dataclass(frozen=True)
class EventCounts:
    """Event-level outcome of one detector on one series."""

    windows: int
    detected: int
    false_events: int
    days: float
    delays_h: tuple[float, ...]

    def __add__(self, other: EventCounts) -> EventCounts:
        return EventCounts(self.windows + other.windows, self.detected + other.detected,
                           self.false_events + other.false_events, self.days + other.days,
                           self.delays_h + other.delays_h)

    @property
    def precision(self) -> float:
        flagged = self.detected + self.false_events
        return self.detected / flagged if flagged else 0.0

    @property
    def recall(self) -> float:
        return self.detected / self.windows if self.windows else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def false_alarms_per_day(self) -> float:
        return self.false_events / self.days if self.days else 0.0

    @property
    def median_delay_h(self) -> float:
        return float(np.median(self.delays_h)) if self.delays_h else float("nan")

    def row(self) -> dict[str, float]:
        return {"windows": self.windows, "detected": self.detected,
                "false_events": self.false_events, "precision": self.precision,
                "recall": self.recall, "f1": self.f1,
                "false_alarms_per_day": self.false_alarms_per_day,
                "median_delay_h": self.median_delay_h}


def event_counts(flag_ts: NDArray[np.int64], step_seconds: int,
                 windows: list[tuple[int, int]], start: int, end: int) -> EventCounts:
    """Event-level counts of flags (grid timestamps, seconds) against anomaly windows
    ``[(start, end)]`` (inclusive, seconds) over the detection period ``[start, end]``."""
    flag_ts = np.sort(np.asarray(flag_ts, dtype=np.int64))
    inside = np.zeros(len(flag_ts), dtype=bool)
    detected, delays = 0, []
    for w0, w1 in windows:
        hit = (flag_ts >= w0) & (flag_ts <= w1)
        inside |= hit
        if hit.any():
            detected += 1
            delays.append((int(flag_ts[hit][0]) - w0) / 3600.0)
    outside = flag_ts[~inside]
    # Consecutive grid steps are one event; a gap of more than one step starts a new one.
    false_events = int(len(outside) > 0) + int(np.count_nonzero(np.diff(outside) > step_seconds))
    return EventCounts(len(windows), detected, false_events, (end - start) / DAY, tuple(delays))


def _parse(text: str) -> int:
    return int(np.datetime64(text.replace(" ", "T"), "s").astype(np.int64))


def load_windows(root: Path) -> dict[str, list[tuple[int, int]]]:
    path = root / "nab" / "labels" / "combined_windows.json"
    if not path.is_file():
        raise DataNotFoundError(f"{path}: NAB's label file is missing; --data must hold NAB's "
                                "nab/labels/combined_windows.json")
    try:
        raw = json.loads(path.read_text())
        return {str(name): [(_parse(a), _parse(b)) for a, b in spans]
                for name, spans in raw.items()}
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
        raise TraceFormatError(path, "not NAB's label format: a JSON object of series name -> "
                               f"[[start, end], ...] timestamps ({type(exc).__name__})") from None


def step_of(trace: Trace) -> int:
    """The series' sampling step: the median gap between sorted timestamps (NAB series are
    5-minute, 30-minute or hourly)."""
    return int(np.median(np.diff(np.sort(trace.ts))))


def zscore(params: fc.Params, windows: NDArray[np.float32]) -> NDArray[np.float64]:
    """|value - mean| / std of the last step, from the core's features (0 where std is 0:
    a flat window has nothing unusual); the baseline's deviation."""
    windows = np.asarray(windows)
    rows = windows[:, -1:, :].reshape(len(windows), -1)
    return det.ZScoreModel(dataclasses.replace(params, seq_len=1)).deviation(rows)


BASELINE = AnomalyConfig(detector="zscore", stat_window=BASELINE_WINDOW, threshold=None)
BASELINE_NAME = "rolling_zscore"


def loss_of(c: EventCounts, budget: float = FA_BUDGET) -> float:
    """The loss a fold reports and a search minimises: ``1 - F1`` plus the false alarms per day
    beyond the budget (a detector cannot buy F1 with alarms past the target's 0.3/day)."""
    return (1.0 - c.f1) + max(0.0, c.false_alarms_per_day - budget)


@dataclass(frozen=True)
class SeriesScores:
    """One detector's scores over one series' detection period (after probation)."""

    name: str
    step: int
    ends: NDArray[np.int64]  # grid time of each scored window's last step
    scores: NDArray[np.float64]
    windows: tuple[tuple[int, int], ...]  # anomaly windows not wholly inside probation
    start: int
    end: int

    def counts(self, threshold: float) -> EventCounts:
        return event_counts(self.ends[self.scores >= threshold], self.step, list(self.windows),
                            self.start, self.end)


def _ordered(trace: Trace) -> Trace:
    order = np.argsort(trace.ts, kind="stable")
    return Trace(trace.name, trace.ts[order], trace.values[order])


def probation_cut(trace: Trace) -> int:
    """Index of the first sample after the probationary period of a time-ordered trace."""
    return int(len(trace.ts) * PROBATION)


def _scored(model: Model, params: fc.Params, grid: GridTrace, start: int
            ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Scores of every complete window ending at or after ``start``, computed in chunks (a
    seasonal window holds days of steps; a long series' windows would not fit at once)."""
    n_in = params.input_len
    ends_out, scores_out = [], []
    for a, b in complete_runs(grid, n_in):
        ends = grid.ts[a + n_in - 1:b]
        for c in range(int(np.searchsorted(ends, start)), len(ends), CHUNK):
            n = min(CHUNK, len(ends) - c)
            w = fc.windows(params, grid.ts[a + c:a + c + n + n_in - 1],
                           grid.values[a + c:a + c + n + n_in - 1])
            scores_out.append(native_score(model, w.reshape(n, -1)))
            ends_out.append(ends[c:c + n])
    if not ends_out:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    return np.concatenate(ends_out), np.concatenate(scores_out)


@dataclass(frozen=True)
class Period:
    """The part of a series that is judged: windows whose last step lies in [start, end)
    (Unix seconds). The samples before ``start`` still fill the first windows."""

    start: int
    end: int


def _before(trace: Trace, end: int) -> Trace:
    keep = trace.ts < end
    return Trace(trace.name, trace.ts[keep], trace.values[keep])


def _detection(trace: Trace, windows: list[tuple[int, int]], period: Period | None
               ) -> tuple[Trace, int, int, tuple[tuple[int, int], ...]]:
    """The time-ordered trace cut to the period's end, the detection start (after NAB's
    probation, and not before the period), its end, and the anomaly windows it can see."""
    trace = _ordered(trace)
    if period is not None:
        trace = _before(trace, period.end)
    start, end = int(trace.ts[probation_cut(trace)]), int(trace.ts[-1])
    if period is not None:
        start = max(start, period.start)
    live = tuple((a, b) for a, b in windows if b >= start and a <= end)
    return trace, start, end, live


def score_series(trace: Trace, windows: list[tuple[int, int]], config: AnomalyConfig,
                 model: Model | None = None, period: Period | None = None) -> SeriesScores:
    """Scores one series' detection period (``period``: only that part of it). The forest
    is fitted on the series' own probationary period (unlabelled, NAB's protocol); a learning
    scale-free detector uses ``model`` (fitted on other series); a fixed one is built from
    ``config``. Windows and periods follow the series' own sampling step."""
    trace, start, end, live = _detection(trace, windows, period)
    step = step_of(trace)
    cfg = with_step(config, step)
    cfg.check()
    params = cfg.params()
    cut = probation_cut(trace)
    if cfg.detector == "iforest":
        try:
            model = train([Trace(trace.name, trace.ts[:cut], trace.values[:cut])], cfg).model
        except TraceTooShortError:  # too short or gappy to fit on: it flags nothing there
            return SeriesScores(trace.name, step, np.empty(0, np.int64), np.empty(0), live,
                                start, end)
    elif model is None:
        model = build_model(cfg, params)
    elif isinstance(model, det.ResidualModel):
        model = dataclasses.replace(model, params=params)  # same columns, the series' step
    ends, scores = _scored(model, params, to_grid(params, trace), start)
    return SeriesScores(trace.name, step, ends, scores, live, start, end)


def fit_detector(traces: list[Trace], config: AnomalyConfig) -> Model | None:
    """A learning scale-free detector fitted on every window of ``traces`` (other series than
    the ones it will score); None for the others (the forest fits per series)."""
    if not needs_fit(config) or config.detector == "iforest":
        return None
    parts, params = [], None
    per = max(1, config.max_fit_rows // max(1, len(traces)))
    for trace in traces:
        trace = _ordered(trace)
        params = with_step(config, step_of(trace)).params()
        rows = windows_with_ends(params, to_grid(params, trace))[0]
        parts.append(thin(rows.reshape(len(rows), -1), per))
    rows = np.concatenate(parts) if parts else np.empty((0, 0), np.float32)
    return build_model(config, config.params(), rows)


def choose_threshold(sets: list[SeriesScores], budget: float = FA_BUDGET) -> float:
    """The score threshold with the highest event F1 over ``sets`` (micro, all series pooled)
    among those with at most ``budget`` false alarms per day; ties go to the higher threshold.

    Candidates: 200 quantiles of the pooled scores from 0.98 up, and one above the maximum (no
    flag), so a feasible choice always exists; every candidate lies above the lowest possible
    score -0.5. The event count merges consecutive flags into one false event, so a rule that
    flags most of the time (for the breakout detector, threshold -0.5 flags every window)
    would score few false events and full recall while saying nothing: no candidate may flag
    more than :data:`FLAG_BUDGET` of the training windows."""
    pooled = np.concatenate([s.scores for s in sets]) if sets else np.empty(0)
    if pooled.size == 0:
        raise FoldError("no scored window in the training series to choose a threshold on")
    top = float(np.nextafter(min(pooled.max(), 0.5), 1.0))
    levels = 1.0 - np.geomspace(FLAG_BUDGET, 1e-6, 200)
    candidates = np.unique(np.append(np.quantile(pooled, levels, method="higher"), top))
    candidates = candidates[(candidates > -0.5) & (candidates != 0.0)]
    best, best_f1 = top, -1.0
    for th in candidates[::-1]:  # high to low: a tie keeps the higher threshold
        c = _total(s.counts(float(th)) for s in sets)
        if c.false_alarms_per_day <= budget and c.f1 > best_f1:
            best, best_f1 = float(th), c.f1
    return min(best, float(np.nextafter(0.5, 0.0)))


def _total(counts: Iterable[EventCounts]) -> EventCounts:
    total = EventCounts(0, 0, 0, 0.0, ())
    for c in counts:
        total = total + c
    return total


def _row(c: EventCounts, threshold: float, **extra: float) -> dict[str, float]:
    row = {k: float(v) for k, v in c.row().items()}
    row.update(loss=loss_of(c), threshold=threshold, **extra)
    return row


@dataclass
class _Scorer:
    """Scores per (configuration, series), cached: a fixed detector's scores do not depend on
    the fold; a learning one is refitted per fold on the fold's training series."""

    traces: dict[str, Trace]
    labels: Mapping[str, list[tuple[int, int]]]
    cache: dict[tuple[str, int, str, int], SeriesScores] = field(default_factory=dict)

    def get(self, key: tuple[str, int], config: AnomalyConfig, names: Iterable[str],
            model: Model | None,
            fold: int) -> list[SeriesScores]:
        slot = fold if model is not None else -1
        out = []
        for n in names:
            k = (*key, n, slot)
            if k not in self.cache:
                self.cache[k] = score_series(self.traces[n], self.labels.get(n, []), config,
                                             model)
            out.append(self.cache[k])
        return out


def _select(scorer: _Scorer, name: str, configs: Sequence[AnomalyConfig],
            train_names: Sequence[str], fold: int, budget: float
            ) -> tuple[int, float, Model | None, float]:
    """The configuration (index into ``configs``) and threshold with the lowest loss on the
    training series; returns (index, threshold, fitted model, training loss)."""
    best: tuple[int, float, Model | None, float] | None = None
    train_traces = [scorer.traces[n] for n in train_names]
    for i, config in enumerate(configs):
        model = fit_detector(train_traces, config)
        sets = scorer.get((name, i), config, train_names, model, fold)
        th = choose_threshold(sets, budget)
        loss = loss_of(_total(s.counts(th) for s in sets), budget)
        if best is None or loss < best[3]:
            best = (i, th, model, loss)
    assert best is not None
    return best


@dataclass(frozen=True)
class CandidateCv:
    """A candidate's cross-validation: the CvResult and the configuration chosen per fold."""

    name: str
    result: cv.CvResult
    chosen: tuple[AnomalyConfig, ...]


def _cv(traces: list[Trace], candidates: Mapping[str, Sequence[AnomalyConfig]],
        folds: Sequence[cv.GroupFold], on_fold: cv.FoldCallback | None, progress: bool,
        labels: Mapping[str, list[tuple[int, int]]] | None,
        budget: float = FA_BUDGET) -> dict[str, CandidateCv]:
    """Nested leave-series-out CV of every candidate (a grid of configurations each) and the
    z-score baseline: inside each fold, configuration and threshold are chosen on the training
    series only and applied unchanged to the held-out ones. ``on_fold`` sees the first
    candidate's mean loss so far."""
    if not folds:
        raise FoldError("no folds")
    by_name = {t.name: t for t in traces}
    for f in folds:
        cv.pick(traces, (*f.train, *f.test))
    scorer = _Scorer(by_name, labels if labels is not None else default_labels(by_name))
    rows: dict[str, list[dict[str, float]]] = {n: [] for n in (*candidates, BASELINE_NAME)}
    chosen: dict[str, list[AnomalyConfig]] = {n: [] for n in candidates}
    iterator: Iterable[cv.GroupFold] = folds
    if progress:
        from tqdm import tqdm
        iterator = tqdm(folds, desc="anomaly folds", unit="fold")
    first = next(iter(candidates))
    for k, fold in enumerate(iterator):
        for name, grid in (*candidates.items(), (BASELINE_NAME, (BASELINE,))):
            i, th, model, train_loss = _select(scorer, name, grid, fold.train, k, budget)
            test = _total(s.counts(th) for s in scorer.get((name, i), grid[i], fold.test, model,
                                                           k))
            rows[name].append(_row(test, th, train_loss=train_loss, config_index=float(i)))
            if name != BASELINE_NAME:
                chosen[name].append(grid[i])
        if on_fold is not None:
            on_fold(k, float(np.mean([r["loss"] for r in rows[first]])))
    described = tuple(f.describe() for f in folds)
    base = {BASELINE_NAME: tuple(rows[BASELINE_NAME])}
    return {n: CandidateCv(n, cv.CvResult("loss", described, tuple(rows[n]), base),
                           tuple(chosen[n])) for n in candidates}


def cross_validate(traces: list[Trace], config: AnomalyConfig, folds: Sequence[cv.GroupFold],
                   on_fold: cv.FoldCallback | None = None, progress: bool = False, *,
                   labels: Mapping[str, list[tuple[int, int]]] | None = None) -> cv.CvResult:
    """Leave-series-out CV of one configuration (``cv.leave_series_out`` folds over NAB
    series names). Per fold the detector (if it learns from other series) is fitted and its
    threshold chosen (:func:`choose_threshold`) on the training series, then applied unchanged
    to the held-out ones. ``loss`` = :func:`loss_of` of the held-out series' pooled event
    counts; baseline ``rolling_zscore`` (48-step rolling z-score, threshold chosen the same way).
    ``labels``: NAB anomaly windows per series (default: NAB's label file, see
    :func:`default_labels`)."""
    return _cv(traces, {config.detector: (config,)}, folds, on_fold, progress,
               labels)[config.detector].result


def default_labels(names: Iterable[str]) -> dict[str, list[tuple[int, int]]]:
    """NAB's anomaly windows for ``names``: from the label file shipped in ``training/nab``
    if it has them all, else from the shared data directory's."""
    names = list(names)
    for root in (lambda: SHIPPED_ROOT, data_dir):
        try:
            labels = load_windows(root())
        except DataNotFoundError:
            continue
        if all(n in labels for n in names):
            return labels
    raise SelectionError(f"no NAB label file lists every series of {', '.join(names)}")


def select(traces: list[Trace], grid: Sequence[AnomalyConfig],
           labels: Mapping[str, list[tuple[int, int]]], budget: float = FA_BUDGET
           ) -> tuple[AnomalyConfig, float]:
    """The configuration of ``grid`` and threshold chosen on all of ``traces`` (what a fold
    does on its training part), the threshold written into the returned configuration."""
    scorer = _Scorer({t.name: t for t in traces}, labels)
    i, th, _, loss = _select(scorer, grid[0].detector, grid, [t.name for t in traces], 0,
                             budget)
    return dataclasses.replace(grid[i], threshold=th), loss


# --------------------------------------------------------------------------- evaluation

def _grid(detector: str, **fields: object) -> AnomalyConfig:
    """A grid point with every field the detector reads written out (and no threshold), so it
    does not move when the shipped defaults do."""
    base = dict(seq_len=3, stat_window=24, scale_floor=1e-3, threshold=None)
    return AnomalyConfig(detector=detector, **{**base, **fields})  # type: ignore[arg-type]


CANDIDATES: dict[str, tuple[AnomalyConfig, ...]] = {
    "breakout": tuple(_grid("breakout", stat_window=w, scale_floor=f)
                      for w in (144, 288, 576, 1152) for f in (1e-3, 0.05)),
    "zscore": tuple(_grid("zscore", stat_window=w) for w in (12, 24, 48, 96, 288)),
    "seasonal": tuple(_grid("seasonal", periods=k, halfwidth=h, scale_floor=0.05)
                      for k in (1, 3) for h in (3, 6)),
    "residual": tuple(_grid("residual", seq_len=t, stat_window=w)
                      for t in (4, 13) for w in (24, 96)),
    "iforest": (_grid("iforest"), _grid("iforest", stat_window=48)),
}
"""Every candidate's grid, fixed before the run; each fold picks one configuration per
candidate on its training series."""

METRICS = ("f1", "false_alarms_per_day", "precision", "recall", "loss")


def _describe(config: AnomalyConfig) -> str:
    d = config.detector
    if d == "zscore":
        return f"zscore W={config.stat_window}"
    if d == "breakout":
        return f"breakout W={config.stat_window} floor={config.scale_floor:g}"
    if d == "seasonal":
        return (f"seasonal periods={config.periods} halfwidth={config.halfwidth} "
                f"floor={config.scale_floor}")
    if d == "residual":
        return f"residual lags={config.seq_len - 1} W={config.stat_window}"
    return f"iforest T={config.seq_len} W={config.stat_window} trees={config.n_estimators}"


@dataclass(frozen=True)
class Exported:
    config: AnomalyConfig
    onnx_bytes: int
    p50_us: float
    p99_us: float
    timed_by: str
    verify_max_abs_error: float


def export_check(config: AnomalyConfig, out: Path) -> Exported:
    """Trains ``config`` on the default training data (the NAB series shipped in
    training/nab, what the default bundle trains on), exports, verifies against the native
    model, and times one row."""
    from dwcp_ml.export import go_latency, onnx_anomaly

    trained = train(shipped_traces(), config)
    exported = onnx_anomaly.export(trained)
    width = int(trained.input_spec.shape[1])
    path = out / f"anomaly_{config.detector}.onnx"
    path.write_bytes(exported.onnx_bytes)
    p50, p99, by = go_latency.one_row_latency_us(path, (1, width), calls=2000)
    return Exported(config, len(exported.onnx_bytes), p50, p99, by,
                    exported.verification.max_abs_error)


def _fold_table(name: str, result: cv.CvResult, folds: Sequence[cv.GroupFold],
                chosen: Sequence[AnomalyConfig]) -> list[str]:
    base = result.baselines[BASELINE_NAME]
    lines = [f"| fold | held-out series | {name} F1 | FA/day | config | threshold | baseline "
             "F1 | FA/day | above baseline |", "|---|---|---|---|---|---|---|---|---|"]
    for f, m, b, c in zip(folds, result.model, base, chosen):
        short = ", ".join(Path(n).stem for n in f.test)
        lines.append(f"| {f.index} | {short} | {m['f1']:.3f} | {m['false_alarms_per_day']:.3f} "
                     f"| {_describe(c)} | {m['threshold']:.4f} | {b['f1']:.3f} | "
                     f"{b['false_alarms_per_day']:.3f} | {'yes' if m['f1'] > b['f1'] else 'no'} |")
    return lines


def targets(result: cv.CvResult) -> dict[str, bool]:
    """The issue's anomaly target, per part."""
    f1, fa = result.mean_std("f1")[0], result.mean_std("false_alarms_per_day")[0]
    base = result.values("f1", BASELINE_NAME)
    return {"f1_at_least_0.35": f1 >= 0.35, "false_alarms_at_most_0.3_per_day": fa <= FA_BUDGET,
            "above_baseline_every_fold": bool(np.all(result.values("f1") > base))}


def _plot(s: SeriesScores, threshold: float, trace: Trace, title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trace = _ordered(trace)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 5), sharex=True)
    t0 = trace.ts[0]

    def days(t: np.ndarray | int) -> np.ndarray:
        return (np.asarray(t) - t0) / DAY

    ax1.plot(days(trace.ts), trace.values[:, 0], lw=0.6, color="k")
    ax2.plot(days(s.ends), s.scores, lw=0.6, color="C0", label="score")
    ax2.axhline(threshold, color="C3", lw=0.8, ls="--", label="threshold")
    flags = s.ends[s.scores >= threshold]
    ax1.plot(days(flags), np.interp(flags, trace.ts, trace.values[:, 0]), "o", ms=3,
             color="C3", label="flag")
    for ax in (ax1, ax2):
        for a, b in s.windows:
            ax.axvspan(days(a), days(b), color="C1", alpha=0.2)
        ax.axvline(days(s.start), color="grey", lw=0.8, ls=":")
    ax1.set_title(title, fontsize=9)
    ax1.set_ylabel("value")
    ax2.set_ylabel("score")
    ax2.set_xlabel("days")
    ax2.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load(sel: Selection, root: Path) -> list[Trace]:
    """The labelled NAB series a selection names (the only data the detector is judged on)."""
    if sel.kind != "nab":
        raise SelectionError(f"anomaly: {sel.describe()}: the anomaly detector is judged on "
                             "labelled NAB series (nab or nab:series=...)")
    return sel.load_nab(root)


def _protocol() -> list[str]:
    return [
        "## Protocol", "",
        f"- Per series, the first {PROBATION:.0%} of the samples is its probationary period "
        "(NAB's): never scored; windows wholly inside it are dropped. The forest is fitted on "
        "it (unlabelled); the scale-free detectors are fixed functions of a window (the "
        "residual one fitted on the training series' windows).",
        "- Event level: an anomaly window is detected if any flag falls in it; flags outside "
        "every window, consecutive grid steps merged, are false events. Precision, recall and "
        "F1 pool the events of a fold's held-out series; false alarms per day = false events "
        "/ days of their detection periods.",
        f"- Threshold: the one with the highest F1 on the fold's training series among those "
        f"with <= {FA_BUDGET} false alarms/day and flagging <= {FLAG_BUDGET:.0%} of their "
        "windows (a rule flagging most of the time merges into few events and would game the "
        "count). The configuration of each candidate's grid with the lowest training loss is "
        "taken. Both are applied unchanged to the held-out series.",
        f"- Loss = 1 - F1 + max(0, false alarms/day - {FA_BUDGET}). Baseline: rolling z-score "
        f"over {BASELINE_WINDOW} steps, its threshold chosen the same way on the same training "
        "series.", ""]


def _cross_validation_report(request: EvalRequest, root: Path, out: Path,
                             candidates: Mapping[str, Sequence[AnomalyConfig]]
                             ) -> tuple[list[str], dict[str, object]]:
    sel = request.train or DEV
    traces = load(sel, root)
    labels = load_windows(root)
    names = [t.name for t in traces]
    folds = cv.leave_series_out(names, n_folds=min(request.n_folds, len(names)))
    results = _cv(traces, candidates, folds, None, request.progress, labels)
    order = sorted(results, key=lambda n: results[n].result.mean_loss())
    winner = order[0]
    finals = {n: select(traces, candidates[n], labels) for n in order}
    exports = {n: export_check(finals[n][0], out) for n in order}

    head = ("| candidate | " + " | ".join(METRICS) + " | ONNX bytes | p50 / p99 us (1 row) "
            "| configuration on all of train |")
    lines = [
        "# Anomaly detector: leave-series-out evaluation", "",
        f"- **Trained on**: {sel.describe()}: {len(traces)} series"
        f"{' (the dev selection)' if request.train is None else ''}; each fold fits and "
        "chooses only on its training series.",
        "- **Tested on**: " + ("cross-validation folds inside the training selection only "
                               "(no --test)" if request.test is None else
                               f"{request.test.describe()}, after the cross-validation") + ".",
        "- **Selected on**: per fold, each candidate's configuration (its grid below, fixed "
        "before the run) and threshold on the fold's training series; the winner (lowest mean "
        "CV loss) over the candidates on these same folds, so its CV figure carries that one "
        "choice. The shipped configuration is the winner's configuration and threshold chosen "
        "on all of the training selection. The candidate set was designed on this dev data: "
        "read the figures as optimistic.", "",
        *_protocol(),
        f"## Leaderboard ({len(folds)} leave-series-out folds, mean +- sd over folds)", "",
        head, "|---|" + "---|" * (len(METRICS) + 3)]
    for n in (*order, BASELINE_NAME):
        res = results[winner].result if n == BASELINE_NAME else results[n].result
        method = BASELINE_NAME if n == BASELINE_NAME else "model"
        cells = []
        for m in METRICS:
            mean, sd = res.mean_std(m, method)
            cells.append(f"{mean:.3f} +- {sd:.3f}")
        if n == BASELINE_NAME:
            extra = f"- | - | {_describe(BASELINE)}, threshold per fold"
        else:
            e = exports[n]
            extra = (f"{e.onnx_bytes:,} | {e.p50_us:.1f} / {e.p99_us:.1f}, {e.timed_by} | "
                     f"{_describe(finals[n][0])}, threshold {finals[n][0].threshold:.4f}")
        lines.append(f"| {'**' + n + '**' if n == winner else n} | " + " | ".join(cells)
                     + f" | {extra} |")
    won = results[winner]
    tg = targets(won.result)
    lines += ["", f"## Winner `{winner}` per fold beside the baseline", "",
              *_fold_table(winner, won.result, folds, won.chosen), "",
              "Targets (event F1 >= 0.35 at <= 0.3 false alarms/day, above the z-score "
              "baseline in every fold): " + ", ".join(
                  f"{k.replace('_', ' ')}: {'met' if v else 'MISSED'}" for k, v in tg.items()),
              "", "Grids:", ""]
    lines += [f"- {n}: " + "; ".join(_describe(c) for c in candidates[n]) for n in order]
    lines += ["", "Export (each candidate's final configuration trained on the NAB series "
              "shipped in training/nab, the default bundle's data): ONNX verified against the "
              "native model, max |onnx - native| " + ", ".join(
                  f"{n} {exports[n].verify_max_abs_error:.1e}" for n in order) + ".", ""]
    metrics: dict[str, object] = {
        "train": sel.describe(), "folds": [f.describe() for f in folds], "winner": winner,
        "targets": tg,
        "candidates": {n: {"cv": dataclasses.asdict(results[n].result),
                           "chosen_per_fold": [_describe(c) for c in results[n].chosen],
                           "final": _config_dict(finals[n][0]),
                           "final_train_loss": finals[n][1],
                           "export": {k: v for k, v in dataclasses.asdict(exports[n]).items()
                                      if k != "config"}}
                       for n in order},
    }
    # A picture of the winner on the held-out series with the most anomaly windows.
    scorer = _Scorer({t.name: t for t in traces}, labels)
    best = max(traces, key=lambda t: (len(labels.get(t.name, [])), t.name))
    k = next(f.index for f in folds if best.name in f.test)
    cfg = won.chosen[k]
    model = fit_detector([t for t in traces if t.name in folds[k].train], cfg)
    shown = scorer.get((winner, -1), cfg, [best.name], model, k)[0]
    _plot(shown, won.result.model[k]["threshold"], best,
          f"{best.name} held out (fold {k}): {_describe(cfg)}; NAB windows orange, flags red, "
          "end of probation dotted", out / "anomaly_nab_example.png")
    lines += ["![winner on a held-out series](anomaly_nab_example.png)", ""]

    if request.test is not None:
        test_lines, test_metrics = _test(traces, load(request.test, root), labels,
                                         finals[winner][0], request.test)
        lines += test_lines
        metrics["test"] = test_metrics
    return lines, metrics


def _config_dict(config: AnomalyConfig) -> dict[str, object]:
    return {k: (v.label if isinstance(v, fc.Schema) else v)
            for k, v in dataclasses.asdict(config).items()}


def _counts_line(label: str, c: EventCounts) -> str:
    return (f"| {label} | {c.detected}/{c.windows} | {c.false_events} | {c.precision:.3f} | "
            f"{c.recall:.3f} | {c.f1:.3f} | {c.false_alarms_per_day:.3f} |")


def _test(train_traces: list[Trace], test_traces: list[Trace],
          labels: Mapping[str, list[tuple[int, int]]], config: AnomalyConfig,
          sel: Selection) -> tuple[list[str], dict[str, object]]:
    """The winner's configuration and threshold (chosen on all training series), and the
    baseline's threshold chosen there too, applied once to the test series."""
    overlap = sorted({t.name for t in train_traces} & {t.name for t in test_traces})
    model = fit_detector(train_traces, config)
    assert config.threshold is not None
    won = _total(score_series(t, labels.get(t.name, []), config, model).counts(
        config.threshold) for t in test_traces)
    base_cfg, _ = select(train_traces, [BASELINE], labels)
    assert base_cfg.threshold is not None
    base = _total(score_series(t, labels.get(t.name, []), BASELINE).counts(base_cfg.threshold)
                  for t in test_traces)
    lines = [f"## Test: {sel.describe()} ({len(test_traces)} series)", "",
             "| detector | detected | false events | precision | recall | F1 | FA/day |",
             "|---|---|---|---|---|---|---|",
             _counts_line(f"{_describe(config)}, threshold {config.threshold:.4f}", won),
             _counts_line(f"{BASELINE_NAME}, threshold {base_cfg.threshold:.4f}", base), ""]
    if overlap:
        lines += [f"Warning: {len(overlap)} test series are also training series; this test "
                  "is not on unseen data.", ""]
    return lines, {"test": sel.describe(), "model": won.row(), "baseline": base.row(),
                   "overlap": overlap}


@dataclass(frozen=True)
class _OnnxModel:
    """A bundle's ONNX model behind the ``score(rows)`` the scoring loop calls."""

    session: object

    def score(self, rows: np.ndarray) -> NDArray[np.float64]:
        out = self.session.run(None, {"input": np.ascontiguousarray(rows, np.float32)})[0]
        return out[:, 0].astype(np.float64)


def bundle_counts(m: BundleModel, traces: list[Trace],
                  labels: Mapping[str, list[tuple[int, int]]],
                  periods: Mapping[str, Period] | None = None) -> tuple[EventCounts, int]:
    """A bundle's anomaly model judged as it is (ONNX Runtime, the manifest's threshold and
    feature parameters) on each series' detection period, or only its ``periods[name]``;
    returns the event counts and the number of windows scored."""
    params, threshold = m.params, float(m.thresholds["score"])
    scorer = _OnnxModel(m.session)
    sets = []
    for t in traces:
        t, start, end, live = _detection(t, labels.get(t.name, []),
                                         periods[t.name] if periods is not None else None)
        ends, scores = _scored(scorer, params, to_grid(params, t), start)
        sets.append(SeriesScores(t.name, params.step_seconds, ends, scores, live, start, end))
    return _total(s.counts(threshold) for s in sets), sum(len(s.scores) for s in sets)


def recalibrate(config: AnomalyConfig, traces: list[Trace],
                labels: Mapping[str, list[tuple[int, int]]], periods: Mapping[str, Period]
                ) -> AnomalyConfig:
    """``config`` with the threshold :func:`choose_threshold` (the folds' rule) picks on the
    ``periods`` of ``traces``: the operating point recalibrated on recent labelled data."""
    free = dataclasses.replace(config, threshold=None)
    model = fit_detector([_before(_ordered(t), periods[t.name].end) for t in traces], free)
    sets = [score_series(t, labels.get(t.name, []), free, model, periods[t.name])
            for t in traces]
    return dataclasses.replace(config, threshold=choose_threshold(sets))


def _judge_bundle(request: EvalRequest, root: Path) -> tuple[list[str], dict[str, object]]:
    b, m = request.bundle_model("anomaly")
    params, threshold = m.params, float(m.thresholds["score"])
    sel = request.test or request.train or DEV
    traces = load(sel, root)
    labels = load_windows(root)
    counts, scored = bundle_counts(m, traces, labels)
    test_names = {t.name for t in traces}
    base_pool = [t for t in load(request.train or DEV, root) if t.name not in test_names]
    lines = [
        "# Anomaly detector: a bundle judged as it is", "",
        f"- **Model**: `{m.name}` from bundle `{request.bundle}` (version {b.version}), "
        f"threshold {threshold:.4f} from its manifest.",
        f"- **Tested on**: {sel.describe()}: {len(traces)} series, each after its first "
        f"{PROBATION:.0%} (NAB's probationary period), at the bundle's own feature parameters "
        f"(step {params.step_seconds} s, seq_len {params.seq_len}, stat_window "
        f"{params.stat_window}); {scored} windows scored.",
        "- **Selected on**: nothing here; the model, its parameters and its threshold are the "
        "bundle's own. Scores from ONNX Runtime on feature-core windows.", "",
        "| detector | detected | false events | precision | recall | F1 | FA/day |",
        "|---|---|---|---|---|---|---|", _counts_line(f"bundle `{m.name}`", counts)]
    metrics: dict[str, object] = {"bundle": str(request.bundle), "test": sel.describe(),
                                  "model": counts.row(), "threshold": threshold}
    if base_pool:
        base_cfg, _ = select(base_pool, [BASELINE], labels)
        assert base_cfg.threshold is not None
        base = _total(score_series(t, labels.get(t.name, []), BASELINE).counts(
            base_cfg.threshold) for t in traces)
        lines += [_counts_line(f"{BASELINE_NAME} (threshold {base_cfg.threshold:.4f}, chosen "
                               f"on {len(base_pool)} other series)", base)]
        metrics["baseline"] = base.row()
    else:
        lines += ["", "No baseline: every series of the training selection is a test series, "
                  "so none is left to choose its threshold on."]
    return lines + [""], metrics


def evaluate(request: EvalRequest,
             candidates: Mapping[str, Sequence[AnomalyConfig]] = CANDIDATES
             ) -> tuple[str, dict[str, object]]:
    """Leave-series-out CV of every candidate (default :data:`CANDIDATES`) on
    ``request.train`` (default :data:`DEV`),
    the leaderboard and the winner; with ``request.test`` the winner (configuration and
    threshold chosen on all of train) judged once on it; with ``request.bundle`` that
    bundle's anomaly model judged as it is. Writes anomaly_report.md and
    anomaly_metrics.json into out_dir; returns (markdown, metrics)."""
    root = Path(request.data_root)
    out = Path(request.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return request.report("anomaly", _judge_bundle, lambda: _cross_validation_report(request, root, out, candidates))
