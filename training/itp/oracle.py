"""The limit of placement: a greedy oracle that knows every VM's future demand.

At each decision the oracle computes, for every feasible host h, the work lost over the VM's
whole remaining life (full lookahead, to its departure or the end of the horizon) if it goes
on h, against the host's residents as they will really be (their traces, their departures):

    delta(v, h) = lost_h(with v) - lost_h(without v)      (CPU MHz x steps)

the same counterfactual as the labels (labels.counterfactual with K = the VM's remaining life,
not divided by K x request), under the simulator's exact contention model. It places the VM on
the host of least delta; ties (within 1e-9 of the VM's remaining CPU work: typically every host
that stays below capacity) go to the host whose largest projected utilisation over the VM's
life, max over steps and resources of (residents' future demand + the VM's) / capacity, is
least (it spreads the future load it can see), then to the lowest index.

It does not know where later VMs will go (they are placed later, by itself): it is greedy.
How far it is from the optimum of the same objective is measured on small clusters by the
exact MILP (milp.py).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .cluster import CPU
from .simulator import _BITS, N_SUBSETS, Scenario, SimState, slowdown_factors

TIE_TOLERANCE = 1e-9  # of the VM's remaining CPU work


def _subset_slowdown(f: NDArray[np.float64]) -> NDArray[np.float64]:
    """simulator.subset_slowdown for (m, R) factors >= 1, built subset by subset (each is its
    subset without the highest resource, maxed with that resource): the same numbers, faster
    on the oracle's many small batches."""
    out = np.ones((len(f), N_SUBSETS))
    for k in range(1, N_SUBSETS):
        hb = k.bit_length() - 1
        np.maximum(out[:, k ^ (1 << hb)], f[:, hb], out=out[:, k])
    return out


def lookahead_loss(state: SimState, vm: int, hosts: NDArray[np.int64]
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(delta, peak) per host of ``hosts``: the work lost over the VM's remaining life if it
    is placed there (MHz x steps, see the module doc) and the largest projected utilisation
    over that life. Needs a state that tracks work (simulate(..., track_work=True))."""
    if not state.track_work:
        raise ValueError("the oracle needs simulate(..., track_work=True)")
    wl, cl = state.workload, state.cluster
    t, H = state.t, wl.history
    stop = min(int(wl.depart[vm]), wl.steps)
    hosts = np.asarray(hosts, np.int64)
    k = len(hosts)
    if stop <= t:
        return np.zeros(k), np.zeros(k)
    cap = cl.capacity[hosts]  # (k, R)
    base = state.usage[t + H:stop + H][:, hosts]  # (K, k, R)
    dv = wl.at(vm, t, stop)  # (K, R)
    u = (base + dv[:, None, :]) / cap[None]
    # (K, k) largest utilisation (pairwise maxima: a reduce over 4 lanes is slow in numpy)
    top = np.maximum(np.maximum(u[..., 0], u[..., 1]), np.maximum(u[..., 2], u[..., 3]))
    peak = top.max(axis=0)
    # Lost work changes only where some resource is over capacity with the VM (without it
    # the host is at most as loaded): evaluate the contention model on those host-steps.
    s_idx, h_idx = np.nonzero(top > 1.0)
    if not len(s_idx):
        return np.zeros(k), peak
    pen = state.scenario.config.swap_penalty
    c = cap[h_idx]
    b = base[s_idx, h_idx]
    s0 = _subset_slowdown(slowdown_factors(b / c, pen))  # (m, subsets)
    s1 = _subset_slowdown(slowdown_factors((b + dv[s_idx]) / c, pen))
    work = state.work[t + s_idx, hosts[h_idx]]  # (m, subsets)
    code = (dv[s_idx] > 0) @ _BITS
    lost = (np.sum(work * (1.0 / s0 - 1.0 / s1), axis=1)
            + dv[s_idx, CPU] * (1.0 - 1.0 / s1[np.arange(len(s_idx)), code]))
    return np.bincount(h_idx, weights=lost, minlength=k), peak


class OraclePolicy:
    """The greedy full-lookahead oracle (module doc). ``track_work``: evaluate.run simulates
    with work tracking for it."""

    name = "oracle"
    track_work = True

    def reset(self, scenario: Scenario) -> None:
        pass

    def choose(self, state: SimState, vm: int, feasible: NDArray[np.int64]) -> int:
        delta, peak = lookahead_loss(state, vm, feasible)
        wl = state.workload
        stop = min(int(wl.depart[vm]), wl.steps)
        scale = float(wl.at(vm, state.t, stop)[:, CPU].sum()) if stop > state.t else 0.0
        near = delta <= delta.min() + TIE_TOLERANCE * max(scale, 1.0)
        key = np.where(near, peak, np.inf)
        return int(feasible[int(np.argmin(key))])


__all__ = ["OraclePolicy", "lookahead_loss", "TIE_TOLERANCE"]
