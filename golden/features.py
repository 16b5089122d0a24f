"""Generator of the feature-core golden vectors (``golden/features_v1.txt``).

Inputs are real NAB series (MIT) and hand-made edge cases; outputs are what the feature core
returns through cffi. C, Python and Go tests read the file back and require every bit. The
format is docs/golden-format.md. Bitbrains data is never written here (it has no licence).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from dwcp_ml import feature_core as fc
from dwcp_ml.training import data

from .vectors import hex64

FORMAT = "dwcp-fc-golden 1"
DEFAULT_PATH = Path(__file__).resolve().parent / "features_v1.txt"

NAN = float("nan")
INF = float("inf")
DAY = 86400
# UTC instants around which local clocks jump; the core uses UTC, so nothing may jump.
EU_DST_START_2013 = 1364691600  # 2013-03-31T01:00:00Z
EU_DST_END_2013 = 1382835600  # 2013-10-27T01:00:00Z
US_DST_START_2013 = 1362898800  # 2013-03-10T07:00:00Z
LEAP_DAY_2016 = 1456704000  # 2016-02-29T00:00:00Z
Y2038 = 2**31 - 1  # 2038-01-19T03:14:07Z
MONDAY_2013_07_01 = 1372636800


@dataclass(frozen=True)
class Case:
    """One call of the feature core and its inputs."""

    name: str
    call: str  # window | windows | resample
    params: fc.Params
    ts: np.ndarray
    values: np.ndarray  # rows of channel values (any length for length-error cases)
    stride: int = 1
    t0: int = 0
    n_bins: int = 0
    raw_params: dict[str, int] = field(default_factory=dict)  # out-of-range fields


def _hex32(values: np.ndarray) -> str:
    return " ".join(
        f"{int(b):08x}" for b in np.ascontiguousarray(values, np.float32).view(np.uint32).ravel()
    )


def _grid(start: int, n: int, step: int = 300) -> np.ndarray:
    return start + step * np.arange(n, dtype=np.int64)


def _pattern(n: int, channels: int, seed: int, scale: float = 100.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(rng.gamma(2.0, scale / 2.0, size=(n, channels)), 6)


def _nab_vm(n: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Six NAB AWS series aligned by sample index on the first one's 5-minute grid."""
    series = [
        ("realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv", 1.0),
        ("realAWSCloudwatch/ec2_cpu_utilization_53ea38.csv", 1.0),
        ("realAWSCloudwatch/ec2_disk_write_bytes_1ef3de.csv", 1 / 1024 / 300),
        ("realAWSCloudwatch/ec2_disk_write_bytes_c0d644.csv", 1 / 1024 / 300),
        ("realAWSCloudwatch/ec2_network_in_257a54.csv", 1 / 1024 / 300),
        ("realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv", 1 / 1024 / 300),
    ]
    columns = []
    ts = None
    for name, unit in series:
        trace = data.load_nab(name)
        if ts is None:
            ts = trace.ts[start] + 300 * np.arange(n, dtype=np.int64)
        columns.append(trace.values[start : start + n, 0] * unit)
    assert ts is not None
    return ts, np.column_stack(columns)


def _nab_link(n: int) -> tuple[np.ndarray, np.ndarray]:
    bandwidth = data.load_nab("realAWSCloudwatch/ec2_network_in_257a54.csv")
    latency = data.load_nab("realKnownCause/ec2_request_latency_system_failure.csv")
    loss = data.load_nab("realAWSCloudwatch/rds_cpu_utilization_cc0c53.csv")
    jitter = data.load_nab("realAWSCloudwatch/elb_request_count_8c0756.csv")
    values = np.column_stack([
        bandwidth.values[:n, 0] * 8 / 300 / 1e6,
        latency.values[:n, 0],
        loss.values[:n, 0] / 1000,
        jitter.values[:n, 0] / 100,
    ])
    return bandwidth.ts[0] + 300 * np.arange(n, dtype=np.int64), values


