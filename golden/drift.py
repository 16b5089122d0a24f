"""Generator of the drift-statistic golden vectors (``golden/drift_v1.txt``).

Inputs are fixed seeded samples (normal, heavy-tailed, with ties, integers, tiny and huge
magnitudes), a table of logarithm arguments and hand-made bad inputs; outputs are what the
feature core returns through cffi. C (``fc_golden check``), Python
(tests/test_drift_core.py) and Go (sidecar/featurecore drift golden test) read the file back
and require every bit. The format is docs/golden-format.md ("Drift vectors").

Regenerate only with ``python -m dwcp_ml.golden.drift`` (``--check`` compares instead).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dwcp_ml import feature_core as fc

from . import vectors
from .vectors import hex64

MODULE = "dwcp_ml.golden.drift"
DEFAULT_PATH = Path(__file__).resolve().parent / "drift_v1.txt"
CALLS = ("ln", "edges", "histogram", "psi", "ks")
# fc_error.channel of each array (FC_DRIFT_ARG_*), the inverse of the binding's names.
ARRAY_IDS = {"values": 0, "edges": 1, "ref_counts": 2, "live_counts": 3}

NAN = float("nan")
INF = float("inf")
DBL_MAX = float(np.finfo(np.float64).max)
DBL_MIN = float(np.finfo(np.float64).tiny)
DBL_TRUE_MIN = 5e-324


@dataclass(frozen=True)
class DriftCase:
    """One drift call: which function and its inputs (arrays of any length, so that
    length and order errors can be recorded too)."""

    name: str
    call: str
    values: tuple[float, ...] = ()
    n_bins: int = 0
    edges: tuple[float, ...] = ()
    ref: tuple[float, ...] = ()
    live: tuple[float, ...] = ()
    epsilon: float = fc.DRIFT_DEFAULT_EPSILON

    def __post_init__(self) -> None:
        if self.call not in CALLS:
            raise ValueError(f"{self.name}: unknown call {self.call!r}")


def _t(values: np.ndarray | list[float]) -> tuple[float, ...]:
    return tuple(float(v) for v in np.ravel(np.asarray(values, dtype=np.float64)))


# ---- inputs --------------------------------------------------------------------------


def _samples() -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(label, reference sample, base of the live samples): fixed seeds, so the file is
    reproducible on any machine (numpy's Generator streams are stable)."""
    rng = np.random.default_rng(20261203)
    yield "normal", rng.normal(50.0, 10.0, 2000), rng.normal(50.0, 10.0, 1000)
    # heavy tails: Student t with 2 degrees of freedom (infinite variance)
    yield "heavy", 5.0 * rng.standard_t(2.0, 2000), 5.0 * rng.standard_t(2.0, 1000)
    # ties: a sparse counter, 70 % exact zeros (disk I/O of an idle VM)
    sparse = np.where(rng.random(1500) < 0.7, 0.0, rng.exponential(200.0, 1500))
    live_sparse = np.where(rng.random(800) < 0.7, 0.0, rng.exponential(200.0, 800))
    yield "ties", sparse, live_sparse
    # integers: small counts (queue length), many ties at each integer
    yield "integers", rng.poisson(3.0, 1200).astype(np.float64), \
        rng.poisson(3.0, 600).astype(np.float64)
    # tiny and huge magnitudes: the bin rule is comparisons only, the statistics ratios
    yield "tiny", rng.lognormal(0.0, 1.0, 1000) * 1e-300, rng.lognormal(0.0, 1.0, 500) * 1e-300
    yield "huge", rng.normal(0.0, 1.0, 1000) * 1e300, rng.normal(0.0, 1.0, 500) * 1e300
    # mixed signs with -0.0 (becomes +0.0 in the edges)
    mixed = rng.normal(0.0, 1.0, 999)
    mixed[::7] = -0.0
    yield "signed_zero", mixed, rng.normal(0.0, 1.0, 400)
    # fewer values than bins
    yield "small", np.array([3.0, 1.0, 2.0, 5.0, 4.0]), np.array([1.0, 5.0, 6.0])


