"""Trace loaders: NAB (MIT, may be shipped) and Bitbrains GWA-T-12 (no licence: read from the
shared data directory at run time, never copied into the repository).

Loaders only parse and convert units into the schema's channels; every feature, reduction and
resampling step is done by the feature core.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

DATA_ENV = "DWCP_DATA_DIR"


class DataNotFoundError(FileNotFoundError):
    """The trace directory or file is missing; the message says how to point at it."""


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The shared data directory: ``override``, else $DWCP_DATA_DIR, else ../shared/data
    beside the repository."""
    if override is not None:
        path = Path(override)
    elif os.environ.get(DATA_ENV):
        path = Path(os.environ[DATA_ENV])
    else:
        path = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not path.is_dir():
        raise DataNotFoundError(
            f"data directory {path} not found: pass --data DIR or set {DATA_ENV} to the folder "
            "holding nab/ and bitbrains/"
        )
    return path


@dataclass(frozen=True)
class Trace:
    """Raw samples of one source: Unix seconds (UTC) and rows of channel values."""

    name: str
    ts: NDArray[np.int64]
    values: NDArray[np.float64]


def traces_digest(traces: list[Trace]) -> str:
    """The training data digest recorded in a bundle: sha256 over every trace's name,
    timestamps and values (with dtypes and shapes), in the order given."""
    h = hashlib.sha256()
    for trace in traces:
        h.update(trace.name.encode() + b"\0")
        for arr in (trace.ts, trace.values):
            a = np.ascontiguousarray(arr)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
    return "sha256:" + h.hexdigest()


def load_nab(relative: str, root: Path | None = None) -> Trace:
    """One NAB series, e.g. ``realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv``; values as
    a single column."""
    path = (root or data_dir()) / "nab" / relative
    if not path.is_file():
        raise DataNotFoundError(f"NAB series {path} not found")
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    ts = np.array([np.datetime64(r[0].replace(" ", "T"), "s") for r in rows]).astype(np.int64)
    values = np.array([float(r[1]) for r in rows], dtype=np.float64)[:, None]
    return Trace(relative, ts, values)


BITBRAINS_VM_CHANNELS = ("cpu_pct", "mem_pct", "disk_read_kbs", "disk_write_kbs",
                         "net_rx_kbs", "net_tx_kbs")


def bitbrains_vms(month: str, root: Path | None = None) -> list[int]:
    """VM ids available for a month ("2013-7" or "2013-8")."""
    folder = (root or data_dir()) / "bitbrains" / month
    if not folder.is_dir():
        raise DataNotFoundError(f"Bitbrains month {folder} not found")
    return sorted(int(p.name.split(".")[0]) for p in folder.glob("*.csv.gz"))


def _read_bitbrains(month: str, vm: int, root: Path | None,
                    columns: tuple[int, ...] | None = None) -> NDArray[np.float64]:
    """The numeric columns of one VM's file (all, or ``columns``), one row per sample."""
    path = (root or data_dir()) / "bitbrains" / month / f"{vm}.csv.gz"
    if not path.is_file():
        raise DataNotFoundError(f"Bitbrains trace {path} not found")
    with gzip.open(path, "rt") as fh:
        return np.loadtxt(fh, delimiter=";", skiprows=1, usecols=columns, dtype=np.float64,
                          ndmin=2)


def load_bitbrains_vm(month: str, vm: int, root: Path | None = None) -> Trace:
    """One VM's raw samples in the VM schema's channel order.

    Columns: CPU usage %, memory usage as % of provisioned memory, disk read/write KB/s,
    network receive/transmit KB/s. Rows keep the file's order (repeats and disorder included:
    fc_resample deals with them).
    """
    raw = _read_bitbrains(month, vm, root)
    ts = raw[:, 0].astype(np.int64)
    mem_capacity = raw[:, 5]
    mem_pct = np.divide(raw[:, 6] * 100.0, mem_capacity, out=np.zeros(len(raw)),
                        where=mem_capacity > 0)
    values = np.column_stack([raw[:, 4], mem_pct, raw[:, 7], raw[:, 8], raw[:, 9], raw[:, 10]])
    return Trace(f"bitbrains/{month}/{vm}", ts, np.ascontiguousarray(values))


def load_bitbrains_cpu_mhz(month: str, vm: int, root: Path | None = None) -> Trace:
    """One VM's CPU demand as a single channel for the metric schema: "CPU usage [MHz]".

    MHz rather than %: a capacity forecaster must size in absolute units, and the percentage
    is relative to a provisioned capacity that differs per VM (and is what scaling changes).
    Rows keep the file's order (fc_resample deals with repeats and disorder).
    """
    raw = _read_bitbrains(month, vm, root, columns=(0, 3))
    ts = raw[:, 0].astype(np.int64)
    return Trace(f"bitbrains/{month}/{vm}/cpu_mhz", ts, np.ascontiguousarray(raw[:, 1:2]))
