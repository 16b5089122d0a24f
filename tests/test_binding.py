"""The cffi binding follows the header and moves arrays without copies."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from dwcp_ml import feature_core as fc
from dwcp_ml.feature_core import _build

HEADER = (Path(__file__).resolve().parents[1] / "feature_core" / "include" /
          "feature_core.h").read_text()


def test_every_public_function_is_bound() -> None:
    in_header = set(re.findall(r"^FC_API [^;(]*?\b(fc_\w+)\(", HEADER, re.M))
    in_cdef = set(re.findall(r"\b(fc_\w+)\(", _build.CDEF))
    assert in_header, "no FC_API function found in the header"
    assert in_header == in_cdef
    for name in in_header:
        assert callable(getattr(fc.lib, name))


def test_constants_come_from_the_header() -> None:
    for name, value in re.findall(r"^#define (FC_\w+) (0x[0-9a-f]+|\d+)", HEADER, re.M):
        if hasattr(fc.lib, name):
            assert getattr(fc.lib, name) == int(value, 0), name
    assert fc.lib.FC_SCHEMA_HASH_VM == fc.Schema.VM.hash
    assert fc.lib.FC_SCHEMA_HASH_LINK == fc.Schema.LINK.hash
    assert fc.lib.FC_SCHEMA_HASH_METRIC == fc.Schema.METRIC.hash


def fnv1a64(text: str) -> int:
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def test_schema_hash_is_fnv1a_of_the_feature_names() -> None:
    targets = {"vm": "net_rx_kbs+net_tx_kbs", "link": "bandwidth_mbps", "metric": "value"}
    for schema in fc.Schema:
        text = f"dwcp-fc/1;{schema.label};target={targets[schema.label]}" + "".join(
            f";f32:{name}" for name in schema.features)
        assert schema.hash == fnv1a64(text)
    assert fc.Schema.VM.features == (
        "cpu_pct", "mem_pct", "disk_read_kbs", "disk_write_kbs", "net_rx_kbs", "net_tx_kbs",
        "time_of_day", "day_of_week", "target_mean", "target_std", "target_min",
        "target_max", "target_slope", "target_ewma")


def test_version() -> None:
    assert fc.VERSION == "1.1.0"
    assert fc.lib.fc_version_number() == 10100


def test_inputs_are_not_copied() -> None:
    values = np.ones((30, 6))
    assert fc._values(values, 6) is values
    ts = np.arange(30, dtype=np.int64)
    assert fc._timestamps(ts) is ts


def test_windows_equal_single_windows() -> None:
    rng = np.random.default_rng(3)
    params = fc.Params(seq_len=5, stat_window=7)
    ts = 1_400_000_100 + 300 * np.arange(100, dtype=np.int64)
    values = rng.gamma(2.0, 5.0, (100, 6))
    for stride in (1, 2, 5, 9):
        batch = fc.windows(params, ts, values, stride=stride)
        assert len(batch) == fc.windows_count(params, 100, stride)
        for k, got in enumerate(batch):
            a = k * stride
            single = fc.window(params, ts[a:a + params.input_len],
                               values[a:a + params.input_len])
            np.testing.assert_array_equal(got.view(np.uint32), single.view(np.uint32))


def test_temporal_features_are_utc() -> None:
    params = fc.Params(seq_len=1, stat_window=2)
    monday_0130 = 1372636800 + 5400  # 2013-07-01T01:30Z
    out = fc.window(params, np.array([monday_0130 - 300, monday_0130]), np.ones((2, 6)))
    tod, dow = out[0, 6], out[0, 7]
    assert tod == np.float32(5400 / 86400) and dow == 0.0
    out = fc.window(params, np.array([0, 300]), np.ones((2, 6)))
    assert out[0, 7] == 3.0  # 1970-01-01 was a Thursday


def test_resample_fill_and_canonical_nan() -> None:
    params = fc.Params(fill_limit=1)
    ts = np.array([0, 100, 1500], np.int64)  # bins 0, 0, 5
    values = np.arange(18, dtype=np.float64).reshape(3, 6)
    grid_ts, out, counts = fc.resample(params, ts, values)
    assert list(grid_ts) == [0, 300, 600, 900, 1200, 1500]
    assert list(counts) == [2, 0, 0, 0, 0, 1]
    np.testing.assert_array_equal(out[0], (values[0] + values[1]) / 2)
    np.testing.assert_array_equal(out[1], out[0])  # carried forward once
    assert (out[2:5].view(np.uint64) == 0x7FF8000000000000).all()
    np.testing.assert_array_equal(out[5], values[2])
