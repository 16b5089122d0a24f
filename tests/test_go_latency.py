"""Go in-process ONNX Runtime through `dwcp-bench -onnx` (export/go_latency.py): finite
latency figures, and Go's outputs equal Python ONNX Runtime's bit for bit on the default
bundle's golden inputs (read only)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from dwcp_ml.export import go_latency
from dwcp_ml.export.golden_checks import from_hex32
from dwcp_ml.spec import runtime

BUNDLE = Path(__file__).resolve().parents[1] / "golden" / "bundle"
MANIFEST = json.loads((BUNDLE / "manifest.json").read_text())
MODELS = [m["name"] for m in MANIFEST["models"]]


def _golden(name: str) -> tuple[dict, np.ndarray, np.ndarray]:
    entry = next(m for m in MANIFEST["models"] if m["name"] == name)
    g = json.loads((BUNDLE / entry["golden"]).read_text())
    x = from_hex32(g["input"]["float32"], g["input"]["shape"], "input")
    y = from_hex32(g["output"]["float32"], g["output"]["shape"], "output")
    return entry, x, y


@pytest.mark.parametrize("name", MODELS)
def test_go_outputs_equal_python_ort_bits(name: str) -> None:
    entry, x, golden_y = _golden(name)
    path = BUNDLE / entry["file"]
    py = runtime.session(path.read_bytes()).run(None, {entry["inputs"][0]["name"]: x})[0]
    go = go_latency.go_outputs(path, x)
    assert go.shape == py.shape
    assert np.array_equal(go.view(np.uint32), py.view(np.uint32))
    assert np.array_equal(go.view(np.uint32), golden_y.view(np.uint32))


@pytest.mark.parametrize("name", ["pba", "scaling"])
def test_go_latency_is_finite(name: str) -> None:
    entry, x, _ = _golden(name)
    p50, p99 = go_latency.go_latency_us(BUNDLE / entry["file"], (1, *x.shape[1:]), calls=50)
    assert math.isfinite(p50) and math.isfinite(p99) and 0 < p50 <= p99


def test_bad_shape_is_one_clear_error() -> None:
    with pytest.raises(go_latency.GoLatencyError, match="Got invalid dimensions"):
        go_latency.go_latency_us(BUNDLE / "scaling.onnx", (1, 107), calls=5)
    with pytest.raises(go_latency.GoLatencyError, match="positive dimensions"):
        go_latency.go_latency_us(BUNDLE / "scaling.onnx", (0, 108), calls=5)


def test_missing_go_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(go_latency, "BENCH", tmp_path / "bin" / "dwcp-bench")
    monkeypatch.setattr(go_latency.shutil, "which", lambda _: None)
    with pytest.raises(go_latency.GoLatencyError, match="Go is not installed"):
        go_latency.go_latency_us(BUNDLE / "scaling.onnx", (1, 108))
