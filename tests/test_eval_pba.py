"""PBA evaluation: cross_validate over time and leave-VMs-out folds, evaluate() on a synthetic
selection (cross-validation, --test) and a bundle judged without training (tiny configs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dwcp_ml.evaluation import pba as eval_pba
from dwcp_ml.evaluation.request import EvalRequest
from dwcp_ml.training import cv, pba, synthetic
from dwcp_ml.training.baselines import NAMES as BASELINE_NAMES
from dwcp_ml.training.data import Trace
from dwcp_ml.training.selection import SelectionError, parse

CONFIG = pba.PbaConfig.tiny()
BUNDLE = Path(__file__).resolve().parents[1] / "golden" / "bundle"


@pytest.fixture(scope="module")
def traces() -> list[Trace]:
    return synthetic.traces(synthetic.SyntheticConfig(vms=3, days=5))


def test_cross_validate_rows_per_fold_for_model_and_every_baseline(traces: list[Trace]) -> None:
    start, end = cv.span(traces)
    time_folds = cv.rolling_origin(start, end, 2, min_train=2 * cv.DAY, gap=cv.DAY // 4)
    group_folds = cv.leave_groups_out([t.name for t in traces], 3)
    calls: list[tuple[int, float]] = []
    result = eval_pba.cross_validate(traces, CONFIG, [*time_folds, *group_folds],
                                     on_fold=lambda k, mean: calls.append((k, mean)))
    n = len(time_folds) + len(group_folds)
    assert result.loss == "wape" and len(result.folds) == len(result.model) == n
    assert set(result.baselines) == set(BASELINE_NAMES)
    assert all(len(rows) == n for rows in result.baselines.values())
    for metric in eval_pba.TABLE_METRICS:
        for method in ("model", *BASELINE_NAMES):
            assert len(result.values(metric, method)) == n
    # The gain is against the fold's best baseline: that one scores 0, no baseline beats it.
    for k in range(n):
        gains = [result.baselines[b][k]["wape_gain"] for b in BASELINE_NAMES]
        assert max(gains) == pytest.approx(0.0)
    assert [k for k, _ in calls] == [0, 1, 0, 1, 2]
    assert calls[-1][1] == pytest.approx(result.mean_loss())


def test_time_fold_origins_lie_in_the_test_range(traces: list[Trace]) -> None:
    start, end = cv.span(traces)
    fold = cv.rolling_origin(start, end, 2, min_train=2 * cv.DAY, gap=cv.DAY // 4)[0]
    params = CONFIG.params()
    test = cv.test_part(traces, fold, history=eval_pba.history_seconds(params, CONFIG.horizon))
    fs = eval_pba.forecasts(params, CONFIG.horizon, lambda x: x[:, -1, :3], test,
                            fold.test_start)
    assert len(fs) == len(traces)
    assert all(f.ts.min() >= fold.test_start and f.ts.max() < fold.test_end for f in fs)
    # The first origin has a day of history, so it is at most one bin after the range starts.
    assert min(f.ts.min() for f in fs) - fold.test_start <= 2 * params.step_seconds


def test_on_fold_exceptions_propagate(traces: list[Trace]) -> None:
    folds = cv.leave_groups_out([t.name for t in traces], 3)

    class Pruned(Exception):
        pass

    def prune(k: int, mean: float) -> None:
        raise Pruned

    with pytest.raises(Pruned):
        eval_pba.cross_validate(traces, CONFIG, folds, on_fold=prune)


def test_evaluate_synthetic_cross_validation_and_test(tmp_path: Path) -> None:
    request = EvalRequest(tmp_path, tmp_path / "out", train=parse("synthetic"),
                          test=parse("synthetic"), n_folds=2)
    md, metrics = eval_pba.evaluate(request, CONFIG)
    assert (tmp_path / "out" / "pba_report.md").read_text() == md
    saved = json.loads((tmp_path / "out" / "pba_metrics.json").read_text())
    assert saved["train"] == "synthetic" and saved["test"] == "synthetic"
    assert len(saved["rolling_origin"]["model"]) == 2 and len(saved["leave_vms_out"]["model"]) == 2
    assert "**Trained on**: synthetic" in md and "**Tested on**: synthetic" in md
    assert "**Selected on**" in md and "Rolling origin (2 folds" in md and "Leave VMs out" in md
    assert "overlap their training samples" in md  # train and test are the same data here
    for name in BASELINE_NAMES:
        assert f"| {name} |" in md
    assert metrics["rolling_origin_targets"]["folds"] == 2
    assert (tmp_path / "out" / "pba.onnx").stat().st_size > 0


def test_evaluate_bundle_judges_without_training(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the bundle path must not train")

    monkeypatch.setattr(pba, "train", no_training)
    request = EvalRequest(tmp_path, tmp_path / "b", test=parse("synthetic"), bundle=BUNDLE)
    md, metrics = eval_pba.evaluate(request)
    assert "judged as it is" in md and "not retrained" in md and str(BUNDLE) in md
    assert metrics["test"] == "synthetic"
    model = metrics["result"]["model"][0]
    assert model["origins"] > 0 and 0.0 < model["covered"] <= 1.0


def test_non_vm_selection_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SelectionError, match="not VM data"):
        eval_pba.evaluate(EvalRequest(tmp_path, tmp_path / "o", train=parse("nab")), CONFIG)
