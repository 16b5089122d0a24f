"""VM workloads of the ITP simulator: demand on the 300 s grid in absolute units (resources in
the contract order ``cpu_mhz, mem_mb, disk_kbs, net_kbs``) plus each VM's request (the
reserved size the scheduler counts).

Two sources build the same :class:`VMPool` (load-independent templates):

- :func:`synthetic_pool` (the default): seeded, built on ``training/synthetic.py``'s shapes
  (diurnal and weekly cycle, noise, heavy-tailed network bursts) in absolute units, with
  heterogeneous flavours, tenants whose VMs share a diurnal phase and co-burst, and requests
  that over- or under-state real demand.
- :func:`bitbrains_pool`: real Bitbrains VMs of one month, resampled by the feature core.

:func:`workload_at_load` then turns a pool into a :class:`Workload` (arrival step, departure
step, demand over ``[arrive - H, depart)``) whose offered mean CPU demand is a target fraction
of the cluster's CPU capacity (see docs/itp.md "Load").
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter
from scipy.special import erfc

from dwcp_ml import feature_core as fc

from ..data import MHZ_PER_CORE, _read_bitbrains, bitbrains_vms
from ..synthetic import DAY, START
from .cluster import CPU, DISK, MEM, NET, R

STEP = 300
DAY_STEPS = DAY // STEP  # 288
KINDS = ("web", "batch", "db", "net", "idle")
BITBRAINS_KIND = -1  # kind code of replayed Bitbrains VMs


# --------------------------------------------------------------------------- request rules


def size_class(x: NDArray[np.float64] | float, minimum: float = 100.0) -> NDArray[np.float64]:
    """Round up to the next size class 1, 2, 5 x 10^k (at least ``minimum``): the disk and
    network request rule applied to a high percentile of the VM's own demand."""
    x = np.maximum(np.asarray(x, dtype=np.float64), minimum)
    exp = np.floor(np.log10(x))
    base = 10.0 ** exp
    out = np.where(x <= base, base, np.where(x <= 2 * base, 2 * base,
                                             np.where(x <= 5 * base, 5 * base, 10 * base)))
    return out


REQUEST_PERCENTILE = 95.0  # disk / network requests: p95 of the VM's own demand, size class


