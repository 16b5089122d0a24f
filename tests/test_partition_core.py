"""fc_partition_chunks through cffi: the golden vectors bit for bit, the rule's invariants,
and the error of every bad input (docs/partition.md)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from dwcp_ml import feature_core as fc
from dwcp_ml.golden import partition as gp
from dwcp_ml.golden.vectors import FORMAT

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "partition_v1.txt"


def _d(tok: str) -> float:
    return struct.unpack(">d", bytes.fromhex(tok))[0]


def _read(path: Path) -> list[dict[str, list[str]]]:
    lines = path.read_text().splitlines()
    assert lines[0] == FORMAT
    assert lines[1] == f"fc_version {fc.VERSION}"
    assert lines[2] == f"partition_version {fc.PARTITION_VERSION}"
    vectors: list[dict[str, list[str]]] = []
    cur: dict[str, list[str]] | None = None
    for line in lines[3:]:
        if not line or line.startswith("#"):
            continue
        key, *rest = line.split(" ")
        if key == "vector":
            cur = {"name": rest}
        elif key == "end":
            assert cur is not None
            vectors.append(cur)
            cur = None
        else:
            assert cur is not None and key not in cur, line
            cur[key] = rest
    assert cur is None
    return vectors


def test_golden_file_is_current() -> None:
    assert GOLDEN.read_text() == gp.render(), "run `python -m dwcp_ml.golden.partition`"


def test_golden_vectors_bit_for_bit() -> None:
    vectors = _read(GOLDEN)
    assert len(vectors) >= 150
    n_ok = 0
    for v in vectors:
        name = v["name"][0]
        params = fc.PartitionParams(_d(v["fec_overhead"][0]), int(v["max_streams"][0]))
        args = dict(min_bandwidth_mbps=_d(v["min_bandwidth"][0]),
                    requires_fec=v["requires_fec"][0] == "1", params=params)
        forecast = [_d(t) for t in v["forecast"]]
        size = int(v["size"][0])
        status = v["status"][0]
        if status != "FC_OK":
            with pytest.raises(fc.FeatureCoreError) as info:
                fc.partition_chunks(forecast, size, **args)
            index = -1 if info.value.index is None else info.value.index
            channel = -1 if info.value.channel is None else gp.ARG_IDS[info.value.channel]
            assert (info.value.status, [str(index), str(channel), "-1"]) == \
                (status, v["error"]), name
            continue
        r = fc.partition_chunks(forecast, size, **args)
        assert [str(int(c)) for c in r.chunks] == v["chunks"], name
        assert ["1" if u else "0" for u in r.used] == v["used"], name
        assert struct.pack(">d", r.expected_seconds).hex() == v["expected"][0], name
        n_ok += 1
    assert n_ok >= 120


@pytest.mark.parametrize("seed", range(5))
def test_invariants(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        bw = np.where(rng.random(n) < 0.2, 0.0, rng.lognormal(4.0, 1.5, n))
        if not np.any(bw > 0):
            bw[0] = 1.0
        gate = float(rng.choice(bw)) if rng.random() < 0.3 else 0.0
        size = int(rng.integers(1, 2**50))
        r = fc.partition_chunks(bw, size, min_bandwidth_mbps=gate)
        usable = (bw > 0) & (bw >= gate)
        assert np.array_equal(r.used, usable)
        assert int(r.chunks.sum(dtype=np.uint64)) == size
        assert np.all(r.chunks[~usable] == 0)
        quota = size * (bw[usable] / bw[usable].sum())
        assert np.all(np.abs(r.chunks[usable].astype(np.float64) - quota) < 1.0 + size * 1e-15)
        assert r.expected_seconds == pytest.approx(size * 8 / 1e6 / bw[usable].sum(), rel=1e-12)


def test_remainder_rule_and_fec() -> None:
    assert fc.partition_chunks([1, 1, 1], 100).chunks.tolist() == [34, 33, 33]
    assert fc.partition_chunks([10, 20, 30], 7).chunks.tolist() == [1, 2, 4]
    plain = fc.partition_chunks([10, 20, 30], 600)
    fec = fc.partition_chunks([10, 20, 30], 600, requires_fec=True,
                              params=fc.PartitionParams(fec_overhead=0.25))
    assert fec.chunks.tolist() == plain.chunks.tolist() == [100, 200, 300]
    assert fec.expected_seconds == pytest.approx(1.25 * plain.expected_seconds, rel=1e-15)


@pytest.mark.parametrize("forecast, size, kwargs, exc, index, arg", [
    ([1.0, float("nan")], 10, {}, fc.MissingValueError, 1, "forecast_mbps"),
    ([float("inf")], 10, {}, fc.InfiniteValueError, 0, "forecast_mbps"),
    ([1.0, -2.0], 10, {}, fc.NegativeValueError, 1, "forecast_mbps"),
    ([0.0, 0.0], 10, {}, fc.EmptyError, None, "forecast_mbps"),
    ([1.0, 2.0], 10, {"min_bandwidth_mbps": 3.0}, fc.EmptyError, None, "forecast_mbps"),
    ([1.0], 0, {}, fc.EmptyError, None, "size_bytes"),
    ([1.0], 2**53 + 1, {}, fc.RangeError, None, "size_bytes"),
    ([], 10, {}, fc.LengthError, None, "forecast_mbps"),
    ([1.0], 10, {"min_bandwidth_mbps": float("nan")}, fc.MissingValueError, None,
     "min_bandwidth_mbps"),
    ([1.0], 10, {"params": fc.PartitionParams(fec_overhead=-1.0)}, fc.BadParamsError, None,
     "params"),
    ([1.0, 2.0], 10, {"params": fc.PartitionParams(max_streams=1)}, fc.BadParamsError, None,
     "forecast_mbps"),
])
def test_errors(forecast: list[float], size: int, kwargs: dict, exc: type, index: int | None,
                arg: str) -> None:
    with pytest.raises(exc) as info:
        fc.partition_chunks(forecast, size, **kwargs)
    assert info.value.index == index
    assert info.value.channel == arg
    assert str(info.value).startswith("partition: ")


def test_size_beyond_uint64() -> None:
    with pytest.raises(fc.RangeError, match="does not fit uint64"):
        fc.partition_chunks([1.0], 2**64)
