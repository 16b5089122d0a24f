"""The one mapping between trace channels and Prometheus series (docs/prometheus-source.md).

Names follow the Prometheus naming guide: a ``dwcp_vm_`` prefix, the unit as a suffix,
gauges (the traces hold rates and levels, not counters). Scales are powers of two only
(KB/s -> bytes/s is x1024), so a value goes into Prometheus and back with the same bits;
percentages stay percentages for the same reason (/100 would change the last bit).

Labels: ``dataset`` and ``vm`` split a trace's name at its first ``/``
(``bitbrains/2013-7/4`` -> ``dataset="bitbrains", vm="2013-7/4"``); the reader joins them back,
so a trace read from Prometheus has the name (and the training data digest) of the CSV one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from dwcp_ml.training.data import BITBRAINS_VM_CHANNELS

DATASET_LABEL = "dataset"
VM_LABEL = "vm"
CPU_MHZ_SUFFIX = "/cpu_mhz"  # the scaling trace of a VM: its VM trace's name + this


@dataclass(frozen=True)
class Metric:
    """One channel as a Prometheus gauge: stored value = channel value * ``scale``."""

    name: str
    channel: str
    unit: str  # the OpenMetrics UNIT (the name's suffix)
    scale: float  # a power of two: exact both ways
    help: str

    def to_prometheus(self, value: float) -> float:
        return value * self.scale

    def from_prometheus(self, value: float) -> float:
        return value / self.scale


def _metric(name: str, channel: str, unit: str, scale: float, help: str) -> Metric:
    if not name.endswith("_" + unit):
        raise AssertionError(f"{name}: a unit's name must end the metric's name")
    mantissa, _ = math.frexp(scale)
    if mantissa != 0.5:
        raise AssertionError(f"{name}: scale {scale} is not a power of two")
    return Metric(name, channel, unit, scale, help)


KIB = 1024.0  # Bitbrains' "KB" is read as KiB; a power of two keeps the bits

# The VM schema's channels, in its order (pba).
VM_METRICS: tuple[Metric, ...] = (
    _metric("dwcp_vm_cpu_usage_percent", "cpu_pct", "percent", 1.0,
            "CPU usage of the VM, percent of its provisioned cores (0-100 per VM)."),
    _metric("dwcp_vm_memory_usage_percent", "mem_pct", "percent", 1.0,
            "Memory usage of the VM, percent of its provisioned memory."),
    _metric("dwcp_vm_disk_read_bytes_per_second", "disk_read_kbs", "bytes_per_second", KIB,
            "Disk read throughput of the VM."),
    _metric("dwcp_vm_disk_write_bytes_per_second", "disk_write_kbs", "bytes_per_second", KIB,
            "Disk write throughput of the VM."),
    _metric("dwcp_vm_network_receive_bytes_per_second", "net_rx_kbs", "bytes_per_second", KIB,
            "Network receive throughput of the VM."),
    _metric("dwcp_vm_network_transmit_bytes_per_second", "net_tx_kbs", "bytes_per_second",
            KIB, "Network transmit throughput of the VM."),
)
if tuple(m.channel for m in VM_METRICS) != BITBRAINS_VM_CHANNELS:
    raise AssertionError("VM_METRICS must follow the VM schema's channel order")

# The metric schema's one channel for the scaling family: CPU demand in MHz. Megahertz, not
# hertz: x1e6 is not a power of two.
CPU_MHZ = _metric("dwcp_vm_cpu_usage_megahertz", "value", "megahertz", 1.0,
                  "CPU demand of the VM in MHz (a Bitbrains core is 2600 MHz).")

# DWCP's own link gauges (the link schema's channels), as the DWCP bandwidth predictor
# exports them; read as they are.
LINK_METRICS: tuple[Metric, ...] = tuple(
    Metric(f"dwcp_pba_current_{c}", c, c.rsplit("_", 1)[1], 1.0, f"DWCP link {c}.")
    for c in ("bandwidth_mbps", "latency_ms", "packet_loss_ratio", "jitter_ms"))

# Optional counters (`write_openmetrics(counters=True)`): what node-exporter users have and
# dashboards rate(); the integral of the gauge, so rate() of it approximates the gauge but
# does not keep its bits (docs/prometheus-source.md).
COUNTERS: dict[str, str] = {
    m.name: m.name.removesuffix("_per_second") + "_total"
    for m in VM_METRICS if m.unit == "bytes_per_second"
}

def labels_of(trace_name: str) -> dict[str, str]:
    """``dataset`` and ``vm`` labels of a VM trace's name."""
    dataset, sep, vm = trace_name.partition("/")
    if not sep or not dataset or not vm:
        raise ValueError(f"trace name {trace_name!r} is not <dataset>/<vm> (e.g. "
                         "bitbrains/2013-7/4): it has no Prometheus labels")
    return {DATASET_LABEL: dataset, VM_LABEL: vm}


def name_of(labels: dict[str, str]) -> str:
    """The trace name a series' labels stand for (inverse of :func:`labels_of`)."""
    return f"{labels.get(DATASET_LABEL, '')}/{labels.get(VM_LABEL, '')}"


def escape(value: str) -> str:
    """A label value in the text exposition formats."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def natural_key(name: str) -> tuple[object, ...]:
    """Sort key putting ``bitbrains/2013-7/10`` after ``.../9`` (the CSV path's VM order)."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))
