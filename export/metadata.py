"""metadata_props stamped into every ONNX file, and the export rules checked on it."""

from __future__ import annotations

import json

import onnx

from dwcp_ml import feature_core as fc
from dwcp_ml.spec import runtime
from dwcp_ml.spec.model import (INPUT, ML_OPSET, OPSET, OUTPUT, PLACEMENT_SCHEMA, ExportedModel,
                                schema_hash, schema_label)

PREFIX = "dwcp."


class ExportRuleError(Exception):
    """An ONNX graph breaks an export rule (names what and where)."""


def describe_training_data(entry: dict[str, object]) -> str | None:
    """One line for ``dwcp-ml verify``: "trained on synthetic data (link_traces v1, seed 7,
    24 links)"; None for an entry without training_data."""
    td = entry.get("training_data")
    if not isinstance(td, dict):
        return None
    if td.get("kind") == "synthetic":
        extra = "".join(f", {td[k]} {k}" for k in ("links", "days") if k in td)
        return f"trained on synthetic data ({td.get('generator')}, seed {td.get('seed')}{extra})"
    return f"trained on {td.get('kind')} data"


def feature_params_dict(params: fc.Params | fc.PlacementParams) -> dict[str, object]:
    if isinstance(params, fc.PlacementParams):
        return {"schema": PLACEMENT_SCHEMA, "history": params.history,
                "step_seconds": params.step_seconds}
    n = params.n_features
    return {
        "schema": params.schema.label,
        "seq_len": params.seq_len,
        "stat_window": params.stat_window,
        "step_seconds": params.step_seconds,
        "fill_limit": params.fill_limit,
        "center": list(params.center or (0.0,) * n),
        "scale": list(params.scale or (1.0,) * n),
    }


def stamp(model: ExportedModel) -> bytes:
    """The ONNX bytes with the dwcp.* metadata_props (replacing earlier ones). Per-node
    metadata (exporter debug info such as torch's stack traces with absolute paths) is
    dropped, so the same training gives the same bytes in any checkout."""
    proto = onnx.load_from_string(model.onnx_bytes)
    for node in proto.graph.node:
        del node.metadata_props[:]
    props = {
        "model": model.name,
        "family": model.family,
        "version": model.version,
        "schema": schema_label(model.feature_params),
        "schema_hash": schema_hash(model.feature_params),
        "feature_core_version": fc.VERSION,
        "feature_params": json.dumps(feature_params_dict(model.feature_params)),
        "training_data_digest": model.training_data_digest,
        "onnxruntime_version": runtime.VERSION,
    }
    if model.training_data is not None:
        props["training_data"] = json.dumps(model.training_data, sort_keys=True)
    kept = [p for p in proto.metadata_props if not p.key.startswith(PREFIX)]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = PREFIX + key, value
    return proto.SerializeToString()


def metadata(onnx_bytes: bytes) -> dict[str, str]:
    proto = onnx.load_from_string(onnx_bytes)
    return {p.key[len(PREFIX):]: p.value for p in proto.metadata_props
            if p.key.startswith(PREFIX)}


def check_rules(onnx_bytes: bytes, label: str) -> None:
    """float32 input/output named input/output with a dynamic batch axis, the fixed opsets,
    no ZipMap; raises ExportRuleError naming the first broken rule."""
    proto = onnx.load_from_string(onnx_bytes)
    onnx.checker.check_model(proto)
    graph = proto.graph
    for kind, values, name in (("input", graph.input, INPUT), ("output", graph.output, OUTPUT)):
        if [v.name for v in values] != [name]:
            raise ExportRuleError(f"{label}: {kind}s are {[v.name for v in values]}, "
                                  f"expected exactly [{name!r}]")
        tensor = values[0].type.tensor_type
        if tensor.elem_type != onnx.TensorProto.FLOAT:
            raise ExportRuleError(f"{label}: {kind} {name!r} is not float32")
        batch = tensor.shape.dim[0] if tensor.shape.dim else None
        if batch is None or batch.HasField("dim_value"):
            raise ExportRuleError(f"{label}: {kind} {name!r} has no dynamic batch axis")
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    if opsets.get("ai.onnx") != OPSET:
        raise ExportRuleError(f"{label}: ai.onnx opset {opsets.get('ai.onnx')}, expected {OPSET}")
    if "ai.onnx.ml" in opsets and opsets["ai.onnx.ml"] != ML_OPSET:
        raise ExportRuleError(
            f"{label}: ai.onnx.ml opset {opsets['ai.onnx.ml']}, expected {ML_OPSET}")
    zipmaps = [n.name or n.op_type for n in graph.node if n.op_type == "ZipMap"]
    if zipmaps:
        raise ExportRuleError(f"{label}: ZipMap nodes {zipmaps}: export plain tensors")
