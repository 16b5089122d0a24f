"""Capacity forecaster (scaling family): labels, decision rule (shared cases with Go),
calibration of the operating point, determinism, ONNX export."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest

from dwcp_ml import feature_core as fc
from dwcp_ml.export import metadata, onnx_scaling
from dwcp_ml.export.verify import ExportVerificationError, verify
from dwcp_ml.spec.model import INPUT, ML_OPSET, OPSET, OUTPUT
from dwcp_ml.spec.runtime import session
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
    for key in ("headroom", "floor", "unit_mhz", "min_units", "alpha", "horizon_steps"):
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


def test_calibration_folds_are_inner_rolling_folds(trained, traces) -> None:
    folds = scaling.calibration_folds(traces, CONFIG)
    assert trained.calib_folds == tuple(f.describe() for f in folds)
    assert len(folds) == CONFIG.calib_folds
    for f in folds:
        assert f.test_start - f.train_end == CONFIG.calib_gap
    # Golden windows come from the latest calibration fold's test range; edge cases are
    # synthetic.
    n_heldout = CONFIG.golden_windows
    span_in = (trained.params.input_len - 1) * CONFIG.step_seconds
    assert (trained.golden_ts[:n_heldout, -1] >= folds[-1].test_start).all()
    assert (trained.golden_ts[:n_heldout, 0] >= folds[-1].test_start - span_in).all()


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


def test_hybrid_floor_on_hand_made_numbers() -> None:
    rule = scaling.CapacityRule(headroom=1.0, unit_mhz=100.0, min_units=1, floor=1.2)
    assert scaling.recommend_capacity(950.0, rule, 500.0) == 1000.0  # forecast wins
    assert scaling.recommend_capacity(950.0, rule, 1000.0) == 1200.0  # floor wins
    assert scaling.recommend_capacity(-5.0, rule, -5.0) == 100.0  # both <= 0: min_units
    pure = replace(rule, floor=0.0)
    assert pure.policy == "predictive" and rule.policy == "hybrid"
    assert scaling.recommend_capacity(950.0, pure, 1e9) == 1000.0  # floor 0 ignores the peak
    got = scaling.recommend_capacity(np.array([100.0, 100.0]), rule, np.array([0.0, 2000.0]))
    np.testing.assert_array_equal(got, [100.0, 2400.0])
    assert rule.as_thresholds()["floor"] == 1.2


def test_recent_peak_reads_the_value_feature_of_the_last_steps() -> None:
    n_f = len(fc.Schema.METRIC.features)
    rows = np.zeros((2, 4 * n_f), np.float32)
    rows[0, [0 * n_f, 1 * n_f, 2 * n_f, 3 * n_f]] = [9000, 10, 30, 20]  # step-major
    rows[1, 3 * n_f + 1] = 5000  # another feature of the last step: not the value
    np.testing.assert_array_equal(scaling.recent_peak(rows, 4, 3), [30.0, 0.0])
    np.testing.assert_array_equal(scaling.recent_peak(rows, 4, 4), [9000.0, 0.0])


def test_recommend_capacity_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="NaN"):
        scaling.recommend_capacity(float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        scaling.recommend_capacity(1.0, scaling.CapacityRule(floor=1.0), float("nan"))
    with pytest.raises(ValueError, match="headroom"):
        scaling.CapacityRule(headroom=0.0)
    with pytest.raises(ValueError, match="unit_mhz"):
        scaling.CapacityRule(unit_mhz=float("inf"))
    with pytest.raises(ValueError, match="min_units"):
        scaling.CapacityRule(min_units=-1)
    with pytest.raises(ValueError, match="floor"):
        scaling.CapacityRule(floor=-0.5)


# ------------------------------------------------------------------ shared cases with Go

CASES = Path(__file__).with_name("capacity_cases.json")


def _case(name: str, q: float, values: list[float], headroom: float, floor: float,
          unit: float = 100.0, min_units: int = 1, seq_len: int = 4, horizon: int = 3
          ) -> dict[str, object]:
    """One case: a model output q (float32), an input row whose value feature takes
    ``values`` over its last steps (other features noise), thresholds, and the answer of
    recent_peak + recommend_capacity (what Go's capacityAnswer must reproduce bit for bit)."""
    n_f = len(fc.Schema.METRIC.features)
    rng = np.random.default_rng(len(name))
    row = rng.uniform(-5e4, 5e4, seq_len * n_f).astype(np.float32)
    row[[(seq_len - len(values) + i) * n_f for i in range(len(values))]] = values
    q32 = float(np.float32(q))
    peak = float(scaling.recent_peak(row[None, :], seq_len, horizon)[0])
    rule = scaling.CapacityRule(headroom=headroom, unit_mhz=unit, min_units=min_units,
                                floor=floor)
    cap = float(scaling.recommend_capacity(q32, rule, peak))
    return {"name": name, "seq_len": seq_len, "row": [float(v) for v in row], "output": q32,
            "thresholds": {**rule.as_thresholds(), "alpha": 0.9, "horizon_steps": horizon},
            "recent_peak_mhz": peak, "capacity_mhz": cap, "units": int(cap / unit)}


def capacity_cases() -> list[dict[str, object]]:
    return [
        _case("predictive, floor 0", 1234.5, [100, 200, 300], 1.07, 0.0),
        _case("q x headroom / unit lands just above an integer", 1000.0, [1, 2, 3], 1.1, 0.0),
        _case("floor wins", 800.0, [900, 2500.25, 1200], 1.0, 1.2),
        _case("forecast wins over the floor", 5000.0, [900, 2500.25, 1200], 1.3, 1.2),
        _case("floor 1/0.7 as the reactive scaler sizes", 10.0, [1e3, 7e2, 1.3e3], 1.0, 1 / 0.7),
        _case("negative forecast and values: min_units", -250.0, [-3, -2, -1], 1.2, 1.1,
              min_units=2),
        _case("peak outside the last horizon steps is ignored", 100.0, [99999, 5, 5, 5], 1.0,
              1.4),
        _case("unit 2600 MHz cores", 9000.0, [7000, 8000, 8100], 1.15, 1.05, unit=2600.0),
        _case("12 steps, horizon 3", 3210.0, [3300, 3150, 3190], 0.93, 0.9, seq_len=12),
    ]


def test_capacity_cases_file_is_what_python_answers() -> None:
    """tests/capacity_cases.json (read by Go's TestCapacitySharedCases) holds exactly what
    recent_peak and recommend_capacity answer; regenerate with
    `python tests/test_scaling.py` after changing the rule (and Go with it)."""
    assert json.loads(CASES.read_text()) == capacity_cases()
    for c in capacity_cases():
        assert math.isfinite(c["capacity_mhz"]) and c["units"] * c["thresholds"]["unit_mhz"] \
            == c["capacity_mhz"]


# ------------------------------------------------------------------ calibration


def _hand_vm() -> capacity_mod.SimVM:
    """Flat 1000 MHz demand with a 3000 MHz burst in bins 30..32; a forecast of 1000
    everywhere and the recent peak of the 3 bins up to each window's end."""
    demand = np.full(60, 1000.0)
    demand[30:33] = 3000.0
    end = np.arange(11, 57, dtype=np.int64)
    recent = np.array([demand[e - 2:e + 1].max() for e in end])
    return capacity_mod.SimVM(demand, end, np.full(len(end), 1000.0), recent)


def test_calibrate_takes_the_smallest_headroom_meeting_the_slo() -> None:
    vm = _hand_vm()
    step_h = 300 / 3600
    grid = (0.9, 1.0, 1.5, 2.9, 3.0, 3.1)
    # 16 decisions x 3 bins = 48 bins; the burst costs 3 bins below headroom 3.0, 0 at 3.0.
    loose = capacity_mod.calibrate([vm], scaling.CapacityRule(), 3 / 48, (0.0,), 0.7, 3, step_h,
                                   grid)
    assert (loose.rule.headroom, loose.reachable, loose.result.under) == (1.0, True, 3)
    tight = capacity_mod.calibrate([vm], scaling.CapacityRule(), 0.01, (0.0,), 0.7, 3, step_h,
                                   grid)
    assert (tight.rule.headroom, tight.reachable, tight.result.under) == (3.0, True, 0)
    none = capacity_mod.calibrate([vm], scaling.CapacityRule(), 0.01, (0.0,), 0.7, 3, step_h,
                                  (0.9, 1.0))
    assert (none.rule.headroom, none.reachable) == (1.0, False)
    assert tight.reactive == capacity_mod.simulate_reactive([vm], scaling.CapacityRule(), 0.7, 3,
                                                            step_h)
    # Bisection agrees with a plain scan of the grid.
    fine = capacity_mod.HEADROOM_GRID
    got = capacity_mod.calibrate([vm], scaling.CapacityRule(), 0.01, (0.0,), 0.7, 3, step_h, fine)
    scan = [h for h in fine if capacity_mod.simulate_policy(
        [vm], scaling.CapacityRule(headroom=h), 3, step_h).under_share <= 0.01]
    assert got.rule.headroom == scan[0]


def test_calibrate_against_the_reactive_scaler() -> None:
    """slo_vs_reactive r: the SLO is r x the reactive scaler's share on the same bins (it
    misses the burst's 3 of 48 bins): r = 1 allows 3 bins (headroom 0.91 sizes 1000 MHz),
    r = 0.5 allows 1.5, so the burst must be covered (2.91)."""
    vm = _hand_vm()
    step_h = 300 / 3600
    same = capacity_mod.calibrate([vm], scaling.CapacityRule(), 0.5, (0.0,), 0.7, 3, step_h,
                                  slo_vs_reactive=1.0)
    assert same.reactive.under == 3 and same.slo == 3 / 48
    assert (same.rule.headroom, same.result.under) == (0.91, 3)
    half = capacity_mod.calibrate([vm], scaling.CapacityRule(), 0.5, (0.0,), 0.7, 3, step_h,
                                  slo_vs_reactive=0.5)
    assert (half.slo, half.rule.headroom, half.result.under) == (1.5 / 48, 2.91, 0)
    with pytest.raises(ValueError, match="slo_vs_reactive"):
        scaling.ScalingConfig(slo_vs_reactive=0.0)


def test_calibrate_picks_the_cheapest_floor_meeting_the_slo() -> None:
    """The burst lasts 3 bins inside one decision interval, so no floor sees it in time and
    every floor needs headroom 2.91 (ceil(29.1) = 30 units of 100 MHz) for an SLO of 0;
    floors only add capacity after the burst, so the smallest floor wins."""
    vm = _hand_vm()
    step_h = 300 / 3600
    c = capacity_mod.calibrate([vm], scaling.CapacityRule(), 0.0, (1.4, 0.8, 1.0), 0.7, 3, step_h)
    assert [k.floor for k in c.candidates] == [0.8, 1.0, 1.4]
    assert all(k.reachable and k.headroom == 2.91 for k in c.candidates)
    caps = [k.result.capacity_mhz_h for k in c.candidates]
    assert caps[0] <= caps[1] <= caps[2]
    assert c.rule == scaling.CapacityRule(headroom=2.91, floor=0.8)


def test_training_calibrates_and_exports_the_shipped_point(trained, exported) -> None:
    cals = trained.calibrations
    assert set(cals) == {"predictive", "hybrid"}
    assert cals["predictive"].rule.floor == 0.0
    assert cals["hybrid"].rule.floor in CONFIG.floor_grid
    for c in cals.values():
        assert c.rule.headroom in CONFIG.headroom_grid
        assert c.slo == CONFIG.slo_vs_reactive * c.reactive.under_share
    shipped = scaling.shipped_calibration(cals, "auto")
    assert trained.rule == shipped.rule
    met = [c for c in cals.values() if c.reachable]
    if met:
        assert shipped.reachable and shipped.result.capacity_mhz_h == min(
            c.result.capacity_mhz_h for c in met)
    assert scaling.shipped_calibration(cals, "hybrid") is cals["hybrid"]
    for key, value in trained.rule.as_thresholds().items():
        assert exported.thresholds[key] == value
    m = exported.metrics
    assert m["calib_predictive_headroom"] == cals["predictive"].rule.headroom
    assert m["calib_hybrid_floor"] == cals["hybrid"].rule.floor
    rows = trained.heldout_rows[:50]
    np.testing.assert_array_equal(trained.capacity(rows), scaling.recommend_capacity(
        trained.predict(rows), trained.rule, scaling.recent_peak(rows, CONFIG.seq_len,
                                                                 CONFIG.horizon)))


def test_policy_config_is_checked(traces) -> None:
    fixed = scaling.train(traces, replace(CONFIG, policy="hybrid"))
    assert fixed.rule == fixed.calibrations["hybrid"].rule
    assert onnx_scaling.export(fixed).thresholds["floor"] == fixed.rule.floor > 0
    with pytest.raises(ValueError, match="policy"):
        scaling.ScalingConfig(policy="both")
    with pytest.raises(ValueError, match="headroom_grid"):
        scaling.ScalingConfig(headroom_grid=(1.0, 0.0))
    with pytest.raises(ValueError, match="floor_grid"):
        scaling.ScalingConfig(floor_grid=())
    with pytest.raises(ValueError, match="slo"):
        scaling.ScalingConfig(slo=0.0)
    with pytest.raises(ValueError, match="horizon"):
        scaling.ScalingConfig(seq_len=2, horizon=3)


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
    hours = Trace("hours", START + 300 * np.arange(40, dtype=np.int64), np.ones((40, 1)))
    with pytest.raises(scaling.ScalingDataError, match="calibration folds"):
        scaling.train([hours], CONFIG)
    with pytest.raises(scaling.ScalingDataError, match="no traces"):
        scaling.train([], CONFIG)


if __name__ == "__main__":  # regenerate the shared cases with Go
    CASES.write_text(json.dumps(capacity_cases(), indent=1) + "\n")
    print(f"wrote {CASES}")
