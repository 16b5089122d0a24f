"""Runs and metrics of the ITP simulator: one policy over one scenario at a target load, and
the load x seed x policy sweep (plain dataclasses; the CLI and plots live elsewhere).

Load: the target mean cluster load is the offered load, the mean over the horizon of the
summed CPU demand of every VM alive (placed or not) / the cluster's CPU capacity; the arrival
rate is set to reach it (workload.workload_at_load). Reported beside it: the achieved mean
real and reserved utilisation per resource (placed VMs only).

Seeds: evaluation uses seeds 0, 1, 2, ... (EVAL_SEEDS); label generation for training must use
other seeds (TRAIN_SEED_BASE + i), so no evaluated scenario is ever trained on.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from .cluster import RESOURCES, ClusterConfig, make_cluster
from .constraints import Violations, recount
from .policies import BASELINES
from .simulator import (Contention, Policy, Scenario, SimConfig, SimResult, contention, simulate,
                        workload_speed)
from .workload import (BitbrainsWorkloadConfig, SyntheticWorkloadConfig, VMPool, bitbrains_pool,
                       pool_size_for, synthetic_pool, workload_at_load)

LOADS = (0.5, 0.65, 0.8, 0.95)
EVAL_SEEDS = tuple(range(30))
TRAIN_SEED_BASE = 10_000
# Bitbrains replay (docs/itp.md "Bitbrains replay"): its VMs reserve ~10x the CPU they use, so
# with CPU overcommit 4 the reservations fill up near an offered CPU load of 0.4; the sweep
# stops where the offered reservations leave >= 15 % slack. 30 hosts keep the ~2,500
# (VM, day) windows of a month from being replayed twice at once.
BITBRAINS_LOADS = (0.15, 0.25, 0.35)
BITBRAINS_CLUSTER = ClusterConfig(n_hosts=30, n_domains=5)


@dataclass(frozen=True)
class ScenarioConfig:
    """One scenario: cluster, workload source and simulator parameters, load and seed."""

    load: float = 0.8
    seed: int = 0
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    workload: SyntheticWorkloadConfig | BitbrainsWorkloadConfig = field(
        default_factory=SyntheticWorkloadConfig)
    sim: SimConfig = field(default_factory=SimConfig)

    @property
    def source(self) -> str:
        return "bitbrains" if isinstance(self.workload, BitbrainsWorkloadConfig) else "synthetic"


def bitbrains_config(month: str = "2013-7", load: float = 0.25, seed: int = 0,
                     root: str | None = None) -> ScenarioConfig:
    """The real-data scenario: Bitbrains ``month`` replayed on BITBRAINS_CLUSTER."""
    return ScenarioConfig(load=load, seed=seed, cluster=BITBRAINS_CLUSTER,
                          workload=BitbrainsWorkloadConfig(month=month, root=root))


def make_pool(config: ScenarioConfig, max_load: float | None = None) -> VMPool:
    """The seed's VM templates, large enough for ``max_load`` (default: config.load); one pool
    serves every load of a seed (common random numbers across loads)."""
    cluster = make_cluster(config.cluster, config.workload.steps, config.seed)
    cpu = float(cluster.capacity[:, 0].sum())
    load = max(max_load or 0.0, config.load)
    n = pool_size_for(load, cpu, config.workload.steps, config.workload.lifetime.mean_steps())
    if isinstance(config.workload, BitbrainsWorkloadConfig):
        # Bitbrains VMs demand less CPU each than the synthetic default (~1,000 MHz).
        n = pool_size_for(load, cpu, config.workload.steps,
                          config.workload.lifetime.mean_steps(), mean_vm_cpu=600.0)
        return bitbrains_pool(n, config.seed, config.workload)
    return synthetic_pool(n, config.seed, config.workload)


def make_scenario(config: ScenarioConfig, pool: VMPool | None = None) -> Scenario:
    cluster = make_cluster(config.cluster, config.workload.steps, config.seed)
    pool = pool if pool is not None else make_pool(config)
    if pool.history != config.workload.history or pool.steps != config.workload.steps:
        raise ValueError("pool and scenario disagree on history / steps")
    wl = workload_at_load(pool, float(cluster.capacity[:, 0].sum()), config.load)
    return Scenario(cluster=cluster, workload=wl, config=config.sim, seed=config.seed,
                    name=f"{config.source}/load{config.load:g}/seed{config.seed}")


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class RunMetrics:
    """One run. speed: completed / demanded CPU work over every VM-step of the horizon
    (rejected and evicted VMs complete nothing); speed_placed: the same over placed VM-steps
    only. Slowdown statistics are over placed VM-steps with CPU demand > 0, weighted by CPU
    demand. Utilisations are means over the horizon of the placed VMs' sums / capacity,
    per resource (cpu_mhz, mem_mb, disk_kbs, net_kbs)."""

    source: str
    policy: str
    seed: int
    target_load: float
    offered_load: float
    speed: float
    speed_placed: float
    mean_slowdown: float
    p99_slowdown: float
    slowed_share: float  # share of CPU work on VM-steps with slowdown > 1
    real_util: tuple[float, ...]
    reserved_util: tuple[float, ...]
    overloaded_host_steps: float  # share of (host, step) with some resource over capacity
    vms: int
    decisions: int
    migrations: int
    rejected: int
    evicted: int
    violations: int
    violation_detail: Violations
    decision_us_mean: float
    decision_us_p99: float
    runtime_s: float
    # Per-VM slowdown: a placed VM's demanded / completed CPU work over its placed steps
    # (VMs with CPU demand > 0), quantiles over VMs (each VM counts once).
    vm_slowdown_p95: float = 1.0
    vm_slowdown_p99: float = 1.0

    def row(self) -> dict[str, object]:
        """Flat dict for tables (tuples expanded per resource)."""
        out: dict[str, object] = {}
        for k, v in self.__dict__.items():
            if k == "violation_detail":
                continue
            if isinstance(v, tuple):
                out.update({f"{k}_{r}": x for r, x in zip(RESOURCES, v)})
            else:
                out[k] = v
        return out


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """Smallest x whose weighted CDF reaches q (x >= 1: only the values above 1 are sorted)."""
    total = float(w.sum())
    if not len(x) or total <= 0:
        return 1.0
    above = x > 1.0
    below_w = total - float(w[above].sum())
    if below_w >= q * total:
        return 1.0
    xs, ws = x[above], w[above]
    order = np.argsort(xs, kind="stable")
    cw = below_w + np.cumsum(ws[order])
    return float(xs[order][min(np.searchsorted(cw, q * total), len(xs) - 1)])


def metrics(result: SimResult, c: Contention | None = None) -> RunMetrics:
    sc = result.scenario
    wl, cl = sc.workload, sc.cluster
    c = c if c is not None else contention(sc, result.segments)
    p_cpu, slow, w = c.cpu, c.slowdown, c.cpu
    viol = recount(sc, result.segments, result.alloc)
    dec = result.decisions
    made = dec[dec[:, 4] >= 0]
    us = made[:, 5] / 1e3 if len(made) else np.zeros(1)
    cap = cl.capacity.sum(axis=0)
    real = c.host_demand.sum(axis=1).mean(axis=0) / cap
    reserved = result.alloc.sum(axis=1).mean(axis=0) / cap
    over = np.any(c.host_demand > cl.capacity[None], axis=2).mean()
    vm_p95, vm_p99 = vm_slowdown_quantiles(c, wl.n)
    return RunMetrics(
        source=wl.name.split("/")[0], policy=result.policy, seed=sc.seed,
        target_load=wl.target_load, offered_load=wl.offered_load,
        speed=workload_speed(c),
        speed_placed=(float((p_cpu / slow).sum()) / float(p_cpu.sum())
                      if p_cpu.sum() > 0 else 1.0),
        mean_slowdown=float((w * slow).sum() / w.sum()) if w.sum() > 0 else 1.0,
        p99_slowdown=_weighted_quantile(slow, w, 0.99),
        slowed_share=float(w[slow > 1].sum() / w.sum()) if w.sum() > 0 else 0.0,
        real_util=tuple(float(x) for x in real), reserved_util=tuple(float(x) for x in reserved),
        overloaded_host_steps=float(over), vms=wl.n,
        decisions=int(np.sum(dec[:, 2] == 0)), migrations=int(np.sum(dec[:, 2] == 1)),
        rejected=len(result.rejected), evicted=len(result.evicted),
        violations=viol.total, violation_detail=viol,
        decision_us_mean=float(us.mean()), decision_us_p99=float(np.percentile(us, 99)),
        runtime_s=result.runtime_s, vm_slowdown_p95=vm_p95, vm_slowdown_p99=vm_p99)


def vm_slowdown_quantiles(c: Contention, n_vms: int) -> tuple[float, float]:
    """(p95, p99) over placed VMs with CPU demand of demanded / completed CPU work (>= 1)."""
    demanded = np.bincount(c.vm, weights=c.cpu, minlength=n_vms)
    served = np.bincount(c.vm, weights=c.cpu / c.slowdown, minlength=n_vms)
    ok = demanded > 0
    if not ok.any():
        return 1.0, 1.0
    slow = demanded[ok] / served[ok]
    return float(np.quantile(slow, 0.95)), float(np.quantile(slow, 0.99))


def run(scenario: Scenario, policy: Policy) -> RunMetrics:
    """Simulate, then measure (contention and the constraint recount from scratch). A policy
    with ``track_work = True`` (the oracle) gets a state that tracks per-step work."""
    return metrics(simulate(scenario, policy, track_work=bool(getattr(policy, "track_work",
                                                                      False))))


# --------------------------------------------------------------------------- sweep

PolicyFactory = Callable[[], Policy]


def _seed_task(args: tuple[ScenarioConfig, tuple[float, ...], Mapping[str, PolicyFactory]]
               ) -> list[RunMetrics]:
    base, loads, policies = args
    pool = make_pool(base, max(loads))
    out = []
    for load in loads:
        scenario = make_scenario(replace(base, load=load), pool)
        for factory in policies.values():
            out.append(run(scenario, factory()))
    return out


def sweep(loads: Sequence[float] = LOADS, seeds: Iterable[int] = EVAL_SEEDS,
          policies: Mapping[str, PolicyFactory] | None = None,
          base: ScenarioConfig = ScenarioConfig(), processes: int | None = None
          ) -> list[RunMetrics]:
    """Every policy at every load for every seed (one pool per seed, shared by its loads and
    policies: paired comparisons). ``processes``: worker processes (default: CPUs, at most
    the number of seeds; 1 = in this process). Policy factories must be picklable when
    processes > 1 (top-level classes and functools.partial of them are)."""
    policies = dict(policies or BASELINES)
    tasks = [(replace(base, seed=s), tuple(loads), policies) for s in seeds]
    n = processes or min(len(tasks), os.cpu_count() or 1)
    if n <= 1:
        results = [_seed_task(t) for t in tasks]
    else:
        with ProcessPoolExecutor(max_workers=n) as ex:
            results = list(ex.map(_seed_task, tasks))
    return [m for chunk in results for m in chunk]


# --------------------------------------------------------------------------- summaries

# Two-sided 95 % Student t quantiles for n - 1 degrees of freedom (n = 2 .. 31), else 1.96.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def mean_ci(x: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its 95 % Student t interval."""
    a = np.asarray(x, np.float64)
    m = float(a.mean())
    if len(a) < 2:
        return m, m, m
    t = _T95[len(a) - 2] if len(a) - 2 < len(_T95) else 1.96
    h = t * float(a.std(ddof=1)) / math.sqrt(len(a))
    return m, m - h, m + h


