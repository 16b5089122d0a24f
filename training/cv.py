"""The one cross-validation splitter: every configuration, threshold, headroom and model choice
of every family is made inside these folds, on the training part only.

Three kinds of fold, composable:

- :func:`rolling_origin`: time-series folds with an expanding training range, a gap, then a
  test range. The gap keeps a window's history and its forecast horizon from straddling the
  cut, so no training target lies in or next to the test range.
- :func:`leave_groups_out`: entities (VM ids, host ids) split into disjoint test groups; the
  model is judged on VMs it never saw.
- :func:`leave_series_out`: the same over named series (NAB), one group per fold.

Folds are pure descriptions (ranges, names); :func:`time_slice` and :func:`pick` apply them to
traces. Nothing here knows a month: the ranges come from the data given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .data import Trace

DAY = 86_400


class FoldError(ValueError):
    """The data given cannot be split as asked (too short, too few groups)."""


@dataclass(frozen=True)
class TimeFold:
    """Train on ``[train_start, train_end)``, test on ``[test_start, test_end)``; Unix seconds,
    ``test_start - train_end`` is the gap."""

    index: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int

    def describe(self) -> str:
        return (f"fold {self.index}: train {_day(self.train_start)}..{_day(self.train_end)}, "
                f"test {_day(self.test_start)}..{_day(self.test_end)}")


@dataclass(frozen=True)
class GroupFold:
    """Train on the entities in ``train``, test on those in ``test`` (disjoint)."""

    index: int
    train: tuple[str, ...]
    test: tuple[str, ...]

    def describe(self) -> str:
        return f"fold {self.index}: test {', '.join(self.test)} ({len(self.train)} to train on)"


def _day(ts: int) -> str:
    return np.datetime_as_string(np.datetime64(int(ts), "s"), unit="m")


def span(traces: Iterable[Trace]) -> tuple[int, int]:
    """The first sample time and one past the last over all traces."""
    starts, ends = zip(*((int(t.ts[0]), int(t.ts[-1]) + 1) for t in traces if len(t.ts)))
    return min(starts), max(ends)


def rolling_origin(start: int, end: int, n_folds: int = 5, min_train: int = 14 * DAY,
                   gap: int = DAY, test: int | None = None) -> list[TimeFold]:
    """``n_folds`` expanding-window folds over ``[start, end)``.

    Fold k trains on ``[start, start + min_train + k * test)``, skips ``gap`` seconds and tests
    on the next ``test`` seconds; ``test`` defaults to what fills the range. Test ranges are
    disjoint and in time order, so the last fold is the latest data.
    """
    if n_folds < 1 or min_train <= 0 or gap < 0:
        raise FoldError(f"need n_folds >= 1, min_train > 0, gap >= 0 (got {n_folds}, "
                        f"{min_train}, {gap})")
    room = end - start - min_train - gap
    test = room // n_folds if test is None else test
    if test <= 0 or min_train + gap + n_folds * test > end - start:
        raise FoldError(f"{(end - start) / DAY:.1f} days cannot hold {n_folds} folds of "
                        f"{min_train / DAY:g} training days, a {gap / DAY:g}-day gap and a test "
                        "range each")
    folds = []
    for k in range(n_folds):
        train_end = start + min_train + k * test
        folds.append(TimeFold(k, start, train_end, train_end + gap, train_end + gap + test))
    return folds


def _order(names: Sequence[str], seed: int) -> list[str]:
    """A fixed pseudo-random order (sha256 of seed and name): stable across runs and
    machines, and independent of the order the names were given in."""
    key = {n: hashlib.sha256(f"{seed}:{n}".encode()).hexdigest() for n in names}
    return sorted(set(names), key=lambda n: key[n])


def leave_groups_out(names: Sequence[str], n_folds: int = 5, seed: int = 0) -> list[GroupFold]:
    """``n_folds`` folds whose test groups partition ``names`` (sizes differ by at most one)."""
    order = _order(names, seed)
    if not 2 <= n_folds <= len(order):
        raise FoldError(f"{len(order)} distinct names cannot form {n_folds} groups "
                        "(need 2 <= folds <= names)")
    groups = [order[k::n_folds] for k in range(n_folds)]
    return [GroupFold(k, tuple(sorted(set(order) - set(g))), tuple(sorted(g)))
            for k, g in enumerate(groups)]


def leave_series_out(names: Sequence[str], n_folds: int | None = None,
                     seed: int = 0) -> list[GroupFold]:
    """Leave-series-out: one series per fold by default, else ``n_folds`` groups."""
    return leave_groups_out(names, len(set(names)) if n_folds is None else n_folds, seed)


def time_slice(trace: Trace, start: int, end: int) -> Trace:
    """The samples of ``trace`` in ``[start, end)``."""
    keep = (trace.ts >= start) & (trace.ts < end)
    return Trace(trace.name, trace.ts[keep], trace.values[keep])


def train_part(traces: Iterable[Trace], fold: TimeFold) -> list[Trace]:
    """Every trace cut to the fold's training range (empty cuts dropped)."""
    return [t for t in (time_slice(t, fold.train_start, fold.train_end) for t in traces)
            if len(t.ts)]


