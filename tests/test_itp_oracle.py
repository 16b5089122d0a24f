"""ITP limits: the greedy full-lookahead oracle, the exact MILP on small cases (against the
oracle and against brute force), recovery shares and their input errors."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from itp_cases import hand_scenario, small_scenario

from dwcp_ml.training import itp
from dwcp_ml.training.itp import evaluate, labels, milp, oracle
from dwcp_ml.training.itp.constraints import recount
from dwcp_ml.training.itp.simulator import contention, simulate, workload_speed


def _speed(sc, policy) -> float:
    res = simulate(sc, policy, track_work=bool(getattr(policy, "track_work", False)))
    return workload_speed(contention(sc, res.segments))


def test_lookahead_loss_is_the_counterfactual_over_the_remaining_life():
    sc = small_scenario(load=0.9, seed=3)
    seen = []

    def observe(state, vm, feasible, kind):
        if len(seen) < 25 and state.t > 10:
            wl = state.workload
            life = min(int(wl.depart[vm]), wl.steps) - state.t
            delta, peak = oracle.lookahead_loss(state, vm, feasible)
            cf = labels.counterfactual(state, vm, feasible, life)
            np.testing.assert_allclose(delta, cf * life * wl.request[vm, 0], rtol=1e-9,
                                       atol=1e-6)
            assert np.all(peak >= 0)
            seen.append(float(delta.max()))

    simulate(sc, itp.RandomPolicy(), observer=observe, track_work=True)
    assert len(seen) == 25 and max(seen) > 0  # some contention was looked at


def test_oracle_is_at_least_as_good_as_every_policy_on_small_cases():
    # A greedy oracle is not guaranteed to dominate (it does not know later placements):
    # this checks the fixed small cases, with the maintenance drains of SMALL_CLUSTER.
    for load, seed in ((0.6, 0), (0.8, 1), (0.9, 2)):
        sc = small_scenario(load=load, seed=seed)
        best = _speed(sc, oracle.OraclePolicy())
        for factory in {**itp.BASELINES, **itp.EXTRA}.values():
            assert best >= _speed(sc, factory()) - 1e-12, (load, seed, factory)
        m = evaluate.run(sc, oracle.OraclePolicy())
        assert m.violations == 0


def test_oracle_needs_work_tracking():
    sc = small_scenario(load=0.5, seed=0)
    with pytest.raises(ValueError, match="track_work"):
        simulate(sc, oracle.OraclePolicy())


def _tiny_cases():
    """Four VMs on three hosts with CPU the only resource that can be over capacity: the
    MILP objective is then the simulator's lost work exactly."""
    cap = [[100, 1000, 1000, 1000]] * 2 + [[60, 1000, 1000, 1000]]

    def vm(a, e, cpu, group=None):
        d = {"arrive": a, "depart": e, "request": [50, 100, 10, 10],
             "demand": [[c, 50, 1, 1] for c in [cpu[0]] + list(cpu)]}
        if group is not None:
            d["group"] = group
        return d

    yield hand_scenario(cap, [vm(0, 6, [60, 60, 90, 90, 30, 30]),
                              vm(0, 4, [50, 80, 80, 20]),
                              vm(1, 6, [40, 40, 70, 70, 70], group=7),
                              vm(1, 6, [30, 90, 20, 20, 50], group=7)],
                        steps=6, domain=[0, 0, 1])
    yield hand_scenario(cap, [vm(0, 5, [90, 90, 90, 90, 90]), vm(0, 5, [90, 10, 90, 10, 90]),
                              vm(2, 5, [70, 70, 70]), vm(3, 5, [40, 40])],
                        steps=5)


def _brute_force(sc) -> float:
    wl, n = sc.workload, sc.cluster.n
    best = np.inf
    for hosts in itertools.product(range(-1, n), repeat=wl.n):
        v = np.flatnonzero(np.array(hosts) >= 0)
        seg = np.stack([v, np.array(hosts)[v], wl.arrive[v], wl.depart[v]], axis=1)
        seg = seg.astype(np.int64).reshape(-1, 4)
        T = wl.steps
        alloc = np.zeros((T, n, 4))
        for vm_, h, a, e in seg:
            alloc[a:e, h] += wl.request[vm_]
        if recount(sc, seg, alloc).total:
            continue
        best = min(best, milp.linear_loss(sc, seg))
    return best


