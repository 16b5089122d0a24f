"""ONNX export of the anomaly detectors (``training/anomaly_detectors.py``).

Every detector becomes one graph ``input [N, seq_len * 9] float32 -> output [N, 1] float32``
(flag when ``output >= thresholds.score``), so Go serves any of them unchanged:

- ``zscore``, ``breakout``, ``seasonal``, ``residual``: ``Gather`` the feature columns the
  model reads, the model's arithmetic in float32 (``TopK`` for the seasonal median and MAD,
  ``MatMul`` for the ridge forecast), then ``0.5 - 1 / (1 + z)``. Verified against the native
  model within :data:`ATOL` (float32 against the float64 reference).
- ``iforest``, below.

IsolationForest compact export: one ``ai.onnx.ml`` ``TreeEnsembleRegressor`` holding every
tree, followed by three arithmetic nodes::

    input [N, F] float32
      -> TreeEnsembleRegressor (SUM over trees; leaf value = (depth + c(n_leaf)) / (T c(psi)))
      -> Neg -> Pow(2, .) -> Add(offset_)                      -> output [N, 1] float32

which is sklearn's ``-decision_function = 2 ** (-E[h(x)] / c(psi)) + offset_``
(``training/anomaly.py`` defines it). Pre-dividing each leaf by ``T c(psi)`` turns the mean
path length and the normalisation into the ensemble's own sum, so no Div node is needed.

Exactness: sklearn compares the float32 feature with a float64 threshold (``x <= t``). For a
float32 ``x`` that is the same as ``x <= t32`` where ``t32`` is the largest float32 not above
``t``, so thresholds are rounded *down* to float32 and every sample reaches the same leaf as in
sklearn. The only differences left are float32 leaf values and the float32 sum and power in
ONNX Runtime: about 1e-7 on a score in (-0.5, 0.5); :data:`ATOL` is the stated tolerance.

The skl2onnx conversion (:func:`export_skl2onnx`) is kept as the reference for tests and the
benchmark: it gives the same scores through thousands of nodes.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length

from dwcp_ml.spec.model import INPUT, ML_OPSET, OPSET, OUTPUT, ExportedModel, TensorSpec
from dwcp_ml.training import anomaly_detectors as det
from dwcp_ml.training.anomaly import TrainedAnomaly, native_score

from .metadata import check_rules
from .verify import verify

__all__ = ["ATOL", "VERSION", "export", "export_skl2onnx", "compact_graph", "detector_graph",
           "graph"]

ATOL = 1e-6  # |onnx - native| on the score, absolute (scores lie in (-0.5, 0.5))
VERSION = "2"  # 1: IsolationForest only; 2: every detector of training/anomaly_detectors.py


def _floor_f32(t: np.ndarray) -> np.ndarray:
    """Largest float32 <= t, elementwise (so ``x <= t32`` iff ``x <= t`` for float32 x)."""
    t = np.asarray(t, dtype=np.float64)
    t32 = t.astype(np.float32)
    up = t32.astype(np.float64) > t
    t32[up] = np.nextafter(t32[up], np.float32(-np.inf))
    return t32


def _tree_arrays(model: IsolationForest) -> dict[str, list]:
    """TreeEnsembleRegressor attributes for every tree of the forest."""
    n_trees = len(model.estimators_)
    denominator = n_trees * float(_average_path_length([model._max_samples])[0])
    if denominator == 0.0:
        raise ValueError("the forest was fitted on a single sample; nothing to export")
    attrs: dict[str, list] = {k: [] for k in (
        "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
        "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
        "target_treeids", "target_nodeids", "target_ids", "target_weights")}
    for t, (est, features) in enumerate(zip(model.estimators_, model.estimators_features_)):
        tree = est.tree_
        left, right = tree.children_left, tree.children_right
        leaf = left == -1
        # Tree t sees X[:, features]: map its feature indices back to input columns.
        featureids = np.where(leaf, 0, np.asarray(features)[np.maximum(tree.feature, 0)])
        # sklearn: depths += decision_path_length + c(n_node_samples) - 1, where the path
        # length counts the root (compute_node_depths starts at 1).
        path = (tree.compute_node_depths().astype(np.float64)
                + _average_path_length(tree.n_node_samples) - 1.0)
        n = tree.node_count
        attrs["nodes_treeids"] += [t] * n
        attrs["nodes_nodeids"] += list(range(n))
        attrs["nodes_featureids"] += featureids.astype(int).tolist()
        attrs["nodes_values"] += np.where(leaf, 0.0, _floor_f32(tree.threshold)).tolist()
        attrs["nodes_modes"] += ["LEAF" if is_leaf else "BRANCH_LEQ" for is_leaf in leaf]
        attrs["nodes_truenodeids"] += np.where(leaf, 0, left).astype(int).tolist()
        attrs["nodes_falsenodeids"] += np.where(leaf, 0, right).astype(int).tolist()
        attrs["nodes_missing_value_tracks_true"] += [0] * n
        ids = np.flatnonzero(leaf)
        attrs["target_treeids"] += [t] * len(ids)
        attrs["target_nodeids"] += ids.tolist()
        attrs["target_ids"] += [0] * len(ids)
        attrs["target_weights"] += (path[ids] / denominator).astype(np.float32).tolist()
    return attrs


def compact_graph(model: IsolationForest, n_features: int) -> onnx.ModelProto:
    """The compact ONNX model (no metadata) of a fitted forest."""
    attrs = _tree_arrays(model)
    nodes = [
        helper.make_node("TreeEnsembleRegressor", [INPUT], ["mean_path_norm"],
                         domain="ai.onnx.ml", name="forest", n_targets=1,
                         aggregate_function="SUM", post_transform="NONE",
                         base_values=[0.0], **attrs),
        helper.make_node("Neg", ["mean_path_norm"], ["neg_path"], name="neg"),
        helper.make_node("Pow", ["two", "neg_path"], ["s"], name="pow2"),
        helper.make_node("Add", ["s", "offset"], [OUTPUT], name="offset_add"),
    ]
    inits = [
        helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0]),
        helper.make_tensor("offset", TensorProto.FLOAT, [1], [float(model.offset_)]),
    ]
    graph = helper.make_graph(
        nodes, "anomaly_isolation_forest",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", n_features])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", 1])],
        initializer=inits,
    )
    proto = helper.make_model(
        graph, producer_name="dwcp-ml",
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)])
    proto.ir_version = 8  # ONNX 1.13+ readers, what opset 18 needs
    onnx.checker.check_model(proto)
    return proto


class _Graph:
    """A small graph under construction: named constants, nodes, unique value names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def _name(self, op: str) -> str:
        self._n += 1
        return f"{op.lower()}_{self._n}"

    def const(self, values: list[float] | np.ndarray, shape: list[int] | None = None,
              dtype: int = TensorProto.FLOAT) -> str:
        name = self._name("c")
        arr = np.asarray(values)
        self.inits.append(helper.make_tensor(name, dtype, list(arr.shape) if shape is None
                                             else shape, arr.ravel().tolist()))
        return name

    def op(self, op: str, *inputs: str, **attrs: object) -> str:
        out = self._name(op)
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out

    def gather(self, columns: list[int]) -> str:
        """input[:, columns] -> [N, len(columns)]."""
        idx = self.const(np.asarray(columns, np.int64), dtype=TensorProto.INT64)
        return self.op("Gather", INPUT, idx, axis=1)

    def squash(self, z: str) -> None:
        """output = 0.5 - 1 / (1 + z)."""
        one = self.const([1.0], [1])
        inv = self.op("Div", one, self.op("Add", one, z))
        self.nodes.append(helper.make_node("Sub", [self.const([0.5], [1]), inv], [OUTPUT],
                                           name="squash"))

    def model(self, name: str, n_features: int) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", n_features])],
            [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", 1])],
            initializer=self.inits)
        proto = helper.make_model(graph, producer_name="dwcp-ml",
                                  opset_imports=[helper.make_opsetid("", OPSET)])
        proto.ir_version = 8
        onnx.checker.check_model(proto)
        return proto


