"""Labels for learning to place: the counterfactual cost of placing a VM on each feasible host.

For VM v deciding at step t and candidate host h, over the next K steps s = t .. t+K-1
(clipped to the horizon and, for v, to its life), with the demand of the VMs on h at t as
they will really be (their trace, their own departures; later arrivals and moves are not
known and not counted):

    lost_h(with v)    = sum_s sum_{i on h, and v} cpu_i(s) * (1 - 1 / slowdown_i(s))
    lost_h(without v) = the same without v
    label(v, h)       = (lost_h(with v) - lost_h(without v)) / (K * cpu_request(v))

i.e. the CPU work the newcomer loses on h plus the extra work it makes the residents lose,
in units of the newcomer's reserved CPU over the horizon. Higher = worse; 0 = no contention
caused or suffered. Slowdowns are the simulator's contention model (simulator.py), so the
sum over decisions of these numbers is the work a placement loses before later arrivals
interact: minimising it is the per-decision form of maximising workload speed.

:func:`generate` runs a behaviour policy (random feasible by default) over scenarios and, at a
seeded sample of decisions, emits the contract's query arrays and one label per feasible host;
the decision index is the group id of a ranking model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .cluster import CPU, R
from .policies import RandomPolicy
from .query import PlacementQuery, build_query
from .simulator import (_BITS, MIGRATION, Policy, Scenario, SimState, simulate, slowdown_factors,
                        subset_slowdown)

LABEL_HORIZON = 36  # steps: 3 hours


def counterfactual(state: SimState, vm: int, hosts: NDArray[np.int64],
                   horizon: int = LABEL_HORIZON) -> NDArray[np.float64]:
    """label(vm, h) for every h in ``hosts`` at the current step (see the module doc).
    Needs a state that tracks work (simulate(..., track_work=True))."""
    if not state.track_work:
        raise ValueError("counterfactual labels need simulate(..., track_work=True)")
    wl, cl = state.workload, state.cluster
    t, H = state.t, wl.history
    stop = min(t + horizon, wl.steps)
    v_stop = min(stop, int(wl.depart[vm]))
    hosts = np.asarray(hosts, np.int64)
    cap = cl.capacity[hosts][None]  # (1, k, R)
    base = state.usage[t + H:stop + H][:, hosts]  # (K, k, R) residents' demand
    work = state.work[t:stop][:, hosts]  # (K, k, subsets)
    dv = np.zeros((stop - t, R))
    dv[:v_stop - t] = wl.at(vm, t, v_stop)
    pen = state.scenario.config.swap_penalty
    s0 = subset_slowdown(slowdown_factors(base / cap, pen))  # (K, k, subsets)
    s1 = subset_slowdown(slowdown_factors((base + dv[:, None, :]) / cap, pen))
    lost0 = np.sum(work * (1.0 - 1.0 / s0), axis=(0, 2))
    lost1 = np.sum(work * (1.0 - 1.0 / s1), axis=(0, 2))
    code = (dv > 0) @ _BITS  # (K,)
    s_v = np.take_along_axis(s1, np.broadcast_to(code[:, None, None], (len(dv), len(hosts), 1)),
                             axis=2)[..., 0]
    lost_v = np.sum(dv[:, None, CPU] * (1.0 - 1.0 / s_v), axis=0)
    return (lost1 + lost_v - lost0) / (horizon * float(wl.request[vm, CPU]))


def lookahead_label(state: SimState, vm: int, hosts: NDArray[np.int64],
                    peak_weight: float = 0.0) -> NDArray[np.float64]:
    """The full-lookahead label: the oracle's lost work over the VM's whole remaining life
    (oracle.lookahead_loss) in units of its reserved CPU over that life, plus
    ``peak_weight`` x the largest projected utilisation over that life (the oracle's tie
    rule: among hosts that lose nothing, spread the load)."""
    from .oracle import lookahead_loss

    wl = state.workload
    life = max(min(int(wl.depart[vm]), wl.steps) - state.t, 1)
    delta, peak = lookahead_loss(state, vm, hosts)
    return delta / (life * float(wl.request[vm, CPU])) + peak_weight * peak


@dataclass(frozen=True)
class LabelConfig:
    """horizon: steps the label looks ahead (None: the VM's whole remaining life, the
    oracle's lookahead, :func:`lookahead_label`); peak_weight: only with horizon None, the
    weight of the projected peak utilisation in the label; sample: probability that a
    decision is labelled (seeded per scenario); max_decisions: stop labelling a scenario
    after this many; migrations: label the re-placements of drained VMs too."""

    horizon: int | None = LABEL_HORIZON
    sample: float = 0.25
    max_decisions: int | None = None
    migrations: bool = True
    peak_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.horizon is not None and self.horizon < 1:
            raise ValueError(f"LabelConfig.horizon must be >= 1 or None, got {self.horizon}")
        if not 0.0 <= self.sample <= 1.0:
            raise ValueError(f"LabelConfig.sample must be in [0, 1], got {self.sample}")
        if not self.peak_weight >= 0.0:
            raise ValueError(f"LabelConfig.peak_weight must be >= 0, got {self.peak_weight}")
        if self.peak_weight and self.horizon is not None:
            raise ValueError("LabelConfig.peak_weight needs the full lookahead (horizon=None)")


@dataclass(frozen=True)
class LabeledDecisions:
    """Rows = (decision, feasible host) pairs; per-decision arrays are indexed by
    ``decision``. Query of decision d = rows where decision == d (see :meth:`query`)."""

    decision: NDArray[np.int64]  # (rows,) group id
    host: NDArray[np.int64]  # (rows,) host index in its scenario
    label: NDArray[np.float64]  # (rows,) higher = worse
    host_capacity: NDArray[np.float64]  # (rows, R)
    host_allocated: NDArray[np.float64]  # (rows, R)
    host_usage: NDArray[np.float64]  # (rows, H, R)
    host_info: NDArray[np.float64]  # (rows, 13)
    vm_request: NDArray[np.float64]  # (decisions, R)
    vm_history: NDArray[np.float64]  # (decisions, H, R)
    vm_info: NDArray[np.float64]  # (decisions, 2)
    scenario: tuple[str, ...]  # (decisions,) scenario name
    step: NDArray[np.int64]  # (decisions,)
    vm: NDArray[np.int64]  # (decisions,) VM index in its scenario's workload
    chosen: NDArray[np.int64]  # (decisions,) host the behaviour policy chose

    @property
    def n_decisions(self) -> int:
        return len(self.vm_request)

    def rows_of(self, d: int) -> slice:
        lo, hi = np.searchsorted(self.decision, [d, d + 1])
        return slice(int(lo), int(hi))

    def query(self, d: int) -> PlacementQuery:
        rows = self.rows_of(d)
        return PlacementQuery(
            hosts=self.host[rows], vm_request=self.vm_request[d], vm_history=self.vm_history[d],
            vm_info=self.vm_info[d], host_capacity=self.host_capacity[rows],
            host_allocated=self.host_allocated[rows], host_usage=self.host_usage[rows],
            host_info=self.host_info[rows])


class _Collector:
    def __init__(self, scenario: Scenario, config: LabelConfig):
        self.config = config
        self.rng = np.random.default_rng([scenario.seed, 0x1ABE1])
        self.queries: list[PlacementQuery] = []
        self.labels: list[NDArray[np.float64]] = []
        self.meta: list[tuple[int, int]] = []

    def __call__(self, state: SimState, vm: int, feasible: NDArray[np.int64], kind: int) -> None:
        c = self.config
        if kind == MIGRATION and not c.migrations:
            return
        if c.max_decisions is not None and len(self.queries) >= c.max_decisions:
            return
        if self.rng.random() >= c.sample:
            return
        self.queries.append(build_query(state, vm, feasible))
        self.labels.append(counterfactual(state, vm, feasible, c.horizon)
                           if c.horizon is not None
                           else lookahead_label(state, vm, feasible, c.peak_weight))
        self.meta.append((state.t, vm))


def generate(scenarios: Iterable[Scenario],
             policy: Callable[[], Policy] | Callable[[Scenario], Policy] = RandomPolicy,
             config: LabelConfig = LabelConfig(), *, per_scenario: bool = False
             ) -> LabeledDecisions:
    """Run ``policy()`` over each scenario, labelling a seeded sample of its decisions.
    Deterministic for the same scenarios, policy and config. Use training seeds
    (evaluate.TRAIN_SEED_BASE + i), never the evaluation seeds. ``per_scenario``: ``policy``
    takes the scenario (a behaviour policy that differs by scenario, e.g. a DAgger mix)."""
    parts = []
    for sc in scenarios:
        col = _Collector(sc, config)
        behaviour = policy(sc) if per_scenario else policy()  # type: ignore[call-arg]
        result = simulate(sc, behaviour, observer=col, track_work=True)
        chosen = {(int(t), int(v)): int(h) for t, v, _, _, h, _ in result.decisions}
        parts.append((sc.name, col, [chosen[m] for m in col.meta]))
    queries = [q for _, col, _ in parts for q in col.queries]
    if not queries:
        raise ValueError("no decision was labelled: raise LabelConfig.sample or add scenarios")
    sizes = np.array([len(q.hosts) for q in queries], np.int64)
    cat = lambda name: np.concatenate([getattr(q, name) for q in queries])  # noqa: E731
    stack = lambda name: np.stack([getattr(q, name) for q in queries])  # noqa: E731
    return LabeledDecisions(
        decision=np.repeat(np.arange(len(queries), dtype=np.int64), sizes),
        host=cat("hosts"), label=np.concatenate([lab for _, col, _ in parts for lab in col.labels]),
        host_capacity=cat("host_capacity"), host_allocated=cat("host_allocated"),
        host_usage=cat("host_usage"), host_info=cat("host_info"),
        vm_request=stack("vm_request"), vm_history=stack("vm_history"), vm_info=stack("vm_info"),
        scenario=tuple(name for name, col, _ in parts for _ in col.meta),
        step=np.array([m[0] for _, col, _ in parts for m in col.meta], np.int64),
        vm=np.array([m[1] for _, col, _ in parts for m in col.meta], np.int64),
        chosen=np.array([h for _, _, ch in parts for h in ch], np.int64))
