"""Multi-stream transfer simulator for task partitioning (docs/partition.md).

A *task* of ``size`` bytes is cut into one chunk per stream; each stream then carries its
chunk at the stream's true rate, which changes minute by minute, and the task completes when
its last chunk does. Streams are links of the documented link-trace generator
(``training/link_traces.py``) with two knobs:

heterogeneity ``H``
    The spread of the streams' capacities: ``capacity_mbps_log = (C / sqrt(H), C * sqrt(H))``
    with ``C = 1000`` Mbit/s, so capacities are log-uniform over a ratio of ``H`` (``H = 1``:
    one capacity; ``H = 100``: the generator's default 100 .. 10,000 Mbit/s). Load, diurnal
    shape and peak hour still differ per link at every ``H`` (the generator draws them).
volatility ``V``
    Multiplies the generator's process volatility: the AR(1) load noise (``util_noise_sd``),
    the congestion-episode rate and the route-change rate (``V = 1``: the generator's
    defaults, the data the link model was trained on). The probe's measurement noise stays at
    its default: it is not the link's behaviour.

The truth a stream experiences is the link's measured available bandwidth on a one-minute
grid (``fc_resample``; a bin with no sample repeats the previous one). The policies only see
what the feature core gives them at the task's start: the link model's 5-minute window of
each stream (23 bins), or its last bin.

Policies (every one sees the same task at the same time on the same streams; sizes come from
the task, not the policy):

``link_model``
    the link model's point forecast (``bandwidth_mbps``, the median of the next 15 minutes) of
    every stream, chunks by the C rule (``fc_partition_chunks``);
``last_value``
    the last 5-minute bin's bandwidth of every stream as the "forecast", chunks by the C rule;
``equal_split``
    round-robin equal split (the C rule with equal forecasts: size / n each, the remainder to
    the lowest indices);
``random_stream``
    the whole task on one stream drawn uniformly (seeded per task);
``oracle_15min`` (a reference, not a policy)
    the true mean rate of the next 15 minutes of every stream, chunks by the C rule.

Every parameter lives in :class:`PartitionSimConfig` (frozen). They were fixed and committed
before any result of this simulator was looked at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from dwcp_ml import feature_core as fc

from . import prepare
from .link_traces import LinkTraceConfig, link_trace

POLICIES = ("link_model", "last_value", "equal_split", "random_stream")
REFERENCES = ("oracle_15min",)
MINUTE = 60


class PartitionSimError(ValueError):
    """A simulator configuration or input that cannot be run (names what is wrong)."""


@dataclass(frozen=True)
class PartitionSimConfig:
    """Every knob of the evaluation, committed before any result.

    ``eval_seed_base + k`` (k < ``seeds``) are the link-trace seeds of the streams; they are
    disjoint from the link model's training seed (20261204) and from the link evaluation's
    test seeds (20261205, 20261206).
    """

    streams: int = 4
    heterogeneity: tuple[float, ...] = (1.0, 4.0, 16.0, 100.0)
    volatility: tuple[float, ...] = (0.25, 1.0, 2.0, 4.0)
    capacity_center_mbps: float = 1000.0
    seeds: int = 30
    eval_seed_base: int = 20271000
    days: int = 2  # per stream; tasks start in the first 36 h, the rest is room to finish
    first_task_hour: float = 4.0
    task_every_hours: float = 2.0
    tasks: int = 17  # starts at hours 4, 6, .., 36
    # ideal duration (size / the streams' summed mean rate of the last hour), log-uniform
    duration_seconds_log: tuple[float, float] = (120.0, 1800.0)
    oracle_minutes: int = 15  # the link model's horizon
    task_seed: int = 7  # sizes and random streams: np.random.default_rng([task_seed, seed])

    def __post_init__(self) -> None:
        if not 1 <= self.streams <= fc.PARTITION_MAX_STREAMS:
            raise PartitionSimError(f"partition_sim streams={self.streams}: need 1..1024")
        if self.seeds < 2:
            raise PartitionSimError(f"partition_sim seeds={self.seeds}: need >= 2 for an "
                                    "interval")
        if min(self.heterogeneity) < 1.0 or min(self.volatility) < 0.0:
            raise PartitionSimError("partition_sim: heterogeneity >= 1 and volatility >= 0")
        last = self.first_task_hour + self.task_every_hours * (self.tasks - 1)
        if self.first_task_hour <= 0 or last + 4 > self.days * 24:
            raise PartitionSimError(f"partition_sim: the last task starts at hour {last}; "
                                    f"{self.days} days leave under 4 hours to finish")
        lo, hi = self.duration_seconds_log
        if not 0 < lo <= hi:
            raise PartitionSimError(f"partition_sim duration_seconds_log={lo, hi}")

    def links(self, heterogeneity: float, volatility: float, seed_index: int) -> LinkTraceConfig:
        """The link-trace configuration of one cell and seed."""
        base = LinkTraceConfig()
        r = float(np.sqrt(heterogeneity))
        c = self.capacity_center_mbps
        return replace(base, links=self.streams, days=self.days,
                       seed=self.eval_seed_base + seed_index,
                       capacity_mbps_log=(c / r, c * r),
                       util_noise_sd=base.util_noise_sd * volatility,
                       congestion_rate=base.congestion_rate * volatility,
                       route_change_rate=base.route_change_rate * volatility)

    @classmethod
    def tiny(cls) -> PartitionSimConfig:
        """Seconds-long, for tests: 2 cells, 3 seeds, 4 tasks."""
        return cls(heterogeneity=(1.0, 16.0), volatility=(1.0,), seeds=3, tasks=4)


@dataclass
class Stream:
    """One stream: the 5-minute grid the policies read and the 1-minute truth it runs at."""

    grid: prepare.GridTrace
    rate_ts: NDArray[np.int64]  # 1-minute bin starts
    rate_mbps: NDArray[np.float64]  # true available bandwidth per minute (>= 0)


@dataclass
class TaskResult:
    """Completion seconds of every policy (and reference) for one task."""

    start: int
    size: int
    seconds: dict[str, float] = field(default_factory=dict)


Forecaster = Callable[[NDArray[np.float32]], NDArray[np.float32]]


def make_stream(params: fc.Params, config: LinkTraceConfig, link: int) -> Stream:
    """A link's trace on the model's grid (for the policies) and on a 1-minute grid (truth)."""
    trace = link_trace(config, link)
    grid = prepare.to_grid(params, trace)
    minute = fc.Params(schema=fc.Schema.LINK, step_seconds=MINUTE, fill_limit=100_000)
    ts, values, _ = fc.resample(minute, trace.ts, trace.values)
    rate = values[:, 0].copy()
    # forward-fill: a minute without a probe runs at the last measured rate
    bad = ~np.isfinite(rate)
    if bad.all():
        raise PartitionSimError(f"{trace.name}: no bandwidth sample")
    idx = np.where(~bad, np.arange(len(rate)), 0)
    np.maximum.accumulate(idx, out=idx)
    rate = rate[idx]
    if bad[0]:
        rate[: int(np.argmax(~bad))] = rate[int(np.argmax(~bad))]
    return Stream(grid, ts, np.maximum(rate, 0.0))


def finish_seconds(stream: Stream, start: int, chunk: int) -> float:
    """Seconds after ``start`` at which ``chunk`` bytes have crossed the stream at its true
    per-minute rate (linear within a minute). Beyond the trace the last hour's mean rate
    continues; a chunk of 0 finishes at 0."""
    if chunk == 0:
        return 0.0
    k0 = int(np.searchsorted(stream.rate_ts, start, side="right")) - 1
    if k0 < 0:
        raise PartitionSimError("task starts before the stream's first sample")
    bytes_per_min = stream.rate_mbps[k0:] * 1e6 / 8.0 * MINUTE
    # the first minute is partial when start is not on the minute
    offset = (start - int(stream.rate_ts[k0])) / MINUTE
    per_min = bytes_per_min.copy()
    per_min[0] *= 1.0 - offset
    cum = np.cumsum(per_min)
    j = int(np.searchsorted(cum, chunk, side="left"))  # first minute that completes it
    if j < len(cum):
        before = float(cum[j - 1]) if j > 0 else 0.0
        frac = (chunk - before) / float(bytes_per_min[j])  # > 0: cum[j] > before
        return float((frac if j == 0 else j - offset + frac) * MINUTE)
    tail = float(np.mean(stream.rate_mbps[-60:])) * 1e6 / 8.0
    if tail <= 0:
        return float("inf")
    return float((len(cum) - offset) * MINUTE + (chunk - float(cum[-1])) / tail)


def window_at(params: fc.Params, g: prepare.GridTrace, e: int) -> NDArray[np.float32] | None:
    """The model's window whose last bin is ``e``, or None when a bin is missing."""
    a = e - params.input_len + 1
    if a < 0 or g.missing[a:e + 1].any():
        return None
    return fc.window(params, g.ts[a:e + 1], g.values[a:e + 1])


