"""The registry flow of tests/test_registry.py against a real ``mlflow server`` process this
module starts on 127.0.0.1 (a free port, sqlite backend, proxied artifacts in a tmp dir) and
stops by its own process group; plus a tracked run logged through the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dwcp_ml import cli
from dwcp_ml.lifecycle import tracking
from services import free_port, stop
from test_registry import _template_db, registry_flow

MLFLOW = Path(sys.executable).with_name("mlflow")
START_DEADLINE_S = 90.0  # measured 8-24 s on the 2-core dev machine, load-dependent


def headroom() -> float:
    """The scaling headroom of the committed bundle (what eval --bundle judges)."""
    manifest = json.loads((cli.REPO / "golden" / "bundle" / "manifest.json").read_text())
    return next(m["thresholds"]["headroom"] for m in manifest["models"] if m["name"] == "scaling")


@dataclass(frozen=True)
class Server:
    uri: str
    artifacts: Path
    start_seconds: float
    log: Path


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = root / "server.log"
    env = {**os.environ, **tracking.QUIET_DEFAULTS}
    env.pop(tracking.ENV_URI, None)
    # A migrated empty database (made once per session) spares the server its migrations.
    (root / "server.db").write_bytes(_template_db())
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(MLFLOW), "server", "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
             "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            cwd=root, start_new_session=True)
    try:
        while not _healthy(url):
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited {proc.returncode}: "
                            f"{log.read_text()[-2000:]}")
            if time.monotonic() - started > START_DEADLINE_S:
                pytest.fail(f"mlflow server not healthy after {START_DEADLINE_S:g} s: "
                            f"{log.read_text()[-2000:]}")
            time.sleep(0.25)
        seconds = time.monotonic() - started
        print(f"\nmlflow server on {url} healthy after {seconds:.1f} s")
        yield Server(url, root / "artifacts", seconds, log)
    finally:
        stop(proc, group=True, timeout=15)
    assert proc.returncode is not None


def test_server_started_within_the_deadline(server: Server) -> None:
    assert 0 < server.start_seconds < START_DEADLINE_S


def test_registry_flow_against_a_server(server: Server, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tracking.ENV_DIR, str(tmp_path / "unused"))
    registry_flow(tmp_path, capsys, server.uri, server.artifacts)
    assert not (tmp_path / "unused").exists()  # nothing went to the embedded store


def test_a_run_through_the_server_with_the_env_uri(server: Server, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    monkeypatch.setenv(tracking.ENV_URI, server.uri)
    monkeypatch.setenv(tracking.ENV_DIR, str(tmp_path / "unused"))
    out = tmp_path / "report"
    assert cli.main(["eval", "--models", "scaling", "--train", "synthetic", "--bundle",
                     str(cli.REPO / "golden" / "bundle"), "--quiet", "--out", str(out)]) == 0
    client = mlflow.MlflowClient(tracking_uri=server.uri)
    exp = client.get_experiment_by_name(tracking.EXPERIMENT)
    run = client.search_runs([exp.experiment_id], "tags.`mlflow.source.name` = 'dwcp-ml eval'")[0]
    assert run.info.status == "FINISHED" and run.info.artifact_uri.startswith("mlflow-artifacts:")
    assert run.data.metrics["scaling.result.model.headroom"] == headroom()
    stored = [p for p in server.artifacts.rglob("scaling_report.md") if run.info.run_id in p.parts]
    assert stored[0].read_bytes() == (out / "scaling" / "scaling_report.md").read_bytes()
    assert not (tmp_path / "unused").exists()
    capsys.readouterr()
