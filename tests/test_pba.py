"""PBA forecaster: training on synthetic traces (tiny config), ONNX export and verification."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import onnx
import pytest
import torch

from dwcp_ml import feature_core as fc
from dwcp_ml.export import bundle, metadata, onnx_pba
from dwcp_ml.export.verify import ExportVerificationError, verify
from dwcp_ml.spec.model import INPUT, OPSET, OUTPUT
from dwcp_ml.spec.runtime import session
from dwcp_ml.training import pba, prepare, synthetic
from dwcp_ml.training.data import Trace

CONFIG = pba.PbaConfig.tiny()


@pytest.fixture(scope="module")
def traces() -> list[Trace]:
    return synthetic.traces(synthetic.SyntheticConfig(vms=3, days=5))


@pytest.fixture(scope="module")
def trained(traces: list[Trace]) -> pba.TrainedPba:
    return pba.train(traces, CONFIG)


@pytest.fixture(scope="module")
def exported(trained: pba.TrainedPba):  # noqa: ANN201
    return onnx_pba.export(trained)


def _golden_features(trained: pba.TrainedPba) -> np.ndarray:
    return np.concatenate([fc.windows(trained.params, ts, v)
                           for ts, v in zip(trained.golden_ts, trained.golden_values)])


def test_onnx_matches_torch_within_tolerance(trained: pba.TrainedPba, exported) -> None:  # noqa: ANN001
    v = exported.verification
    assert v.rows == len(trained.holdout_x) > 0
    assert (v.atol, v.rtol) == (onnx_pba.ATOL, onnx_pba.RTOL)
    # Golden windows (raw samples -> core -> model), edge cases included, agree as well.
    x = _golden_features(trained)
    got = session(exported.onnx_bytes).run(None, {INPUT: x})[0]
    want = onnx_pba.native(trained.model)(x)
    assert np.all(np.abs(got - want) <= onnx_pba.ATOL + onnx_pba.RTOL * np.abs(want))


def test_export_rules_hold(trained: pba.TrainedPba, exported) -> None:  # noqa: ANN001
    metadata.check_rules(exported.onnx_bytes, "pba")
    stamped = metadata.stamp(exported)
    metadata.check_rules(stamped, "pba")
    assert metadata.metadata(stamped)["family"] == "pba"
    proto = onnx.load_from_string(exported.onnx_bytes)
    assert {o.domain or "ai.onnx": o.version for o in proto.opset_import}["ai.onnx"] == OPSET
    assert "LSTM" in {n.op_type for n in proto.graph.node}
    assert (exported.name, exported.family) == ("pba", "pba")
    T, F = trained.params.seq_len, trained.params.n_features
    assert exported.inputs[0].name == INPUT and exported.inputs[0].shape == (None, T, F)
    assert exported.outputs[0].name == OUTPUT and exported.outputs[0].shape == (None, 3)
    assert trained.params.center and trained.params.scale  # the core normalises


def test_dynamic_batch(trained: pba.TrainedPba, exported) -> None:  # noqa: ANN001
    sess = session(exported.onnx_bytes)
    rows = np.resize(trained.holdout_x, (64, *trained.holdout_x.shape[1:]))
    for n in (1, 64):
        got = sess.run(None, {INPUT: rows[:n]})[0]
        assert got.shape == (n, 3) and got.dtype == np.float32
        want = onnx_pba.native(trained.model)(rows[:n])
        assert np.allclose(got, want, atol=onnx_pba.ATOL, rtol=onnx_pba.RTOL)


def test_perturbed_model_fails_verification_with_worst_row(trained: pba.TrainedPba,
                                                           exported) -> None:  # noqa: ANN001
    bad = copy.deepcopy(trained.model)
    with torch.no_grad():
        bad.net.head.bias[1] += 0.05  # point forecast 5 % higher
    with pytest.raises(ExportVerificationError, match=r"pba: .*worst row \d+: native"):
        verify(exported.onnx_bytes, onnx_pba.native(bad), trained.holdout_x,
               atol=onnx_pba.ATOL, rtol=onnx_pba.RTOL, label="pba")


def _ramp_trace(n: int, gap_at: int | None = None) -> Trace:
    """Samples exactly on the grid; net_rx = bin index, net_tx = 0, others constant."""
    ts = 1372636800 + 300 * np.arange(n, dtype=np.int64)
    values = np.tile([10.0, 50.0, 1.0, 1.0, 0.0, 0.0], (n, 1))
    values[:, 4] = np.arange(n, dtype=np.float64)
    keep = np.ones(n, bool)
    if gap_at is not None:
        keep[gap_at:gap_at + 5] = False  # 5 bins > fill_limit: a missing stretch
    return Trace("ramp", ts[keep], values[keep])


def test_labels_aligned_in_time() -> None:
    params = CONFIG.params()  # identity normalisation: features are the raw channels
    grid = prepare.to_grid(params, _ramp_trace(60, gap_at=30))
    y = pba.future_mean(pba.target_series(grid.values), CONFIG.horizon)
    rx = params.schema.features.index("net_rx_kbs")
    runs = pba.run_windows(params, grid, CONFIG.horizon)
    assert len(runs) == 2
    # fill_limit 2: bins 30 and 31 repeat bin 29 (filled, count as observed), 32..34 missing.
    assert grid.filled[30:32].all() and grid.missing[32:35].all()
    observed = np.where(grid.counts > 0, np.arange(len(grid.ts)), np.nan)
    for rw in runs:
        # The window's last row is bin e (net_rx = e); its label is mean(e+1, e+2, e+3).
        np.testing.assert_array_equal(rw.x[:, -1, rx], rw.ends.astype(np.float32))
        real = ~np.isnan(observed[rw.ends[:, None] + np.arange(1, 4)]).any(axis=1)
        np.testing.assert_allclose(y[rw.ends[real]], rw.ends[real] + 2.0)
        np.testing.assert_allclose(y[rw.ends], [grid.values[e + 1:e + 4, 4].mean()
                                                for e in rw.ends])
    # No label reaches into the missing stretch: the first run's last label ends at bin 31.
    assert runs[0].ends[-1] == 31 - CONFIG.horizon
    assert runs[1].ends[0] == 35 + params.input_len - 1


def test_future_mean_skips_missing() -> None:
    y = pba.future_mean(np.array([1.0, 2.0, 3.0, np.nan, 5.0, 6.0, 7.0, 8.0]), 3)
    np.testing.assert_array_equal(np.isnan(y), [1, 1, 1, 0, 0, 1, 1, 1])
    assert y[4] == 7.0


def test_split_is_by_time(trained: pba.TrainedPba) -> None:
    assert trained.metrics["train_windows"] > 0 and trained.metrics["val_windows"] > 0
    cut = int(trained.notes["split"].split()[3].rstrip(":"))
    assert trained.golden_ts[: CONFIG.golden_windows].min() >= cut  # held out = after the cut


def test_training_is_deterministic(traces: list[Trace], trained: pba.TrainedPba) -> None:
    again = pba.train(traces, CONFIG)
    for (k, a), (_, b) in zip(trained.model.state_dict().items(),
                              again.model.state_dict().items()):
        assert torch.equal(a, b), k
    assert trained.params == again.params
    assert trained.training_data_digest == again.training_data_digest


def test_quantiles_ordered(trained: pba.TrainedPba) -> None:
    rng = np.random.default_rng(0)
    wild = rng.normal(0, 50, (256, *trained.holdout_x.shape[1:])).astype(np.float32)
    for x in (trained.holdout_x, _golden_features(trained), wild):
        p = trained.predict(x)
        assert np.all(p >= 0) and np.all(np.isfinite(p))
        assert np.all(p[:, 0] <= p[:, 1]) and np.all(p[:, 1] <= p[:, 2])


def test_golden_windows_and_bundle(trained: pba.TrainedPba, exported, tmp_path) -> None:  # noqa: ANN001
    n = CONFIG.golden_windows + 3  # held-out windows + constant, zeros, burst
    L = trained.params.input_len
    assert trained.golden_ts.shape == (n, L) and trained.golden_ts.dtype == np.int64
    assert trained.golden_values.shape == (n, L, 6) and trained.golden_values.dtype == np.float64
    loaded = bundle.write(tmp_path / "b", [exported], "test")
    assert "pba" in loaded.models


def test_bad_config_is_specific() -> None:
    with pytest.raises(pba.PbaInputError, match="quantiles must be increasing"):
        pba.PbaConfig(quantiles=(0.9, 0.5, 0.1))
    with pytest.raises(pba.PbaInputError, match="seq_len must be >= 1"):
        pba.PbaConfig(seq_len=0)
    with pytest.raises(pba.PbaInputError, match="cell must be one of lstm, gru, tcn"):
        pba.PbaConfig(cell="transformer")
    with pytest.raises(pba.PbaInputError, match="layers must be >= 1"):
        pba.PbaConfig(layers=0)
    with pytest.raises(pba.PbaInputError, match="no train window|no complete training window"):
        pba.train([_ramp_trace(10)], CONFIG)


@pytest.mark.parametrize(("cell", "layers", "op"), [("gru", 1, "GRU"), ("tcn", 3, "Conv"),
                                                    ("lstm", 2, "LSTM")])
def test_each_cell_exports_and_verifies(traces: list[Trace], cell: str, layers: int,
                                        op: str) -> None:
    """The searched architectures go through the same export and ONNX-vs-torch check."""
    config = replace(CONFIG, cell=cell, layers=layers, hidden=8, epochs=1)
    trained = pba.train(traces[:2], config)
    exported = onnx_pba.export(trained)  # raises unless ONNX matches torch within tolerance
    assert exported.verification.rows == len(trained.holdout_x) > 0
    proto = onnx.load_from_string(exported.onnx_bytes)
    ops = [n.op_type for n in proto.graph.node]
    assert op in ops and (cell != "lstm" or ops.count("LSTM") == layers)
    x = _golden_features(trained)
    got = session(exported.onnx_bytes).run(None, {INPUT: x})[0]
    want = onnx_pba.native(trained.model)(x)
    assert np.all(np.abs(got - want) <= onnx_pba.ATOL + onnx_pba.RTOL * np.abs(want))
    assert np.all(got[:, 0] <= got[:, 1]) and np.all(got[:, 1] <= got[:, 2])


def test_tcn_receptive_field() -> None:
    """The temporal-conv state after the last step reads the last 1 + 2 (2^2 - 1) = 7 steps
    at 2 layers: the first step of a 12-step window does not move it, the last step does."""
    torch.manual_seed(0)
    tcn = pba.TemporalConv(4, 8, 2)
    x = torch.randn(1, 12, 4)
    y = tcn(x)
    early, late = x.clone(), x.clone()
    early[:, 0] += 10.0
    late[:, -1] += 10.0
    assert torch.equal(tcn(early), y) and not torch.equal(tcn(late), y)
