"""Every golden feature vector reproduced bit for bit through the Python binding."""

from __future__ import annotations

import numpy as np
import pytest

from dwcp_ml import feature_core as fc
from golden_reader import GOLDEN, Vector, read, ulp_distance32, ulp_distance64

GOLDEN_FILE = read()


def _params(v: Vector) -> fc.Params:
    schema = fc.Schema.parse(v.fields["schema"][0])
    return fc.Params(
        schema=schema, seq_len=v.int("seq_len"), stat_window=v.int("stat_window"),
        step_seconds=v.int("step_seconds"), fill_limit=v.int("fill_limit"),
        center=tuple(v.doubles("center")), scale=tuple(v.doubles("scale")),
    )


def _run(v: Vector) -> tuple[str, tuple[int, int, int] | None, np.ndarray, list[int], int]:
    """(status, error fields, output bits, counts, n_windows) computed now."""
    ts = np.array(v.ints("ts"), dtype=np.int64)
    values = v.doubles("values") if v.fields["values"] else np.zeros(0)
    try:
        params = _params(v)
        channels = params.n_channels
        rows = values.reshape(-1, channels) if values.size % channels == 0 else values
        if v.fields["call"][0] == "window":
            out = fc.window(params, ts, rows)
            return "FC_OK", None, out.view(np.uint32).ravel(), [], 1
        if v.fields["call"][0] == "windows":
            out = fc.windows(params, ts, rows, stride=v.int("stride"))
            return "FC_OK", None, out.view(np.uint32).ravel(), [], len(out)
        _, out, counts = fc.resample(params, ts, rows, v.int("t0"), v.int("n_bins"))
        return "FC_OK", None, out.view(np.uint64).ravel(), [int(c) for c in counts], 0
    except fc.FeatureCoreError as exc:
        schema = fc.Schema.parse(v.fields["schema"][0])
        error = (
            -1 if exc.index is None else exc.index,
            schema.channels.index(exc.channel) if exc.channel else -1,
            schema.features.index(exc.feature) if exc.feature else -1,
        )
        return exc.status, error, np.zeros(0), [], 0


def _mismatches(v: Vector, got: np.ndarray) -> list[str]:
    resample = v.fields["call"][0] == "resample"
    expected = v.bits64("out") if resample else v.bits32("out")
    if len(expected) != len(got):
        return [f"vector {v.name}: {len(got)} outputs, expected {len(expected)}"]
    schema = fc.Schema.parse(v.fields["schema"][0])
    width = len(schema.channels) if resample else len(schema.features)
    seq_len = v.int("seq_len")
    report = []
    for k in np.flatnonzero(expected != got)[:10]:
        a, b = int(expected[k]), int(got[k])
        if resample:
            where = f"bin {k // width}, channel {schema.channels[k % width]}"
            ulps = ulp_distance64(a, b)
            ea, gb = f"{a:016x}", f"{b:016x}"
        else:
            where = (f"window {k // (width * seq_len)}, step {(k // width) % seq_len}, "
                     f"feature {schema.features[k % width]}")
            ulps = ulp_distance32(a, b)
            ea, gb = f"{a:08x}", f"{b:08x}"
        report.append(f"vector {v.name}: out[{k}] ({where}): expected 0x{ea}, got 0x{gb} "
                      f"({ulps} ULP)")
    return report


def test_header_matches_library() -> None:
    assert GOLDEN_FILE.header["fc_version"] == [fc.VERSION]
    assert GOLDEN_FILE.schema_hashes == {s.label: s.hash for s in fc.Schema}


def test_covers_every_status_and_call() -> None:
    statuses = {v.fields["status"][0] for v in GOLDEN_FILE.vectors}
    calls = {v.fields["call"][0] for v in GOLDEN_FILE.vectors}
    assert calls == {"window", "windows", "resample"}
    assert {"FC_OK", "FC_ERR_MISSING", "FC_ERR_INFINITE", "FC_ERR_NEGATIVE",
            "FC_ERR_TIME_ORDER", "FC_ERR_TIME_GAP", "FC_ERR_TIME_RANGE", "FC_ERR_LENGTH",
            "FC_ERR_BAD_PARAMS", "FC_ERR_RANGE"} <= statuses


@pytest.mark.parametrize("vector", GOLDEN_FILE.vectors, ids=lambda v: v.name)
def test_vector_bits(vector: Vector) -> None:
    status, error, got, counts, n_windows = _run(vector)
    assert status == vector.fields["status"][0], f"vector {vector.name}: status"
    if error is not None:
        assert list(error) == vector.ints("error"), f"vector {vector.name}: error fields"
        return
    report = _mismatches(vector, got)
    assert not report, "\n".join(report)
    if "counts" in vector.fields:
        assert counts == vector.ints("counts")
    if "n_windows" in vector.fields:
        assert n_windows == vector.int("n_windows")


def test_mismatch_report_names_vector_feature_bits_and_ulps() -> None:
    vector = next(v for v in GOLDEN_FILE.vectors if v.name == "nab_vm_window_last")
    _, _, got, _, _ = _run(vector)
    tampered = got.copy()
    tampered[9] += 2  # feature 9 of step 0: target_std, two ULPs up
    (line,) = _mismatches(vector, tampered)
    assert line.startswith("vector nab_vm_window_last: out[9] (window 0, step 0, feature "
                           "target_std): expected 0x")
    assert line.endswith("(2 ULP)")


def test_golden_file_is_reproducible() -> None:
    from dwcp_ml.golden import features

    assert features.render() == GOLDEN.read_text(), (
        "golden/features_v1.txt differs from what the generator writes now: the feature core "
        "changed its bits. If that is intended, bump FC_VERSION and run `dwcp-ml golden`."
    )
