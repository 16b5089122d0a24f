"""Traces read from a Prometheus over its HTTP API (docs/prometheus-source.md).

Raw samples only: an instant query of a range selector, ``metric{...}[Nms]`` at the range's
end, answers every stored sample with its own timestamp and value (what the CSV holds), where
``query_range`` would answer one value per step and ``rate()`` a derived number. Values come
as text in Go's shortest round-trip form and ``float()`` reads them to the same bits; the
timestamps (seconds with 3 decimals) are read as decimals, never through a float.
"""

from __future__ import annotations

import calendar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from dwcp_ml.training.data import MAX_TIMESTAMP, Trace

from . import naming

TIMEOUT_S = 30.0  # bound of every HTTP request
CHUNK_MS = 7 * 86400 * 1000  # one query per metric and week: bounded answers (~6 MB / 100 VMs)
_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z")


class PrometheusSourceError(ValueError):
    """Prometheus unreachable, not Prometheus, refusing the query, or holding no series."""


def parse_time(text: str) -> int:
    """Unix seconds from ``1372636800`` or ``2013-07-01T00:00:00Z`` (UTC)."""
    if re.fullmatch(r"\d{1,12}", text):
        value = int(text)
    else:
        m = _RFC3339.fullmatch(text)
        if m is None:
            raise PrometheusSourceError(f"time {text!r} is neither Unix seconds nor "
                                        "YYYY-MM-DDTHH:MM:SSZ")
        try:
            value = calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            raise PrometheusSourceError(f"time {text!r} is not a valid UTC time") from None
    if value > MAX_TIMESTAMP:
        raise PrometheusSourceError(f"time {text!r} is after 9999-12-31 (Unix seconds, not "
                                    "milliseconds)")
    return value