def _p95(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """np.percentile(x, 95, axis=-2) (linear interpolation), bit for bit, via a partition."""
    n = x.shape[-2]
    vi = (n - 1) * (REQUEST_PERCENTILE / 100.0)
    lo = int(math.floor(vi))
    hi = min(lo + 1, n - 1)
    g = vi - lo
    part = np.partition(x, [lo, hi], axis=-2)
    a, b = part[..., lo, :], part[..., hi, :]
    d = b - a
    return b - d * (1 - g) if g >= 0.5 else a + d * g


def io_requests(demand: NDArray[np.float64]) -> NDArray[np.float64]:
    """(..., 2) disk_kbs and net_kbs requests from demand rows (..., n >= 1, R): the size
    class of the p95 of the VM's own demand."""
    d = np.asarray(demand, np.float64)
    return size_class(_p95(d[..., [DISK, NET]]))


# --------------------------------------------------------------------------- pool / workload


@dataclass(frozen=True)
class VMPool:
    """Load-independent VM templates, grouped in deployments (a deployment of g >= 2 VMs is
    one anti-affinity group). Template v's demand is known on every absolute step
    ``-history .. steps-1`` (``demand[v, s + history]``); a scenario uses it only over the
    VM's life plus the H steps before its arrival (its history, "as DWCP knows it from the
    VM's previous run").

    Deployment d: VMs ``dep_first[d] .. dep_first[d] + dep_size[d] - 1``; ``dep_epoch`` the
    arrival epochs of a unit-rate Poisson process (cumulative Exp(1) gaps); ``dep_life`` a
    lifetime in steps for a VM that arrives during the horizon, ``dep_residual`` the residual
    lifetime if the deployment belongs to the initial (already running) population.
    """

    name: str
    steps: int
    history: int
    demand: NDArray[np.float32]  # (N, history + steps, R)
    request: NDArray[np.float64]  # (N, R), whole numbers
    kind: NDArray[np.int8]  # (N,) index into KINDS, BITBRAINS_KIND for real VMs
    tenant: NDArray[np.int64]  # (N,)
    deployment: NDArray[np.int64]  # (N,)
    dep_first: NDArray[np.int64]
    dep_size: NDArray[np.int64]
    dep_epoch: NDArray[np.float64]
    dep_life: NDArray[np.int64]
    dep_residual: NDArray[np.int64]
    mean_life: float  # E[lifetime] in steps (sizes the initial population)
    source: tuple[str, ...] = ()  # per template, e.g. "bitbrains/2013-7/41+3d"

    @property
    def n_deployments(self) -> int:
        return len(self.dep_first)


@dataclass(frozen=True)
class Workload:
    """The VMs of one scenario in processing order (arrival step, then deployment, member).

    VM i lives on steps ``[arrive[i], depart[i])`` (``depart <= steps``: a VM still alive at
    the end of the horizon ends there); its demand rows ``demand[offset[i]:offset[i+1]]``
    cover steps ``arrive[i] - history .. depart[i] - 1``. ``initial`` VMs were already
    running when the horizon starts (they arrive at step 0 and their history ran on the host
    they are placed on).
    """

    name: str
    steps: int
    history: int
    arrive: NDArray[np.int64]
    depart: NDArray[np.int64]
    initial: NDArray[np.bool_]
    request: NDArray[np.float64]  # (N, R)
    demand: NDArray[np.float64]  # (sum of (depart - arrive + history), R)
    offset: NDArray[np.int64]  # (N + 1,)
    tenant: NDArray[np.int64]
    group: NDArray[np.int64]  # deployment id (unique within the workload)
    group_size: NDArray[np.int64]  # declared size of the VM's anti-affinity group
    kind: NDArray[np.int8]
    template: NDArray[np.int64]  # index into the pool
    target_load: float
    offered_load: float  # mean over steps of summed CPU demand / cluster CPU capacity
    cpu_capacity: float

    @property
    def n(self) -> int:
        return len(self.arrive)

    def series(self, i: int) -> NDArray[np.float64]:
        """Demand of VM i over steps arrive-H .. depart-1."""
        return self.demand[self.offset[i]:self.offset[i + 1]]

    def history_of(self, i: int) -> NDArray[np.float64]:
        """(H, R): the H samples before arrival, oldest first."""
        return self.demand[self.offset[i]:self.offset[i] + self.history]

    def at(self, i: int, start: int, stop: int) -> NDArray[np.float64]:
        """Demand of VM i on absolute steps [start, stop) (inside arrive-H .. depart)."""
        base = self.offset[i] + self.history - self.arrive[i]
        return self.demand[base + start:base + stop]


# --------------------------------------------------------------------------- lifetimes


@dataclass(frozen=True)
class Lifetime:
    """Lognormal lifetime (median hours, sigma) clipped to [min_hours, max_hours]."""

    median_hours: float = 24.0
    sigma: float = 1.0
    min_hours: float = 1.0
    max_hours: float = 30 * 24.0

    def draw(self, rng: np.random.Generator) -> tuple[int, int]:
        """(lifetime, residual lifetime) in steps. The residual is that of the stationary
        population of an M/G/inf system: uniform age within a length-biased lifetime
        (for a lognormal, lognormal with mu + sigma^2)."""
        mu = math.log(self.median_hours * 12)
        lo, hi = self.min_hours * 12, self.max_hours * 12
        life = min(max(rng.lognormal(mu, self.sigma), lo), hi)
        biased = min(max(rng.lognormal(mu + self.sigma ** 2, self.sigma), lo), hi)
        residual = max(1.0, rng.uniform() * biased)
        return int(math.ceil(life)), int(math.ceil(residual))

    def mean_steps(self) -> float:
        """E[clip(L, lo, hi)] = lo + integral_lo^hi P(L > x) dx (trapezoid, log-spaced)."""
        mu = math.log(self.median_hours * 12)
        lo, hi = self.min_hours * 12, self.max_hours * 12
        x = np.geomspace(lo, hi, 20_001)
        surv = 0.5 * erfc((np.log(x) - mu) / (self.sigma * math.sqrt(2)))
        return float(lo + np.sum((surv[1:] + surv[:-1]) * np.diff(x)) / 2)


# --------------------------------------------------------------------------- synthetic


@dataclass(frozen=True)
class SyntheticWorkloadConfig:
    """The synthetic default (docs/itp.md "Workloads"); every number fixed before results.

    Flavours: vCPUs with ``vcpu_probs``; memory per vCPU from ``mem_gb_per_vcpu`` (db VMs
    always take the largest). Kinds (``kind_probs`` over KINDS): web (diurnal CPU), batch
    (low base, tenant co-bursts to near its vCPUs), db (memory- and disk-heavy), net
    (network-heavy, tenant co-bursts), idle (a few % of its size: the over-staters).

    Requests: CPU = vCPUs x 2600 MHz, except burstable VMs (``burstable_prob`` per kind) that
    reserve 25 % or 50 % of it and may use all of it (under-staters); memory = configured
    memory, except ``mem_understate_prob`` of VMs that reserve 50-75 % of it and whose working
    set can exceed the reservation; disk and network = :func:`io_requests` of the VM's own
    demand over the horizon (p95, size class), "as sized from its previous run".
    """

    history: int = 12
    steps: int = 2 * DAY_STEPS
    vcpus: tuple[int, ...] = (1, 2, 4, 8, 16)
    vcpu_probs: tuple[float, ...] = (0.25, 0.30, 0.25, 0.15, 0.05)
    mem_gb_per_vcpu: tuple[float, ...] = (2.0, 4.0, 8.0)
    mem_probs: tuple[float, ...] = (0.65, 0.33, 0.02)
    kind_probs: tuple[float, ...] = (0.43, 0.20, 0.15, 0.10, 0.12)
    burstable_prob: tuple[float, ...] = (0.25, 0.35, 0.10, 0.20, 0.0)
    mem_understate_prob: float = 0.10
    group_sizes: tuple[int, ...] = (1, 2, 3, 4, 5)
    group_probs: tuple[float, ...] = (0.60, 0.15, 0.12, 0.08, 0.05)
    n_tenants: int = 400
    tenant_zipf: float = 1.1
    tenant_burst_hours: float = 4.0  # mean time between a tenant's bursts
    # Disk and network scale per vCPU (KB/s) per kind; chosen so that the fleet's mean real
    # disk and network loads are about 0.3 and 0.25 of its CPU load (docs/itp.md).
    disk_per_vcpu: tuple[float, ...] = (560.0, 850.0, 3300.0, 380.0, 50.0)
    net_per_vcpu: tuple[float, ...] = (4000.0, 960.0, 1900.0, 14400.0, 50.0)
    lifetime: Lifetime = field(default_factory=Lifetime)


@functools.lru_cache(maxsize=64)
def _cdf(p: tuple[float, ...]) -> NDArray[np.float64]:
    c = np.cumsum(p)
    c /= c[-1]
    return c


def _pick(rng: np.random.Generator, p: tuple[float, ...]) -> int:
    """Index drawn with probabilities p: the same draw as ``rng.choice(len(p), p=p)``."""
    return int(_cdf(tuple(p)).searchsorted(rng.random(), side="right"))


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], phi: float, sd: float
         ) -> NDArray[np.float64]:
    """AR(1) noise with stationary standard deviation ``sd`` along the last axis."""
    e = rng.normal(0.0, sd * math.sqrt(1 - phi * phi), shape)
    e[..., 0] = rng.normal(0.0, sd, shape[:-1])
    return lfilter([1.0], [1.0, -phi], e, axis=-1)