def _zscore(g: _Graph, m: det.ZScoreModel) -> str:
    v, mean, std = (g.gather([c]) for c in m.columns())
    positive = g.op("Greater", std, g.const([0.0], [1]))
    safe = g.op("Where", positive, std, g.const([1.0], [1]))
    dev = g.op("Abs", g.op("Sub", v, mean))
    return g.op("Where", positive, g.op("Div", dev, safe), g.const([0.0], [1]))


def _breakout(g: _Graph, m: det.BreakoutModel) -> str:
    v, lo, hi = (g.gather([c]) for c in m.columns())
    out = g.op("Max", g.op("Sub", v, hi), g.op("Sub", lo, v), g.const([0.0], [1]))
    level = g.op("Mul", g.const([0.5 * m.floor], [1]),
                 g.op("Add", g.op("Abs", hi), g.op("Abs", lo)))
    width = g.op("Add", g.op("Add", g.op("Sub", hi, lo), level), g.const([det.TINY], [1]))
    return g.op("Div", out, width)


def _lower_median(g: _Graph, x: str, k: int) -> str:
    """The (k+1)-th smallest value of each row: TopK smallest k+1, sorted, last column."""
    smallest = g.op("TopK", x, g.const(np.asarray([k + 1], np.int64), dtype=TensorProto.INT64),
                    axis=1, largest=0, sorted=1)
    g.nodes[-1].output.append(g.nodes[-1].output[0] + "_indices")  # TopK has two outputs
    starts = g.const(np.asarray([k], np.int64), dtype=TensorProto.INT64)
    ends = g.const(np.asarray([k + 1], np.int64), dtype=TensorProto.INT64)
    axes = g.const(np.asarray([1], np.int64), dtype=TensorProto.INT64)
    return g.op("Slice", smallest, starts, ends, axes)


