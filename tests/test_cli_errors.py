"""Every user-input error of the CLI, data files included, is one line
``dwcp-ml: error: ...`` on stderr and exit status 2, never a traceback (issue 10 item 6).

Corrupt files are built in tmp_path in the real formats (training/data.py, ../shared/data
SOURCE.md); no Bitbrains data is copied. Most cases call main() in-process; a few run the
installed command in a subprocess to prove nothing else reaches the terminal.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from dwcp_ml import cli

HEADER = ";\t".join((
    "Timestamp [ms]", "CPU cores", "CPU capacity provisioned [MHZ]", "CPU usage [MHZ]",
    "CPU usage [%]", "Memory capacity provisioned [KB]", "Memory usage [KB]",
    "Disk read throughput [KB/s]", "Disk write throughput [KB/s]",
    "Network received throughput [KB/s]", "Network transmitted throughput [KB/s]",
))
T0 = 1372629804  # the first timestamp of a real July file


def vm_row(i: int, **cells: str) -> str:
    """One Bitbrains row, 5 minutes after the previous; ``cells`` replace fields by index
    name c0..c10 (c0 is the timestamp)."""
    fields = [str(T0 + 300 * i), "1", "2599.999006", "5.2", "0.2", "1300480.0", "75495.2",
              "0.0", "1.07", "0.2", "0.07"]
    for key, value in cells.items():
        fields[int(key[1:])] = value
    return ";\t".join(fields)


def vm_text(rows: list[str] | None = None, header: str = HEADER) -> bytes:
    rows = rows if rows is not None else [vm_row(i) for i in range(40)]
    return ("\n".join([header, *rows]) + "\n").encode()


def with_row(line: int, row: str) -> bytes:
    """A valid file whose ``line`` (1 = header) is replaced by ``row``."""
    rows = [vm_row(i) for i in range(40)]
    rows[line - 2] = row
    return gzip.compress(vm_text(rows))


GOOD = gzip.compress(vm_text())
MONTH = Path("bitbrains") / "2013-7"


def put(root: Path, relative: str, content: bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def flip_middle(blob: bytes) -> bytes:
    middle = len(blob) // 2
    return blob[:middle] + bytes(b ^ 0xFF for b in blob[middle:middle + 8]) + blob[middle + 8:]


@dataclass(frozen=True)
class DataCase:
    """A data tree built in tmp_path, the argv run over it (``D`` stands for the tree) and
    a fragment the one error line must hold."""

    build: Callable[[Path], object]
    message: str
    argv: tuple[str, ...] = ("features", "--source", "bitbrains", "--data", "D", "--vms", "1",
                             "--quiet")


def vm_file(content: bytes, name: str = "4.csv.gz") -> Callable[[Path], object]:
    return lambda root: put(root, f"{MONTH}/{name}", content)


NAB = "nab/realAWSCloudwatch/ec2_cpu_utilization_x.csv"
NAB_ARGV = ("train", "--source", "real", "--data", "D", "--models", "anomaly", "--tiny",
            "--quiet", "--work", "D/work")


def nab_file(text: str) -> Callable[[Path], object]:
    return lambda root: put(root, NAB, text.encode())


def nab_rows(*rows: str) -> str:
    return "\n".join(["timestamp,value", "2014-02-14 14:30:00,0.132", *rows]) + "\n"


def mkdir(relative: str) -> Callable[[Path], object]:
    return lambda root: (root / relative).mkdir(parents=True)


def symlink(relative: str, target: str) -> Callable[[Path], object]:
    def build(root: Path) -> None:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).symlink_to(target)
    return build


def both(*builds: Callable[[Path], object]) -> Callable[[Path], object]:
    return lambda root: [b(root) for b in builds]


FILE = f"{MONTH}/4.csv.gz"
DATA_CASES: dict[str, DataCase] = {
    # Bitbrains files: compression and bytes
    "text_instead_of_gzip": DataCase(vm_file(vm_text()), f"{FILE}: not a complete gzip file "
                                     "(Not a gzipped file"),
    "truncated_gzip": DataCase(vm_file(GOOD[: len(GOOD) // 2]),
                               "not a complete gzip file (Compressed file ended"),
    "corrupt_gzip_body": DataCase(vm_file(flip_middle(GOOD)), "not a complete gzip file"),
    "empty_file": DataCase(vm_file(b""), f"{FILE}: is empty (0 bytes)"),
    "gzip_of_nothing": DataCase(vm_file(gzip.compress(b"")),
                                "line 1: expected the Bitbrains header of 11 fields"),
    "not_utf8": DataCase(vm_file(gzip.compress(vm_text() + b"\xff\xfe\n")),
                         "line 42: not UTF-8 text"),
    # Bitbrains files: layout
    "header_only": DataCase(vm_file(gzip.compress(vm_text([]))), "no samples after the header"),
    "nab_header_in_bitbrains": DataCase(
        vm_file(gzip.compress(b"timestamp,value\n2014-02-14 14:30:00,1\n")),
        "line 1: expected the Bitbrains header of 11 fields separated by ';'"),
    "no_header": DataCase(vm_file(gzip.compress(("\n".join(vm_row(i) for i in range(5)))
                                                .encode())),
                          "line 1: expected the Bitbrains header"),
    "short_row": DataCase(vm_file(with_row(3, "1372630104;\t1;\t2599.9;\t5.2;\t0.2")),
                          "line 3: 5 fields; expected 11 separated by ';'"),
    "long_row": DataCase(vm_file(with_row(7, vm_row(5) + ";\t9")), "line 7: 12 fields"),
    "every_row_10_fields": DataCase(
        vm_file(gzip.compress(vm_text([vm_row(i).rsplit(";", 1)[0] for i in range(9)]))),
        "line 2: 10 fields; expected 11"),
    # Bitbrains files: cells
    "non_numeric_cell": DataCase(vm_file(with_row(4, vm_row(2, c4="abc"))),
                                 "line 4, column 'CPU usage [%]': 'abc' is not a number"),
    "empty_cell": DataCase(vm_file(with_row(5, vm_row(3, c7=""))),
                           "line 5, column 'Disk read throughput [KB/s]': '' is not a number"),
    "comma_decimal": DataCase(vm_file(with_row(2, vm_row(0, c3="5,2"))),
                              "column 'CPU usage [MHZ]': '5,2' is not a number"),
    "nan_cell": DataCase(vm_file(with_row(3, vm_row(1, c6="nan"))),
                         "line 3, column 'Memory usage [KB]': nan is not a finite number"),
    "inf_cell": DataCase(vm_file(with_row(9, vm_row(7, c9="inf"))),
                         "line 9, column 'Network received throughput [KB/s]': inf is not a "
                         "finite number"),
    "negative_cell": DataCase(vm_file(with_row(6, vm_row(4, c10="-1.5"))),
                              "line 6, column 'Network transmitted throughput [KB/s]': -1.5 is "
                              "negative"),
    "fractional_timestamp": DataCase(vm_file(with_row(2, vm_row(0, c0="1372629804.5"))),
                                     "line 2, column 'Timestamp [ms]': timestamp 1372629804.5 is "
                                     "not whole Unix seconds"),
    "millisecond_timestamp": DataCase(vm_file(with_row(2, vm_row(0, c0="1372629804000000"))),
                                      "(1970..9999; seconds despite an '[ms]' header, not "
                                      "milliseconds)"),
    "negative_timestamp": DataCase(vm_file(with_row(8, vm_row(6, c0="-300"))),
                                   "line 8, column 'Timestamp [ms]': timestamp -300.0 is not"),
    "blank_line_counts_in_line_numbers": DataCase(
        vm_file(gzip.compress(vm_text([vm_row(0), "", vm_row(1, c2="x")]))),
        "line 4, column 'CPU capacity provisioned [MHZ]': 'x' is not a number"),
    # Bitbrains: files that are not files, names, folders
    "directory_as_trace": DataCase(mkdir(FILE), f"{FILE}: is a directory; expected a "
                                                "Bitbrains trace file"),
    "device_as_trace": DataCase(symlink(FILE, "/dev/null"), "is not a regular file"),
    "name_not_a_number": DataCase(both(vm_file(GOOD), vm_file(GOOD, "vm7.csv.gz")),
                                  "vm7.csv.gz: not a Bitbrains file name: expected <VM id>.csv.gz"),
    "name_with_leading_zero": DataCase(both(vm_file(GOOD), vm_file(GOOD, "04.csv.gz")),
                                       "04.csv.gz: not a Bitbrains file name"),
    "name_with_two_dots": DataCase(vm_file(GOOD, "4.old.csv.gz"), "4.old.csv.gz: not a "
                                                                   "Bitbrains file name"),
    "empty_month": DataCase(mkdir(str(MONTH)), "holds no <VM id>.csv.gz files"),
    "missing_month": DataCase(mkdir("bitbrains/2013-8"),
                              "2013-7 not found; months present: 2013-8"),
    "month_is_a_file": DataCase(lambda root: put(root, str(MONTH), b""),
                                "2013-7 is not a directory"),
    "no_bitbrains_folder": DataCase(mkdir("nab"), "bitbrains holds no months"),
    "more_vms_than_the_month": DataCase(
        vm_file(GOOD), "holds 1 VM traces; cannot take the first 3: pass --vms 1..1",
        ("features", "--source", "bitbrains", "--data", "D", "--vms", "3", "--quiet")),
    "data_is_a_file": DataCase(lambda root: None, "is not a directory (from --data)",
                               ("features", "--source", "bitbrains", "--data", "D/x.txt")),
    "data_nowhere": DataCase(lambda root: None, "nowhere not found (from --data)",
                             ("features", "--source", "bitbrains", "--data", "D/nowhere")),
    # NAB series (train --source real loads every NAB series before training)
    "nab_bad_header": DataCase(nab_file("time;value\n2014-02-14 14:30:00;1\n"),
                               "line 1: expected the header 'timestamp,value'", NAB_ARGV),
    "nab_empty_file": DataCase(nab_file(""), "got an empty file", NAB_ARGV),
    "nab_header_only": DataCase(nab_file("timestamp,value\n"), "no samples after the header",
                                NAB_ARGV),
    "nab_bad_timestamp": DataCase(nab_file(nab_rows("yesterday,0.5")),
                                  "line 3, column 'timestamp': 'yesterday' is not a time "
                                  "YYYY-MM-DD HH:MM:SS", NAB_ARGV),
    "nab_impossible_timestamp": DataCase(nab_file(nab_rows("2014-13-01 00:00:00,0.5")),
                                         "line 3, column 'timestamp': '2014-13-01 00:00:00'",
                                         NAB_ARGV),
    "nab_nat_timestamp": DataCase(nab_file(nab_rows("NaT,0.5")), "'NaT' is not a time",
                                  NAB_ARGV),
    "nab_bad_value": DataCase(nab_file(nab_rows("2014-02-14 14:35:00,abc")),
                              "line 3, column 'value': 'abc' is not a number", NAB_ARGV),
    "nab_nan_value": DataCase(nab_file(nab_rows("2014-02-14 14:35:00,NaN")),
                              "line 3, column 'value': nan is not a finite number", NAB_ARGV),
    "nab_negative_value": DataCase(nab_file(nab_rows("2014-02-14 14:35:00,-2")),
                                   "-2.0 is negative", NAB_ARGV),
    "nab_three_fields": DataCase(nab_file(nab_rows("2014-02-14 14:35:00,1,2")),
                                 "line 3: 3 fields; expected 2", NAB_ARGV),
    "nab_series_is_a_directory": DataCase(mkdir(NAB), "is a directory; expected a NAB series",
                                          NAB_ARGV),
    "nab_no_series": DataCase(mkdir("nab/realAWSCloudwatch"), "no NAB series (real*/*.csv)",
                              NAB_ARGV),
    # work directories of export / bundle
    "work_pickle_truncated": DataCase(lambda root: put(root, "work/trained/pba.pkl", b"\x80\x04"),
                                      "pba.pkl: not a pickle this version wrote",
                                      ("export", "--work", "D/work", "--quiet")),
    "work_pickle_is_text": DataCase(lambda root: put(root, "work/exported/pba.pkl", b"hello"),
                                    "run `dwcp-ml export` again",
                                    ("bundle", "--work", "D/work", "--out", "D/b", "--quiet")),
    "work_empty": DataCase(mkdir("work"), "no trained models; run `dwcp-ml train",
                           ("export", "--work", "D/work")),
}


FLAG_CASES: dict[str, tuple[tuple[str, ...], str]] = {
    "vms_negative": (("features", "--vms", "-5"), "argument --vms: -5 is not a positive count"),
    "vms_zero": (("features", "--vms", "0"), "argument --vms: 0 is not a positive count"),
    "vms_not_a_number": (("features", "--vms", "abc"), "argument --vms: 'abc' is not a whole"),
    "days_negative": (("features", "--days", "-1"), "argument --days: -1 is not a positive"),
    "days_zero": (("features", "--days", "0"), "argument --days: 0 is not a positive count"),
    "days_too_many": (("features", "--days", "400"), "synthetic days=400 out of range: an "
                                                     "integer in 1..366"),
    "vms_too_many_synthetic": (("features", "--vms", "5000"), "synthetic vms=5000 out of range"),
    "seq_len_zero": (("features", "--seq-len", "0"), "argument --seq-len: 0 is not a positive"),
    "seq_len_too_long": (("features", "--seq-len", "100001"), "parameters out of range"),
    "stat_window_negative": (("features", "--stat-window", "-2"), "argument --stat-window: -2"),
    "stat_window_one": (("features", "--stat-window", "1"), "parameters out of range"),
    "month_13": (("features", "--month", "2013-13"), "argument --month: month '2013-13': not a "
                                                     "month: expected YYYY-M"),
    "month_leading_zero": (("features", "--month", "2013-07"), "no leading zero, e.g. 2013-7"),
    "source_unknown": (("features", "--source", "azure"), "argument --source: invalid choice"),
    "train_vms_negative": (("train", "--work", "W", "--source", "real", "--vms", "-1"),
                           "argument --vms: -1 is not a positive count"),
    "train_month_bad": (("train", "--work", "W", "--month", "july"), "month 'july'"),
    "models_unknown": (("train", "--work", "W", "--models", "pba,lstm"),
                       "unknown model lstm; known: pba, anomaly, scaling, itp, link"),
    "models_empty": (("train", "--work", "W", "--models", ","), "--models ',' names no model"),
    "models_repeated": (("train", "--work", "W", "--models", "pba,pba"),
                        "--models names pba more than once"),
    "work_is_a_file": (("train", "--work", "FILE", "--models", "pba"),
                       "--work FILE: is a file; pass a directory"),
    "work_under_a_file": (("train", "--work", "FILE/sub", "--models", "pba"), "--work FILE/sub"),
    "work_missing": (("train",), "the following arguments are required: --work"),
    "eval_out_is_a_file": (("eval", "--data", "DATA", "--out", "FILE", "--models", "itp"),
                           "--out FILE: is a file"),
    "eval_models_unknown": (("eval", "--data", "DATA", "--models", "nope"), "unknown model nope"),
    "eval_train_unknown_source": (("eval", "--data", "DATA", "--train", "azure", "--models", "itp"),
                                  "'azure': unknown source 'azure'"),
    "eval_test_not_key_value": (("eval", "--data", "DATA", "--test", "bitbrains:months",
                                 "--models", "itp"), "'months' is not key=value"),
    "eval_itp_test_not_bitbrains": (("eval", "--data", "DATA", "--test", "nab", "--models",
                                     "itp"), "itp replays one Bitbrains month; --test gave nab"),
    "eval_folds_zero": (("eval", "--folds", "0"), "argument --folds: 0 is not a positive count"),
    "golden_check_directory": (("golden", "--check", "--out", "DIR"),
                               "DIR is not a regular file; run `dwcp-ml golden`"),
    "unknown_command": (("serve",), "argument command: invalid choice: 'serve'"),
    "no_command": ((), "the following arguments are required: command"),
    "unknown_flag": (("features", "--fast"), "unrecognized arguments: --fast"),
}


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """main()'s status (argparse leaves through SystemExit) and its stderr."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