class _Tenants:
    """Per-tenant diurnal phase and burst series on the absolute grid, seeded per tenant."""

    def __init__(self, config: SyntheticWorkloadConfig, seed: int, t_days: NDArray[np.float64]):
        self.config, self.seed, self.t = config, seed, t_days
        self.cache: dict[int, tuple[float, NDArray[np.float64]]] = {}

    def get(self, k: int) -> tuple[float, NDArray[np.float64]]:
        if k not in self.cache:
            rng = np.random.default_rng([self.seed, 0x7E, k])
            # Most tenants share the business-hours phase; some sit 6 h earlier or later.
            tz = (0.0, 0.25, -0.25)[_pick(rng, (0.7, 0.15, 0.15))]
            phase = rng.uniform(0.1, 0.3) + tz
            n = len(self.t)
            burst = np.zeros(n)
            rate = 1.0 / (self.config.tenant_burst_hours * 12)
            for start in np.flatnonzero(rng.random(n) < rate):
                dur = int(rng.integers(2, 13))
                burst[start:start + dur] = np.maximum(burst[start:start + dur],
                                                      rng.uniform(0.5, 1.0))
            self.cache[k] = (phase, burst)
        return self.cache[k]


@functools.lru_cache(maxsize=8)
def _tenant_cdf(n_tenants: int, zipf: float) -> NDArray[np.float64]:
    w = 1.0 / (np.arange(n_tenants) + 5.0) ** zipf
    return np.cumsum(w / w.sum())


