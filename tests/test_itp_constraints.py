"""ITP hard constraints: no policy can produce a violation (property-based, randomized
scenarios, adversarial policies), the filter agrees with a brute-force reading of the rules,
and the independent recount finds violations when there are some."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itp_cases import hand_scenario, small_scenario

from dwcp_ml.training.itp import constraints, evaluate, policies, simulator
from dwcp_ml.training.itp.cluster import R

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def scenarios(draw) -> simulator.Scenario:
    n = draw(st.integers(1, 7))
    domains = draw(st.integers(1, n))
    T = draw(st.integers(1, 8))
    H = draw(st.integers(1, 2))
    cap = draw(st.lists(st.lists(st.integers(1, 20), min_size=R, max_size=R), min_size=n,
                        max_size=n))
    domain = [i % domains for i in range(n)]
    maint = []
    for _ in range(n):
        if draw(st.booleans()):
            a = draw(st.integers(0, T))
            maint.append((a, a + draw(st.integers(1, 4))))
        else:
            maint.append((-1, -1))
    k = draw(st.integers(1, 24))
    arrive = sorted(draw(st.lists(st.integers(0, T - 1), min_size=k, max_size=k)))
    vms = []
    for a in arrive:
        d = draw(st.integers(a + 1, T + 2))
        life = min(d, T) - a
        vms.append(dict(
            arrive=a, depart=d,
            request=draw(st.lists(st.integers(0, 7), min_size=R, max_size=R)),
            demand=np.array(draw(st.lists(st.floats(0, 30), min_size=(life + H) * R,
                                          max_size=(life + H) * R))).reshape(-1, R),
            group=draw(st.integers(0, 6)), tenant=draw(st.integers(0, 3))))
    ratio = draw(st.sampled_from([1.0, 2.0, 4.0]))
    return hand_scenario(cap, vms, steps=T, history=H, domain=domain, maint=maint,
                         overcommit=(ratio, 1.0, 1.0, 1.0))


def brute_feasible(state: simulator.SimState, vm: int) -> list[int]:
    """The rules read literally, from the VM -> host map only (not the simulator's sums)."""
    wl, cl, t = state.workload, state.cluster, state.t
    ok = []
    on = [v for v in range(wl.n) if state.vm_host[v] >= 0]
    mates = [v for v in on if wl.group[v] == wl.group[vm] and v != vm]
    g = int(wl.group_size[vm])
    for h in range(cl.n):
        if cl.maint_start[h] <= t < cl.maint_end[h]:
            continue
        used = sum((wl.request[v] for v in on if state.vm_host[v] == h), np.zeros(R))
        limit = cl.capacity[h] * np.asarray(state.scenario.config.overcommit)
        if np.any(used + wl.request[vm] > limit):
            continue
        if g > 1:
            if any(state.vm_host[v] == h for v in mates):
                continue
            in_dom = sum(cl.domain[state.vm_host[v]] == cl.domain[h] for v in mates)
            if in_dom >= math.ceil(g / cl.n_domains):
                continue
        ok.append(h)
    return ok


class Adversary:
    """Picks among the feasible hosts whatever hypothesis draws (explores every choice)."""

    name = "adversary"

    def __init__(self, data):
        self.data = data

    def reset(self, scenario) -> None:
        pass

    def choose(self, state, vm, feasible):
        return int(self.data.draw(st.sampled_from(list(feasible))))


class Cheater:
    """Returns any host index at all; the simulator must refuse the infeasible ones."""

    name = "cheater"

    def __init__(self, data):
        self.data = data

    def reset(self, scenario) -> None:
        pass

    def choose(self, state, vm, feasible):
        return self.data.draw(st.integers(-1, state.cluster.n))


def _check(scenario, policy) -> simulator.SimResult:
    seen = []

    def observer(state, vm, feasible, kind):
        assert list(feasible) == brute_feasible(state, vm)
        seen.append(vm)

    res = simulator.simulate(scenario, policy, observer=observer)
    v = constraints.recount(scenario, res.segments, res.alloc)
    assert v.total == 0, v
    assert evaluate.metrics(res).violations == 0
    # Every VM is placed, rejected or evicted; rejected ones had no feasible host.
    assert len(set(seen)) + len(res.rejected) == scenario.workload.n
    return res


@SETTINGS
@given(scenarios(), st.sampled_from(sorted({**policies.BASELINES, **policies.EXTRA})))
def test_no_baseline_can_violate_a_constraint(scenario, name) -> None:
    _check(scenario, {**policies.BASELINES, **policies.EXTRA}[name]())


@SETTINGS
@given(scenarios(), st.data())
def test_no_adversarial_choice_can_violate_a_constraint(scenario, data) -> None:
    _check(scenario, Adversary(data))


@SETTINGS
@given(scenarios(), st.data())
def test_infeasible_choices_are_refused(scenario, data) -> None:
    try:
        res = simulator.simulate(scenario, Cheater(data))
    except simulator.PolicyError:
        return
    assert constraints.recount(scenario, res.segments, res.alloc).total == 0


def test_synthetic_runs_have_no_violation_for_any_policy() -> None:
    sc = small_scenario(0.95, seed=7)
    for name, cls in {**policies.BASELINES, **policies.EXTRA}.items():
        m = evaluate.run(sc, cls())
        assert m.violations == 0, (name, m.violation_detail)


# --------------------------------------------------------------------------- the recount


def _stays_scenario() -> simulator.Scenario:
    # Two hosts in two domains; VMs 0 and 1 form a group of 2; host 1 in maintenance [3, 5).
    vms = [dict(arrive=0, depart=4, request=(1, 5, 1, 1), demand=np.ones((5, R)), group=7),
           dict(arrive=0, depart=4, request=(1, 5, 1, 1), demand=np.ones((5, R)), group=7),
           dict(arrive=1, depart=3, request=(1, 6, 1, 1), demand=np.ones((3, R)))]
    return hand_scenario([[10, 10, 10, 10], [10, 10, 10, 10]], vms, steps=5, domain=[0, 1],
                         maint=[(-1, -1), (3, 5)])


def test_recount_finds_each_kind_of_violation() -> None:
    sc = _stays_scenario()
    assert constraints.recount(sc, np.array([[0, 0, 0, 4], [1, 1, 0, 3]])).total == 0
    v = constraints.recount(sc, np.array([[0, 0, 0, 4], [1, 0, 0, 4]]))
    assert v.anti_affinity == 4 and v.domain_spread == 4  # same host, same domain, 4 steps
    v = constraints.recount(sc, np.array([[0, 0, 0, 4], [2, 0, 1, 3]]))
    assert v.capacity == 2  # 5 + 6 > 10 MB on steps 1 and 2
    v = constraints.recount(sc, np.array([[0, 1, 0, 4]]))
    assert v.maintenance == 1  # step 3 is in host 1's window
    v = constraints.recount(sc, np.array([[0, 0, 0, 5], [1, 1, 0, 3], [1, 0, 2, 3]]))
    assert v.placement == 2  # beyond VM 0's life; VM 1 on two hosts at step 2
    v = constraints.recount(sc, np.array([[0, 0, 0, 4]]), np.zeros((5, 2, R)))
    assert v.state == 4  # the recorded state misses VM 0 on steps 0..3


def test_feasible_hosts_applies_the_spread_limit() -> None:
    # 4 hosts in 2 domains; a group of 4: at most ceil(4 / 2) = 2 per domain, 1 per host.
    vms = [dict(arrive=0, depart=2, request=(1, 1, 1, 1), demand=np.ones((3, R)), group=1)
           for _ in range(4)]
    sc = hand_scenario([[10] * 4] * 4, vms, steps=2, domain=[0, 0, 1, 1])
    res = simulator.simulate(sc, policies.FirstFit())
    assert sorted(res.segments[:, 1].tolist()) == [0, 1, 2, 3]
    # A group of 3 in 3 domains of unequal size still takes one host per domain.
    vms3 = vms[:3]
    sc3 = hand_scenario([[10] * 4] * 4, vms3, steps=2, domain=[0, 0, 1, 2])
    res3 = simulator.simulate(sc3, policies.FirstFit())
    assert res3.segments[:, 1].tolist() == [0, 2, 3]
    assert constraints.domain_limit(np.array([1, 3, 4, 7]), 3).tolist() == [1, 1, 2, 3]


@pytest.mark.parametrize("ratio", [1.0, 4.0])
def test_cpu_overcommit_ratio_is_the_only_slack(ratio) -> None:
    vms = [dict(arrive=0, depart=1, request=(10, 1, 1, 1), demand=np.ones((2, R)))
           for _ in range(5)]
    sc = hand_scenario([[10, 100, 100, 100]], vms, steps=1, overcommit=(ratio, 1.0, 1.0, 1.0))
    res = simulator.simulate(sc, policies.FirstFit())
    assert len(res.segments) == int(ratio) and len(res.rejected) == 5 - int(ratio)
    with pytest.raises(ValueError, match="never overcommitted"):
        simulator.SimConfig(overcommit=(4.0, 1.5, 1.0, 1.0))
