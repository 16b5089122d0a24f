"""The bundle: written, loaded back, and refused with a specific message when anything in it
was changed or was made for other features or another ONNX Runtime."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from dwcp_ml import feature_core as fc
from dwcp_ml.export import bundle, metadata
from dwcp_ml.spec.model import INPUT, OPSET, OUTPUT, ExportedModel, TensorSpec, Verification
from dwcp_ml.training.data import Trace, traces_digest

PARAMS = fc.Params(schema=fc.Schema.METRIC, seq_len=1, stat_window=4)
FEATURES = PARAMS.n_features


def sum_model(*, output: str = OUTPUT, batch: str | int = "N", opset: int = OPSET) -> bytes:
    """output = sum of the features of each row: a real graph, small enough to reason about."""
    x = helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [batch, FEATURES])
    y = helper.make_tensor_value_info(output, TensorProto.FLOAT, [batch, 1])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    node = helper.make_node("ReduceSum", [INPUT, "axes"], [output], keepdims=1)
    graph = helper.make_graph([node], "sum", [x], [y], initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    return model.SerializeToString()


def exported(name: str = "toy") -> ExportedModel:
    rng = np.random.default_rng(5)
    n_rows, length = 3, PARAMS.input_len
    ts = 1372636800 + 300 * (np.arange(length, dtype=np.int64)[None, :] + 10 * np.arange(n_rows)[:, None])
    values = rng.gamma(2.0, 10.0, (n_rows, length, 1))
    return ExportedModel(
        name=name, family="anomaly", version="1", onnx_bytes=sum_model(),
        inputs=[TensorSpec(INPUT, (None, FEATURES))], outputs=[TensorSpec(OUTPUT, (None, 1))],
        feature_params=PARAMS, verification=Verification(3, 0.0, 0.0, 1e-6, 0.0),
        golden_ts=ts, golden_values=values,
        training_data_digest=traces_digest([Trace(name, ts[0], values[0])]),
        thresholds={"score": 0.15},
    )


@pytest.fixture()
def written(tmp_path: Path) -> bundle.Bundle:
    return bundle.write(tmp_path / "b", [exported()], version="test-1")


def edit_manifest(path: Path, change) -> None:  # noqa: ANN001
    manifest = json.loads((path / bundle.MANIFEST).read_text())
    change(manifest)
    (path / bundle.MANIFEST).write_text(json.dumps(manifest))


def test_round_trip_and_goldens(written: bundle.Bundle) -> None:
    loaded = bundle.load(written.path)
    model = loaded.models["toy"]
    assert model.params == replace(PARAMS, center=(0.0,) * FEATURES, scale=(1.0,) * FEATURES)
    assert model.thresholds == {"score": 0.15}
    stamped = metadata.metadata(model.path.read_bytes())
    assert stamped["schema_hash"] == f"{fc.Schema.METRIC.hash:016x}"
    assert stamped["feature_core_version"] == fc.VERSION
    assert [(r.model, r.ok) for r in bundle.check_goldens(loaded)] == [("toy", True)]


def test_tampered_onnx_is_refused(written: bundle.Bundle) -> None:
    path = written.path / "toy.onnx"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(bundle.CorruptBundleError, match="toy.onnx: sha256 .* does not match") as err:
        bundle.load(written.path)
    assert err.value.check == "files.sha256"


def test_truncated_and_missing_files(written: bundle.Bundle) -> None:
    path = written.path / "toy.onnx"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(bundle.CorruptBundleError, match="changed or truncated"):
        bundle.load(written.path)
    path.unlink()
    with pytest.raises(bundle.CorruptBundleError, match="files.regular: toy.onnx is missing"):
        bundle.load(written.path)


@pytest.mark.parametrize(
    "change,error,words",
    [
        (lambda m: m["models"][0].update(schema_hash="0000000000000000"), bundle.MismatchError,
         "feature schema hash 0000000000000000"),
        (lambda m: m.update(feature_core_version="0.9.0"), bundle.MismatchError,
         "feature core 0.9.0"),
        (lambda m: m.update(onnxruntime_version="1.20.0"), bundle.MismatchError,
         "ONNX Runtime 1.20.0"),
        (lambda m: m["models"][0]["feature_params"].update(schema="gpu"),
         bundle.CorruptBundleError, "manifest.schema: models\\[0\\].feature_params.schema: 'gpu'"),
        (lambda m: m["models"][0].pop("sha256"), bundle.CorruptBundleError,
         "manifest.schema: models\\[0\\]: 'sha256' is a required property"),
        (lambda m: m.update(format="other/1"), bundle.CorruptBundleError,
         "manifest.schema: format: 'dwcp-ml-bundle/1' was expected"),
    ],
)
def test_manifest_mismatches(written: bundle.Bundle, change, error: type, words: str) -> None:  # noqa: ANN001
    edit_manifest(written.path, change)
    with pytest.raises(error, match=words):
        bundle.load(written.path)


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(bundle.CorruptBundleError, match="manifest.read: manifest.json is missing"):
        bundle.load(tmp_path)
    (tmp_path / bundle.MANIFEST).write_text("{not json")
    with pytest.raises(bundle.CorruptBundleError, match="manifest.json: not valid JSON"):
        bundle.load(tmp_path)


def test_golden_drift_is_reported_with_bits(written: bundle.Bundle) -> None:
    golden_path = written.path / "golden" / "toy.json"
    golden = json.loads(golden_path.read_text())
    out = bytearray.fromhex(golden["output"]["float32"])
    out[3] ^= 1  # last bit of the first output
    golden["output"]["float32"] = out.hex()
    golden_path.write_text(json.dumps(golden))
    edit_manifest(written.path, lambda m: m["models"][0].update(
        golden_sha256=bundle._sha256(golden_path.read_bytes())))
    (result,) = bundle.check_goldens(bundle.load(written.path))
    assert not result.ok
    assert result.detail.startswith("output[0]: golden 0x") and "1 values differ" in result.detail


def test_refuses_non_empty_directory_and_duplicate_names(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("")
    with pytest.raises(bundle.BundleError, match="not empty"):
        bundle.write(tmp_path, [exported()], version="v")
    with pytest.raises(bundle.BundleError, match="names repeat"):
        bundle.write(tmp_path / "new", [exported(), exported()], version="v")


@pytest.mark.parametrize(
    "graph,words",
    [
        (lambda: sum_model(output="scores"), "outputs are \\['scores'\\]"),
        (lambda: sum_model(batch=1), "no dynamic batch axis"),
        (lambda: sum_model(opset=17), "opset 17, expected 18"),
    ],
)
def test_export_rules(graph, words: str) -> None:  # noqa: ANN001
    with pytest.raises(metadata.ExportRuleError, match=words):
        metadata.check_rules(graph(), "toy")


def test_zipmap_is_refused() -> None:
    proto = onnx.load_from_string(sum_model())
    proto.opset_import.append(helper.make_opsetid("ai.onnx.ml", 3))
    proto.graph.node.append(helper.make_node("ZipMap", [OUTPUT], ["probabilities"], name="zm",
                                             domain="ai.onnx.ml", classlabels_int64s=[0]))
    with pytest.raises(metadata.ExportRuleError, match="ZipMap nodes \\['zm'\\]"):
        metadata.check_rules(proto.SerializeToString(), "toy")


def test_cli_verify(written: bundle.Bundle, capsys: pytest.CaptureFixture[str]) -> None:
    from dwcp_ml import cli

    assert cli.main(["verify", str(written.path)]) == 0
    assert capsys.readouterr().out.startswith("toy          match  3 rows match bit for bit")
    assert cli.main(["verify", "--json", str(written.path)]) == 0
    assert json.loads(capsys.readouterr().out)["models"][0]["ok"] is True
    (written.path / "toy.onnx").write_bytes(b"broken")
    assert cli.main(["verify", str(written.path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dwcp-ml: error: {written.path}: check files.sha256: toy.onnx: sha256")
    assert err.count("\n") == 1


def test_traces_digest_names_the_exact_training_data() -> None:
    ts = np.arange(4, dtype=np.int64)
    values = np.ones((4, 1))
    base = traces_digest([Trace("a", ts, values), Trace("b", ts, values)])
    assert base == traces_digest([Trace("a", ts.copy(), values.copy()),
                                  Trace("b", ts, values)])
    assert base.startswith("sha256:")
    changed = values.copy()
    changed[3, 0] = np.nextafter(1.0, 2.0)
    assert base != traces_digest([Trace("a", ts, values), Trace("b", ts, changed)])
    assert base != traces_digest([Trace("b", ts, values), Trace("a", ts, values)])
