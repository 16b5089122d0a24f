"""Trace-replay placement simulator (docs/itp.md).

Time runs in 300 s steps ``0 .. T-1``. At each step, in this order: VMs whose life ends leave;
hosts whose maintenance window starts are drained (their VMs are re-placed by the policy, a
*migration*; a VM with no feasible host is *evicted* and counts as unserved for the rest of
its life); arriving VMs are placed by the policy (a VM with no feasible host is *rejected*).
Placement never changes otherwise (no rebalancing). The policy only ever sees the hosts that
:func:`constraints.feasible_hosts` allows and must return one of them.

Contention (evaluated after the run, per step, host and resource): u = summed real demand /
capacity. CPU, disk and network over capacity slow every VM using them by f = u (each gets
demand / u); memory over capacity swaps: f = 1 + swap_penalty * (u - 1). A VM's slowdown at a
step is the largest f of the resources it uses (demand > 0), at least 1; it completes
cpu_demand / slowdown of its CPU work. Workload speed = completed / demanded CPU work, over
every VM-step of the horizon (unplaced VM-steps complete nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from .cluster import CPU, MEM, R, Cluster
from .workload import Workload

N_SUBSETS = 1 << R  # which resources a VM uses at a step (bit r set = demand_r > 0)
_BITS = (1 << np.arange(R)).astype(np.int64)
SUBSET_MASK = ((np.arange(N_SUBSETS)[:, None] >> np.arange(R)[None, :]) & 1).astype(bool)


@dataclass(frozen=True)
class SimConfig:
    """Simulator parameters, fixed before any result (docs/itp.md "Parameters").

    overcommit: reservation limit per resource = capacity x ratio. CPU 4.0 (OpenStack Nova's
    default initial_cpu_allocation_ratio), memory 1.0 (never overcommitted), disk and network
    throughput 1.0.
    swap_penalty: slowdown per unit of memory demand above capacity (u = 1.1 -> 2x).
    """

    overcommit: tuple[float, float, float, float] = (4.0, 1.0, 1.0, 1.0)
    swap_penalty: float = 10.0

    def __post_init__(self) -> None:
        if len(self.overcommit) != R or any(not r >= 1.0 for r in self.overcommit):
            raise ValueError(f"SimConfig.overcommit needs {R} ratios >= 1, got {self.overcommit}")
        if self.overcommit[MEM] != 1.0:
            raise ValueError("memory is never overcommitted: SimConfig.overcommit[1] must be 1.0")
        if not self.swap_penalty >= 0:
            raise ValueError("SimConfig.swap_penalty must be >= 0")


@dataclass(frozen=True)
class Scenario:
    """Everything one run needs; ``seed`` also seeds randomised policies."""

    cluster: Cluster
    workload: Workload
    config: SimConfig
    seed: int
    name: str = ""

    def __post_init__(self) -> None:
        if self.workload.request.shape[1] != R:
            raise ValueError("workload requests must have R columns")

    @property
    def steps(self) -> int:
        return self.workload.steps

    @property
    def history(self) -> int:
        return self.workload.history

    @property
    def limit(self) -> NDArray[np.float64]:
        """(n, R) reservation limits: capacity x overcommit."""
        return self.cluster.capacity * np.asarray(self.config.overcommit)


class Policy(Protocol):
    """A placement policy. ``choose`` gets the simulator state (read it, never change it),
    the VM index (into ``state.workload``) and the feasible hosts (ascending indices, never
    empty) and returns one of them. ``reset`` is called at the start of every run (seed
    randomised policies from ``scenario.seed`` so a run is reproducible)."""

    name: str

    def reset(self, scenario: Scenario) -> None: ...

    def choose(self, state: SimState, vm: int, feasible: NDArray[np.int64]) -> int: ...


class PolicyError(RuntimeError):
    """A policy returned a host outside the feasible set: the run stops, nothing is placed."""


ARRIVAL, MIGRATION = 0, 1


class SimState:
    """Mutable state of a run. Policies and query builders read it; only the simulator
    writes it.

    usage[s + H, h, r]: summed demand of the VMs assigned to host h at step s (steps -H ..
    T-1), including the future steps of the current residents (their planned demand; read
    only the past, ``host_usage``). work[s, h, k]: CPU demand of the VMs on h at step s
    whose used-resource subset is k (for the aggregate contention of labels).
    """

    def __init__(self, scenario: Scenario, *, track_work: bool = False):
        self.scenario = scenario
        self.track_work = track_work
        self.cluster = scenario.cluster
        self.workload = wl = scenario.workload
        self.limit = scenario.limit
        n, H, T = self.cluster.n, wl.history, wl.steps
        self.t = 0
        self.alloc = np.zeros((n, R), np.float64)
        self.vm_host = np.full(wl.n, -1, np.int64)
        self.host_vms: list[set[int]] = [set() for _ in range(n)]
        self.group_vms: dict[int, set[int]] = {}
        self.tenant_vms: dict[int, set[int]] = {}
        self.usage = np.zeros((T + H, n, R), np.float64)
        # Per-step CPU work by used-resource subset: only labels need it.
        self.work = np.zeros((T, n, N_SUBSETS) if track_work else (0, n, N_SUBSETS))
        self._codes = ((wl.demand > 0) @ _BITS) if track_work else None
        self.in_maintenance = self.cluster.in_maintenance(0)

    # ----------------------------------------------------------------- read helpers

    def host_usage(self, hosts: NDArray[np.int64]) -> NDArray[np.float64]:
        """(k, H, R) summed demand of the hosts' VMs over the last H steps, oldest first."""
        H = self.workload.history
        u = self.usage[self.t:self.t + H][:, hosts, :]  # buffer rows t-H .. t-1
        return np.maximum(np.ascontiguousarray(u.transpose(1, 0, 2)), 0.0)

    def group_members(self, vm: int) -> NDArray[np.int64]:
        """Placed, alive VMs of the VM's anti-affinity group (itself excluded)."""
        g = self.group_vms.get(int(self.workload.group[vm]), ())
        return np.fromiter((v for v in g if v != vm), np.int64)

    def peers(self, vm: int) -> NDArray[np.int64]:
        """Placed, alive VMs of the VM's tenant (itself excluded): the VMs it talks to."""
        p = self.tenant_vms.get(int(self.workload.tenant[vm]), ())
        return np.fromiter((v for v in p if v != vm), np.int64)

    def vm_history(self, vm: int) -> NDArray[np.float64]:
        """(H, R) the VM's demand over the last H steps before now (for an arriving VM, the
        H samples before its arrival)."""
        H = self.workload.history
        return self.workload.at(vm, self.t - H, self.t)

    # ----------------------------------------------------------------- writes

    def place(self, vm: int, host: int) -> None:
        wl, t, H = self.workload, self.t, self.workload.history
        self.alloc[host] += wl.request[vm]
        self.vm_host[vm] = host
        self.host_vms[host].add(vm)
        self.group_vms.setdefault(int(wl.group[vm]), set()).add(vm)
        self.tenant_vms.setdefault(int(wl.tenant[vm]), set()).add(vm)
        end = int(wl.depart[vm])
        # An initial VM's history ran on this host (the cluster was already running).
        start = t - H if (wl.initial[vm] and t == 0) else t
        self.usage[start + H:end + H, host] += wl.at(vm, start, end)
        if self.track_work:
            self._work(vm, host, t, end, 1.0)

    def remove(self, vm: int, *, unplanned: bool) -> None:
        """The VM leaves its host at step t (its life ended, or it is moved/evicted: then
        ``unplanned`` and its planned future demand is taken off the host)."""
        wl, t, H = self.workload, self.t, self.workload.history
        host = int(self.vm_host[vm])
        self.alloc[host] -= wl.request[vm]
        self.vm_host[vm] = -1
        self.host_vms[host].discard(vm)
        self.group_vms[int(wl.group[vm])].discard(vm)
        self.tenant_vms[int(wl.tenant[vm])].discard(vm)
        end = int(wl.depart[vm])
        if unplanned and end > t:
            self.usage[t + H:end + H, host] -= wl.at(vm, t, end)
            if self.track_work:
                self._work(vm, host, t, end, -1.0)

    def _work(self, vm: int, host: int, t: int, end: int, sign: float) -> None:
        wl = self.workload
        rows = slice(wl.offset[vm] + wl.history + t - wl.arrive[vm],
                     wl.offset[vm] + wl.history + end - wl.arrive[vm])
        self.work[np.arange(t, end), host, self._codes[rows]] += sign * wl.demand[rows, CPU]


