"""The link family: the generator (link_traces v1), training, the ONNX export against the
native model, the bundle's training_data (written, required for link, shown by verify) and
the rolling-origin evaluation on unseen links (tiny configurations)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dwcp_ml import cli, families
from dwcp_ml import feature_core as fc
from dwcp_ml.evaluation import link as evaluation
from dwcp_ml.evaluation.request import EvalRequest
from dwcp_ml.export import bundle, metadata, onnx_link
from dwcp_ml.spec import runtime
from dwcp_ml.training import link, link_traces, prepare
from dwcp_ml.training.selection import SelectionError, parse

SMALL = link_traces.LinkTraceConfig(links=4, days=5)


# ---------------------------------------------------------------- generator


def test_generator_is_seeded_per_link() -> None:
    a = link_traces.traces(SMALL)
    b = link_traces.traces(SMALL)
    assert [t.name for t in a] == [f"link_traces/s{SMALL.seed}/link{i}" for i in range(4)]
    for x, y in zip(a, b):
        assert np.array_equal(x.ts, y.ts) and np.array_equal(x.values, y.values)
    # a link does not depend on how many links are drawn; another seed gives other links
    more = link_traces.link_trace(replace(SMALL, links=9), 2)
    assert np.array_equal(more.values, a[2].values)
    other = link_traces.link_trace(replace(SMALL, seed=SMALL.seed + 1), 2)
    assert not np.array_equal(other.values[:100], a[2].values[:100])


def test_generator_channels_and_processes() -> None:
    config = replace(SMALL, links=6, days=7)
    for trace in link_traces.traces(config):
        v = trace.values
        assert v.shape[1] == len(fc.Schema.LINK.channels) and np.isfinite(v).all()
        assert (v >= 0).all() and (v[:, 2] <= 1).all()
        assert np.all(np.diff(trace.ts) >= 0)
        # jitter tied to load: more jitter where less bandwidth is available (load is high)
        bw, jitter = v[:, 0], v[:, 3]
        assert np.corrcoef(bw, jitter)[0, 1] < 0
        # loss bursts: the loss ratio reaches 1 % somewhere, its median stays below 0.1 %
        assert v[:, 2].max() > 0.01 and np.median(v[:, 2]) < 0.001
    # outages longer than fill_limit leave missing bins after the core's resampler
    params = link.LinkConfig().params()
    grids = [prepare.to_grid(params, t) for t in link_traces.traces(replace(config, days=14))]
    assert sum(int(g.missing.sum()) for g in grids) > 0


@pytest.mark.parametrize("field,value,words", [
    ("links", 0, "links=0 out of range"),
    ("days", 400, "days=400 out of range"),
    ("drop_rate", 1.0, "drop_rate=1.0: need < 1"),
    ("congestion_rate", float("nan"), "congestion_rate=nan"),
    ("capacity_mbps_log", (0.0, 10.0), "log-uniform range needs lo > 0"),
    ("base_util", (0.5, 0.1), "need 0 <= lo <= hi"),
    ("timestamp_jitter_seconds", 60, "timestamp_jitter_seconds=60 out of range"),
])
def test_generator_config_errors(field: str, value: object, words: str) -> None:
    with pytest.raises(link_traces.LinkTraceConfigError, match=words.replace("(", r"\(")
                       .replace(")", r"\)").replace(".", r"\.")):
        replace(SMALL, **{field: value})


# ---------------------------------------------------------------- training and export


@pytest.fixture(scope="module")
def trained() -> link.TrainedLink:
    return link.train(link_traces.traces(SMALL), link.LinkConfig.tiny())


def test_train_outputs_and_training_data(trained: link.TrainedLink) -> None:
    assert trained.params.schema is fc.Schema.LINK
    assert trained.training_data == {"kind": "synthetic", "generator": "link_traces v1",
                                     "seed": SMALL.seed, "links": SMALL.links}
    out = trained.predict(trained.holdout_x)
    assert out.shape == (len(trained.holdout_x), len(link.OUTPUT_COLUMNS))
    assert (out[:, 0] <= out[:, 1]).all() and (out[:, 1] <= out[:, 2]).all()
    assert (out >= 0).all() and (out[:, link.LOSS_COLUMN] <= 1).all()
    # split-conformal ends: each tail holds its nominal 10 % on the calibration split
    assert abs(trained.metrics["val_bandwidth_coverage"] - 0.8) < 0.02
    assert trained.model.bandwidth.offsets[1] == 0.0
    assert trained.metrics["interval_offset_lower"] == trained.model.bandwidth.offsets[0]
    assert trained.golden_values.shape[1:] == (trained.params.input_len, 4)
    assert trained.golden_names[-3:] == ["edge:constant", "edge:zeros", "edge:congestion"]


def test_training_data_of_other_traces() -> None:
    traces = link_traces.traces(SMALL)
    mixed = traces[:2] + link_traces.traces(replace(SMALL, seed=1, links=1))
    assert link.training_data(mixed) == {"kind": "real", "traces": 3}


def test_train_errors() -> None:
    with pytest.raises(link.LinkInputError, match="at least one link trace"):
        link.train([], link.LinkConfig.tiny())
    with pytest.raises(link.LinkInputError, match="quantiles must be increasing"):
        link.LinkConfig(quantiles=(0.5, 0.1, 0.9))
    short = link_traces.traces(replace(SMALL, links=1, days=1))
    short = [replace(short[0], ts=short[0].ts[:60], values=short[0].values[:60])]
    with pytest.raises(link.LinkInputError, match="window"):
        link.train(short, link.LinkConfig.tiny())


def test_export_matches_native(trained: link.TrainedLink) -> None:
    exported = onnx_link.export(trained)
    assert exported.inputs[0].shape == (None, trained.params.seq_len, 12)
    assert exported.outputs[0].shape == (None, 6)
    assert exported.verification.rows == len(trained.holdout_x)
    # ONNX Runtime vs native on every validation-like row, within the stated tolerance
    x = trained.holdout_x
    got = runtime.session(exported.onnx_bytes).run(None, {"input": x})[0]
    want = trained.predict(x)
    assert np.all(np.abs(got - want) <= onnx_link.ATOL + onnx_link.RTOL * np.abs(want))
    # a perturbed tree leaf is caught by verification
    import onnx

    proto = onnx.load_from_string(exported.onnx_bytes)
    tree = next(n for n in proto.graph.node if n.op_type == "TreeEnsembleRegressor")
    leaf = next(a for a in tree.attribute if a.name == "target_weights")
    leaf.floats[:] = [w + 0.5 for w in leaf.floats]
    from dwcp_ml.export.verify import ExportVerificationError, verify

    with pytest.raises(ExportVerificationError, match="link"):
        verify(proto.SerializeToString(), trained.predict, x, atol=onnx_link.ATOL,
               rtol=onnx_link.RTOL, label="link")


def test_bundle_training_data(trained: link.TrainedLink, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    exported = onnx_link.export(trained)
    written = bundle.write(tmp_path / "b", [exported], version="t1")
    entry = written.models["link"].entry
    assert entry["training_data"] == trained.training_data
    assert json.loads(metadata.metadata(written.models["link"].onnx_bytes)["training_data"]) \
        == trained.training_data
    (result,) = bundle.check_goldens(written)
    assert result.ok and "trained on synthetic data (link_traces v1" in result.detail
    assert written.models["link"].drift is not None
    assert cli.main(["verify", str(tmp_path / "b")]) == 0
    assert "trained on synthetic data" in capsys.readouterr().out
    # a link entry without training_data is refused by the schema, in Python as in Go
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    del manifest["models"][0]["training_data"]
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(bundle.BundleError) as err:
        bundle.load(tmp_path / "b")
    assert err.value.check == "manifest.schema" and "training_data" in str(err.value)


def test_family_registered() -> None:
    fam = families.FAMILIES["link"]
    assert fam.contract.schema == "link" and fam.contract.output_width == 6
    assert fam.contract.required_thresholds == ("quantile_lower", "quantile_point",
                                                "quantile_upper", "horizon_seconds")
    assert isinstance(fam.make_config(True), link.LinkConfig)
    assert [f.name for f in families.families(None)][-1] == "link"


# ---------------------------------------------------------------- evaluation


def test_cross_validation_on_unseen_links() -> None:
    train_links = replace(SMALL, days=7)
    test_links = replace(train_links, seed=train_links.seed + 1, links=2)
    folds = evaluation.cross_validate(2, link.LinkConfig.tiny(), train_links, test_links)
    assert len(folds) == 2 and all(f["windows"] > 0 for f in folds)
    assert folds[0]["origin"] < folds[1]["origin"] == folds[0]["end"]
    lines, figures = evaluation.table(folds)
    assert sum(line.startswith(("| bandwidth", "| latency", "| packet", "| jitter"))
               for line in lines) == 4
    for key in ("model.bandwidth_mbps.accuracy", "last_value.latency_ms.mae",
                "seasonal_naive.jitter_ms.accuracy", "model.bandwidth_coverage"):
        assert np.isfinite(figures["summary"][key]["mean"])


def test_evaluation_refuses_selections(tmp_path: Path) -> None:
    request = EvalRequest(data_root=tmp_path, out_dir=tmp_path / "out",
                          train=parse("bitbrains:months=2013-7:vms=first:2"))
    with pytest.raises(SelectionError, match="generated links"):
        evaluation.evaluate(request)
    with pytest.raises(SelectionError, match="less than a day"):
        evaluation.origins(30)


def test_evaluation_judges_a_bundle(trained: link.TrainedLink, tmp_path: Path) -> None:
    bundle.write(tmp_path / "b", [onnx_link.export(trained)], version="t1")
    request = EvalRequest(data_root=tmp_path, out_dir=tmp_path / "out", bundle=tmp_path / "b")
    markdown, figures = evaluation.evaluate(request)
    assert "judged as it is" in markdown and (tmp_path / "out" / "link_report.md").is_file()
    m = figures["metrics"]
    assert m["windows"] > 0 and 0.0 <= m["model.bandwidth_coverage"] <= 1.0
    assert figures["test_links"]["seed"] != link_traces.LinkTraceConfig().seed  # unseen links
