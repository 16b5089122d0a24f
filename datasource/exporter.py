"""A replay exporter: traces served as Prometheus gauges while a replay clock advances
(``dwcp-ml replay-exporter``; docs/prometheus-source.md).

The replay clock starts at the traces' first sample and runs ``speed`` times faster than the
wall clock. Each scrape answers, per VM and metric, the last sample at or before the replay
time (the last of a repeated second), with no exposition timestamp: Prometheus stamps it with
the scrape time, as for any live exporter. ``dwcp_replay_sample_timestamp_seconds`` says which
trace sample is being served. A scrape samples the trace at the scrape interval, so a live
copy is a resampled one; the exact copy is the backfill (openmetrics.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from dwcp_ml.training.data import Trace

from . import naming


class ExporterError(ValueError):
    """Bad exporter input: no traces, a bad --listen or --speed, a port in use."""


@dataclass
class _Series:
    labels: list[str]  # dataset, vm
    ts: np.ndarray  # sorted seconds
    values: np.ndarray  # (n, channels), stored scale


class ReplayCollector(Collector):
    """The gauges of every trace at replay time ``clock()``-driven."""

    def __init__(self, vm_traces: list[Trace], cpu_traces: list[Trace], speed: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not vm_traces and not cpu_traces:
            raise ExporterError("no traces to replay")
        if not (speed > 0 and np.isfinite(speed)):
            raise ExporterError(f"--speed {speed!r} must be a finite number > 0")
        self.vm = [self._series(t, t.name, naming.VM_METRICS) for t in vm_traces]
        self.cpu = [self._series(t, t.name.removesuffix(naming.CPU_MHZ_SUFFIX),
                                 (naming.CPU_MHZ,)) for t in cpu_traces]
        self.origin = min(int(s.ts[0]) for s in self.vm + self.cpu if len(s.ts))
        self.speed, self.clock, self.wall0 = speed, clock, clock()

    @staticmethod
    def _series(trace: Trace, name: str, metrics: tuple[naming.Metric, ...]) -> _Series:
        order = np.argsort(trace.ts, kind="stable")
        values = np.column_stack([m.to_prometheus(trace.values[order, c])
                                  for c, m in enumerate(metrics)])
        labels = naming.labels_of(name)
        return _Series([labels[naming.DATASET_LABEL], labels[naming.VM_LABEL]],
                       trace.ts[order], values)

    def replay_time(self) -> float:
        return self.origin + (self.clock() - self.wall0) * self.speed

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.replay_time()
        label_names = [naming.DATASET_LABEL, naming.VM_LABEL]
        clock = GaugeMetricFamily("dwcp_replay_clock_seconds", "Replay time (Unix seconds of "
                                  "the trace) the exporter serves.", value=now, unit="seconds")
        yield clock
        stamp = GaugeMetricFamily("dwcp_replay_sample_timestamp_seconds", "Trace timestamp "
                                  "of the sample each VM's gauges show.", labels=label_names,
                                  unit="seconds")
        for group, metrics in ((self.vm, naming.VM_METRICS), (self.cpu, (naming.CPU_MHZ,))):
            families = [GaugeMetricFamily(m.name, m.help, labels=label_names, unit=m.unit)
                        for m in metrics]
            for s in group:
                i = int(np.searchsorted(s.ts, now, side="right")) - 1
                if i < 0:
                    continue  # the replay has not reached this VM's first sample
                for c, family in enumerate(families):
                    family.add_metric(s.labels, float(s.values[i, c]))
                if group is self.vm or not self.vm:
                    stamp.add_metric(s.labels, float(s.ts[i]))
            yield from families
        yield stamp


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ExporterError(f"--listen {text!r} is not HOST:PORT (e.g. 127.0.0.1:9108)")
    return host.strip("[]"), int(port)


def serve(collector: ReplayCollector, listen: str, stop: threading.Event,
          ready: Callable[[str], None] = lambda _: None) -> None:
    """Serves /metrics on ``listen`` until ``stop`` is set; ``ready`` gets host:port."""
    from prometheus_client import start_http_server

    host, port = parse_listen(listen)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ExporterError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    try:
        ready(f"{host}:{server.server_address[1]}")
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
