"""ONNX Runtime in the deterministic profile the goldens are made with (and Go uses): CPU
execution provider, 1 intra-op and 1 inter-op thread."""

from __future__ import annotations

import onnxruntime as ort

VERSION: str = ort.__version__


def session(onnx_bytes: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
