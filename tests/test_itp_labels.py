"""ITP learning data: the placement-contract arrays of a decision and the counterfactual
labels (hand-checked), and the seeded label generator."""

from __future__ import annotations

import numpy as np
import pytest
from itp_cases import Scripted, hand_scenario, small_scenario

from dwcp_ml import feature_core as fc
from dwcp_ml.training.itp import cluster, labels, query, simulator
from dwcp_ml.training.itp.cluster import R

BIG = 1e9


class Capture:
    """Observer that keeps the query and the labels of one VM's decision."""

    def __init__(self, vm: int, hosts=None, horizon: int = labels.LABEL_HORIZON):
        self.vm, self.hosts, self.horizon = vm, hosts, horizon
        self.query = self.labels = self.feasible = None

    def __call__(self, state, vm, feasible, kind):
        if vm == self.vm:
            hosts = feasible if self.hosts is None else np.asarray(self.hosts)
            self.feasible = feasible
            self.query = query.build_query(state, vm, hosts)
            self.labels = labels.counterfactual(state, vm, hosts, self.horizon)


# --------------------------------------------------------------------------- labels


def test_counterfactual_labels_hand_checked() -> None:
    # Host 0: 1000 MHz with a resident at 600; host 1: empty 1000 MHz; host 2: 2000 MHz with
    # a resident at 1500. The newcomer wants 600 MHz for 2 steps and reserves 500.
    def v(cpu, req_cpu, arrive=0):
        return dict(arrive=arrive, depart=2, request=(req_cpu, 1, 1, 1),
                    demand=[[cpu, 1, 0, 0]] * (2 - arrive + 1))
    sc = hand_scenario([[1000, BIG, BIG, BIG], [1000, BIG, BIG, BIG], [2000, BIG, BIG, BIG]],
                       [v(600, 100), v(1500, 100), v(600, 500)], steps=2)
    cap = Capture(vm=2, horizon=2)
    simulator.simulate(sc, Scripted({0: 0, 1: 2, 2: 1}), observer=cap, track_work=True)
    # Host 0: u = 1.2, both lose 1 - 1/1.2 of 600 for 2 steps: 400 / (2 * 500) = 0.4.
    # Host 1: no contention: 0. Host 2: u = 2100 / 2000, 2100 * (1 - 1/1.05) * 2 = 200: 0.2.
    assert list(cap.feasible) == [0, 1, 2]
    assert cap.labels == pytest.approx([0.4, 0.0, 0.2])


def test_labels_count_only_the_newcomers_life_and_the_residents_future() -> None:
    # The resident leaves after step 0, the newcomer after step 1; horizon 3 steps (clipped
    # to the 3-step run): only step 0 is contended (u = 1.5, lost 1500 * (1 - 1/1.5) = 500).
    res = dict(arrive=0, depart=1, request=(1, 1, 1, 1), demand=[[0, 1, 0, 0], [900, 1, 0, 0]])
    new = dict(arrive=0, depart=2, request=(100, 1, 1, 1),
               demand=[[0, 1, 0, 0], [600, 1, 0, 0], [600, 1, 0, 0]])
    sc = hand_scenario([[1000, BIG, BIG, BIG]], [res, new], steps=3)
    cap = Capture(vm=1, horizon=3)
    simulator.simulate(sc, Scripted({0: 0, 1: 0}), observer=cap, track_work=True)
    assert cap.labels == pytest.approx([500 / (3 * 100)])


def test_memory_swap_in_labels() -> None:
    res = dict(arrive=0, depart=1, request=(1, 500, 1, 1), demand=[[0, 0, 0, 0], [100, 600, 0, 0]])
    new = dict(arrive=0, depart=1, request=(100, 500, 1, 1),
               demand=[[0, 0, 0, 0], [100, 500, 0, 0]])
    sc = hand_scenario([[BIG, 1000, BIG, BIG]], [res, new], steps=1)
    cap = Capture(vm=1, horizon=1)
    simulator.simulate(sc, Scripted({0: 0, 1: 0}), observer=cap, track_work=True)
    # u_mem = 1.1 -> slowdown 2: both lose half of 100 MHz.
    assert cap.labels == pytest.approx([100 / (1 * 100)])


