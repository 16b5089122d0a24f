"""ONNX export of the scaling (capacity) forecaster: LightGBM -> one TreeEnsembleRegressor.

Tolerance. LightGBM adds its trees' leaf values in double; ONNX Runtime's TreeEnsemble
adds them in float32 and returns float32. Splits decide identically (thresholds are rounded
down to float32, see _round_thresholds_down; inputs are float32 already), so the only
difference is rounding: a few float32 ULPs of the running sum, relative ~1e-6. We allow
|onnx - native| <= ATOL + RTOL * |native| with RTOL = 1e-5 and ATOL = 1e-2 MHz (the output is
in MHz and capacity is granted in 100 MHz units, so 0.01 MHz is far below anything that can
matter; the atol covers outputs near 0 where a relative bound means nothing). The measured
error is recorded in the bundle's verification entry.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnxmltools import convert_lightgbm
from onnxmltools.convert.common.data_types import FloatTensorType

from dwcp_ml.training.scaling import TrainedScaling

from .metadata import check_rules
from .model import INPUT, ML_OPSET, OPSET, OUTPUT, ExportedModel, TensorSpec
from .verify import verify

NAME = "scaling"
FAMILY = "scaling"
VERSION = "1.0.0"
RTOL = 1e-5
ATOL = 1e-2  # MHz
# onnxmltools 1.16 refuses target_opset > 15 (its own cap); the graph it writes (one
# TreeEnsembleRegressor, maybe an Identity) means the same under ai.onnx 18, so we convert at
# 15 and stamp the contract's opsets, then let onnx.checker and ORT confirm.
CONVERTER_OPSET = 15


def to_onnx(trained: TrainedScaling) -> bytes:
    """Unverified ONNX bytes: float32 ``input`` [N, features] -> float32 ``output`` [N, 1]."""
    n_features = trained.input_spec.shape[1]
    proto = convert_lightgbm(
        trained.model, name="dwcp_scaling",
        initial_types=[(INPUT, FloatTensorType([None, n_features]))],
        target_opset=CONVERTER_OPSET, zipmap=False,
    )
    _rename_outputs(proto)
    _round_thresholds_down(proto, trained)
    # Pin exactly the contract's opsets (see CONVERTER_OPSET).
    for op in proto.opset_import:
        if op.domain in ("", "ai.onnx"):
            op.version = OPSET
        elif op.domain == "ai.onnx.ml":
            op.version = ML_OPSET
    return proto.SerializeToString()


def _round_thresholds_down(proto: onnx.ModelProto, trained: TrainedScaling) -> None:
    """Makes every ONNX split decide exactly like LightGBM on float32 inputs.

    LightGBM compares the (float32) input, widened to double, with a double threshold:
    ``x <= t``. The converter stores ``float32(t)`` rounded to nearest, which can round *up*
    onto a float32 value x > t (e.g. t = 7694.145507812501 -> 7694.1455078125): that row goes
    left in ONNX and right in LightGBM, a whole leaf apart. For float32 x,
    ``x <= t`` iff ``x <= largest float32 <= t``, so we store that instead, walking each ONNX
    tree beside LightGBM's dump to get the double thresholds.
    """
    tree = next(n for n in proto.graph.node if n.op_type == "TreeEnsembleRegressor")
    attrs = {a.name: a for a in tree.attribute}
    tree_ids, node_ids = list(attrs["nodes_treeids"].ints), list(attrs["nodes_nodeids"].ints)
    true_ids, false_ids = attrs["nodes_truenodeids"].ints, attrs["nodes_falsenodeids"].ints
    modes = attrs["nodes_modes"].strings
    values = attrs["nodes_values"].floats
    index = {(t, n): i for i, (t, n) in enumerate(zip(tree_ids, node_ids))}
    dump = trained.model.booster_.dump_model()["tree_info"]
    for t, info in enumerate(dump):
        stack = [(info["tree_structure"], index[(t, 0)])]  # node 0 is each tree's root
        while stack:
            node, i = stack.pop()
            if "split_index" not in node:
                if modes[i] != b"LEAF":
                    raise ValueError(f"{NAME}: tree {t} node {node_ids[i]} is a leaf in "
                                     "LightGBM but not in ONNX")
                continue
            if modes[i] != b"BRANCH_LEQ" or node["decision_type"] != "<=":
                raise ValueError(f"{NAME}: tree {t} node {node_ids[i]}: unexpected split "
                                 f"{modes[i]!r} / {node['decision_type']!r}")
            thr = float(node["threshold"])
            f = np.float32(thr)
            if float(f) > thr:
                f = np.nextafter(f, np.float32(-np.inf))
            values[i] = float(f)
            stack.append((node["left_child"], index[(t, true_ids[i])]))
            stack.append((node["right_child"], index[(t, false_ids[i])]))


def _rename_outputs(proto: onnx.ModelProto) -> None:
    """The converter calls the output "variable"; the contract says "output"."""
    graph = proto.graph
    if len(graph.output) != 1:
        raise ValueError(f"{NAME}: the converter produced outputs "
                         f"{[o.name for o in graph.output]}, expected one regression output")
    old = graph.output[0].name
    if old == OUTPUT:
        return
    # The converter already uses "output" for an internal tensor (TreeEnsembleRegressor ->
    # "output" -> Identity -> "variable"): move that name out of the way first (SSA).
    taken = {n for node in graph.node for n in (*node.input, *node.output)}
    internal = OUTPUT + "_tree"
    while internal in taken:
        internal += "_"
    renames = {OUTPUT: internal, old: OUTPUT}
    for node in graph.node:
        node.output[:] = [renames.get(n, n) for n in node.output]
        node.input[:] = [renames.get(n, n) for n in node.input]
    graph.output[0].name = OUTPUT


def export(trained: TrainedScaling) -> ExportedModel:
    """Converts, checks the export rules and verifies against the native model on the
    held-out rows; raises ExportVerificationError naming the worst row on a mismatch."""
    onnx_bytes = to_onnx(trained)
    check_rules(onnx_bytes, NAME)
    verification = verify(onnx_bytes, trained.predict, trained.heldout_rows,
                          atol=ATOL, rtol=RTOL, label=NAME)
    config = trained.config
    thresholds = trained.rule.as_thresholds()  # headroom as chosen on validation
    thresholds.update({"alpha": float(config.alpha), "horizon_steps": float(config.horizon)})
    return ExportedModel(
        name=NAME, family=FAMILY, version=VERSION, onnx_bytes=onnx_bytes,
        inputs=[trained.input_spec], outputs=[TensorSpec(OUTPUT, (None, 1))],
        feature_params=trained.params, verification=verification,
        golden_ts=trained.golden_ts, golden_values=trained.golden_values,
        training_data_digest=trained.training_data_digest, thresholds=thresholds,
        metrics=dict(trained.metrics),
        notes={
            "output": (f"upper quantile (alpha={config.alpha}) of the peak 5-minute CPU demand "
                       f"in MHz over the next {config.horizon} steps after the window's last "
                       "sample"),
            "input": "one flat row per window: seq_len steps x 9 metric-schema features, "
                     "step-major (row = windows.reshape(n, -1))",
            "capacity_rule": "capacity_mhz = max(ceil(max(q, 0) * headroom / unit_mhz), "
                             "min_units) * unit_mhz, in double, in this order",
            "golden_windows": ", ".join(trained.golden_names),
            "headroom": _headroom_note(trained),
        },
    )


def _headroom_note(trained: TrainedScaling) -> str:
    choice = trained.headroom_choice
    if choice is None:
        return f"fixed by the configuration: {trained.rule.headroom:g}"
    p, r = choice.predictive, choice.reactive
    verdict = ("smallest headroom with fewer under-provisioned 5-minute bins than the reactive "
               "scaler at no more capacity-hours" if choice.reachable else
               "target NOT reachable on validation: fewest under-provisioned bins at no more "
               "capacity-hours")
    return (f"{choice.headroom:g}, chosen on the training data's validation part: {verdict} "
            f"(predictive {p.under} bins / {p.capacity_mhz_h:.0f} MHz-h vs reactive target "
            f"{trained.config.reactive_target:g} {r.under} bins / {r.capacity_mhz_h:.0f} MHz-h)")
