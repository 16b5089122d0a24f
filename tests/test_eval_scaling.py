"""Scaling evaluation: cross_validate over rolling folds on tiny synthetic CPU traces, the
operating point never sees a fold's test part, evaluate() with --test and --bundle."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dwcp_ml.evaluation import scaling as eval_scaling
from dwcp_ml.evaluation.request import EvalRequest
from dwcp_ml.export import bundle, onnx_scaling
from dwcp_ml.training import cv, scaling
from dwcp_ml.training.data import Trace
from dwcp_ml.training.selection import SelectionError, parse
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
def result(traces, folds) -> cv.CvResult:
    return eval_scaling.cross_validate(traces, CONFIG, folds)


def test_cross_validate_gives_every_policy_per_fold(result, folds) -> None:
    assert result.loss == eval_scaling.LOSS
    assert result.folds == tuple(f.describe() for f in folds)
    assert set(result.baselines) == {"predictive", "hybrid", "reactive"}
    for k in range(len(folds)):
        shipped = result.model[k]
        reactive = result.baselines["reactive"][k]
        # All four on the same bins; the shipped rule is one of the two calibrated policies.
        assert {r[k]["bins"] for r in result.baselines.values()} == {shipped["bins"]}
        assert reactive["capacity_vs_reactive"] == 1.0
        twin = result.baselines["hybrid" if shipped["floor"] > 0 else "predictive"][k]
        assert (twin["headroom"], twin["under"]) == (shipped["headroom"], shipped["under"])
        assert result.baselines["predictive"][k]["floor"] == 0.0
        assert result.baselines["hybrid"][k]["floor"] in CONFIG.floor_grid
        assert shipped["beats_reactive"] == float(
            shipped["under"] < reactive["under"]
            and shipped["capacity_mhz_h"] <= reactive["capacity_mhz_h"])
        assert 0.0 <= shipped["coverage"] <= 1.0 and shipped["pinball"] > 0
        assert math.isnan(shipped[eval_scaling.LOSS]) or 0 <= shipped[eval_scaling.LOSS] <= 1
    table = result.table(eval_scaling.METRICS)
    assert table.count("\n") == 5 and "reactive" in table
    lines = eval_scaling.section("CV", result, CONFIG)
    assert any("Target" in line for line in lines)


def test_on_fold_gets_the_running_loss_and_its_exception_propagates(traces, folds) -> None:
    seen: list[tuple[int, float]] = []
    eval_scaling.cross_validate(traces, CONFIG, folds[:1], on_fold=lambda k, l: seen.append((k, l)))
    assert [k for k, _ in seen] == [0]

    class Stop(Exception):
        pass

    def stop(k: int, loss: float) -> None:
        raise Stop

    with pytest.raises(Stop):
        eval_scaling.cross_validate(traces, CONFIG, folds, on_fold=stop)
    with pytest.raises(cv.FoldError, match="TimeFolds"):
        eval_scaling.cross_validate(traces, CONFIG, cv.leave_groups_out(
            [t.name for t in traces], 3))


def test_the_operating_point_never_sees_the_test_part(traces, folds) -> None:
    """Same training part, a wildly different test part (demand x 3 with bursts after the
    fold's training end): the model and every calibrated number are identical, only the
    test scores move."""
    fold = folds[0]

    def changed(t: Trace) -> Trace:
        v = t.values.copy()
        after = t.ts >= fold.train_end
        v[after] *= 3.0
        v[after & (np.arange(len(v)) % 7 == 0)] += 20_000.0
        return Trace(t.name, t.ts, v)

    a = eval_scaling.cross_validate(traces, CONFIG, [fold])
    b = eval_scaling.cross_validate([changed(t) for t in traces], CONFIG, [fold])
    chosen = ("headroom", "floor", "calib_under_share", "calib_reactive_under_share",
              "calib_capacity_vs_reactive")
    for name in ("predictive", "hybrid"):
        for key in chosen:
            assert a.baselines[name][0][key] == b.baselines[name][0][key], (name, key)
    assert a.model[0]["under"] != b.model[0]["under"] or \
        a.model[0]["capacity_mhz_h"] != b.model[0]["capacity_mhz_h"]
    ta = scaling.train(cv.train_part(traces, fold), CONFIG)
    tb = scaling.train(cv.train_part([changed(t) for t in traces], fold), CONFIG)
    assert ta.model.booster_.model_to_string() == tb.model.booster_.model_to_string()
    assert ta.rule == tb.rule


def test_evaluate_cross_validates_and_tests(tmp_path: Path) -> None:
    request = EvalRequest(data_root=tmp_path, out_dir=tmp_path / "out",
                          train=parse("synthetic"), test=parse("synthetic"), n_folds=2)
    md, metrics = eval_scaling.evaluate(request, CONFIG)
    assert "**Trained on**: synthetic" in md and "**Tested on**: synthetic" in md
    assert "**Selected on**" in md and "Rolling origin (2 folds" in md
    assert "Test (trained on all of the training selection)" in md
    assert metrics["targets"]["per_fold_beats_reactive"].__len__() == 2
    assert (tmp_path / "out" / "scaling_report.md").read_text() == md
    assert (tmp_path / "out" / "scaling_metrics.json").exists()
    with pytest.raises(SelectionError, match="not VM data"):
        eval_scaling.evaluate(replace(request, train=parse("nab")), CONFIG)


def test_evaluate_judges_a_bundle_as_it_is(tmp_path: Path, traces) -> None:
    trained = scaling.train(traces, replace(CONFIG, policy="hybrid"))
    b = bundle.write(tmp_path / "b", [onnx_scaling.export(trained)], version="0.0.1-test")
    assert b.models["scaling"].thresholds["floor"] == trained.rule.floor > 0
    request = EvalRequest(data_root=tmp_path, out_dir=tmp_path / "out", train=parse("synthetic"),
                          bundle=tmp_path / "b")
    md, metrics = eval_scaling.evaluate(request, CONFIG)
    assert "a bundle judged as it is" in md and f"floor {trained.rule.floor:g}" in md
    row = metrics["result"]["model"][0]
    assert (row["headroom"], row["floor"]) == (trained.rule.headroom, trained.rule.floor)
    # The bundle's ONNX model through the same simulator as the native model gives the
    # same decisions (float32 ONNX outputs differ from LightGBM's doubles by < 0.01 MHz).
    judged = eval_scaling.load(parse("synthetic"), tmp_path)
    vms, _, _ = eval_scaling.sim_vms(judged, CONFIG, trained.predict)
    native = eval_scaling.judge(vms, CONFIG, {"x": trained.rule})["x"]
    assert abs(native["under"] - row["under"]) <= 2
