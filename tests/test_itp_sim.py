"""ITP simulator: contention model on hand-computed cases, workload speed, events
(departures, maintenance drains, rejections), determinism, metrics."""

from __future__ import annotations

import numpy as np
import pytest
from itp_cases import Scripted, hand_scenario, small_config, small_scenario

from dwcp_ml.training.itp import evaluate, policies, simulator
from dwcp_ml.training.itp.simulator import (N_SUBSETS, SUBSET_MASK, contention, simulate,
                                            slowdown_factors, subset_slowdown, workload_speed)

BIG = 1e9


def vm(arrive, depart, cpu_rows, *, req=(100, 10, 10, 10), mem=1.0, disk=0.0, net=0.0,
       history=1, **kw):
    rows = [[c, mem, disk, net] for c in cpu_rows]
    assert len(rows) == depart - arrive + history
    return dict(arrive=arrive, depart=depart, request=req, demand=rows, **kw)


# --------------------------------------------------------------------------- contention


def test_cpu_overload_slows_every_vm_by_u() -> None:
    # One host of 1000 MHz; A wants 800 then 300, B 400 then 200 (history row first).
    sc = hand_scenario([[1000, BIG, BIG, BIG]],
                       [vm(0, 2, [0, 800, 300]), vm(0, 2, [0, 400, 200])], steps=2)
    res = simulate(sc, policies.FirstFit())
    c = contention(sc, res.segments)
    # Step 0: u = 1.2, both slowed 1.2 (each receives demand / 1.2); step 1: u = 0.5.
    by = {(int(s), int(v)): float(x) for s, v, x in zip(c.step, c.vm, c.slowdown)}
    assert by == pytest.approx({(0, 0): 1.2, (0, 1): 1.2, (1, 0): 1.0, (1, 1): 1.0})
    # served = 1000 + 500 of 1700 demanded.
    assert workload_speed(c) == pytest.approx(1500 / 1700)
    m = evaluate.metrics(res, c)
    assert m.speed == pytest.approx(1500 / 1700) and m.speed_placed == pytest.approx(1500 / 1700)
    assert m.violations == 0 and m.rejected == 0


def test_memory_over_capacity_swaps_with_the_penalty() -> None:
    # Memory 1000 MB, demand 600 + 500 = 1100: u = 1.1 -> f = 1 + 10 * 0.1 = 2.
    sc = hand_scenario([[BIG, 1000, BIG, BIG]],
                       [vm(0, 1, [0, 100], mem=600, req=(1, 500, 1, 1)),
                        vm(0, 1, [0, 300], mem=500, req=(1, 500, 1, 1))], steps=1)
    c = contention(sc, simulate(sc, policies.FirstFit()).segments)
    assert c.slowdown == pytest.approx([2.0, 2.0])
    assert workload_speed(c) == pytest.approx(0.5)
    f = slowdown_factors(np.array([[0.5, 1.1, 1.5, 0.9]]), 10.0)
    assert f == pytest.approx(np.array([[1.0, 2.0, 1.5, 1.0]]))


def test_a_vm_is_slowed_only_by_the_resources_it_uses() -> None:
    # Disk 100 KB/s: A reads 150 (u = 1.5); B uses no disk and is not slowed.
    sc = hand_scenario([[BIG, BIG, 100, BIG]],
                       [vm(0, 1, [0, 100], disk=150), vm(0, 1, [0, 300], disk=0.0)], steps=1)
    c = contention(sc, simulate(sc, policies.FirstFit()).segments)
    assert c.slowdown == pytest.approx([1.5, 1.0])
    assert workload_speed(c) == pytest.approx((100 / 1.5 + 300) / 400)


def test_subset_slowdown_table() -> None:
    f = np.array([1.2, 3.0, 1.0, 2.0])
    s = subset_slowdown(f)
    assert s.shape == (N_SUBSETS,) and s[0] == 1.0
    for k in range(N_SUBSETS):
        assert s[k] == max([1.0] + [f[r] for r in range(4) if SUBSET_MASK[k, r]])


