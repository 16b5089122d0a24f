"""ONNX graphs of the AutoML candidates (dwcp_ml.training.candidates), written here so that
training never imports export: a quantile regressor's trees as one graph ``input`` [N, d] ->
``raw`` [N, q], and a tabular PBA candidate under the PBA serving contract ``input``
[N, T, F] -> ``output`` [N, 3] KB/s. Thresholds follow ``trees.py``'s rounding so the graph
decides like the native model; the callers verify it against the native model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import helper, numpy_helper

from dwcp_ml.spec.model import INPUT, ML_OPSET, OPSET, OUTPUT
from dwcp_ml.training.candidates.pba_tabular import TabularPba
from dwcp_ml.training.candidates.quantile import QuantileRegressor
from dwcp_ml.training.candidates.scaling_tabular import (LinearForecaster, MlpForecaster,
                                                         TreeForecaster)

from . import trees

RAW = "raw"  # the concatenated quantile columns inside a merged graph


def quantile_graph(model: QuantileRegressor, label: str) -> onnx.ModelProto:
    """``input`` [N, d] -> ``raw`` [N, q] (opsets pinned to the contract's)."""
    protos = [_to_onnx(model.config.kind, m, model.n_inputs, f"{label}_q{i}")
              for i, m in enumerate(model.models)]
    return _merge(protos, model.offsets, label)


def _to_onnx(kind: str, model: Any, n_inputs: int, name: str) -> onnx.ModelProto:
    if kind == "lightgbm":
        return onnx.load_from_string(trees.lightgbm_to_onnx(model, n_inputs, name))
    if kind == "xgboost":
        from onnxmltools import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType

        proto = convert_xgboost(model, name=f"dwcp_{name}",
                                initial_types=[(INPUT, FloatTensorType([None, n_inputs]))],
                                target_opset=trees.LIGHTGBM_CONVERTER_OPSET)
        trees.rename_output(proto, name)
        trees.pin_opsets(proto)
        return proto
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType as SklFloatTensorType

    proto = convert_sklearn(model, name=f"dwcp_{name}",
                            initial_types=[(INPUT, SklFloatTensorType([None, n_inputs]))],
                            target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET})
    trees.rename_output(proto, name)
    trees.round_sklearn_thresholds(proto, name, model.estimators_)
    trees.pin_opsets(proto)
    return proto


def _merge(protos: list[onnx.ModelProto], offsets: NDArray[np.float64],
           label: str) -> onnx.ModelProto:
    """One graph: the shared ``input``, each model's nodes under a prefix, their [N, 1]
    outputs concatenated (repeated for a single model), plus the offsets, as ``raw``."""
    nodes, inits, cols = [], [], []
    for i, p in enumerate(protos):
        prefix = f"m{i}_"
        p = onnx.compose.add_prefix(p, prefix)
        for node in p.graph.node:
            node.input[:] = [INPUT if n == prefix + INPUT else n for n in node.input]
            nodes.append(node)
        inits.extend(p.graph.initializer)
        cols.append(prefix + OUTPUT)
    if len(cols) == 1 and len(offsets) > 1:
        cols = cols * len(offsets)
    inits.append(onnx.numpy_helper.from_array(offsets.astype(np.float32).reshape(1, -1),
                                              "raw_offsets"))
    nodes += [helper.make_node("Concat", cols, ["raw_cols"], axis=1),
              helper.make_node("Add", ["raw_cols", "raw_offsets"], [RAW])]
    graph = helper.make_graph(
        nodes, f"dwcp_{label}", [protos[0].graph.input[0]],
        [helper.make_tensor_value_info(RAW, onnx.TensorProto.FLOAT, [None, len(offsets)])],
        inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                   helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
                             ir_version=protos[0].ir_version)


def pba_tabular_onnx(model: TabularPba) -> bytes:
    """The model as ONNX (contract rules of spec/model.py), unverified."""
    inner = quantile_graph(model.model, "pba_" + model.tree.kind)
    g = inner.graph
    for node in g.node:  # the trees read the flattened rows
        node.input[:] = ["rows" if n == INPUT else n for n in node.input]
    center, scale = model.level_scale()
    consts = {"level_col": np.array([model.level_column], np.int64),
              "level_scale": np.array(scale, np.float32),
              "level_center": np.array(center, np.float32),
              "one": np.array(1.0, np.float32),
              "c0": np.array([0], np.int64), "c1": np.array([1], np.int64),
              "c2": np.array([2], np.int64)}
    g.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items())
    g.node.insert(0, helper.make_node("Flatten", [INPUT], ["rows"], axis=1))
    mk = helper.make_node
    g.node.extend([
        mk("Gather", ["rows", "level_col"], ["lv_raw"], axis=1),  # [N, 1]
        mk("Mul", ["lv_raw", "level_scale"], ["lv_scaled"]),
        mk("Add", ["lv_scaled", "level_center"], ["lv_kbs"]),
        mk("Relu", ["lv_kbs"], ["lv"]),
        mk("Add", ["lv", "one"], ["lv1"]),
        mk("Log", ["lv1"], ["base"]),
        mk("Add", [RAW, "base"], ["u"]),
        mk("Gather", ["u", "c0"], ["u_lo"], axis=1),
        mk("Gather", ["u", "c1"], ["u_mid"], axis=1),
        mk("Gather", ["u", "c2"], ["u_hi"], axis=1),
        mk("Min", ["u_lo", "u_mid"], ["lo"]),
        mk("Max", ["u_hi", "u_mid"], ["hi"]),
        mk("Concat", ["lo", "u_mid", "hi"], ["u3"], axis=1),
        mk("Exp", ["u3"], ["e3"]),
        mk("Sub", ["e3", "one"], ["m3"]),
        mk("Relu", ["m3"], [OUTPUT]),
    ])
    T, F = model.params.seq_len, model.params.n_features
    del g.input[:]
    g.input.append(helper.make_tensor_value_info(INPUT, onnx.TensorProto.FLOAT,
                                                 [None, T, F]))
    del g.output[:]
    g.output.append(helper.make_tensor_value_info(OUTPUT, onnx.TensorProto.FLOAT,
                                                  [None, 3]))
    trees.pin_opsets(inner)
    onnx.checker.check_model(inner)
    return inner.SerializeToString()


