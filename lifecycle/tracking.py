"""MLflow tracking for dwcp-ml commands: where runs go, and one context manager to log a run.

Embedded by default: a sqlite backend and a local artifact directory under ``default_dir()``
(``$DWCP_ML_TRACKING_DIR``, else ``$XDG_DATA_HOME/dwcp-ml/mlruns``, else
``~/.local/share/dwcp-ml/mlruns``), so no server is needed. ``--tracking-uri URI`` (or
``$MLFLOW_TRACKING_URI``) points at a team's MLflow server or any store MLflow accepts.

MLflow is imported only when a run starts (``import mlflow`` costs about a second), so
commands that track nothing never load it. Every MLflow failure leaves this module as one
``TrackingError`` line; HTTP retries and timeouts are bounded (``HTTP_DEFAULTS``) so a dead
server fails within seconds. ``track`` is the API every tracked command uses (train, eval,
search, bundle, registry register, and later retrain): docs/lifecycle.md.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import math
import os
import re
import socket
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import lineage

ENV_DIR = "DWCP_ML_TRACKING_DIR"
ENV_URI = "MLFLOW_TRACKING_URI"
EXPERIMENT = "dwcp-ml"
DB_FILE = "mlflow.db"
ARTIFACTS = "artifacts"
# MLflow's own defaults retry 7 times with exponential backoff and wait 120 s per request:
# minutes before a dead server is reported. Before anything else, _probe gives up on a host
# that does not accept a TCP connection within PROBE_SECONDS, and the first request gets
# CHECK_SECONDS without retries; later requests (uploads of a large bundle) get these. A
# value already in the environment wins.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
# No usage telemetry leaves the machine, no progress bars between our output lines, and
# MLflow's INFO lines (database migrations) stay off stderr.
QUIET_DEFAULTS = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # "View run ... at: URL" on a server
}
PROBE_SECONDS = 3.0
CHECK_SECONDS = 5  # the first request's timeout (whole seconds: MLflow parses an int)
_KEY_BAD = re.compile(r"[^/\w.\- :]")  # MLflow's allowed key characters (non-Windows)
_PARAM_CHARS = 6000  # MLflow's MAX_PARAM_VAL_LENGTH
_TAG_CHARS = 8000  # MLflow's MAX_TAG_VAL_LENGTH
_PARAMS_PER_BATCH = 100
_METRICS_PER_BATCH = 1000


class TrackingError(Exception):
    """The tracking store cannot be reached or refused a request; one line."""


@dataclass(frozen=True)
class Target:
    """Where runs and registered models go. ``artifact_root`` is set for a store without a
    server (experiments created here keep artifacts under it); a server chooses its own."""

    uri: str
    artifact_root: Path | None = None

    @property
    def embedded(self) -> bool:
        """No server: this process writes the database and the artifacts itself."""
        return self.artifact_root is not None

    @property
    def display(self) -> str:
        """The URI without user:password, for messages."""
        parts = urllib.parse.urlsplit(self.uri)
        if parts.password is None and parts.username is None:
            return self.uri
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def default_dir() -> Path:
    """The embedded store: $DWCP_ML_TRACKING_DIR, else the XDG data directory."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "dwcp-ml" / "mlruns"


def resolve(uri: str | None = None) -> Target:
    """``uri`` (from --tracking-uri), else $MLFLOW_TRACKING_URI, else the embedded store."""
    given = uri or os.environ.get(ENV_URI)
    if given:
        if not given.strip() or any(c.isspace() for c in given):
            raise TrackingError(f"tracking URI {given!r} contains whitespace")
        scheme = urllib.parse.urlsplit(given).scheme
        if scheme in ("", "file") and not given.startswith("databricks"):
            # MLflow 3.17 refuses its file store (maintenance mode) with a paragraph.
            raise TrackingError(f"tracking URI {given!r}: MLflow 3 no longer opens file "
                                "stores; use sqlite:///PATH/mlflow.db or a server's http(s) URL")
        return Target(given, _artifact_root(given, scheme))
    root = default_dir().resolve()
    return Target(f"sqlite:///{root / DB_FILE}", root / ARTIFACTS)


def _artifact_root(uri: str, scheme: str) -> Path | None:
    """Where a server-less store keeps artifacts (MLflow's own default is ./mlruns in the
    current directory): beside a sqlite file, else in the embedded store's directory. A
    server (http, https, databricks) chooses its own: None."""
    if scheme in ("http", "https") or scheme.startswith("databricks"):
        return None
    if scheme == "sqlite" and uri.startswith("sqlite:///") and uri != "sqlite:///:memory:":
        return Path(uri.removeprefix("sqlite:///")).resolve().parent / ARTIFACTS
    return default_dir().resolve() / ARTIFACTS


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:400] + (" ..." if len(text) > 400 else "")


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\"')\]]+)")


