"""The bundle: a directory with one .onnx per model, golden predictions and manifest.json.

Loading runs the ordered checks of spec/bundle/checks.json (export/spec_checks.py): the file
is read safely, the manifest is strict JSON valid against spec/bundle/manifest.schema.json,
every file is a regular file inside the bundle with its sha256, the versions, opsets, schema
hashes, ONNX signatures and metadata agree, and the goldens are well formed; a refusal is a
BundleError naming its check. ``check_goldens`` then recomputes the golden features and ONNX
Runtime outputs (raw float bits) and compares them bit for bit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dwcp_ml import __version__
from dwcp_ml import feature_core as fc
from dwcp_ml.spec import runtime
from dwcp_ml.spec.model import (DRIFT_MAX_ROWS, INPUT, ML_OPSET, OPSET, PLACEMENT_SCHEMA,
                                DriftSample, ExportedModel, TensorSpec, evenly_spaced, model_input,
                                schema_hash, schema_label)

from . import metadata, spec_checks
from .golden_checks import (DRIFT_FORMAT, GOLDEN_FORMAT, DriftData, GoldenData, bits64,
                            column_stats, drift_column_names, drift_matrix, first_difference,
                            from_hex32, golden_drift_problem, recompute_input)
from .spec_checks import BundleError, CorruptBundleError, MismatchError

FORMAT = spec_checks.FORMAT
MANIFEST = spec_checks.MANIFEST
__all__ = ["FORMAT", "GOLDEN_FORMAT", "DRIFT_FORMAT", "DRIFT_MAX_ROWS", "drift_reference",
           "MANIFEST", "BundleError", "CorruptBundleError", "MismatchError", "Bundle",
           "BundleModel", "GoldenResult", "write", "load", "check_goldens", "check_drift_goldens",
           "first_refusal", "golden_predictions"]


@dataclass(frozen=True)
class BundleModel:
    name: str
    family: str
    version: str
    path: Path
    params: fc.Params | fc.PlacementParams
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    thresholds: dict[str, float]
    golden_path: Path
    entry: dict[str, object]
    # What the checks read and verified (never re-read from disk): the ONNX bytes, their
    # ONNX Runtime session, the parsed golden file.
    onnx_bytes: bytes = field(default=b"", repr=False, compare=False)
    session: Any = field(default=None, repr=False, compare=False)
    golden: GoldenData | None = field(default=None, repr=False, compare=False)
    drift: DriftData | None = field(default=None, repr=False, compare=False)  # if it has one


@dataclass(frozen=True)
class Bundle:
    path: Path
    version: str
    manifest: dict[str, object]
    models: dict[str, BundleModel]
    signed_by: str | None = None  # the trusted key id that signed it, if keys were given


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hex32(arr: np.ndarray) -> str:
    return np.ascontiguousarray(arr, np.float32).view(np.uint32).astype(">u4").tobytes().hex()


def _hex64(arr: np.ndarray) -> str:
    return np.ascontiguousarray(arr, np.float64).astype(">f8").tobytes().hex()


def _from_hex64(text: str, shape: list[int]) -> np.ndarray:  # tests/bench_latency.py
    return np.frombuffer(bytes.fromhex(text), ">f8").astype(np.float64).reshape(shape)


def _spec(spec: TensorSpec) -> dict[str, object]:
    return {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype}


def _placement_input(params: fc.PlacementParams, requests: list[dict[str, object]]
                     ) -> tuple[np.ndarray, list[list[int]]]:
    """Factor rows of placement requests (each request's feasible hosts, in order) and the
    feasible host indices of each request."""
    from dwcp_ml.training.itp.request import query_from_request

    queries = [query_from_request(r, params.history) for r in requests]
    rows = [fc.placement_factors(params, *q.args()) for q in queries]
    return (np.ascontiguousarray(np.concatenate(rows), np.float32),
            [q.hosts.tolist() for q in queries])


def golden_predictions(model: ExportedModel, onnx_bytes: bytes) -> dict[str, object]:
    """Raw inputs -> features (core) -> ONNX Runtime output, as raw bits."""
    params = model.feature_params
    if isinstance(params, fc.PlacementParams):
        x, feasible = _placement_input(params, model.golden_requests or [])
        requests = [{**r, "feasible": f} for r, f in zip(model.golden_requests or [], feasible)]
        raw: dict[str, object] = {"kind": PLACEMENT_SCHEMA, "requests": requests}
    else:
        windows = np.concatenate([fc.windows(params, ts, values)
                                  for ts, values in zip(model.golden_ts, model.golden_values)])
        x = model_input(windows, model.inputs[0])
        raw = {
            "ts": np.asarray(model.golden_ts, np.int64).tolist(),
            "values_shape": list(model.golden_values.shape),
            "values": _hex64(model.golden_values),
        }
    y = runtime.session(onnx_bytes).run(None, {INPUT: x})[0]
    return {
        "format": GOLDEN_FORMAT,
        "model": model.name,
        "raw": raw,
        "input": {"name": INPUT, "shape": list(x.shape), "float32": _hex32(x)},
        "output": {"name": model.outputs[0].name, "shape": list(y.shape), "float32": _hex32(y)},
    }


# ---- drift references ------------------------------------------------------------------

DRIFT_BATCH = 4096  # ONNX Runtime batch of the reference outputs (fixed: the same bits)
SAMPLE_RULE = (f"at most {DRIFT_MAX_ROWS} rows of the candidate rows in their stated order: "
               f"all of them when there are fewer, else row floor(k * n / {DRIFT_MAX_ROWS}) for "
               f"k = 0 .. {DRIFT_MAX_ROWS - 1} (evenly spaced, no random draw); rows with a "
               "non-finite drift column dropped and counted; outputs by ONNX Runtime (CPU, 1 "
               f"thread) in batches of {DRIFT_BATCH} rows")
BINS_RULE = ("quantile edges of the reference sample (fc_drift_quantile_edges: lower quantiles, "
             "ties collapsed), counts by fc_drift_histogram; a column with one distinct value "
             "is recorded as constant and excluded from PSI and KS")


def _outputs(session: Any, x: np.ndarray) -> np.ndarray:
    parts = [session.run(None, {INPUT: np.ascontiguousarray(x[i:i + DRIFT_BATCH])})[0]
             for i in range(0, len(x), DRIFT_BATCH)]
    return np.concatenate(parts).astype(np.float32)


def _reference_column(kind_index_name: tuple[str, int, str], ref: np.ndarray,
                      golden: np.ndarray) -> dict[str, object]:
    kind, index, name = kind_index_name
    col: dict[str, object] = {"kind": kind, "index": index, "name": name}
    try:
        edges = fc.quantile_edges(ref, fc.DRIFT_DEFAULT_BINS)
    except fc.ConstantError:
        return {**col, "constant": True, "value": bits64(ref[0])}
    counts = fc.histogram(ref, edges)
    live = column_stats(edges, counts, golden, fc.DRIFT_DEFAULT_EPSILON)
    return {**col, "constant": False, "edges": bits64(edges), "counts": bits64(counts),
            "golden": {"live_counts": bits64(live.live_counts), "psi": bits64(live.psi),
                       "ks": bits64(live.ks)}}


def drift_reference(name: str, params: fc.Params | fc.PlacementParams, inputs: TensorSpec,
                    outputs: TensorSpec, session: Any, sample: DriftSample,
                    training_data_digest: str, golden_file: str, golden_x: np.ndarray,
                    golden_y: np.ndarray) -> dict[str, object]:
    """The drift reference document of one model (format dwcp-ml-drift-reference/1)."""
    rows = np.ascontiguousarray(sample.rows, np.float32)
    if rows.ndim < 2 or tuple(rows.shape[1:]) != tuple(inputs.shape[1:]):
        raise BundleError(f"{name}: drift sample rows of shape {rows.shape}, the model takes "
                          f"{list(inputs.shape)}")
    x = rows[evenly_spaced(len(rows))]
    matrix = drift_matrix(params, x, _outputs(session, x))
    finite = np.isfinite(matrix).all(axis=1)
    matrix = matrix[finite]
    if not len(matrix):
        raise BundleError(f"{name}: the drift sample has no row with finite features")
    golden = drift_matrix(params, golden_x, golden_y)
    names = drift_column_names(params, inputs, outputs)
    return {
        "format": DRIFT_FORMAT,
        "model": name,
        "drift_version": fc.DRIFT_VERSION,
        "bins": {"rule": BINS_RULE, "n_bins": fc.DRIFT_DEFAULT_BINS,
                 "epsilon": bits64(fc.DRIFT_DEFAULT_EPSILON)},
        "sample": {"rows": int(len(matrix)), "candidate_rows": int(len(rows)),
                   "dropped_non_finite": int((~finite).sum()), "rule": SAMPLE_RULE,
                   "selection": sample.selection, "training_data_digest": training_data_digest},
        "golden": {"file": golden_file, "rows": int(len(golden_x)),
                   "what": "the golden input tensor (and its golden output) taken as a live "
                           "window: its live counts, PSI and KS per column"},
        "columns": [_reference_column(n, matrix[:, j], golden[:, j]) for j, n in enumerate(names)],
    }


def drift_bytes(doc: dict[str, object]) -> bytes:
    return (json.dumps(doc, indent=1) + "\n").encode()


def write(directory: Path, models: list[ExportedModel], version: str, *,
          drift_samples: Mapping[str, DriftSample] | None = None) -> Bundle:
    """Writes a new bundle (the directory must not exist or be empty) and loads it back.
    A model with a drift sample (``drift_samples[name]``, else ``model.drift_sample``) also
    gets drift/<name>.json, named in its manifest entry."""
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise BundleError(f"{directory} is not empty; choose a new bundle directory")
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise BundleError(f"model names repeat: {names}")
    (directory / "golden").mkdir(parents=True, exist_ok=True)
    entries = []
    for model in models:
        onnx_bytes = metadata.stamp(model)
        metadata.check_rules(onnx_bytes, model.name)
        golden = json.dumps(golden_predictions(model, onnx_bytes), indent=1).encode()
        (directory / f"{model.name}.onnx").write_bytes(onnx_bytes)
        (directory / "golden" / f"{model.name}.json").write_bytes(golden)
        entries.append({
            "name": model.name,
            "family": model.family,
            "version": model.version,
            "file": f"{model.name}.onnx",
            "sha256": _sha256(onnx_bytes),
            "schema": schema_label(model.feature_params),
            "schema_hash": schema_hash(model.feature_params),
            "feature_params": metadata.feature_params_dict(model.feature_params),
            "inputs": [_spec(s) for s in model.inputs],
            "outputs": [_spec(s) for s in model.outputs],
            "thresholds": model.thresholds,
            "metrics": model.metrics,
            "verification": vars(model.verification),
            "training_data_digest": model.training_data_digest,
            "notes": model.notes,
            "golden": f"golden/{model.name}.json",
            "golden_sha256": _sha256(golden),
        })
        if model.training_data is not None:
            entries[-1]["training_data"] = model.training_data
        sample = (drift_samples or {}).get(model.name) or model.drift_sample
        if sample is not None:
            entries[-1].update(_write_drift(directory, model, onnx_bytes, golden, sample))
    manifest = {
        "format": FORMAT,
        "bundle_version": version,
        "created_by": f"dwcp-ml {__version__}",
        "feature_core_version": fc.VERSION,
        "onnxruntime_version": runtime.VERSION,
        "opset": {"ai.onnx": OPSET, "ai.onnx.ml": ML_OPSET},
        "models": entries,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return load(directory)


def _write_drift(directory: Path, model: ExportedModel, onnx_bytes: bytes, golden: bytes,
                 sample: DriftSample) -> dict[str, str]:
    g = json.loads(golden)
    x = from_hex32(g["input"]["float32"], g["input"]["shape"], "input")
    y = from_hex32(g["output"]["float32"], g["output"]["shape"], "output")
    doc = drift_reference(model.name, model.feature_params, model.inputs[0], model.outputs[0],
                          runtime.session(onnx_bytes), sample, model.training_data_digest,
                          f"golden/{model.name}.json", x, y)
    data = drift_bytes(doc)
    (directory / "drift").mkdir(exist_ok=True)
    (directory / "drift" / f"{model.name}.json").write_bytes(data)
    return {"drift": f"drift/{model.name}.json", "drift_sha256": _sha256(data)}


def load(directory: Path, *, require_ort: bool = True,
         trusted_keys: object | None = None) -> Bundle:
    """Runs the checks manifest.read .. golden.read (signature only with ``trusted_keys``,
    onnxruntime.version only with ``require_ort``); raises a BundleError naming the first
    check that refuses."""
    directory = Path(directory)
    state = spec_checks.run(directory, require_ort=require_ort, trusted_keys=trusted_keys)
    models: dict[str, BundleModel] = {}
    for i, entry in enumerate(state.models):
        name = str(entry["name"])
        models[name] = BundleModel(
            name=name, family=str(entry["family"]), version=str(entry["version"]),
            path=directory / str(entry["file"]),
            params=spec_checks.params_from(entry["feature_params"]),
            inputs=[TensorSpec(t["name"], tuple(t["shape"]), t["dtype"]) for t in entry["inputs"]],
            outputs=[TensorSpec(t["name"], tuple(t["shape"]), t["dtype"])
                     for t in entry["outputs"]],
            thresholds={k: float(v) for k, v in entry["thresholds"].items()},
            golden_path=directory / str(entry["golden"]), entry=entry,
            onnx_bytes=state.files[entry["file"]], session=state.sessions[i],
            golden=state.goldens[i], drift=state.drifts.get(i),
        )
    return Bundle(directory, str(state.manifest["bundle_version"]), state.manifest, models,
                  state.signed_by)


@dataclass(frozen=True)
class GoldenResult:
    model: str
    ok: bool
    detail: str
    check: str | None = None  # golden.features or golden.output when not ok


def _output_problem(model: BundleModel, x: np.ndarray) -> str | None:
    assert model.golden is not None
    try:
        y = model.session.run(None, {model.inputs[0].name: x})[0]
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises several pybind types
        return f"ONNX Runtime cannot run the golden input ({str(exc).splitlines()[0][:200]})"
    return first_difference("output", model.golden.y, np.asarray(y).astype(np.float32))


def check_goldens(bundle: Bundle) -> list[GoldenResult]:
    """golden.features over every model, then golden.output over those whose features
    matched: the recomputed input and output must equal the stored bits. One result per
    model, in manifest order; regenerates nothing."""
    inputs: dict[str, np.ndarray] = {}
    problems: dict[str, tuple[str, str]] = {}
    for model in bundle.models.values():
        assert model.golden is not None, "check_goldens needs a Bundle from load()"
        x, problem = recompute_input(model.params, model.golden, model.inputs[0])
        problem = problem or first_difference("features", model.golden.x, x)
        if problem:
            problems[model.name] = ("golden.features", problem)
        else:
            inputs[model.name] = x
    for model in bundle.models.values():
        if model.name in inputs:
            problem = _output_problem(model, inputs[model.name])
            if problem:
                problems[model.name] = ("golden.output", problem)
    results = []
    for model in bundle.models.values():
        if model.name in problems:
            check, detail = problems[model.name]
            results.append(GoldenResult(model.name, False, detail, check))
        else:
            data = metadata.describe_training_data(model.entry)
            results.append(GoldenResult(model.name, True,
                                        f"{len(inputs[model.name])} rows match bit for bit"
                                        + (f"; {data}" if data else "")))
    return results


def first_refusal(bundle: Bundle, results: list[GoldenResult]) -> BundleError | None:
    """The refusal check_goldens' results amount to: the first model failing golden.features,
    else the first failing golden.output (the spec's order), naming its golden file."""
    for check in spec_checks.GOLDEN_CHECKS:
        for r in results:
            if r.check == check:
                golden = bundle.models[r.model].entry["golden"]
                return spec_checks.refuse(check, f"{golden}: {r.detail}")
    return None


def check_drift_goldens(bundle: Bundle) -> dict[str, str | None]:
    """The drift golden proof of every model with a drift reference: the feature core bins
    the golden tensors into the reference edges and recomputes PSI and KS; the first
    difference from the stored bits per model, None where every bit matches. (Not a spec
    check: Go proves the same bits in a test, sidecar/bundle linking no C.)"""
    return {m.name: golden_drift_problem(m.params, m.golden, m.drift)
            for m in bundle.models.values() if m.drift is not None and m.golden is not None}
