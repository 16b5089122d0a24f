"""The drift statistics of the feature core through the Python binding: every record of
golden/drift_v1.txt bit for bit, the definitions checked against independent numpy/scipy
computations, and one typed exception per bad input (docs/drift.md)."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from dwcp_ml import feature_core as fc
from dwcp_ml.golden import drift as gen
from dwcp_ml.golden.vectors import FORMAT

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "drift_v1.txt"
ARRAY_NAMES = {v: k for k, v in gen.ARRAY_IDS.items()}


# ---- golden file ---------------------------------------------------------------------


@dataclass
class Vector:
    """One record of the drift golden file (docs/golden-format.md, "Drift vectors")."""

    name: str
    line: int
    call: str = ""
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    n_bins: int = 0
    epsilon: float = fc.DRIFT_DEFAULT_EPSILON
    status: str = ""
    error: tuple[int, int, int] | None = None
    out: list[int] | None = None


def _doubles(tokens: list[str]) -> np.ndarray:
    if any(len(t) != 16 for t in tokens):
        raise ValueError("a double is 16 hex digits")
    return np.array([struct.unpack(">d", bytes.fromhex(t))[0] for t in tokens], np.float64)


def read_golden(path: Path = GOLDEN) -> tuple[dict[str, str], list[Vector]]:
    """Strict reader: unknown or repeated keys fail, naming the line."""
    header: dict[str, str] = {}
    vectors: list[Vector] = []
    cur: Vector | None = None
    lines = path.read_text().split("\n")
    assert lines[0] == FORMAT
    for no, line in enumerate(lines[1:], start=2):
        if not line or line.startswith("#"):
            continue
        key, *toks = line.split(" ")
        if cur is None:
            if key == "vector":
                cur = Vector(toks[0], no)
            else:
                assert key in ("fc_version", "drift_version") and key not in header, (no, key)
                header[key] = toks[0]
            continue
        if key == "end":
            vectors.append(cur)
            cur = None
        elif key == "call":
            cur.call = toks[0]
        elif key in ("values", "edges", "ref", "live"):
            assert key not in cur.arrays, (no, key)
            cur.arrays[key] = _doubles(toks)
        elif key == "n_bins":
            cur.n_bins = int(toks[0])
        elif key == "epsilon":
            cur.epsilon = float(_doubles(toks)[0])
        elif key == "status":
            cur.status = toks[0]
        elif key == "error":
            cur.error = (int(toks[0]), int(toks[1]), int(toks[2]))
        elif key == "out":
            cur.out = [int(t, 16) for t in toks]
        else:
            raise AssertionError(f"line {no}: unknown key {key!r}")
    assert cur is None, "last vector has no end"
    return header, vectors


def _bits(x: float) -> int:
    return struct.unpack(">Q", struct.pack(">d", x))[0]


def _ulps(a: int, b: int) -> int:
    def ordered(u: int) -> int:
        return -(u & (2**63 - 1)) if u >> 63 else u
    return abs(ordered(a) - ordered(b))


def _run(v: Vector) -> np.ndarray:
    a = v.arrays
    if v.call == "ln":
        return fc.drift_ln(a["values"])
    if v.call == "edges":
        return fc.quantile_edges(a["values"], v.n_bins)
    if v.call == "histogram":
        return fc.histogram(a["values"], a["edges"])
    if v.call == "psi":
        return np.array([fc.psi(a["ref"], a["live"], v.epsilon)])
    assert v.call == "ks", v.call
    return np.array([fc.ks(a["ref"], a["live"])])


HEADER, VECTORS = read_golden()


def test_golden_header() -> None:
    assert HEADER == {"fc_version": fc.VERSION, "drift_version": str(fc.DRIFT_VERSION)}
    calls = {v.call for v in VECTORS}
    assert calls == set(gen.CALLS)
    assert len(VECTORS) > 200


@pytest.mark.parametrize("v", VECTORS, ids=[v.name for v in VECTORS])
def test_golden_vector(v: Vector) -> None:
    """Status, error location and every output bit, as the C and Go readers check."""
    try:
        got = _run(v)
    except fc.FeatureCoreError as exc:
        index = -1 if exc.index is None else exc.index
        channel = -1 if exc.channel is None else gen.ARRAY_IDS[exc.channel]
        assert (exc.status, (index, channel, -1)) == (v.status, v.error), v.name
        return
    assert v.status == "FC_OK", f"{v.name}: expected {v.status}, got FC_OK"
    assert v.out is not None and len(got) == len(v.out), v.name
    bad = [f"out[{k}]: expected 0x{want:016x}, got 0x{_bits(g):016x} "
           f"({_ulps(want, _bits(g))} ULP)"
           for k, (want, g) in enumerate(zip(v.out, got.tolist())) if _bits(g) != want]
    assert not bad, f"vector {v.name}: " + "; ".join(bad[:5])


def test_golden_is_what_the_generator_writes() -> None:
    """The committed file is current: regenerate with `python -m dwcp_ml.golden.drift`."""
    assert gen.render() == GOLDEN.read_text()
    assert gen.main(["--check"]) == 0


def test_golden_covers_every_drift_status() -> None:
    statuses = {v.status for v in VECTORS}
    for status in ("FC_OK", "FC_ERR_EDGE_ORDER", "FC_ERR_EMPTY", "FC_ERR_CONSTANT",
                   "FC_ERR_MISSING", "FC_ERR_INFINITE", "FC_ERR_NEGATIVE", "FC_ERR_RANGE",
                   "FC_ERR_BAD_PARAMS", "FC_ERR_LENGTH"):
        assert status in statuses, status


# ---- definitions against independent computations ---------------------------------------


def _ulp_error(got: float, x: float) -> float:
    ref = math.log(x)
    return 0.0 if got == ref else abs(got - ref) / math.ulp(ref)


def test_ln_within_one_ulp_of_libm() -> None:
    rng = np.random.default_rng(11)
    bits = rng.integers(1, 0x7FF0000000000000, 20000, dtype=np.int64)
    xs = np.concatenate([bits.view(np.float64), rng.uniform(0.5, 2.0, 20000),
                         1.0 + rng.uniform(-1e-6, 1e-6, 2000)])
    got = fc.drift_ln(xs)
    worst = max(_ulp_error(g, x) for g, x in zip(got.tolist(), xs.tolist()))
    assert worst <= 1.0
    assert fc.drift_ln(1.0) == 0.0 and fc.drift_ln(2.0) == math.log(2.0)
    assert fc.drift_ln(np.ones((2, 3))).shape == (2, 3)


def test_quantile_edges_are_lower_order_statistics() -> None:
    rng = np.random.default_rng(5)
    for n, bins in ((1000, 10), (7, 10), (999, 37), (2, 1), (50, 1024)):
        sample = rng.normal(size=n)
        s = np.sort(sample)
        want = np.unique(s[[k * (n - 1) // bins for k in range(bins + 1)]])
        got = fc.quantile_edges(sample, bins)
        assert got.tobytes() == want.tobytes()
    # ties collapse; -0.0 comes back as +0.0; the input is not modified
    sample = np.array([0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 5.0])
    keep = sample.copy()
    edges = fc.quantile_edges(sample, 4)
    assert edges.tolist() == [0.0, 5.0] and math.copysign(1.0, edges[0]) == 1.0
    assert sample.tobytes() == keep.tobytes()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=300),
       st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=20, unique=True))
def test_histogram_rule(values: list[float], raw_edges: list[float]) -> None:
    """Bin j holds e[j] <= x < e[j+1]; the outer bins take everything beyond."""
    edges = np.sort(np.array(raw_edges))
    x = np.array(values)
    counts = fc.histogram(x, edges)
    want = np.bincount(np.searchsorted(edges[1:-1], x, side="right"),
                       minlength=len(edges) - 1).astype(np.float64)
    assert counts.tolist() == want.tolist()
    assert counts.sum() == len(values)


def test_psi_and_ks_match_their_definitions() -> None:
    rng = np.random.default_rng(9)
    ref_s, live_s = rng.normal(0, 1, 5000), rng.normal(0.3, 1.2, 3000)
    edges = fc.quantile_edges(ref_s, 10)
    ref, live = fc.histogram(ref_s, edges), fc.histogram(live_s, edges)
    p = np.maximum(ref / ref.sum(), 1e-4)
    q = np.maximum(live / live.sum(), 1e-4)
    assert fc.psi(ref, live) == pytest.approx(float(np.sum((q - p) * np.log(q / p))), rel=1e-13)
    gaps = np.abs(np.cumsum(ref) / ref.sum() - np.cumsum(live) / live.sum())
    assert fc.ks(ref, live) == pytest.approx(float(gaps.max()), abs=1e-15)
    # binned KS never exceeds the exact two-sample statistic
    assert fc.ks(ref, live) <= stats.ks_2samp(ref_s, live_s).statistic + 1e-12
    assert fc.psi(ref, ref) == 0.0 and fc.ks(ref, ref) == 0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=40), st.data())
def test_psi_nonnegative_ks_in_unit_interval(ref: list[float], data: st.DataObject) -> None:
    live = data.draw(st.lists(st.floats(0, 1e6), min_size=len(ref), max_size=len(ref)))
    if sum(ref) == 0 or sum(live) == 0:
        with pytest.raises(fc.EmptyError):
            fc.psi(ref, live)
        return
    assert fc.psi(ref, live) >= 0.0
    assert 0.0 <= fc.ks(ref, live) <= 1.0


def test_psi_reading_of_a_shift() -> None:
    """The usual reading on deciles of a normal reference (docs/drift.md's table): the
    same distribution is stable, a shift of half a standard deviation moderate, of one
    standard deviation major; a small live window inflates PSI (the caveat)."""
    rng = np.random.default_rng(3)
    ref_s = rng.normal(0, 1, 20000)
    edges = fc.quantile_edges(ref_s, 10)
    ref = fc.histogram(ref_s, edges)

    def live_psi(shift: float, n: int = 5000) -> float:
        return fc.psi(ref, fc.histogram(rng.normal(shift, 1, n), edges))

    assert live_psi(0.0) < 0.1
    assert 0.1 < live_psi(0.5) < 0.25
    assert live_psi(1.0) > 0.25
    assert live_psi(0.0, 50) > live_psi(0.0, 5000)


# ---- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "exc", "index", "array", "text"),
    [
        (lambda: fc.drift_ln([1.0, math.nan]), fc.MissingValueError, 1, "values", "NaN"),
        (lambda: fc.drift_ln(math.inf), fc.InfiniteValueError, 0, "values", "infinite"),
        (lambda: fc.drift_ln([2.0, -1.0]), fc.NegativeValueError, 1, "values", "negative"),
        (lambda: fc.drift_ln(0.0), fc.RangeError, 0, "values", "ln of 0"),
        (lambda: fc.quantile_edges([]), fc.EmptyError, None, "values", "nothing to compare"),
        (lambda: fc.quantile_edges([2.0] * 5), fc.ConstantError, None, "values",
         "single distinct value"),
        (lambda: fc.quantile_edges([1.0, math.nan]), fc.MissingValueError, 1, "values", "NaN"),
        (lambda: fc.quantile_edges([1.0, 2.0], 0), fc.BadParamsError, None, None, "n_bins=0"),
        (lambda: fc.quantile_edges([1.0, 2.0], 1025), fc.BadParamsError, None, None, "1..1024"),
        (lambda: fc.quantile_edges([[1.0, 2.0]]), fc.LengthError, None, None, "1-d"),
        (lambda: fc.histogram([1.0], [0.0, 2.0, 1.0]), fc.EdgeOrderError, 2, "edges",
         "strictly ascending"),
        (lambda: fc.histogram([1.0], [0.0]), fc.EdgeOrderError, None, "edges", "at least 2"),
        (lambda: fc.histogram([1.0], [0.0, math.nan]), fc.MissingValueError, 1, "edges", "NaN"),
        (lambda: fc.histogram([math.nan], [0.0, 1.0]), fc.MissingValueError, 0, "values",
         "drop missing samples"),
        (lambda: fc.histogram([], [0.0, 1.0]), fc.EmptyError, None, "values", "at least one"),
        (lambda: fc.psi([1.0, -1.0], [1.0, 1.0]), fc.NegativeValueError, 1, "ref_counts",
         "drift bin counts"),
        (lambda: fc.psi([1.0, 1.0], [0.0, 0.0]), fc.EmptyError, None, "live_counts",
         "nothing to compare"),
        (lambda: fc.psi([1.0], [1.0], 0.0), fc.BadParamsError, None, None, "epsilon"),
        (lambda: fc.psi([1.0], [1.0], 1.0), fc.BadParamsError, None, None, "epsilon"),
        (lambda: fc.psi([1.0, 2.0], [1.0]), fc.LengthError, None, None, "same edges"),
        (lambda: fc.ks([], []), fc.LengthError, None, None, "same bins"),
        (lambda: fc.ks([1.0, math.inf], [1.0, 1.0]), fc.InfiniteValueError, 1, "ref_counts",
         "infinite"),
        (lambda: fc.ks([1e308, 1e308], [1.0, 1.0]), fc.RangeError, None, "ref_counts",
         "overflows"),
    ],
)
def test_bad_input_raises_its_status(call, exc, index, array, text) -> None:  # noqa: ANN001
    with pytest.raises(exc) as info:
        call()
    err = info.value
    assert isinstance(err, fc.FeatureCoreError) and err.status == exc.status
    assert err.index == index and err.channel == array and err.feature is None
    assert text in str(err)
