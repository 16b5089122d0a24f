"""Generator of the tree-ensemble golden vectors (``golden/trees_v1.txt``).

For each tree model of the bundle (golden/bundle: ``itp`` and ``itp_gb``, ONNX
TreeEnsembleRegressors over the 154 placement factors) the file carries the model's
attributes as fc_trees_init takes them and rows with ONNX Runtime's output bits (Python,
one thread, the rows as one batch): the bundle's golden PlaceVM factor rows, the occlusion
variants of the first one (each factor in turn replaced by the second row's value, as
PlaceVM's explanation builds them), and edge rows: NaN at split features (a node's
missing_value_tracks_true decides), +-Inf, a value equal to a threshold and the floats
either side of it, rows of all NaN / +Inf / -Inf / 0 / -0. C (``fc_golden_trees check``),
Python (tests/test_trees.py) and Go (sidecar/featurecore and sidecar/runtime tests) score
every row with the core's evaluator and require every bit. The format is
docs/feature-core.md ("Tree ensembles").

Regenerate with ``python -m dwcp_ml.golden.trees`` (or ``python -m golden.trees`` from the
repository root; ``--check`` compares instead) after the bundle's tree models change.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from . import vectors

MODULE = "dwcp_ml.golden.trees"
HERE = Path(__file__).resolve().parent
DEFAULT_PATH = HERE / "trees_v1.txt"
BUNDLE = HERE / "bundle"
MODELS = ("itp", "itp_gb")
TREES_VERSION = 1
N_NAN_FEATURES = 40     # split features that get a NaN row
N_THRESHOLD_NODES = 30  # branch nodes whose threshold (and its neighbours) gets a row
N_INF_FEATURES = 20     # split features that get a +Inf and a -Inf row


def hex32(values: np.ndarray) -> str:
    """Big-endian IEEE-754 float32 bits, space-separated."""
    bits = np.ravel(np.asarray(values, np.float32)).view(np.uint32)
    return " ".join(f"{int(b):08x}" for b in bits)


def _ints(values: np.ndarray) -> str:
    return " ".join(str(int(v)) for v in np.ravel(values))


def _golden_rows(name: str) -> np.ndarray:
    """The bundle's golden input rows of model ``name`` (golden/bundle/golden/NAME.json)."""
    doc = json.loads((BUNDLE / "golden" / f"{name}.json").read_text())
    shape = doc["input"]["shape"]
    raw = bytes.fromhex(doc["input"]["float32"])
    return np.frombuffer(raw, dtype=">f4").astype(np.float32).reshape(shape)


def _rows(attrs, base: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:  # noqa: ANN001
    """Labelled rows: requests, occlusion variants, edges (fixed choices, no randomness)."""
    for i, row in enumerate(base):
        yield f"request.{i}", row
    if len(base) >= 2:
        for f in range(base.shape[1]):
            row = base[0].copy()
            row[f] = base[1][f]
            yield f"occlusion.0.f{f}", row
    branch = np.flatnonzero(attrs.nodes_modes == 0)
    feats = np.unique(attrs.nodes_featureids[branch])
    for f in feats[np.linspace(0, len(feats) - 1, min(N_NAN_FEATURES, len(feats))).astype(int)]:
        row = base[0].copy()
        row[f] = np.float32("nan")
        yield f"nan.f{int(f)}", row
    for f in feats[np.linspace(0, len(feats) - 1, min(N_INF_FEATURES, len(feats))).astype(int)]:
        for sign, label in ((1, "+inf"), (-1, "-inf")):
            row = base[0].copy()
            row[f] = np.float32(sign * np.inf)
            yield f"{label}.f{int(f)}", row
    picks = branch[np.linspace(0, len(branch) - 1,
                               min(N_THRESHOLD_NODES, len(branch))).astype(int)]
    for k in picks:
        f, thr = int(attrs.nodes_featureids[k]), np.float32(attrs.nodes_values[k])
        for label, v in (("eq", thr), ("below", np.nextafter(thr, np.float32(-np.inf))),
                         ("above", np.nextafter(thr, np.float32(np.inf)))):
            row = base[0].copy()
            row[f] = v
            yield f"threshold_{label}.node{int(k)}", row
    width = base.shape[1]
    for label, v in (("nan", np.nan), ("+inf", np.inf), ("-inf", -np.inf), ("zero", 0.0),
                     ("-zero", -0.0)):
        yield f"all_{label}", np.full(width, v, np.float32)


def _ort_scores(model_bytes: bytes, rows: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {sess.get_inputs()[0].name: rows})
    return np.asarray(out, np.float32).reshape(len(rows))


def _vector(name: str) -> list[str]:
    from dwcp_ml import feature_core as fc

    data = (BUNDLE / f"{name}.onnx").read_bytes()
    a = fc.TreeEnsembleAttributes.from_onnx(data)
    labelled = list(_rows(a, _golden_rows(name)))
    rows = np.stack([r for _, r in labelled]).astype(np.float32)
    out = _ort_scores(data, rows)
    mt = a.nodes_missing_value_tracks_true
    tracks = mt if mt is not None else np.zeros(a.nodes_treeids.size, np.int64)
    body = [
        f"source {name}.onnx {hashlib.sha256(data).hexdigest()}",
        f"n_nodes {a.nodes_treeids.size}",
        f"nodes_treeids {_ints(a.nodes_treeids)}",
        f"nodes_nodeids {_ints(a.nodes_nodeids)}",
        f"nodes_featureids {_ints(a.nodes_featureids)}",
        f"nodes_modes {_ints(a.nodes_modes)}",
        f"nodes_values {hex32(a.nodes_values)}",
        f"nodes_truenodeids {_ints(a.nodes_truenodeids)}",
        f"nodes_falsenodeids {_ints(a.nodes_falsenodeids)}",
        f"nodes_missing_value_tracks_true {_ints(tracks)}",
        f"n_weights {a.target_treeids.size}",
        f"target_treeids {_ints(a.target_treeids)}",
        f"target_nodeids {_ints(a.target_nodeids)}",
        f"target_ids {_ints(a.target_ids)}",
        f"target_weights {hex32(a.target_weights)}",
        f"base_values {hex32(a.base_values)}".rstrip(),
        f"model {a.n_targets} {a.aggregate} {a.post_transform}",
        f"n_cols {rows.shape[1]}",
        f"n_rows {len(rows)}",
    ]
    body += [f"row {label} {hex32(r)}" for label, r in labelled]
    body.append(f"out {hex32(out)}")
    return body


def render() -> str:
    from dwcp_ml import feature_core as fc

    return vectors.render(MODULE, [f"fc_version {fc.VERSION}", f"trees_version {TREES_VERSION}"],
                          ((name, _vector(name)) for name in MODELS), "tree")


def main(argv: list[str] | None = None) -> int:
    return vectors.main(argv, MODULE, DEFAULT_PATH, render)


if __name__ == "__main__":
    sys.exit(main())
