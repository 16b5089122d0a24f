"""ONNX export of the link forecaster (family "link", docs/link-model.md).

Graph: ``input`` float32 [N, T, 12] (feature-core windows of the ``link`` schema, normalised
with the manifest's center/scale) -> Flatten -> six ``TreeEnsembleRegressor`` s (one per
output column; thresholds rounded down to float32 as ``trees.py`` does, so each split decides
like LightGBM) -> ``raw`` [N, 6] relative log targets, plus the bandwidth interval's
calibration offsets; ``base`` [N, 6] = log(1 + relu(the last step's target_mean or channel,
un-normalised)); ``u = raw + base``; lower = min(u0, u1),
upper = max(u2, u1) (no quantile crossing); ``output`` = min(relu(exp(u) - 1), cap), cap 1
for the loss ratio and float32 max elsewhere: [N, 6] in OUTPUT_COLUMNS order and units.

Verification: against ``LinkForecaster.predict`` on held-out windows within ``ATOL + RTOL *
|native|``: the trees sum leaf values in float32 in ONNX Runtime and in double natively (a
few ulps of ``u``), and the graph takes log/exp in float32; RTOL 1e-4 covers both with
margin. ATOL 1e-6 is in the outputs' own units, far below any loss ratio that matters (1e-4)
and any bandwidth, latency or jitter resolution.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from dwcp_ml.spec.model import INPUT, OUTPUT, ExportedModel, TensorSpec
from dwcp_ml.training.link import (LOSS_COLUMN, OUTPUT_COLUMNS, LinkForecaster, TrainedLink,
                                   base_columns)

from . import trees
from .metadata import check_rules
from .onnx_candidates import RAW, _merge, _to_onnx
from .verify import verify

NAME = "link"
FAMILY = "link"
VERSION = "1"
ATOL = 1e-6
RTOL = 1e-4


def to_onnx(model: LinkForecaster) -> bytes:
    """The forecaster as ONNX bytes (contract rules of spec/model.py), unverified."""
    params = model.params
    n_inputs = params.seq_len * params.n_features
    protos = [_to_onnx("lightgbm", m, n_inputs, f"link_c{i}") for i, m in enumerate(model.models)]
    offsets = np.concatenate([model.bandwidth.offsets, *(r.offsets for r in model.others)])
    inner = _merge(protos, offsets, "link")
    g = inner.graph
    for node in g.node:  # the trees read the flattened rows
        node.input[:] = ["rows" if n == INPUT else n for n in node.input]
    cols = base_columns(params)
    cap = np.full((1, len(OUTPUT_COLUMNS)), np.finfo(np.float32).max, np.float32)
    cap[0, LOSS_COLUMN] = 1.0
    consts = {
        "base_cols": np.asarray(cols, np.int64),
        "base_scale": np.asarray([params.scale[c % params.n_features] for c in cols],
                                 np.float32).reshape(1, -1),
        "base_center": np.asarray([params.center[c % params.n_features] for c in cols],
                                  np.float32).reshape(1, -1),
        "one": np.array(1.0, np.float32), "cap": cap,
        "c0": np.array([0], np.int64), "c1": np.array([1], np.int64),
        "c2": np.array([2], np.int64), "c_rest": np.array([3, 4, 5], np.int64),
    }
    g.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items())
    g.node.insert(0, helper.make_node("Flatten", [INPUT], ["rows"], axis=1))
    mk = helper.make_node
    g.node.extend([
        mk("Gather", ["rows", "base_cols"], ["b_norm"], axis=1),  # [N, 6]
        mk("Mul", ["b_norm", "base_scale"], ["b_scaled"]),
        mk("Add", ["b_scaled", "base_center"], ["b_units"]),
        mk("Relu", ["b_units"], ["b_pos"]),
        mk("Add", ["b_pos", "one"], ["b_1"]),
        mk("Log", ["b_1"], ["base"]),
        mk("Add", [RAW, "base"], ["u"]),
        mk("Gather", ["u", "c0"], ["u_lo"], axis=1),
        mk("Gather", ["u", "c1"], ["u_mid"], axis=1),
        mk("Gather", ["u", "c2"], ["u_hi"], axis=1),
        mk("Gather", ["u", "c_rest"], ["u_rest"], axis=1),
        mk("Min", ["u_lo", "u_mid"], ["lo"]),
        mk("Max", ["u_hi", "u_mid"], ["hi"]),
        mk("Concat", ["lo", "u_mid", "hi", "u_rest"], ["u6"], axis=1),
        mk("Exp", ["u6"], ["e6"]),
        mk("Sub", ["e6", "one"], ["m6"]),
        mk("Relu", ["m6"], ["r6"]),
        mk("Min", ["r6", "cap"], [OUTPUT]),
    ])
    del g.input[:]
    g.input.append(helper.make_tensor_value_info(INPUT, onnx.TensorProto.FLOAT,
                                                 [None, params.seq_len, params.n_features]))
    del g.output[:]
    g.output.append(helper.make_tensor_value_info(OUTPUT, onnx.TensorProto.FLOAT,
                                                  [None, len(OUTPUT_COLUMNS)]))
    trees.pin_opsets(inner)
    onnx.checker.check_model(inner)
    return inner.SerializeToString()


def export(trained: TrainedLink, version: str = VERSION) -> ExportedModel:
    """Exports, checks the rules and verifies against the native model on the held-out rows;
    raises ExportRuleError / ExportVerificationError instead of returning."""
    params = trained.params
    onnx_bytes = to_onnx(trained.model)
    check_rules(onnx_bytes, NAME)
    verification = verify(onnx_bytes, trained.model.predict, trained.holdout_x, atol=ATOL,
                          rtol=RTOL, label=NAME)
    lo, mid, hi = trained.config.quantiles
    return ExportedModel(
        name=NAME, family=FAMILY, version=version, onnx_bytes=onnx_bytes,
        inputs=[TensorSpec(INPUT, (None, params.seq_len, params.n_features))],
        outputs=[TensorSpec(OUTPUT, (None, len(OUTPUT_COLUMNS)))],
        feature_params=params, verification=verification,
        golden_ts=trained.golden_ts, golden_values=trained.golden_values,
        training_data_digest=trained.training_data_digest,
        thresholds={"quantile_lower": lo, "quantile_point": mid, "quantile_upper": hi,
                    "horizon_seconds": float(trained.config.horizon * params.step_seconds)},
        metrics=dict(trained.metrics),
        notes={**trained.notes, "columns": ",".join(OUTPUT_COLUMNS),
               "golden_windows": ", ".join(trained.golden_names)},
        drift_sample=trained.drift_sample,
        training_data=dict(trained.training_data),
    )
