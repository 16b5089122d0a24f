"""PBA AutoML candidates (tiny configs, synthetic traces): every tree kind and the tabular
network cells export to ONNX that matches the native model; the leaderboard runs end to end."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dwcp_ml.evaluation import pba_board
from dwcp_ml.export import metadata, onnx_candidates, onnx_pba
from dwcp_ml.export.verify import verify
from dwcp_ml.spec.model import INPUT
from dwcp_ml.spec.runtime import session
from dwcp_ml.training import cv, pba, synthetic
from dwcp_ml.training.candidates import pba_tabular, quantile
from dwcp_ml.training.data import Trace

CONFIG = pba.PbaConfig.tiny()


@pytest.fixture(scope="module")
def traces() -> list[Trace]:
    return synthetic.traces(synthetic.SyntheticConfig(vms=2, days=4))


@pytest.mark.parametrize("kind", quantile.KINDS)
def test_tree_candidate_onnx_matches_native(traces: list[Trace], kind: str) -> None:
    m = pba_tabular.fit(traces, CONFIG, quantile.TreeConfig.tiny(kind))
    onnx_bytes = onnx_candidates.pba_tabular_onnx(m)
    metadata.check_rules(onnx_bytes, kind)
    v = verify(onnx_bytes, m.predict, m.holdout_x, atol=onnx_pba.ATOL, rtol=onnx_pba.RTOL,
               label=kind)
    assert v.rows == len(m.holdout_x) > 0
    got = session(onnx_bytes).run(None, {INPUT: m.holdout_x[:1]})[0]
    assert got.shape == (1, 3)  # dynamic batch, the PBA serving contract [N, T, F] -> [N, 3]
    p = m.predict(m.holdout_x)
    assert np.all(p >= 0) and np.all(p[:, 0] <= p[:, 1]) and np.all(p[:, 1] <= p[:, 2])


def test_forest_needs_validation_rows() -> None:
    x = np.zeros((10, 3), np.float32)
    with pytest.raises(quantile.CandidateError, match="validation rows"):
        quantile.fit(quantile.TreeConfig.tiny("forest"), x, np.zeros(10))
    with pytest.raises(quantile.CandidateError, match="kind must be one of"):
        quantile.TreeConfig("svm")


@pytest.mark.parametrize("cell", ["mlp", "linear"])
def test_tabular_cells_export_and_verify(traces: list[Trace], cell: str) -> None:
    trained = pba.train(traces, replace(CONFIG, cell=cell, layers=2, hidden=8, epochs=1))
    exported = onnx_pba.export(trained)  # raises unless ONNX matches torch
    assert exported.verification.rows > 0


def test_leaderboard_end_to_end(traces: list[Trace], tmp_path: Path) -> None:
    start, end = cv.span(traces)
    folds = cv.rolling_origin(start, end, 2, min_train=cv.DAY + cv.DAY // 2, gap=cv.DAY // 4)
    rows = pba_board.run(traces, folds, ["linear", "forest"], tmp_path, tiny=True)
    assert set(rows) == {"linear", "forest"}
    for r in rows.values():
        assert r["onnx_bytes"] > 0 and r["p99_us"] >= r["p50_us"] > 0
        assert len(r["cv"]["model"]) == 2
        assert (tmp_path / "onnx" / f"{r['name']}.onnx").is_file()
    text = pba_board.report(tmp_path, "synthetic")
    assert "| 1 | **" in text and "Winner on this cross-validation" in text
    assert (tmp_path / "leaderboard.md").read_text() == text
    with pytest.raises(Exception, match="unknown PBA candidates"):
        pba_board.run(traces, folds, ["svm"], tmp_path, tiny=True)