def _seasonal(g: _Graph, m: det.SeasonalModel) -> str:
    hist = g.gather(m.history_columns())
    k = m.median_index
    med = _lower_median(g, hist, k)
    mad = _lower_median(g, g.op("Abs", g.op("Sub", hist, med)), k)
    denom = g.op("Add", g.op("Add", g.op("Mul", g.const([det.MAD_TO_SD], [1]), mad),
                             g.op("Mul", g.const([m.floor], [1]), g.op("Abs", med))),
                 g.const([det.TINY], [1]))
    return g.op("Div", g.op("Abs", g.op("Sub", g.gather([m.value_column()]), med)), denom)


def _residual(g: _Graph, m: det.ResidualModel) -> str:
    values, mc, sc = m.columns()
    vals, mean, std = g.gather(values), g.gather([mc]), g.gather([sc])
    denom = g.op("Add", g.op("Add", std, g.op("Mul", g.const([m.floor], [1]),
                                             g.op("Abs", mean))), g.const([det.TINY], [1]))
    u = g.op("Clip", g.op("Div", g.op("Sub", vals, mean), denom), g.const(-m.clip),
             g.const(m.clip))
    i64 = TensorProto.INT64

    def cols(a: int, b: int) -> str:
        return g.op("Slice", u, g.const(np.asarray([a], np.int64), dtype=i64),
                    g.const(np.asarray([b], np.int64), dtype=i64),
                    g.const(np.asarray([1], np.int64), dtype=i64))

    lags, target = cols(0, m.lags), cols(m.lags, m.lags + 1)
    weights = g.const(np.asarray(m.weights, np.float32), [m.lags, 1])
    forecast = g.op("Add", g.op("MatMul", lags, weights), g.const([m.bias], [1]))
    return g.op("Div", g.op("Abs", g.op("Sub", target, forecast)), g.const([m.sigma], [1]))


_DEVIATIONS = {"zscore": _zscore, "breakout": _breakout, "seasonal": _seasonal,
               "residual": _residual}


def detector_graph(model: det.ZScoreModel | det.BreakoutModel | det.SeasonalModel
                   | det.ResidualModel) -> onnx.ModelProto:
    """The ONNX model (no metadata) of a scale-free detector: deviation z, then squash."""
    g = _Graph()
    g.squash(_DEVIATIONS[model.kind](g, model))
    return g.model(f"anomaly_{model.kind}", model.params.seq_len * model.params.n_features)


def graph(trained: TrainedAnomaly) -> onnx.ModelProto:
    """The ONNX model of whichever detector ``trained`` holds."""
    if isinstance(trained.model, IsolationForest):
        return compact_graph(trained.model, int(trained.input_spec.shape[1]))
    return detector_graph(trained.model)


def _native(trained: TrainedAnomaly):  # noqa: ANN202 - a callable for verify()
    return lambda rows: native_score(trained.model, rows).reshape(-1, 1)