@dataclass(frozen=True)
class SummaryRow:
    """One (policy, load) over seeds: mean speed with its 95 % interval, and the paired
    speed-up vs ``reference`` (mean over seeds of speed / reference speed, 95 % interval)."""

    policy: str
    target_load: float
    seeds: int
    speed: tuple[float, float, float]
    speedup: tuple[float, float, float]
    reference: str
    offered_load: float
    real_cpu_util: float
    reserved_cpu_util: float
    reserved_mem_util: float
    rejected: float
    violations: int
    decision_us_mean: float
    decision_us_p99: float
    runtime_s: float


def recovery_share(results: Sequence[RunMetrics], policy: str, load: float,
                   reference: str = "random", limit: str = "oracle"
                   ) -> tuple[float, float, float]:
    """Share of ``reference``'s lost work (1 - speed) that ``policy`` recovers, with ``limit``
    at 1: (lost_ref - lost_policy) / (lost_ref - lost_limit), on the means over the seeds
    the three share at ``load``; and a 95 % interval from the paired per-seed
    differences (delta method on the ratio of means). ValueError when a policy is missing
    or the limit recovers nothing."""
    by = {(m.policy, m.seed): m for m in results if m.target_load == load}
    names = (policy, reference, limit)
    seeds = sorted({s for (_, s) in by if all((p, s) in by for p in names)})
    if not seeds:
        raise ValueError(f"recovery_share: no seed at load {load:g} has all of "
                         f"{policy!r}, {reference!r} and {limit!r}")
    num = np.array([by[(policy, s)].speed - by[(reference, s)].speed for s in seeds])
    den = np.array([by[(limit, s)].speed - by[(reference, s)].speed for s in seeds])
    if not den.mean() > 0:
        raise ValueError(f"recovery_share: {limit!r} recovers none of {reference!r}'s lost "
                         f"work at load {load:g} (mean {den.mean():.3g})")
    share = float(num.mean() / den.mean())
    if len(seeds) < 2:
        return share, share, share
    # Linearised ratio of means: residuals num - share * den carry its sampling error.
    half = mean_ci(num - share * den)
    h = (half[2] - half[0]) / float(den.mean())
    return share, share - h, share + h


