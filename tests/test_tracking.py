"""MLflow tracking: where runs go (embedded store, env, --tracking-uri), what `dwcp-ml eval`
logs (params, metrics.json numbers, the report as artifacts), failed runs, one-line errors
for bad or dead stores within seconds, and MLflow kept out of commands that do not track."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_registry import fresh_store

from dwcp_ml import cli
from dwcp_ml.lifecycle import tracking

BUNDLE = cli.REPO / "golden" / "bundle"
EVAL = ["eval", "--models", "scaling", "--train", "synthetic", "--bundle", str(BUNDLE),
        "--quiet"]


def headroom() -> float:
    """The scaling headroom of the committed bundle (what eval --bundle judges)."""
    manifest = json.loads((cli.REPO / "golden" / "bundle" / "manifest.json").read_text())
    return next(m["thresholds"]["headroom"] for m in manifest["models"] if m["name"] == "scaling")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty embedded store, the default for the test (a copy of a migrated database)."""
    return fresh_store(tmp_path / "store", monkeypatch)


@pytest.fixture
def no_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A default store directory that does not exist yet."""
    monkeypatch.setenv(tracking.ENV_DIR, str(tmp_path / "store"))
    monkeypatch.delenv(tracking.ENV_URI, raising=False)
    return tmp_path / "store"


def runs(store: Path) -> tuple[list, object]:
    """The store's dwcp-ml runs and a client on it."""
    import mlflow

    uri = f"sqlite:///{store / tracking.DB_FILE}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(tracking.EXPERIMENT)
    return [] if exp is None else client.search_runs([exp.experiment_id]), client


