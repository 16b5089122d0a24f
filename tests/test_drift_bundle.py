"""Drift references in the bundle (drift/<model>.json) and the drift report: the committed
bundle carries one per model whose bits the training data reproduces, the drift.read check
refuses each malformed file, the golden proof recomputes live counts, PSI and KS bit for
bit, a bundle without references stays valid, and the report reads the thresholds."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dwcp_ml import families
from dwcp_ml import feature_core as fc
from dwcp_ml.export import bundle
from dwcp_ml.export.golden_checks import hex64
from dwcp_ml.lifecycle import drift
from dwcp_ml.spec.model import ExportedModel, Verification

REPO = Path(__file__).resolve().parents[1]
BASE = REPO / "golden" / "bundle"
MODELS = ("anomaly", "itp", "itp_gb", "link", "pba", "scaling")


@pytest.fixture(scope="module")
def base() -> bundle.Bundle:
    return bundle.load(BASE)


def _traces(family: str) -> list[Any]:
    return families.FAMILIES[family].traces(families.Source())


def test_committed_bundle_carries_a_reference_per_model(base: bundle.Bundle) -> None:
    assert sorted(base.models) == list(MODELS)
    for m in base.models.values():
        assert m.drift is not None, (f"{m.name} has no drift reference: after regenerating "
                                     "golden/bundle run python -m dwcp_ml.lifecycle.drift "
                                     "attach golden/bundle")
        assert m.entry["drift"] == f"drift/{m.name}.json"
        doc = m.drift.doc
        assert doc["drift_version"] == fc.DRIFT_VERSION
        assert doc["bins"]["n_bins"] == fc.DRIFT_DEFAULT_BINS
        assert m.drift.epsilon == fc.DRIFT_DEFAULT_EPSILON
        assert doc["sample"]["training_data_digest"] == m.entry["training_data_digest"]
        assert 0 < m.drift.rows <= bundle.DRIFT_MAX_ROWS
    # a masked feature is constant in the sample: recorded with its value, not dropped
    day = base.models["anomaly"].drift.columns[2]
    assert (day.name, day.edges, day.value) == ("day_of_week", None, 0.0)
    # pba: the 14 vm features of the newest step, then its three output quantiles
    names = [c.name for c in base.models["pba"].drift.columns]
    assert names == list(fc.Schema.VM.features) + ["output[0]", "output[1]", "output[2]"]
    assert len(base.models["itp"].drift.columns) == len(fc.PLACEMENT_FACTORS) + 1


def test_golden_proof_holds_bit_for_bit(base: bundle.Bundle) -> None:
    assert bundle.check_drift_goldens(base) == dict.fromkeys(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_training_data_reproduces_the_reference_bits(base: bundle.Bundle, name: str) -> None:
    m = base.models[name]
    doc = drift.reference(m, _traces(m.family))
    assert bundle.drift_bytes(doc) == (BASE / "drift" / f"{name}.json").read_bytes()


def test_other_data_is_refused(base: bundle.Bundle) -> None:
    with pytest.raises(drift.DriftError, match="the model was trained on sha256:3a7c05"):
        drift.reference(base.models["pba"], _traces("pba")[:1])


def _copy(tmp_path: Path) -> Path:
    out = tmp_path / "b"
    shutil.copytree(BASE, out)
    return out


def _strip(directory: Path) -> dict[str, Any]:
    """Removes every drift reference from a bundle copy; returns the original manifest."""
    manifest = json.loads((directory / "manifest.json").read_text())
    stripped = json.loads(json.dumps(manifest))
    for e in stripped["models"]:
        del e["drift"], e["drift_sha256"]
    (directory / "manifest.json").write_text(json.dumps(stripped, indent=2) + "\n")
    shutil.rmtree(directory / "drift")
    return manifest


def test_without_references_the_bundle_stays_valid_and_attach_restores_them(
        tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    original = _strip(directory)
    plain = bundle.load(directory)
    assert all(m.drift is None for m in plain.models.values())
    assert bundle.first_refusal(plain, bundle.check_goldens(plain)) is None
    assert bundle.check_drift_goldens(plain) == {}
    attached = drift.attach(directory, models=["scaling", "pba"], progress=lambda _: None)
    assert attached.models["scaling"].drift is not None and attached.models["itp"].drift is None
    for name in ("scaling", "pba"):
        assert ((directory / "drift" / f"{name}.json").read_bytes()
                == (BASE / "drift" / f"{name}.json").read_bytes())
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["models"][4] == original["models"][4]  # scaling, keys in the same order


def test_attach_names_unknown_models(tmp_path: Path) -> None:
    with pytest.raises(drift.DriftError, match="no model gpu in .*; it has anomaly, itp"):
        drift.attach(_copy(tmp_path), models=["gpu"])


def test_bundle_write_attaches_a_drift_sample(base: bundle.Bundle, tmp_path: Path) -> None:
    """New bundles: an ExportedModel carrying its training rows gets drift/<name>.json,
    the same bits as attaching to the committed bundle."""
    m = base.models["scaling"]
    e = m.entry
    exported = ExportedModel(
        name=m.name, family=m.family, version=m.version, onnx_bytes=m.onnx_bytes,
        inputs=m.inputs, outputs=m.outputs, feature_params=m.params,
        verification=Verification(**e["verification"]), golden_ts=m.golden.ts,
        golden_values=m.golden.values, training_data_digest=e["training_data_digest"],
        thresholds=e["thresholds"], metrics=e["metrics"], notes=e["notes"],
        drift_sample=drift.training_sample(m, _traces("scaling")))
    written = bundle.write(tmp_path / "new", [exported], "t-1")
    assert written.models["scaling"].entry["drift_sha256"] == e["drift_sha256"]
    assert ((tmp_path / "new" / "drift" / "scaling.json").read_bytes()
            == (BASE / "drift" / "scaling.json").read_bytes())


def _edit_drift(directory: Path, name: str, change: Any) -> None:
    path = directory / "drift" / f"{name}.json"
    doc = json.loads(path.read_text())
    change(doc)
    data = bundle.drift_bytes(doc)
    path.write_bytes(data)
    manifest = json.loads((directory / "manifest.json").read_text())
    entry = next(x for x in manifest["models"] if x["name"] == name)
    entry["drift_sha256"] = hashlib.sha256(data).hexdigest()
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def _col(doc: dict[str, Any], i: int) -> dict[str, Any]:
    return doc["columns"][i]


def _set_decimal(d: dict[str, Any]) -> None:
    _col(d, 0)["counts"]["decimal"][0] += 1


def _rename(d: dict[str, Any]) -> None:
    _col(d, 0)["name"] = "cpu"


def _negative(d: dict[str, Any]) -> None:
    c = _col(d, 0)["counts"]
    c["decimal"][0] = -1.0
    c["float64"] = hex64(c["decimal"])


def _constant_without_value(d: dict[str, Any]) -> None:
    _col(d, 2).pop("value")


def _epsilon(d: dict[str, Any]) -> None:
    d["bins"]["epsilon"] = {"float64": hex64(1.0), "decimal": [1.0]}


@pytest.mark.parametrize(("name", "change", "message"), [
    ("pba", _set_decimal, "columns[0].counts.decimal does not equal its float64 bits"),
    ("pba", _rename, "columns[0]: column 'input' 0 'cpu', want input 0 'cpu_pct'"),
    ("pba", _negative, "columns[0].counts: counts must be >= 0 and sum to"),
    ("anomaly", _constant_without_value, "columns[2]: 'value' is missing"),
    ("scaling", _epsilon, "bins.epsilon 1.0 is not in [1e-300, 1)"),
    ("scaling", lambda d: d["golden"].update(rows=3), "golden: not 'golden/scaling.json' with its 9 rows"),
    ("scaling", lambda d: d.update(model="pba"), "model is not 'scaling'"),
    ("itp", lambda d: d.update(drift_version=2), "drift_version 2, this feature core's is 1"),
])
def test_drift_read_refuses(tmp_path: Path, name: str, change: Any, message: str) -> None:
    directory = _copy(tmp_path)
    _edit_drift(directory, name, change)
    with pytest.raises(bundle.CorruptBundleError, match=re.escape(message)) as info:
        bundle.load(directory)
    assert info.value.check == "drift.read"
    assert str(info.value).startswith(f"drift.read: drift/{name}.json: ")


def test_golden_proof_names_a_tampered_statistic(tmp_path: Path) -> None:
    directory = _copy(tmp_path)

    def change(d: dict[str, Any]) -> None:
        ks = _col(d, 1)["golden"]["ks"]
        ks["decimal"] = [0.5]
        ks["float64"] = hex64(0.5)

    _edit_drift(directory, "pba", change)
    problems = bundle.check_drift_goldens(bundle.load(directory))
    assert problems["pba"].startswith("columns[1] mem_pct: golden.ks stored 3fe0000000000000, "
                                      "the core computes ")
    assert problems["scaling"] is None


def test_verdict_thresholds() -> None:
    assert [drift.verdict(v) for v in (0.0, 0.0999, 0.1, 0.25, 0.2501, 3.0)] == [
        "stable", "stable", "moderate", "moderate", "major", "major"]


def test_report_of_the_training_data_is_stable(tmp_path: Path) -> None:
    """The training data as the live selection: every PSI and KS is exactly 0 (same counts);
    the constant column is listed as excluded; what cannot be read is skipped with why."""
    out = tmp_path / "report"
    results = {r.model: r for r in drift.report(BASE, "synthetic", out,
                                                models=["pba", "scaling", "anomaly", "itp"])}
    for name in ("pba", "scaling"):
        r = results[name]
        assert r.skipped is None and r.live_rows == r.reference_rows
        assert {(c.psi, c.ks, c.verdict) for c in r.columns} == {(0.0, 0.0, "stable")}
    assert "NAB" in (results["anomaly"].skipped or "")
    assert "DWCP requests" in (results["itp"].skipped or "")
    nab = drift.report(BASE, "nab", tmp_path / "nab", root=REPO / "training", models=["anomaly"])
    day = nab[0].columns[2]
    assert (day.name, day.constant, day.psi, day.verdict) == (
        "day_of_week", True, None, "excluded (constant in the reference)")
    assert {c.psi for c in nab[0].columns if not c.constant} == {0.0}
    doc = json.loads((out / "drift.json").read_text())
    assert doc["format"] == "dwcp-ml-drift-report/1" and len(doc["models"]) == 4
    text = (out / "drift.md").read_text()
    assert "| pba | pba | 7976 | 7976 |" in text and "![psi_pba.png](psi_pba.png)" in text
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert "psi_pba.png" in pngs and "hist_scaling_000.png" in pngs
    assert all((out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_report_reads_a_shift_as_drift(base: bundle.Bundle) -> None:
    """Live traces scaled by 3: the level features move out of the reference bins."""
    m = base.models["scaling"]
    traces = [t.__class__(t.name, t.ts, t.values * 3.0) for t in _traces("scaling")]
    matrix, windows = drift._live_matrix(m, traces)  # noqa: SLF001 - the report's own path
    r = drift._model_drift(m, m.drift, matrix, windows, "scaled x3")  # noqa: SLF001
    by = {c.name: c for c in r.columns}
    assert by["value"].verdict == "major" and by["time_of_day"].psi == 0.0
    assert r.worst is not None and r.worst.psi > drift.MODERATE


def test_evidently_page_beside_the_report(tmp_path: Path) -> None:
    """Evidently's page of one shipped NAB series against another and of the training data
    against itself: the HTML is written, its figures reach drift.md and drift.json, and a
    sample judged against itself has no drifting column."""
    from dwcp_ml.lifecycle import drift_html

    one = "nab:series=realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv"
    other = "nab:series=realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv"
    out = tmp_path / "nab"
    drift.report(BASE, other, out, root=REPO / "training", models=["anomaly"],
                 evidently_reference=one)
    page = out / "evidently_anomaly.html"
    assert page.stat().st_size > 100_000 and b"<html" in page.read_bytes()[:2000].lower()
    doc = json.loads((out / "drift.json").read_text())["models"][0]["evidently"]
    assert doc["html"] == "evidently_anomaly.html" and "day_of_week" in doc["left_out"]
    assert 0 < doc["drifted_columns"] == sum(c["drifts"] for c in doc["columns"])
    assert "Evidently ([evidently_anomaly.html](evidently_anomaly.html)" in (
        out / "drift.md").read_text()
    same = drift.report(BASE, "synthetic", tmp_path / "same", models=["scaling"],
                        evidently_reference="synthetic")
    assert same[0].skipped is None
    doc = json.loads((tmp_path / "same" / "drift.json").read_text())["models"][0]["evidently"]
    assert doc["drifted_columns"] == 0 and len(doc["columns"]) >= 8
    assert drift_html.ColumnVerdict("x", "K-S p_value", 0.01, 0.05).drifts
    assert not drift_html.ColumnVerdict("x", "Wasserstein distance (normed)", 0.05, 0.1).drifts


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert drift.main(["report", "--bundle", str(BASE), "--data", "synthetic", "--out",
                       str(tmp_path), "--models", "pba"]) == 0
    assert "pba       live   7976  worst cpu_pct PSI 0.0000 (stable)" in capsys.readouterr().out
    assert drift.main(["report", "--bundle", str(BASE), "--data", "bogus", "--out",
                       str(tmp_path)]) == 2
    assert "unknown source 'bogus'" in capsys.readouterr().err
    assert drift.main(["attach", str(tmp_path / "none")]) == 2
    assert "manifest.read" in capsys.readouterr().err


def test_sample_rule_is_evenly_spaced() -> None:
    assert bundle.evenly_spaced(5).tolist() == [0, 1, 2, 3, 4]
    idx = bundle.evenly_spaced(100_001)
    assert len(idx) == bundle.DRIFT_MAX_ROWS and idx[0] == 0 and idx[-1] == 99_995
    assert np.all(np.diff(idx) >= 5)