def assert_one_line(code: int, err: str, message: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("dwcp-ml: error: ") and err.endswith("\n"), err
    assert err.count("\n") == 1, err
    assert message in err, err


def expand(argv: tuple[str, ...], root: Path) -> list[str]:
    return [a.replace("D", str(root), 1) if a.startswith("D") else a for a in argv]


@pytest.mark.parametrize("case", DATA_CASES.values(), ids=DATA_CASES.keys())
def test_bad_data_is_one_line(case: DataCase, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.txt").write_text("not a directory\n")
    case.build(tmp_path)
    code, err = run_main(expand(case.argv, tmp_path), capsys)
    assert_one_line(code, err, case.message)


@pytest.mark.parametrize("argv,message", FLAG_CASES.values(), ids=FLAG_CASES.keys())
def test_bad_flag_is_one_line(argv: tuple[str, ...], message: str, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "FILE").write_text("a file\n")
    (tmp_path / "DIR").mkdir()
    (tmp_path / "DATA").mkdir()
    names = {"FILE", "DIR", "DATA", "W", "FILE/sub"}
    args = [str(tmp_path / a) if a in names else a for a in argv]
    code, err = run_main(args, capsys)
    assert_one_line(code, err, message.replace("FILE", str(tmp_path / "FILE"))
                    .replace("DIR", str(tmp_path / "DIR")))


def test_data_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DWCP_DATA_DIR", str(tmp_path / "nowhere"))
    code, err = run_main(["features", "--source", "bitbrains", "--quiet"], capsys)
    assert_one_line(code, err, f"data directory {tmp_path / 'nowhere'} not found "
                               "(from $DWCP_DATA_DIR): pass --data DIR or set DWCP_DATA_DIR")


def test_repeated_and_disordered_timestamps_are_resampled(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The loader's policy: rows keep the file's order; fc_resample averages repeats and
    sorts disorder into bins (docs/feature-core.md), so such a file is not an error."""
    rows = [vm_row(i) for i in range(40)]
    rows[10], rows[11] = rows[11], rows[10]
    rows.insert(20, rows[19])
    put(tmp_path, FILE, gzip.compress(vm_text(rows)))
    assert cli.main(["features", "--source", "bitbrains", "--data", str(tmp_path), "--vms", "1",
                     "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "traces 1: 41 raw samples -> 40 bins" in out, out


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO named like a trace: opened non-blocking and refused by fstat (a blocking open
    would wait for a writer forever: the timeout turns that into a failure)."""
    os.makedirs(tmp_path / MONTH)
    os.mkfifo(tmp_path / FILE)
    proc = subprocess.run([sys.executable, "-m", "dwcp_ml.cli", "features", "--source",
                           "bitbrains", "--data", str(tmp_path), "--vms", "1", "--quiet"],
                          capture_output=True, text=True, timeout=60)
    assert_one_line(proc.returncode, proc.stderr, "is not a regular file (device, FIFO or "
                                                  "socket)")


SUBPROCESS_CASES = ("text_instead_of_gzip", "truncated_gzip", "short_row", "nan_cell",
                    "name_not_a_number", "nab_bad_value")


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_terminal_sees_one_line(name: str, tmp_path: Path) -> None:
    """The real command: nothing but the one line on stderr (no traceback, no warning)."""
    case = DATA_CASES[name]
    case.build(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "dwcp_ml.cli", *expand(case.argv, tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert_one_line(proc.returncode, proc.stderr, case.message)
    assert proc.stdout == ""


@pytest.mark.parametrize("argv", [("features", "--vms", "-5"), ("features", "--days", "-1")])
def test_terminal_sees_one_line_for_flags(argv: tuple[str, ...]) -> None:
    proc = subprocess.run([sys.executable, "-m", "dwcp_ml.cli", *argv], capture_output=True,
                          text=True, timeout=120)
    assert_one_line(proc.returncode, proc.stderr, f"argument {argv[1]}: {argv[2]} is not a "
                                                  "positive count: pass 1 or more")