def _lives(label: str, base: np.ndarray, ref: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """Live samples of one reference: the same distribution, shifted, widened, and one
    wholly outside the reference range."""
    q75, q25 = np.quantile(ref, [0.75, 0.25])
    spread = float(q75 - q25) or 1.0  # the IQR: np.std overflows on the huge sample
    yield "same", base
    yield "shift", base + 0.5 * spread
    yield "wide", base * 2.0
    yield "outside", np.full(7, float(np.max(ref)) + spread)


def _ln_table() -> np.ndarray:
    """Arguments for fc_drift_ln: powers of two and their neighbours, around 1, PSI's
    ratios, the extremes and random positive bit patterns."""
    xs: list[float] = [1.0, 2.0, 0.5, 10.0, 0.1, np.e, 1.5, 0.75, np.sqrt(2.0),
                       np.sqrt(2.0) / 2.0, np.nextafter(np.sqrt(2.0), 0.0),
                       DBL_MAX, DBL_MIN, DBL_TRUE_MIN, 1e-300, 1e300, 1e-4, 1e4]
    for k in (-1074, -1022, -600, -64, -3, -1, 1, 3, 64, 600, 1023):
        p = float(np.ldexp(1.0, k))
        xs += [v for v in (p, float(np.nextafter(p, 0.0)), float(np.nextafter(p, INF)))
               if v > 0.0]
    xs += [1.0 + i * 2.0**-52 for i in range(1, 6)] + [1.0 - i * 2.0**-53 for i in range(1, 6)]
    xs += [1.0 + 2.0**-i for i in range(1, 40, 3)] + [1.0 - 2.0**-i for i in range(2, 40, 3)]
    xs += [q / p for q in (1e-4, 0.01, 0.1, 0.25, 0.5) for p in (1e-4, 0.05, 0.1, 0.3)]
    rng = np.random.default_rng(7)
    bits = rng.integers(1, 0x7FF0000000000000, 200, dtype=np.int64)
    xs += bits.view(np.float64).tolist()
    xs += rng.uniform(0.5, 2.0, 100).tolist()
    return np.array(xs, np.float64)


def cases() -> Iterator[DriftCase]:
    """Every vector, in file order."""
    table = _ln_table()
    yield DriftCase("ln_table", "ln", values=_t(table))
    for name, x in (("ln_nan", NAN), ("ln_inf", INF), ("ln_neg_inf", -INF), ("ln_negative", -1.0),
                    ("ln_zero", 0.0), ("ln_neg_zero", -0.0), ("ln_neg_tiny", -DBL_TRUE_MIN)):
        yield DriftCase(name, "ln", values=(2.0, x, 3.0))
    yield DriftCase("ln_empty", "ln", values=())

    for label, ref, base in _samples():
        for n_bins in (fc.DRIFT_DEFAULT_BINS, 4, 37):
            edges = fc.quantile_edges(ref, n_bins)
            yield DriftCase(f"{label}_edges_{n_bins}", "edges", values=_t(ref), n_bins=n_bins)
            if n_bins != fc.DRIFT_DEFAULT_BINS:
                continue
            ref_counts = fc.histogram(ref, edges)
            yield DriftCase(f"{label}_ref_hist", "histogram", values=_t(ref), edges=_t(edges))
            for live_label, live in _lives(label, base, ref):
                live_counts = fc.histogram(live, edges)
                stem = f"{label}_{live_label}"
                yield DriftCase(f"{stem}_hist", "histogram", values=_t(live), edges=_t(edges))
                yield DriftCase(f"{stem}_psi", "psi", ref=_t(ref_counts), live=_t(live_counts))
                yield DriftCase(f"{stem}_psi_eps6", "psi", ref=_t(ref_counts),
                                live=_t(live_counts), epsilon=1e-6)
                yield DriftCase(f"{stem}_ks", "ks", ref=_t(ref_counts), live=_t(live_counts))
    yield from _edge_cases()


def _edge_cases() -> Iterator[DriftCase]:
    """Bad inputs (one per status and array) and small exact cases."""
    s = (5.0, 1.0, 4.0, 2.0, 3.0)
    yield DriftCase("edges_one_bin", "edges", values=s, n_bins=1)
    yield DriftCase("edges_max_bins", "edges", values=s, n_bins=fc.DRIFT_MAX_BINS)
    yield DriftCase("edges_two_values", "edges", values=(1.0, 1.0, 1.0, 2.0), n_bins=10)
    yield DriftCase("edges_empty", "edges", values=(), n_bins=10)
    yield DriftCase("edges_constant", "edges", values=(2.5,) * 9, n_bins=10)
    yield DriftCase("edges_single", "edges", values=(2.5,), n_bins=10)
    yield DriftCase("edges_nan", "edges", values=(1.0, 2.0, NAN, 3.0), n_bins=2)
    yield DriftCase("edges_inf", "edges", values=(1.0, -INF, 3.0), n_bins=2)
    yield DriftCase("edges_zero_bins", "edges", values=s, n_bins=0)
    yield DriftCase("edges_too_many_bins", "edges", values=s, n_bins=fc.DRIFT_MAX_BINS + 1)

    e = (0.0, 1.0, 2.0, 3.0)
    v = (-5.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 1e300, -DBL_MAX, DBL_MAX, -0.0)
    yield DriftCase("hist_rule", "histogram", values=v, edges=e)
    yield DriftCase("hist_one_bin", "histogram", values=v, edges=(0.0, 1.0))
    yield DriftCase("hist_unsorted", "histogram", values=v, edges=(0.0, 2.0, 1.0, 3.0))
    yield DriftCase("hist_repeated_edge", "histogram", values=v, edges=(0.0, 1.0, 1.0, 3.0))
    yield DriftCase("hist_one_edge", "histogram", values=v, edges=(0.0,))
    yield DriftCase("hist_no_edges", "histogram", values=v, edges=())
    yield DriftCase("hist_edge_nan", "histogram", values=v, edges=(0.0, NAN, 3.0))
    yield DriftCase("hist_edge_inf", "histogram", values=v, edges=(0.0, 1.0, INF))
    yield DriftCase("hist_value_nan", "histogram", values=(1.0, 2.0, NAN), edges=e)
    yield DriftCase("hist_value_inf", "histogram", values=(-INF,), edges=e)
    yield DriftCase("hist_empty", "histogram", values=(), edges=e)
    yield DriftCase("hist_too_many_edges", "histogram", values=v,
                    edges=_t(np.arange(fc.DRIFT_MAX_BINS + 2, dtype=np.float64)))

    ref = (25.0, 25.0, 25.0, 25.0)
    live = (10.0, 20.0, 30.0, 40.0)
    for call in ("psi", "ks"):
        yield DriftCase(f"{call}_exact", call, ref=ref, live=live)
        yield DriftCase(f"{call}_identical", call, ref=ref, live=ref)
        yield DriftCase(f"{call}_empty_live_bin", call, ref=ref, live=(50.0, 50.0, 0.0, 0.0))
        yield DriftCase(f"{call}_weights", call, ref=(0.5, 1.25, 3.0), live=(2.0, 0.125, 1e-3))
        yield DriftCase(f"{call}_one_bin", call, ref=(5.0,), live=(9.0,))
        yield DriftCase(f"{call}_no_bins", call, ref=(), live=())
        yield DriftCase(f"{call}_ref_zero", call, ref=(0.0, 0.0), live=(1.0, 1.0))
        yield DriftCase(f"{call}_live_zero", call, ref=(1.0, 1.0), live=(0.0, 0.0))
        yield DriftCase(f"{call}_ref_negative", call, ref=(1.0, -1.0, 1.0), live=(1.0, 1.0, 1.0))
        yield DriftCase(f"{call}_live_nan", call, ref=(1.0, 1.0, 1.0), live=(1.0, 1.0, NAN))
        yield DriftCase(f"{call}_live_inf", call, ref=(1.0, 1.0), live=(INF, 1.0))
        yield DriftCase(f"{call}_overflow", call, ref=(DBL_MAX, DBL_MAX), live=(1.0, 1.0))
        yield DriftCase(f"{call}_too_many_bins", call, ref=(1.0,) * (fc.DRIFT_MAX_BINS + 1),
                        live=(1.0,) * (fc.DRIFT_MAX_BINS + 1))
    yield DriftCase("psi_eps_min", "psi", ref=ref, live=(0.0, 0.0, 0.0, 7.0),
                    epsilon=fc.DRIFT_MIN_EPSILON)
    yield DriftCase("psi_eps_half", "psi", ref=ref, live=live, epsilon=0.5)
    for label, eps in (("zero", 0.0), ("one", 1.0), ("negative", -1e-4), ("nan", NAN),
                       ("subnormal", DBL_TRUE_MIN), ("below_min", 0.99e-300)):
        yield DriftCase(f"psi_eps_{label}", "psi", ref=ref, live=live, epsilon=eps)


# ---- running and rendering -------------------------------------------------------------


def run(case: DriftCase) -> list[str]:
    """Runs one case through the core (cffi) and returns the expected-result lines."""
    try:
        out = _call(case)
    except fc.FeatureCoreError as exc:
        index = -1 if exc.index is None else exc.index
        channel = -1 if exc.channel is None else ARRAY_IDS[exc.channel]
        return [f"status {exc.status}", f"error {index} {channel} -1"]
    return ["status FC_OK", f"out {hex64(out)}".rstrip()]


def _call(case: DriftCase) -> np.ndarray:
    if case.call == "ln":
        return fc.drift_ln(np.array(case.values, np.float64))
    if case.call == "edges":
        return fc.quantile_edges(np.array(case.values, np.float64), case.n_bins)
    if case.call == "histogram":
        return fc.histogram(np.array(case.values, np.float64), np.array(case.edges, np.float64))
    if case.call == "psi":
        return np.array([fc.psi(case.ref, case.live, case.epsilon)])
    return np.array([fc.ks(case.ref, case.live)])


def _inputs(case: DriftCase) -> list[str]:
    """The input lines of a vector (only the keys its call takes)."""
    if case.call in ("ln", "histogram", "edges"):
        lines = [f"values {hex64(case.values)}".rstrip()]
        if case.call == "edges":
            lines.append(f"n_bins {case.n_bins}")
        if case.call == "histogram":
            lines.append(f"edges {hex64(case.edges)}".rstrip())
        return lines
    lines = [f"ref {hex64(case.ref)}".rstrip(), f"live {hex64(case.live)}".rstrip()]
    if case.call == "psi":
        lines.append(f"epsilon {hex64((case.epsilon,))}")
    return lines


def render() -> str:
    versions = [f"fc_version {fc.VERSION}", f"drift_version {fc.DRIFT_VERSION}"]
    blocks = ((c.name, [f"call {c.call}", *_inputs(c), *run(c)]) for c in cases())
    return vectors.render(MODULE, versions, blocks, "drift")


def main(argv: list[str] | None = None) -> int:
    return vectors.main(argv, MODULE, DEFAULT_PATH, render)


if __name__ == "__main__":
    sys.exit(main())
