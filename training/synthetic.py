"""Seeded synthetic VM traces: the embedded default data, so a machine without the real
traces still runs the whole chain. Shapes follow what the Bitbrains traces show: diurnal and
weekly cycles, heavy-tailed network bursts, noise, and the sampling faults of real collectors
(jittered, repeated and missing samples) so the resampler is exercised too."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np

from .data import Trace

DAY = 86400
START = 1372636800  # Monday 2013-07-01T00:00Z, the start of the Bitbrains July month
MAX_VMS = 1000  # bounds keep a mistyped count from filling memory (1000 x 366 days ~ 5 GB)
MAX_DAYS = 366


class ConfigError(ValueError):
    """A synthetic configuration out of range; the message names the field and its range."""


@dataclass(frozen=True)
class SyntheticConfig:
    vms: int = 4
    days: int = 7
    step_seconds: int = 300
    seed: int = 20130701
    jitter_seconds: int = 20  # collectors do not fire exactly on the grid
    drop_rate: float = 0.003  # lost samples
    repeat_rate: float = 0.002  # samples reported twice

    def __post_init__(self) -> None:
        ranges = {
            "vms": (self.vms, 1, MAX_VMS), "days": (self.days, 1, MAX_DAYS),
            "step_seconds": (self.step_seconds, 1, DAY),
            "jitter_seconds": (self.jitter_seconds, 0, self.step_seconds - 1),
        }
        for name, (value, low, high) in ranges.items():
            integer = isinstance(value, Integral) and not isinstance(value, bool)
            if not integer or not low <= value <= high:
                raise ConfigError(f"synthetic {name}={value!r} out of range: an integer in "
                                  f"{low}..{high}")
        for name, rate in (("drop_rate", self.drop_rate), ("repeat_rate", self.repeat_rate)):
            if not 0.0 <= rate < 1.0:  # also refuses NaN
                raise ConfigError(f"synthetic {name}={rate!r} out of range: 0 <= rate < 1")


def vm_trace(config: SyntheticConfig, vm: int) -> Trace:
    """Raw samples of one VM in the VM schema's channel order."""
    rng = np.random.default_rng([config.seed, vm])
    n = config.days * DAY // config.step_seconds
    ts = START + config.step_seconds * np.arange(n, dtype=np.int64)
    t = (ts - START) / DAY
    daily = 0.5 - 0.5 * np.cos(2 * np.pi * (t - rng.uniform(0.1, 0.3)))
    weekday = np.where(((ts - START) // DAY) % 7 < 5, 1.0, 0.55)
    load = daily * weekday
    level = rng.uniform(5, 40)
    cpu = np.clip(level * (0.3 + load) + rng.normal(0, 2, n), 0, 100)
    mem = np.clip(rng.uniform(20, 70) + 5 * load + np.cumsum(rng.normal(0, 0.05, n)), 0, 100)
    disk_read = rng.exponential(5, n) * (1 + 3 * load) * (rng.random(n) < 0.6)
    disk_write = rng.exponential(20, n) * (1 + load)
    bursts = rng.pareto(1.6, n) * (rng.random(n) < 0.05) * rng.uniform(50, 500)
    net_rx = rng.uniform(5, 50) * (0.2 + load) + rng.exponential(2, n) + bursts
    net_tx = 0.4 * net_rx + rng.exponential(1, n) + 0.5 * bursts
    values = np.column_stack([cpu, mem, disk_read, disk_write, net_rx, net_tx])

    ts = ts + rng.integers(0, config.jitter_seconds + 1, n)
    keep = rng.random(n) >= config.drop_rate
    repeat = np.flatnonzero(keep & (rng.random(n) < config.repeat_rate))
    order = np.sort(np.concatenate([np.flatnonzero(keep), repeat]))
    return Trace(f"synthetic/vm{vm}", ts[order], np.ascontiguousarray(values[order]))


def traces(config: SyntheticConfig = SyntheticConfig()) -> list[Trace]:
    return [vm_trace(config, vm) for vm in range(config.vms)]
