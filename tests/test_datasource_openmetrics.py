"""The datasource without a Prometheus: naming, the OpenMetrics file (read back with
prometheus-client's parser, bit for bit), promtool's timestamp arithmetic, the replay
exporter scraped over loopback, and its bad input."""

from __future__ import annotations

import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as text_families

from dwcp_ml.datasource import exporter, naming, openmetrics
from dwcp_ml.training import scaling, synthetic
from dwcp_ml.training.data import BITBRAINS_VM_CHANNELS, Trace
from services import free_port, stop

WAIT_S = 60.0


def bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def test_names_units_and_exact_scales() -> None:
    assert [m.channel for m in naming.VM_METRICS] == list(BITBRAINS_VM_CHANNELS)
    rng = np.random.default_rng(7)
    values = np.r_[rng.random(10_000) * 10.0 ** rng.integers(-300, 300, 10_000),
                   5e-324, 2.2250738585072014e-308, 0.0, 1.7e305]
    for m in (*naming.VM_METRICS, naming.CPU_MHZ):
        assert m.name.endswith("_" + m.unit) and m.name.startswith("dwcp_vm_")
        back = m.from_prometheus(m.to_prometheus(values))
        assert np.array_equal(back.view(np.uint64), values.view(np.uint64)), m.name
    assert [m.name for m in naming.LINK_METRICS] == [
        "dwcp_pba_current_bandwidth_mbps", "dwcp_pba_current_latency_ms",
        "dwcp_pba_current_packet_loss_ratio", "dwcp_pba_current_jitter_ms"]
    assert naming.labels_of("bitbrains/2013-7/4") == {"dataset": "bitbrains", "vm": "2013-7/4"}
    assert naming.name_of(naming.labels_of("synthetic/vm0")) == "synthetic/vm0"
    assert sorted(["b/10", "b/9", "b/100"], key=naming.natural_key) == ["b/9", "b/10", "b/100"]
    with pytest.raises(ValueError, match="not <dataset>/<vm>"):
        naming.labels_of("vm0")


def test_repeats_get_milliseconds_in_file_order() -> None:
    ts = np.array([10, 10, 10, 11, 12, 12], np.int64)
    order, ms = openmetrics.stored_ms(ts)
    assert order.tolist() == [0, 1, 2, 3, 4, 5]
    assert ms.tolist() == [10000, 10001, 10002, 11000, 12000, 12001]
    order, ms = openmetrics.stored_ms(np.array([12, 10, 12, 10], np.int64))
    assert order.tolist() == [1, 3, 0, 2] and ms.tolist() == [10000, 10001, 12000, 12001]
    with pytest.raises(openmetrics.OpenMetricsError, match="repeats more than 1000 times"):
        openmetrics.stored_ms(np.full(1001, 5, np.int64))


def test_timestamp_text_survives_promtools_truncation() -> None:
    # promtool: int64(ParseFloat(text) * 1000), a truncation; Go and Python floats agree.
    for sec in (0, 1, 1372636810, 1375315199, 253402300799):
        for frac in range(1000):
            ms = sec * 1000 + frac
            assert int(float(openmetrics.timestamp_text(ms)) * 1000.0) == ms, ms
    # The naive text fails for some (why the writer checks each one): 1.001 s -> 1000 ms.
    naive = [ms for ms in range(1000, 3000)
             if int(float(f"{ms // 1000}.{ms % 1000:03d}") * 1000.0) != ms]
    assert 1001 in naive


def _traces() -> tuple[list[Trace], list[Trace]]:
    vm = synthetic.traces(synthetic.SyntheticConfig(vms=2, days=1))
    cpu = scaling.synthetic_cpu_mhz()[:2]
    cpu = [Trace(c.name, c.ts[:len(v.ts)], c.values[:len(v.ts)]) for c, v in zip(cpu, vm)]
    return vm, cpu