def failure(target: Target, exc: BaseException) -> TrackingError:
    """The one line for an exception MLflow (or its HTTP / database layer) raised: for a
    server that cannot be reached or does not answer, the reason alone."""
    text = redact(_one_line(exc))
    if "timed out" in text.lower():
        return TrackingError(f"the tracking server {target.display} did not answer in time "
                             "(MLFLOW_HTTP_REQUEST_TIMEOUT); is it an MLflow server?")
    if "Max retries exceeded" in text or "NewConnectionError" in text:
        reason = _ERRNO.search(text)
        return TrackingError(
            f"cannot reach the tracking server {target.display} "
            f"({reason.group(1).strip() if reason else 'connection failed'}); start it or "
            "pass another --tracking-uri")
    return TrackingError(f"tracking store {target.display}: {text}")


def _probe(target: Target) -> None:
    """A TCP connect to an http(s) server within PROBE_SECONDS: a dead or unroutable host
    fails here in seconds, whatever MLflow's per-request timeout (large uploads need it)."""
    parts = urllib.parse.urlsplit(target.uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        socket.create_connection((parts.hostname, port), timeout=PROBE_SECONDS).close()
    except (OSError, ValueError) as exc:
        if isinstance(exc, TimeoutError):
            reason = f"no TCP connection within {PROBE_SECONDS:g} s"
        else:
            reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        raise TrackingError(f"cannot reach the tracking server {target.display} ({reason}); "
                            "start it or pass another --tracking-uri") from None


@contextmanager
def _first_request() -> Iterator[None]:
    """The reachability check gets CHECK_SECONDS and no retry (MLflow reads both variables
    per request): a server that accepts connections but never answers fails in seconds."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_HTTP_REQUEST_TIMEOUT",
                                            "MLFLOW_HTTP_REQUEST_MAX_RETRIES")}
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(CHECK_SECONDS)
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _environment() -> None:
    for name, value in {**HTTP_DEFAULTS, **QUIET_DEFAULTS}.items():
        os.environ.setdefault(name, value)
    # MLflow reads MLFLOW_LOGGING_LEVEL when first imported; an earlier import (a library
    # caller, the tests) would still print the database migrations' INFO lines.
    level = logging.getLevelName(os.environ["MLFLOW_LOGGING_LEVEL"].upper())
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(level if isinstance(level, int) else logging.WARNING)


def client(target: Target) -> Any:
    """An ``mlflow.MlflowClient`` for tracking and registry at ``target``, checked to answer
    (the embedded store's directory and database are created on first use)."""
    _environment()
    if target.artifact_root is not None:
        try:
            target.artifact_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrackingError(f"tracking directory {target.artifact_root.parent}: "
                                f"{exc.strerror}; set ${ENV_DIR} or pass --tracking-uri") \
                from None
    _probe(target)
    try:
        import mlflow

        c = mlflow.MlflowClient(tracking_uri=target.uri, registry_uri=target.uri)
        with _first_request():  # reach the store before any long work starts
            c.search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001 - MlflowException, requests, sqlalchemy, ...
        raise failure(target, exc) from None
    return c


def experiment_id(c: Any, target: Target, name: str = EXPERIMENT) -> str:
    """The experiment's id, created on first use (embedded: artifacts under the store)."""
    found = c.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = None
    if target.artifact_root is not None:
        location = (target.artifact_root / name).as_uri()
    return str(c.create_experiment(name, artifact_location=location))


def key(text: str) -> str:
    """A param/metric key MLflow accepts: other characters become '_'."""
    return _KEY_BAD.sub("_", text)[:250]


def flatten(obj: object, prefix: str = "") -> dict[str, str]:
    """Parameters from a config: dataclass fields and mapping keys joined by '.', every other
    value as its text (lists and tuples whole), cut to MLflow's length limit."""
    out: dict[str, str] = {}
    items: list[tuple[str, object]] | None = None
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        items = [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]
    elif isinstance(obj, Mapping):
        items = [(str(k), v) for k, v in obj.items()]
    if items is None:
        text = str(obj.value if isinstance(obj, enum.Enum) else obj)
        return {key(prefix or "value"): text[:_PARAM_CHARS]}
    for name, value in items:
        out.update(flatten(value, f"{prefix}.{name}" if prefix else name))
    return out


def numbers(obj: object, prefix: str = "") -> dict[tuple[str, int], float]:
    """Metrics from a JSON document: every finite number (booleans as 0/1) keyed by its path
    joined by '.'; the first list index on a path becomes the metric's step (folds, trials),
    later ones stay in the key. Text, None, NaN and infinities are not metrics."""
    out: dict[tuple[str, int], float] = {}

    def walk(value: object, path: str, step: int | None) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k), step)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                if step is None:
                    walk(v, path, i)
                else:
                    walk(v, f"{path}.{i}", step)
        elif isinstance(value, (bool, int, float)) and math.isfinite(float(value)):
            out[(key(path or "value"), step or 0)] = float(value)

    walk(obj, prefix, None)
    return out


