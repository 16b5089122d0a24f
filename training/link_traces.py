"""link_traces v1: a seeded generator of per-link network traces in the feature core's ``link``
schema (bandwidth_mbps, latency_ms, packet_loss_ratio, jitter_ms), what the link model trains
and is evaluated on, since no real link traces ship (docs/link-model.md, "Generator").

Every link draws its own capacity, base latency, diurnal phase and load from
``np.random.default_rng([seed, link])``; its samples then follow the processes below, each
parameter of which is a field of :class:`LinkTraceConfig` (fixed, and committed, before any
model was trained on the output):

- **diurnal load**: utilisation ``u(t) = base + amplitude * diurnal(t) * weekday(t) + AR(1)
  noise``, the diurnal shape a raised cosine peaking at the link's own hour;
- **congestion episodes**: start more often when the load is high, last a log-normal time,
  take a fraction of the available bandwidth, add queueing delay, jitter and loss;
- **route changes**: rare, persistent steps of the base latency (and a smaller one of the
  capacity) until the next change;
- **loss bursts**: short episodes of a high loss ratio on top of a load-driven floor;
- **jitter tied to load**: a base jitter (a share of the base latency) growing with ``u^2``;
- **collector faults**: timestamp jitter, dropped and repeated samples, rare outages longer
  than the resampler's ``fill_limit`` (so windows are split at missing bins).

Bandwidth is the *available* bandwidth a probe measures: capacity x (1 - u) x (1 - congestion
depth) x log-normal noise. Latency is the base (route) latency x an M/M/1-like load factor plus
queueing during congestion. Everything is vectorised numpy; a link of 14 days at one sample a
minute (20,160 samples) takes a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from numbers import Integral, Real

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

from .data import Trace

GENERATOR = "link_traces v1"  # recorded in the bundle manifest's training_data
DAY = 86400
START = 1764547200  # Monday 2025-12-01T00:00Z
MAX_LINKS = 1000
MAX_DAYS = 366


class LinkTraceConfigError(ValueError):
    """A generator parameter out of range; the message names the field and its range."""


@dataclass(frozen=True)
class LinkTraceConfig:
    """Every parameter of link_traces v1 (docs/link-model.md gives each one's reason).

    Ranges ``(lo, hi)`` are per-link draws: ``log`` ones log-uniform, the others uniform.
    Rates are per day, durations the median of a log-normal in minutes with the given sigma.
    """

    links: int = 24
    days: int = 14
    seed: int = 20261204
    sample_seconds: int = 60
    start: int = START
    # link population
    capacity_mbps_log: tuple[float, float] = (100.0, 10000.0)
    base_latency_ms_log: tuple[float, float] = (2.0, 150.0)
    # diurnal load
    base_util: tuple[float, float] = (0.05, 0.30)
    diurnal_amplitude: tuple[float, float] = (0.20, 0.55)
    peak_hour: tuple[float, float] = (0.0, 24.0)
    weekend_factor: float = 0.6
    util_noise_sd: float = 0.03  # stationary sd of the AR(1) utilisation noise
    util_noise_phi: float = 0.95  # per-sample AR(1) coefficient (~20-minute memory)
    max_util: float = 0.97
    bandwidth_noise_sd: float = 0.04  # log-normal measurement noise of the probe
    # congestion episodes
    congestion_rate: float = 2.0  # per day at the link's mean load, proportional to load
    congestion_minutes: float = 30.0
    congestion_sigma: float = 0.7
    congestion_depth: tuple[float, float] = (0.3, 0.8)  # share of available bandwidth lost
    congestion_queue_ms: tuple[float, float] = (5.0, 60.0)  # added latency at full depth
    congestion_loss: float = 0.005  # added loss ratio at full depth
    # route changes
    route_change_rate: float = 0.3  # per day
    route_latency_factor_log: tuple[float, float] = (0.7, 1.6)
    route_capacity_factor_log: tuple[float, float] = (0.8, 1.25)
    # loss
    loss_floor: float = 1e-4
    loss_load_coefficient: float = 0.004  # loss += coefficient * u^4
    loss_burst_rate: float = 3.0  # per day
    loss_burst_minutes: float = 4.0
    loss_burst_sigma: float = 0.8
    loss_burst_ratio_log: tuple[float, float] = (0.01, 0.08)
    # latency and jitter
    latency_load_coefficient: float = 0.3  # latency x (1 + c u^2 / (1 - 0.9 u))
    latency_noise_sd: float = 0.03
    jitter_share: float = 0.05  # base jitter = share x base latency, at least jitter_min_ms
    jitter_min_ms: float = 0.2
    jitter_load_coefficient: float = 3.0  # jitter x (1 + c u^2)
    jitter_noise_sd: float = 0.25
    jitter_queue_share: float = 0.3  # congestion adds this share of its queueing delay
    # collector faults
    timestamp_jitter_seconds: int = 5
    drop_rate: float = 0.003
    repeat_rate: float = 0.002
    outage_rate: float = 0.1  # per day
    outage_minutes: float = 20.0  # median; sigma 0.5 (most exceed fill_limit x 5 min)

    def __post_init__(self) -> None:
        def integer(name: str, lo: int, hi: int) -> None:
            v = getattr(self, name)
            if not (isinstance(v, Integral) and not isinstance(v, bool) and lo <= v <= hi):
                raise LinkTraceConfigError(f"link_traces {name}={v!r} out of range: an integer "
                                           f"in {lo}..{hi}")

        integer("links", 1, MAX_LINKS)
        integer("days", 1, MAX_DAYS)
        integer("sample_seconds", 1, 3600)
        integer("seed", 0, 2 ** 53 - 1)  # the manifest records it as a JSON integer
        integer("start", 0, 253402300799 - MAX_DAYS * DAY)
        integer("timestamp_jitter_seconds", 0, self.sample_seconds - 1)
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                lo, hi = v
                if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi) or lo < 0:
                    raise LinkTraceConfigError(f"link_traces {f.name}={v!r}: need 0 <= lo <= hi")
                if f.name.endswith("_log") and lo <= 0:
                    raise LinkTraceConfigError(f"link_traces {f.name}={v!r}: a log-uniform "
                                               "range needs lo > 0")
            elif isinstance(v, Real) and not isinstance(v, Integral):
                if not (np.isfinite(v) and v >= 0):  # also refuses NaN
                    raise LinkTraceConfigError(f"link_traces {f.name}={v!r}: need a finite "
                                               "value >= 0")
        for name in ("drop_rate", "repeat_rate", "util_noise_phi", "max_util"):
            if not getattr(self, name) < 1.0:
                raise LinkTraceConfigError(f"link_traces {name}={getattr(self, name)!r}: "
                                           "need < 1")

    @property
    def samples(self) -> int:
        return self.days * DAY // self.sample_seconds


def _log_uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    lo, hi = lo_hi
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _episodes(rng: np.random.Generator, start_prob: NDArray[np.float64], median_min: float,
              sigma: float, sample_seconds: int) -> list[tuple[int, int]]:
    """[a, b) sample ranges of episodes starting where a Bernoulli(start_prob) fires."""
    starts = np.flatnonzero(rng.random(len(start_prob)) < start_prob)
    minutes = median_min * np.exp(sigma * rng.standard_normal(len(starts)))
    lengths = np.maximum(1, np.round(minutes * 60 / sample_seconds)).astype(np.int64)
    return [(int(a), int(min(a + n, len(start_prob)))) for a, n in zip(starts, lengths)]


def link_trace(config: LinkTraceConfig, link: int) -> Trace:
    """Raw samples of one link in the link schema's channel order."""
    c = config
    rng = np.random.default_rng([c.seed, link])
    n = c.samples
    dt = c.sample_seconds
    per_day = DAY / dt
    ts = c.start + dt * np.arange(n, dtype=np.int64)
    day = (ts - c.start) / DAY

    capacity = _log_uniform(rng, c.capacity_mbps_log)
    base_latency = _log_uniform(rng, c.base_latency_ms_log)
    base_util = rng.uniform(*c.base_util)
    amplitude = rng.uniform(*c.diurnal_amplitude)
    peak = rng.uniform(*c.peak_hour) / 24.0

    # diurnal load: raised cosine peaking at the link's hour; weekends lighter
    diurnal = 0.5 + 0.5 * np.cos(2 * np.pi * (day - peak))
    weekday = np.where(((ts - c.start) // DAY) % 7 < 5, 1.0, c.weekend_factor)
    innov = rng.standard_normal(n) * c.util_noise_sd * np.sqrt(1 - c.util_noise_phi ** 2)
    noise = lfilter([1.0], [1.0, -c.util_noise_phi], innov)
    util = np.clip(base_util + amplitude * diurnal * weekday + noise, 0.0, c.max_util)

    # route changes: persistent steps of base latency and capacity
    route_lat = np.ones(n)
    route_cap = np.ones(n)
    for a in np.flatnonzero(rng.random(n) < c.route_change_rate / per_day):
        route_lat[a:] *= _log_uniform(rng, c.route_latency_factor_log)
        route_cap[a:] *= _log_uniform(rng, c.route_capacity_factor_log)

    # congestion episodes: more likely under load (rate proportional to u / mean u)
    depth = np.zeros(n)
    queue = np.zeros(n)
    p_congest = c.congestion_rate / per_day * util / max(float(util.mean()), 1e-6)
    for a, b in _episodes(rng, p_congest, c.congestion_minutes, c.congestion_sigma, dt):
        d = rng.uniform(*c.congestion_depth)
        depth[a:b] = np.maximum(depth[a:b], d)
        queue[a:b] = np.maximum(queue[a:b], d * rng.uniform(*c.congestion_queue_ms))

    # loss bursts on a load-driven floor
    burst = np.zeros(n)
    for a, b in _episodes(rng, np.full(n, c.loss_burst_rate / per_day), c.loss_burst_minutes,
                          c.loss_burst_sigma, dt):
        burst[a:b] = np.maximum(burst[a:b], _log_uniform(rng, c.loss_burst_ratio_log))

    bandwidth = (capacity * route_cap * (1.0 - util) * (1.0 - depth)
                 * np.exp(c.bandwidth_noise_sd * rng.standard_normal(n)))
    latency = (base_latency * route_lat
               * (1.0 + c.latency_load_coefficient * util ** 2 / (1.0 - 0.9 * util))
               * np.exp(c.latency_noise_sd * rng.standard_normal(n)) + queue)
    loss = np.clip(c.loss_floor + c.loss_load_coefficient * util ** 4
                   + c.congestion_loss * depth + burst, 0.0, 1.0)
    jitter = (max(c.jitter_share * base_latency, c.jitter_min_ms) * np.sqrt(route_lat)
              * (1.0 + c.jitter_load_coefficient * util ** 2)
              * np.exp(c.jitter_noise_sd * rng.standard_normal(n)) + c.jitter_queue_share * queue)
    values = np.column_stack([bandwidth, latency, loss, jitter])

    # collector faults: jittered timestamps, drops, repeats, outages
    keep = rng.random(n) >= c.drop_rate
    for a, b in _episodes(rng, np.full(n, c.outage_rate / per_day), c.outage_minutes, 0.5, dt):
        keep[a:b] = False
    ts = ts + rng.integers(0, c.timestamp_jitter_seconds + 1, n)
    repeat = np.flatnonzero(keep & (rng.random(n) < c.repeat_rate))
    order = np.sort(np.concatenate([np.flatnonzero(keep), repeat]))
    return Trace(f"link_traces/s{c.seed}/link{link}", ts[order],
                 np.ascontiguousarray(values[order]))


def traces(config: LinkTraceConfig = LinkTraceConfig()) -> list[Trace]:
    """``config.links`` links of ``config.seed``."""
    return [link_trace(config, i) for i in range(config.links)]


def describe(config: LinkTraceConfig) -> dict[str, int | str]:
    """What the bundle manifest's training_data records about generated training links."""
    return {"kind": "synthetic", "generator": GENERATOR, "seed": int(config.seed),
            "links": int(config.links), "days": int(config.days)}
