"""Whole traces as OpenMetrics text, and the backfill of a Prometheus TSDB from it with
``promtool tsdb create-blocks-from openmetrics`` (docs/prometheus-source.md).

What keeps the feature core's bits: every raw sample is written, none averaged or dropped.
Prometheus keeps one sample per (series, millisecond) and the traces have whole seconds, so the
k-th repeat of a second (Bitbrains repeats 8,388 timestamps in July 2013) is written k
milliseconds later; the reader floors to seconds and gets every repeat back, in file order.
Values are written in Python's shortest round-trip form, which Go's ParseFloat reads back to
the same bits.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from dwcp_ml.training.data import Trace

from . import naming

MAX_REPEATS = 1000  # repeats of one second that fit its milliseconds
BACKFILL_TIMEOUT_S = 3600.0
# promtool's (hidden) --max-block-duration: its default of 2 h reads the whole file once per
# 2-hour block (a week: 84 passes, 8.8 s; with 31 days: one pass, 0.3 s). Prometheus compacts
# to at most 31 days itself.
MAX_BLOCK = "744h"


class OpenMetricsError(ValueError):
    """A trace that cannot be written as OpenMetrics, or a failed promtool backfill."""


@dataclass(frozen=True)
class WriteSummary:
    series: int
    samples: int  # sample lines written (gauges and counters)
    repeats: int  # samples moved by k ms because their second repeats
    reordered: int  # samples that were not in time order in the trace (stored sorted)


@dataclass(frozen=True)
class BackfillSummary:
    blocks: int
    seconds: float


def stored_ms(ts: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(order, milliseconds): the samples sorted by time, stably (file order within a second),
    and each one's Prometheus timestamp: its second * 1000 + its rank among that second's
    repeats."""
    order = np.argsort(ts, kind="stable")
    sec = ts[order].astype(np.int64)
    if len(sec) == 0:
        return order, sec
    starts = np.r_[True, sec[1:] != sec[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(len(sec)), 0))
    rank = np.arange(len(sec)) - first
    if rank.max() >= MAX_REPEATS:
        at = int(sec[int(np.argmax(rank))])
        raise OpenMetricsError(f"timestamp {at} repeats more than {MAX_REPEATS} times: the "
                               "repeats do not fit that second's milliseconds")
    return order, sec * 1000 + rank


def timestamp_text(ms: int) -> str:
    """An OpenMetrics timestamp (seconds) that promtool reads back as exactly ``ms``: it
    computes int64(float(text) * 1000), which truncates, so a text whose product lands a hair
    below the integer is replaced by the middle of that millisecond."""
    sec, frac = divmod(ms, 1000)
    text = f"{sec}" if frac == 0 else f"{sec}.{frac:03d}"
    if int(float(text) * 1000.0) != ms:
        text = repr((ms + 0.5) / 1000.0)
        if int(float(text) * 1000.0) != ms:
            raise OpenMetricsError(f"timestamp {ms} ms has no exact OpenMetrics form")
    return text


def _series_lines(metric: str, labels: dict[str, str], ms: NDArray[np.int64],
                  values: NDArray[np.float64]) -> list[str]:
    head = metric + "{" + ",".join(f'{k}="{naming.escape(v)}"' for k, v in labels.items()) + "}"
    return [f"{head} {v!r} {timestamp_text(t)}" for t, v in zip(ms.tolist(), values.tolist())]


def _check(trace: Trace, channels: int) -> None:
    if trace.values.ndim != 2 or trace.values.shape != (len(trace.ts), channels):
        raise OpenMetricsError(f"trace {trace.name}: values of shape {trace.values.shape}, "
                               f"expected ({len(trace.ts)}, {channels})")
    if not np.isfinite(trace.values).all() or (trace.values < 0).any():
        raise OpenMetricsError(f"trace {trace.name}: values must be finite and >= 0 (the "
                               "feature core refuses others)")


def _counter(ts: NDArray[np.int64], rate: NDArray[np.float64]) -> NDArray[np.float64]:
    """The integral of a rate gauge: the counter a node-exporter-like collector would keep."""
    dt = np.diff(ts.astype(np.float64), prepend=float(ts[0]))
    return np.cumsum(np.r_[0.0, rate[:-1]] * dt)