def test_milp_equals_brute_force_and_beats_the_oracle_on_tiny_cases():
    for sc in _tiny_cases():
        res = milp.solve(sc, time_limit=30.0, mip_gap=0.0)
        assert res.optimal and res.gap <= 1e-9
        assert res.objective == pytest.approx(_brute_force(sc), abs=1e-6)
        # The optimum's placement, replayed through the contention model, loses what the
        # MILP says (CPU is the only resource over capacity here).
        seg = res.segments(sc)
        c = contention(sc, seg)
        assert c.demanded - c.served == pytest.approx(res.objective, abs=1e-6)
        o = simulate(sc, oracle.OraclePolicy(), track_work=True)
        assert res.objective <= milp.linear_loss(sc, o.segments) + 1e-6
        for factory in {**itp.BASELINES, **itp.EXTRA}.values():
            r = simulate(sc, factory())
            assert res.objective <= milp.linear_loss(sc, r.segments) + 1e-6


def test_milp_on_a_small_synthetic_cluster_bounds_the_oracle():
    cfg = replace(milp.MilpConfig(), hosts=2, domains=1, steps=36, time_limit=20.0)
    sc = milp.small_scenario(cfg, load=0.8, seed=itp.TRAIN_SEED_BASE)
    res = milp.solve(sc, cfg.time_limit, cfg.mip_gap)
    o = simulate(sc, oracle.OraclePolicy(), track_work=True)
    assert res.bound <= milp.linear_loss(sc, o.segments) + 1e-6
    if res.optimal:
        assert res.objective <= milp.linear_loss(sc, o.segments) + 1e-6


def test_milp_bad_input():
    sc = small_scenario(load=0.5, seed=0)  # SMALL_CLUSTER has maintenance windows
    with pytest.raises(ValueError, match="maintenance"):
        milp.solve(sc)
    tiny = next(_tiny_cases())
    with pytest.raises(ValueError, match="time_limit"):
        milp.solve(tiny, time_limit=0)
    with pytest.raises(ValueError, match="MilpConfig"):
        milp.MilpConfig(hosts=2, domains=3)


def _m(policy: str, seed: int, speed: float, load: float = 0.8) -> evaluate.RunMetrics:
    base = evaluate.RunMetrics(
        source="s", policy=policy, seed=seed, target_load=load, offered_load=load, speed=speed,
        speed_placed=speed, mean_slowdown=1.0, p99_slowdown=1.0, slowed_share=0.0,
        real_util=(0.0,) * 4, reserved_util=(0.0,) * 4, overloaded_host_steps=0.0, vms=1,
        decisions=1, migrations=0, rejected=0, evicted=0, violations=0,
        violation_detail=itp.Violations(), decision_us_mean=1.0, decision_us_p99=1.0,
        runtime_s=0.0)
    return base


def test_recovery_share():
    rs = [_m("random", 0, 0.80), _m("oracle", 0, 0.90), _m("x", 0, 0.85),
          _m("random", 1, 0.70), _m("oracle", 1, 0.90), _m("x", 1, 0.86)]
    share, lo, hi = evaluate.recovery_share(rs, "x", 0.8)
    # Ratio of mean gains: (0.05 + 0.16) / (0.10 + 0.20).
    assert share == pytest.approx(0.21 / 0.30)
    assert lo <= share <= hi
    assert evaluate.recovery_share(rs, "oracle", 0.8)[0] == pytest.approx(1.0)
    assert evaluate.recovery_share(rs, "random", 0.8)[0] == pytest.approx(0.0)
    one = evaluate.recovery_share(rs[:3], "x", 0.8)
    assert one == (pytest.approx(0.5),) * 3


def test_recovery_share_bad_input():
    rs = [_m("random", 0, 0.8), _m("oracle", 0, 0.8), _m("x", 0, 0.85)]
    with pytest.raises(ValueError, match="recovers none"):
        evaluate.recovery_share(rs, "x", 0.8)
    with pytest.raises(ValueError, match="no seed"):
        evaluate.recovery_share(rs, "missing", 0.8)
    with pytest.raises(ValueError, match="no seed"):
        evaluate.recovery_share(rs, "x", 0.5)


def test_vm_slowdown_quantiles_per_vm():
    cap = [[100, 1000, 1000, 1000]]
    vms = [{"arrive": 0, "depart": 2, "request": [10, 10, 10, 10],
            "demand": [[100, 1, 1, 1], [100, 1, 1, 1], [100, 1, 1, 1]]},
           {"arrive": 0, "depart": 2, "request": [10, 10, 10, 10],
            "demand": [[100, 1, 1, 1], [100, 1, 1, 1], [0, 1, 1, 1]]}]
    sc = hand_scenario(cap, vms, steps=2)
    m = evaluate.run(sc, itp.FirstFit())
    # Step 0: both VMs on one host, u = 2 (slowdown 2); step 1: VM 0 alone. VM 0 demands 200
    # and completes 150 (4/3), VM 1 demands 100 and completes 50 (2).
    assert m.vm_slowdown_p99 == pytest.approx(np.quantile([4 / 3, 2.0], 0.99))
    assert m.vm_slowdown_p95 == pytest.approx(np.quantile([4 / 3, 2.0], 0.95))