@dataclass(frozen=True)
class Client:
    url: str  # base URL, e.g. http://127.0.0.1:9090
    timeout: float = TIMEOUT_S

    def _get(self, path: str, params: dict[str, str]) -> Any:
        base = self.url.rstrip("/")
        if not re.match(r"https?://", base):
            raise PrometheusSourceError(f"--url {self.url!r} is not an http:// or https:// URL")
        full = f"{base}{path}?{urllib.parse.urlencode(params)}" if params else base + path
        try:
            with urllib.request.urlopen(full, timeout=self.timeout) as r:
                body = r.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()
            doc = _json(body)
            if isinstance(doc, dict) and doc.get("status") == "error":
                what = params.get("query", path)
                raise PrometheusSourceError(f"Prometheus at {base} refused {what!r}: "
                                            f"{doc.get('errorType')}: {doc.get('error')}") from None
            raise PrometheusSourceError(f"{base}{path} answered HTTP {exc.code}; is {base} a "
                                        "Prometheus server?") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PrometheusSourceError(f"cannot reach Prometheus at {base}: {reason} (is it "
                                        f"running? bounded at {self.timeout:g} s)") from None
        doc = _json(body)
        if not isinstance(doc, dict) or "status" not in doc or "data" not in doc:
            raise PrometheusSourceError(f"{base}{path} did not answer as the Prometheus HTTP "
                                        "API (no JSON with status and data): is --url the "
                                        "server's base URL?")
        if doc["status"] != "success":
            raise PrometheusSourceError(f"Prometheus at {base} refused {params}: "
                                        f"{doc.get('errorType')}: {doc.get('error')}")
        return doc["data"]

    def version(self) -> str:
        """The server's version (``/api/v1/status/buildinfo``): checks it is Prometheus."""
        data = self._get("/api/v1/status/buildinfo", {})
        if not isinstance(data, dict) or "version" not in data:
            raise PrometheusSourceError(f"{self.url} answered buildinfo without a version: "
                                        "not a Prometheus server")
        return str(data["version"])

    def raw_samples(self, metric: str, start: int, end: int, match: str = ""
                    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Every stored sample of ``metric{match}`` from second ``start`` to second ``end``
        (both whole seconds included): trace name -> (milliseconds, values), in time order."""
        lo, hi = start * 1000, (end + 1) * 1000  # [lo, hi) in ms
        parts: dict[str, list[tuple[list[int], list[float]]]] = {}
        labels_seen: dict[str, dict[str, str]] = {}
        a = lo
        while a < hi:
            b = min(a + CHUNK_MS, hi)
            at = Decimal(b - 1) / 1000  # evaluation time: the chunk's last millisecond
            # +1 ms: Prometheus 3 ranges are left-open, 2.x closed; filtered to [a, b) below
            query = f"{metric}{{{match}}}[{b - a + 1}ms]"
            result = self._get("/api/v1/query", {"query": query, "time": str(at)})
            if not isinstance(result, dict) or result.get("resultType") != "matrix":
                got = result.get("resultType") if isinstance(result, dict) else result
                raise PrometheusSourceError(f"{query}: expected a matrix answer, got {got!r}")
            for series in result["result"]:
                labels = {k: v for k, v in series["metric"].items()}
                name = naming.name_of(labels)
                other = labels_seen.setdefault(name, labels)
                if other != labels:
                    raise PrometheusSourceError(
                        f"{metric}: two series for {name} ({_diff(other, labels)}): narrow the "
                        "selection with --match, e.g. job=\"...\"")
                ms, values = [], []
                for ts, value in series.get("values", []):
                    t = int(Decimal(ts) * 1000) if not isinstance(ts, int) else ts * 1000
                    if a <= t < b:
                        ms.append(t)
                        values.append(float(value))
                parts.setdefault(name, []).append((ms, values))
            a = b
        out = {}
        for name, chunks in parts.items():
            ms = np.array([t for c in chunks for t in c[0]], dtype=np.int64)
            values = np.array([v for c in chunks for v in c[1]], dtype=np.float64)
            if len(ms):
                out[name] = (ms, values)
        return out


def _json(body: bytes) -> Any:
    try:
        # Decimal keeps a timestamp's milliseconds exact; values are strings anyway.
        return json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        return None


def _diff(a: dict[str, str], b: dict[str, str]) -> str:
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(f"{k}={a.get(k)!r} vs {b.get(k)!r}" for k in keys)


@dataclass(frozen=True)
class Query:
    """What to read: the server, the time range (Unix seconds, both ends included), optional
    label matchers (PromQL, e.g. ``dataset="bitbrains"``), the first ``vms`` VMs."""

    url: str
    start: int
    end: int
    match: str = ""
    vms: int | None = None

    def check(self) -> None:
        if self.start >= self.end:
            raise PrometheusSourceError(f"--start {self.start} is not before --end {self.end}: "
                                        "give a time range of at least one second")


def _select(q: Query, names: list[str], what: str) -> list[str]:
    names = sorted(names, key=naming.natural_key)
    if not names:
        sel = f"{{{q.match}}}" if q.match else ""
        raise PrometheusSourceError(
            f"no {what} series{sel} between {q.start} and {q.end} at {q.url}: backfill them "
            "(dwcp-ml replay-exporter --openmetrics FILE --tsdb DIR) or check --start/--end")
    if q.vms is not None:
        if not 1 <= q.vms <= len(names):
            raise PrometheusSourceError(f"{q.url} holds {len(names)} VMs in that range; cannot "
                                        f"take the first {q.vms}: pass --vms 1..{len(names)}")
        names = names[:q.vms]
    return names


def _check_values(name: str, metric: str, ms: np.ndarray, values: np.ndarray) -> None:
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if len(bad):
        i = int(bad[0])
        raise PrometheusSourceError(f"{metric} of {name} at {ms[i] / 1000:.3f}: {values[i]!r} "
                                    "is not a finite number >= 0 (the feature core refuses it)")


def vm_traces(q: Query) -> list[Trace]:
    """VM-schema traces (pba): the six ``dwcp_vm_*`` gauges of each VM, joined on their
    timestamps (a sample where one of them is missing is left out)."""
    q.check()
    client = Client(q.url)
    per_metric = [client.raw_samples(m.name, q.start, q.end, q.match) for m in naming.VM_METRICS]
    names = _select(q, [n for n in per_metric[0] if all(n in p for p in per_metric[1:])],
                    "dwcp_vm_* (all six)")
    traces = []
    for name in names:
        ms = per_metric[0][name][0]
        for p in per_metric[1:]:
            ms = np.intersect1d(ms, p[name][0], assume_unique=True)
        columns = []
        for metric, p in zip(naming.VM_METRICS, per_metric):
            t, v = p[name]
            _check_values(name, metric.name, t, v)
            columns.append(metric.from_prometheus(v[np.isin(t, ms, assume_unique=True)]))
        traces.append(Trace(name, ms // 1000, np.ascontiguousarray(np.column_stack(columns))))
    return traces


def cpu_traces(q: Query) -> list[Trace]:
    """Metric-schema traces of CPU demand in MHz (scaling): ``dwcp_vm_cpu_usage_megahertz``."""
    q.check()
    metric = naming.CPU_MHZ
    raw = Client(q.url).raw_samples(metric.name, q.start, q.end, q.match)
    traces = []
    for name in _select(q, list(raw), metric.name):
        ms, v = raw[name]
        _check_values(name, metric.name, ms, v)
        traces.append(Trace(name + naming.CPU_MHZ_SUFFIX, ms // 1000,
                            np.ascontiguousarray(metric.from_prometheus(v)[:, None])))
    return traces
