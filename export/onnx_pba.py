"""ONNX export of the PBA bandwidth forecaster (family "pba").

Exporter: ``torch.onnx.export(..., dynamo=True, opset_version=OPSET)`` (torch.export + the
onnxscript translator), the supported exporter of torch 2.x; the TorchScript exporter is
deprecated. ``dynamic_shapes`` marks axis 0 as the batch axis, so ONNX Runtime takes 1 or 64 rows
alike; T and the 14 features stay fixed (they come from the bundle's feature params). nn.LSTM
is emitted as one ONNX ``LSTM`` node per layer (4 gates, the ONNX iofc gate order, done by the
exporter); the searched cells (``PbaConfig.cell``) as ``GRU`` nodes or, for the temporal
convolution, ``Conv`` nodes with the causal padding folded in. Every cell goes through the same
export and the same verification against torch.

Graph: input ``input`` float32 [N, T, 14] (feature-core windows, already normalised with the
Params' center/scale) -> output ``output`` float32 [N, 3] = lower, point, upper quantiles
(0.1/0.5/0.9 by default) of the mean bandwidth over the next 15 minutes, in KB/s on the raw
scale: ``expm1`` of the log1p-scale quantiles and the final ``relu`` are inside the graph.
Quantiles never cross: lower = point - softplus(a) and upper = point + softplus(b) before the
monotone expm1/relu, so no sort is needed (a sort would also hide a broken head).

A tree model (``PbaConfig.tree``, what the default bundle ships) keeps the same contract: its
graph (``onnx_candidates.pba_tabular_onnx``) flattens the window, runs one
``TreeEnsembleRegressor`` per quantile on the level-relative log1p target, adds the level
prior back and applies the same non-crossing and ``relu(expm1(.))`` map.

Verification tolerance: ``|onnx - torch| <= ATOL + RTOL * |torch|`` per output on held-out
rows. ORT and torch run different float32 LSTM kernels (different summation order and
sigmoid/tanh approximations); measured differences on July validation rows are a few 1e-6
relative at most, so RTOL = 1e-4 leaves margin while any real defect (a wrong gate order, a
lost normalisation, a perturbed weight) is orders of magnitude larger. ATOL = 1e-3 KB/s covers
outputs near zero where a relative bound means nothing (1 byte/s is below any allocator's
resolution).
"""

from __future__ import annotations

import io
import logging
import warnings

import numpy as np
import torch

from dwcp_ml.spec.model import INPUT, OPSET, OUTPUT, ExportedModel, TensorSpec
from dwcp_ml.training.pba import TrainedPba

from .metadata import check_rules
from .onnx_candidates import pba_tabular_onnx
from .verify import verify

NAME = "pba"
FAMILY = "pba"
VERSION = "2"  # 1 (0.1.0): the LSTM; 2: LightGBM quantile regression, the leaderboard winner
ATOL = 1e-3  # KB/s
RTOL = 1e-4


def to_onnx(model: torch.nn.Module, seq_len: int, n_features: int) -> bytes:
    """The raw-scale torch module as ONNX bytes (opset OPSET, dynamic batch axis)."""
    model.eval()
    example = torch.zeros(2, seq_len, n_features, dtype=torch.float32)
    batch = torch.export.Dim("batch", min=1)
    # torch's exporter logs that torchvision ops are unavailable; irrelevant here.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        # The exporter warns about LSTM state and dynamic shapes it handles; keep stderr clean.
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model, (example,), dynamo=True, opset_version=OPSET, input_names=[INPUT],
            output_names=[OUTPUT], dynamic_shapes=({0: batch},), external_data=False,
            verbose=False)
    buf = io.BytesIO()
    program.save(buf)
    return buf.getvalue()


def native(model: torch.nn.Module):  # noqa: ANN201 - a numpy callable
    """The torch model as ``rows -> outputs`` (float32 numpy) for verify()."""
    def run(rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(np.ascontiguousarray(rows, np.float32))).numpy()
    return run


def export(trained: TrainedPba, version: str = VERSION) -> ExportedModel:
    """Exports, checks the rules and verifies against torch on the held-out rows; raises
    ExportRuleError / ExportVerificationError (naming the worst row) instead of returning."""
    params = trained.params
    if isinstance(trained.model, torch.nn.Module):
        onnx_bytes = to_onnx(trained.model, params.seq_len, params.n_features)
        reference = native(trained.model)
    else:  # a tree candidate (PbaConfig.tree): same contract, graph from onnx_candidates
        onnx_bytes = pba_tabular_onnx(trained.model)
        reference = trained.model.predict
    check_rules(onnx_bytes, NAME)
    verification = verify(onnx_bytes, reference, trained.holdout_x, atol=ATOL, rtol=RTOL,
                          label=NAME)
    lo, mid, hi = trained.config.quantiles
    return ExportedModel(
        name=NAME, family=FAMILY, version=version, onnx_bytes=onnx_bytes,
        inputs=[TensorSpec(INPUT, (None, params.seq_len, params.n_features))],
        outputs=[TensorSpec(OUTPUT, (None, 3))],
        feature_params=params, verification=verification,
        golden_ts=trained.golden_ts, golden_values=trained.golden_values,
        training_data_digest=trained.training_data_digest,
        thresholds={"quantile_lower": lo, "quantile_point": mid, "quantile_upper": hi,
                    "horizon_seconds": float(trained.config.horizon * params.step_seconds)},
        metrics=dict(trained.metrics),
        notes={**trained.notes, "golden_windows": ", ".join(trained.golden_names)},
    )
