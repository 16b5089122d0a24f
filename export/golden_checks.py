"""Golden prediction files: read and checked for shape (golden.read), then the input tensor
recomputed by the feature core (golden.features) and the output by ONNX Runtime
(golden.output), both compared bit for bit."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np

from dwcp_ml import feature_core as fc
from dwcp_ml.spec.model import PLACEMENT_SCHEMA, TensorSpec, model_input

GOLDEN_FORMAT = "dwcp-ml-golden-predictions/1"
MAX_DIM = 1 << 24


@dataclass(frozen=True)
class GoldenData:
    """A golden file's raw inputs and tensors, shapes checked against the manifest."""

    x: np.ndarray  # float32 input tensor
    y: np.ndarray  # float32 output tensor
    ts: np.ndarray | None = None  # window models: (n, input_len) int64
    values: np.ndarray | None = None  # (n, input_len, channels) float64
    queries: list[Any] | None = None  # placement models: training/itp/request.PlacementQuery
    feasible: list[list[int]] | None = None  # what the golden says each request keeps


def _get(d: object, key: str, kind: type, where: str) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise ValueError(f"{where}: {key!r} is missing")
    value = d[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{where}.{key}: not a {kind.__name__}")
    return value


def _shape(value: object, where: str, rank: int) -> list[int]:
    if (not isinstance(value, list) or len(value) != rank
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_DIM
                       for v in value)):
        raise ValueError(f"{where}: not a shape of {rank} positive dimensions")
    return value


def _hex(text: str, count: int, width: int, where: str) -> bytes:
    if len(text) != 2 * width * count:
        raise ValueError(f"{where}: {len(text)} hex digits, the shape needs {2 * width * count}")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{where}: not hexadecimal") from None


def from_hex32(text: str, shape: list[int], where: str) -> np.ndarray:
    data = _hex(text, prod(shape), 4, where)
    return np.frombuffer(data, ">u4").astype(np.uint32).view(np.float32).reshape(shape)


def _tensor(golden: dict[str, Any], key: str, spec: dict[str, Any]) -> np.ndarray:
    t = _get(golden, key, dict, "golden")
    if _get(t, "name", str, key) != spec["name"]:
        raise ValueError(f"{key}.name {t['name'][:64]!r}, the manifest says {spec['name']!r}")
    shape = _shape(t.get("shape"), f"{key}.shape", len(spec["shape"]))
    if shape[1:] != spec["shape"][1:]:
        raise ValueError(f"{key}.shape {shape}, the manifest says {spec['shape']}")
    return from_hex32(_get(t, "float32", str, key), shape, f"{key}.float32")


def _window_raw(raw: dict[str, Any], params: fc.Params) -> tuple[np.ndarray, np.ndarray]:
    ts = _get(raw, "ts", list, "raw")
    n = len(ts)
    if not n or not all(isinstance(row, list) and len(row) == len(ts[0]) and len(row) > 0
                        and all(isinstance(v, int) and not isinstance(v, bool)
                                and -(1 << 63) <= v < 1 << 63 for v in row) for row in ts):
        raise ValueError("raw.ts: not a non-empty list of equally long lists of int64")
    shape = _shape(raw.get("values_shape"), "raw.values_shape", 3)
    if shape[:2] != [n, len(ts[0])]:
        raise ValueError(f"raw.values_shape {shape} does not match raw.ts ({n}, {len(ts[0])})")
    values = _hex(_get(raw, "values", str, "raw"), prod(shape), 8, "raw.values")
    return (np.asarray(ts, np.int64),
            np.frombuffer(values, ">f8").astype(np.float64).reshape(shape))


def _placement_raw(raw: dict[str, Any], params: fc.PlacementParams
                   ) -> tuple[list[Any], list[list[int]]]:
    from dwcp_ml.training.itp.request import query_from_request

    if raw.get("kind") != PLACEMENT_SCHEMA:
        raise ValueError(f"raw.kind is not {PLACEMENT_SCHEMA!r}")
    requests = _get(raw, "requests", list, "raw")
    if not requests:
        raise ValueError("raw.requests: empty")
    queries, feasible = [], []
    for i, r in enumerate(requests):
        f = _get(r, "feasible", list, f"raw.requests[{i}]")
        try:
            queries.append(query_from_request(r, params.history))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError,
                OverflowError) as exc:
            raise ValueError(f"raw.requests[{i}]: malformed request ({exc!r:.200})") from None
        feasible.append(f)
    return queries, feasible


