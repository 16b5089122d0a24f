"""The task-partitioning simulator (training/partition_sim.py) and its evaluation
(evaluation/partition.py): transfer arithmetic, knobs, policies, statistics, report."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dwcp_ml.evaluation import partition as ep
from dwcp_ml.evaluation.request import EvalRequest
from dwcp_ml.training import link
from dwcp_ml.training import partition_sim as ps
from dwcp_ml.training.link_traces import LinkTraceConfig
from dwcp_ml.training.selection import Selection


def _stream(rates: list[float]) -> ps.Stream:
    ts = np.arange(0, 60 * len(rates), 60, dtype=np.int64)
    return ps.Stream(None, ts, np.asarray(rates, np.float64))  # type: ignore[arg-type]


def test_finish_seconds_constant_and_changing_rates() -> None:
    s = _stream([8.0] * 10)  # 8 Mbit/s = 1e6 bytes/s
    assert ps.finish_seconds(s, 0, 0) == 0.0
    assert ps.finish_seconds(s, 0, 1_000_000) == pytest.approx(1.0)
    assert ps.finish_seconds(s, 0, 90_000_000) == pytest.approx(90.0)
    assert ps.finish_seconds(s, 60, 1_500_000) == pytest.approx(1.5)
    assert ps.finish_seconds(s, 30, 45_000_000) == pytest.approx(45.0)  # mid-minute start
    # beyond the trace: the last hour's mean rate continues
    assert ps.finish_seconds(s, 0, 700_000_000) == pytest.approx(700.0)
    # 60 s at 8 Mbit/s (60e6 bytes) then 16 Mbit/s (2e6 bytes/s)
    s2 = _stream([8.0, 16.0, 16.0])
    assert ps.finish_seconds(s2, 0, 80_000_000) == pytest.approx(70.0)
    assert ps.finish_seconds(_stream([0.0] * 3), 0, 1) == float("inf")


def test_config_knobs_and_refusals() -> None:
    sim = ps.PartitionSimConfig()
    base = LinkTraceConfig()
    c = sim.links(16.0, 2.0, 3)
    assert c.capacity_mbps_log == (250.0, 4000.0)
    assert c.util_noise_sd == 2 * base.util_noise_sd
    assert c.congestion_rate == 2 * base.congestion_rate
    assert c.route_change_rate == 2 * base.route_change_rate
    assert c.bandwidth_noise_sd == base.bandwidth_noise_sd  # measurement noise is not a knob
    assert c.seed == sim.eval_seed_base + 3 and c.links == sim.streams
    assert sim.links(1.0, 1.0, 0).capacity_mbps_log == (1000.0, 1000.0)
    # evaluation seeds never meet the link model's training or test seeds
    seeds = {sim.eval_seed_base + k for k in range(sim.seeds)}
    assert not seeds & {base.seed, 20261205, 20261206}
    for bad in (dict(seeds=1), dict(heterogeneity=(0.5,)), dict(tasks=40),
                dict(duration_seconds_log=(0.0, 1.0)), dict(streams=0)):
        with pytest.raises(ps.PartitionSimError):
            replace(sim, **bad)


@pytest.fixture(scope="module")
def tiny_model() -> link.TrainedLink:
    return ep.train_link_model(link.LinkConfig.tiny(), LinkTraceConfig(links=4, days=3))


def test_run_cell_policies(tiny_model: link.TrainedLink) -> None:
    sim = ps.PartitionSimConfig.tiny()
    results, skipped = ps.run_cell(tiny_model.params, tiny_model.predict, sim, 16.0, 1.0, 0)
    assert len(results) + skipped == sim.tasks and results
    for r in results:
        assert set(r.seconds) == {*ps.POLICIES, *ps.REFERENCES}
        assert all(np.isfinite(t) and t > 0 for t in r.seconds.values())
    # the same seed gives the same tasks and times (seeded end to end)
    again, _ = ps.run_cell(tiny_model.params, tiny_model.predict, sim, 16.0, 1.0, 0)
    assert [r.seconds for r in again] == [r.seconds for r in results]


def test_proportional_split_beats_equal_split_on_skewed_streams() -> None:
    """A sanity check of the arithmetic with a perfect constant forecast: on streams of 10
    and 90 Mbit/s the proportional split finishes together, the equal split waits for the
    slow stream."""
    from dwcp_ml import feature_core as fc

    streams = [_stream([10.0] * 100), _stream([90.0] * 100)]
    size = 100_000_000
    prop = fc.partition_chunks([10.0, 90.0], size).chunks
    equal = fc.partition_chunks([1.0, 1.0], size).chunks
    t_prop = max(ps.finish_seconds(s, 0, int(c)) for s, c in zip(streams, prop))
    t_equal = max(ps.finish_seconds(s, 0, int(c)) for s, c in zip(streams, equal))
    assert t_prop == pytest.approx(size * 8 / 100e6, rel=1e-6)
    assert t_equal == pytest.approx(size / 2 * 8 / 10e6, rel=1e-6)


def test_interval_and_verdicts() -> None:
    iv = ep.interval(np.log(np.array([1.1, 1.2, 1.15, 1.12, 1.18])))
    assert iv.lo > 1.0 and iv.verdict == "faster"
    assert ep.interval(np.log(np.array([0.9, 0.92, 0.88]))).verdict == "slower"
    assert ep.interval(np.log(np.array([0.9, 1.1, 1.0, 0.95]))).verdict == "no difference shown"


def test_evaluate_writes_report(tmp_path: Path) -> None:
    sim = ps.PartitionSimConfig.tiny()
    lines, metrics = ep.run(tmp_path, link.LinkConfig.tiny(), LinkTraceConfig(links=4, days=3),
                            sim)
    assert (tmp_path / ep.PLOT).stat().st_size > 0
    assert len(metrics["cells"]) == len(sim.heterogeneity) * len(sim.volatility)
    text = "\n".join(lines)
    assert "speed-up vs equal split" in text and "vs last_value:" in text
    for c in metrics["cells"]:
        for b in ep.BASELINES:
            s = c["speedup"][b]
            assert s["lo"] <= s["mean"] <= s["hi"]


def test_itp_section_ignores_itp_selections(tmp_path: Path) -> None:
    req = EvalRequest(data_root=tmp_path, out_dir=tmp_path, train=Selection("bitbrains"))
    lines, metrics = ep.itp_section(req, ps.PartitionSimConfig.tiny(), link.LinkConfig.tiny())
    assert lines[0].startswith("## Task partitioning")
    assert (tmp_path / "partition_report.md").exists() and metrics["cells"]


def test_evaluate_refuses_real_selections(tmp_path: Path) -> None:
    for req in (EvalRequest(data_root=tmp_path, out_dir=tmp_path, bundle=tmp_path),
                EvalRequest(data_root=tmp_path, out_dir=tmp_path, train=Selection("bitbrains"))):
        with pytest.raises(ps.PartitionSimError, match="generated links only"):
            ep.evaluate(req)


def test_diagnosis_helpers(tiny_model: link.TrainedLink) -> None:
    sim = ps.PartitionSimConfig.tiny()
    acc = ep.forecast_accuracy(tiny_model, sim, 16.0, 1.0, 2)
    assert set(acc) == {f"{n}_{k}" for n in ("model", "last_value")
                        for k in ("1_minus_wape", "share_error", "over_truth")}
    assert 0.0 <= acc["last_value_share_error"] <= 2.0
    q = ep.lower_quantile_split(tiny_model, sim, 16.0, 1.0)
    assert all(iv.lo <= iv.mean <= iv.hi for iv in q.values())