@dataclass
class SimResult:
    """The outcome of one run, before metrics (evaluate.py turns it into numbers).

    segments: one row per (VM, host) stay: vm, host, start, end (end exclusive).
    decisions: one row per decision: step, vm, kind (0 arrival, 1 migration), feasible hosts
    count, chosen host (-1 = none: rejected / evicted), decision time in ns (feasibility +
    policy). alloc: (T, n, R) reserved capacity per host at the end of each step's events.
    """

    scenario: Scenario
    policy: str
    segments: NDArray[np.int64]  # (m, 4)
    decisions: NDArray[np.int64]  # (k, 6)
    alloc: NDArray[np.float64]
    rejected: NDArray[np.int64]  # VMs never placed
    evicted: NDArray[np.int64]  # VMs lost at a maintenance drain
    runtime_s: float
    state: SimState = field(repr=False)


Observer = Callable[[SimState, int, NDArray[np.int64], int], None]


def simulate(scenario: Scenario, policy: Policy, *, observer: Observer | None = None,
             track_work: bool = False) -> SimResult:
    """One deterministic run of ``policy`` over ``scenario``. ``observer(state, vm,
    feasible, kind)`` is called before each placement with a non-empty feasible set (labels
    use it, with ``track_work``)."""
    from .constraints import feasible_hosts

    began = time.perf_counter()
    wl, cl = scenario.workload, scenario.cluster
    T = wl.steps
    policy.reset(scenario)
    state = SimState(scenario, track_work=track_work)
    leave: list[list[int]] = [[] for _ in range(T + 1)]
    for v in range(wl.n):
        leave[int(wl.depart[v])].append(v)
    drain: list[list[int]] = [[] for _ in range(T)]
    for h in np.flatnonzero(cl.maint_start >= 0):
        if cl.maint_start[h] < T:
            drain[int(cl.maint_start[h])].append(int(h))
    arrivals = np.searchsorted(wl.arrive, np.arange(T + 1), side="left")
    segments: list[list[int]] = []
    open_seg = np.full(wl.n, -1, np.int64)
    decisions: list[tuple[int, int, int, int, int, int]] = []
    rejected: list[int] = []
    evicted: list[int] = []
    alloc_log = np.empty((T, cl.n, R), np.float64)

    def decide(v: int, kind: int) -> None:
        t0 = time.perf_counter_ns()
        feas = feasible_hosts(state, v)
        if len(feas) == 0:
            decisions.append((state.t, v, kind, 0, -1, time.perf_counter_ns() - t0))
            (rejected if kind == ARRIVAL else evicted).append(v)
            return
        if observer is not None:
            t_obs = time.perf_counter_ns()
            observer(state, v, feas, kind)
            t0 += time.perf_counter_ns() - t_obs  # the observer's time is not the policy's
        h = policy.choose(state, v, feas)
        ns = time.perf_counter_ns() - t0
        ok = isinstance(h, (int, np.integer)) and not isinstance(h, (bool, np.bool_))
        i = int(np.searchsorted(feas, h)) if ok else len(feas)
        if not (i < len(feas) and feas[i] == h):
            raise PolicyError(f"policy {policy.name!r} chose host {h!r} for VM {v} at step "
                              f"{state.t}, which is not among the {len(feas)} feasible hosts")
        h = int(h)
        decisions.append((state.t, v, kind, len(feas), h, ns))
        state.place(v, h)
        open_seg[v] = len(segments)
        segments.append([v, h, state.t, int(wl.depart[v])])

    for t in range(T):
        state.t = t
        state.in_maintenance = cl.in_maintenance(t)
        for v in leave[t]:
            if state.vm_host[v] >= 0:
                state.remove(v, unplanned=False)
        for h in drain[t]:
            for v in sorted(state.host_vms[h]):
                state.remove(v, unplanned=True)
                segments[open_seg[v]][3] = t
                decide(v, MIGRATION)
        for v in range(arrivals[t], arrivals[t + 1]):
            decide(v, ARRIVAL)
        alloc_log[t] = state.alloc
    seg = np.array(segments, np.int64).reshape(-1, 4)
    seg = seg[seg[:, 2] < seg[:, 3]]
    return SimResult(scenario=scenario, policy=policy.name, segments=seg,
                     decisions=np.array(decisions, np.int64).reshape(-1, 6), alloc=alloc_log,
                     rejected=np.array(rejected, np.int64), evicted=np.array(evicted, np.int64),
                     runtime_s=time.perf_counter() - began, state=state)