def write_openmetrics(path: Path, vm_traces: Sequence[Trace], cpu_traces: Sequence[Trace] = (),
                      counters: bool = False) -> WriteSummary:
    """Writes the VM traces (VM schema: one gauge per channel) and the CPU MHz traces
    (``<vm trace>/cpu_mhz``) as one OpenMetrics file ending in ``# EOF``. ``counters`` adds a
    ``_total`` counter per bytes/s gauge (for rate() dashboards; not an exact input)."""
    families: dict[str, list[str]] = {}
    series = samples = repeats = reordered = 0

    def add(metric: str, labels: dict[str, str], ms: NDArray[np.int64],
            values: NDArray[np.float64]) -> None:
        nonlocal series, samples
        families.setdefault(metric, []).extend(_series_lines(metric, labels, ms, values))
        series += 1
        samples += len(ms)

    for trace in vm_traces:
        _check(trace, len(naming.VM_METRICS))
        labels = naming.labels_of(trace.name)
        order, ms = stored_ms(trace.ts)
        repeats += int((ms % 1000 != 0).sum())
        reordered += int((order != np.arange(len(order))).sum())
        for c, metric in enumerate(naming.VM_METRICS):
            values = metric.to_prometheus(trace.values[order, c])
            add(metric.name, labels, ms, values)
            if counters and metric.name in naming.COUNTERS:
                add(naming.COUNTERS[metric.name], labels, ms, _counter(ms // 1000, values))
    for trace in cpu_traces:
        _check(trace, 1)
        if not trace.name.endswith(naming.CPU_MHZ_SUFFIX):
            raise OpenMetricsError(f"trace {trace.name}: a CPU MHz trace's name ends in "
                                   f"{naming.CPU_MHZ_SUFFIX}")
        labels = naming.labels_of(trace.name.removesuffix(naming.CPU_MHZ_SUFFIX))
        order, ms = stored_ms(trace.ts)
        add(naming.CPU_MHZ.name, labels, ms, naming.CPU_MHZ.to_prometheus(trace.values[order, 0]))
    meta = {m.name: ("gauge", m.unit, m.help) for m in (*naming.VM_METRICS, naming.CPU_MHZ)}
    for gauge, counter in naming.COUNTERS.items():
        meta[counter] = ("counter", "bytes", f"Integral of {gauge} over time.")
    with open(path, "w", encoding="utf-8") as out:
        for metric, lines in families.items():
            kind, unit, text = meta[metric]
            family = metric.removesuffix("_total") if kind == "counter" else metric
            out.write(f"# HELP {family} {text}\n# TYPE {family} {kind}\n# UNIT {family} {unit}\n")
            out.write("\n".join(lines))
            out.write("\n")
        out.write("# EOF\n")
    return WriteSummary(series, samples, repeats, reordered)


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        raise OpenMetricsError("promtool not found on PATH: `make toolchain` installs Debian's "
                               "prometheus package (prometheus and promtool)")
    return found


def backfill(openmetrics: Path, tsdb: Path, max_block: str = MAX_BLOCK,
             timeout: float = BACKFILL_TIMEOUT_S) -> BackfillSummary:
    """``promtool tsdb create-blocks-from openmetrics FILE TSDB``: TSDB blocks a Prometheus
    started with ``--storage.tsdb.path TSDB`` serves (give it a retention longer than the
    data's age, e.g. ``--storage.tsdb.retention.time 100y``)."""
    tsdb.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in tsdb.iterdir()}
    started = time.perf_counter()
    try:
        proc = subprocess.run([promtool(), "tsdb", "create-blocks-from", "openmetrics",
                               "--quiet", f"--max-block-duration={max_block}", str(openmetrics),
                               str(tsdb)],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise OpenMetricsError(f"promtool backfill of {openmetrics} took more than "
                               f"{timeout:.0f} s") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise OpenMetricsError(f"promtool could not backfill {openmetrics} into {tsdb}: {last}")
    blocks = sum(1 for p in tsdb.iterdir() if p.name not in before and (p / "meta.json").exists())
    return BackfillSummary(blocks, time.perf_counter() - started)