def _tenant_of(rng: np.random.Generator, n_tenants: int, zipf: float) -> int:
    """Tenant popularity ~ 1 / (k + 5)^zipf: a few large tenants, a long tail."""
    cdf = _tenant_cdf(n_tenants, zipf)
    return int(min(np.searchsorted(cdf, rng.uniform(), side="right"), n_tenants - 1))


def _synthetic_deployment(config: SyntheticWorkloadConfig, seed: int, d: int,
                          tenants: _Tenants) -> dict:
    rng = np.random.default_rng([seed, 0xD3, d])
    g = int(config.group_sizes[_pick(rng, config.group_probs)])
    kind = _pick(rng, config.kind_probs)
    tenant = _tenant_of(rng, config.n_tenants, config.tenant_zipf)
    vcpus = int(config.vcpus[_pick(rng, config.vcpu_probs)])
    gb = (max(config.mem_gb_per_vcpu) if KINDS[kind] == "db"
          else float(config.mem_gb_per_vcpu[_pick(rng, config.mem_probs)]))
    ceiling = float(vcpus * MHZ_PER_CORE)
    mem_cfg = vcpus * gb * 1024.0
    burstable = rng.random() < config.burstable_prob[kind]
    cpu_req = ceiling * (rng.choice([0.25, 0.5]) if burstable else 1.0)
    mem_under = KINDS[kind] in ("web", "batch", "db") and rng.random() < config.mem_understate_prob
    mem_req = mem_cfg * (rng.uniform(0.5, 0.75) if mem_under else 1.0)
    mem_req = 512.0 * math.ceil(mem_req / 512.0)
    life, residual = config.lifetime.draw(rng)
    epoch_gap = rng.exponential()

    t = tenants.t
    n = len(t)
    phase, tburst = tenants.get(tenant)
    daily = 0.5 - 0.5 * np.cos(2 * np.pi * (t - phase))
    weekday = np.where(np.floor(t) % 7 < 5, 1.0, 0.55)
    load = daily * weekday  # (n,)
    name = KINDS[kind]
    shape = (g, n)
    lvl = lambda lo, hi: rng.uniform(lo, hi) * rng.uniform(0.85, 1.15, (g, 1))  # noqa: E731
    # CPU utilisation of the vCPUs (0..1).
    if name == "web":
        cpu = lvl(0.3, 0.7) * (0.3 + load) + _ar1(rng, shape, 0.9, 0.04)
    elif name == "batch":
        cpu = (lvl(0.1, 0.25) + tburst * rng.uniform(0.6, 1.0, (g, 1))
               + _ar1(rng, shape, 0.8, 0.02))
    elif name == "db":
        cpu = lvl(0.25, 0.5) * (0.5 + 0.5 * load) + _ar1(rng, shape, 0.9, 0.04)
    elif name == "net":
        cpu = lvl(0.15, 0.35) * (0.3 + load) + 0.3 * tburst + _ar1(rng, shape, 0.9, 0.03)
    else:  # idle
        cpu = lvl(0.01, 0.06) + _ar1(rng, shape, 0.9, 0.01)
    cpu = np.clip(cpu, 0.0, 1.0) * ceiling
    # Memory working set as a fraction of the configured memory.
    mlevel = {"web": (0.3, 0.6), "batch": (0.2, 0.5), "db": (0.75, 0.95), "net": (0.2, 0.4),
              "idle": (0.1, 0.3)}[name]
    mem = lvl(*mlevel) + 0.1 * load + np.cumsum(rng.normal(0, 0.003, shape), axis=1)
    if name == "batch":
        mem = mem + 0.4 * tburst
    mem = np.clip(mem, 0.05, 1.0) * mem_cfg
    # Disk and network in KB/s (synthetic.py's shapes: busier with the load, bursty).
    dscale = config.disk_per_vcpu[kind] * vcpus
    disk = dscale * (0.4 + 1.2 * load) * rng.lognormal(-0.125, 0.5, shape)
    if name == "db":  # backups / reports at the tenant's bursts
        disk = disk * (1.0 + 1.5 * tburst)
    nscale = config.net_per_vcpu[kind] * vcpus
    spikes = rng.pareto(1.6, shape) * (rng.random(shape) < 0.03) * nscale
    net = nscale * (0.3 + load) * rng.lognormal(-0.08, 0.4, shape) + spikes
    if name == "net":
        net = net * (1.0 + 2.0 * tburst)
    demand = np.stack([cpu, mem, disk, net], axis=-1)  # (g, n, R)
    io = io_requests(demand)  # (g, 2)
    requests = np.column_stack([np.full(g, math.ceil(cpu_req)), np.full(g, mem_req), io])
    return dict(g=g, kind=kind, tenant=tenant, demand=demand.astype(np.float32),
                request=requests, life=life, residual=residual,
                epoch_gap=epoch_gap)


