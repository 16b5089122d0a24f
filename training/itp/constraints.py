"""Hard constraints of placement: one filter every policy goes through, and an independent
recount from the final placements.

A host is feasible for a VM at step t when all of these hold (docs/itp.md "Constraints"):

1. capacity: for every resource, reserved (sum of resident requests) + the VM's request <=
   capacity x overcommit (CPU 4.0, memory 1.0, disk and network 1.0 by default); requests and
   capacities are whole numbers, so the sums are exact;
2. anti-affinity: no VM of the VM's group on the host;
3. failure-domain spread: fewer than ceil(group size / number of domains) VMs of the group in
   the host's domain (group size = the declared size of the deployment);
4. maintenance: the host is not in a maintenance window at t.

Groups of size 1 have no anti-affinity or spread constraint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from .simulator import Scenario, SimState


def domain_limit(group_size: int | NDArray[np.int64], n_domains: int) -> NDArray[np.int64]:
    """Most VMs of a group one failure domain may hold: ceil(group size / domains)."""
    return -(-np.asarray(group_size, np.int64) // n_domains)


_NO_HOSTS = np.zeros(0, np.int64)


def feasible_hosts(state: SimState, vm: int) -> NDArray[np.int64]:
    """Hosts (ascending indices) where ``vm`` may be placed now. The only filter: the
    simulator calls it before every placement, for every policy."""
    wl, cl = state.workload, state.cluster
    g = int(wl.group_size[vm])
    members = state.vm_host[state.group_members(vm)] if g > 1 else _NO_HOSTS
    return feasible(state.in_maintenance, state.alloc, wl.request[vm], state.limit, g, members,
                    cl.domain, cl.n_domains)


def feasible(maintenance: NDArray[np.bool_], alloc: NDArray[np.float64],
             request: NDArray[np.float64], limit: NDArray[np.float64], group_size: int,
             member_hosts: NDArray[np.int64], domain: NDArray[np.int64], n_domains: int
             ) -> NDArray[np.int64]:
    """The hard constraints on plain arrays (also what a DWCP request carries,
    request.py): hosts not in maintenance whose reservations fit (alloc + request <=
    limit per resource) and, for a group of declared size > 1 whose placed members are on
    ``member_hosts``, hold no member and fewer than ceil(size / domains) in their domain."""
    ok = ~maintenance
    ok &= np.all(alloc + request <= limit, axis=1)
    if group_size > 1 and len(member_hosts):
        ok[member_hosts] = False
        per_domain = np.bincount(domain[member_hosts], minlength=n_domains)
        ok &= per_domain[domain] < math.ceil(group_size / n_domains)
    return np.flatnonzero(ok)


@dataclass(frozen=True)
class Violations:
    """Constraint breaches recounted from the final placements (every count must be 0).

    capacity: (step, host) pairs whose recounted reservations exceed a limit;
    anti_affinity: steps x pairs of VMs of one group sharing a host;
    domain_spread: (step, group, domain) triples above ceil(group size / domains);
    maintenance: VM-steps on a host inside its maintenance window;
    placement: malformed stays (outside the VM's life, empty, or two hosts at once);
    state: steps where the simulator's own recorded reservations differ from the recount or
    exceed a limit.
    """

    capacity: int = 0
    anti_affinity: int = 0
    domain_spread: int = 0
    maintenance: int = 0
    placement: int = 0
    state: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


def reserved_by_step(scenario: Scenario, segments: NDArray[np.int64]) -> NDArray[np.float64]:
    """(T, n, R) sum of requests of the VMs on each host at each step, from the stays."""
    wl, cl = scenario.workload, scenario.cluster
    T = wl.steps
    delta = np.zeros((T + 1, cl.n, wl.request.shape[1]), np.float64)
    vm, host, start, end = segments.T
    np.add.at(delta, (start, host), wl.request[vm])
    np.add.at(delta, (end, host), -wl.request[vm])
    return np.cumsum(delta, axis=0)[:T]


def recount(scenario: Scenario, segments: NDArray[np.int64],
            alloc_log: NDArray[np.float64] | None = None) -> Violations:
    """Recount every hard constraint at every step from the stays (vm, host, start, end),
    independently of the simulator's filter; with ``alloc_log`` also check the simulator's
    per-step reservations against the recount."""
    wl, cl = scenario.workload, scenario.cluster
    T, D = wl.steps, cl.n_domains
    seg = np.asarray(segments, np.int64).reshape(-1, 4)
    vm, host, start, end = seg.T
    # Stays: inside the VM's life, non-empty, hosts in range, one host at a time.
    bad = (start < wl.arrive[vm]) | (end > wl.depart[vm]) | (start >= end) | (start < 0)
    bad |= (host < 0) | (host >= cl.n)
    placement = int(bad.sum())
    seg = seg[~bad]
    vm, host, start, end = seg.T
    order = np.lexsort((start, vm))
    sv, ss, se = vm[order], start[order], end[order]
    placement += int(np.sum((sv[1:] == sv[:-1]) & (ss[1:] < se[:-1])))

    limit = scenario.limit
    reserved = reserved_by_step(scenario, seg)
    capacity = int(np.any(reserved > limit[None], axis=2).sum())
    state = 0
    if alloc_log is not None:
        state = int(np.sum(np.any(alloc_log != reserved, axis=(1, 2))
                           | np.any(alloc_log > limit[None], axis=(1, 2))))

    # Maintenance: overlap of each stay with its host's window.
    ms, me = cl.maint_start[host], cl.maint_end[host]
    overlap = np.minimum(end, me) - np.maximum(start, ms)
    maintenance = int(np.sum(np.where(ms >= 0, np.maximum(overlap, 0), 0)))

    # Anti-affinity: stays of different VMs of one group on one host that overlap in time.
    grouped = wl.group_size[vm] > 1
    g_seg = seg[grouped]
    g_of = wl.group[g_seg[:, 0]]
    anti = 0
    order = np.lexsort((g_seg[:, 1], g_of))
    gs, key_g, key_h = g_seg[order], g_of[order], g_seg[order, 1]
    same = np.r_[False, (key_g[1:] == key_g[:-1]) & (key_h[1:] == key_h[:-1])]
    run_starts = np.flatnonzero(~same)
    run_ends = np.r_[run_starts[1:], len(gs)]
    for a, b in zip(run_starts, run_ends):
        if b - a < 2:
            continue
        for i in range(a, b):
            for j in range(i + 1, b):
                if gs[i, 0] != gs[j, 0]:
                    anti += max(0, int(min(gs[i, 3], gs[j, 3]) - max(gs[i, 2], gs[j, 2])))

    # Failure-domain spread: members per (group, domain) at every step.
    spread = 0
    if len(g_seg):
        groups, gi = np.unique(g_of, return_inverse=True)
        dom = cl.domain[g_seg[:, 1]]
        delta = np.zeros((len(groups), T + 1, D), np.int16)
        np.add.at(delta, (gi, g_seg[:, 2], dom), 1)
        np.add.at(delta, (gi, g_seg[:, 3], dom), -1)
        count = np.cumsum(delta, axis=1, dtype=np.int16)[:, :T]
        size = np.zeros(len(groups), np.int64)
        size[gi] = wl.group_size[g_seg[:, 0]]
        spread = int(np.sum(count > domain_limit(size, D)[:, None, None]))

    return Violations(capacity=capacity, anti_affinity=anti, domain_spread=spread,
                      maintenance=maintenance, placement=placement, state=state)
