"""Each bad input gives its own exception, with where and how to fix it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dwcp_ml import feature_core as fc

P = fc.Params()
N = P.input_len
BASE = 1372636800  # Monday 2013-07-01T00:00Z


def inputs(n: int = N) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return BASE + 300 * np.arange(n, dtype=np.int64), rng.gamma(2.0, 10.0, (n, 6))


def with_value(row: int, channel: int, value: float) -> tuple[np.ndarray, np.ndarray]:
    ts, values = inputs()
    values[row, channel] = value
    return ts, values


@pytest.mark.parametrize(
    "case,error,index,channel,words",
    [
        ("nan", fc.MissingValueError, 7, "net_rx_kbs", "sample 7, channel 'net_rx_kbs'"),
        ("inf", fc.InfiniteValueError, 3, "mem_pct", "must be finite"),
        ("-inf", fc.InfiniteValueError, 0, "cpu_pct", "sample 0"),
        ("negative", fc.NegativeValueError, 5, "disk_read_kbs", "cannot be negative"),
        ("order", fc.TimeOrderError, 9, None, "strictly increasing"),
        ("duplicate", fc.TimeOrderError, 4, None, "sample 4"),
        ("gap", fc.TimeGapError, 15, None, "fc_resample"),
        ("milliseconds", fc.TimeRangeError, 0, None, "not milliseconds"),
        ("negative later", fc.TimeRangeError, 2, None, "sample 2"),
        ("int64 min later", fc.TimeRangeError, 2, None, "sample 2"),
        ("huge", fc.RangeError, 11, None, "float32"),
    ],
)
def test_bad_values(case: str, error: type, index: int, channel: str | None,
                    words: str) -> None:
    ts, values = inputs()
    if case == "nan":
        ts, values = with_value(7, 4, float("nan"))
    elif case == "inf":
        ts, values = with_value(3, 1, float("inf"))
    elif case == "-inf":
        ts, values = with_value(0, 0, float("-inf"))
    elif case == "negative":
        ts, values = with_value(5, 2, -0.5)
    elif case == "order":
        ts[9] = ts[7]
    elif case == "duplicate":
        ts[4] = ts[3]
    elif case == "gap":
        ts[15:] += 60
    elif case == "milliseconds":
        ts = ts * 1000
    elif case == "negative later":
        ts[2] = -300
    elif case == "int64 min later":
        ts[2] = np.iinfo(np.int64).min
    elif case == "huge":
        values[:, 0] = 1e39
    for call in (lambda: fc.window(P, ts, values), lambda: fc.windows(P, ts, values)):
        with pytest.raises(error, match=words) as info:
            call()
        assert info.value.index == index
        assert info.value.channel == channel
        assert isinstance(info.value, fc.FeatureCoreError)
        assert isinstance(info.value, ValueError)


def test_range_error_names_feature() -> None:
    ts, values = inputs()
    values[:, 4:6] = 3e38  # each channel fits float32, their sum (the target) does not
    with pytest.raises(fc.RangeError, match="feature 'target_mean'") as info:
        fc.window(P, ts, values)
    assert info.value.feature == "target_mean"


@pytest.mark.parametrize("n", [0, 1, N - 1, N + 1])
def test_window_needs_exact_length(n: int) -> None:
    ts, values = inputs(n)
    with pytest.raises(fc.LengthError, match="seq_len \\+ stat_window - 1"):
        fc.window(P, ts, values)


def test_windows_of_short_trace_is_empty_not_error() -> None:
    ts, values = inputs(N - 1)
    assert fc.windows(P, ts, values).shape == (0, 12, 14)


@pytest.mark.parametrize(
    "values,message",
    [
        (np.zeros((N, 5)), "shape \\(samples, 6\\)"),
        (np.zeros(N * 6), "shape \\(samples, 6\\)"),
        (np.zeros((N, 6, 1)), "shape \\(samples, 6\\)"),
    ],
)
def test_wrong_shapes(values: np.ndarray, message: str) -> None:
    ts, _ = inputs()
    with pytest.raises(fc.LengthError, match=message):
        fc.window(P, ts, values)


def test_mismatched_lengths() -> None:
    ts, values = inputs()
    with pytest.raises(fc.LengthError):
        fc.window(P, ts[:-1], values)


def test_float_timestamps_rejected() -> None:
    ts, values = inputs()
    with pytest.raises(fc.TimeRangeError, match="integer Unix seconds"):
        fc.window(P, ts.astype(np.float64), values)


@pytest.mark.parametrize(
    "change,feature",
    [
        ({"seq_len": 0}, None),
        ({"stat_window": 1}, None),
        ({"stat_window": 2049}, None),
        ({"step_seconds": 0}, None),
        ({"step_seconds": 86401}, None),
        ({"fill_limit": 100001}, None),
        ({"scale": (1.0,) * 13 + (0.0,)}, "target_ewma"),
        ({"scale": (1.0,) * 2 + (-1.0,) + (1.0,) * 11}, "disk_read_kbs"),
        ({"center": (float("nan"),) + (0.0,) * 13}, "cpu_pct"),
        ({"center": (float("inf"),) + (0.0,) * 13}, "cpu_pct"),
    ],
)
def test_bad_params(change: dict, feature: str | None) -> None:
    ts, values = inputs()
    with pytest.raises(fc.BadParamsError, match="parameters out of range") as info:
        fc.window(replace(P, **change), ts, values)
    assert info.value.feature == feature


def test_norm_vector_of_wrong_length() -> None:
    with pytest.raises(fc.BadParamsError, match="has 3 values, schema vm has 14 features"):
        replace(P, center=(0.0, 0.0, 0.0)).to_c()


def test_negative_stride() -> None:
    ts, values = inputs()
    with pytest.raises(fc.BadParamsError, match="stride"):
        fc.windows(P, ts, values, stride=0)


def test_unknown_schema_name() -> None:
    with pytest.raises(fc.UnknownSchemaError, match="known schemas: vm, link, metric"):
        fc.Schema.parse("gpu")


def test_resample_rejects_bad_raw_values() -> None:
    ts, values = inputs()
    values[3, 2] = float("nan")
    with pytest.raises(fc.MissingValueError, match="sample 3, channel 'disk_read_kbs'"):
        fc.resample(P, ts, values)
    with pytest.raises(fc.LengthError):
        fc.resample(P, np.zeros(0, np.int64), np.zeros((0, 6)))  # no grid from no samples


def test_resample_overflow_names_bin() -> None:
    ts = np.array([BASE, BASE + 1], np.int64)
    with pytest.raises(fc.RangeError, match="bin 0, channel 'cpu_pct'"):
        fc.resample(P, ts, np.full((2, 6), 1e308))
