"""The pipeline as a Prefect flow (lifecycle/dag.py), run embedded in its own process as a
user runs it: every step runs once, a second run takes every step from the cache, a run
killed after training resumes without training again, transient failures are retried and
others are not."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dwcp_ml.export import bundle
from dwcp_ml.lifecycle import dag
from services import free_port, stop

TIMEOUT_S = 600
STEPS = ["data scaling", "train scaling", "export scaling", "bundle", "verify", "eval"]


def _command(work: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "dwcp_ml.lifecycle.dag", "run", "--work", str(work), "--out",
            str(out), "--version", "dag-test", "--models", "scaling", "--tiny",
            "--eval-test", "synthetic", "--json"]


def _run(work: Path, out: Path) -> dict:
    done = subprocess.run(_command(work, out), capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout[done.stdout.index("{"):])


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("dag")
    work, out = root / "work", root / "bundle"
    return work, out, _run(work, out)


def test_every_step_runs_and_the_bundle_verifies(first_run) -> None:  # noqa: ANN001
    _, out, summary = first_run
    assert summary["steps"] == {s: "ran" for s in STEPS}
    assert summary["verify"] == {"scaling": "6 rows match bit for bit"}
    assert summary["eval"]["scaling"]["test"] == "synthetic"
    assert bundle.load(out).version == "dag-test"


def test_second_run_takes_every_step_from_the_cache(first_run) -> None:  # noqa: ANN001
    work, out, summary = first_run
    again = _run(work, out)
    # The data digest is recomputed every run: it is what decides whether training re-runs.
    assert again["steps"] == {s: ("ran" if s.startswith("data") else "cached") for s in STEPS}
    assert again["eval"] == json.loads(json.dumps(summary["eval"]))


def test_killed_run_resumes_after_training(tmp_path: Path) -> None:
    work, out = tmp_path / "work", tmp_path / "bundle"
    proc = subprocess.Popen(_command(work, out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    results = work / "results"
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not (results.is_dir() and any(results.iterdir())):  # the trained model persisted
            assert proc.poll() is None, "the pipeline ended before training finished"
            assert time.monotonic() < deadline, "no task result within the deadline"
            time.sleep(0.05)
        time.sleep(0.2)  # the result file is complete once written; let its write finish
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert not out.exists()
    resumed = _run(work, out)
    assert resumed["steps"]["train scaling"] == "cached"
    assert resumed["steps"]["bundle"] == "ran"
    bundle.load(out)


@pytest.mark.parametrize(("exc", "retried"), [
    (TimeoutError("timed out"), True),
    (ConnectionResetError("reset by peer"), True),
    (OSError(errno.EBUSY, "busy"), True),
    (FileNotFoundError(errno.ENOENT, "no such file"), False),
    (bundle.BundleError("files.sha256: scaling.onnx"), False),
    (ValueError("bad config"), False),
])
def test_only_transient_failures_are_retried(exc: BaseException, retried: bool) -> None:
    assert dag.is_transient(exc) is retried


def test_a_transient_failure_is_retried_in_the_flow(tmp_path: Path) -> None:
    """The export step fails once with a timeout, is retried, and the run succeeds."""
    script = f"""
import json, sys
from pathlib import Path
from dwcp_ml import families
from dwcp_ml.lifecycle import dag
calls = []
real = families.Family.export_models
def flaky(self, trained):
    calls.append(1)
    if len(calls) == 1:
        raise TimeoutError("the disk did not answer")
    return real(self, trained)
families.Family.export_models = flaky
spec = dag.PipelineSpec(work=Path({str(tmp_path / 'w')!r}), out=Path({str(tmp_path / 'b')!r}),
                        version="retry", models=("scaling",), tiny=True)
summary = dag.run(spec)
print(json.dumps({{"calls": len(calls), "steps": summary["steps"]}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["calls"] == 2
    assert result["steps"]["export scaling"] == "ran"


def test_refused_input_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "dwcp_ml.lifecycle.dag", "run", "--work",
                           str(tmp_path), "--out", str(tmp_path / "b"), "--version", "v",
                           "--models", "nope"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == ("dwcp-ml: error: unknown model nope; known: pba, anomaly, "
                                   "scaling, itp, link")


def _wait(check, deadline: float, what: str, procs: list[subprocess.Popen]) -> None:  # noqa: ANN001
    while not check():
        for p in procs:
            assert p.poll() is None, f"{what}: a process ended early (status {p.returncode})"
        assert time.monotonic() < deadline, f"{what}: not within the deadline"
        time.sleep(0.5)


def _bundles(root: Path) -> list[Path]:
    """The bundles a run has moved into place (not the hidden .<version>.partial it writes)."""
    return sorted(p.parent for p in root.glob("*/manifest.json")
                  if not p.parent.name.startswith("."))


def test_one_scheduled_run(tmp_path: Path) -> None:
    """A Prefect server on a loopback port (the long-lived API a schedule needs), the pipeline
    served on a 5-second interval schedule, and the bundle of its first scheduled run."""
    import urllib.request

    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "server"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false",
           "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
    prefect = Path(sys.executable).with_name("prefect")
    server = subprocess.Popen([str(prefect), "server", "start", "--host", "127.0.0.1", "--port",
                               str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    procs = [server]
    out_root = tmp_path / "bundles"
    deadline = time.monotonic() + TIMEOUT_S

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2):
                return True
        except OSError:
            return False

    try:
        _wait(healthy, deadline, "prefect server", procs)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "dwcp_ml.lifecycle.dag", "serve", "--work",
             str(tmp_path / "work"), "--out-root", str(out_root), "--models", "scaling",
             "--tiny", "--interval", "5"], env={**env, "PREFECT_HOME": str(tmp_path / "runner")},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        _wait(lambda: bool(_bundles(out_root)), deadline, "scheduled run", procs)
    finally:
        for p in reversed(procs):
            stop(p, group=True)
    first = _bundles(out_root)[0]
    assert bundle.load(first).version == first.name  # the version is the run's UTC time


def test_serve_without_a_prefect_api_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    done = subprocess.run([sys.executable, "-m", "dwcp_ml.lifecycle.dag", "serve", "--work",
                           str(tmp_path), "--out-root", str(tmp_path / "b")], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("dwcp-ml: error: serve needs a Prefect API")
