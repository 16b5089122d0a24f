"""A real Prometheus (Debian's package) over a TSDB that promtool backfilled from OpenMetrics
files this module writes: the synthetic default VMs and three Bitbrains July 2013 VMs read from
../shared/data at run time (4 and 5, the month's first, and 122, the first with repeated
seconds:
4,194 of them, 4,220 extra samples, two seconds with differing values). It shows:

- the traces read back over the HTTP API equal the CSV traces bit for bit (timestamps, values);
- so do the families' feature tensors (fc.resample -> complete runs -> fc.windows, pba's and
  scaling's shipped parameters): the parity claim, with the number of values compared printed;
- query_range (one value per step) and rate() of a counter do not keep the bits;
- `dwcp-ml train --source prometheus` gives the same training data digest and the same models
  as `--source default`, and (`--vms 2`) as `--source real --vms 2`;
- bad input (unreachable, not Prometheus, empty or inverted range, no series, a family that
  does not read Prometheus) ends in one line and exit status 2;
- a second Prometheus scraping the live replay exporter stores samples of the trace.
"""

from __future__ import annotations

import http.server
import json
import pickle
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from prom_server import prometheus
from services import free_port, stop

from dwcp_ml.datasource import naming, openmetrics
from dwcp_ml.datasource import prometheus as source
from dwcp_ml.training import data, prepare, scaling, synthetic
from dwcp_ml.training.data import Trace
from dwcp_ml.training.pba import PbaConfig
from dwcp_ml.training.scaling import ScalingConfig

MONTH = "2013-7"
BITBRAINS_VMS = (4, 5, 122)


@dataclass(frozen=True)
class Loaded:
    vm: list[Trace]
    cpu: list[Trace]
    dataset: str

    @property
    def span(self) -> tuple[int, int]:
        return (int(min(t.ts.min() for t in self.vm)), int(max(t.ts.max() for t in self.vm)))

    def query(self, url: str) -> source.Query:
        return source.Query(url, *self.span, match=f'dataset="{self.dataset}"')


@dataclass(frozen=True)
class Server:
    url: str
    sets: dict[str, Loaded]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = data.data_dir()
    sets = {
        "synthetic": Loaded(synthetic.traces(), scaling.synthetic_cpu_mhz(), "synthetic"),
        "bitbrains": Loaded([data.load_bitbrains_vm(MONTH, vm, root) for vm in BITBRAINS_VMS],
                            [data.load_bitbrains_cpu_mhz(MONTH, vm, root)
                             for vm in BITBRAINS_VMS], "bitbrains"),
    }
    d = tmp_path_factory.mktemp("prom")
    tsdb = d / "tsdb"
    for name, loaded in sets.items():
        started = time.perf_counter()
        written = openmetrics.write_openmetrics(d / f"{name}.om", loaded.vm, loaded.cpu,
                                                counters=True)
        wrote = time.perf_counter() - started
        done = openmetrics.backfill(d / f"{name}.om", tsdb)
        print(f"\n{name}: {written.series} series, {written.samples} samples, "
              f"{written.repeats} repeats; written in {wrote:.2f} s, promtool "
              f"{done.seconds:.2f} s, {done.blocks} blocks")
        assert done.blocks >= 1
    with prometheus(tsdb, d / "run") as url:
        yield Server(url, sets)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dataset", ["synthetic", "bitbrains"])
def test_traces_from_prometheus_equal_the_csv(server: Server, dataset: str) -> None:
    loaded = server.sets[dataset]
    q = loaded.query(server.url)
    for want, got in ((loaded.vm, source.vm_traces(q)), (loaded.cpu, source.cpu_traces(q))):
        assert [t.name for t in got] == [t.name for t in want]
        for w, g in zip(want, got):
            assert _same_bits(w.ts, g.ts), w.name
            assert _same_bits(w.values, g.values), w.name
    got = source.vm_traces(q)
    assert data.traces_digest(got) == data.traces_digest(loaded.vm)
    if dataset == "bitbrains":  # VM 122's 4,194 repeated seconds: 4,220 extra samples
        ts = got[2].ts
        assert len(ts) - len(np.unique(ts)) == 4220
        assert len(np.unique(ts[np.r_[False, ts[1:] == ts[:-1]]])) == 4194