def parse_golden(golden: object, entry: dict[str, Any],
                 params: fc.Params | fc.PlacementParams) -> GoldenData:
    """The golden file of manifest ``entry``; raises ValueError saying what is malformed."""
    if not isinstance(golden, dict) or golden.get("format") != GOLDEN_FORMAT:
        raise ValueError(f"format is not {GOLDEN_FORMAT}")
    if golden.get("model") != entry["name"]:
        raise ValueError(f"model is not {entry['name']!r}")
    raw = _get(golden, "raw", dict, "golden")
    x = _tensor(golden, "input", entry["inputs"][0])
    y = _tensor(golden, "output", entry["outputs"][0])
    if len(x) != len(y):
        raise ValueError(f"input has {len(x)} rows, output {len(y)}")
    if isinstance(params, fc.PlacementParams):
        queries, feasible = _placement_raw(raw, params)
        return GoldenData(x, y, queries=queries, feasible=feasible)
    ts, values = _window_raw(raw, params)
    return GoldenData(x, y, ts=ts, values=values)


def recompute_input(params: fc.Params | fc.PlacementParams, golden: GoldenData,
                    spec: TensorSpec) -> tuple[np.ndarray | None, str | None]:
    """The input tensor the feature core makes of the golden raw inputs, or why it cannot."""
    try:
        if isinstance(params, fc.PlacementParams):
            for i, (q, f) in enumerate(zip(golden.queries or [], golden.feasible or [])):
                if q.hosts.tolist() != f:
                    return None, f"requests[{i}].feasible: golden {f}, got {q.hosts.tolist()}"
            rows = [fc.placement_factors(params, *q.args()) for q in golden.queries or []]
            return np.ascontiguousarray(np.concatenate(rows), np.float32), None
        windows = np.concatenate([fc.windows(params, t, v)
                                  for t, v in zip(golden.ts, golden.values)])
        return model_input(windows, spec), None
    except (fc.FeatureCoreError, ValueError) as exc:
        return None, f"the feature core cannot compute the input: {str(exc)[:200]}"


def first_difference(label: str, expected: np.ndarray, got: np.ndarray) -> str | None:
    if expected.shape != got.shape:
        return f"{label}: shape {got.shape}, golden {expected.shape}"
    e = expected.view(np.uint32).ravel()
    g = got.view(np.uint32).ravel()
    diff = np.flatnonzero(e != g)
    if not diff.size:
        return None
    k = int(diff[0])
    return (f"{label}[{k}]: golden 0x{int(e[k]):08x} ({float(expected.ravel()[k])!r}), "
            f"got 0x{int(g[k]):08x} ({float(got.ravel()[k])!r}); {diff.size} values differ")


# ---- drift references (docs/drift-report.md) ------------------------------------------
# A model's optional drift/<model>.json: per input feature and output column the quantile
# edges and counts of its training sample, and, for the golden input taken as a live
# window, the live counts, PSI and KS, all as raw float64 bits (drift.read, drift.golden).

DRIFT_FORMAT = "dwcp-ml-drift-reference/1"
INPUT_KIND, OUTPUT_KIND = "input", "output"


def drift_column_names(params: fc.Params | fc.PlacementParams, inputs: dict[str, Any] | TensorSpec,
                       outputs: dict[str, Any] | TensorSpec) -> list[tuple[str, int, str]]:
    """(kind, index, name) of every drift column of a model, in the file's order: the input
    features (a window model's feature schema, a placement model's factors), then one per
    output column ("output[j]")."""
    out_spec = outputs if isinstance(outputs, TensorSpec) else TensorSpec(
        outputs["name"], tuple(outputs["shape"]))
    names = (fc.PLACEMENT_FACTORS if isinstance(params, fc.PlacementParams)
             else params.schema.features)
    width = int(out_spec.shape[1]) if len(out_spec.shape) > 1 else 1
    return ([(INPUT_KIND, j, str(n)) for j, n in enumerate(names)]
            + [(OUTPUT_KIND, j, f"{out_spec.name}[{j}]") for j in range(width)])


