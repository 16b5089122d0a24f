"""ONNX export of the ITP placement scorers: LightGBM (``itp``, the one PlaceVM serves) and
scikit-learn GradientBoosting (``itp_gb``, the comparison), each one TreeEnsembleRegressor
from float32 ``input`` [N, 154] to float32 ``output`` [N, 1] = the placement score, higher is
better.

Tolerance: both native models add leaf values in double, ONNX Runtime in float32; splits
decide identically because thresholds are rounded down to float32 (trees.py). Scores are
regrets in units of the VM's CPU request over the label horizon (typically 0 .. 1), so we
allow |onnx - native| <= 1e-5 + 1e-5 |native|; the measured error is in the manifest.
"""

from __future__ import annotations

from typing import Any

from dwcp_ml import feature_core as fc
from dwcp_ml.spec.model import OUTPUT, ExportedModel, TensorSpec
from dwcp_ml.training.itp.evaluate import TRAIN_SEED_BASE
from dwcp_ml.training.itp.scorer import ItpConfig, TrainedItp, recipe_of

from .metadata import check_rules
from .trees import lightgbm_to_onnx, sklearn_gb_to_onnx
from .verify import verify

FAMILY = "itp"
VERSION = "1.0.0"
ATOL = 1e-5
RTOL = 1e-5


def _thresholds(trained: TrainedItp) -> dict[str, float]:
    """The simulator's capacity rule, which the Go constraint filter applies by default."""
    from dwcp_ml.training.itp.simulator import SimConfig

    names = fc.PLACEMENT_RESOURCES
    return {f"overcommit_{r}": float(v) for r, v in zip(names, SimConfig().overcommit)}


def _notes(kind: str, config: ItpConfig) -> dict[str, str]:
    horizon = ("the label horizon" if config.label_horizon is not None
               else "the VM's remaining life")
    peak = (f", plus {config.peak_weight} x its projected peak utilisation"
            if config.peak_weight else "")
    scaled = (", divided by the decision's label range (scores in [-1, 0])"
              if config.target == "scaled" else "")
    return {
        "output": ("placement score of the VM on this host, higher is better: minus the "
                   f"predicted regret (work lost over {horizon} with the VM there, minus "
                   f"the best host's, per unit of the VM's CPU request{peak}){scaled}; "
                   "0 = the best host"),
        "input": "one row per feasible candidate host: the 154 placement factors "
                 "(docs/placement-factors.md), unnormalised",
        "constraints": "hard constraints (capacity x overcommit_*, anti-affinity, failure-domain "
                       "spread, maintenance) are applied before scoring, never by the model",
        "model": kind,
    }


def _training_data(config: ItpConfig) -> dict[str, object]:
    """Simulator decisions: the recipe's name lets lifecycle/drift.py regenerate them."""
    return {"kind": "synthetic", "seed": TRAIN_SEED_BASE,
            "generator": f"dwcp-ml ITP simulator (training/itp), recipe {recipe_of(config)}"}


def export(trained: TrainedItp) -> list[ExportedModel]:
    """Both scorers, converted, rule-checked and verified on held-out factor rows."""
    n = trained.heldout_rows.shape[1]
    spec = TensorSpec("input", (None, n))
    out: list[ExportedModel] = []
    for name, native, convert, kind in (
        ("itp", trained.lgbm, lightgbm_to_onnx, "LightGBM regression on the negated regret"),
        ("itp_gb", trained.gb, sklearn_gb_to_onnx,
         "scikit-learn GradientBoostingRegressor on the negated regret"),
    ):
        onnx_bytes = convert(native, n, name)
        check_rules(onnx_bytes, name)
        verification = verify(onnx_bytes, native.predict, trained.heldout_rows,
                              atol=ATOL, rtol=RTOL, label=name)
        metrics: dict[str, Any] = {
            f"heldout_{k}": v for k, v in
            trained.metrics["lightgbm" if name == "itp" else "gradient_boosting"].items()}
        metrics.update({f"random_{k}": v for k, v in trained.metrics["random"].items()})
        out.append(ExportedModel(
            name=name, family=FAMILY, version=VERSION, onnx_bytes=onnx_bytes,
            inputs=[spec], outputs=[TensorSpec(OUTPUT, (None, 1))],
            feature_params=trained.params, verification=verification,
            golden_ts=None, golden_values=None, golden_requests=trained.golden_requests,
            training_data_digest=trained.training_data_digest,
            thresholds=_thresholds(trained), metrics=metrics, notes=_notes(kind, trained.config),
            training_data=_training_data(trained.config), drift_sample=trained.drift_sample))
    return out
