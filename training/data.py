"""Trace loaders: NAB (MIT, may be shipped) and Bitbrains GWA-T-12 (no licence: read from the
shared data directory at run time, never copied into the repository).

Loaders only parse and convert units into the schema's channels; every feature, reduction and
resampling step is done by the feature core. They refuse what the core would refuse (NaN, Inf,
negative values, timestamps outside 1970..9999) at the file boundary, so the error names the
file, line and column instead of a sample index: :class:`TraceFormatError`.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import math
import os
import re
import stat
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

DATA_ENV = "DWCP_DATA_DIR"
MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z, the feature core's upper bound


class DataNotFoundError(FileNotFoundError):
    """The trace directory or file is missing; the message says how to point at it."""


class TraceFormatError(ValueError):
    """A trace file, file name or month the loaders refuse; the message names the file (and
    line and column) and says what is expected instead."""

    def __init__(self, where: str | os.PathLike[str], problem: str, line: int | None = None,
                 column: str | None = None) -> None:
        place = str(where)
        if line is not None:
            place += f": line {line}"
        if column is not None:
            place += f", column {column!r}"
        super().__init__(f"{place}: {problem}")
        self.path, self.line, self.column = str(where), line, column


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The shared data directory: ``override``, else $DWCP_DATA_DIR, else ../shared/data
    beside the repository."""
    if override is not None:
        path, origin = Path(override), "--data"
    elif os.environ.get(DATA_ENV):
        path, origin = Path(os.environ[DATA_ENV]), f"${DATA_ENV}"
    else:
        path, origin = Path(__file__).resolve().parents[2] / "shared" / "data", "default"
    if not path.is_dir():
        state = "is not a directory" if path.exists() else "not found"
        raise DataNotFoundError(
            f"data directory {path} {state} (from {origin}): pass --data DIR or set "
            f"{DATA_ENV} to the folder holding nab/ and bitbrains/"
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


def _read_bytes(path: Path, what: str) -> bytes:
    """The bytes of a regular file. Opened non-blocking and checked with fstat on the open
    descriptor, so a FIFO or device never blocks or streams forever."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise DataNotFoundError(f"{what} {path} not found") from None
    except OSError as exc:
        raise TraceFormatError(path, f"cannot be opened: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise TraceFormatError(path, f"is a directory; expected a {what} file")
        if not stat.S_ISREG(mode):
            raise TraceFormatError(path, f"is not a regular file (device, FIFO or socket); "
                                         f"expected a {what} file")
        with open(fd, "rb", closefd=False) as fh:
            return fh.read()
    except OSError as exc:
        raise TraceFormatError(path, f"cannot be read: {exc.strerror}") from None
    finally:
        os.close(fd)


def _decode(path: Path, raw: bytes) -> list[str]:
    """UTF-8 lines of a file's content; a bad byte is reported with its line."""
    try:
        return raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise TraceFormatError(path, f"not UTF-8 text (byte {exc.start}: {exc.reason}); "
                                     "expected a CSV file", line) from None


def _check_timestamp(path: Path, line: int, column: str, value: float) -> None:
    if not (math.isfinite(value) and value == math.floor(value) and 0 <= value <= MAX_TIMESTAMP):
        raise TraceFormatError(path, f"timestamp {value!r} is not whole Unix seconds in "
                                     f"0..{MAX_TIMESTAMP} (1970..9999; seconds despite an '[ms]' "
                                     "header, not milliseconds)",
                               line, column)


def _check_value(path: Path, line: int, column: str, value: float) -> None:
    if not math.isfinite(value):
        raise TraceFormatError(path, f"{value!r} is not a finite number; every value must "
                                     "be a number (no NaN or Inf: missing samples are "
                                     "left out, not written)", line, column)
    if value < 0:
        raise TraceFormatError(path, f"{value!r} is negative; every channel is a rate, a "
                                     "percentage or a gauge and must be >= 0", line, column)


NAB_HEADER = "timestamp,value"
_NAB_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def load_nab(relative: str, root: Path | None = None) -> Trace:
    """One NAB series, e.g. ``realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv``; values as
    a single column. Format: header ``timestamp,value``, then ``YYYY-MM-DD HH:MM:SS,number``
    per line; rows keep the file's order (fc_resample deals with repeats and disorder)."""
    path = (root or data_dir()) / "nab" / relative
    lines = _decode(path, _read_bytes(path, "NAB series"))
    if not lines or lines[0].strip() != NAB_HEADER:
        got = repr(lines[0][:60]) if lines else "an empty file"
        raise TraceFormatError(path, f"expected the header {NAB_HEADER!r}, got {got}", 1)
    rows = [(line, row) for line, row in enumerate(csv.reader(lines[1:]), start=2) if row]
    if not rows:
        raise TraceFormatError(path, "no samples after the header")
    for line, row in rows:
        if len(row) != 2:
            raise TraceFormatError(path, f"{len(row)} fields; expected 2: "
                                         "YYYY-MM-DD HH:MM:SS,value", line)
    ts = _nab_times(path, rows)
    try:
        values = np.array([row[1] for _, row in rows], dtype=np.float64)
    except ValueError:
        values = np.array([_number(path, line, "value", row[1]) for line, row in rows])
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if len(bad):
        _check_value(path, rows[bad[0]][0], "value", float(values[bad[0]]))
    return Trace(relative, ts, values[:, None])


def _nab_times(path: Path, rows: list[tuple[int, list[str]]]) -> NDArray[np.int64]:
    """Unix seconds of NAB timestamps; only ``YYYY-MM-DD HH:MM:SS`` (numpy alone would also
    take dates without a time, "NaT" and other ISO forms)."""
    stamps = [row[0].strip() for _, row in rows]
    if all(map(_NAB_TIME.fullmatch, stamps)):
        try:
            return np.array([s.replace(" ", "T") for s in stamps],
                            dtype="datetime64[s]").astype(np.int64)
        except ValueError:
            pass  # a well-formed but impossible time (month 13): found below
    for (line, row), text in zip(rows, stamps):
        try:
            if _NAB_TIME.fullmatch(text):
                np.datetime64(text.replace(" ", "T"), "s")
                continue
        except ValueError:
            pass
        raise TraceFormatError(path, f"{row[0][:40]!r} is not a time YYYY-MM-DD HH:MM:SS "
                                     "(UTC)", line, "timestamp")
    raise AssertionError("unreachable: numpy refused a timestamp the scan accepts")


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise TraceFormatError(path, f"{text.strip()[:40]!r} is not a number", line,
                               column) from None


# A Bitbrains core is provisioned at 2600 MHz ("CPU capacity provisioned" / "CPU cores"); the
# synthetic traces, the scaling family, the ITP simulator and the placement goldens use it.
MHZ_PER_CORE = 2600

BITBRAINS_VM_CHANNELS = ("cpu_pct", "mem_pct", "disk_read_kbs", "disk_write_kbs",
                         "net_rx_kbs", "net_tx_kbs")
# The header of every Bitbrains file, in column order (SOURCE.md); "[ms]" holds seconds.
BITBRAINS_COLUMNS = (
    "Timestamp [ms]", "CPU cores", "CPU capacity provisioned [MHZ]", "CPU usage [MHZ]",
    "CPU usage [%]", "Memory capacity provisioned [KB]", "Memory usage [KB]",
    "Disk read throughput [KB/s]", "Disk write throughput [KB/s]",
    "Network received throughput [KB/s]", "Network transmitted throughput [KB/s]",
)
_MONTH = re.compile(r"\d{4}-([1-9]|1[0-2])")
_VM_FILE = re.compile(r"(0|[1-9][0-9]*)\.csv\.gz")


def check_month(month: str) -> str:
    """``month`` if it names a Bitbrains month folder (``YYYY-M``, e.g. 2013-7)."""
    if not _MONTH.fullmatch(month):
        raise TraceFormatError(f"month {month!r}", "not a month: expected YYYY-M with M in "
                                                   "1..12 and no leading zero, e.g. 2013-7")
    return month


def bitbrains_vms(month: str, root: Path | None = None) -> list[int]:
    """VM ids available for a month ("2013-7" or "2013-8"): its ``<id>.csv.gz`` files."""
    base = (root or data_dir()) / "bitbrains"
    folder = base / check_month(month)
    if not folder.is_dir():
        months = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
        known = f"months present: {', '.join(months)}" if months else f"{base} holds no months"
        state = "is not a directory" if folder.exists() else "not found"
        raise DataNotFoundError(f"Bitbrains month {folder} {state}; {known}")
    vms = []
    for path in folder.glob("*.csv.gz"):
        match = _VM_FILE.fullmatch(path.name)
        if match is None:
            raise TraceFormatError(path, "not a Bitbrains file name: expected <VM id>.csv.gz "
                                         "with a decimal id (e.g. 4.csv.gz); rename or "
                                         "remove it")
        vms.append(int(match.group(1)))
    if not vms:
        raise DataNotFoundError(f"Bitbrains month {folder} holds no <VM id>.csv.gz files")
    return sorted(vms)


def first_vms(month: str, root: Path | None, count: int | None) -> list[int]:
    """The first ``count`` VM ids of a month (all if None); more than the month holds is
    refused rather than silently answered with fewer."""
    vms = bitbrains_vms(month, root)
    if count is None:
        return vms
    if not 1 <= count <= len(vms):
        folder = (root or data_dir()) / "bitbrains" / month
        raise TraceFormatError(folder, f"holds {len(vms)} VM traces; cannot take the first "
                                       f"{count}: pass --vms 1..{len(vms)}")
    return vms[:count]


def _read_bitbrains(month: str, vm: int, root: Path | None,
                    columns: tuple[int, ...] | None = None,
                    require_samples: bool = False) -> NDArray[np.float64]:
    """The numeric columns of one VM's file (all, or ``columns``), one row per sample, every
    cell checked (finite, >= 0, whole-second timestamps). A file holding only the header
    gives no rows (the ITP replay skips such VMs) unless ``require_samples``."""
    path = (root or data_dir()) / "bitbrains" / check_month(month) / f"{vm}.csv.gz"
    raw = _read_bytes(path, "Bitbrains trace")
    if not raw:
        raise TraceFormatError(path, "is empty (0 bytes); expected a gzip-compressed "
                                     "Bitbrains CSV")
    try:
        text = gzip.decompress(raw)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise TraceFormatError(path, f"not a complete gzip file ({exc}); Bitbrains traces "
                                     "are gzip-compressed CSV: compress it with gzip, or "
                                     "fetch it again") from None
    lines = _decode(path, text)
    _check_bitbrains_header(path, lines)
    body = [line for line in lines[1:] if line.strip()]
    if not body:
        if require_samples:
            raise TraceFormatError(path, "no samples after the header")
        return np.empty((0, len(columns or BITBRAINS_COLUMNS)))
    try:
        table = np.loadtxt(body, delimiter=";", comments=None, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        _raise_bad_row(path, lines)
        raise TraceFormatError(path, str(exc)) from None  # numpy saw what the scan did not
    if table.shape[1] != len(BITBRAINS_COLUMNS):
        _raise_bad_row(path, lines)
    _check_bitbrains_cells(path, lines, table)
    return table if columns is None else np.ascontiguousarray(table[:, list(columns)])


def _check_bitbrains_header(path: Path, lines: list[str]) -> None:
    fields = [f.strip() for f in lines[0].split(";")] if lines else []
    if len(fields) != len(BITBRAINS_COLUMNS) or not fields[0].startswith("Timestamp"):
        got = repr(lines[0][:60]) if lines else "an empty file"
        raise TraceFormatError(path, f"expected the Bitbrains header of "
                                     f"{len(BITBRAINS_COLUMNS)} fields separated by ';' "
                                     f"('{'; '.join(BITBRAINS_COLUMNS[:2])}; ...'), got {got}",
                               1)


def _data_lines(lines: list[str]) -> list[int]:
    """1-based line numbers of the non-blank lines after the header: row i of the table."""
    return [i for i, line in enumerate(lines[1:], start=2) if line.strip()]


def _raise_bad_row(path: Path, lines: list[str]) -> None:
    """Finds the first row numpy refused and raises its error (wrong field count or a cell
    that is not a number)."""
    for line in _data_lines(lines):
        cells = lines[line - 1].split(";")
        if len(cells) != len(BITBRAINS_COLUMNS):
            raise TraceFormatError(path, f"{len(cells)} fields; expected "
                                         f"{len(BITBRAINS_COLUMNS)} separated by ';'", line)
        for column, cell in zip(BITBRAINS_COLUMNS, cells):
            _number(path, line, column, cell)


def _check_bitbrains_cells(path: Path, lines: list[str], table: NDArray[np.float64]) -> None:
    ts = table[:, 0]
    bad_ts = ~(np.isfinite(ts) & (ts == np.floor(ts)) & (ts >= 0) & (ts <= MAX_TIMESTAMP))
    bad = ~np.isfinite(table) | (table < 0)
    bad[:, 0] = bad_ts
    if not bad.any():
        return
    row, col = (int(i) for i in np.argwhere(bad)[0])
    line, column = _data_lines(lines)[row], BITBRAINS_COLUMNS[col]
    check = _check_timestamp if col == 0 else _check_value
    check(path, line, column, float(table[row, col]))


def load_bitbrains_vm(month: str, vm: int, root: Path | None = None) -> Trace:
    """One VM's raw samples in the VM schema's channel order.

    Columns: CPU usage %, memory usage as % of provisioned memory, disk read/write KB/s,
    network receive/transmit KB/s. Rows keep the file's order (repeats and disorder included:
    fc_resample deals with them).
    """
    raw = _read_bitbrains(month, vm, root, require_samples=True)
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
    raw = _read_bitbrains(month, vm, root, columns=(0, 3), require_samples=True)
    ts = raw[:, 0].astype(np.int64)
    return Trace(f"bitbrains/{month}/{vm}/cpu_mhz", ts, np.ascontiguousarray(raw[:, 1:2]))