INPUT_NOTE = ("one row per window: the seq_len x 9 metric features of the feature core, "
              "flattened row-major (step 0 features first); day_of_week is masked by its "
              "normalisation scale")
FOREST_NOTES = {
    "output": "column 0: anomaly score = -IsolationForest.decision_function(x) = "
              "2^(-mean path length / c(max_samples)) - 0.5, in (-0.5, 0.5); higher is more "
              "anomalous; flag when score >= thresholds.score",
    "input": INPUT_NOTE,
    "export": "compact: one TreeEnsembleRegressor (leaf = path length / (trees * c(psi))) + "
              "Neg, Pow(2, .), Add(offset); thresholds floored to float32",
}
DEVIATION_NOTES = {
    "zscore": "z = |value - target_mean| / target_std of the last step (0 if std is 0)",
    "breakout": "z = max(value - max, min - value, 0) / (max - min + floor (|max| + |min|) / 2 "
                "+ 1e-6), value of the last step, min/max of the stat window one step earlier",
    "seasonal": "z = |value - median| / (1.4826 MAD + floor |median| + 1e-6) over the values "
                "at the same phase +- halfwidth steps of each previous period",
    "residual": "z = |u_last - ridge forecast from the earlier u| / sigma, u = (value - mean) / "
                "(std + floor |mean| + 1e-6) with the step-before-last's mean and std, clipped",
}


def notes(trained: TrainedAnomaly) -> dict[str, str]:
    """The manifest notes of the detector ``trained`` holds."""
    if isinstance(trained.model, IsolationForest):
        return dict(FOREST_NOTES)
    kind = trained.model.kind
    return {"output": f"column 0: anomaly score = 0.5 - 1 / (1 + z) in [-0.5, 0.5), higher "
                      f"is more anomalous; flag when score >= thresholds.score; detector "
                      f"{kind}: {DEVIATION_NOTES[kind]}",
            "input": INPUT_NOTE,
            "export": f"{kind}: Gather of the columns read, the deviation in float32, squash"}


def export(trained: TrainedAnomaly, *, atol: float = ATOL) -> ExportedModel:
    """The detector's graph, checked against the export rules and verified against the native
    score (``-decision_function`` for the forest) on the held-out rows (raises
    ExportVerificationError with the worst row beyond ``atol``)."""
    n_features = int(trained.input_spec.shape[1])
    onnx_bytes = graph(trained).SerializeToString()
    check_rules(onnx_bytes, "anomaly")
    verification = verify(onnx_bytes, _native(trained), trained.heldout_rows,
                          atol=atol, rtol=0.0, label="anomaly")
    metrics = dict(trained.metrics)
    metrics["verify_max_abs_error"] = verification.max_abs_error
    return ExportedModel(
        name="anomaly", family="anomaly", version=VERSION, onnx_bytes=onnx_bytes,
        inputs=[TensorSpec(INPUT, (None, n_features))],
        outputs=[TensorSpec(OUTPUT, (None, 1))],
        feature_params=trained.params, verification=verification,
        golden_ts=trained.golden_ts, golden_values=trained.golden_values,
        training_data_digest=trained.training_data_digest,
        thresholds={"score": float(trained.threshold)}, metrics=metrics, notes=notes(trained),
    )


def export_skl2onnx(trained: TrainedAnomaly) -> bytes:
    """skl2onnx's conversion of the same forest, reduced to the same single output
    (``output = -scores``, its ``scores`` being ``decision_function``). Reference only."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    n_features = int(trained.input_spec.shape[1])
    proto = to_onnx(trained.model, initial_types=[(INPUT, FloatTensorType([None, n_features]))],
                    target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET})
    graph = proto.graph
    scores = [o.name for o in graph.output if o.name != "label"]
    if len(scores) != 1:
        raise RuntimeError(f"unexpected skl2onnx outputs {[o.name for o in graph.output]}")
    graph.node.append(helper.make_node("Neg", [scores[0]], [OUTPUT], name="neg_scores"))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", 1]))
    # The label branch is now dead; drop nodes no output depends on.
    needed, kept = {OUTPUT}, []
    for node in reversed(list(graph.node)):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    unused = [i for i in graph.initializer if i.name not in needed]
    for init in unused:
        graph.initializer.remove(init)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()