def summarise(results: Sequence[RunMetrics], reference: str = "random") -> list[SummaryRow]:
    by = {(m.policy, m.target_load, m.seed): m for m in results}
    rows = []
    for policy in dict.fromkeys(m.policy for m in results):
        for load in sorted({m.target_load for m in results}):
            ms = [m for m in results if m.policy == policy and m.target_load == load]
            if not ms:
                continue
            ratio = [m.speed / by[(reference, load, m.seed)].speed for m in ms
                     if (reference, load, m.seed) in by]
            rows.append(SummaryRow(
                policy=policy, target_load=load, seeds=len(ms),
                speed=mean_ci([m.speed for m in ms]),
                speedup=mean_ci(ratio) if ratio else (math.nan,) * 3, reference=reference,
                offered_load=float(np.mean([m.offered_load for m in ms])),
                real_cpu_util=float(np.mean([m.real_util[0] for m in ms])),
                reserved_cpu_util=float(np.mean([m.reserved_util[0] for m in ms])),
                reserved_mem_util=float(np.mean([m.reserved_util[1] for m in ms])),
                rejected=float(np.mean([m.rejected for m in ms])),
                violations=sum(m.violations for m in ms),
                decision_us_mean=float(np.mean([m.decision_us_mean for m in ms])),
                decision_us_p99=float(np.mean([m.decision_us_p99 for m in ms])),
                runtime_s=float(np.mean([m.runtime_s for m in ms]))))
    return rows
