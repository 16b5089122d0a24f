"""INT8 quantization of an exported float ONNX model with ``onnxruntime.quantization``.

Dynamic (``quantize_dynamic``): weights are stored as int8 with one scale per tensor,
activations are quantized at run time from each call's own range. ORT rewrites an ``LSTM``
node as ``com.microsoft.DynamicQuantizeLSTM`` and a MatMul/Gemm as ``DynamicQuantizeLinear``
+ ``MatMulInteger`` (standard ops). The LSTM's weights must be initializers, so the graph's
constant weight arithmetic (torch's exporter reorders the gates with Slice/Concat at run time)
is folded first (onnxscript's optimizer; the float outputs keep their bits).

Static (``quantize_static``): activations get fixed scales from calibration on training-part
feature windows (:class:`WindowReader`, MinMax). Format QDQ, not QOperator: QDQ writes
``QuantizeLinear``/``DequantizeLinear`` pairs around float ops, all in the standard ai.onnx
domain at the graph's opset 18 (the bundle format and the Go runtime accept only ai.onnx 18
and ai.onnx.ml 3), and ORT fuses each pair with its op into an int8 kernel when the session
is made; QOperator needs QLinear* ops ORT does not have for every op, and is ORT's legacy
format. ORT has no static int8 LSTM, so static quantization covers MatMul and Gemm only
(``STATIC_OPS``): quantizing the element-wise ops as well would only add rounding.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from numpy.typing import NDArray
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_dynamic, quantize_static)
from onnxscript import optimizer

from dwcp_ml.spec.model import INPUT, ML_OPSET, OPSET

STATIC_OPS = ("MatMul", "Gemm")
BUNDLE_OPSETS = {"ai.onnx": OPSET, "ai.onnx.ml": ML_OPSET}
# Quantized graph vs the float graph it came from, per output: |q - f| <= ATOL + RTOL * |f|.
# int8 weights with per-tensor scales carry ~1 % relative error per matrix; through the
# recurrence and the expm1 of the output that can reach a few %; 1 KB/s covers outputs near 0.
# The accuracy that matters is the CV loss (compress.report); this bound catches a broken
# graph (wrong scale, lost node), which is off by orders of magnitude.
ATOL = 1.0  # KB/s
RTOL = 0.1


class WindowReader(CalibrationDataReader):
    """Feature windows in batches for static calibration: ``rows`` of the training part."""

    def __init__(self, x: NDArray[np.float32], batch: int = 256) -> None:
        self._batches = [{INPUT: np.ascontiguousarray(x[i:i + batch], np.float32)}
                         for i in range(0, len(x), batch)]
        self._next = 0

    def get_next(self) -> dict[str, NDArray[np.float32]] | None:
        if self._next >= len(self._batches):
            return None
        self._next += 1
        return self._batches[self._next - 1]

    def rewind(self) -> None:
        self._next = 0


def fold_constants(onnx_bytes: bytes) -> bytes:
    """The graph with constant subexpressions (the exporter's gate reordering of the LSTM
    weights) computed once, so weights are initializers the quantizer can see."""
    model = optimizer.optimize(onnx.load_from_string(onnx_bytes), input_size_limit=1 << 22,
                               output_size_limit=1 << 22)
    return model.SerializeToString()


def _through_files(onnx_bytes: bytes, run: Callable[[str, str], None]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="dwcp-quant-") as tmp:
        src, dst = os.path.join(tmp, "float.onnx"), os.path.join(tmp, "int8.onnx")
        Path(src).write_bytes(fold_constants(onnx_bytes))
        run(src, dst)
        return _clean_opsets(Path(dst).read_bytes())


def _clean_opsets(onnx_bytes: bytes) -> bytes:
    """Keep only the opset imports the nodes use (the quantizer adds its own domains)."""
    model = onnx.load_from_string(onnx_bytes)
    used = {n.domain for n in model.graph.node} | {""}
    kept = [o for o in model.opset_import if o.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    return model.SerializeToString()


def dynamic_int8(onnx_bytes: bytes) -> bytes:
    """Weights int8 (signed, per tensor), activations quantized per call."""
    return _through_files(onnx_bytes, lambda src, dst: quantize_dynamic(
        src, dst, weight_type=QuantType.QInt8))


def static_int8(onnx_bytes: bytes, calibration: NDArray[np.float32]) -> bytes:
    """QDQ, int8 weights and activations (symmetric weights), MinMax calibration on
    ``calibration`` windows, MatMul and Gemm only (see the module docstring)."""
    return _through_files(onnx_bytes, lambda src, dst: quantize_static(
        src, dst, WindowReader(calibration), quant_format=QuantFormat.QDQ,
        op_types_to_quantize=list(STATIC_OPS), activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax))


def opsets(onnx_bytes: bytes) -> dict[str, int]:
    """Opset imports, the default domain spelled ai.onnx."""
    model = onnx.load_from_string(onnx_bytes)
    return {o.domain or "ai.onnx": o.version for o in model.opset_import}


def bundle_compatible(onnx_bytes: bytes) -> bool:
    """True when every opset is one the bundle format and the Go runtime serve."""
    return all(BUNDLE_OPSETS.get(d) == v for d, v in opsets(onnx_bytes).items())
