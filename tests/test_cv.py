"""The one splitter: folds in time order with a gap, disjoint groups, stable orders."""

from __future__ import annotations

import numpy as np
import pytest

from dwcp_ml.training import cv
from dwcp_ml.training.data import Trace

DAY = cv.DAY


def test_rolling_origin_expands_with_a_gap_and_disjoint_tests() -> None:
    folds = cv.rolling_origin(0, 62 * DAY, n_folds=5, min_train=14 * DAY, gap=DAY)
    assert len(folds) == 5
    for a, b in zip(folds, folds[1:]):
        assert b.train_end > a.train_end and b.test_start >= a.test_end
    for f in folds:
        assert f.train_start == 0 and f.test_start - f.train_end == DAY
        assert f.test_end <= 62 * DAY
    assert folds[-1].test_end - folds[0].test_start == 5 * (folds[0].test_end - folds[0].test_start)


def test_rolling_origin_refuses_too_short_a_range() -> None:
    with pytest.raises(cv.FoldError, match="cannot hold 5 folds of 14 training days"):
        cv.rolling_origin(0, 15 * DAY, n_folds=5)


def test_leave_groups_out_partitions_and_is_stable() -> None:
    names = [str(v) for v in range(23)]
    folds = cv.leave_groups_out(names, 5, seed=3)
    tests = [set(f.test) for f in folds]
    assert set().union(*tests) == set(names) and sum(map(len, tests)) == 23
    assert {len(t) for t in tests} <= {4, 5}
    for f in folds:
        assert not set(f.train) & set(f.test) and len(f.train) + len(f.test) == 23
    assert cv.leave_groups_out(list(reversed(names)), 5, seed=3) == folds
    assert cv.leave_groups_out(names, 5, seed=4) != folds


def test_leave_series_out_defaults_to_one_series_per_fold() -> None:
    folds = cv.leave_series_out(["a", "b", "c"])
    assert sorted(f.test for f in folds) == [("a",), ("b",), ("c",)]
    with pytest.raises(cv.FoldError, match="1 distinct names cannot form"):
        cv.leave_series_out(["a"])


def test_slices_keep_the_fold_ranges() -> None:
    ts = np.arange(0, 30 * DAY, 300, dtype=np.int64)
    trace = Trace("vm1", ts, np.ones((len(ts), 2)))
    fold = cv.rolling_origin(*cv.span([trace]), n_folds=2, min_train=10 * DAY)[1]
    (train,) = cv.train_part([trace], fold)
    (test,) = cv.test_part([trace], fold, history=3600)
    assert train.ts[-1] < fold.train_end and train.ts[0] == 0
    assert 0 <= test.ts[0] - (fold.test_start - 3600) < 300 and test.ts[-1] < fold.test_end
    with pytest.raises(cv.FoldError, match="no trace named vm2"):
        cv.pick([trace], ["vm2"])


def test_cv_result_mean_spread_and_table() -> None:
    res = cv.CvResult("wape", ("f0", "f1"), ({"wape": 0.2}, {"wape": 0.4}),
                      {"last": ({"wape": 0.3}, {"wape": 0.5})})
    assert res.mean_loss() == pytest.approx(0.3)
    mean, sd = res.mean_std("wape", "last")
    assert (mean, sd) == (pytest.approx(0.4), pytest.approx(0.1414213562))
    assert "| last | 0.400 +- 0.141 |" in res.table(["wape"])
    with pytest.raises(ValueError, match="one row of metrics per fold"):
        cv.CvResult("wape", ("f0",), ({"wape": 0.2}, {"wape": 0.4}), {})
