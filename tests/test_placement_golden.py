"""Every placement golden vector (golden/placement_v1.txt) reproduced bit for bit through the
Python binding: status, error location (host, input column, factor) and every factor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dwcp_ml import feature_core as fc
from golden_reader import Vector, read, ulp_distance32

PLACEMENT = Path(__file__).resolve().parents[1] / "golden" / "placement_v1.txt"
FILE = read(PLACEMENT)
ARRAYS = ("vm_request", "vm_history", "vm_info", "host_capacity", "host_allocated",
          "host_usage", "host_info")


def _run(v: Vector) -> tuple[str, tuple[int, int, int] | None, np.ndarray]:
    """(status, error fields, output bits) computed now."""
    params = fc.PlacementParams(history=v.int("history"), step_seconds=v.int("step_seconds"))
    arrays = tuple(v.doubles(a) if v.fields[a] else np.zeros(0) for a in ARRAYS)
    try:
        out = fc._placement_factors_flat(params, v.int("n_hosts"), arrays)
    except fc.FeatureCoreError as exc:
        error = (
            -1 if exc.index is None else exc.index,
            fc.PLACEMENT_COLUMNS.index(exc.channel) if exc.channel else -1,
            fc.PLACEMENT_FACTORS.index(exc.feature) if exc.feature else -1,
        )
        return exc.status, error, np.zeros(0, np.uint32)
    return "FC_OK", None, out.view(np.uint32).ravel()


def mismatches(v: Vector, got: np.ndarray) -> list[str]:
    """docs/golden-format.md's report: vector, index, host, factor, both bits, ULPs."""
    expected = v.bits32("out")
    if len(expected) != len(got):
        return [f"vector {v.name}: {len(got)} outputs, expected {len(expected)}"]
    F = len(fc.PLACEMENT_FACTORS)
    report = []
    for k in np.flatnonzero(expected != got)[:10]:
        a, b = int(expected[k]), int(got[k])
        report.append(f"vector {v.name}: out[{k}] (host {k // F}, factor "
                      f"{fc.PLACEMENT_FACTORS[k % F]}): expected 0x{a:08x}, got 0x{b:08x} "
                      f"({ulp_distance32(a, b)} ULP)")
    return report


def test_header_matches_library() -> None:
    assert FILE.header["fc_version"] == [fc.VERSION]
    assert FILE.header["place_hash"] == [f"{fc.PLACEMENT_HASH:016x}"]
    assert fc.PLACEMENT_HASH == fc.lib.FC_PLACE_HASH


def test_covers_statuses_arrays_and_shapes() -> None:
    statuses = {v.fields["status"][0] for v in FILE.vectors}
    assert {v.fields["call"][0] for v in FILE.vectors} == {"place"}
    assert {"FC_OK", "FC_ERR_MISSING", "FC_ERR_INFINITE", "FC_ERR_NEGATIVE",
            "FC_ERR_ZERO_CAPACITY", "FC_ERR_LENGTH", "FC_ERR_BAD_PARAMS",
            "FC_ERR_RANGE"} <= statuses
    failing_columns = {v.ints("error")[1] for v in FILE.vectors if "error" in v.fields}
    for array in ARRAYS:  # a bad value and a bad length in every input array
        assert any(fc.PLACEMENT_COLUMNS[c].startswith(array + ".") for c in failing_columns
                   if c >= 0), array
        assert any(v.name.startswith(array) and v.fields["status"][0] == "FC_ERR_NEGATIVE"
                   for v in FILE.vectors), array
    hosts = {v.int("n_hosts") for v in FILE.vectors if v.fields["status"][0] == "FC_OK"}
    histories = {v.int("history") for v in FILE.vectors if v.fields["status"][0] == "FC_OK"}
    assert {0, 1} <= hosts and max(hosts) >= 100
    assert {2, 12} <= histories and max(histories) >= 288


@pytest.mark.parametrize("vector", FILE.vectors, ids=lambda v: v.name)
def test_vector_bits(vector: Vector) -> None:
    status, error, got = _run(vector)
    assert status == vector.fields["status"][0], f"vector {vector.name}: status"
    if error is not None:
        assert list(error) == vector.ints("error"), f"vector {vector.name}: error fields"
        return
    report = mismatches(vector, got)
    assert not report, "\n".join(report)


def test_public_call_gives_the_golden_bits() -> None:
    """The shaped entry point (placement_factors) gives the flat call's bits."""
    checked = 0
    for v in FILE.vectors:
        if v.fields["status"][0] != "FC_OK" or v.int("n_hosts") == 0:
            continue
        n, h = v.int("n_hosts"), v.int("history")
        shapes = ((4,), (h, 4), (2,), (n, 4), (n, 4), (n, h, 4), (n, 13))
        arrays = [v.doubles(a).reshape(s) for a, s in zip(ARRAYS, shapes)]
        out = fc.placement_factors(fc.PlacementParams(h, v.int("step_seconds")), *arrays)
        np.testing.assert_array_equal(out.view(np.uint32).ravel(), v.bits32("out"))
        checked += 1
    assert checked > 20


def test_mismatch_report_names_vector_host_factor_bits_and_ulps() -> None:
    vector = next(v for v in FILE.vectors if v.name == "small_three_hosts")
    _, _, got = _run(vector)
    tampered = got.copy()
    F = len(fc.PLACEMENT_FACTORS)
    tampered[F + 40] += 3  # host 1, factor 40: host_mean_cpu, three ULPs up
    (line,) = mismatches(vector, tampered)
    assert line.startswith(f"vector small_three_hosts: out[{F + 40}] (host 1, factor "
                           "host_mean_cpu): expected 0x")
    assert line.endswith("(3 ULP)")


def test_golden_file_is_reproducible() -> None:
    from dwcp_ml.golden import placement

    assert placement.render() == PLACEMENT.read_text(), (
        "golden/placement_v1.txt differs from what the generator writes now: the feature "
        "core changed its bits. If that is intended, bump FC_VERSION and run `dwcp-ml golden`."
    )