def synthetic_pool(n_deployments: int, seed: int,
                   config: SyntheticWorkloadConfig = SyntheticWorkloadConfig()) -> VMPool:
    """``n_deployments`` seeded deployments; deployment d depends only on (seed, d), so a
    smaller pool is a prefix of a larger one."""
    H, T = config.history, config.steps
    t_days = (np.arange(-H, T, dtype=np.float64) * STEP) / DAY  # START is Monday 00:00 UTC
    tenants = _Tenants(config, seed, t_days)
    deps = [_synthetic_deployment(config, seed, d, tenants) for d in range(n_deployments)]
    return _pool_from(f"synthetic/seed{seed}", T, H, deps, config.lifetime.mean_steps(), ())


def _pool_from(name: str, T: int, H: int, deps: list[dict], mean_life: float,
               source: tuple[str, ...]) -> VMPool:
    sizes = np.array([d["g"] for d in deps], np.int64)
    first = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64)
    rep = lambda key, dtype: np.repeat(np.array([d[key] for d in deps], dtype), sizes)  # noqa: E731
    demand = (np.concatenate([d["demand"] for d in deps]) if deps
              else np.empty((0, H + T, R), np.float32))
    request = (np.concatenate([d["request"] for d in deps]) if deps else np.empty((0, R)))
    return VMPool(
        name=name, steps=T, history=H, demand=demand, request=request,
        kind=rep("kind", np.int8), tenant=rep("tenant", np.int64),
        deployment=np.repeat(np.arange(len(deps), dtype=np.int64), sizes),
        dep_first=first, dep_size=sizes,
        dep_epoch=np.cumsum([d["epoch_gap"] for d in deps]).astype(np.float64),
        dep_life=np.array([d["life"] for d in deps], np.int64),
        dep_residual=np.array([d["residual"] for d in deps], np.int64),
        mean_life=mean_life, source=source)


# --------------------------------------------------------------------------- Bitbrains


def _month_start(month: str) -> int:
    year, mon = (int(x) for x in month.split("-"))
    return int(_dt.datetime(year, mon, 1, tzinfo=_dt.timezone.utc).timestamp())


@dataclass(frozen=True)
class BitbrainsVM:
    """One real VM of a month on the 300 s grid from the month's first midnight (UTC):
    demand (bins, R) with NaN rows where the feature core marks bins missing, and its
    requests."""

    vm: int
    demand: NDArray[np.float64]
    request: tuple[float, float, float, float]

    @property
    def complete(self) -> NDArray[np.bool_]:
        return ~np.isnan(self.demand).any(axis=1)


@functools.lru_cache(maxsize=4)
def load_bitbrains_month(month: str = "2013-7", root: str | None = None
                         ) -> tuple[BitbrainsVM, ...]:
    """Every usable VM of a month (read at run time from the shared data; never copied).

    Channels: cpu_mhz = "CPU usage [MHz]", mem_mb = "Memory usage [KB]" / 1024, disk_kbs =
    read + write, net_kbs = received + transmitted, resampled onto the grid by the feature
    core (``fc.resample``: bin means; empty bins repeat the previous bin for up to
    ``fill_limit`` = 2 bins (10 min), longer gaps are missing). Requests: CPU = the largest
    "CPU capacity provisioned [MHz]" of the month (rounded up to a MHz), memory = the largest
    "Memory capacity provisioned [KB]" / 1024 (rounded up to a MB), disk / network =
    :func:`io_requests` over the month's complete bins. VMs with no provisioned CPU or memory,
    or fewer than one day of complete bins, are skipped.
    """
    path = Path(root) if root else None
    params = fc.Params(schema=fc.Schema.VM, step_seconds=STEP, fill_limit=2)
    t0 = _month_start(month)
    year, mon = (int(x) for x in month.split("-"))
    nxt = _dt.datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=_dt.timezone.utc)
    n_bins = (int(nxt.timestamp()) - t0) // STEP
    out = []
    for vm in bitbrains_vms(month, path):
        raw = _read_bitbrains(month, vm, path)
        if not len(raw):
            continue
        cpu_cap, mem_cap = raw[:, 2].max(), raw[:, 5].max() / 1024.0
        if cpu_cap <= 0 or mem_cap <= 0:
            continue
        values = np.column_stack([raw[:, 3], raw[:, 6] / 1024.0, raw[:, 7] + raw[:, 8],
                                  raw[:, 9] + raw[:, 10], raw[:, 2], raw[:, 5] / 1024.0])
        values = np.maximum(values, 0.0)  # the core rejects negatives; none seen in the data
        _, grid, _ = fc.resample(params, raw[:, 0].astype(np.int64), values, t0, n_bins)
        demand = np.ascontiguousarray(grid[:, :R])
        ok = ~np.isnan(demand).any(axis=1)
        if ok.sum() < DAY_STEPS:
            continue
        dk, nk = io_requests(demand[ok])
        out.append(BitbrainsVM(vm, demand, (float(math.ceil(cpu_cap)),
                                            float(math.ceil(mem_cap)), float(dk), float(nk))))
    return tuple(out)