def test_eval_logs_params_metrics_and_the_report(store: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    assert cli.main([*EVAL, "--out", str(out)]) == 0
    found, client = runs(store)
    assert len(found) == 1
    run = found[0]
    assert run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith((store.resolve() / "artifacts" / "dwcp-ml").as_uri())
    tags = run.data.tags
    assert tags["mlflow.source.name"] == "dwcp-ml eval"
    assert tags["mlflow.source.git.commit"] == tags["git_commit"]
    assert tags["dwcp_ml.argv"] == " ".join(["dwcp-ml", *EVAL, "--out", str(out)])
    assert tags["feature_core_version"] == cli.fc.VERSION
    params = run.data.params
    assert (params["models"], params["train"], params["bundle"], params["folds"]) == \
        ("scaling", "synthetic", str(BUNDLE), "5")
    # Every number of scaling_metrics.json, keyed by path; the fold index is the step.
    metrics = json.loads((out / "scaling" / "scaling_metrics.json").read_text())
    expected = tracking.numbers(metrics, "scaling")
    assert run.data.metrics["scaling.result.model.headroom"] == headroom()
    assert run.data.metrics["scaling.targets.met_in_every_fold"] in (0.0, 1.0)
    assert {k for k, _ in expected} == set(run.data.metrics)
    history = client.get_metric_history(run.info.run_id, "scaling.result.model.under")
    assert [(m.step, m.value) for m in history] == [
        (step, v) for (k, step), v in expected.items() if k == "scaling.result.model.under"]
    # The report directory is the artifact, byte for byte.
    listed = {a.path for a in client.list_artifacts(run.info.run_id, "eval/scaling")}
    assert listed == {f"eval/scaling/{p.name}" for p in (out / "scaling").iterdir()}
    local = Path(client.download_artifacts(run.info.run_id, "eval", str(tmp_path / "dl")))
    assert (local / "README.md").read_bytes() == (out / "README.md").read_bytes()
    assert (local / "scaling" / "scaling_report.md").read_bytes() == \
        (out / "scaling" / "scaling_report.md").read_bytes()
    assert "report in" in capsys.readouterr().out


def test_a_failing_command_marks_its_run_failed(store: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*EVAL[:-3], "--bundle", str(tmp_path / "missing"), "--out", str(tmp_path / "r")]
    assert cli.main(argv) == 2
    assert "manifest.read: the bundle is not a directory" in capsys.readouterr().err
    found, _ = runs(store)
    assert [r.info.status for r in found] == ["FAILED"]


def test_no_track_writes_no_store(no_store: Path, tmp_path: Path) -> None:
    assert cli.main([*EVAL, "--out", str(tmp_path / "r"), "--no-track"]) == 0
    assert not no_store.exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# MLflow's own retry defaults take minutes to give up on a dead server; ours take seconds.
# The bound below only tells "gave up" from "hung" (no speed claim): far above ours, far
# below MLflow's.
HANG_SECONDS = 90


def _without_hanging(argv: list[str]) -> int:
    """``cli.main(argv)``, failing the test if it has not returned after HANG_SECONDS."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(cli.main, argv)
    try:
        return future.result(timeout=HANG_SECONDS)
    except FuturesTimeout:
        pytest.fail(f"dwcp-ml {' '.join(argv)} did not return within {HANG_SECONDS} s")
    finally:
        pool.shutdown(wait=False)


@dataclass(frozen=True)
class BadUri:
    uri: str
    message: str


@pytest.mark.parametrize("case", [
    BadUri(f"http://127.0.0.1:{_closed_port()}", "cannot reach the tracking server http://"
           "127.0.0.1:"),
    BadUri("http://user:secret@127.0.0.1:1", "tracking server http://127.0.0.1:1 (Connection "
           "refused)"),
    BadUri("mlruns", "MLflow 3 no longer opens file stores"),
    BadUri("file:///tmp/mlruns", "MLflow 3 no longer opens file stores"),
    BadUri("foo://bar", "tracking store foo://bar: "),
    BadUri("sqlite:////proc/none/m.db", "tracking directory /proc/none: No such file"),
    BadUri("http://a b", "contains whitespace"),
], ids=lambda c: c.uri.split(":")[0] + "-" + c.message.split()[0])
def test_a_bad_or_dead_store_is_one_line(case: BadUri, no_store: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code = _without_hanging([*EVAL, "--out", str(tmp_path / "r"), "--tracking-uri", case.uri])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("dwcp-ml: error: ") and err.count("\n") == 1, err
    assert case.message in err and "secret" not in err
    assert not (tmp_path / "r" / "scaling").exists()  # the run fails before the work


def test_a_silent_server_fails_without_hanging(no_store: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A port that accepts TCP connections (the kernel's backlog) but never answers HTTP."""
    monkeypatch.setattr(tracking, "CHECK_SECONDS", 1)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        uri = f"http://127.0.0.1:{listener.getsockname()[1]}"
        code = _without_hanging([*EVAL, "--out", str(tmp_path / "r"), "--tracking-uri", uri])
    err = capsys.readouterr().err
    assert code == 2 and err == (f"dwcp-ml: error: the tracking server {uri} did not answer in "
                                 "time (MLFLOW_HTTP_REQUEST_TIMEOUT); is it an MLflow server?\n")


def test_where_runs_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tracking.ENV_URI, raising=False)
    monkeypatch.delenv(tracking.ENV_DIR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    default = tmp_path / "home" / ".local" / "share" / "dwcp-ml" / "mlruns"
    assert tracking.resolve() == tracking.Target(f"sqlite:///{default / 'mlflow.db'}",
                                                 default / "artifacts")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert tracking.default_dir() == tmp_path / "xdg" / "dwcp-ml" / "mlruns"
    monkeypatch.setenv(tracking.ENV_DIR, str(tmp_path / "d"))
    assert tracking.resolve().artifact_root == tmp_path / "d" / "artifacts"
    monkeypatch.setenv(tracking.ENV_URI, "http://team:5000")
    assert tracking.resolve() == tracking.Target("http://team:5000")
    assert tracking.resolve("https://other") == tracking.Target("https://other")
    assert not tracking.resolve("https://other").embedded
    assert tracking.Target("https://u:p@h:1/x").display == "https://h:1/x"
    assert tracking.redact("--storage postgresql://u:p@db/x --tracking-uri https://t@h") == \
        "--storage postgresql://***@db/x --tracking-uri https://***@h"


@dataclass(frozen=True)
class Inner:
    rate: float = 0.5
    sizes: tuple[int, ...] = (1, 2)


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    inner: Inner = Inner()
    extra: dict | None = None


def test_flatten_and_numbers() -> None:
    assert tracking.flatten(Outer(extra={"a b": None}), "cfg") == {
        "cfg.name": "x", "cfg.inner.rate": "0.5", "cfg.inner.sizes": "(1, 2)",
        "cfg.extra.a b": "None"}
    assert tracking.flatten({"k(1)": "v" * 7000})["k_1_"] == "v" * 6000
    doc = {"loss": 0.25, "ok": True, "name": "text", "nan": float("nan"), "none": None,
           "folds": [{"mae": 1.0, "q": [5, 6]}, {"mae": 2.0, "q": [7, 8]}], "n%": 3}
    assert tracking.numbers(doc, "m") == {
        ("m.loss", 0): 0.25, ("m.ok", 0): 1.0, ("m.folds.mae", 0): 1.0,
        ("m.folds.q.0", 0): 5.0, ("m.folds.q.1", 0): 6.0, ("m.folds.mae", 1): 2.0,
        ("m.folds.q.0", 1): 7.0, ("m.folds.q.1", 1): 8.0, ("m.n_", 0): 3.0}


def test_commands_that_do_not_track_never_import_mlflow() -> None:
    code = ("import sys; from dwcp_ml import cli; "
            "assert cli.main(['golden', '--check']) == 0; "
            f"assert cli.main(['verify', {str(BUNDLE)!r}]) == 0; "
            "assert cli.main(['registry', 'show', 'x']) == 2; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow'))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"
