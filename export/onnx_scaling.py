"""ONNX export of the scaling (capacity) forecaster: LightGBM -> one TreeEnsembleRegressor.

Tolerance. LightGBM adds its trees' leaf values in double; ONNX Runtime's TreeEnsemble
adds them in float32 and returns float32. Splits decide identically (thresholds are rounded
down to float32, see trees.py; inputs are float32 already), so the only
difference is rounding: a few float32 ULPs of the running sum, relative ~1e-6. We allow
|onnx - native| <= ATOL + RTOL * |native| with RTOL = 1e-5 and ATOL = 1e-2 MHz (the output is
in MHz and capacity is granted in 100 MHz units, so 0.01 MHz is far below anything that can
matter; the atol covers outputs near 0 where a relative bound means nothing). The measured
error is recorded in the bundle's verification entry.
"""

from __future__ import annotations

from dwcp_ml.spec.model import OUTPUT, ExportedModel, TensorSpec
from dwcp_ml.training.scaling import TrainedScaling

from .metadata import check_rules
from .trees import lightgbm_to_onnx
from .verify import verify

NAME = "scaling"
FAMILY = "scaling"
VERSION = "1.0.0"
RTOL = 1e-5
ATOL = 1e-2  # MHz


def to_onnx(trained: TrainedScaling) -> bytes:
    """Unverified ONNX bytes: float32 ``input`` [N, features] -> float32 ``output`` [N, 1]."""
    return lightgbm_to_onnx(trained.model, trained.input_spec.shape[1], NAME)


def export(trained: TrainedScaling) -> ExportedModel:
    """Converts, checks the export rules and verifies against the native model on the
    held-out rows; raises ExportVerificationError naming the worst row on a mismatch."""
    onnx_bytes = to_onnx(trained)
    check_rules(onnx_bytes, NAME)
    verification = verify(onnx_bytes, trained.predict, trained.heldout_rows,
                          atol=ATOL, rtol=RTOL, label=NAME)
    config = trained.config
    thresholds = trained.rule.as_thresholds()  # headroom and floor as calibrated
    thresholds.update({"alpha": float(config.alpha), "horizon_steps": float(config.horizon)})
    return ExportedModel(
        name=NAME, family=FAMILY, version=VERSION, onnx_bytes=onnx_bytes,
        inputs=[trained.input_spec], outputs=[TensorSpec(OUTPUT, (None, 1))],
        feature_params=trained.params, verification=verification,
        golden_ts=trained.golden_ts, golden_values=trained.golden_values,
        training_data_digest=trained.training_data_digest, thresholds=thresholds,
        metrics=dict(trained.metrics),
        notes={
            "output": (f"upper quantile (alpha={config.alpha}) of the peak 5-minute CPU demand "
                       f"in MHz over the next {config.horizon} steps after the window's last "
                       "sample"),
            "input": "one flat row per window: seq_len steps x 9 metric-schema features, "
                     "step-major (row = windows.reshape(n, -1))",
            "capacity_rule": "capacity_mhz = max(max(ceil(max(q, 0) * headroom / unit_mhz), "
                             "ceil(max(p, 0) * floor / unit_mhz)), min_units) * unit_mhz, in "
                             "double, in this order; p = the largest 'value' feature of the "
                             "input row's last horizon_steps steps (float32 widened)",
            "golden_windows": ", ".join(trained.golden_names),
            "headroom": _headroom_note(trained),
        },
    )


def _headroom_note(trained: TrainedScaling) -> str:
    from dwcp_ml.training.scaling import shipped_calibration

    c = shipped_calibration(trained.calibrations, trained.config.policy)
    verdict = "met" if c.reachable else "NOT met (smallest under-provisioning found)"
    return (f"policy {trained.rule.policy} (config {trained.config.policy}), headroom "
            f"{trained.rule.headroom:g}, floor {trained.rule.floor:g}: calibrated for the SLO "
            f"{c.slo:g} of 5-minute bins under-provisioned{_slo_form(trained)} on "
            f"{len(trained.calib_folds)} inner "
            f"rolling folds of the training data, SLO {verdict} there (share "
            f"{c.result.under_share:.4f}, capacity {c.result.capacity_mhz_h:.0f} MHz-h vs "
            f"reactive target {trained.config.reactive_target:g} {c.reactive.under_share:.4f} / "
            f"{c.reactive.capacity_mhz_h:.0f} MHz-h)")


def _slo_form(trained: TrainedScaling) -> str:
    r = trained.config.slo_vs_reactive
    return "" if r is None else f" ({r:g} x the reactive scaler's share there)"
