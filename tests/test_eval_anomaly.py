"""Leave-series-out cross-validation of the anomaly detectors: one row per fold, thresholds
chosen on the training series only, the nested choice of configuration, evaluate()."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dwcp_ml.evaluation import anomaly as ea
from dwcp_ml.evaluation.request import EvalRequest
from dwcp_ml.export import go_latency
from dwcp_ml.training import anomaly, cv
from dwcp_ml.training.data import Trace
from dwcp_ml.training.selection import SelectionError, parse

T0 = 1_400_000_000
STEP = 300


def _series(name: str, seed: int, spikes: list[int], n: int = 2400, noise: float = 1.0,
            height: float = 15.0) -> tuple[Trace, list[tuple[int, int]]]:
    """A level-10 noisy 5-minute series with spikes of ``height`` at the given indexes, each
    inside a labelled window of +- 2 hours."""
    rng = np.random.default_rng(seed)
    ts = T0 + STEP * np.arange(n, dtype=np.int64)
    values = 10.0 + noise * rng.standard_normal(n)
    for i in spikes:
        values[i] += height
    windows = [(int(ts[i] - 7200), int(ts[i] + 7200)) for i in spikes]
    return Trace(name, ts, np.clip(values, 0, None)[:, None]), windows


@pytest.fixture(scope="module")
def synthetic() -> tuple[list[Trace], dict[str, list[tuple[int, int]]]]:
    made = [_series(f"syn/s{k}.csv", k, [900 + 200 * k, 1800 + 100 * k]) for k in range(4)]
    return [t for t, _ in made], {t.name: w for t, w in made}


ZSCORE = anomaly.AnomalyConfig(detector="zscore", stat_window=24)


def test_cross_validate_shipped_one_row_per_fold() -> None:
    traces = anomaly.shipped_traces()
    folds = cv.leave_series_out([t.name for t in traces])
    seen: list[tuple[int, float]] = []
    cfg = dataclasses.replace(anomaly.AnomalyConfig.tiny(), detector="residual", seq_len=4)
    result = ea.cross_validate(traces, cfg, folds, on_fold=lambda k, m: seen.append((k, m)))
    assert len(result.folds) == len(result.model) == len(folds) == 3
    assert set(result.baselines) == {ea.BASELINE_NAME}
    assert len(result.baselines[ea.BASELINE_NAME]) == 3
    for row in (*result.model, *result.baselines[ea.BASELINE_NAME]):
        assert 0.0 <= row["f1"] <= 1.0 and row["false_alarms_per_day"] >= 0.0
        assert row["loss"] == pytest.approx(
            1 - row["f1"] + max(0.0, row["false_alarms_per_day"] - ea.FA_BUDGET))
        assert -0.5 < row["threshold"] < 0.5
    assert [k for k, _ in seen] == [0, 1, 2]
    assert seen[-1][1] == pytest.approx(result.mean_loss())
    assert "rolling_zscore" in result.table(["f1", "loss"])


def test_fold_threshold_never_looks_at_the_held_out_series(synthetic) -> None:
    traces, labels = synthetic
    folds = cv.leave_series_out([t.name for t in traces])
    base = ea.cross_validate(traces, ZSCORE, folds, labels=labels)
    held = folds[0].test[0]
    # Change the held-out series completely: other noise, small spikes, other labels.
    subtle, windows = _series(held, 99, [700, 1300, 1900], height=4.0)
    changed = [subtle if t.name == held else t for t in traces]
    other_labels = dict(labels, **{held: windows})
    again = ea.cross_validate(changed, ZSCORE, folds, labels=other_labels)
    assert again.model[0]["threshold"] == base.model[0]["threshold"]
    assert (again.baselines[ea.BASELINE_NAME][0]["threshold"]
            == base.baselines[ea.BASELINE_NAME][0]["threshold"])
    assert again.model[0]["windows"] == 3 != base.model[0]["windows"]
    # Had the fold looked at it, the small spikes would have pulled the threshold down.
    peeking, _ = ea.select(changed, [ZSCORE], other_labels)
    assert peeking.threshold < again.model[0]["threshold"]


def test_threshold_choice_respects_the_false_alarm_budget(synthetic) -> None:
    traces, labels = synthetic
    sets = [ea.score_series(t, labels[t.name], ZSCORE) for t in traces]
    th = ea.choose_threshold(sets)
    total = ea._total(s.counts(th) for s in sets)
    assert total.false_alarms_per_day <= ea.FA_BUDGET
    assert total.recall > 0.5  # the spikes are obvious
    strict = ea.choose_threshold(sets, budget=0.0)
    assert ea._total(s.counts(strict) for s in sets).false_events == 0
    assert strict >= th


def test_nested_selection_chooses_inside_folds(synthetic) -> None:
    traces, labels = synthetic
    folds = cv.leave_series_out([t.name for t in traces], n_folds=2)
    grid = [dataclasses.replace(ZSCORE, stat_window=w) for w in (6, 24)]
    out = ea._cv(traces, {"zscore": grid}, folds, None, False, labels)["zscore"]
    assert len(out.chosen) == 2 and all(c in grid for c in out.chosen)
    for row, c in zip(out.result.model, out.chosen):
        assert grid[int(row["config_index"])] == c
    chosen, loss = ea.select(traces, grid, labels)
    assert chosen.threshold is not None and chosen.stat_window in (6, 24) and loss >= 0.0


TINY_CANDIDATES = {
    "breakout": (anomaly.AnomalyConfig(detector="breakout", stat_window=288, threshold=None),),
    "zscore": (anomaly.AnomalyConfig(detector="zscore", stat_window=24, threshold=None),),
}


def test_evaluate_reports_train_test_and_selection(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(go_latency, "one_row_latency_us",
                        lambda path, shape, calls: (1.0, 2.0, "stub"))
    names = [t.name for t in anomaly.shipped_traces()]
    req = EvalRequest(data_root=ea.SHIPPED_ROOT, out_dir=tmp_path, n_folds=3,
                      train=parse("nab:series=" + ",".join(names[:2])),
                      test=parse("nab:series=" + names[2]))
    md, metrics = ea.evaluate(req, TINY_CANDIDATES)
    for text in ("**Trained on**: nab; 2 series", "**Tested on**: nab; 1 series",
                 "**Selected on**", "## Leaderboard (2 leave-series-out folds",
                 "| rolling_zscore |", "## Test: nab; 1 series", "Targets"):
        assert text in md, text
    assert metrics["winner"] in TINY_CANDIDATES
    assert (tmp_path / "anomaly_report.md").read_text() == md
    assert (tmp_path / "anomaly_nab_example.png").stat().st_size > 0
    final = metrics["candidates"]["breakout"]["final"]
    assert -0.5 < final["threshold"] < 0.5
    assert metrics["test"]["overlap"] == []


def test_evaluate_judges_a_bundle_as_it_is(tmp_path) -> None:
    from dwcp_ml.export import bundle, onnx_anomaly

    traces = anomaly.shipped_traces()
    cfg = anomaly.AnomalyConfig(detector="breakout", stat_window=288, threshold=-0.3)
    written = bundle.write(tmp_path / "b", [onnx_anomaly.export(anomaly.train(traces, cfg))],
                           "t")
    req = EvalRequest(data_root=ea.SHIPPED_ROOT, out_dir=tmp_path / "out",
                      bundle=written.path, test=parse("nab:series=" + traces[0].name))
    md, metrics = ea.evaluate(req)
    assert "a bundle judged as it is" in md and "threshold -0.3000 from its manifest" in md
    assert "chosen on 2 other series" in md
    assert metrics["threshold"] == -0.3 and metrics["model"]["windows"] >= 1
    with pytest.raises(SelectionError, match="labelled NAB"):
        ea.evaluate(dataclasses.replace(req, test=parse("synthetic")))