# --------------------------------------------------------------------------- contention


def slowdown_factors(util: NDArray[np.float64], swap_penalty: float) -> NDArray[np.float64]:
    """Per-resource slowdown f from utilisation u (..., R): max(1, u) for CPU, disk and
    network; 1 + swap_penalty * max(0, u - 1) for memory."""
    f = np.maximum(util, 1.0)
    f[..., MEM] = 1.0 + swap_penalty * np.maximum(util[..., MEM] - 1.0, 0.0)
    return f


def subset_slowdown(f: NDArray[np.float64]) -> NDArray[np.float64]:
    """(..., N_SUBSETS): slowdown of a VM using exactly the resources of each subset
    (the largest f among them, at least 1)."""
    return np.max(np.where(SUBSET_MASK, f[..., None, :], 1.0), axis=-1)


@dataclass(frozen=True)
class Contention:
    """Per placed VM-step outcome over the horizon: step, vm, host, CPU demand, slowdown;
    plus the CPU demand of VM-steps without a host (rejected or evicted VMs)."""

    step: NDArray[np.int64]
    vm: NDArray[np.int64]
    host: NDArray[np.int64]
    cpu: NDArray[np.float64]
    slowdown: NDArray[np.float64]
    unplaced_cpu: float
    host_demand: NDArray[np.float64]  # (T, n, R) summed real demand

    @property
    def served(self) -> float:
        return float(np.sum(self.cpu / self.slowdown))

    @property
    def demanded(self) -> float:
        return float(self.cpu.sum()) + self.unplaced_cpu