def _palindromes(count: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Stat windows whose target reads the same backwards, with full-precision values.

    The slope's numerator sum((k - mid) * (y_k - mean)) is then exactly 0 in real arithmetic
    and what remains is rounding: a build that fuses a*b+c into FMA leaves a different
    residue, so these windows catch contraction that the other vectors cannot see."""
    rng = np.random.default_rng(31)
    half = rng.uniform(1e5, 1e6, (count, (width + 1) // 2, 6))
    rows = np.concatenate([half, half[:, : width // 2][:, ::-1]], axis=1).reshape(-1, 6)
    return _grid(MONDAY_2013_07_01, len(rows)), rows


def _normalisation(values: np.ndarray, params: fc.Params) -> fc.Params:
    """Non-trivial center/scale computed by the core itself (means and stds of windows)."""
    feats = fc.windows(replace(params, seq_len=1), _grid(0, len(values)), values)[:, 0, :]
    center = tuple(float(v) for v in np.median(feats, axis=0))
    scale = tuple(float(v) if v > 0 else 1.0 for v in np.ptp(feats, axis=0))
    return replace(params, center=center, scale=scale)


def cases() -> Iterator[Case]:
    vm = fc.Params(schema=fc.Schema.VM)
    link = fc.Params(schema=fc.Schema.LINK)
    need = vm.input_len

    # Normal windows from real traces.
    ts, values = _nab_vm(320)
    yield Case("nab_vm_windows", "windows", vm, ts, values)
    yield Case("nab_vm_window_last", "window", vm, ts[-need:], values[-need:])
    yield Case("nab_vm_normalised_stride5", "windows", _normalisation(values, vm), ts, values,
               stride=5)
    ts, values = _nab_vm(200, start=1000)
    yield Case("nab_vm_seq1_stat24", "windows", replace(vm, seq_len=1, stat_window=24), ts,
               values)
    ts, values = _nab_link(160)
    yield Case("nab_link_windows", "windows", link, ts, values, stride=3)
    yield Case("nab_link_normalised", "window", _normalisation(values, link),
               ts[:link.input_len], values[:link.input_len])
    cpu = data.load_nab("realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv")
    metric = fc.Params(schema=fc.Schema.METRIC)
    yield Case("nab_metric_windows", "windows", metric, cpu.ts[:200], cpu.values[:200], stride=2)
    yield Case("nab_metric_resample", "resample", metric, cpu.ts[:300], cpu.values[:300],
               t0=int(cpu.ts[0]) - 600, n_bins=305)
    raw = data.load_nab("realKnownCause/ec2_request_latency_system_failure.csv")
    raw_vals = np.repeat(raw.values[:400], 6, axis=1) * np.array([1, 2, 3, 4, 5, 6])
    yield Case("nab_raw_resample", "resample", vm, raw.ts[:400], raw_vals,
               t0=int(raw.ts[0]), n_bins=400)

    # Magnitudes.
    base = MONDAY_2013_07_01
    yield Case("constant", "window", vm, _grid(base, need), np.full((need, 6), 42.5))
    yield Case("zeros", "window", vm, _grid(base, need), np.zeros((need, 6)))
    yield Case("negative_zero_allowed", "window", vm, _grid(base, need), np.full((need, 6), -0.0))
    yield Case("huge_1e30", "window", vm, _grid(base, need), _pattern(need, 6, 1) * 1e30)
    yield Case("huge_beyond_float32", "window", vm, _grid(base, need),
               _pattern(need, 6, 2) * 1e38)
    yield Case("huge_rescaled", "window",
               replace(vm, scale=tuple([1e10] * 14)), _grid(base, need),
               _pattern(need, 6, 2) * 1e38)
    yield Case("tiny_subnormal_double", "window", vm, _grid(base, need),
               _pattern(need, 6, 3) * 1e-312)
    yield Case("tiny_subnormal_float", "window", vm, _grid(base, need),
               _pattern(need, 6, 4) * 1e-42)
    mixed = _pattern(need, 6, 5)
    mixed[:, 4] = 1e15
    mixed[::5, 5] = 1e-3
    yield Case("cancellation_1e15", "window", vm, _grid(base, need), mixed)
    yield Case("fma_canary", "windows", replace(vm, seq_len=1), *_palindromes(48, vm.stat_window),
               stride=vm.stat_window)
    ramp = np.repeat(np.arange(need, dtype=np.float64)[:, None] * 2.5, 6, axis=1)
    yield Case("linear_ramp", "window", vm, _grid(base, need), ramp)

    # Window boundaries.
    small = replace(vm, seq_len=1, stat_window=2)
    yield Case("minimal_window", "window", small, _grid(base, 2), _pattern(2, 6, 6))
    yield Case("exactly_one_window", "windows", vm, _grid(base, need), _pattern(need, 6, 7))
    yield Case("one_short_no_window", "windows", vm, _grid(base, need - 1),
               _pattern(need - 1, 6, 8))
    yield Case("stride_beyond_seq", "windows", replace(vm, seq_len=4, stat_window=3),
               _grid(base, 40), _pattern(40, 6, 9), stride=7)
    yield Case("window_too_short", "window", vm, _grid(base, need - 1), _pattern(need - 1, 6, 10))
    yield Case("window_too_long", "window", vm, _grid(base, need + 1), _pattern(need + 1, 6, 11))
    yield Case("values_length_mismatch", "window", vm, _grid(base, need),
               _pattern(need, 6, 12).ravel()[:-1])

    # Timestamps: UTC only, so daylight saving never moves time_of_day.
    for label, instant in [
        ("eu_dst_start", EU_DST_START_2013), ("eu_dst_end", EU_DST_END_2013),
        ("us_dst_start", US_DST_START_2013), ("midnight", base + 7 * DAY),
        ("sunday_to_monday", base + 7 * DAY - 300 * 11), ("leap_day", LEAP_DAY_2016),
        ("y2038", Y2038 - 300 * 11), ("epoch", 0),
    ]:
        start = max(instant - 300 * (need // 2), 0)
        yield Case(f"time_{label}", "window", vm, _grid(start, need), _pattern(need, 6, 13))
    yield Case("time_last_representable", "window", vm, _grid(fc_ts_max() - 300 * (need - 1),
               need), _pattern(need, 6, 14))
    yield Case("time_step_1s", "window", replace(vm, step_seconds=1), _grid(base, need, 1),
               _pattern(need, 6, 15))
    yield Case("time_step_1d", "window", replace(vm, step_seconds=DAY), _grid(base, need, DAY),
               _pattern(need, 6, 16))

    # Bad input: one specific status each.
    def broken(row: int, channel: int, value: float) -> np.ndarray:
        v = _pattern(need, 6, 17)
        v[row, channel] = value
        return v

    yield Case("missing_nan", "window", vm, _grid(base, need), broken(7, 4, NAN))
    yield Case("positive_inf", "window", vm, _grid(base, need), broken(3, 1, INF))
    yield Case("negative_inf", "windows", vm, _grid(base, need), broken(20, 5, -INF))
    yield Case("negative_value", "window", vm, _grid(base, need), broken(0, 2, -1e-9))
    out_of_order = _grid(base, need)
    out_of_order[9] = out_of_order[7]  # goes back in time
    yield Case("time_out_of_order", "window", vm, out_of_order, _pattern(need, 6, 18))
    duplicate = _grid(base, need)
    duplicate[5] = duplicate[4]
    yield Case("time_duplicate", "window", vm, duplicate, _pattern(need, 6, 19))
    gap = _grid(base, need)
    gap[15:] += 300
    yield Case("time_gap", "window", vm, gap, _pattern(need, 6, 20))
    yield Case("time_milliseconds", "window", vm, _grid(base * 1000, need, 300_000),
               _pattern(need, 6, 21))
    yield Case("time_negative", "window", vm, _grid(-300 * need, need), _pattern(need, 6, 22))
    yield Case("params_seq_len_0", "window", vm, _grid(base, need), _pattern(need, 6, 23),
               raw_params={"seq_len": 0})
    yield Case("params_stat_window_1", "window", vm, _grid(base, need), _pattern(need, 6, 24),
               raw_params={"stat_window": 1})
    yield Case("params_step_0", "window", vm, _grid(base, need), _pattern(need, 6, 25),
               raw_params={"step_seconds": 0})
    yield Case("params_scale_0", "window", replace(vm, scale=tuple([1.0] * 13 + [0.0])),
               _grid(base, need), _pattern(need, 6, 26))
    yield Case("params_center_nan", "window", replace(vm, center=tuple([0.0] * 5 + [NAN] + [0.0] * 8)),
               _grid(base, need), _pattern(need, 6, 27))

    # Resampling.
    raw_ts = np.array([base + 10, base + 290, base + 150, base + 600, base + 610, base + 605,
                       base + 1500, base + 3000, base - 5, base + 99999], dtype=np.int64)
    raw_values = _pattern(len(raw_ts), 6, 28)
    yield Case("resample_mixed", "resample", vm, raw_ts, raw_values, t0=base, n_bins=12)
    yield Case("resample_no_fill", "resample", replace(vm, fill_limit=0), raw_ts, raw_values,
               t0=base, n_bins=12)
    yield Case("resample_empty_input", "resample", vm, np.zeros(0, np.int64),
               np.zeros((0, 6)), t0=base, n_bins=3)
    yield Case("resample_link", "resample", link, raw_ts, _pattern(len(raw_ts), 4, 29), t0=base,
               n_bins=12)
    bad = raw_values.copy()
    bad[3, 0] = NAN
    yield Case("resample_missing_raw", "resample", vm, raw_ts, bad, t0=base, n_bins=12)
    yield Case("resample_overflow", "resample", vm, np.array([base, base + 1], np.int64),
               np.full((2, 6), 1e308), t0=base, n_bins=1)


def fc_ts_max() -> int:
    return int(fc.lib.FC_TS_MAX)


def _run(case: Case) -> list[str]:
    """Runs one case through the core and returns the expected-result lines."""
    params = case.params
    lines: list[str] = []
    try:
        if case.raw_params:
            raise _raw_params_error(case)
        if case.call == "resample":
            _, out, counts = fc.resample(params, case.ts, _rows(case), case.t0, case.n_bins)
            lines += ["status FC_OK", f"out {hex64(out)}".rstrip(),
                      f"counts {' '.join(str(int(c)) for c in counts)}".rstrip()]
        elif case.call == "window":
            out = fc.window(params, case.ts, _rows(case))
            lines += ["status FC_OK", f"out {_hex32(out)}"]
        else:
            out = fc.windows(params, case.ts, _rows(case), stride=case.stride)
            lines += ["status FC_OK", f"n_windows {len(out)}", f"out {_hex32(out)}".rstrip()]
    except fc.FeatureCoreError as exc:
        channel = params.schema.channels.index(exc.channel) if exc.channel else -1
        feature = params.schema.features.index(exc.feature) if exc.feature else -1
        index = -1 if exc.index is None else exc.index
        lines += [f"status {exc.status}", f"error {index} {channel} {feature}"]
    return lines


def _rows(case: Case) -> np.ndarray:
    """Values as rows; a flat array whose length is no multiple of the channels stays flat
    so the core (not numpy) reports the length error."""
    c = case.params.n_channels
    flat = np.ravel(case.values)
    return flat.reshape(-1, c) if flat.size % c == 0 else flat


def _raw_params_error(case: Case) -> fc.FeatureCoreError:
    p = case.params.to_c()
    for key, value in case.raw_params.items():
        setattr(p, key, value)
    err = fc.ffi.new("fc_error *")
    status = fc.lib.fc_params_check(p, err)
    try:
        fc._check(status, err, case.call, case.params.schema)
    except fc.FeatureCoreError as exc:
        return exc
    raise AssertionError(f"{case.name}: params {case.raw_params} were accepted")


def render() -> str:
    out = [FORMAT, f"fc_version {fc.VERSION}"]
    for schema in fc.Schema:
        out.append(f"schema_hash {schema.label} {schema.hash:016x}")
    out.append("# generated by `dwcp-ml golden`; do not edit (docs/golden-format.md)")
    for case in cases():
        p = case.params
        fields = {"seq_len": p.seq_len, "stat_window": p.stat_window,
                  "step_seconds": p.step_seconds, "fill_limit": p.fill_limit, **case.raw_params}
        center = p.center or (0.0,) * p.n_features
        scale = p.scale or (1.0,) * p.n_features
        out += [f"vector {case.name}", f"call {case.call}", f"schema {p.schema.label}"]
        out += [f"{k} {v}" for k, v in fields.items()]
        out += [f"center {hex64(np.array(center))}", f"scale {hex64(np.array(scale))}"]
        if case.call == "windows":
            out.append(f"stride {case.stride}")
        if case.call == "resample":
            out += [f"t0 {case.t0}", f"n_bins {case.n_bins}"]
        out.append(f"ts {' '.join(str(int(t)) for t in case.ts)}".rstrip())
        out.append(f"values {hex64(case.values)}".rstrip())
        out += _run(case)
        out.append("end")
    return "\n".join(out) + "\n"


def write(path: Path = DEFAULT_PATH) -> Path:
    path.write_text(render())
    return path
