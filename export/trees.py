"""Tree ensembles -> one ONNX TreeEnsembleRegressor that decides every split exactly like
the native model, for LightGBM (onnxmltools) and scikit-learn GradientBoosting (skl2onnx).

Both native libraries compare the float32 input, widened to double, with a double threshold:
``x <= t``. The converters store ``float32(t)`` rounded to nearest, which can round *up* onto
a float32 value x > t (e.g. t = 7694.145507812501 -> 7694.1455078125): that row goes left in
ONNX and right natively, a whole leaf apart. For float32 x, ``x <= t`` iff ``x <= largest
float32 <= t``, so we store that instead, walking each ONNX tree beside the native one. What
remains is the summation of leaf values (double natively, float32 in ONNX Runtime): a few
float32 ULPs, covered by each family's stated tolerance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnxmltools import convert_lightgbm
from onnxmltools.convert.common.data_types import FloatTensorType
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType as SklFloatTensorType

from dwcp_ml.spec.model import INPUT, ML_OPSET, OPSET, OUTPUT

# onnxmltools 1.16 refuses target_opset > 15 (its own cap); the graph it writes (one
# TreeEnsembleRegressor, maybe an Identity) means the same under ai.onnx 18, so we convert at
# 15 and stamp the contract's opsets, then let onnx.checker and ORT confirm.
LIGHTGBM_CONVERTER_OPSET = 15


def lightgbm_to_onnx(model: Any, n_features: int, name: str) -> bytes:
    """A fitted LGBMRegressor as ONNX bytes: float32 ``input`` [N, n] -> ``output`` [N, 1]."""
    proto = convert_lightgbm(
        model, name=f"dwcp_{name}",
        initial_types=[(INPUT, FloatTensorType([None, n_features]))],
        target_opset=LIGHTGBM_CONVERTER_OPSET, zipmap=False,
    )
    rename_output(proto, name)
    round_lightgbm_thresholds(proto, name, model.booster_.dump_model()["tree_info"])
    pin_opsets(proto)
    return proto.SerializeToString()


def sklearn_gb_to_onnx(model: Any, n_features: int, name: str) -> bytes:
    """A fitted GradientBoostingRegressor as ONNX bytes, same signature."""
    proto = convert_sklearn(
        model, name=f"dwcp_{name}",
        initial_types=[(INPUT, SklFloatTensorType([None, n_features]))],
        target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
    )
    rename_output(proto, name)
    round_sklearn_thresholds(proto, name, model.estimators_[:, 0])
    pin_opsets(proto)
    return proto.SerializeToString()


class _Splits:
    """The split attributes of a converted model's TreeEnsembleRegressor, editable."""

    def __init__(self, proto: onnx.ModelProto, name: str):
        tree = next(n for n in proto.graph.node if n.op_type == "TreeEnsembleRegressor")
        attrs = {a.name: a for a in tree.attribute}
        self.name = name
        self.tree_ids = list(attrs["nodes_treeids"].ints)
        self.node_ids = list(attrs["nodes_nodeids"].ints)
        self.true_ids, self.false_ids = attrs["nodes_truenodeids"].ints, attrs["nodes_falsenodeids"].ints
        self.modes = attrs["nodes_modes"].strings
        self.values = attrs["nodes_values"].floats
        self.index = {(t, n): i for i, (t, n) in enumerate(zip(self.tree_ids, self.node_ids))}

    def set_down(self, i: int, thr: float) -> None:
        """Node i's threshold := the largest float32 <= thr."""
        if self.modes[i] != b"BRANCH_LEQ":
            raise ValueError(f"{self.name}: tree {self.tree_ids[i]} node {self.node_ids[i]}: "
                             f"unexpected split {self.modes[i]!r}")
        f = np.float32(thr)
        if float(f) > thr:
            f = np.nextafter(f, np.float32(-np.inf))
        self.values[i] = float(f)


def round_lightgbm_thresholds(proto: onnx.ModelProto, name: str, dump: list[dict[str, Any]]) -> None:
    """Walks each ONNX tree beside LightGBM's dump through the true/false links (ONNX node
    ids need not follow LightGBM's order) and rounds every threshold down."""
    s = _Splits(proto, name)
    for t, info in enumerate(dump):
        stack = [(info["tree_structure"], s.index[(t, 0)])]  # node 0 is each tree's root
        while stack:
            node, i = stack.pop()
            if "split_index" not in node:
                if s.modes[i] != b"LEAF":
                    raise ValueError(f"{name}: tree {t} node {s.node_ids[i]} is a leaf in "
                                     "LightGBM but not in ONNX")
                continue
            if node["decision_type"] != "<=":
                raise ValueError(f"{name}: tree {t}: unexpected split {node['decision_type']!r}")
            s.set_down(i, float(node["threshold"]))
            stack.append((node["left_child"], s.index[(t, s.true_ids[i])]))
            stack.append((node["right_child"], s.index[(t, s.false_ids[i])]))


def round_sklearn_thresholds(proto: onnx.ModelProto, name: str, trees: Any) -> None:
    """skl2onnx numbers ONNX nodes by scikit-learn's node index: round each split down."""
    s = _Splits(proto, name)
    for t, estimator in enumerate(trees):
        tree = estimator.tree_
        for k in range(tree.node_count):
            if tree.children_left[k] != -1:
                s.set_down(s.index[(t, k)], float(tree.threshold[k]))


def rename_output(proto: onnx.ModelProto, name: str) -> None:
    """Converters call the output "variable"; the contract says "output"."""
    graph = proto.graph
    if len(graph.output) != 1:
        raise ValueError(f"{name}: the converter produced outputs "
                         f"{[o.name for o in graph.output]}, expected one regression output")
    old = graph.output[0].name
    if old == OUTPUT:
        return
    # A converter may already use "output" for an internal tensor (TreeEnsembleRegressor ->
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


def pin_opsets(proto: onnx.ModelProto) -> None:
    """Exactly the contract's opsets (see LIGHTGBM_CONVERTER_OPSET)."""
    for op in proto.opset_import:
        if op.domain in ("", "ai.onnx"):
            op.version = OPSET
        elif op.domain == "ai.onnx.ml":
            op.version = ML_OPSET