def drift_inputs(params: fc.Params | fc.PlacementParams, x: np.ndarray) -> np.ndarray:
    """The input features drift watches, (rows, features) float64: a window model's newest
    step (x[:, -1, :] of (rows, seq_len, features), a flat row read step-major), a
    placement model's factor rows as they are. float32 -> float64 is exact."""
    if isinstance(params, fc.PlacementParams):
        return np.ascontiguousarray(x.reshape(len(x), -1), np.float64)
    steps = x.reshape(len(x), params.seq_len, params.n_features)
    return np.ascontiguousarray(steps[:, -1, :], np.float64)


def drift_matrix(params: fc.Params | fc.PlacementParams, x: np.ndarray, y: np.ndarray
                 ) -> np.ndarray:
    """Every drift column of input rows x and their outputs y, (rows, columns) float64."""
    return np.concatenate([drift_inputs(params, x),
                           np.asarray(y, np.float64).reshape(len(y), -1)], axis=1)


def hex64(values: np.ndarray | list[float] | float) -> str:
    return np.ascontiguousarray(np.atleast_1d(np.asarray(values, np.float64))).astype(
        ">f8").tobytes().hex()


def bits64(values: np.ndarray | list[float] | float) -> dict[str, Any]:
    """A float64 array as the drift file holds it: raw big-endian bits plus decimals."""
    arr = np.atleast_1d(np.asarray(values, np.float64))
    return {"float64": hex64(arr), "decimal": [float(v) for v in arr]}


@dataclass(frozen=True)
class DriftColumn:
    kind: str
    index: int
    name: str
    edges: np.ndarray | None  # None for a constant column
    counts: np.ndarray | None
    value: float | None  # the constant's value
    live_counts: np.ndarray | None  # the golden window's counts, PSI and KS
    psi: float | None
    ks: float | None


@dataclass(frozen=True)
class DriftData:
    """A drift reference, checked against its manifest entry and golden file."""

    doc: dict[str, Any]
    rows: int
    epsilon: float
    n_bins: int
    columns: list[DriftColumn]


def _f64(d: object, where: str, count: int | None = None) -> np.ndarray:
    """A bits64 object: its float64 bits, whose decimals must equal them."""
    text = _get(d, "float64", str, where)
    if len(text) % 16 or (count is not None and len(text) != 16 * count):
        raise ValueError(f"{where}.float64: {len(text)} hex digits"
                         + (f", want {16 * count}" if count is not None else ""))
    arr = np.frombuffer(_hex(text, len(text) // 16, 8, f"{where}.float64"), ">f8").astype(
        np.float64)
    dec = _get(d, "decimal", list, where)
    if (len(dec) != len(arr) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                        for v in dec)
            or not np.array_equal(np.asarray(dec, np.float64), arr)):
        raise ValueError(f"{where}.decimal does not equal its float64 bits")
    if not np.isfinite(arr).all():
        raise ValueError(f"{where}: a value is not finite")
    return arr


def _counts(d: object, where: str, n: int, total: int) -> np.ndarray:
    c = _f64(d, where, n)
    if (c < 0).any() or c.sum() != total:
        raise ValueError(f"{where}: counts must be >= 0 and sum to {total}, got {c.sum()!r}")
    return c


def _drift_column(c: object, want: tuple[str, int, str], rows: int, golden_rows: int,
                  n_bins: int, where: str) -> DriftColumn:
    kind, index, name = want
    if (_get(c, "kind", str, where), _get(c, "index", int, where),
            _get(c, "name", str, where)) != want:
        raise ValueError(f"{where}: column {c.get('kind')!r} {c.get('index')!r} "
                         f"{str(c.get('name'))[:64]!r}, want {kind} {index} {name!r}")
    if not isinstance(c.get("constant"), bool):
        raise ValueError(f"{where}.constant: not a boolean")
    if c["constant"]:
        value = _f64(_get(c, "value", dict, where), f"{where}.value", 1)
        return DriftColumn(kind, index, name, None, None, float(value[0]), None, None, None)
    edges = _f64(_get(c, "edges", dict, where), f"{where}.edges")
    if not 2 <= len(edges) <= n_bins + 1 or (np.diff(edges) <= 0).any():
        raise ValueError(f"{where}.edges: want 2..{n_bins + 1} strictly ascending edges")
    counts = _counts(_get(c, "counts", dict, where), f"{where}.counts", len(edges) - 1, rows)
    g = _get(c, "golden", dict, where)
    live = _counts(_get(g, "live_counts", dict, f"{where}.golden"), f"{where}.golden.live_counts",
                   len(counts), golden_rows)
    psi = _f64(_get(g, "psi", dict, f"{where}.golden"), f"{where}.golden.psi", 1)
    ks = _f64(_get(g, "ks", dict, f"{where}.golden"), f"{where}.golden.ks", 1)
    return DriftColumn(kind, index, name, edges, counts, None, live, float(psi[0]), float(ks[0]))