def test_counterfactual_needs_work_tracking() -> None:
    sc = small_scenario(0.5, seed=1)
    state = simulator.SimState(sc)
    with pytest.raises(ValueError, match="track_work"):
        labels.counterfactual(state, 0, np.arange(3))


@pytest.fixture(scope="module")
def generated() -> labels.LabeledDecisions:
    scs = [small_scenario(0.9, seed=10_000), small_scenario(0.6, seed=10_001)]
    return labels.generate(scs, config=labels.LabelConfig(sample=0.2))


def test_generate_shapes_groups_and_determinism(generated) -> None:
    g = generated
    d, rows = g.n_decisions, len(g.label)
    H = 12
    assert d > 20 and rows > 5 * d
    assert g.decision.shape == g.host.shape == (rows,)
    assert np.all(np.diff(g.decision) >= 0) and set(np.unique(g.decision)) == set(range(d))
    assert g.host_capacity.shape == g.host_allocated.shape == (rows, R)
    assert g.host_usage.shape == (rows, H, R) and g.host_info.shape == (rows, 13)
    assert g.vm_request.shape == (d, R) and g.vm_history.shape == (d, H, R)
    assert g.vm_info.shape == (d, 2) and g.step.shape == g.vm.shape == g.chosen.shape == (d,)
    assert len(g.scenario) == d and set(g.scenario) == {"synthetic/load0.9/seed10000",
                                                         "synthetic/load0.6/seed10001"}
    assert np.all(g.label >= 0) and np.any(g.label > 0)
    for k in range(d):
        assert g.chosen[k] in g.host[g.rows_of(k)]
        q = g.query(k)
        assert q.host_usage.shape == (len(q.hosts), H, R)
    again = labels.generate([small_scenario(0.9, seed=10_000), small_scenario(0.6, seed=10_001)],
                            config=labels.LabelConfig(sample=0.2))
    assert np.array_equal(again.label, g.label) and np.array_equal(again.host, g.host)
    for arr in ("vm_history", "host_usage", "host_info", "vm_info"):
        assert np.array_equal(getattr(again, arr), getattr(g, arr))


def test_generate_options() -> None:
    sc = small_scenario(0.9, seed=10_002)
    few = labels.generate([sc], config=labels.LabelConfig(sample=1.0, max_decisions=7))
    assert few.n_decisions == 7
    with pytest.raises(ValueError, match="no decision"):
        labels.generate([sc], config=labels.LabelConfig(sample=0.0))


# --------------------------------------------------------------------------- query arrays


def _query_case():
    # 4 hosts, racks [0, 0, 1, 1]. A (group 5, tenant 9) -> host 0, B (tenant 9) -> host 2,
    # C (tenant 3) -> host 1; N (group 5, tenant 9) arrives at step 2. H = 2.
    def v(arrive, base, req, **kw):
        rows = [[base + 10 * s, base + 1, base + 2, base + 3] for s in range(5 - arrive + 2)]
        return dict(arrive=arrive, depart=5, request=req, demand=rows, **kw)
    vms = [v(0, 100, (1000, 10, 10, 10), group=5, tenant=9),
           v(0, 200, (2000, 20, 20, 20), tenant=9),
           v(0, 300, (3000, 30, 30, 30), tenant=3),
           v(2, 400, (500, 5, 5, 5), group=5, tenant=9)]
    caps = [[10_000, 100, 100, 1250], [20_000, 200, 200, 2500], [30_000, 300, 300, 1250],
            [40_000, 400, 400, 2500]]
    return hand_scenario(caps, vms, steps=5, history=2, domain=[0, 0, 1, 1])