def test_part(traces: Iterable[Trace], fold: TimeFold, history: int = 0) -> list[Trace]:
    """Every trace cut to the fold's test range, with ``history`` seconds before it so the
    first test window is complete (its targets still all lie in the test range)."""
    return [t for t in (time_slice(t, fold.test_start - history, fold.test_end)
                        for t in traces) if len(t.ts)]


def pick(traces: Iterable[Trace], names: Iterable[str]) -> list[Trace]:
    """The traces named, in the order given; a missing name is an error."""
    by_name = {t.name: t for t in traces}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise FoldError(f"no trace named {', '.join(missing)}")
    return [by_name[n] for n in names]


# --------------------------------------------------------------------------- results

FoldCallback = Callable[[int, float], None]
"""Called after each fold with (fold index, mean loss so far); a search uses it to prune
(it may raise, e.g. ``optuna.TrialPruned``, and the exception propagates)."""


@dataclass(frozen=True)
class CvResult:
    """One family's cross-validation: metrics per fold for the model and every baseline.

    ``loss`` names the metric a search minimises (lower is better). Every family's
    ``eval_<family>.cross_validate`` returns this, so searches, leaderboards and reports
    read one shape.
    """

    loss: str
    folds: tuple[str, ...]  # fold.describe() of each fold, in order
    model: tuple[dict[str, float], ...]  # metrics of the model, one dict per fold
    baselines: dict[str, tuple[dict[str, float], ...]]  # name -> metrics per fold

    def __post_init__(self) -> None:
        if len(self.model) != len(self.folds) or any(
                len(rows) != len(self.folds) for rows in self.baselines.values()):
            raise ValueError("CvResult needs one row of metrics per fold for every method")

    def values(self, metric: str, method: str = "model") -> NDArray[np.float64]:
        rows = self.model if method == "model" else self.baselines[method]
        return np.array([r[metric] for r in rows], dtype=np.float64)

    def mean_loss(self) -> float:
        return float(self.values(self.loss).mean())

    def mean_std(self, metric: str, method: str = "model") -> tuple[float, float]:
        """Mean and sample standard deviation over folds (0 for one fold)."""
        v = self.values(metric, method)
        return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0

    def table(self, metrics: Sequence[str], digits: int = 3) -> str:
        """Markdown: one row per method, ``mean +- sd`` over folds for each metric."""
        head = "| method | " + " | ".join(metrics) + " |"
        rule = "|---|" + "---|" * len(metrics)
        rows = [head, rule]
        for method in ("model", *self.baselines):
            cells = []
            for m in metrics:
                mean, sd = self.mean_std(m, method)
                cells.append(f"{mean:.{digits}f} +- {sd:.{digits}f}")
            rows.append(f"| {method} | " + " | ".join(cells) + " |")
        return "\n".join(rows)