def test_rejected_vm_completes_nothing() -> None:
    # Memory request 600 of 1000: the second VM does not fit and is rejected.
    sc = hand_scenario([[BIG, 1000, BIG, BIG]],
                       [vm(0, 2, [0, 100, 100], req=(1, 600, 1, 1)),
                        vm(1, 2, [0, 300], req=(1, 600, 1, 1))], steps=2)
    res = simulate(sc, policies.FirstFit())
    assert list(res.rejected) == [1] and res.decisions[1, 4] == -1
    m = evaluate.metrics(res)
    assert m.speed == pytest.approx(200 / 500) and m.speed_placed == 1.0
    assert m.rejected == 1 and m.violations == 0


def test_departures_free_capacity_for_later_arrivals() -> None:
    sc = hand_scenario([[BIG, 1000, BIG, BIG]],
                       [vm(0, 2, [0, 1, 1], req=(1, 600, 1, 1)),
                        vm(2, 3, [0, 1], req=(1, 600, 1, 1))], steps=3)
    res = simulate(sc, policies.FirstFit())
    assert len(res.rejected) == 0
    assert res.segments.tolist() == [[0, 0, 0, 2], [1, 0, 2, 3]]


def test_maintenance_drains_and_blocks_the_host() -> None:
    # Host 0 in maintenance on steps [2, 4): its VM moves to host 1 at step 2; a VM arriving
    # at step 3 cannot go to host 0.
    sc = hand_scenario([[BIG, BIG, BIG, BIG]] * 2,
                       [vm(0, 5, [0] + [10] * 5), vm(3, 5, [0, 10, 10])], steps=5,
                       maint=[(2, 4), (-1, -1)])
    res = simulate(sc, policies.FirstFit())
    assert res.segments.tolist() == [[0, 0, 0, 2], [0, 1, 2, 5], [1, 1, 3, 5]]
    kinds = res.decisions[:, 2].tolist()
    assert kinds == [simulator.ARRIVAL, simulator.MIGRATION, simulator.ARRIVAL]
    assert evaluate.metrics(res).violations == 0
    # With nowhere to go the VM is evicted and its rest is unserved.
    sc1 = hand_scenario([[BIG, BIG, BIG, BIG]], [vm(0, 4, [0, 10, 10, 10, 10])], steps=4,
                        maint=[(1, 2)])
    res1 = simulate(sc1, policies.FirstFit())
    assert list(res1.evicted) == [0] and res1.segments.tolist() == [[0, 0, 0, 1]]
    assert evaluate.metrics(res1).speed == pytest.approx(0.25)


def test_policy_outside_the_feasible_set_is_refused() -> None:
    sc = hand_scenario([[BIG, 1000, BIG, BIG]] * 2,
                       [vm(0, 2, [0, 1, 1], req=(1, 600, 1, 1)),
                        vm(0, 2, [0, 1, 1], req=(1, 600, 1, 1))], steps=2)
    with pytest.raises(simulator.PolicyError, match="not among"):
        simulate(sc, Scripted({0: 0, 1: 0}))  # host 0 is full for VM 1
    for bad in (5, -1, 1.0, True, None, "0"):
        with pytest.raises(simulator.PolicyError):
            simulate(sc, Scripted({0: 0, 1: bad}))


def test_initial_vms_bring_their_history_to_the_host() -> None:
    # An initial VM's pre-horizon samples ran on its host; a later arrival's did not.
    sc = hand_scenario([[BIG, BIG, BIG, BIG]],
                       [vm(0, 3, [7, 1, 1, 1]), vm(2, 3, [5, 2])], steps=3)
    sc = simulator.Scenario(sc.cluster, __import__("dataclasses").replace(
        sc.workload, initial=np.array([True, False])), sc.config, 0)
    res = simulate(sc, policies.FirstFit())
    usage = res.state.usage[:, 0, 0]  # steps -1 .. 2
    assert usage.tolist() == [7, 1, 1, 3]


# --------------------------------------------------------------------------- runs