def run_cell(params: fc.Params, forecast: Forecaster, sim: PartitionSimConfig,
             heterogeneity: float, volatility: float, seed_index: int
             ) -> tuple[list[TaskResult], int]:
    """Every task of one seed in one (H, V) cell; returns the results and the number of
    tasks skipped because a stream's window had a missing bin (for every policy alike)."""
    links = sim.links(heterogeneity, volatility, seed_index)
    streams = [make_stream(params, links, i) for i in range(sim.streams)]
    rng = np.random.default_rng([sim.task_seed, seed_index])
    step = params.step_seconds
    t_first = int(links.start + sim.first_task_hour * 3600)
    results: list[TaskResult] = []
    skipped = 0
    lo, hi = np.log(sim.duration_seconds_log[0]), np.log(sim.duration_seconds_log[1])
    for k in range(sim.tasks):
        # draws happen for every task, skipped or not, so tasks stay aligned across cells
        duration = float(np.exp(rng.uniform(lo, hi)))
        pick = int(rng.integers(sim.streams))
        start = t_first + int(k * sim.task_every_hours * 3600)
        wins, last, hour = [], [], []
        for s in streams:
            e = int(np.searchsorted(s.grid.ts, start, side="left")) - 1  # bin ending by start
            if s.grid.ts[e] + step != start:
                raise PartitionSimError("task start is not on the model's grid")
            w = window_at(params, s.grid, e)
            wins.append(w)
            if w is not None:
                last.append(float(s.grid.values[e, 0]))
                hour.append(float(np.mean(s.grid.values[e - 11:e + 1, 0])))
        if any(w is None for w in wins):
            skipped += 1
            continue
        size = int(round(duration * sum(hour) * 1e6 / 8.0))
        size = min(max(size, 1), fc.PARTITION_MAX_BYTES)
        model_bw = np.asarray(forecast(np.stack(wins)), np.float64)[:, 1]
        oracle = []
        for s in streams:
            k0 = int(np.searchsorted(s.rate_ts, start, side="left"))
            oracle.append(float(np.mean(s.rate_mbps[k0:k0 + sim.oracle_minutes])))
        res = TaskResult(start, size)

        def by_rule(bw: list[float] | NDArray[np.float64]) -> float:
            bw_arr = np.asarray(bw, np.float64)
            if not np.any(bw_arr > 0):  # every forecast 0: fall back to the equal split
                bw_arr = np.ones(len(bw_arr))
            chunks = fc.partition_chunks(bw_arr, size).chunks
            return max(finish_seconds(s, start, int(c)) for s, c in zip(streams, chunks))

        res.seconds["link_model"] = by_rule(model_bw)
        res.seconds["last_value"] = by_rule(last)
        res.seconds["equal_split"] = by_rule(np.ones(sim.streams))
        res.seconds["random_stream"] = finish_seconds(streams[pick], start, size)
        res.seconds["oracle_15min"] = by_rule(oracle)
        results.append(res)
    return results, skipped
