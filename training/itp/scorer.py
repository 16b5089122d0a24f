"""The ITP placement scorers: LightGBM and scikit-learn gradient boosting over the feature
core's placement factors, trained on the simulator's counterfactual labels.

A decision is one VM and its feasible hosts; each (decision, host) row has the 154 factors
``fc.placement_factors`` computes and the label ``labels.counterfactual`` gives (work lost on
the host over the next hours with the VM there minus without it, per unit of the VM's CPU
request; higher is worse). A scorer only has to rank the hosts of one decision, and labels of
different decisions sit on different baselines, so the target is the negated *regret*:

    target(decision d, host h) = -(label(d, h) - min over d's hosts of label)

The output is a score, higher is better, 0 for the best host; Go places the VM on the
argmax. Both models regress this target with a squared loss. Decisions are split into
training and held-out parts (never a decision across both); held-out metrics are the mean
regret of the argmax choice and how often it is the best host, beside random choice.

Training data: label generation on training seeds (evaluate.TRAIN_SEED_BASE + i), never on
the evaluation seeds 0..29. Golden requests for the bundle come from one more small
training-seed scenario, captured as DWCP would send them (request.py).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from typing import Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import GradientBoostingRegressor

from dwcp_ml import feature_core as fc
from dwcp_ml.training.data import Trace

from .cluster import ClusterConfig
from .evaluate import TRAIN_SEED_BASE, ScenarioConfig, make_scenario
from .labels import LabelConfig, LabeledDecisions, generate
from .policies import RandomPolicy
from .request import request_from_state
from .simulator import Scenario, SimState, simulate


@dataclass(frozen=True)
class ItpConfig:
    """Training scenarios: ``scenarios`` seeds from TRAIN_SEED_BASE, loads cycling through
    ``loads``, a ``sample`` share of their decisions labelled. Model sizes are set by the
    serving budget (PlaceVM scores up to 1,000 hosts in one batch within 5 ms p99)."""

    scenarios: int = 2
    loads: tuple[float, ...] = (0.65, 0.8, 0.95)
    sample: float = 0.25
    holdout: float = 0.2  # share of decisions held out
    lgbm_trees: int = 150
    lgbm_leaves: int = 15
    lgbm_learning_rate: float = 0.05
    gb_trees: int = 100
    gb_depth: int = 3
    gb_learning_rate: float = 0.1
    gb_rows: int = 20_000  # GradientBoosting is single-threaded: train on a seeded subsample
    golden_requests: int = 6
    golden_hosts: int = 24  # the golden scenario's cluster size
    seed: int = 0
    cluster: ClusterConfig = field(default_factory=ClusterConfig)

    @classmethod
    def tiny(cls) -> ItpConfig:
        """Seconds, for tests and the tiny pipeline."""
        return cls(scenarios=1, loads=(0.8,), sample=0.1, lgbm_trees=20, gb_trees=20,
                   gb_rows=5_000, golden_requests=3)


@dataclass
class TrainedItp:
    lgbm: lgb.LGBMRegressor
    gb: GradientBoostingRegressor
    params: fc.PlacementParams
    config: ItpConfig
    heldout_rows: NDArray[np.float32]  # factors of held-out decisions (export verification)
    golden_requests: list[dict[str, Any]]
    metrics: dict[str, dict[str, float]]
    training_data_digest: str


def factors(params: fc.PlacementParams, data: LabeledDecisions) -> NDArray[np.float32]:
    """The factor rows of every (decision, host), decision after decision."""
    out = np.empty((len(data.label), len(fc.PLACEMENT_FACTORS)), np.float32)
    for d in range(data.n_decisions):
        rows = data.rows_of(d)
        fc.placement_factors(params, *data.query(d).args(), out=out[rows])
    return out


def regret_target(data: LabeledDecisions) -> NDArray[np.float64]:
    """-(label - the decision's best label): 0 for the best host, negative otherwise."""
    best = np.minimum.reduceat(data.label, np.searchsorted(data.decision, np.arange(data.n_decisions)))
    return -(data.label - best[data.decision])


def choice_metrics(data: LabeledDecisions, decisions: NDArray[np.int64],
                   score: NDArray[np.float64] | None, rng: np.random.Generator) -> dict[str, float]:
    """Mean regret of the chosen host and the share of decisions where it is the best;
    ``score`` None means a uniformly random choice (expected values)."""
    regret, best = [], []
    target = regret_target(data)
    for d in decisions:
        rows = data.rows_of(int(d))
        r = -target[rows]
        if score is None:
            regret.append(float(r.mean()))
            best.append(float(np.mean(r == 0)))
        else:
            k = int(np.argmax(score[rows]))
            regret.append(float(r[k]))
            best.append(float(r[k] == 0))
    return {"mean_regret": float(np.mean(regret)), "best_host_rate": float(np.mean(best)),
            "decisions": float(len(decisions))}


def _digest(data: LabeledDecisions) -> str:
    h = hashlib.sha256()
    for name in ("label", "host_capacity", "host_allocated", "host_usage", "host_info",
                 "vm_request", "vm_history", "vm_info"):
        a = np.ascontiguousarray(getattr(data, name))
        h.update(f"{name}{a.dtype.str}{a.shape}".encode() + a.tobytes())
    return "sha256:" + h.hexdigest()


class _Capture:
    """Observer keeping ``n`` decisions of a run as DWCP requests: every ``every``-th
    decision with a choice to make, once the cluster has filled (from step ``start``), so
    the goldens see loaded, different hosts rather than an empty cluster's ties."""

    def __init__(self, n: int, start: int, every: int = 7):
        self.n, self.start, self.every, self.seen, self.requests = n, start, every, 0, []

    def __call__(self, state: SimState, vm: int, feasible: NDArray[np.int64], kind: int) -> None:
        if len(self.requests) >= self.n or state.t < self.start or len(feasible) < 2:
            return
        self.seen += 1
        if self.seen % self.every == 0:
            self.requests.append(request_from_state(state, vm))


def golden_requests(config: ItpConfig) -> list[dict[str, Any]]:
    """Requests of a small training-seed scenario (its cluster fits a golden file), taken
    from the second half of its horizon."""
    cluster = replace(config.cluster, n_hosts=config.golden_hosts)
    scenario = make_scenario(ScenarioConfig(load=0.9, seed=TRAIN_SEED_BASE + 999, cluster=cluster))
    capture = _Capture(config.golden_requests, start=scenario.workload.steps // 2)
    simulate(scenario, RandomPolicy(), observer=capture)
    return capture.requests


def training_scenarios(config: ItpConfig, base: ScenarioConfig | None = None) -> list[Scenario]:
    """config.scenarios scenarios on training seeds (TRAIN_SEED_BASE + i), loads cycling
    through config.loads; ``base`` sets the workload (default: synthetic, config.cluster)."""
    base = base or ScenarioConfig(cluster=config.cluster)
    return [make_scenario(replace(base, load=config.loads[i % len(config.loads)],
                                  seed=TRAIN_SEED_BASE + i))
            for i in range(config.scenarios)]


def train(traces: list[Trace], config: ItpConfig = ItpConfig(), progress: bool = False
          ) -> TrainedItp:
    """Labels from the simulator on the synthetic default workload (``traces`` are not used:
    the simulator generates its VMs from its own seeded workload model), then both scorers."""
    del traces
    return fit(training_scenarios(config), config, progress)


def fit(scenarios: list[Scenario], config: ItpConfig = ItpConfig(), progress: bool = False
        ) -> TrainedItp:
    """Labels decisions of ``scenarios`` (random behaviour policy), then fits both scorers."""
    started = time.perf_counter()
    data = generate(scenarios, RandomPolicy, LabelConfig(sample=config.sample))
    params = fc.PlacementParams(history=int(data.vm_history.shape[1]))
    X = factors(params, data)
    y = regret_target(data)
    rng = np.random.default_rng([config.seed, 0x17B])
    held = rng.random(data.n_decisions) < config.holdout
    fit_rows = ~held[data.decision]
    if progress:
        print(f"itp: {data.n_decisions} decisions, {len(y)} rows "
              f"({time.perf_counter() - started:.1f} s to simulate and label)")

    lgbm = lgb.LGBMRegressor(n_estimators=config.lgbm_trees, num_leaves=config.lgbm_leaves,
                             learning_rate=config.lgbm_learning_rate, min_child_samples=50,
                             subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                             random_state=config.seed, n_jobs=1, deterministic=True,
                             force_row_wise=True, verbose=-1)
    lgbm.fit(X[fit_rows], y[fit_rows])
    fit_idx = np.flatnonzero(fit_rows)
    gb_idx = np.sort(rng.choice(fit_idx, size=min(config.gb_rows, len(fit_idx)), replace=False))
    gb = GradientBoostingRegressor(n_estimators=config.gb_trees, max_depth=config.gb_depth,
                                   learning_rate=config.gb_learning_rate, subsample=0.8,
                                   random_state=config.seed)
    gb.fit(X[gb_idx], y[gb_idx])

    held_decisions = np.flatnonzero(held)
    metrics = {
        "random": choice_metrics(data, held_decisions, None, rng),
        "lightgbm": choice_metrics(data, held_decisions, lgbm.predict(X), rng),
        "gradient_boosting": choice_metrics(data, held_decisions, gb.predict(X), rng),
    }
    metrics["data"] = {"decisions": float(data.n_decisions), "rows": float(len(y)),
                       "heldout_decisions": float(len(held_decisions)),
                       "train_seconds": time.perf_counter() - started}
    heldout_rows = X[~fit_rows][:4096]
    return TrainedItp(lgbm=lgbm, gb=gb, params=params, config=config,
                      heldout_rows=np.ascontiguousarray(heldout_rows),
                      golden_requests=golden_requests(config), metrics=metrics,
                      training_data_digest=_digest(data))


__all__ = ["ItpConfig", "TrainedItp", "train", "fit", "training_scenarios", "factors", "regret_target", "choice_metrics",
           "golden_requests"]