@dataclass(frozen=True)
class BitbrainsWorkloadConfig:
    """Replay of real VMs. A template is (source VM, whole-day shift k): its demand on
    absolute step s is the source's bin ``start_day * 288 + 288 k + s`` (whole days keep the
    time of day, so tenants' diurnal cycles stay aligned). Only (VM, k) whose bins over
    ``-history .. steps-1`` are all complete are used (no guessed data: a window with a gap
    longer than the core's fill limit is skipped). Bitbrains has no tenant or anti-affinity
    metadata: deployments (replicas = the same source VM at different shifts) and tenants
    are drawn with the synthetic default's rules. Lifetimes as the synthetic default."""

    month: str = "2013-7"
    history: int = 12
    steps: int = 2 * DAY_STEPS
    start_day: int = 1  # the horizon starts at the month's first midnight + start_day days
    group_sizes: tuple[int, ...] = (1, 2, 3, 4, 5)
    group_probs: tuple[float, ...] = (0.60, 0.15, 0.12, 0.08, 0.05)
    n_tenants: int = 400
    tenant_zipf: float = 1.1
    lifetime: Lifetime = field(default_factory=Lifetime)
    root: str | None = None


def bitbrains_pool(n_deployments: int, seed: int,
                   config: BitbrainsWorkloadConfig = BitbrainsWorkloadConfig()) -> VMPool:
    vms = load_bitbrains_month(config.month, config.root)
    H, T = config.history, config.steps
    n_bins = len(vms[0].demand)
    base = config.start_day * DAY_STEPS
    # Valid (source, shift) pairs: every bin of [base + 288k - H, base + 288k + T) complete.
    pairs = []
    for i, v in enumerate(vms):
        miss = np.r_[0, np.cumsum(~v.complete)]
        k = 0
        while base + DAY_STEPS * k + T <= n_bins:
            a = base + DAY_STEPS * k - H
            if a >= 0 and miss[a + H + T] - miss[a] == 0:
                pairs.append((i, k))
            k += 1
    if not pairs:
        raise ValueError(f"no complete {T + H}-bin window in Bitbrains {config.month}")
    by_source: dict[int, list[tuple[int, int]]] = {}
    for pair in pairs:
        by_source.setdefault(pair[0], []).append(pair)
    rng_perm = np.random.default_rng([seed, 0xB1])
    order = rng_perm.permutation(len(pairs))
    used = 0
    deps, source = [], []
    for d in range(n_deployments):
        rng = np.random.default_rng([seed, 0xB2, d])
        g = int(config.group_sizes[_pick(rng, config.group_probs)])
        tenant = _tenant_of(rng, config.n_tenants, config.tenant_zipf)
        life, residual = config.lifetime.draw(rng)
        first = pairs[order[used % len(pairs)]]
        # Replicas: the same source VM at other shifts (else any pair).
        same = [p for p in by_source[first[0]] if p != first]
        members = [first] + [same[j] for j in rng.permutation(len(same))[:g - 1]]
        used += 1
        while len(members) < g:
            members.append(pairs[order[used % len(pairs)]])
            used += 1
        demand = np.stack([vms[i].demand[base + DAY_STEPS * k - H:base + DAY_STEPS * k + T]
                           for i, k in members]).astype(np.float32)
        request = np.array([vms[i].request for i, _ in members], np.float64)
        source += [f"bitbrains/{config.month}/{vms[i].vm}+{k}d" for i, k in members]
        deps.append(dict(g=g, kind=BITBRAINS_KIND, tenant=tenant, demand=demand,
                         request=request, life=life, residual=residual,
                         epoch_gap=rng.exponential()))
    return _pool_from(f"bitbrains/{config.month}/seed{seed}", T, H, deps,
                      config.lifetime.mean_steps(), tuple(source))


