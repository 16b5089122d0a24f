"""The bundle: a directory with one .onnx per model, golden predictions and manifest.json.

Loading verifies every file's sha256, the feature schema hash and the feature core version
against the running library, and refuses a mismatch with an error naming what differs. The
golden predictions hold raw samples, the feature tensor the core makes of them and the
ONNX Runtime output (CPU, 1 thread), all as raw float bits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dwcp_ml import __version__
from dwcp_ml import feature_core as fc

from . import metadata, runtime
from .model import (INPUT, ML_OPSET, OPSET, PLACEMENT_SCHEMA, ExportedModel, TensorSpec,
                    model_input, schema_hash, schema_label)

FORMAT = "dwcp-ml-bundle/1"
GOLDEN_FORMAT = "dwcp-ml-golden-predictions/1"
MANIFEST = "manifest.json"


class BundleError(Exception):
    """A bundle cannot be used; the message says which file or field and why."""


class CorruptBundleError(BundleError):
    """A file is missing, unreadable or does not match its recorded sha256."""


class MismatchError(BundleError):
    """The bundle was made for another feature schema, feature core or ONNX Runtime."""


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


@dataclass(frozen=True)
class Bundle:
    path: Path
    version: str
    manifest: dict[str, object]
    models: dict[str, BundleModel]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hex32(arr: np.ndarray) -> str:
    return np.ascontiguousarray(arr, np.float32).view(np.uint32).astype(">u4").tobytes().hex()


def _hex64(arr: np.ndarray) -> str:
    return np.ascontiguousarray(arr, np.float64).astype(">f8").tobytes().hex()


def _from_hex32(text: str, shape: list[int]) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(text), ">u4").astype(np.uint32).view(np.float32).reshape(shape)


def _from_hex64(text: str, shape: list[int]) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(text), ">f8").astype(np.float64).reshape(shape)


def _spec(spec: TensorSpec) -> dict[str, object]:
    return {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype}


def _params_from(d: dict[str, object]) -> fc.Params | fc.PlacementParams:
    if d["schema"] == PLACEMENT_SCHEMA:
        return fc.PlacementParams(history=int(d["history"]), step_seconds=int(d["step_seconds"]))
    return fc.Params(
        schema=fc.Schema.parse(str(d["schema"])), seq_len=int(d["seq_len"]),
        stat_window=int(d["stat_window"]), step_seconds=int(d["step_seconds"]),
        fill_limit=int(d["fill_limit"]), center=tuple(float(v) for v in d["center"]),
        scale=tuple(float(v) for v in d["scale"]),
    )


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


def write(directory: Path, models: list[ExportedModel], version: str) -> Bundle:
    """Writes a new bundle (the directory must not exist or be empty) and loads it back."""
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


def _read_checked(directory: Path, name: str, sha256: object) -> bytes:
    path = directory / name
    if not path.is_file():
        raise CorruptBundleError(f"{path}: missing (listed in {MANIFEST})")
    data = path.read_bytes()
    if _sha256(data) != sha256:
        raise CorruptBundleError(
            f"{path}: sha256 {_sha256(data)} does not match the manifest's {sha256}: the file "
            "was changed or truncated after the bundle was written")
    return data


def load(directory: Path, *, require_ort: bool = True) -> Bundle:
    """Reads and checks a bundle; raises a BundleError subclass naming what differs."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise CorruptBundleError(f"{path}: missing; is {directory} a dwcp-ml bundle?")
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptBundleError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CorruptBundleError(f"{path}: format is not {FORMAT}")
    if manifest.get("feature_core_version") != fc.VERSION:
        raise MismatchError(
            f"{path}: made with feature core {manifest.get('feature_core_version')}, this is "
            f"{fc.VERSION}: features would differ; retrain or use a matching dwcp-ml")
    if require_ort and manifest.get("onnxruntime_version") != runtime.VERSION:
        raise MismatchError(
            f"{path}: verified with ONNX Runtime {manifest.get('onnxruntime_version')}, this "
            f"is {runtime.VERSION}: golden predictions are only bit-exact on the same build")
    models: dict[str, BundleModel] = {}
    try:
        for entry in manifest["models"]:
            name = str(entry["name"])
            params = _params_from(entry["feature_params"])
            if entry["schema_hash"] != schema_hash(params):
                raise MismatchError(
                    f"{path}: model {name!r} was trained on feature schema hash "
                    f"{entry['schema_hash']}, the core's {schema_label(params)} schema is "
                    f"{schema_hash(params)}: the features changed; retrain")
            onnx_bytes = _read_checked(directory, str(entry["file"]), entry["sha256"])
            _read_checked(directory, str(entry["golden"]), entry["golden_sha256"])
            stamped = metadata.metadata(onnx_bytes)
            if stamped.get("schema_hash") != entry["schema_hash"]:
                raise MismatchError(f"{directory / entry['file']}: metadata schema hash "
                                    f"{stamped.get('schema_hash')} != manifest's")
            models[name] = BundleModel(
                name=name, family=str(entry["family"]), version=str(entry["version"]),
                path=directory / str(entry["file"]), params=params,
                inputs=[TensorSpec(s["name"], tuple(s["shape"]), s["dtype"]) for s in entry["inputs"]],
                outputs=[TensorSpec(s["name"], tuple(s["shape"]), s["dtype"]) for s in entry["outputs"]],
                thresholds={k: float(v) for k, v in entry["thresholds"].items()},
                golden_path=directory / str(entry["golden"]), entry=entry,
            )
    except (KeyError, TypeError, ValueError, fc.FeatureCoreError) as exc:
        if isinstance(exc, fc.UnknownSchemaError):
            raise MismatchError(f"{path}: {exc}") from None
        raise CorruptBundleError(f"{path}: malformed model entry ({exc!r})") from None
    return Bundle(directory, str(manifest.get("bundle_version")), manifest, models)


@dataclass(frozen=True)
class GoldenResult:
    model: str
    ok: bool
    detail: str


def _first_difference(label: str, expected: np.ndarray, got: np.ndarray) -> str | None:
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


def check_goldens(bundle: Bundle) -> list[GoldenResult]:
    """Recomputes features from the golden raw samples and predictions from them; both must
    equal the stored bits. Regenerates nothing."""
    results = []
    for model in bundle.models.values():
        golden = json.loads(model.golden_path.read_text())
        raw = golden["raw"]
        problem = None
        if isinstance(model.params, fc.PlacementParams):
            x, feasible = _placement_input(model.params, raw["requests"])
            for i, (r, f) in enumerate(zip(raw["requests"], feasible)):
                if r.get("feasible") != f:
                    problem = f"requests[{i}].feasible: golden {r.get('feasible')}, got {f}"
                    break
        else:
            ts = np.asarray(raw["ts"], np.int64)
            values = _from_hex64(raw["values"], raw["values_shape"])
            windows = np.concatenate([fc.windows(model.params, t, v) for t, v in zip(ts, values)])
            x = model_input(windows, model.inputs[0])
        x_gold = _from_hex32(golden["input"]["float32"], golden["input"]["shape"])
        problem = problem or _first_difference("features", x_gold, x)
        if problem is None:
            y = runtime.session(model.path.read_bytes()).run(None, {INPUT: x})[0]
            y_gold = _from_hex32(golden["output"]["float32"], golden["output"]["shape"])
            problem = _first_difference("output", y_gold, y.astype(np.float32))
        rows = len(x)
        results.append(GoldenResult(model.name, problem is None,
                                    problem or f"{rows} rows match bit for bit"))
    return results
