"""The CLI: the demo path works, bad input is one line and exit status 2."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from dwcp_ml import cli


def test_features_on_synthetic_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["features", "--quiet", "--vms", "2", "--days", "2"]) == 0
    out = capsys.readouterr().out
    assert "schema vm (hash 0af44209c575a0e3)" in out
    assert "target_ewma" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["features", "--stat-window", "1"], "parameters out of range"),
        (["features", "--source", "bitbrains", "--data", "/nonexistent"],
         "data directory /nonexistent not found"),
        (["golden", "--check", "--out", "/nonexistent/golden.txt"], "does not exist"),
    ],
)
def test_bad_input_is_one_line(argv: list[str], message: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("dwcp-ml: error: ") and message in err
    assert err.count("\n") == 1


def test_golden_check_passes() -> None:
    assert cli.main(["golden", "--check"]) == 0


def test_traces_too_short_for_a_window(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["features", "--quiet", "--vms", "1", "--days", "1", "--seq-len", "300"]) == 0
    assert "no complete window" in capsys.readouterr().out


def test_parity_python_and_go(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["parity", str(cli.REPO / "golden" / "bundle")]) == 0
    lines = capsys.readouterr().out.splitlines()
    models = json.loads((cli.REPO / "golden" / "bundle" / "manifest.json").read_text())["models"]
    assert len(lines) == 2 * len(models) and all(" match " in line for line in lines), lines
    assert {line.split()[1] for line in lines} == {"python", "go"}


def test_parity_reports_a_changed_golden_in_both(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bundle_dir = tmp_path / "bundle"
    shutil.copytree(cli.REPO / "golden" / "bundle", bundle_dir)
    golden = bundle_dir / "golden" / "scaling.json"
    doc = json.loads(golden.read_text())
    doc["output"]["float32"] = "45c14ad1" + doc["output"]["float32"][8:]
    golden.write_text(json.dumps(doc))
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    for m in manifest["models"]:
        if m["name"] == "scaling":
            m["golden_sha256"] = hashlib.sha256(golden.read_bytes()).hexdigest()
    (bundle_dir / "manifest.json").write_text(json.dumps(manifest))
    assert cli.main(["parity", "--json", str(bundle_dir)]) == 1
    result = json.loads(capsys.readouterr().out)
    scaling = next(m for m in result["models"] if m["model"] == "scaling")
    assert not result["ok"] and not scaling["python"]["ok"] and not scaling["go"]["ok"]
    assert "output[0]" in scaling["python"]["detail"] and "output[0]" in scaling["go"]["detail"]