# --------------------------------------------------------------------------- load


def _plan(pool: VMPool, rate: float) -> tuple[NDArray[np.int64], NDArray[np.int64],
                                              NDArray[np.int64], int]:
    """Deployments used at arrival ``rate`` (deployments per step): (index, arrive, depart,
    n_initial). The first round(rate * mean_life) deployments are the initial population."""
    T = pool.steps
    n0 = int(round(rate * pool.mean_life))
    if n0 > pool.n_deployments:
        raise _PoolTooSmall
    arr_epoch = pool.dep_epoch[n0:] - (pool.dep_epoch[n0 - 1] if n0 else 0.0)
    arrive = np.floor(arr_epoch / rate).astype(np.int64) if rate > 0 else np.full(
        len(arr_epoch), T, np.int64)
    n_arr = int(np.searchsorted(arrive, T, side="left"))
    if n0 + n_arr >= pool.n_deployments and n_arr == len(arrive):
        raise _PoolTooSmall
    idx = np.arange(n0 + n_arr, dtype=np.int64)
    arr = np.r_[np.zeros(n0, np.int64), arrive[:n_arr]]
    life = np.r_[pool.dep_residual[:n0], pool.dep_life[n0:n0 + n_arr]]
    dep = np.minimum(arr + life, T)
    return idx, arr, dep, n0


class _PoolTooSmall(Exception):
    pass


def _vms_of(pool: VMPool, deps: NDArray[np.int64]) -> NDArray[np.int64]:
    """Template indices of the VMs of deployments ``deps`` (deployment-major)."""
    size = pool.dep_size[deps]
    within = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
    return np.repeat(pool.dep_first[deps], size) + within


def _offered(pool: VMPool, cpu_prefix: NDArray[np.float64], rate: float) -> float:
    idx, arr, dep, _ = _plan(pool, rate)
    size = pool.dep_size[idx]
    vm, a, b = _vms_of(pool, idx), np.repeat(arr, size), np.repeat(dep, size)
    H = pool.history
    return float(np.sum(cpu_prefix[vm, b + H] - cpu_prefix[vm, a + H])) / pool.steps


def workload_at_load(pool: VMPool, cpu_capacity: float, load: float, *,
                     tolerance: float = 0.01) -> Workload:
    """The workload whose offered load (mean over the horizon of the summed CPU demand of every
    VM alive, placed or not, / the cluster's CPU capacity) is ``load``: the arrival rate is
    found by bisection on the exact offered load of the pool (deterministic), stopping within
    ``tolerance`` (relative) or at the closest rate found: one deployment more or less moves
    the load by a step, ~0.1 % on the default 100-host cluster, a few % on tiny ones. The
    achieved value is ``Workload.offered_load``."""
    if not (0 < load and math.isfinite(load)):
        raise ValueError(f"load must be > 0, got {load}")
    cpu = pool.demand[:, pool.history:, CPU].astype(np.float64)
    prefix = np.zeros((len(cpu), pool.history + pool.steps + 1))
    prefix[:, pool.history + 1:] = np.cumsum(cpu, axis=1)
    target = load * cpu_capacity

    def f(rate: float) -> float:
        try:
            return _offered(pool, prefix, rate)
        except _PoolTooSmall:
            return math.inf

    lo, hi = 0.0, 1.0
    while f(hi) < target:
        hi *= 2
        if hi > 1e6:
            raise ValueError("pool too small for the target load: use more deployments")
    best = (math.inf, hi)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        v = f(mid)
        if math.isinf(v):
            hi = mid
            continue
        err = abs(v - target) / target
        if err < best[0]:
            best = (err, mid)
        if err <= tolerance / 4:
            break
        lo, hi = (mid, hi) if v < target else (lo, mid)
    if best[0] > 0.2:  # unreachable: the pool runs out (or one deployment is > 20 % of it)
        raise ValueError(f"could not reach load {load} (closest {best[0]:.0%} off): use more "
                         "deployments or a larger cluster")
    return _materialise(pool, best[1], cpu_capacity, load)