def test_feature_tensors_from_prometheus_equal_the_csv_bit_for_bit(server: Server) -> None:
    families = (("pba", PbaConfig.shipped().params(), source.vm_traces, "vm"),
                ("scaling", ScalingConfig().params(), source.cpu_traces, "cpu"))
    tensors = values = 0
    for loaded in server.sets.values():
        q = loaded.query(server.url)
        for family, params, read, attr in families:
            for want, got in zip(getattr(loaded, attr), read(q)):
                gw, gg = prepare.to_grid(params, want), prepare.to_grid(params, got)
                assert _same_bits(gw.values, gg.values) and _same_bits(gw.counts, gg.counts)
                xw, xg = prepare.grid_windows(params, gw), prepare.grid_windows(params, gg)
                assert len(xw) > 0, (family, want.name)
                assert _same_bits(xw, xg), (family, want.name)
                tensors += len(xw)
                values += xw.size
    print(f"\nparity: {tensors} window tensors, {values} float32 values, equal bits")


def _query(url: str, path: str, **params: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}{path}?{urllib.parse.urlencode(params)}",
                                timeout=30) as r:
        doc = json.loads(r.read())
    assert doc["status"] == "success", doc
    return doc["data"]["result"]


def test_query_range_and_rate_do_not_keep_the_bits(server: Server) -> None:
    loaded = server.sets["bitbrains"]
    trace = loaded.vm[2]  # VM 122: repeated seconds
    rx = naming.VM_METRICS[4]
    start, end = loaded.span
    sel = f'{{dataset="bitbrains",vm="{MONTH}/122"}}'
    # query_range: one value per step at step-aligned times (the latest sample within the
    # lookback), not the samples: other timestamps, repeats lost.
    (series,) = _query(server.url, "/api/v1/query_range", query=rx.name + sel,
                       start=str(start), end=str(end), step="300")
    ts = np.array([int(t) for t, _ in series["values"]], np.int64)
    assert len(ts) != len(trace.ts) and not np.isin(ts, trace.ts).all()
    # rate() of the integral counter, against the gauge itself at the same evaluation
    # times (query_range of a bare selector answers a stored sample, bits kept): it
    # approximates the gauge, it does not keep its bits.
    counter = naming.COUNTERS[rx.name]
    at = {"start": str(start + 3600), "end": str(end), "step": "300"}
    (rate,) = _query(server.url, "/api/v1/query_range", query=f"rate({counter}{sel}[15m])",
                     **at)
    (gauge,) = _query(server.url, "/api/v1/query_range", query=rx.name + sel, **at)
    raw = set(np.asarray(trace.values[:, 4] * naming.KIB).tolist())
    g = {t: float(v) for t, v in gauge["values"]}
    assert set(g.values()) <= raw  # the gauge's answers are samples, bit for bit
    common = [(float(v), g[t]) for t, v in rate["values"] if t in g and g[t] > 0]
    differ = sum(a != b for a, b in common)
    print(f"\nrate(): {differ} of {len(common)} non-zero values differ from the sample at "
          "that time")
    assert len(common) > 100 and differ > 0.9 * len(common)


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dwcp_ml.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def _trained(work: Path, name: str) -> object:
    with open(work / "trained" / f"{name}.pkl", "rb") as f:
        return pickle.load(f)