def parse_drift(doc: object, entry: dict[str, Any], params: fc.Params | fc.PlacementParams,
                golden: GoldenData) -> DriftData:
    """The drift reference of manifest ``entry`` (drift.read); raises ValueError saying
    what is malformed."""
    if not isinstance(doc, dict) or doc.get("format") != DRIFT_FORMAT:
        raise ValueError(f"format is not {DRIFT_FORMAT}")
    if doc.get("model") != entry["name"]:
        raise ValueError(f"model is not {entry['name']!r}")
    if _get(doc, "drift_version", int, "drift") != fc.DRIFT_VERSION:
        raise ValueError(f"drift_version {doc['drift_version']}, this feature core's is "
                         f"{fc.DRIFT_VERSION}: statistics would differ; re-attach the reference")
    bins = _get(doc, "bins", dict, "drift")
    n_bins = _get(bins, "n_bins", int, "bins")
    if not 1 <= n_bins <= fc.DRIFT_MAX_BINS:
        raise ValueError(f"bins.n_bins {n_bins} is not in 1..{fc.DRIFT_MAX_BINS}")
    epsilon = float(_f64(_get(bins, "epsilon", dict, "bins"), "bins.epsilon", 1)[0])
    if not fc.DRIFT_MIN_EPSILON <= epsilon < 1:
        raise ValueError(f"bins.epsilon {epsilon!r} is not in [{fc.DRIFT_MIN_EPSILON}, 1)")
    rows = _get(_get(doc, "sample", dict, "drift"), "rows", int, "sample")
    if rows < 1:
        raise ValueError("sample.rows: no reference rows")
    g = _get(doc, "golden", dict, "drift")
    if _get(g, "file", str, "golden") != entry["golden"] or _get(g, "rows", int, "golden") != len(golden.x):
        raise ValueError(f"golden: not {entry['golden']!r} with its {len(golden.x)} rows")
    want = drift_column_names(params, entry["inputs"][0], entry["outputs"][0])
    cols = _get(doc, "columns", list, "drift")
    if len(cols) != len(want):
        raise ValueError(f"columns: {len(cols)}, the model has {len(want)} (inputs, outputs)")
    columns = [_drift_column(c, w, rows, len(golden.x), n_bins, f"columns[{i}]")
               for i, (c, w) in enumerate(zip(cols, want))]
    return DriftData(doc, rows, epsilon, n_bins, columns)


@dataclass(frozen=True)
class ColumnStats:
    live_counts: np.ndarray
    psi: float
    ks: float


def column_stats(edges: np.ndarray, counts: np.ndarray, live: np.ndarray, epsilon: float
                 ) -> ColumnStats:
    """A live sample of one column against its reference, by the feature core."""
    live_counts = fc.histogram(live, edges)
    return ColumnStats(live_counts, fc.psi(counts, live_counts, epsilon), fc.ks(counts, live_counts))


def golden_drift_problem(params: fc.Params | fc.PlacementParams, golden: GoldenData,
                         drift: DriftData) -> str | None:
    """drift.golden: the golden tensors, binned and compared by the core, must give the
    stored live counts, PSI and KS bit for bit; the first difference, or None."""
    live = drift_matrix(params, golden.x, golden.y)
    for j, c in enumerate(drift.columns):
        if c.edges is None:
            continue
        try:
            got = column_stats(c.edges, c.counts, live[:, j], drift.epsilon)
        except fc.FeatureCoreError as exc:
            return f"columns[{j}] {c.name}: {str(exc)[:200]}"
        for label, want, have in (("live_counts", c.live_counts, got.live_counts),
                                  ("psi", c.psi, got.psi), ("ks", c.ks, got.ks)):
            if hex64(want) != hex64(have):
                return (f"columns[{j}] {c.name}: golden.{label} stored {hex64(want)}, the core "
                        f"computes {hex64(have)}")
    return None
