"""Where each family's traces come from: the embedded default data, ../shared/data, or a
Prometheus server (docs/prometheus-source.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dwcp_ml.datasource import prometheus
from dwcp_ml.training import data, synthetic
from dwcp_ml.training.data import Trace

SOURCES = ("default", "real", "prometheus")


@dataclass(frozen=True)
class Source:
    """Where traces come from: "default" is embedded (synthetic VMs, shipped NAB series) and
    runs anywhere; "real" reads ../shared/data (Bitbrains ``month``, all NAB series);
    "prometheus" reads the ``dwcp_vm_*`` series at ``url`` from ``start`` to ``end`` (Unix
    seconds, both included), optionally narrowed by PromQL label matchers ``match``."""

    kind: str = "default"
    data_dir: Path | None = None
    month: str = "2013-7"
    vms: int | None = None  # first N VMs of the month (of the series); None = all
    url: str | None = None
    start: int | None = None
    end: int | None = None
    match: str = ""


class NotInPrometheusError(ValueError):
    """A family whose traces Prometheus does not hold (anomaly, itp)."""


def _query(source: Source) -> prometheus.Query:
    if source.url is None or source.start is None or source.end is None:
        raise prometheus.PrometheusSourceError("--source prometheus needs --url, --start and "
                                               "--end")
    return prometheus.Query(source.url, source.start, source.end, source.match, source.vms)


def _bitbrains(month: str, loader: Callable[..., Trace], source: Source) -> list[Trace]:
    root = data.data_dir(source.data_dir)
    vms = data.first_vms(month, root, source.vms)
    return [loader(month, vm, root) for vm in vms]


def vm_traces(source: Source) -> list[Trace]:
    """PBA: per-VM resource and network traces."""
    if source.kind == "default":
        return synthetic.traces()
    if source.kind == "prometheus":
        return prometheus.vm_traces(_query(source))
    return _bitbrains(source.month, data.load_bitbrains_vm, source)


def cpu_traces(source: Source) -> list[Trace]:
    """Scaling: per-VM CPU demand in MHz."""
    from dwcp_ml.training import scaling

    if source.kind == "default":
        return scaling.synthetic_cpu_mhz()
    if source.kind == "prometheus":
        return prometheus.cpu_traces(_query(source))
    return _bitbrains(source.month, data.load_bitbrains_cpu_mhz, source)


def metric_traces(source: Source) -> list[Trace]:
    """Anomaly: labelled NAB series."""
    from dwcp_ml.training import anomaly

    if source.kind == "prometheus":
        raise NotInPrometheusError("anomaly trains on labelled NAB series, which Prometheus "
                                   "does not hold: train it with --source default or real")
    if source.kind == "default":
        return anomaly.shipped_traces()
    root = data.data_dir(source.data_dir) / "nab"
    names = sorted(p.relative_to(root).as_posix() for p in root.glob("real*/*.csv"))
    if not names:
        raise data.DataNotFoundError(f"no NAB series (real*/*.csv) under {root}: pass --data "
                                     "DIR holding nab/")
    return [data.load_nab(name, root.parent) for name in names]


def no_traces(source: Source) -> list[Trace]:
    """ITP: the simulator generates its own seeded VMs."""
    if source.kind == "prometheus":
        raise NotInPrometheusError("itp trains on its simulator's seeded VMs and reads no "
                                   "traces: train it with --source default or real")
    return []


def reads_prometheus(traces: Callable[[Source], list[Trace]]) -> bool:
    """Whether a family's trace function reads --source prometheus (pba, scaling)."""
    return traces in (vm_traces, cpu_traces)
