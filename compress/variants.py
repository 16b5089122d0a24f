"""Every compressed variant of one trained PBA model, exported to ONNX and verified.

Torch variants are verified against their own torch module at the shipped exporter's
tolerance (export.onnx_pba.ATOL / RTOL); quantized graphs have no native model and are
verified against the float ONNX graph they were made from (onnx_quant.ATOL / RTOL). Both on
the teacher's held-out validation rows (``TrainedPba.holdout_x``, from the training part).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import onnx
from torch import nn

from dwcp_ml.export import onnx_pba
from dwcp_ml.export.metadata import check_rules
from dwcp_ml.export.verify import verify
from dwcp_ml.spec.model import INPUT, Verification
from dwcp_ml.spec.runtime import session
from dwcp_ml.training import pba

from . import onnx_quant, pba_torch
from .pba_torch import CompressConfig, Windows

FLOAT = "float"
# The teacher fine-tuned exactly as the pruned and low-rank variants are, uncompressed: what
# their accuracy change owes to the extra training rather than to the technique.
CONTROL = "float+finetune"


@dataclass(frozen=True)
class Variant:
    """One model as it would be served: its ONNX bytes and how they were checked."""

    name: str
    technique: str
    onnx_bytes: bytes
    verified_against: str  # "torch" or the variant whose float graph it was quantized from
    verification: Verification
    parameters: int  # of the torch module (quantized: of the float module)
    sparsity: float  # share of zero weights in the LSTM and head matrices
    tolerance_used: float  # worst |error| / (atol + rtol |expected|); <= 1 verifies

    @property
    def within_tolerance(self) -> bool:
        return self.tolerance_used <= 1.0

    @property
    def bundle_compatible(self) -> bool:
        return onnx_quant.bundle_compatible(self.onnx_bytes)


def ort_predict(onnx_bytes: bytes) -> Callable[[np.ndarray], np.ndarray]:
    """rows -> outputs through ONNX Runtime in the served profile (1 thread)."""
    s = session(onnx_bytes)

    def run(rows: np.ndarray) -> np.ndarray:
        out: np.ndarray = s.run(None, {INPUT: np.ascontiguousarray(rows, np.float32)})[0]
        return out
    return run


def strip_node_metadata(onnx_bytes: bytes) -> bytes:
    """What the bundle writer keeps (export.metadata.stamp drops the exporter's per-node
    debug metadata), so sizes are the sizes a bundle would hold."""
    proto = onnx.load_from_string(onnx_bytes)
    for node in proto.graph.node:
        del node.metadata_props[:]
    return proto.SerializeToString()


def tolerance_used(onnx_bytes: bytes, native: Callable[[np.ndarray], np.ndarray],
                   rows: np.ndarray, atol: float, rtol: float) -> float:
    """max |onnx - native| / (atol + rtol |native|) over every output: <= 1 verifies.
    (Verification's max_rel_error divides by |native|, which is 0 where relu clips.)"""
    want = np.asarray(native(rows), np.float64)
    got = ort_predict(onnx_bytes)(rows).astype(np.float64)
    return float(np.max(np.abs(got - want) / (atol + rtol * np.abs(want))))


def _torch_variant(name: str, technique: str, model: nn.Module,
                   trained: pba.TrainedPba) -> Variant:
    p = trained.params
    onnx_bytes = strip_node_metadata(onnx_pba.to_onnx(model, p.seq_len, p.n_features))
    check_rules(onnx_bytes, name)
    native, rows = onnx_pba.native(model), trained.holdout_x
    v = verify(onnx_bytes, native, rows, atol=onnx_pba.ATOL, rtol=onnx_pba.RTOL, label=name)
    return Variant(name, technique, onnx_bytes, "torch", v, pba_torch.n_parameters(model),
                   pba_torch.sparsity(model),
                   tolerance_used(onnx_bytes, native, rows, v.atol, v.rtol))


def _quantized(name: str, technique: str, base: Variant, onnx_bytes: bytes,
               trained: pba.TrainedPba) -> Variant:
    """Checked against the float graph it came from. Beyond the tolerance it is still
    returned (``tolerance_used`` > 1), because for a quantized graph the size of the error
    is a result the CV table reports, not a defect."""
    check_rules(onnx_bytes, name)
    native, rows = ort_predict(base.onnx_bytes), trained.holdout_x
    v = verify(onnx_bytes, native, rows, atol=np.inf, rtol=0.0, label=name)  # errors only
    v = replace(v, atol=onnx_quant.ATOL, rtol=onnx_quant.RTOL)
    return Variant(name, technique, onnx_bytes, base.name, v, base.parameters, base.sparsity,
                   tolerance_used(onnx_bytes, native, rows, v.atol, v.rtol))


def _calibration(data: Windows, cc: CompressConfig) -> np.ndarray:
    rng = np.random.default_rng(cc.seed)
    pick = np.sort(rng.choice(len(data.y), size=min(cc.calibration_rows, len(data.y)),
                              replace=False))
    return np.ascontiguousarray(data.x[pick])


def pba_variants(trained: pba.TrainedPba, data: Windows, cc: CompressConfig,
                 progress: bool = False, control: bool = True) -> list[Variant]:
    """The float model, the fine-tuning control (unless ``control`` is False: the tests,
    which time every technique, not the control) and every compressed variant, in table
    order. ``data`` are the fold's training windows (fine-tuning, distillation,
    calibration)."""
    def say(msg: str) -> None:
        if progress:
            print(f"  compress: {msg}", flush=True)

    lstm = getattr(trained.model.net, "lstm", None)
    if not isinstance(lstm, nn.LSTM) or lstm.num_layers != 1:
        raise pba.PbaInputError("compression takes the shipped cell, a 1-layer LSTM")
    h = lstm.hidden_size
    calib = _calibration(data, cc)
    out = [_torch_variant(FLOAT, f"shipped LSTM {h} (teacher)", trained.model, trained)]
    base = out[0]
    if control:
        say("fine-tuning control")
        tuned = pba_torch.copy_model(trained)
        pba_torch.finetune(tuned, trained, data, cc)
        out.append(_torch_variant(CONTROL, "control: the teacher + the same fine-tuning",
                                  tuned, trained))
    say("int8")
    out.append(_quantized("int8-dynamic", "INT8 dynamic (LSTM + head)", base,
                          onnx_quant.dynamic_int8(base.onnx_bytes), trained))
    out.append(_quantized("int8-static", "INT8 static QDQ, calibrated (head MatMul/Gemm)", base,
                          onnx_quant.static_int8(base.onnx_bytes, calib), trained))
    say("magnitude pruning")
    out.append(_torch_variant(f"prune-{cc.prune_amount:.0%}",
                              f"L1 unstructured {cc.prune_amount:.0%} + fine-tune",
                              pba_torch.prune_magnitude(trained, data, cc), trained))
    say("unit pruning")
    out.append(_torch_variant(f"prune-units-{cc.keep_units}",
                              f"L1 structured: {cc.keep_units} of {h} units + fine-tune",
                              pba_torch.prune_units(trained, data, cc), trained))
    say("distillation")
    out.append(_torch_variant(f"distil-{cc.student_hidden}",
                              f"student LSTM {cc.student_hidden} on teacher quantiles",
                              pba_torch.distil(trained, data, cc), trained))
    say("low rank")
    lr = _torch_variant(f"lowrank-{cc.rank}", f"SVD rank {cc.rank} of W_hh + fine-tune",
                        pba_torch.low_rank(trained, data, cc), trained)
    out.append(lr)
    out.append(_quantized(f"lowrank-{cc.rank}+int8-dynamic", "low rank, then INT8 dynamic", lr,
                          onnx_quant.dynamic_int8(lr.onnx_bytes), trained))
    out.append(_quantized(f"lowrank-{cc.rank}+int8-static", "low rank, then INT8 static QDQ",
                          lr, onnx_quant.static_int8(lr.onnx_bytes, calib), trained))
    return out