@dataclass
class Run:
    """One MLflow run of a command; every method logs at once (synchronously)."""

    client: Any
    target: Target
    run_id: str
    experiment_id: str
    artifact_uri: str
    _params: dict[str, str] = field(default_factory=dict)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - see failure()
            raise failure(self.target, exc) from None

    def log_params(self, params: Mapping[str, object]) -> None:
        """Parameters (strings); a key logged again with the same value is skipped, with
        another value it is an error in MLflow, so the second value gets a '.N' suffix."""
        from mlflow.entities import Param

        fresh: dict[str, str] = {}
        for k, v in params.items():
            name, text = key(k), str(v)[:_PARAM_CHARS]
            n = 1
            while self._params.get(name, text) != text:
                n += 1
                name = f"{key(k)}.{n}"
            if name not in self._params:
                fresh[name] = self._params[name] = text
        batch = [Param(k, v) for k, v in fresh.items()]
        for i in range(0, len(batch), _PARAMS_PER_BATCH):
            self._call("log_batch", self.run_id, params=batch[i:i + _PARAMS_PER_BATCH])

    def log_metrics(self, metrics: Mapping[str, float] | Mapping[tuple[str, int], float]
                    ) -> None:
        """Metrics by key, or by (key, step) as ``numbers`` gives them."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = []
        for k, v in metrics.items():
            name, step = (k if isinstance(k, tuple) else (k, 0))
            batch.append(Metric(key(name), float(v), now, int(step)))
        for i in range(0, len(batch), _METRICS_PER_BATCH):
            self._call("log_batch", self.run_id, metrics=batch[i:i + _METRICS_PER_BATCH])

    def log_json_metrics(self, doc: object, prefix: str) -> int:
        """Every number of a JSON document (metrics.json, best.json) as a metric; the count."""
        found = numbers(doc, prefix)
        self.log_metrics(found)
        return len(found)

    def set_tags(self, tags: Mapping[str, object]) -> None:
        from mlflow.entities import RunTag

        batch = [RunTag(k, str(v)[:_TAG_CHARS]) for k, v in tags.items()]
        for i in range(0, len(batch), _PARAMS_PER_BATCH):
            self._call("log_batch", self.run_id, tags=batch[i:i + _PARAMS_PER_BATCH])

    def log_artifacts(self, local_dir: Path, artifact_path: str | None = None) -> None:
        """A directory's files (recursively) under ``artifact_path``."""
        self._call("log_artifacts", self.run_id, str(local_dir), artifact_path)

    def log_artifact(self, local_file: Path, artifact_path: str | None = None) -> None:
        self._call("log_artifact", self.run_id, str(local_file), artifact_path)


class NoRun(Run):
    """What ``track`` yields with tracking off (--no-track): every call does nothing."""

    def __init__(self) -> None:
        super().__init__(None, Target(""), "", "", "")

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return None

    def log_params(self, params: Mapping[str, object]) -> None:
        return None

    def log_metrics(self, metrics: Mapping[Any, float]) -> None:
        return None

    def set_tags(self, tags: Mapping[str, object]) -> None:
        return None


_USERINFO = re.compile(r"://[^/@\s]+@")


def redact(text: str) -> str:
    """``scheme://user:password@host`` -> ``scheme://***@host``: credentials in URLs (a
    --storage or --tracking-uri on the command line) never become params or tags."""
    return _USERINFO.sub("://***@", text)


def run_tags(command: str, argv: list[str] | None) -> dict[str, str]:
    """MLflow's own source tags (the UI shows them) and the versions a result depends on."""
    tags = {"mlflow.source.type": "LOCAL", "mlflow.source.name": f"dwcp-ml {command}",
            "mlflow.source.git.commit": lineage.git_commit(),
            "dwcp_ml.command": command, **lineage.versions()}
    if argv is not None:
        tags["dwcp_ml.argv"] = redact(" ".join(["dwcp-ml", *argv]))
    return tags


@contextmanager
def track(command: str, target: Target | None, *, run_name: str | None = None,
          experiment: str = EXPERIMENT, argv: list[str] | None = None,
          tags: Mapping[str, object] | None = None) -> Iterator[Run]:
    """One MLflow run around a command: created before the work starts (so a bad store fails
    first), FINISHED when the block ends, FAILED (KILLED on Ctrl-C) when it raises; the
    exception goes on. ``target`` None: tracking is off and the run is a ``NoRun``."""
    if target is None:
        yield NoRun()
        return
    c = client(target)
    try:
        exp = experiment_id(c, target, experiment)
        info = c.create_run(exp, run_name=run_name or command,
                            tags={**run_tags(command, argv), **(tags or {})}).info
    except Exception as exc:  # noqa: BLE001 - see failure()
        raise failure(target, exc) from None
    run = Run(c, target, info.run_id, exp, info.artifact_uri)
    status = "FAILED"
    try:
        yield run
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        try:
            c.set_terminated(run.run_id, status=status)
        except Exception as exc:  # noqa: BLE001 - the command's own exception matters more
            if status == "FINISHED":
                raise failure(target, exc) from None