def _materialise(pool: VMPool, rate: float, cpu_capacity: float, load: float) -> Workload:
    idx, arr, dep, n0 = _plan(pool, rate)
    H, T = pool.history, pool.steps
    vms, arrive, depart, initial, group, gsize = [], [], [], [], [], []
    for j, d in enumerate(idx):
        g = int(pool.dep_size[d])
        for m in range(g):
            vms.append(int(pool.dep_first[d]) + m)
            arrive.append(arr[j])
            depart.append(dep[j])
            initial.append(j < n0)
            group.append(int(d))
            gsize.append(g)
    v = np.array(vms, np.int64)
    arrive_a, depart_a = np.array(arrive, np.int64), np.array(depart, np.int64)
    # Processing order: arrival step, then deployment, member (stable).
    order = np.lexsort((np.arange(len(v)), arrive_a))
    v, arrive_a, depart_a = v[order], arrive_a[order], depart_a[order]
    initial_a = np.array(initial, bool)[order]
    group_a, gsize_a = np.array(group, np.int64)[order], np.array(gsize, np.int64)[order]
    lens = depart_a - arrive_a + H
    offset = np.r_[0, np.cumsum(lens)].astype(np.int64)
    demand = np.empty((int(offset[-1]), R), np.float64)
    for i in range(len(v)):
        demand[offset[i]:offset[i + 1]] = pool.demand[v[i], arrive_a[i]:depart_a[i] + H]
    cpu_sum = sum(float(demand[offset[i] + H:offset[i + 1], CPU].sum()) for i in range(len(v)))
    return Workload(
        name=pool.name, steps=T, history=H, arrive=arrive_a, depart=depart_a, initial=initial_a,
        request=pool.request[v].copy(), demand=demand, offset=offset,
        tenant=pool.tenant[v].copy(), group=group_a, group_size=gsize_a, kind=pool.kind[v].copy(),
        template=v, target_load=load, offered_load=cpu_sum / T / cpu_capacity,
        cpu_capacity=cpu_capacity)


def pool_size_for(load: float, cpu_capacity: float, steps: int, mean_life: float,
                  mean_vm_cpu: float = 2500.0, vms_per_deployment: float = 1.85) -> int:
    """A generous number of deployments for ``load`` (workload_at_load raises if too few)."""
    live = load * cpu_capacity / mean_vm_cpu / vms_per_deployment
    return int(math.ceil(1.3 * live * (1.0 + steps / mean_life))) + 50


def make_workload(arrive: NDArray[np.int64], depart: NDArray[np.int64],
                  request: NDArray[np.float64], demand: list[NDArray[np.float64]], *,
                  steps: int, history: int, tenant: NDArray[np.int64] | None = None,
                  group: NDArray[np.int64] | None = None,
                  initial: NDArray[np.bool_] | None = None, name: str = "custom") -> Workload:
    """A workload from explicit arrays (hand-made cases, other sources). ``demand[i]`` holds
    VM i's rows for steps arrive-H .. depart-1; VMs must be sorted by arrival. Group sizes
    are counted from ``group`` (default: every VM alone); ``tenant`` defaults to one per VM."""
    n = len(arrive)
    arrive = np.asarray(arrive, np.int64)
    depart = np.minimum(np.asarray(depart, np.int64), steps)
    if np.any(np.diff(arrive) < 0) or np.any(depart <= arrive) or np.any(arrive < 0):
        raise ValueError("VMs must be sorted by arrival, with 0 <= arrive < depart")
    rows = [np.asarray(d, np.float64).reshape(-1, R) for d in demand]
    for i, d in enumerate(rows):
        if len(d) < depart[i] - arrive[i] + history:
            raise ValueError(f"VM {i}: demand needs {depart[i] - arrive[i] + history} rows")
    rows = [d[:depart[i] - arrive[i] + history] for i, d in enumerate(rows)]
    group = np.arange(n, dtype=np.int64) if group is None else np.asarray(group, np.int64)
    _, inv, counts = np.unique(group, return_inverse=True, return_counts=True)
    offset = np.r_[0, np.cumsum([len(d) for d in rows])].astype(np.int64)
    demand_all = np.concatenate(rows) if rows else np.empty((0, R))
    return Workload(
        name=name, steps=steps, history=history, arrive=arrive, depart=depart,
        initial=np.zeros(n, bool) if initial is None else np.asarray(initial, bool),
        request=np.asarray(request, np.float64).reshape(n, R), demand=demand_all,
        offset=offset,
        tenant=np.arange(n, dtype=np.int64) if tenant is None else np.asarray(tenant, np.int64),
        group=group, group_size=counts[inv].astype(np.int64), kind=np.zeros(n, np.int8),
        template=np.arange(n, dtype=np.int64), target_load=math.nan, offered_load=math.nan,
        cpu_capacity=math.nan)
