"""The backtest (lifecycle/backtest.py) on 3 Bitbrains VMs, tiny configurations, 2 weeks:
one row per family and week with both scores, the decision and drift; report and plots."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from dwcp_ml.lifecycle import backtest
from dwcp_ml.training import data


def test_two_weeks_tiny(tmp_path: Path) -> None:
    try:
        data.data_dir()
    except data.DataNotFoundError as exc:  # the real traces are required, never skipped
        pytest.fail(str(exc))
    p = replace(backtest.PARAMS, data="bitbrains:months=2013-7,2013-8:vms=first:3",
                families=("scaling",), steps=backtest.PARAMS.steps[:2], tiny=True,
                latency_calls=100)
    r = backtest.backtest(p, tmp_path, track=False, log=lambda _: None)
    assert [(w.family, w.week) for w in r.weeks] == [
        ("scaling", "2013-08-01 .. 2013-08-08"), ("scaling", "2013-08-08 .. 2013-08-15")]
    for w in r.weeks:
        assert w.loss_name == "under_share_at_reactive_capacity"
        assert math.isfinite(w.frozen_loss) and math.isfinite(w.frozen_psi_max)
        assert w.promoted == (not w.reasons)
        # the line serves the frozen model until a promotion, so until then the scores agree
    first = r.weeks[0]
    if not first.promoted:
        assert first.retrained_loss == first.frozen_loss and first.champion == "frozen (July)"
    md = (tmp_path / "backtest.md").read_text()
    assert "| scaling | 2013-08-01 .. 2013-08-08 |" in md
    assert (tmp_path / "backtest_scaling.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "backtest.json").read_text())
    assert len(saved["weeks"]) == 2 and saved["params"]["window_s"] == 30 * 86400
