"""A real Prometheus (Debian's package, `make toolchain`) for the datasource tests: started on
a free loopback port over a given TSDB directory, every wait bounded, stopped by its PID."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services import free_port, stop

WAIT_S = 60.0  # bound of the wait for readiness


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2.0) as r:
            return r.status == 200
    except OSError:
        return False


@contextmanager
def prometheus(tsdb: Path, workdir: Path, scrape: str | None = None,
               scrape_interval: str = "1s") -> Iterator[str]:
    """Prometheus over ``tsdb`` (backfilled blocks are served; a retention of 100 years keeps
    2013's samples), optionally scraping ``scrape`` (host:port); yields its base URL."""
    binary = shutil.which("prometheus")
    assert binary is not None, "prometheus not on PATH: run `make toolchain`"
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    text = f"global:\n  scrape_interval: {scrape_interval}\n  scrape_timeout: {scrape_interval}\n"
    if scrape:
        text += f"scrape_configs:\n  - job_name: replay\n    static_configs:\n" \
                f"      - targets: ['{scrape}']\n"
    config.write_text(text)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "prometheus.log").open("w")
    proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tsdb}",
                             "--storage.tsdb.retention.time=100y",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + WAIT_S
        while not _ready(url):
            if proc.poll() is not None:
                raise AssertionError(f"prometheus exited with status {proc.returncode}: "
                                     f"{(workdir / 'prometheus.log').read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"prometheus at {url} not ready within {WAIT_S:.0f} s")
            time.sleep(0.2)
        yield url
    finally:
        stop(proc)
        log.close()
