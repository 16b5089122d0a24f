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
