"""fc_trees_* through cffi: the golden vectors (golden/trees_v1.txt) bit for bit from the
bundle's ONNX files, every kernel equal to ONNX Runtime on seeded random ensembles and rows,
and the status of every bad ensemble (docs/feature-core.md "Tree ensembles")."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from dwcp_ml import feature_core as fc
from dwcp_ml.golden import trees as gt
from dwcp_ml.golden.vectors import FORMAT

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "golden" / "trees_v1.txt"
BUNDLE = ROOT / "golden" / "bundle"


def _read(path: Path) -> dict[str, dict[str, list[str]]]:
    lines = path.read_text().splitlines()
    assert lines[0] == FORMAT
    assert lines[1] == f"fc_version {fc.VERSION}"
    assert lines[2] == f"trees_version {fc.TREES_VERSION}"
    out: dict[str, dict[str, list[str]]] = {}
    cur: dict[str, list[str]] | None = None
    name = ""
    for line in lines[3:]:
        if not line or line.startswith("#"):
            continue
        key, _, rest = line.partition(" ")
        if key == "vector":
            name, cur = rest, {"row": []}
        elif key == "end":
            assert cur is not None
            out[name] = cur
            cur = None
        elif key == "row":
            assert cur is not None
            cur["row"].append(rest)
        else:
            assert cur is not None
            cur[key] = rest.split(" ") if rest else []
    return out


def _f32(tokens: list[str]) -> np.ndarray:
    return np.array([int(t, 16) for t in tokens], np.uint32).view(np.float32)


def test_golden_file_is_current() -> None:
    assert gt.render() == GOLDEN.read_text(), "run `python -m golden.trees`"


@pytest.mark.parametrize("kernel", sorted(fc.TREES_KERNELS))
def test_golden_vectors_bit_for_bit(kernel: str) -> None:
    vectors = _read(GOLDEN)
    assert sorted(vectors) == sorted(gt.MODELS)
    for name, v in vectors.items():
        file, sha = v["source"]
        data = (BUNDLE / file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha, f"{file} changed: regenerate"
        trees = fc.Trees.from_onnx(data)
        labels = [r.split(" ", 1)[0] for r in v["row"]]
        rows = np.stack([_f32(r.split(" ")[1:]) for r in v["row"]])
        assert rows.shape == (int(v["n_rows"][0]), int(v["n_cols"][0]))
        want = _f32(v["out"])
        got = trees.score(rows, kernel)
        bad = np.flatnonzero(got.view(np.uint32) != want.view(np.uint32))
        assert bad.size == 0, (
            f"{name} row {bad[0]} ({labels[bad[0]]}): core {got[bad[0]]!r} "
            f"({got.view(np.uint32)[bad[0]]:08x}), ONNX Runtime {want[bad[0]]!r} "
            f"({want.view(np.uint32)[bad[0]]:08x})")


def _random_model(rng: np.random.Generator, n_trees: int, n_features: int,
                  base: float | None) -> onnx.ModelProto:
    """A seeded random TreeEnsembleRegressor: unbalanced trees, thresholds on a coarse grid
    (so rows hit them exactly), mixed missing_value_tracks_true, node ids shuffled."""
    cols: dict[str, list] = {k: [] for k in (
        "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
        "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
        "target_treeids", "target_nodeids", "target_ids", "target_weights")}
    for t in range(n_trees):
        n_leaves = int(rng.integers(1, 24))
        n = 2 * n_leaves - 1
        ids = rng.permutation(n)  # ONNX Runtime takes ids below the node count only
        # grow: split a random leaf until n_leaves
        kids: dict[int, tuple[int, int]] = {}
        leaves, nxt = [0], 1
        while len(leaves) < n_leaves:
            leaf = leaves.pop(int(rng.integers(len(leaves))))
            kids[leaf] = (nxt, nxt + 1)
            leaves += [nxt, nxt + 1]
            nxt += 2
        for k in range(n):
            cols["nodes_treeids"].append(t)
            cols["nodes_nodeids"].append(int(ids[k]))
            if k in kids:
                a, b = kids[k]
                cols["nodes_modes"].append("BRANCH_LEQ")
                cols["nodes_featureids"].append(int(rng.integers(n_features)))
                cols["nodes_values"].append(float(rng.integers(-8, 9)) / 4)
                cols["nodes_truenodeids"].append(int(ids[a]))
                cols["nodes_falsenodeids"].append(int(ids[b]))
                cols["nodes_missing_value_tracks_true"].append(int(rng.integers(2)))
            else:
                cols["nodes_modes"].append("LEAF")
                cols["nodes_featureids"].append(0)
                cols["nodes_values"].append(0.0)
                cols["nodes_truenodeids"].append(0)
                cols["nodes_falsenodeids"].append(0)
                cols["nodes_missing_value_tracks_true"].append(0)
                cols["target_treeids"].append(t)
                cols["target_nodeids"].append(int(ids[k]))
                cols["target_ids"].append(0)
                cols["target_weights"].append(float(np.float32(rng.normal() * 0.1)))
    extra = {} if base is None else {"base_values": [base]}
    node = helper.make_node("TreeEnsembleRegressor", ["input"], ["output"],
                            domain="ai.onnx.ml", n_targets=1, post_transform="NONE",
                            aggregate_function="SUM", **cols, **extra)
    graph = helper.make_graph(
        [node], "trees", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                        [None, n_features])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [None, 1])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   helper.make_opsetid("ai.onnx.ml", 3)])


def _ort(model: onnx.ModelProto, rows: np.ndarray) -> np.ndarray:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": rows})[0].reshape(-1)


@pytest.mark.parametrize("seed", range(6))
def test_random_ensembles_equal_onnxruntime(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_features = int(rng.integers(1, 40))
    model = _random_model(rng, int(rng.integers(1, 60)), n_features,
                          None if seed % 2 else float(np.float32(rng.normal())))
    rows = (rng.integers(-10, 11, size=(int(rng.integers(1, 300)), n_features)) / 4)
    rows = rows.astype(np.float32)
    special = np.array([np.nan, np.inf, -np.inf, -0.0], np.float32)
    mask = rng.random(rows.shape) < 0.05
    rows[mask] = rng.choice(special, size=int(mask.sum()))
    want = _ort(model, rows)
    trees = fc.Trees.from_onnx(model)
    for kernel in fc.TREES_KERNELS:
        got = trees.score(rows, kernel)
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32),
                                      err_msg=f"kernel {kernel}")


def _attrs(**change: object) -> fc.TreeEnsembleAttributes:
    """One tree: node 0 splits feature 1 at 0.5, leaves 1 (true) and 2 (false)."""
    base: dict[str, object] = dict(
        nodes_treeids=[0, 0, 0], nodes_nodeids=[0, 1, 2], nodes_featureids=[1, 0, 0],
        nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"], nodes_values=[0.5, 0, 0],
        nodes_truenodeids=[1, 0, 0], nodes_falsenodeids=[2, 0, 0],
        nodes_missing_value_tracks_true=[1, 0, 0], target_treeids=[0, 0],
        target_nodeids=[1, 2], target_ids=[0, 0], target_weights=[1.0, 2.0])
    base.update(change)
    return fc.TreeEnsembleAttributes.from_attributes(base)


def test_small_tree_rule() -> None:
    trees = fc.Trees(_attrs(base_values=[0.25]))
    assert (trees.n_trees, trees.n_nodes, trees.n_cols) == (1, 3, 2)
    rows = np.array([[9, 0.5], [9, 0.75], [9, np.nan], [9, -np.inf], [9, np.inf]], np.float32)
    for kernel in fc.TREES_KERNELS:
        np.testing.assert_array_equal(trees.score(rows, kernel), [1.25, 2.25, 1.25, 1.25, 2.25])
    nan_false = fc.Trees(_attrs(nodes_missing_value_tracks_true=[0, 0, 0]))
    assert nan_false.score(np.array([[0, np.nan]], np.float32))[0] == 2.0
    assert trees.score(np.zeros((0, 2), np.float32)).shape == (0,)


@pytest.mark.parametrize("change, exc, index, where", [
    ({"nodes_modes": ["BRANCH_LT", "LEAF", "LEAF"]}, fc.TreeUnsupportedError, 0, "nodes"),
    ({"nodes_modes": ["SOMETHING", "LEAF", "LEAF"]}, fc.TreeUnsupportedError, 0, "nodes"),
    ({"post_transform": "LOGISTIC"}, fc.TreeUnsupportedError, None, "model attributes"),
    ({"aggregate_function": "AVERAGE"}, fc.TreeUnsupportedError, None, "model attributes"),
    ({"n_targets": 2}, fc.TreeUnsupportedError, None, "model attributes"),
    ({"base_values": [1.0, 2.0]}, fc.LengthError, None, "base_values"),
    ({"nodes_truenodeids": [7, 0, 0]}, fc.TreeShapeError, 0, "nodes"),
    ({"nodes_falsenodeids": [1, 0, 0]}, fc.TreeShapeError, 0, "nodes"),
    ({"nodes_nodeids": [0, 1, 1]}, fc.TreeShapeError, 2, "nodes"),
    ({"nodes_featureids": [-1, 0, 0]}, fc.TreeShapeError, 0, "nodes"),
    ({"nodes_featureids": [70000, 0, 0]}, fc.TreeUnsupportedError, 0, "nodes"),
    ({"nodes_missing_value_tracks_true": [2, 0, 0]}, fc.TreeShapeError, 0, "nodes"),
    ({"target_ids": [0, 1]}, fc.TreeShapeError, 1, "target weights"),
    ({"target_nodeids": [1, 0]}, fc.TreeShapeError, 1, "target weights"),
    ({"target_nodeids": [1, 1]}, fc.TreeShapeError, 1, "target weights"),
    ({"target_treeids": [0], "target_nodeids": [1], "target_ids": [0], "target_weights": [1.0]},
     fc.TreeShapeError, 2, "nodes"),
])
def test_errors(change: dict, exc: type, index: int | None, where: str) -> None:
    with pytest.raises(exc) as info:
        fc.Trees(_attrs(**change))
    assert info.value.index == index
    assert info.value.channel == where


def test_reappearing_tree_and_unreachable_node() -> None:
    with pytest.raises(fc.TreeShapeError):  # tree 0, tree 1, tree 0 again
        fc.Trees(_attrs(nodes_treeids=[0, 1, 0], target_treeids=[1, 0]))
    with pytest.raises(fc.TreeShapeError) as info:  # node 3 is never reached
        fc.Trees(_attrs(nodes_treeids=[0, 0, 0, 0], nodes_nodeids=[0, 1, 2, 3],
                        nodes_featureids=[1, 0, 0, 0], nodes_modes=["BRANCH_LEQ"] + ["LEAF"] * 3,
                        nodes_values=[0.5, 0, 0, 0], nodes_truenodeids=[1, 0, 0, 0],
                        nodes_falsenodeids=[2, 0, 0, 0],
                        nodes_missing_value_tracks_true=[0, 0, 0, 0],
                        target_treeids=[0, 0, 0], target_nodeids=[1, 2, 3], target_ids=[0, 0, 0],
                        target_weights=[1.0, 2.0, 3.0]))
    assert info.value.index == 3


def test_score_errors() -> None:
    trees = fc.Trees(_attrs())
    with pytest.raises(fc.LengthError):  # the model reads column 1
        trees.score(np.zeros((3, 1), np.float32))
    with pytest.raises(fc.LengthError):
        trees.score(np.zeros(3, np.float32))
    with pytest.raises(fc.BadParamsError):
        trees.score(np.zeros((3, 2), np.float32), kernel="fast")
    with pytest.raises(fc.TreeUnsupportedError):
        fc.Trees.from_onnx(BUNDLE / "pba.onnx")


def test_from_onnx_refuses_a_graph_beyond_the_ensemble() -> None:
    model = _random_model(np.random.default_rng(9), 3, 4, None)
    graph = model.graph
    graph.node[0].output[0] = "trees"
    graph.node.append(helper.make_node("Neg", ["trees"], ["output"]))
    with pytest.raises(fc.TreeUnsupportedError, match="Neg"):
        fc.Trees.from_onnx(model)


def test_learned_placer_scores_with_the_core() -> None:
    from dwcp_ml.training.itp.learned import LearnedPolicy

    policy = LearnedPolicy((BUNDLE / "itp.onnx").read_bytes())
    policy.reset(None)  # type: ignore[arg-type]
    assert policy._trees is not None and policy._session is None
    assert "_trees" in policy.__getstate__() and policy.__getstate__()["_trees"] is None
