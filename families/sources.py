"""Where each family's traces come from: the embedded default data, or ../shared/data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dwcp_ml.training import data, synthetic
from dwcp_ml.training.data import Trace

SOURCES = ("default", "real")


@dataclass(frozen=True)
class Source:
    """Where traces come from: "default" is embedded (synthetic VMs, shipped NAB series) and
    runs anywhere; "real" reads ../shared/data (Bitbrains ``month``, all NAB series)."""

    kind: str = "default"
    data_dir: Path | None = None
    month: str = "2013-7"
    vms: int | None = None  # first N VMs of the month; None = all


def _bitbrains(month: str, loader: Callable[..., Trace], source: Source) -> list[Trace]:
    root = data.data_dir(source.data_dir)
    vms = data.first_vms(month, root, source.vms)
    return [loader(month, vm, root) for vm in vms]


def vm_traces(source: Source) -> list[Trace]:
    """PBA: per-VM resource and network traces."""
    if source.kind == "default":
        return synthetic.traces()
    return _bitbrains(source.month, data.load_bitbrains_vm, source)


def cpu_traces(source: Source) -> list[Trace]:
    """Scaling: per-VM CPU demand in MHz."""
    from dwcp_ml.training import scaling

    if source.kind == "default":
        return scaling.synthetic_cpu_mhz()
    return _bitbrains(source.month, data.load_bitbrains_cpu_mhz, source)


def metric_traces(source: Source) -> list[Trace]:
    """Anomaly: labelled NAB series."""
    from dwcp_ml.training import anomaly

    if source.kind == "default":
        return anomaly.shipped_traces()
    root = data.data_dir(source.data_dir) / "nab"
    names = sorted(p.relative_to(root).as_posix() for p in root.glob("real*/*.csv"))
    if not names:
        raise data.DataNotFoundError(f"no NAB series (real*/*.csv) under {root}: pass --data "
                                     "DIR holding nab/")
    return [data.load_nab(name, root.parent) for name in names]


def no_traces(_: Source) -> list[Trace]:
    """ITP: the simulator generates its own seeded VMs."""
    return []
