"""Capacity forecaster (scaling family): labels, decision rule, determinism, ONNX export."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
import pytest

from dwcp_ml import feature_core as fc
from dwcp_ml.export import metadata, onnx_scaling
from dwcp_ml.export.model import INPUT, ML_OPSET, OPSET, OUTPUT
from dwcp_ml.export.runtime import session
from dwcp_ml.export.verify import ExportVerificationError, verify
from dwcp_ml.training import capacity as capacity_mod
from dwcp_ml.training import scaling
from dwcp_ml.training.data import Trace
from dwcp_ml.training.prepare import to_grid
from dwcp_ml.training.synthetic import START, SyntheticConfig

CONFIG = scaling.ScalingConfig.tiny()


@pytest.fixture(scope="module")
def traces() -> list[Trace]:
    return scaling.synthetic_cpu_mhz(SyntheticConfig(vms=3, days=5))


@pytest.fixture(scope="module")
def trained(traces: list[Trace]) -> scaling.TrainedScaling:
    return scaling.train(traces, CONFIG)


@pytest.fixture(scope="module")
def exported(trained: scaling.TrainedScaling):
    return onnx_scaling.export(trained)


# ------------------------------------------------------------------ ONNX vs native, rules


def test_onnx_matches_native_within_tolerance(trained, exported) -> None:
    v = exported.verification
    assert (v.atol, v.rtol) == (onnx_scaling.ATOL, onnx_scaling.RTOL)
    assert v.rows == len(trained.heldout_rows) > 100
    # Independent re-check on every held-out row, not only through verify().
    got = session(exported.onnx_bytes).run(None, {INPUT: trained.heldout_rows})[0]
    want = trained.predict(trained.heldout_rows)
    assert got.shape == (len(want), 1) and got.dtype == np.float32
    assert np.all(np.abs(got[:, 0] - want) <= onnx_scaling.ATOL + onnx_scaling.RTOL * np.abs(want))


def test_export_rules_hold(trained, exported) -> None:
    metadata.check_rules(exported.onnx_bytes, "scaling")
    stamped = metadata.stamp(exported)
    metadata.check_rules(stamped, "scaling")
    meta = metadata.metadata(stamped)
    assert meta["family"] == "scaling" and meta["schema"] == "metric"
    assert meta["schema_hash"] == f"{fc.Schema.METRIC.hash:016x}"
    proto = onnx.load_from_string(exported.onnx_bytes)
    assert {o.domain or "ai.onnx": o.version for o in proto.opset_import} == {
        "ai.onnx": OPSET, "ai.onnx.ml": ML_OPSET}
    assert [n.op_type for n in proto.graph.node].count("TreeEnsembleRegressor") == 1
    n_features = CONFIG.seq_len * len(fc.Schema.METRIC.features)
    assert exported.inputs[0].shape == (None, n_features)
    assert [o.name for o in exported.outputs] == [OUTPUT] and exported.outputs[0].shape == (None, 1)
    assert exported.name == exported.family == "scaling"
    for key in ("headroom", "unit_mhz", "min_units", "alpha", "horizon_steps"):
        assert key in exported.thresholds


def test_golden_windows_are_raw_and_featurisable(trained, exported) -> None:
    params = exported.feature_params
    n = params.input_len
    assert exported.golden_ts.dtype == np.int64 and exported.golden_ts.shape[1] == n
    assert exported.golden_values.dtype == np.float64
    assert exported.golden_values.shape == (len(exported.golden_ts), n, 1)
    assert len(exported.golden_ts) == CONFIG.golden_windows + 3  # held-out + 3 edge cases
    assert any(name.startswith("edge/spike") for name in trained.golden_names)
    out = session(exported.onnx_bytes)
    for ts, values in zip(exported.golden_ts, exported.golden_values):
        x = fc.windows(params, ts, values).reshape(1, -1)
        assert np.isfinite(out.run(None, {INPUT: x})[0]).all()


def test_perturbed_native_fails_with_worst_row(trained, exported) -> None:
    rows = trained.heldout_rows

    def off_by_one_row(x: np.ndarray) -> np.ndarray:
        y = trained.predict(x).copy()
        y[7] += 50.0  # MHz
        return y

    with pytest.raises(ExportVerificationError, match=r"worst row 7:"):
        verify(exported.onnx_bytes, off_by_one_row, rows, atol=onnx_scaling.ATOL,
               rtol=onnx_scaling.RTOL, label="scaling")


def test_perturbed_onnx_fails_verification(trained, exported) -> None:
    proto = onnx.load_from_string(exported.onnx_bytes)
    tree = next(n for n in proto.graph.node if n.op_type == "TreeEnsembleRegressor")
    weights = next(a for a in tree.attribute if a.name == "target_weights")
    weights.floats[0] += 25.0  # one leaf of the first tree: the rows that reach it move
    with pytest.raises(ExportVerificationError, match=r"scaling: .*worst row \d+: native"):
        verify(proto.SerializeToString(), trained.predict, trained.heldout_rows,
               atol=onnx_scaling.ATOL, rtol=onnx_scaling.RTOL, label="scaling")


# ------------------------------------------------------------------ labels in time


def test_labels_are_the_peak_of_the_next_three_bins() -> None:
    """Hand-made trace on the grid with a gap (two runs): the window ending at bin e has
    value[e] as its last 'value' feature and max(value[e+1..e+3]) as its label."""
    params = fc.Params(schema=fc.Schema.METRIC, seq_len=2, stat_window=3)
    n = 40
    ts = START + 300 * np.arange(n, dtype=np.int64)
    values = (np.arange(n) * 37 % 11).astype(np.float64) * 100.0  # non-monotone
    keep = np.r_[0:18, 23:n]  # a 5-bin gap > fill_limit 2 -> two complete runs
    grid = to_grid(params, Trace("hand", ts[keep], values[keep, None]))
    s = scaling.samples(params, grid, horizon=3)
    # Run 1 = bins 0..19 (17 repeated into the filled bins 18, 19), then 20..22 missing;
    # run 2 = bins 23..39. A window needs input_len 4 bins and its label 3 more inside the
    # run: ends 3..16 and 26..36.
    assert s.end.tolist() == list(range(3, 17)) + list(range(26, 37))
    on_grid = np.r_[values[:18], values[17], values[17], np.nan, np.nan, np.nan, values[23:]]
    np.testing.assert_array_equal(grid.values[:, 0], on_grid)
    np.testing.assert_array_equal(s.windows[:, -1, 0], on_grid[s.end].astype(np.float32))
    expected = [max(on_grid[e + 1], on_grid[e + 2], on_grid[e + 3]) for e in s.end]
    np.testing.assert_array_equal(s.labels, expected)
    assert s.labels[s.end.tolist().index(30)] == max(values[31:34])  # spot check by hand
    np.testing.assert_array_equal(s.end_ts, ts[s.end])


def test_time_split_trains_on_the_past(trained, traces) -> None:
    cut = trained.metrics["cut_ts"]
    t_min = min(int(t.ts.min()) for t in traces)
    t_max = max(int(t.ts.max()) for t in traces)
    assert t_min < cut < t_max
    # Golden held-out windows start at or after the cut; the edge cases are synthetic.
    n_heldout = CONFIG.golden_windows
    assert (trained.golden_ts[:n_heldout, 0] >= cut).all()


# ------------------------------------------------------------------ decision rule


def test_recommend_capacity_on_hand_made_numbers() -> None:
    rule = scaling.CapacityRule(headroom=1.0, unit_mhz=100.0, min_units=1)
    assert scaling.recommend_capacity(950.0, rule) == 1000.0
    assert scaling.recommend_capacity(1000.0, rule) == 1000.0
    assert scaling.recommend_capacity(1000.5, rule) == 1100.0
    assert scaling.recommend_capacity(-40.0, rule) == 100.0  # negative quantile, min 1 unit
    assert scaling.recommend_capacity(0.0, scaling.CapacityRule(min_units=0)) == 0.0
    assert scaling.recommend_capacity(1000.0, scaling.CapacityRule(headroom=1.25)) == 1300.0
    assert scaling.recommend_capacity(10.0, scaling.CapacityRule(unit_mhz=2600, min_units=2)) == 5200.0
    got = scaling.recommend_capacity(np.array([0.0, 99.0, 101.0, 2599.0]), rule)
    np.testing.assert_array_equal(got, [100.0, 100.0, 200.0, 2600.0])


def test_recommend_capacity_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="NaN"):
        scaling.recommend_capacity(float("nan"))
    with pytest.raises(ValueError, match="headroom"):
        scaling.CapacityRule(headroom=0.0)
    with pytest.raises(ValueError, match="unit_mhz"):
        scaling.CapacityRule(unit_mhz=float("inf"))
    with pytest.raises(ValueError, match="min_units"):
        scaling.CapacityRule(min_units=-1)


# ------------------------------------------------------------------ headroom chosen on validation


def _sim(under: int, capacity: float) -> capacity_mod.SimResult:
    return capacity_mod.SimResult(under=under, bins=1000, capacity_mhz_h=capacity,
                                  shortfall_mhz_h=0.0)


def test_select_headroom_picks_the_smallest_qualifying() -> None:
    reactive = _sim(100, 1000.0)
    curve = {
        0.9: _sim(300, 700.0),  # cheaper but more under-provisioned
        1.0: _sim(100, 800.0),  # ties the reactive scaler: not fewer
        1.1: _sim(80, 900.0),  # first that qualifies
        1.2: _sim(50, 1000.0),  # qualifies too (capacity equal is allowed), but larger
        1.3: _sim(20, 1100.0),  # fewer, but more capacity
    }
    # Dict order must not matter.
    for items in (curve, dict(reversed(list(curve.items())))):
        choice = capacity_mod.select_headroom(items, reactive)
        assert (choice.headroom, choice.reachable) == (1.1, True)
        assert choice.predictive == curve[1.1] and choice.reactive == reactive


def test_select_headroom_when_the_target_is_not_reachable() -> None:
    reactive = _sim(10, 1000.0)
    curve = {1.0: _sim(40, 800.0), 1.1: _sim(30, 950.0), 1.2: _sim(30, 990.0),
             1.3: _sim(5, 1200.0)}
    choice = capacity_mod.select_headroom(curve, reactive)
    # Fewest under-provisioned at no more capacity; the smaller headroom on a tie.
    assert (choice.headroom, choice.reachable) == (1.1, False)
    # Every headroom costs more capacity: the cheapest one, still flagged.
    pricey = {1.0: _sim(5, 1500.0), 1.1: _sim(3, 1600.0)}
    assert capacity_mod.select_headroom(pricey, reactive).headroom == 1.0
    assert not capacity_mod.select_headroom(pricey, reactive).reachable
    with pytest.raises(ValueError, match="no headroom"):
        capacity_mod.select_headroom({}, reactive)


def test_choose_headroom_simulates_both_scalers_on_the_same_bins() -> None:
    """Hand-made VM: flat 1000 MHz demand with a 3000 MHz burst; a perfect forecast of the
    peak. Headroom 1.0 never under-provisions here and the reactive scaler (target 0.7,
    capacity 1500) misses the burst's 3 bins, so the smallest headroom (1.0) wins."""
    demand = np.full(60, 1000.0)
    demand[30:33] = 3000.0
    end = np.arange(11, 57, dtype=np.int64)
    forecast = np.array([demand[e + 1:e + 4].max() for e in end])
    vm = capacity_mod.SimVM(demand, end, forecast)
    choice = capacity_mod.choose_headroom([vm], scaling.CapacityRule(), (1.25, 1.0, 1.5),
                                          target=0.7, horizon=3, step_h=300 / 3600)
    assert set(choice.curve) == {1.0, 1.25, 1.5}
    assert choice.reactive.under == 3 and choice.curve[1.0].under == 0
    assert choice.reactive.bins == choice.curve[1.0].bins == 3 * len(end[::3])
    assert (choice.headroom, choice.reachable) == (1.0, True)


