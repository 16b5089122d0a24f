"""The exact optimum of placement on small clusters: a MILP solved by HiGHS
(``scipy.optimize.milp``), to measure how far the greedy oracle (oracle.py) is from optimal.

Formulation (docs/itp.md "The limit"), for a scenario without maintenance windows (no
migrations: each VM is placed once, for its whole life), VMs v with life [a_v, e_v), CPU
demand d_v(s), requests q_v,r; hosts h with CPU capacity C_h, limits L_h,r (capacity x
overcommit), racks D:

    variables   x_v,h in {0, 1}   v on h
                y_v   in [0, 1]   v not placed (integral once the x are)
                o_h,s >= 0        CPU demand above capacity on h at step s
    minimise    sum_h,s o_h,s + sum_v y_v W_v            (W_v = sum_s d_v(s), v's CPU work)
    subject to  sum_h x_v,h + y_v = 1                                       every v
                sum_{v alive at s} d_v(s) x_v,h - o_h,s <= C_h              every h, s
                sum_{v alive at tau} q_v,r x_v,h <= L_h,r        every h, r, arrival step tau
                sum_{v in g} x_v,h <= 1                                     every group g > 1, h
                sum_{v in g, h in D} x_v,h <= ceil(|g| / #racks) every group g > 1, rack D

The objective is the CPU work lost, linearised: on a host-step where CPU is the only
resource over capacity the simulator serves exactly C_h of the demand D, so it loses
max(0, D - C_h) = o_h,s, exactly; memory swapping and disk / network slowdowns are left out
(:func:`linear_loss` evaluates any placement under the same objective, and the report gives
the simulator's full lost work beside it). Reservations peak at arrival steps (between them
VMs only leave), so checking capacity there is checking it at every step. Members of a group
share their life, so the static anti-affinity and spread rows are the simulator's. Leaving a
feasible VM unplaced is allowed here (the simulator must place it): the MILP optimum is a
bound no placement under the simulator's rules can beat.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from .cluster import CPU, ClusterConfig, R
from .simulator import Scenario, contention


@dataclass(frozen=True)
class MilpConfig:
    """The small clusters of the MILP comparison, fixed before the reported results: 4
    hosts in 2 racks (the default host types, no maintenance), a 1-day horizon (the daily
    peak inside), the synthetic default workload, loads 0.5 and 0.8, evaluation seeds 0..3;
    HiGHS stops at ``time_limit`` seconds or a relative MIP gap of ``mip_gap``. (8 hosts
    over a day did not close the gap in 60 s in a sizing try on a training seed.)"""

    hosts: int = 4
    domains: int = 2
    steps: int = 288
    loads: tuple[float, ...] = (0.5, 0.8)
    seeds: tuple[int, ...] = tuple(range(4))
    time_limit: float = 45.0
    mip_gap: float = 1e-4

    def __post_init__(self) -> None:
        if self.hosts < 1 or not 1 <= self.domains <= self.hosts or self.steps < 1:
            raise ValueError("MilpConfig needs hosts >= domains >= 1 and steps >= 1")
        if not self.time_limit > 0 or not self.mip_gap >= 0:
            raise ValueError("MilpConfig needs time_limit > 0 and mip_gap >= 0")

    @property
    def cluster(self) -> ClusterConfig:
        return ClusterConfig(n_hosts=self.hosts, n_domains=self.domains,
                             maintenance_fraction=0.0)


@dataclass(frozen=True)
class MilpResult:
    """host[v] = the MILP's host of VM v (-1 = not placed); objective: its linear lost work
    (MHz x steps); bound: HiGHS's dual bound (no placement loses less); gap = (objective -
    bound) / objective (0 = proven optimal); status: scipy's milp status (0 optimal,
    1 time or iteration limit)."""

    host: NDArray[np.int64]
    objective: float
    bound: float
    gap: float
    status: int
    message: str
    seconds: float
    variables: int
    constraints: int

    @property
    def optimal(self) -> bool:
        return self.status == 0

    def segments(self, scenario: Scenario) -> NDArray[np.int64]:
        """The assignment as simulator stays (vm, host, start, end)."""
        wl = scenario.workload
        v = np.flatnonzero(self.host >= 0)
        return np.stack([v, self.host[v], wl.arrive[v], wl.depart[v]], axis=1).astype(np.int64)


def linear_loss(scenario: Scenario, segments: NDArray[np.int64]) -> float:
    """The MILP's objective for any placement: CPU demand above capacity summed over host-
    steps, plus the CPU work of VM-steps without a host (MHz x steps)."""
    c = contention(scenario, segments)
    over = np.maximum(c.host_demand[..., CPU] - scenario.cluster.capacity[None, :, CPU], 0.0)
    return float(over.sum()) + c.unplaced_cpu


def solve(scenario: Scenario, time_limit: float = 60.0, mip_gap: float = 1e-4) -> MilpResult:
    """The MILP of the module doc for ``scenario`` (no maintenance windows)."""
    wl, cl = scenario.workload, scenario.cluster
    if np.any(cl.maint_start >= 0):
        raise ValueError("the MILP places each VM once: use a cluster without maintenance "
                         "windows (ClusterConfig(maintenance_fraction=0))")
    if not time_limit > 0:
        raise ValueError("time_limit must be > 0")
    started = time.perf_counter()
    n_vm, n_h, T = wl.n, cl.n, wl.steps
    limit = scenario.limit
    cpu_cap = cl.capacity[:, CPU]
    d = np.zeros((n_vm, T))  # CPU demand on steps of the horizon
    for v in range(n_vm):
        a, e = int(wl.arrive[v]), int(wl.depart[v])
        d[v, a:e] = wl.at(v, a, e)[:, CPU]
    work = d.sum(axis=1)
    # Overflow rows only where all alive demand could exceed the host (else o = 0).
    total = d.sum(axis=0)
    over_rows = [(h, s) for h in range(n_h) for s in np.flatnonzero(total > cpu_cap[h])]
    nx = n_vm * n_h
    ny, no = n_vm, len(over_rows)
    xi = lambda v, h: v * n_h + h  # noqa: E731
    rows, cols, vals, lo, hi = [], [], [], [], []

    def add(r_cols: list[int], r_vals: list[float], lb: float, ub: float) -> None:
        i = len(lo)
        rows.extend([i] * len(r_cols))
        cols.extend(r_cols)
        vals.extend(r_vals)
        lo.append(lb)
        hi.append(ub)

    for v in range(n_vm):
        add([xi(v, h) for h in range(n_h)] + [nx + v], [1.0] * (n_h + 1), 1.0, 1.0)
    for j, (h, s) in enumerate(over_rows):
        alive = np.flatnonzero(d[:, s] > 0)
        add([xi(int(v), h) for v in alive] + [nx + ny + j],
            list(d[alive, s]) + [-1.0], -np.inf, float(cpu_cap[h]))
    for tau in np.unique(wl.arrive):
        alive = np.flatnonzero((wl.arrive <= tau) & (tau < wl.depart))
        for r in range(R):
            q = wl.request[alive, r]
            for h in range(n_h):
                if q.sum() > limit[h, r]:
                    add([xi(int(v), h) for v in alive], list(q), -np.inf, float(limit[h, r]))
    for g in np.unique(wl.group):
        members = np.flatnonzero(wl.group == g)
        size = int(wl.group_size[members[0]])
        if size <= 1 or len(members) <= 1:
            continue
        for h in range(n_h):
            add([xi(int(v), h) for v in members], [1.0] * len(members), -np.inf, 1.0)
        cap_d = math.ceil(size / cl.n_domains)
        for dom in range(cl.n_domains):
            hosts = np.flatnonzero(cl.domain == dom)
            if len(members) > cap_d:
                add([xi(int(v), int(h)) for v in members for h in hosts],
                    [1.0] * (len(members) * len(hosts)), -np.inf, float(cap_d))
    n_var = nx + ny + no
    a = coo_matrix((vals, (rows, cols)), shape=(len(lo), n_var)).tocsr()
    c = np.concatenate([np.zeros(nx), work, np.ones(no)])
    integrality = np.concatenate([np.ones(nx), np.zeros(ny + no)])
    ub = np.concatenate([np.ones(nx + ny), np.full(no, np.inf)])
    res = milp(c, constraints=LinearConstraint(a, np.array(lo), np.array(hi)),
               integrality=integrality, bounds=Bounds(np.zeros(n_var), ub),
               options={"time_limit": float(time_limit), "mip_rel_gap": float(mip_gap),
                        "disp": False})
    if res.x is None:
        raise RuntimeError(f"HiGHS found no feasible placement: {res.message}")
    x = np.round(res.x[:nx]).reshape(n_vm, n_h)
    host = np.where(x.max(axis=1) > 0.5, x.argmax(axis=1), -1).astype(np.int64)
    obj = float(res.fun)
    bound = float(getattr(res, "mip_dual_bound", obj))
    gap = (obj - bound) / obj if obj > 0 else 0.0
    return MilpResult(host=host, objective=obj, bound=bound, gap=max(gap, 0.0),
                      status=int(res.status), message=str(res.message),
                      seconds=time.perf_counter() - started, variables=n_var,
                      constraints=len(lo))


@dataclass(frozen=True)
class MilpRow:
    """One small scenario: each policy's linear lost work (the MILP objective, MHz x steps)
    and simulator speed, the MILP's optimum (objective, dual bound, gap, status, time) and
    the simulator speed of its placement; ``total_work``: the demanded CPU work."""

    seed: int
    load: float
    vms: int
    total_work: float
    policy_loss: dict[str, float]
    policy_speed: dict[str, float]
    milp: MilpResult
    milp_speed: float


def small_scenario(config: MilpConfig, load: float, seed: int) -> Scenario:
    from .evaluate import ScenarioConfig, make_scenario
    from .workload import SyntheticWorkloadConfig

    return make_scenario(ScenarioConfig(load=load, seed=seed, cluster=config.cluster,
                                        workload=SyntheticWorkloadConfig(steps=config.steps)))


def _compare_task(args: tuple[MilpConfig, float, int, dict[str, Any]]) -> MilpRow:
    from .simulator import simulate, workload_speed

    config, load, seed, policies = args
    sc = small_scenario(config, load, seed)
    loss, speed = {}, {}
    for name, factory in policies.items():
        pol = factory()
        res = simulate(sc, pol, track_work=bool(getattr(pol, "track_work", False)))
        loss[name] = linear_loss(sc, res.segments)
        speed[name] = workload_speed(contention(sc, res.segments))
    m = solve(sc, config.time_limit, config.mip_gap)
    c = contention(sc, m.segments(sc))
    return MilpRow(seed=seed, load=load, vms=sc.workload.n, total_work=c.demanded,
                   policy_loss=loss, policy_speed=speed, milp=m,
                   milp_speed=workload_speed(c))


def compare(config: MilpConfig, policies: Mapping[str, Callable[[], Any]],
            processes: int = 1) -> list[MilpRow]:
    """Every (load, seed) of ``config``: the policies (picklable factories) and the MILP."""
    tasks = [(config, load, seed, dict(policies)) for load in config.loads
             for seed in config.seeds]
    if processes <= 1:
        return [_compare_task(t) for t in tasks]
    with ProcessPoolExecutor(max_workers=processes) as ex:
        return list(ex.map(_compare_task, tasks))


__all__ = ["MilpConfig", "MilpResult", "MilpRow", "compare", "linear_loss", "small_scenario",
           "solve"]
