"""The main job end to end through the CLI (tiny configurations), and the committed default
bundle reproduced bit for bit by Python ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dwcp_ml import cli
from dwcp_ml.export import bundle

DEFAULT_BUNDLE = Path(__file__).resolve().parents[1] / "golden" / "bundle"


def test_tiny_train_export_bundle_verify(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    work, out = tmp_path / "work", tmp_path / "bundle"
    assert cli.main(["train", "--work", str(work), "--tiny", "--quiet"]) == 0
    assert cli.main(["export", "--work", str(work), "--quiet"]) == 0
    assert cli.main(["bundle", "--work", str(work), "--out", str(out), "--version", "t1"]) == 0
    capsys.readouterr()
    assert cli.main(["verify", "--json", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {m["model"] for m in report["models"]} == {"pba", "anomaly", "scaling", "itp", "itp_gb",
                                                      "link"}
    assert all(m["ok"] for m in report["models"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert [m["name"] for m in manifest["models"]] == ["anomaly", "itp", "itp_gb", "link", "pba",
                                                       "scaling"]


def test_default_bundle_reproduces_bit_for_bit() -> None:
    loaded = bundle.load(DEFAULT_BUNDLE)
    assert set(loaded.models) == {"pba", "anomaly", "scaling", "itp", "itp_gb", "link"}
    results = bundle.check_goldens(loaded)
    assert all(r.ok for r in results), [r.detail for r in results if not r.ok]


@pytest.mark.parametrize(
    "argv,words",
    [
        (["train", "--work", "/tmp/x", "--models", "gpu"], "unknown model gpu; known: pba"),
        (["export", "--work", "/nonexistent/work"], "no trained models; run `dwcp-ml train"),
        (["bundle", "--work", "/nonexistent/work", "--out", "/tmp/b"], "no exported models"),
        (["verify", "/nonexistent/bundle"],
         "/nonexistent/bundle: check manifest.read: the bundle is not a directory"),
        (["train", "--work", "/tmp/x", "--source", "real", "--data", "/nonexistent"],
         "data directory /nonexistent not found"),
    ],
)
def test_bad_input_is_one_line(argv: list[str], words: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("dwcp-ml: error: ") and words in err and err.count("\n") == 1
