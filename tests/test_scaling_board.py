"""Scaling AutoML leaderboard: a tiny run end to end (synthetic CPU traces, 2 rolling folds,
two cheap candidates) through the shipped calibration, ONNX export, verification and the
leaderboard file; every candidate's graph against its native model; the fitter seam; the
report's plots; and the errors for an unknown candidate or an empty results folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dwcp_ml.evaluation import scaling as eval_scaling
from dwcp_ml.evaluation import scaling_board as board
from dwcp_ml.export import onnx_candidates, verify
from dwcp_ml.spec.model import model_input
from dwcp_ml.spec.runtime import session
from dwcp_ml.training import cv, scaling
from dwcp_ml.training.candidates import scaling_tabular
from dwcp_ml.training.candidates.quantile import CandidateError
from dwcp_ml.training.data import Trace
from dwcp_ml.training.prepare import to_grid
from dwcp_ml.training.selection import SelectionError
from dwcp_ml.training.synthetic import SyntheticConfig

CONFIG = scaling.ScalingConfig.tiny()


@pytest.fixture(scope="module")
def traces() -> list[Trace]:
    return scaling.synthetic_cpu_mhz(SyntheticConfig(vms=3, days=7))


@pytest.fixture(scope="module")
def folds(traces) -> list[cv.TimeFold]:
    start, end = cv.span(traces)
    return cv.rolling_origin(start, end, 2, min_train=3 * cv.DAY, gap=6 * 3600)


@pytest.fixture(scope="module")
def parts(traces) -> scaling_tabular.Parts:
    out = []
    for t in traces:
        s = scaling.samples(CONFIG.params(), to_grid(CONFIG.params(), t), CONFIG.horizon)
        out.append((model_input(s.windows, CONFIG.input_spec()), s.labels))
    return out


@pytest.fixture(scope="module")
def board_dir(tmp_path_factory, traces, folds) -> Path:
    out = tmp_path_factory.mktemp("board")
    board.run(traces, folds, ["lightgbm", "linear"], out, tiny=True)
    return out


def test_tiny_run_writes_results_onnx_and_leaderboard(board_dir: Path) -> None:
    for name in ("lightgbm", "linear"):
        row = json.loads((board_dir / "results" / f"{name}.json").read_text())
        assert row["name"] == name and len(row["cv"]["folds"]) == 2
        assert row["verified_rows"] > 0 and row["max_abs_error_mhz"] <= row["atol_mhz"]
        assert row["onnx_bytes"] == (board_dir / "onnx" / f"{name}.onnx").stat().st_size
        assert row["p99_us"] >= row["p50_us"] > 0
        assert set(row["summary"]) >= {board.LOSS, "under_share", "capacity_vs_reactive",
                                       "folds_beating_reactive"}
    text = board.report(board_dir, "synthetic")
    assert text == (board_dir / "leaderboard.md").read_text()
    assert "**lightgbm**" in text and "**linear**" in text and "Winner" in text
    assert "of 2 |" in text  # folds beating reactive, out of the 2 folds


def test_shipped_candidate_is_the_shipped_pipeline(board_dir: Path, traces, folds) -> None:
    """lightgbm through the seam gives the very numbers of the plain cross-validation."""
    row = json.loads((board_dir / "results" / "lightgbm.json").read_text())
    plain = eval_scaling.cross_validate(traces, CONFIG, folds)  # tiny: n_jobs 1 already
    assert [f[board.LOSS] for f in row["cv"]["model"]] == pytest.approx(
        list(plain.values(board.LOSS)), nan_ok=True, rel=0, abs=0)
    assert [f["under"] for f in row["cv"]["model"]] == list(plain.values("under"))


def test_the_fitter_replaces_every_fit_of_train(traces) -> None:
    calls: list[int] = []

    def fit(config: scaling.ScalingConfig, parts: scaling_tabular.Parts
            ) -> scaling.Forecaster:
        calls.append(sum(len(y) for _, y in parts))
        return scaling.fit_lightgbm(config, parts)

    a = scaling.train(traces, CONFIG, fitter=fit)
    b = scaling.train(traces, CONFIG)
    assert len(calls) == CONFIG.calib_folds + 1  # each inner fold, then the final model
    assert a.rule == b.rule
    assert np.array_equal(a.predict(a.heldout_rows), b.predict(b.heldout_rows))


@pytest.mark.parametrize("name", ["xgboost", "forest", "linear", "mlp"])
def test_every_candidate_exports_and_verifies(name: str, parts) -> None:
    spec = board.candidates(tiny=True)[name].spec
    assert spec is not None
    model = scaling_tabular.fit(spec, parts, CONFIG.train_stride)
    d = CONFIG.input_spec().shape[1]
    onnx_bytes = onnx_candidates.scaling_candidate_onnx(model, d)
    rows = np.ascontiguousarray(parts[0][0][:300])
    loose = name in board.LOOSE_KINDS
    v = verify.verify(onnx_bytes, model.predict, rows,
                      atol=board.LOOSE_ATOL if loose else 1e-2,
                      rtol=board.LOOSE_RTOL if loose else 1e-5, label=name)
    assert v.rows == 300
    out = session(onnx_bytes).run(None, {"input": rows})[0]
    assert out.shape == (300, 1) and out.dtype == np.float32


def test_a_wrong_graph_fails_verification(parts) -> None:
    spec = board.candidates(tiny=True)["linear"].spec
    model = scaling_tabular.fit(spec, parts, CONFIG.train_stride)
    shifted = scaling_tabular.LinearForecaster(model.coef, model.intercept + 5.0)
    with pytest.raises(verify.ExportVerificationError, match="linear: ONNX differs"):
        verify.verify(onnx_candidates.scaling_linear_onnx(shifted), model.predict,
                      parts[0][0][:50], atol=board.LOOSE_ATOL, rtol=board.LOOSE_RTOL,
                      label="linear")


def test_unknown_candidate_is_refused_by_name(tmp_path: Path, traces, folds) -> None:
    with pytest.raises(SelectionError, match="unknown scaling candidates lstm; expected "
                                             "lightgbm, xgboost, forest, linear, mlp"):
        board.run(traces, folds, ["linear", "lstm"], tmp_path, tiny=True)
    assert not (tmp_path / "results" / "linear.json").exists()  # refused before any run
    with pytest.raises(SystemExit, match="unknown candidates nope"):
        board.main(["--out", str(tmp_path), "--candidates", "nope", "--train", "synthetic"])


def test_report_without_results_says_where_it_looked(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    with pytest.raises(SelectionError, match="no candidate results under"):
        board.report(tmp_path, "synthetic")


def test_bad_candidate_configurations_are_refused() -> None:
    with pytest.raises(CandidateError, match="dense candidate kind must be linear or mlp"):
        scaling_tabular.DenseConfig("lstm")
    with pytest.raises(CandidateError, match="exactly one of tree or dense"):
        scaling_tabular.ScalingCandidate(0.9)
    with pytest.raises(CandidateError, match="0 fitting and"):
        scaling_tabular.split([(np.zeros((0, 4), np.float32), np.zeros(0))], 2, 0.2)


def test_report_plots_policies_and_headroom_curves(tmp_path: Path, traces, folds) -> None:
    curves: list[eval_scaling.HeadroomCurve] = []
    result = eval_scaling.cross_validate(traces, CONFIG, folds, curves=curves)
    assert [c.fold for c in curves] == [0, 1]
    c = curves[0]
    assert len(c.headroom) == len(c.under_share) == len(c.capacity_vs_reactive)
    # capacity grows and under-provisioning falls along the headroom
    assert np.all(np.diff(c.capacity_vs_reactive) >= 0) and np.all(np.diff(c.under_share) <= 0)
    lines = eval_scaling.plot_lines(result, curves, tmp_path)
    for png in ("scaling_policies.png", "scaling_headroom.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"
        assert any(png in line for line in lines)