def test_query_arrays_follow_the_contract() -> None:
    sc = _query_case()
    cap = Capture(vm=3, hosts=[0, 1, 2, 3], horizon=2)
    simulator.simulate(sc, Scripted({0: 0, 1: 2, 2: 1, 3: 2}), observer=cap, track_work=True)
    q = cap.query
    assert list(cap.feasible) == [2, 3]  # one VM of a group of 2 per rack: rack 0 is taken
    for name, shape in (("vm_request", (R,)), ("vm_history", (2, R)), ("vm_info", (2,)),
                        ("host_capacity", (4, R)), ("host_allocated", (4, R)),
                        ("host_usage", (4, 2, R)), ("host_info", (4, 13))):
        a = getattr(q, name)
        assert a.shape == shape and a.dtype == np.float64 and a.flags.c_contiguous, name
    assert len(q.args()) == 7
    assert q.vm_request.tolist() == [500, 5, 5, 5]
    # N's history: its samples at steps 0 and 1 (rows 0, 1 of its demand), oldest first.
    assert q.vm_history.tolist() == [[400, 401, 402, 403], [410, 401, 402, 403]]
    assert q.vm_info.tolist() == [1, 2]  # group: A; peers: A and B
    assert q.host_capacity.tolist() == sc.cluster.capacity.tolist()
    assert q.host_allocated[:, 0].tolist() == [1000, 3000, 2000, 0]
    # host_usage: the residents' demand at steps 0 and 1 (rows 2, 3: rows 0, 1 are their
    # history before arrival, which did not run on these hosts).
    assert q.host_usage[0].tolist() == [[120, 101, 102, 103], [130, 101, 102, 103]]
    assert q.host_usage[1, :, 0].tolist() == [320, 330]
    assert q.host_usage[3].tolist() == [[0] * 4] * 2
    info = dict(zip(query.HOST_INFO, q.host_info.T.tolist()))
    assert info["vm_count"] == [1, 1, 1, 0]
    assert info["group_on_host"] == [1, 0, 0, 0]
    assert info["group_in_domain"] == [1, 1, 0, 0]
    assert info["group_domains"] == [1, 1, 1, 1]
    assert info["group_domains_after"] == [1, 1, 2, 2]
    assert info["peers_on_host"] == [1, 0, 1, 0]
    assert info["peers_in_domain"] == [1, 1, 1, 1]
    assert info["net_distance"] == [1.0, 1.5, 1.0, 1.5]  # (hops to A + hops to B) / 2
    assert info["nic_mbps"] == pytest.approx([10.24, 20.48, 10.24, 20.48])
    assert info["failure_rate"] == [0.5] * 4 and info["cost"] == [1.0] * 4
    assert info["domain_cpu_share"] == pytest.approx([4000 / 30_000] * 2 + [2000 / 70_000] * 2)
    assert info["domain_hosts"] == [2, 2, 2, 2]


def test_query_names_match_the_contract() -> None:
    assert cluster.RESOURCES == ("cpu_mhz", "mem_mb", "disk_kbs", "net_kbs")
    assert query.VM_INFO == ("group_size", "peers")
    assert len(query.HOST_INFO) == 13 and query.HOST_INFO[7] == "net_distance"


@pytest.mark.skipif(not hasattr(fc, "placement_factors"),
                    reason="fc.placement_factors is not in the feature core yet")
def test_queries_feed_the_feature_core(generated) -> None:
    assert tuple(fc.PLACEMENT_RESOURCES) == cluster.RESOURCES
    assert tuple(fc.PLACEMENT_VM_INFO) == query.VM_INFO
    assert tuple(fc.PLACEMENT_HOST_INFO) == query.HOST_INFO
    params = fc.PlacementParams()
    for k in range(0, generated.n_decisions, 7):
        q = generated.query(k)
        out = fc.placement_factors(params, *q.args())
        assert out.shape == (len(q.hosts), len(fc.PLACEMENT_FACTORS)) and out.dtype == np.float32
        assert np.all(np.isfinite(out))