def test_openmetrics_round_trip_bits(tmp_path: Path) -> None:
    vm, cpu = _traces()
    path = tmp_path / "t.om"
    summary = openmetrics.write_openmetrics(path, vm, cpu, counters=True)
    text = path.read_text()
    assert text.endswith("# EOF\n")
    got: dict[tuple[str, str], list[tuple[int, int]]] = {}
    kinds = {}
    for family in text_string_to_metric_families(text):
        kinds[family.name] = (family.type, family.unit)
        for s in family.samples:
            key = (s.name, naming.name_of(s.labels))
            ts = s.timestamp
            ms = ts.sec * 1000 + ts.nsec // 1_000_000 if hasattr(ts, "sec") else round(ts * 1000)
            got.setdefault(key, []).append((ms, bits(s.value)))
    assert kinds["dwcp_vm_network_receive_bytes"] == ("counter", "bytes")
    assert kinds["dwcp_vm_cpu_usage_percent"] == ("gauge", "percent")
    assert summary.series == len(got) == 2 * (6 + 4 + 1)
    assert summary.repeats > 0 and summary.reordered == 0
    for trace in vm:
        order, ms = openmetrics.stored_ms(trace.ts)
        for c, m in enumerate(naming.VM_METRICS):
            want = [(int(t), bits(float(v))) for t, v in
                    zip(ms, m.to_prometheus(trace.values[order, c]))]
            assert got[(m.name, trace.name)] == want
    for trace in cpu:
        name = trace.name.removesuffix(naming.CPU_MHZ_SUFFIX)
        assert [b for _, b in got[(naming.CPU_MHZ.name, name)]] == \
            [bits(float(v)) for v in trace.values[:, 0]]


def test_openmetrics_refuses_what_the_core_refuses(tmp_path: Path) -> None:
    vm, _ = _traces()
    bad = Trace(vm[0].name, vm[0].ts, vm[0].values.copy())
    bad.values[3, 2] = -1.0
    with pytest.raises(openmetrics.OpenMetricsError, match="finite and >= 0"):
        openmetrics.write_openmetrics(tmp_path / "x.om", [bad])
    with pytest.raises(ValueError, match="not <dataset>/<vm>"):
        openmetrics.write_openmetrics(tmp_path / "x.om", [Trace("vm0", vm[0].ts, vm[0].values)])


def test_replay_collector_serves_the_sample_at_replay_time() -> None:
    vm, cpu = _traces()
    now = [100.0]
    collector = exporter.ReplayCollector(vm, cpu, speed=60.0, clock=lambda: now[0])
    now[0] += 3600.0 / 60.0  # one trace hour later
    fams = {f.name: f for f in collector.collect()}
    at = collector.origin + 3600
    assert fams["dwcp_replay_clock_seconds"].samples[0].value == at
    for trace in vm:
        labels = naming.labels_of(trace.name)
        i = int(np.searchsorted(trace.ts, at, side="right")) - 1
        for c, m in enumerate(naming.VM_METRICS):
            (s,) = [s for s in fams[m.name].samples if s.labels == labels]
            assert bits(s.value) == bits(m.to_prometheus(float(trace.values[i, c])))
    with pytest.raises(exporter.ExporterError, match="--speed"):
        exporter.ReplayCollector(vm, cpu, speed=0.0)


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dwcp_ml.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_replay_exporter_scraped_on_loopback() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dwcp_ml.cli", "replay-exporter",
                             "--listen", f"127.0.0.1:{port}", "--speed", "600"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    traces = {t.name: t for t in synthetic.traces()}
    # The VMs' first samples are 8 trace seconds apart (13 ms of wall time at --speed 600):
    # a scrape that early shows only the VMs the replay clock has reached.
    first = max(float(t.ts[0]) for t in traces.values())
    try:
        deadline = time.monotonic() + WAIT_S
        fams: dict[str, Any] = {}
        while not fams or fams["dwcp_replay_clock_seconds"].samples[0].value < first:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the exporter did not answer within 60 s"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    fams = {f.name: f for f in text_families(r.read().decode())}
            except OSError:
                time.sleep(0.2)
    finally:
        stop(proc)
    stamps = {naming.name_of(s.labels): s.value
              for s in fams["dwcp_replay_sample_timestamp_seconds"].samples}
    assert set(stamps) == set(traces)
    for m in naming.VM_METRICS:
        assert fams[m.name].type == "gauge"
        for s in fams[m.name].samples:
            assert set(s.labels) == {"dataset", "vm"}
            trace = traces[naming.name_of(s.labels)]
            i = int(np.searchsorted(trace.ts, stamps[trace.name], side="right")) - 1
            c = [x.name for x in naming.VM_METRICS].index(m.name)
            assert bits(s.value) == bits(m.to_prometheus(float(trace.values[i, c])))
    assert len(fams[naming.CPU_MHZ.name].samples) == len(traces)


@pytest.mark.parametrize("args, message", [
    (["--listen", "nohost"], "is not HOST:PORT"),
    (["--speed", "-1"], "--speed -1.0 must be"),
    (["--tsdb", "x"], "--tsdb backfills the --openmetrics file"),
])
def test_replay_exporter_bad_input(args: list[str], message: str) -> None:
    proc = _cli("replay-exporter", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_replay_exporter_port_in_use() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        proc = _cli("replay-exporter", "--listen", f"127.0.0.1:{s.getsockname()[1]}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "cannot listen on" in proc.stderr
