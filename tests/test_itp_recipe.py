"""The learned placer's recipe options: full-lookahead labels, the scaled regret target,
DAgger rounds on the scorer's own states; the result still exports and serves like the
shipped itp model."""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
import pytest
from itp_cases import small_scenario

from dwcp_ml import feature_core as fc
from dwcp_ml.export import onnx_itp
from dwcp_ml.training.itp import evaluate, labels, scorer
from dwcp_ml.training.itp.learned import LearnedPolicy
from dwcp_ml.training.itp.oracle import lookahead_loss
from dwcp_ml.training.itp.policies import RandomPolicy
from dwcp_ml.training.itp.simulator import simulate


def _tiny() -> scorer.ItpConfig:
    return replace(scorer.ItpConfig.dagger(), scenarios=1, loads=(0.8,), sample=0.1,
                   lgbm_trees=20, gb_trees=10, gb_rows=3_000, golden_requests=2,
                   dagger_scenarios=1)


def test_lookahead_labels_are_the_oracle_loss_plus_the_peak_term():
    sc = small_scenario(load=0.9, seed=5)
    checked = []

    def observe(state, vm, feasible, kind):
        if len(checked) < 10 and state.t > 20:
            wl = state.workload
            life = min(int(wl.depart[vm]), wl.steps) - state.t
            delta, peak = lookahead_loss(state, vm, feasible)
            got = labels.lookahead_label(state, vm, feasible, 0.05)
            np.testing.assert_allclose(got, delta / (life * wl.request[vm, 0]) + 0.05 * peak)
            checked.append(vm)

    simulate(sc, RandomPolicy(), observer=observe, track_work=True)
    assert len(checked) == 10


def test_scaled_target_ranks_each_decision_in_minus_one_to_zero():
    sc = small_scenario(load=0.9, seed=1)
    data = labels.generate([sc], config=labels.LabelConfig(horizon=None, sample=0.3))
    y = scorer.regret_target(data, "scaled")
    raw = scorer.regret_target(data)
    assert y.min() >= -1.0 - 1e-12 and y.max() == 0.0
    for d in range(data.n_decisions):
        rows = data.rows_of(d)
        assert y[rows].max() == 0.0
        if raw[rows].min() < 0:
            assert y[rows].min() == pytest.approx(-1.0)
            assert np.argmin(y[rows]) == np.argmin(raw[rows])


def test_dagger_recipe_trains_exports_and_serves():
    cfg = _tiny()
    trained = scorer.fit(scorer.training_scenarios(cfg), cfg)
    assert trained.metrics["data"]["dagger_rounds"] == 2.0
    exported = onnx_itp.export(trained)
    assert [e.name for e in exported] == ["itp", "itp_gb"]
    model = exported[0]
    assert model.inputs[0].shape == (None, len(fc.PLACEMENT_FACTORS))
    assert model.verification.max_abs_error <= onnx_itp.ATOL + onnx_itp.RTOL
    policy = functools.partial(LearnedPolicy, model.onnx_bytes, "learned")
    m = evaluate.run(small_scenario(load=0.8, seed=2), policy())
    assert m.violations == 0


def test_recipe_bad_input():
    with pytest.raises(ValueError, match="target"):
        scorer.ItpConfig(target="rank")
    with pytest.raises(ValueError, match="dagger_rounds"):
        scorer.ItpConfig(dagger_rounds=-1)
    with pytest.raises(ValueError, match="peak_weight needs"):
        labels.LabelConfig(horizon=36, peak_weight=0.1)
    with pytest.raises(ValueError, match="horizon"):
        labels.LabelConfig(horizon=0)
    with pytest.raises(ValueError, match="sample"):
        labels.LabelConfig(sample=1.5)
