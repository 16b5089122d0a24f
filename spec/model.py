"""What every family's exporter hands to the bundle writer, and the export rules they share.

Rules (docs/models.md): float32 tensors, no ZipMap, the fixed opsets below, a dynamic
batch axis, one input named ``input`` and one output named ``output`` (the names DWCP's Go
loaders already use), and verification against the native model before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dwcp_ml import feature_core as fc

OPSET = 18  # ai.onnx
ML_OPSET = 3  # ai.onnx.ml (TreeEnsembleRegressor)
INPUT = "input"
OUTPUT = "output"
DRIFT_MAX_ROWS = 20_000  # drift reference sample size cap (rows of the model input)


def evenly_spaced(n: int, cap: int = DRIFT_MAX_ROWS) -> np.ndarray:
    """Row indices of at most ``cap`` of ``n`` rows: all of them, else floor(k * n / cap)."""
    return (np.arange(n, dtype=np.int64) if n <= cap
            else (np.arange(cap, dtype=np.int64) * n) // cap)


@dataclass(frozen=True)
class TensorSpec:
    """A tensor's name and shape; None is the dynamic batch axis."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"


@dataclass(frozen=True)
class Verification:
    """Native model vs ONNX Runtime on held-out rows."""

    rows: int
    max_abs_error: float
    max_rel_error: float
    atol: float
    rtol: float


@dataclass(frozen=True)
class DriftSample:
    """The rows a drift reference is computed from (docs/drift-report.md): model input
    tensors of the model's own training data in a fixed order, and what they are."""

    rows: np.ndarray  # float32, the model's input shape; the bundle writer subsamples
    selection: str  # what data, e.g. "training traces of the default source: ..."


@dataclass
class ExportedModel:
    """One verified ONNX model and everything the bundle manifest records about it."""

    name: str  # unique in a bundle, e.g. "pba", "anomaly", "scaling"
    family: str  # a family of the registry (dwcp_ml.families.FAMILIES)
    version: str
    onnx_bytes: bytes
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    # Window models: schema, window lengths, normalisation; placement models: the history.
    feature_params: fc.Params | fc.PlacementParams
    verification: Verification
    # Raw inputs behind the golden predictions, turned into features by the core and run
    # through ONNX Runtime by the bundle writer. Window models: timestamps (n, input_len)
    # int64 and values (n, input_len, channels) float64 (held-out windows plus edge cases);
    # placement models: requests as DWCP sends them (training/itp/request.py).
    golden_ts: np.ndarray | None
    golden_values: np.ndarray | None
    training_data_digest: str
    thresholds: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # e.g. what the output columns mean
    golden_requests: list[dict[str, object]] | None = None
    # Optional: the bundle writer attaches drift/<name>.json computed from these rows.
    drift_sample: DriftSample | None = None
    # What the model was trained on when the manifest must say it (spec/bundle/
    # manifest.schema.json ``training_data``), e.g. {"kind": "synthetic", "generator":
    # "link_traces v1", "seed": 20261204, "links": 24}; stamped as dwcp.training_data.
    training_data: dict[str, object] | None = None


PLACEMENT_SCHEMA = "placement"


def schema_label(params: fc.Params | fc.PlacementParams) -> str:
    """The manifest's schema name: a window schema, or "placement"."""
    return PLACEMENT_SCHEMA if isinstance(params, fc.PlacementParams) else params.schema.label


def schema_hash(params: fc.Params | fc.PlacementParams) -> str:
    """The manifest's schema hash (16 hex digits) of the features the model takes."""
    h = fc.PLACEMENT_HASH if isinstance(params, fc.PlacementParams) else params.schema.hash
    return f"{h:016x}"


def model_input(windows: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Feature windows (n, seq_len, features) as the model's input tensor: sequence models
    take them as they are, tabular models one flat row per window."""
    if len(spec.shape) == 3:
        return np.ascontiguousarray(windows, dtype=np.float32)
    return np.ascontiguousarray(windows.reshape(len(windows), -1), dtype=np.float32)
