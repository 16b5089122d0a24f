"""Native model vs ONNX Runtime, on held-out rows, before an export is written."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dwcp_ml.spec.model import INPUT, Verification
from dwcp_ml.spec.runtime import session


class ExportVerificationError(Exception):
    """The ONNX model does not answer like the native one; names the worst row."""


def verify(
    onnx_bytes: bytes,
    native: Callable[[np.ndarray], np.ndarray],
    rows: np.ndarray,
    *,
    atol: float,
    rtol: float,
    label: str,
) -> Verification:
    """Runs both on ``rows`` (float32) and requires |onnx - native| <= atol + rtol*|native|
    everywhere. Raises ExportVerificationError with the worst row otherwise."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    expected = np.asarray(native(rows), dtype=np.float64).reshape(len(rows), -1)
    got = session(onnx_bytes).run(None, {INPUT: rows})[0].astype(np.float64)
    got = got.reshape(len(rows), -1)
    if got.shape != expected.shape:
        raise ExportVerificationError(
            f"{label}: ONNX output shape {got.shape} != native {expected.shape}")
    diff = np.abs(got - expected)
    excess = diff - (atol + rtol * np.abs(expected))
    worst = int(np.unravel_index(np.argmax(excess), excess.shape)[0])
    if excess.max() > 0 or not np.isfinite(got).all():
        raise ExportVerificationError(
            f"{label}: ONNX differs from the native model beyond atol={atol:g} rtol={rtol:g}: "
            f"worst row {worst}: native {expected[worst].tolist()}, onnx {got[worst].tolist()}"
        )
    rel = diff / np.maximum(np.abs(expected), np.finfo(np.float32).tiny)
    return Verification(len(rows), float(diff.max()), float(rel.max()), atol, rtol)