@pytest.fixture(scope="module")
def scenario() -> simulator.Scenario:
    return small_scenario(0.9, seed=3)


def test_same_seed_and_policy_give_identical_runs(scenario) -> None:
    for name, cls in {**policies.BASELINES, **policies.EXTRA}.items():
        a, b = simulate(scenario, cls()), simulate(scenario, cls())
        assert np.array_equal(a.segments, b.segments), name
        assert np.array_equal(a.decisions[:, :5], b.decisions[:, :5]), name
        ma, mb = evaluate.metrics(a), evaluate.metrics(b)
        assert (ma.speed, ma.rejected) == (mb.speed, mb.rejected)
    # And the scenario itself is rebuilt identically from its seed.
    again = small_scenario(0.9, seed=3)
    assert np.array_equal(again.workload.demand, scenario.workload.demand)
    assert np.array_equal(again.cluster.capacity, scenario.cluster.capacity)
    other = small_scenario(0.9, seed=4)
    assert not np.array_equal(other.workload.request[:50], scenario.workload.request[:50])


def test_random_policy_depends_on_the_scenario_seed(scenario) -> None:
    a = simulate(scenario, policies.RandomPolicy())
    b = simulate(scenario, policies.RandomPolicy(salt=1))
    assert not np.array_equal(a.segments, b.segments)


def test_aggregate_buffers_agree_with_the_row_contention(scenario) -> None:
    res = simulate(scenario, policies.RandomPolicy(), track_work=True)
    c = contention(scenario, res.segments)
    H = scenario.history
    np.testing.assert_allclose(res.state.usage[H:], c.host_demand, rtol=1e-9, atol=1e-6)
    f = slowdown_factors(res.state.usage[H:] / scenario.cluster.capacity[None],
                         scenario.config.swap_penalty)
    served = float(np.sum(res.state.work / subset_slowdown(f)))
    assert served == pytest.approx(c.served, rel=1e-9)
    assert res.state.work.sum() == pytest.approx(c.cpu.sum(), rel=1e-9)


def test_metrics_of_a_loaded_run(scenario) -> None:
    m = evaluate.run(scenario, policies.Tetris())
    assert m.violations == 0 and m.violation_detail.total == 0
    assert 0.0 < m.speed <= m.speed_placed <= 1.0
    assert m.mean_slowdown >= 1.0 and m.p99_slowdown >= 1.0
    assert m.offered_load == pytest.approx(0.9, rel=0.01)
    assert m.decisions == scenario.workload.n and m.migrations > 0
    assert 0 < m.real_util[0] <= m.offered_load + 1e-9
    assert m.reserved_util[1] <= 1.0
    assert m.decision_us_mean > 0 and m.decision_us_p99 >= m.decision_us_mean * 0.5
    row = m.row()
    assert row["real_util_cpu_mhz"] == m.real_util[0] and "violation_detail" not in row


def test_sweep_and_summary_pair_seeds() -> None:
    base = small_config()
    results = evaluate.sweep(loads=(0.5, 0.9), seeds=(0, 1), base=base, processes=1,
                             policies={"random": policies.RandomPolicy,
                                       "first_fit": policies.FirstFit})
    assert len(results) == 2 * 2 * 2
    assert all(m.violations == 0 for m in results)
    rows = evaluate.summarise(results)
    ref = [r for r in rows if r.policy == "random"]
    assert all(r.speedup == pytest.approx((1.0, 1.0, 1.0)) for r in ref)
    assert {(r.policy, r.target_load) for r in rows} == {
        (p, x) for p in ("random", "first_fit") for x in (0.5, 0.9)}
    assert all(r.seeds == 2 and r.speed[1] <= r.speed[0] <= r.speed[2] for r in rows)
    m, lo, hi = evaluate.mean_ci([1.0, 2.0, 3.0])
    assert (m, round(lo, 3), round(hi, 3)) == (2.0, round(2 - 4.303 / 3 ** 0.5, 3),
                                               round(2 + 4.303 / 3 ** 0.5, 3))