@pytest.mark.parametrize("dataset, csv_args", [
    ("synthetic", ["--source", "default"]),
    ("bitbrains", ["--source", "real", "--month", MONTH, "--vms", "2"]),  # VMs 4 and 5
])
def test_train_from_prometheus_gives_the_csv_models(server: Server, tmp_path: Path,
                                                    dataset: str, csv_args: list[str]) -> None:
    start, end = server.sets[dataset].span
    common = ["--models", "pba,scaling", "--tiny", "--no-track", "--quiet"]
    vms = csv_args[csv_args.index("--vms"):][:2] if "--vms" in csv_args else []
    t0 = time.perf_counter()
    prom = _cli("train", "--source", "prometheus", "--url", server.url, "--start", str(start),
                "--end", str(end), "--match", f'dataset="{dataset}"', *vms, "--work",
                str(tmp_path / "prom"), *common)
    seconds = time.perf_counter() - t0
    assert prom.returncode == 0, prom.stderr
    csv = _cli("train", *csv_args, "--work", str(tmp_path / "csv"), *common)
    assert csv.returncode == 0, csv.stderr
    print(f"\ntrain --source prometheus ({dataset}, tiny pba and scaling): {seconds:.1f} s")
    for name in ("pba", "scaling"):
        a, b = _trained(tmp_path / "prom", name), _trained(tmp_path / "csv", name)
        assert a.training_data_digest == b.training_data_digest, name
        assert pickle.dumps(a.model) == pickle.dumps(b.model), name
        untimed = [{k: v for k, v in m.metrics.items() if "seconds" not in k} for m in (a, b)]
        assert untimed[0] == untimed[1], name


def _one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("dwcp-ml: error:")]
    assert len(errors) == 1 and proc.stderr.strip().endswith(errors[0]), proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


class _NotPrometheus(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"<html>hello</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def test_bad_input_is_one_line_and_exit_2(server: Server, tmp_path: Path) -> None:
    start, end = server.sets["synthetic"].span
    work = str(tmp_path / "w")

    def train(*args: str) -> subprocess.CompletedProcess[str]:
        return _cli("train", "--source", "prometheus", "--work", work, "--no-track",
                    "--quiet", "--tiny", *args)

    rng = ["--start", str(start), "--end", str(end)]
    _one_line_error(train("--url", f"http://127.0.0.1:{free_port()}", *rng),
                    "cannot reach Prometheus")
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _NotPrometheus)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        _one_line_error(train("--url", f"http://127.0.0.1:{httpd.server_address[1]}", *rng),
                        "did not answer as the Prometheus HTTP API")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
    _one_line_error(train("--url", server.url, "--start", str(end), "--end", str(start)),
                    "is not before --end")
    _one_line_error(train("--url", server.url, "--start", "2020-01-01T00:00:00Z", "--end",
                          "2020-02-01T00:00:00Z", "--models", "pba"), "no dwcp_vm_")
    _one_line_error(train("--url", server.url, *rng, "--match", 'dataset="nope"',
                          "--models", "scaling"), "no dwcp_vm_cpu_usage_megahertz series")
    _one_line_error(train("--url", server.url, *rng, "--match", "dataset=", "--models", "pba"),
                    "refused")
    _one_line_error(train("--url", server.url, "--start", "yesterday", "--end", str(end)),
                    "neither Unix seconds nor")
    _one_line_error(train("--url", server.url, *rng, "--models", "anomaly,pba"),
                    "anomaly do not read Prometheus")
    _one_line_error(train(*rng), "needs --url")


def test_prometheus_scraping_the_replay_exporter(tmp_path: Path) -> None:
    """The live path: Prometheus scrapes `dwcp-ml replay-exporter` every second; the reader
    (with --match job="replay") gets, per VM, values that are samples of the trace, bit for
    bit, stamped with scrape times (a resampled copy, not the exact one)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dwcp_ml.cli", "replay-exporter",
                             "--listen", f"127.0.0.1:{port}", "--speed", "300"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    traces = {t.name: t for t in synthetic.traces()}
    try:
        with prometheus(tmp_path / "tsdb", tmp_path / "run", scrape=f"127.0.0.1:{port}") as url:
            q = source.Query(url, int(time.time()) - 600, int(time.time()) + 600,
                             match='job="replay"')
            deadline = time.monotonic() + 60.0
            while True:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                try:
                    got = source.vm_traces(q)
                    if len(got) == len(traces) and min(len(t.ts) for t in got) >= 3:
                        break
                except source.PrometheusSourceError:
                    pass  # no scrape stored yet
                assert time.monotonic() < deadline, "3 scrapes of every VM not within 60 s"
                time.sleep(0.5)
    finally:
        stop(proc)
    for trace in got:
        csv = traces[trace.name]
        rows = {csv.values[i].tobytes() for i in range(len(csv.ts))}
        assert all(row.tobytes() in rows for row in trace.values), trace.name
        assert trace.ts.min() > csv.ts.max()  # stamped by the scrape, not the trace