# --------------------------------------------------------------------------- scaling candidates


def _scaling_graph(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], n_inputs: int,
                   label: str) -> bytes:
    """``input`` [N, d] -> ``output`` [N, 1] float32 from plain ai.onnx nodes."""
    graph = helper.make_graph(
        nodes, f"dwcp_{label}",
        [helper.make_tensor_value_info(INPUT, onnx.TensorProto.FLOAT, [None, n_inputs])],
        [helper.make_tensor_value_info(OUTPUT, onnx.TensorProto.FLOAT, [None, 1])], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    proto.ir_version = 8  # what the pinned ONNX Runtime (and Go's copy of it) reads
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def scaling_tree_onnx(model: TreeForecaster, n_inputs: int) -> bytes:
    """A scaling tree candidate (one quantile): the quantile graph's ``raw`` [N, 1] as
    ``output``, under the scaling serving contract (float32 MHz, as ``onnx_scaling``)."""
    proto = quantile_graph(model.model, "scaling_" + model.kind)
    g = proto.graph
    g.node.append(helper.make_node("Identity", [RAW], [OUTPUT]))
    del g.output[:]
    g.output.append(helper.make_tensor_value_info(OUTPUT, onnx.TensorProto.FLOAT, [None, 1]))
    if g.input[0].type.tensor_type.shape.dim[1].dim_value != n_inputs:
        raise ValueError(f"scaling_{model.kind}: graph takes "
                         f"{g.input[0].type.tensor_type.shape.dim[1].dim_value} inputs, "
                         f"expected {n_inputs}")
    trees.pin_opsets(proto)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def scaling_linear_onnx(model: LinearForecaster) -> bytes:
    """``output = input @ coef + intercept`` (float32 weights)."""
    w = model.coef.astype(np.float32).reshape(-1, 1)
    inits = [numpy_helper.from_array(w, "coef"),
             numpy_helper.from_array(np.array([model.intercept], np.float32), "intercept")]
    nodes = [helper.make_node("MatMul", [INPUT, "coef"], ["xw"]),
             helper.make_node("Add", ["xw", "intercept"], [OUTPUT])]
    return _scaling_graph(nodes, inits, len(w), "scaling_linear")


def scaling_mlp_onnx(model: MlpForecaster) -> bytes:
    """The MLP with its standardisation and target map: ``(input - mean) / std`` -> ReLU
    layers (sklearn's ``coefs_`` / ``intercepts_``) -> ``x y_scale + y_center + offset``."""
    mlp = model.mlp
    inits = [numpy_helper.from_array(model.mean.astype(np.float32).reshape(1, -1), "mean"),
             numpy_helper.from_array(model.std.astype(np.float32).reshape(1, -1), "std"),
             numpy_helper.from_array(np.array([model.y_scale], np.float32), "y_scale"),
             numpy_helper.from_array(np.array([model.y_center + model.offset], np.float32),
                                     "y_shift")]
    nodes = [helper.make_node("Sub", [INPUT, "mean"], ["centred"]),
             helper.make_node("Div", ["centred", "std"], ["h0"])]
    last = len(mlp.coefs_) - 1
    for i, (w, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_, strict=True)):
        inits += [numpy_helper.from_array(np.asarray(w, np.float32), f"w{i}"),
                  numpy_helper.from_array(np.asarray(b, np.float32).reshape(1, -1), f"b{i}")]
        nodes += [helper.make_node("MatMul", [f"h{i}", f"w{i}"], [f"hw{i}"]),
                  helper.make_node("Add", [f"hw{i}", f"b{i}"],
                                   [f"a{i}" if i < last else "z"])]
        if i < last:
            nodes.append(helper.make_node("Relu", [f"a{i}"], [f"h{i + 1}"]))
    nodes += [helper.make_node("Mul", ["z", "y_scale"], ["zs"]),
              helper.make_node("Add", ["zs", "y_shift"], [OUTPUT])]
    return _scaling_graph(nodes, inits, len(model.mean), "scaling_mlp")


def scaling_candidate_onnx(model: TreeForecaster | LinearForecaster | MlpForecaster,
                           n_inputs: int) -> bytes:
    """Any scaling candidate's graph (unverified; the caller verifies it)."""
    if isinstance(model, TreeForecaster):
        return scaling_tree_onnx(model, n_inputs)
    if isinstance(model, LinearForecaster):
        return scaling_linear_onnx(model)
    return scaling_mlp_onnx(model)
