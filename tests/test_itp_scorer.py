"""ITP scorers: the DWCP request format read back like Go reads it, the tiny training,
the ONNX exports, and the learned placer in the simulator."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from dwcp_ml import feature_core as fc
from dwcp_ml.export import metadata, onnx_itp
from dwcp_ml.training.itp import query, request, scorer, simulate
from dwcp_ml.training.itp.constraints import recount
from dwcp_ml.training.itp.learned import LearnedPolicy
from dwcp_ml.training.itp.policies import RandomPolicy

from itp_cases import small_scenario


class _RoundTrip:
    """Behaves like random; on each decision, the request JSON (as DWCP sends it) read back
    must give the simulator's feasible set and factor inputs, bit for bit."""

    name = "roundtrip"

    def __init__(self) -> None:
        self.inner, self.checked = RandomPolicy(), 0

    def reset(self, scenario) -> None:  # noqa: ANN001
        self.inner.reset(scenario)

    def choose(self, state, vm, feasible):  # noqa: ANN001, ANN201
        req = json.loads(json.dumps(request.request_from_state(state, vm)))
        got = request.query_from_request(req, state.scenario.workload.history)
        assert np.array_equal(got.hosts, feasible)
        want = query.build_query(state, vm, feasible)
        for g, w in zip(got.args(), want.args()):
            assert g.shape == w.shape and np.array_equal(g.view(np.uint64), w.view(np.uint64))
        self.checked += 1
        return self.inner.choose(state, vm, feasible)


@pytest.mark.parametrize("seed", [0, 1])
def test_request_reads_back_like_the_simulator(seed: int) -> None:
    policy = _RoundTrip()
    simulate(small_scenario(load=0.95, seed=seed), policy)
    assert policy.checked > 50


@pytest.fixture(scope="module")
def trained() -> scorer.TrainedItp:
    return scorer.train([], scorer.ItpConfig.tiny())


def test_both_scorers_beat_random_on_held_out_decisions(trained: scorer.TrainedItp) -> None:
    m = trained.metrics
    assert m["data"]["heldout_decisions"] > 20
    for model in ("lightgbm", "gradient_boosting"):
        assert m[model]["mean_regret"] < 0.5 * m["random"]["mean_regret"], m
    assert len(trained.golden_requests) == scorer.ItpConfig.tiny().golden_requests


def test_exports_are_verified_float32_tree_ensembles(trained: scorer.TrainedItp) -> None:
    exported = onnx_itp.export(trained)
    assert [e.name for e in exported] == ["itp", "itp_gb"]
    for e in exported:
        metadata.check_rules(e.onnx_bytes, e.name)
        assert e.inputs[0].shape == (None, len(fc.PLACEMENT_FACTORS))
        assert e.verification.max_abs_error <= onnx_itp.ATOL + onnx_itp.RTOL
        assert e.thresholds["overcommit_cpu_mhz"] == 4.0 and e.thresholds["overcommit_mem_mb"] == 1.0


def test_learned_placer_is_deterministic_and_never_violates(trained: scorer.TrainedItp) -> None:
    model = onnx_itp.export(trained)[0]
    factory = functools.partial(LearnedPolicy, model.onnx_bytes, "learned")
    scenario = small_scenario(load=0.95, seed=3)
    a, b = simulate(scenario, factory()), simulate(scenario, factory())
    # Every column but the last (decision time in ns) must repeat.
    assert np.array_equal(a.decisions[:, :5], b.decisions[:, :5])
    assert np.array_equal(a.segments, b.segments)
    assert recount(scenario, a.segments, a.alloc).total == 0