def _rows(starts: NDArray[np.int64], ends: NDArray[np.int64]) -> tuple[NDArray[np.int64],
                                                                      NDArray[np.int64]]:
    """(owner, step) for every step of intervals [start, end)."""
    lens = np.maximum(ends - starts, 0)
    owner = np.repeat(np.arange(len(starts)), lens)
    step = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens) + starts[owner]
    return owner, step


def contention(scenario: Scenario, segments: NDArray[np.int64]) -> Contention:
    """The contention model on the final placements, from scratch (segments and the
    workload's demand only; independent of the simulator's running buffers)."""
    wl, cl = scenario.workload, scenario.cluster
    T, H, n = wl.steps, wl.history, cl.n
    seg_i, step = _rows(segments[:, 2], segments[:, 3])
    vm, host = segments[seg_i, 0], segments[seg_i, 1]
    d = wl.demand[wl.offset[vm] + H + step - wl.arrive[vm]]
    key = step * n + host
    host_demand = np.stack([np.bincount(key, weights=d[:, r], minlength=T * n)
                            for r in range(R)], axis=-1).reshape(T, n, R)
    f = slowdown_factors(host_demand / cl.capacity[None], scenario.config.swap_penalty)
    # Slowdown of a VM-step: the largest f among the resources it uses (f >= 1).
    f_flat = f.reshape(T * n, R)
    slow = np.ones(len(key))
    for r in range(R):
        np.maximum(slow, np.where(d[:, r] > 0, f_flat[key, r], 1.0), out=slow)
    # A VM's stays run back to back from its arrival; after the last one (or from arrival
    # if it was never placed) it has no host until it leaves.
    covered = wl.arrive.copy()
    np.maximum.at(covered, segments[:, 0], segments[:, 3])
    u_vm, u_step = _rows(covered, wl.depart)
    unplaced = float(wl.demand[wl.offset[u_vm] + H + u_step - wl.arrive[u_vm], CPU].sum())
    return Contention(step=step, vm=vm, host=host, cpu=d[:, CPU], slowdown=slow,
                      unplaced_cpu=unplaced, host_demand=host_demand)


def workload_speed(c: Contention) -> float:
    """Completed / demanded CPU work over the horizon (1.0 = no VM ever slowed or unplaced);
    VM-steps without a host complete nothing."""
    total = c.demanded
    return c.served / total if total > 0 else 1.0
