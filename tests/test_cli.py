"""The CLI: the demo path works, bad input is one line and exit status 2."""

from __future__ import annotations

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
