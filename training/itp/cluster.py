"""Hosts of the ITP simulator: a few host types in failure domains (racks), with maintenance
windows.

Units everywhere (docs/placement-contract.md): R = 4 resources in the order
``cpu_mhz, mem_mb, disk_kbs, net_kbs``. A host's network capacity is its NIC:
``nic_kbs = floor(nic_mbps * 1e6 / 8 / 1024)`` (KB = 1024 bytes). Capacities are whole
numbers, so the reserved-capacity sums of the simulator are exact in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..data import MHZ_PER_CORE

RESOURCES = ("cpu_mhz", "mem_mb", "disk_kbs", "net_kbs")
R = len(RESOURCES)
CPU, MEM, DISK, NET = range(R)


def nic_kbs(mbps: float) -> float:
    """NIC bandwidth in Mbit/s -> KB/s (KB = 1024 bytes), rounded down to a whole KB/s."""
    return float(math.floor(mbps * 1e6 / 8.0 / 1024.0))


@dataclass(frozen=True)
class HostType:
    """One hardware model. ``cost``: relative cost per hour (1.0 = the reference ``std``);
    ``failure_rate``: host failures per year (an attribute for the factors and reports; the
    simulator does not inject failures)."""

    name: str
    cores: int
    mem_gb: int
    disk_mbs: int  # local disk throughput, MB/s
    nic_mbps: int
    cost: float
    failure_rate: float
    share: float  # fraction of the fleet

    @property
    def capacity(self) -> tuple[float, float, float, float]:
        return (float(self.cores * MHZ_PER_CORE), float(self.mem_gb * 1024),
                float(self.disk_mbs * 1024), nic_kbs(self.nic_mbps))


# The default fleet, fixed before any result (docs/itp.md "Parameters"): a mainstream 2-socket
# type, a dense compute type, a large-memory type with fast disks and an older generation
# with 1 Gbit/s NICs. Memory per core: 12, 8, 32 and 8 GB.
DEFAULT_HOST_TYPES: tuple[HostType, ...] = (
    HostType("std", cores=32, mem_gb=384, disk_mbs=500, nic_mbps=10_000, cost=1.0,
             failure_rate=0.5, share=0.45),
    HostType("cpu", cores=48, mem_gb=384, disk_mbs=500, nic_mbps=25_000, cost=1.3,
             failure_rate=0.5, share=0.20),
    HostType("mem", cores=32, mem_gb=1024, disk_mbs=1000, nic_mbps=25_000, cost=1.6,
             failure_rate=0.4, share=0.15),
    HostType("old", cores=16, mem_gb=128, disk_mbs=200, nic_mbps=1_000, cost=0.6,
             failure_rate=2.0, share=0.20),
)


@dataclass(frozen=True)
class ClusterConfig:
    """n_hosts split over host types by share (largest remainders), hosts dealt round-robin
    over ``n_domains`` racks after a seeded shuffle, so every rack mixes types.

    Maintenance: ``round(maintenance_fraction * n_hosts)`` hosts each get one window of
    ``maintenance_hours`` (uniform) starting uniformly in the horizon. During a window the
    host takes no VM; at its start its residents are migrated (re-placed by the policy).
    """

    n_hosts: int = 100
    n_domains: int = 10
    host_types: tuple[HostType, ...] = field(default=DEFAULT_HOST_TYPES)
    maintenance_fraction: float = 0.05
    maintenance_hours: tuple[float, float] = (1.0, 6.0)

    def __post_init__(self) -> None:
        if self.n_hosts < 1 or self.n_domains < 1 or self.n_domains > self.n_hosts:
            raise ValueError(f"ClusterConfig: need 1 <= n_domains <= n_hosts, got "
                             f"{self.n_domains} domains, {self.n_hosts} hosts")
        if not self.host_types or any(t.share < 0 for t in self.host_types):
            raise ValueError("ClusterConfig.host_types must be non-empty with shares >= 0")
        if not 0.0 <= self.maintenance_fraction <= 1.0:
            raise ValueError("ClusterConfig.maintenance_fraction must be in [0, 1]")


@dataclass(frozen=True)
class Cluster:
    """Per-host arrays, host index = position (hosts are ordered rack by rack)."""

    capacity: NDArray[np.float64]  # (n, R) whole numbers
    host_type: NDArray[np.int64]  # (n,) index into types
    types: tuple[HostType, ...]
    domain: NDArray[np.int64]  # (n,) failure domain (rack) 0..n_domains-1
    n_domains: int
    nic_mbps: NDArray[np.float64]
    cost: NDArray[np.float64]
    failure_rate: NDArray[np.float64]
    maint_start: NDArray[np.int64]  # (n,) first step of the window, -1 = none
    maint_end: NDArray[np.int64]  # (n,) exclusive end step, -1 = none

    @property
    def n(self) -> int:
        return len(self.capacity)

    def in_maintenance(self, t: int) -> NDArray[np.bool_]:
        return (self.maint_start <= t) & (t < self.maint_end)

    @property
    def domain_hosts(self) -> NDArray[np.int64]:
        return np.bincount(self.domain, minlength=self.n_domains)


def _split(n: int, shares: list[float]) -> list[int]:
    total = sum(shares)
    exact = [n * s / total for s in shares]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def make_cluster(config: ClusterConfig, steps: int, seed: int) -> Cluster:
    """The seeded cluster of a scenario (``steps``: the horizon, for maintenance windows)."""
    rng = np.random.default_rng([seed, 0x1705])
    counts = _split(config.n_hosts, [t.share for t in config.host_types])
    types = np.repeat(np.arange(len(config.host_types)), counts)
    rng.shuffle(types)
    # Deal hosts round-robin over racks, then order by rack: host i of rack d.
    domain = np.arange(config.n_hosts) % config.n_domains
    order = np.argsort(domain, kind="stable")
    types, domain = types[order], domain[order]
    cap = np.array([config.host_types[k].capacity for k in types], dtype=np.float64)
    attr = lambda name: np.array([getattr(config.host_types[k], name) for k in types],  # noqa: E731
                                 dtype=np.float64)
    start = np.full(config.n_hosts, -1, np.int64)
    end = np.full(config.n_hosts, -1, np.int64)
    n_maint = round(config.maintenance_fraction * config.n_hosts)
    if n_maint and steps > 0:
        hosts = rng.choice(config.n_hosts, size=n_maint, replace=False)
        lo, hi = config.maintenance_hours
        dur = np.maximum(1, np.round(rng.uniform(lo, hi, n_maint) * 12)).astype(np.int64)
        begin = rng.integers(0, steps, n_maint)
        start[hosts], end[hosts] = begin, begin + dur
    return Cluster(capacity=cap, host_type=types.astype(np.int64), types=config.host_types,
                   domain=domain.astype(np.int64), n_domains=config.n_domains,
                   nic_mbps=attr("nic_mbps"), cost=attr("cost"),
                   failure_rate=attr("failure_rate"), maint_start=start, maint_end=end)


def cluster_from(capacity: NDArray[np.float64], domain: NDArray[np.int64] | None = None, *,
                 maint_start: NDArray[np.int64] | None = None,
                 maint_end: NDArray[np.int64] | None = None) -> Cluster:
    """A cluster from explicit per-host capacities (hand-made cases): one domain per host
    unless ``domain`` is given, no maintenance unless given; NIC Mbps derived from net_kbs,
    cost 1, failure rate 0.5."""
    cap = np.asarray(capacity, np.float64).reshape(-1, R)
    n = len(cap)
    dom = np.arange(n, dtype=np.int64) if domain is None else np.asarray(domain, np.int64)
    ms = np.full(n, -1, np.int64) if maint_start is None else np.asarray(maint_start, np.int64)
    me = np.full(n, -1, np.int64) if maint_end is None else np.asarray(maint_end, np.int64)
    return Cluster(capacity=cap, host_type=np.zeros(n, np.int64), types=(), domain=dom,
                   n_domains=int(dom.max()) + 1, nic_mbps=cap[:, NET] * 8 * 1024 / 1e6,
                   cost=np.ones(n), failure_rate=np.full(n, 0.5), maint_start=ms, maint_end=me)