def test_training_chooses_and_exports_the_headroom(trained, exported) -> None:
    choice = trained.headroom_choice
    assert choice is not None and choice.headroom in CONFIG.headroom_grid
    assert set(choice.curve) == set(CONFIG.headroom_grid)
    assert choice == capacity_mod.select_headroom(choice.curve, choice.reactive)
    assert trained.rule == scaling.CapacityRule(headroom=choice.headroom)
    assert exported.thresholds["headroom"] == choice.headroom
    assert exported.thresholds["unit_mhz"] == trained.rule.unit_mhz
    assert exported.thresholds["min_units"] == trained.rule.min_units
    m = exported.metrics
    assert m["val_chosen_headroom"] == choice.headroom
    assert m["val_headroom_target_reachable"] == float(choice.reachable)
    assert m["val_reactive_under"] == choice.reactive.under
    np.testing.assert_array_equal(trained.capacity(trained.heldout_rows[:50]),
                                  scaling.recommend_capacity(
                                      trained.predict(trained.heldout_rows[:50]), trained.rule))


def test_empty_grid_keeps_the_configured_headroom(traces) -> None:
    config = replace(CONFIG, headroom_grid=(), rule=scaling.CapacityRule(headroom=1.7))
    fixed = scaling.train(traces, config)
    assert fixed.headroom_choice is None and fixed.rule.headroom == 1.7
    assert onnx_scaling.export(fixed).thresholds["headroom"] == 1.7
    with pytest.raises(ValueError, match="headroom_grid"):
        scaling.ScalingConfig(headroom_grid=(1.0, 0.0))


# ------------------------------------------------------------------ determinism, bad input


def test_training_is_deterministic(traces, trained, exported) -> None:
    again = scaling.train(traces, CONFIG)
    assert again.model.booster_.model_to_string() == trained.model.booster_.model_to_string()
    assert again.training_data_digest == trained.training_data_digest
    assert again.rule == trained.rule
    assert onnx_scaling.to_onnx(again) == exported.onnx_bytes


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="alpha"):
        scaling.ScalingConfig(alpha=1.5)
    with pytest.raises(ValueError, match="seq_len"):
        scaling.ScalingConfig(seq_len=0)
    with pytest.raises(scaling.ScalingDataError, match="one channel"):
        scaling.train([Trace("vm", np.arange(3, dtype=np.int64), np.zeros((3, 6)))], CONFIG)
    short = Trace("short", START + 300 * np.arange(10, dtype=np.int64), np.ones((10, 1)))
    with pytest.raises(scaling.ScalingDataError, match="complete run"):
        scaling.train([short], CONFIG)
    with pytest.raises(scaling.ScalingDataError, match="no traces"):
        scaling.train([], CONFIG)
