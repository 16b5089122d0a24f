"""Compression (compress/): every technique on a tiny PBA model gives a valid ONNX graph that
verifies at its stated tolerance, and Go ONNX Runtime reproduces Python's bits on the int8
graphs. The real table is `python -m dwcp_ml.compress.report` (docs/compression.md)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from dwcp_ml.compress import onnx_quant, pba_torch, report, variants
from dwcp_ml.export import go_latency
from dwcp_ml.training import pba, synthetic


@pytest.fixture(scope="module")
def built() -> tuple[pba.TrainedPba, dict[str, variants.Variant]]:
    torch.set_num_threads(1)
    traces = synthetic.traces()[:2]  # half the windows: the test budget
    trained = pba.train(traces, pba.PbaConfig.tiny())
    data = pba_torch.training_windows(trained, traces)
    vs = variants.pba_variants(trained, data, pba_torch.CompressConfig.tiny(), control=False)
    return trained, {v.name: v for v in vs}


def _ops(v: variants.Variant) -> set[tuple[str, str]]:
    return {(n.domain, n.op_type) for n in onnx.load_from_string(v.onnx_bytes).graph.node}


def test_every_technique_verifies_at_its_tolerance(built) -> None:
    _, vs = built
    assert list(vs) == ["float", "int8-dynamic", "int8-static", "prune-50%",
                        "prune-units-8", "distil-4", "lowrank-4", "lowrank-4+int8-dynamic",
                        "lowrank-4+int8-static"]
    for v in vs.values():
        onnx.checker.check_model(onnx.load_from_string(v.onnx_bytes))
        assert 0.0 <= v.tolerance_used <= 1.0, v.name
        ver = v.verification
        assert ver.rows == 128 and math.isfinite(ver.max_abs_error)
        if v.verified_against == "torch":
            assert (ver.atol, ver.rtol) == (1e-3, 1e-4)
        else:
            assert (ver.atol, ver.rtol) == (onnx_quant.ATOL, onnx_quant.RTOL)


def test_what_each_technique_changes(built) -> None:
    _, vs = built
    assert ("com.microsoft", "DynamicQuantizeLSTM") in _ops(vs["int8-dynamic"])
    assert not vs["int8-dynamic"].bundle_compatible  # the bundle format serves ai.onnx only
    assert len(vs["int8-dynamic"].onnx_bytes) < len(vs["float"].onnx_bytes)
    assert ("", "QuantizeLinear") in _ops(vs["int8-static"]) and vs["int8-static"].bundle_compatible
    assert ("", "MatMulInteger") in _ops(vs["lowrank-4+int8-dynamic"])
    assert vs["lowrank-4+int8-dynamic"].bundle_compatible
    assert abs(vs["prune-50%"].sparsity - 0.5) < 0.01 and vs["float"].sparsity == 0.0
    assert vs["prune-units-8"].parameters < vs["float"].parameters
    assert vs["distil-4"].parameters < vs["prune-units-8"].parameters
    assert vs["lowrank-4"].parameters < vs["float"].parameters
    assert not any(n.metadata_props for n in onnx.load_from_string(
        vs["float"].onnx_bytes).graph.node)


def test_full_rank_low_rank_cell_is_the_lstm() -> None:
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(5, 8, batch_first=True)
    x = torch.randn(4, 7, 5)
    with torch.no_grad():
        want = lstm(x)[0][:, -1]
        got = pba_torch.LowRankLSTM(lstm, 8)(x)[0][:, -1]
    assert torch.allclose(got, want, atol=1e-5)
    with pytest.raises(pba.PbaInputError, match="rank 9"):
        pba_torch.LowRankLSTM(lstm, 9)


@pytest.mark.parametrize("name", ["int8-dynamic", "int8-static", "lowrank-4+int8-dynamic"])
def test_go_reproduces_python_int8_bits(built, name: str, tmp_path: Path) -> None:
    trained, vs = built
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(vs[name].onnx_bytes)
    x = trained.holdout_x[:32]
    py = variants.ort_predict(vs[name].onnx_bytes)(x)
    go = go_latency.go_outputs(path, x)
    assert np.array_equal(go.view(np.uint32), py.view(np.uint32))


def _row(name: str, size: int, p99: float, wape: float) -> report.Row:
    return report.Row(name, name, size, size, 1, 0.0, True, "torch", 0.0, 0.0, 0.0, 0.0,
                      [{"wape": wape}], go_p50_us=p99, go_p99_us=p99)


def test_pareto_front() -> None:
    rows = [_row("a", 100, 50.0, 0.60), _row("b", 50, 60.0, 0.61), _row("c", 120, 70.0, 0.62),
            _row("d", 50, 40.0, 0.70)]
    assert report.pareto(rows, "size_bytes") == {"a", "b"}
    assert report.pareto(rows, "go_p99_us") == {"a", "d"}


def test_report_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main(["--out", str(tmp_path / "o"), "--train", "bogus"]) == 2
    assert capsys.readouterr().err.startswith("dwcp-ml compress: error: ")
    assert report.main(["--out", str(tmp_path / "o"), "--train", "nab", "--data",
                        str(tmp_path)]) == 2
    assert "not VM data" in capsys.readouterr().err
