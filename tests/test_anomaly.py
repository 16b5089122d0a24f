"""Anomaly detectors: training, the IsolationForest's compact ONNX export vs native and vs
skl2onnx, every other detector's export vs native, export rules, verification failure,
threshold calibration, event-level metrics. Runs on the NAB subset shipped in training/nab
(no ../shared/data)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest

from dwcp_ml import feature_core as fc
from dwcp_ml.evaluation import anomaly as eval_anomaly
from dwcp_ml.export import onnx_anomaly
from dwcp_ml.export.metadata import ExportRuleError, check_rules
from dwcp_ml.export.verify import ExportVerificationError
from dwcp_ml.spec.model import INPUT, ML_OPSET, OPSET, OUTPUT
from dwcp_ml.spec.runtime import session
from dwcp_ml.training import anomaly, prepare
from dwcp_ml.training import anomaly_detectors as det
from dwcp_ml.training.data import Trace, load_nab

SHIPPED = Path(anomaly.__file__).resolve().parent
SERIES = "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv"


@pytest.fixture(scope="module")
def trace() -> Trace:
    return load_nab(SERIES, SHIPPED)


FOREST = dataclasses.replace(anomaly.AnomalyConfig.tiny(), detector="iforest", stat_window=24,
                             threshold=None)


@pytest.fixture(scope="module")
def trained(trace: Trace) -> anomaly.TrainedAnomaly:
    return anomaly.train([trace], FOREST)


@pytest.fixture(scope="module")
def exported(trained: anomaly.TrainedAnomaly):
    return onnx_anomaly.export(trained)


@pytest.fixture(scope="module")
def reference(trained: anomaly.TrainedAnomaly) -> bytes:
    return onnx_anomaly.export_skl2onnx(trained)


def _run(onnx_bytes: bytes, rows: np.ndarray) -> np.ndarray:
    return session(onnx_bytes).run(None, {INPUT: np.ascontiguousarray(rows, np.float32)})[0]


def _windows_rows(trained: anomaly.TrainedAnomaly, ts: np.ndarray, values: np.ndarray):
    w = np.concatenate([fc.windows(trained.params, t, v) for t, v in zip(ts, values)])
    return w.reshape(len(w), -1)


# --- training ---------------------------------------------------------------------------

def test_trained_shapes_and_split(trained: anomaly.TrainedAnomaly) -> None:
    p = trained.params
    assert p.schema is fc.Schema.METRIC and p.n_features == 9
    assert trained.input_spec.shape == (None, p.seq_len * 9)
    assert trained.heldout_rows.dtype == np.float32
    assert trained.heldout_rows.shape[1] == p.seq_len * 9
    n_gold = trained.config.golden_windows
    assert trained.sample_ts.shape == (n_gold, p.input_len)
    assert trained.sample_values.shape == (n_gold, p.input_len, 1)
    assert trained.sample_ts.dtype == np.int64 and trained.sample_values.dtype == np.float64
    assert trained.edge_names == ("constant", "zeros", "spike")
    assert trained.golden_ts.shape[0] == n_gold + 3
    # Goldens come from the tuning split: after every training row in time.
    fit, tune = prepare.split_in_time(
        anomaly.to_grid(p, load_nab(SERIES, SHIPPED)), trained.config.tuning_fraction)
    assert trained.sample_ts.min() >= tune.ts[0] > fit.ts[-1]
    assert trained.metrics["fit_rows"] > trained.metrics["tuning_rows"] > 0


def test_day_of_week_is_masked_by_the_core(trained: anomaly.TrainedAnomaly) -> None:
    dow = trained.params.schema.features.index("day_of_week")
    rows = _windows_rows(trained, trained.golden_ts, trained.golden_values)
    cols = rows.reshape(len(rows), trained.params.seq_len, -1)[:, :, dow]
    assert np.all(cols == 0.0)
    assert dow not in {int(f) for est, feats in
                       zip(trained.model.estimators_, trained.model.estimators_features_)
                       for f in np.asarray(feats)[est.tree_.feature[est.tree_.feature >= 0]]}


def test_training_is_deterministic(trace: Trace, trained: anomaly.TrainedAnomaly) -> None:
    again = anomaly.train([trace], FOREST)
    assert again.threshold == trained.threshold
    np.testing.assert_array_equal(again.score(trained.heldout_rows),
                                  trained.score(trained.heldout_rows))
    assert again.training_data_digest == trained.training_data_digest


def test_too_short_trace_is_a_specific_error(trace: Trace) -> None:
    short = Trace("short", trace.ts[:20], trace.values[:20])
    with pytest.raises(anomaly.TraceTooShortError, match="short.*no run of"):
        anomaly.train([short], anomaly.AnomalyConfig.tiny())
    with pytest.raises(ValueError, match="shape"):
        anomaly.train([Trace("wide", trace.ts, np.hstack([trace.values] * 2))],
                      anomaly.AnomalyConfig.tiny())
    with pytest.raises(ValueError, match="not in schema"):
        anomaly.AnomalyConfig(masked=("nope",)).params()


# --- export -----------------------------------------------------------------------------

def test_compact_export_matches_native(trained, exported) -> None:
    rows = trained.heldout_rows
    got = _run(exported.onnx_bytes, rows)[:, 0].astype(np.float64)
    want = trained.score(rows)
    assert np.abs(got - want).max() <= onnx_anomaly.ATOL
    assert exported.verification.max_abs_error <= onnx_anomaly.ATOL
    assert exported.verification.rows == len(rows)
    # Golden windows and edge cases, through the core, too.
    golden = _windows_rows(trained, trained.golden_ts, trained.golden_values)
    np.testing.assert_allclose(_run(exported.onnx_bytes, golden)[:, 0],
                               trained.score(golden), rtol=0, atol=onnx_anomaly.ATOL)


def test_compact_equals_skl2onnx(trained, exported, reference) -> None:
    rng = np.random.default_rng(0)
    rows = trained.heldout_rows
    # Also rows between and beyond the training data, where other leaves are reached.
    lo, hi = rows.min(axis=0), rows.max(axis=0)
    extra = (lo + (hi - lo) * rng.uniform(-0.5, 1.5, (300, rows.shape[1]))).astype(np.float32)
    for x in (rows, extra):
        a = _run(exported.onnx_bytes, x)
        b = _run(reference, x)
        assert a.shape == b.shape == (len(x), 1)
        assert np.abs(a.astype(np.float64) - b).max() <= 1e-6
        np.testing.assert_allclose(a[:, 0], trained.score(x), rtol=0, atol=onnx_anomaly.ATOL)


def test_thresholds_on_float32_boundaries_match_native(trained, exported) -> None:
    """Rows that sit exactly on a split threshold's float32 neighbours reach sklearn's leaf."""
    est, feats = trained.model.estimators_[0], trained.model.estimators_features_[0]
    node = int(np.flatnonzero(est.tree_.feature >= 0)[0])
    col = int(np.asarray(feats)[est.tree_.feature[node]])
    t = est.tree_.threshold[node]
    base = np.repeat(trained.heldout_rows[:1], 3, axis=0)
    t32 = np.float32(t)
    base[:, col] = [np.nextafter(t32, np.float32(-np.inf)), t32,
                    np.nextafter(t32, np.float32(np.inf))]
    np.testing.assert_allclose(_run(exported.onnx_bytes, base)[:, 0], trained.score(base),
                               rtol=0, atol=onnx_anomaly.ATOL)


def test_export_rules(exported, trained) -> None:
    check_rules(exported.onnx_bytes, "anomaly")
    proto = onnx.load_from_string(exported.onnx_bytes)
    assert [i.name for i in proto.graph.input] == [INPUT]
    assert [o.name for o in proto.graph.output] == [OUTPUT]
    for v in (*proto.graph.input, *proto.graph.output):
        assert v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        assert not v.type.tensor_type.shape.dim[0].HasField("dim_value")
    assert proto.graph.output[0].type.tensor_type.shape.dim[1].dim_value == 1
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    assert opsets == {"ai.onnx": OPSET, "ai.onnx.ml": ML_OPSET}
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("TreeEnsembleRegressor") == 1 and "ZipMap" not in ops
    assert len(ops) <= 5
    # Dynamic batch really works: 1 row and many rows.
    assert _run(exported.onnx_bytes, trained.heldout_rows[:1]).shape == (1, 1)
    assert exported.name == exported.family == "anomaly"
    assert exported.thresholds == {"score": trained.threshold}
    assert exported.inputs[0].shape == (None, trained.params.seq_len * 9)
    assert exported.outputs[0].shape == (None, 1)
    assert "output" in exported.notes and "decision_function" in exported.notes["output"]
    check_rules(onnx_anomaly.export_skl2onnx(trained), "anomaly-skl2onnx")


def test_rule_check_catches_zipmap_like_breakage(exported) -> None:
    proto = onnx.load_from_string(exported.onnx_bytes)
    proto.graph.output[0].name = "scores"
    proto.graph.node[-1].output[0] = "scores"
    with pytest.raises(ExportRuleError, match="outputs"):
        check_rules(proto.SerializeToString(), "anomaly")


def test_verification_failure_names_worst_row(trained, monkeypatch) -> None:
    """Perturb one leaf of the compact graph: verification must fail and name a row."""
    real = onnx_anomaly.compact_graph
    # The leaf of tree 0 that held-out row 7 reaches, as an index among tree 0's leaves.
    est, feats = trained.model.estimators_[0], trained.model.estimators_features_[0]
    leaf = int(est.apply(trained.heldout_rows[7:8][:, feats])[0])
    index = int(np.flatnonzero(np.flatnonzero(est.tree_.children_left == -1) == leaf)[0])

    def broken(model, n_features):  # noqa: ANN001, ANN202
        proto = real(model, n_features)
        forest = proto.graph.node[0]
        for attr in forest.attribute:
            if attr.name == "target_weights":
                attr.floats[index] += 0.05  # the leaf row 7 reaches
        return proto

    monkeypatch.setattr(onnx_anomaly, "compact_graph", broken)
    with pytest.raises(ExportVerificationError,
                       match=r"beyond atol=1e-06.*worst row \d+: native \[.*\], onnx"):
        onnx_anomaly.export(trained)


# --- threshold calibration ----------------------------------------------------------------

def test_calibration_is_monotone_and_sane(trained) -> None:
    scores = trained.score(trained.heldout_rows)
    qs = [0.5, 0.9, 0.99, 0.995, 1.0]
    ths = [anomaly.calibrate(scores, q) for q in qs]
    assert ths == sorted(ths)
    for q, th in zip(qs, ths):
        assert np.mean(scores >= th) <= (1 - q) + 1.0 / len(scores)
        assert th in scores  # an observed score ("higher"), not an interpolation
    assert anomaly.calibrate(scores, 1.0) == scores.max()
    margins = [anomaly.calibrate(scores, 0.99, m) for m in (1.0, 1.1, 1.2)]
    assert margins == sorted(margins) and margins[0] < margins[2]
    assert anomaly.calibrate(np.array([0.0, 1.0, 2.0]), 1.0, 2.0, floor=0.0) == 4.0
    with pytest.raises(ValueError, match="no tuning scores"):
        anomaly.calibrate(np.array([]), 0.9)
    # The trained threshold follows the configured rule on the tuning split, and every
    # score lies in sklearn's (-0.5, 0.5).
    assert -0.5 < scores.min() and scores.max() < 0.5
    cfg = trained.config
    tune_max = trained.metrics["tuning_score_max"]
    assert trained.threshold == pytest.approx(-0.5 + cfg.threshold_margin * (tune_max + 0.5))
    assert trained.metrics["tuning_flag_rate"] == 0.0  # margin > 1 over the max


def test_edge_case_scores_are_ordered(trained) -> None:
    rows = _windows_rows(trained, trained.edge_ts, trained.edge_values)  # one row per window
    s = dict(zip(trained.edge_names, trained.score(rows)))
    # A sudden 10x spike is more anomalous than the flat window it was added to.
    assert s["spike"] > s["constant"]


# --- event-level metrics --------------------------------------------------------------------

def test_event_counts_hand_made() -> None:
    step = 300
    day = 86400
    windows = [(1000 * step, 1010 * step), (2000 * step, 2020 * step), (3000 * step, 3005 * step)]
    flags = np.array([
        5 * step, 6 * step, 7 * step,  # one false event (consecutive)
        9 * step,  # a second false event (gap)
        1003 * step, 1004 * step, 1009 * step,  # window 1 detected at +3 steps
        2020 * step,  # window 2 detected on its last step
        2021 * step,  # right after window 2: a false event
    ], dtype=np.int64)
    c = eval_anomaly.event_counts(flags, step, windows, 0, 2 * day)
    assert (c.windows, c.detected, c.false_events) == (3, 2, 3)
    assert c.precision == pytest.approx(2 / 5)
    assert c.recall == pytest.approx(2 / 3)
    assert c.f1 == pytest.approx(2 * (2 / 5) * (2 / 3) / (2 / 5 + 2 / 3))
    assert c.false_alarms_per_day == pytest.approx(1.5)
    assert c.delays_h == pytest.approx((3 * step / 3600, 20 * step / 3600))
    assert c.median_delay_h == pytest.approx(np.median([0.25, 20 * step / 3600]))
    empty = eval_anomaly.event_counts(np.array([], np.int64), step, windows, 0, day)
    assert (empty.detected, empty.false_events, empty.f1) == (0, 0, 0.0)
    total = c + empty
    assert (total.windows, total.detected, total.days) == (6, 2, 3.0)


def test_zscore_uses_core_features() -> None:
    params = fc.Params(schema=fc.Schema.METRIC, seq_len=1, stat_window=4, step_seconds=300)
    ts = 1_400_000_000 + 300 * np.arange(8, dtype=np.int64)
    values = np.array([[1.0], [1.0], [1.0], [1.0], [1.0], [1.0], [1.0], [9.0]])
    z = eval_anomaly.zscore(params, fc.windows(params, ts, values))
    assert z[:-1].tolist() == [0.0] * 4  # flat: std 0 -> score 0
    assert z[-1] == pytest.approx(3 ** 0.5, rel=1e-6)  # (9 - 3) / sqrt(12)


# --- the scale-free detectors -----------------------------------------------------------------

SCALE_FREE = {
    "zscore": dict(stat_window=24),
    "breakout": dict(stat_window=288),
    "seasonal": dict(periods=1, halfwidth=3, scale_floor=0.05),
    "residual": dict(seq_len=6, stat_window=24),
}


@pytest.mark.parametrize("kind", sorted(SCALE_FREE))
def test_detector_export_verifies(kind: str, trace: Trace) -> None:
    cfg = dataclasses.replace(anomaly.AnomalyConfig.tiny(), detector=kind, threshold=None,
                              **SCALE_FREE[kind])
    trained = anomaly.train([trace], cfg)
    assert trained.params.seq_len == cfg.window_shape()[0]
    exported = onnx_anomaly.export(trained)
    assert exported.verification.max_abs_error <= onnx_anomaly.ATOL
    assert exported.inputs[0].shape == (None, trained.params.seq_len * 9)
    assert exported.outputs[0].shape == (None, 1)
    assert kind in exported.notes["output"]
    assert -0.5 < exported.thresholds["score"] < 0.5
    # Golden and edge windows (constant, zeros, spike) through the core: ONNX == native, and
    # the flat windows stay finite.
    golden = _windows_rows(trained, trained.golden_ts, trained.golden_values)
    got = _run(exported.onnx_bytes, golden)[:, 0]
    assert np.all(np.isfinite(got)) and np.all((got >= -0.5) & (got < 0.5))
    np.testing.assert_allclose(got, trained.score(golden), rtol=0, atol=onnx_anomaly.ATOL)
    edge = dict(zip(trained.edge_names,
                    trained.score(_windows_rows(trained, trained.edge_ts, trained.edge_values))))
    assert edge["spike"] > edge["constant"]


def test_squash_is_monotone_and_inverted() -> None:
    z = np.array([0.0, 0.5, 1.0, 10.0, 1e6])
    s = det.squash(z)
    assert s[0] == -0.5 and np.all(np.diff(s) > 0) and s[-1] < 0.5
    assert [det.unsquash(v) for v in s[:4]] == pytest.approx(z[:4])


def test_breakout_scores_only_new_extremes() -> None:
    params = fc.Params(schema=fc.Schema.METRIC, seq_len=2, stat_window=4, step_seconds=300)
    model = det.BreakoutModel(params, floor=0.0)
    ts = 1_400_000_000 + 300 * np.arange(5, dtype=np.int64)
    inside = np.array([[1.0], [3.0], [2.0], [1.0], [2.5]])
    above = np.array([[1.0], [3.0], [2.0], [1.0], [5.0]])  # 2 above the range [1, 3]
    for values, want in ((inside, 0.0), (above, 1.0)):
        rows = fc.windows(params, ts, values).reshape(1, -1)
        assert model.deviation(rows)[0] == pytest.approx(want, rel=1e-6)


def test_seasonal_reads_the_same_phase_of_previous_periods() -> None:
    cfg = anomaly.AnomalyConfig(detector="seasonal", period_seconds=3600, periods=2, halfwidth=1,
                                scale_floor=0.0)
    params = cfg.params()
    model = anomaly.build_model(cfg, params)
    assert params.seq_len == 2 * 12 + 1 + 1
    steps = [(c - params.schema.features.index("value")) // 9 for c in model.history_columns()]
    last = params.seq_len - 1
    assert steps == [last - 12 - 1, last - 12, last - 12 + 1, last - 24 - 1, last - 24,
                     last - 24 + 1]
    with pytest.raises(ValueError, match="too short"):
        dataclasses.replace(cfg, halfwidth=6).check()


def test_default_is_the_cross_validated_breakout() -> None:
    cfg = anomaly.AnomalyConfig()
    assert cfg.detector == "breakout" and cfg.threshold is not None
    trained = anomaly.train(anomaly.shipped_traces(), cfg)
    assert trained.threshold == cfg.threshold  # chosen by CV, not recalibrated
    assert trained.params.seq_len == 2 and trained.params.stat_window == cfg.stat_window
    exported = onnx_anomaly.export(trained)
    assert exported.thresholds == {"score": cfg.threshold}
    assert exported.verification.max_abs_error <= onnx_anomaly.ATOL
