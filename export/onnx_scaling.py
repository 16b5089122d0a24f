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

from dwcp_ml.training.scaling import TrainedScaling

from .metadata import check_rules
from .model import OUTPUT, ExportedModel, TensorSpec
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
    thresholds = trained.rule.as_thresholds()  # headroom as chosen on validation
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
            "capacity_rule": "capacity_mhz = max(ceil(max(q, 0) * headroom / unit_mhz), "
                             "min_units) * unit_mhz, in double, in this order",
            "golden_windows": ", ".join(trained.golden_names),
            "headroom": _headroom_note(trained),
        },
    )


def _headroom_note(trained: TrainedScaling) -> str:
    choice = trained.headroom_choice
    if choice is None:
        return f"fixed by the configuration: {trained.rule.headroom:g}"
    p, r = choice.predictive, choice.reactive
    verdict = ("smallest headroom with fewer under-provisioned 5-minute bins than the reactive "
               "scaler at no more capacity-hours" if choice.reachable else
               "target NOT reachable on validation: fewest under-provisioned bins at no more "
               "capacity-hours")
    return (f"{choice.headroom:g}, chosen on the training data's validation part: {verdict} "
            f"(predictive {p.under} bins / {p.capacity_mhz_h:.0f} MHz-h vs reactive target "
            f"{trained.config.reactive_target:g} {r.under} bins / {r.capacity_mhz_h:.0f} MHz-h)")
