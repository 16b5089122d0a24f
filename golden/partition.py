"""Generator of the task-partitioning golden vectors (``golden/partition_v1.txt``).

Inputs are fixed seeded stream forecasts (ordinary links, dead links, ties, tiny and huge
rates, many streams), sizes from 1 byte to 2^53, minimum-bandwidth gates, FEC overheads and
hand-made bad inputs; outputs are what fc_partition_chunks returns through cffi. C
(``fc_golden_partition check``), Python (tests/test_partition_core.py) and Go
(sidecar/featurecore partition golden test) read the file back and require every bit. The
format is docs/golden-format.md ("Partition vectors").

Regenerate only with ``python -m dwcp_ml.golden.partition`` (``--check`` compares instead).
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

MODULE = "dwcp_ml.golden.partition"
DEFAULT_PATH = Path(__file__).resolve().parent / "partition_v1.txt"
# fc_error.channel of each argument (FC_PARTITION_ARG_*), the inverse of the binding's names.
ARG_IDS = {"forecast_mbps": 0, "min_bandwidth_mbps": 1, "size_bytes": 2, "requires_fec": 3,
           "params": 4, "chunks": 5, "used": 6, "expected_seconds": 7}

NAN = float("nan")
INF = float("inf")
DBL_MAX = float(np.finfo(np.float64).max)
DBL_TRUE_MIN = 5e-324


@dataclass(frozen=True)
class PartitionCase:
    """One fc_partition_chunks call."""

    name: str
    forecast: tuple[float, ...]
    size: int
    min_bandwidth: float = 0.0
    requires_fec: bool = False
    fec_overhead: float = fc.PARTITION_DEFAULT_FEC_OVERHEAD
    max_streams: int = fc.PARTITION_MAX_STREAMS


def _t(values: np.ndarray | list[float]) -> tuple[float, ...]:
    return tuple(float(v) for v in np.ravel(np.asarray(values, dtype=np.float64)))


def _random_cases() -> Iterator[PartitionCase]:
    """Seeded forecasts of every kind the rule meets (numpy's Generator streams are stable)."""
    rng = np.random.default_rng(20261204)
    sizes = (1, 2, 7, 1000, 65536, 10**6 + 3, 3 * 2**30 + 1, 10**12 + 7, fc.PARTITION_MAX_BYTES)
    kinds = {
        "links": lambda n: rng.uniform(1.0, 1000.0, n),
        "lognormal": lambda n: rng.lognormal(np.log(100.0), 1.0, n),
        "dead": lambda n: np.where(rng.random(n) < 0.4, 0.0, rng.uniform(0.1, 500.0, n)),
        "ties": lambda n: rng.integers(1, 4, n).astype(np.float64) * 10.0,
        "tiny": lambda n: rng.uniform(1e-9, 1e-6, n),
        "huge": lambda n: rng.uniform(1e290, 1e300, n),
    }
    for kind, draw in kinds.items():
        for n in (1, 2, 3, 8, 33):
            bw = draw(n)
            if kind == "dead" and not np.any(bw > 0):
                bw[0] = 1.0
            for size in sizes[(n % 3)::3]:
                yield PartitionCase(f"{kind}_{n}_{size}", _t(bw), int(size))
            # a gate at the median forecast drops about half the streams
            yield PartitionCase(f"{kind}_{n}_gated", _t(bw), 10**9 + 9,
                                min_bandwidth=float(np.median(bw)))
    many = rng.uniform(0.5, 2000.0, fc.PARTITION_MAX_STREAMS)
    yield PartitionCase("many_streams", _t(many), 10**11 + 1)
    yield PartitionCase("many_streams_small", _t(many), 999)


def _edge_cases() -> Iterator[PartitionCase]:
    """Hand cases of the rule, then one per status and argument."""
    bw3 = (10.0, 20.0, 30.0)
    yield PartitionCase("exact_thirds", bw3, 600)
    yield PartitionCase("remainder_to_largest_fraction", bw3, 7)
    yield PartitionCase("ties_to_lower_index", (1.0, 1.0, 1.0), 100)
    yield PartitionCase("fewer_bytes_than_streams", (1.0, 1.0, 1.0), 2)
    yield PartitionCase("one_byte", (5.0, 7.0, 5.0, 7.0), 1)
    yield PartitionCase("gate_excludes", (5.0, 50.0, 0.0, 100.0), 1000, min_bandwidth=10.0)
    yield PartitionCase("gate_inclusive", (5.0, 50.0, 0.0, 100.0), 1000, min_bandwidth=50.0)
    yield PartitionCase("zero_never_usable", (5.0, 50.0, 0.0, 100.0), 1000)
    yield PartitionCase("one_stream_max_size", (20.0,), fc.PARTITION_MAX_BYTES)
    yield PartitionCase("fec_quarter", bw3, 600, requires_fec=True, fec_overhead=0.25)
    yield PartitionCase("fec_not_required", bw3, 600, requires_fec=False, fec_overhead=0.25)
    yield PartitionCase("fec_max", bw3, 600, requires_fec=True,
                        fec_overhead=fc.PARTITION_MAX_FEC_OVERHEAD)
    yield PartitionCase("subnormal_forecast", (DBL_TRUE_MIN, 1.0), 10**6)
    yield PartitionCase("max_streams_exact", bw3, 600, max_streams=3)

    yield PartitionCase("no_streams", (), 100)
    yield PartitionCase("too_many_streams", bw3, 600, max_streams=2)
    yield PartitionCase("max_streams_zero", bw3, 600, max_streams=0)
    yield PartitionCase("fec_nan", bw3, 600, fec_overhead=NAN)
    yield PartitionCase("fec_negative", bw3, 600, fec_overhead=-0.5)
    yield PartitionCase("fec_too_large", bw3, 600, fec_overhead=8.5)
    yield PartitionCase("min_nan", bw3, 600, min_bandwidth=NAN)
    yield PartitionCase("min_inf", bw3, 600, min_bandwidth=INF)
    yield PartitionCase("min_negative", bw3, 600, min_bandwidth=-1.0)
    yield PartitionCase("size_zero", bw3, 0)
    yield PartitionCase("size_above_2_53", bw3, fc.PARTITION_MAX_BYTES + 1)
    yield PartitionCase("size_uint64_max", bw3, 2**64 - 1)
    yield PartitionCase("forecast_nan", (10.0, NAN, 30.0), 600)
    yield PartitionCase("forecast_inf", (10.0, 20.0, INF), 600)
    yield PartitionCase("forecast_neg_inf", (-INF, 20.0), 600)
    yield PartitionCase("forecast_negative", (10.0, -0.5), 600)
    yield PartitionCase("all_dead", (0.0, 0.0, 0.0), 600)
    yield PartitionCase("all_below_gate", bw3, 600, min_bandwidth=30.5)
    yield PartitionCase("sum_overflow", (DBL_MAX, DBL_MAX), 600)
    yield PartitionCase("time_overflow", (DBL_TRUE_MIN,), fc.PARTITION_MAX_BYTES)


def cases() -> Iterator[PartitionCase]:
    """Every vector, in file order."""
    yield from _random_cases()
    yield from _edge_cases()


# ---- running and rendering -------------------------------------------------------------


def run(case: PartitionCase) -> list[str]:
    """Runs one case through the core (cffi) and returns the expected-result lines."""
    try:
        r = fc.partition_chunks(case.forecast, case.size, min_bandwidth_mbps=case.min_bandwidth,
                                requires_fec=case.requires_fec,
                                params=fc.PartitionParams(case.fec_overhead, case.max_streams))
    except fc.FeatureCoreError as exc:
        index = -1 if exc.index is None else exc.index
        channel = -1 if exc.channel is None else ARG_IDS[exc.channel]
        return [f"status {exc.status}", f"error {index} {channel} -1"]
    return ["status FC_OK", "chunks " + " ".join(str(int(c)) for c in r.chunks),
            "used " + " ".join("1" if u else "0" for u in r.used),
            f"expected {hex64((r.expected_seconds,))}"]


def _inputs(case: PartitionCase) -> list[str]:
    return [f"forecast {hex64(case.forecast)}".rstrip(),
            f"min_bandwidth {hex64((case.min_bandwidth,))}", f"size {case.size}",
            f"requires_fec {1 if case.requires_fec else 0}",
            f"fec_overhead {hex64((case.fec_overhead,))}", f"max_streams {case.max_streams}"]


def render() -> str:
    versions = [f"fc_version {fc.VERSION}", f"partition_version {fc.PARTITION_VERSION}"]
    blocks = ((c.name, [*_inputs(c), *run(c)]) for c in cases())
    return vectors.render(MODULE, versions, blocks, "partition")


def main(argv: list[str] | None = None) -> int:
    return vectors.main(argv, MODULE, DEFAULT_PATH, render)


if __name__ == "__main__":
    sys.exit(main())
