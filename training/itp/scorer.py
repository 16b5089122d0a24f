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

import functools
import hashlib
import time
from dataclasses import dataclass, field, replace
from typing import Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import GradientBoostingRegressor

from dwcp_ml import feature_core as fc
from dwcp_ml.spec.model import DRIFT_MAX_ROWS, DriftSample, evenly_spaced
from dwcp_ml.training.data import Trace

from .cluster import ClusterConfig
from .evaluate import TRAIN_SEED_BASE, ScenarioConfig, make_scenario
from .labels import LABEL_HORIZON, LabelConfig, LabeledDecisions, generate
from .policies import RandomPolicy
from .query import build_query
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
    # Label horizon in steps; None = the VM's whole remaining life (the oracle's lookahead,
    # labels.lookahead_label), with peak_weight x the projected peak utilisation added.
    label_horizon: int | None = LABEL_HORIZON
    peak_weight: float = 0.0
    # DAgger: after the first fit on the random policy's states, ``dagger_rounds`` rounds
    # each run the current scorer on ``dagger_scenarios`` new training-seed scenarios
    # (seeds TRAIN_SEED_BASE + 100 * round + i), label its own states and refit on all.
    dagger_rounds: int = 0
    dagger_scenarios: int = 2
    # "regret": -(label - the decision's best); "scaled": the same divided by the decision's
    # label range (every decision weighs the same; ranks within a decision in [-1, 0]).
    target: str = "regret"
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

    def __post_init__(self) -> None:
        if self.scenarios < 1 or self.dagger_rounds < 0 or self.dagger_scenarios < 1:
            raise ValueError("ItpConfig needs scenarios >= 1, dagger_rounds >= 0 and "
                             "dagger_scenarios >= 1")
        if self.target not in ("regret", "scaled"):
            raise ValueError(f"ItpConfig.target must be 'regret' or 'scaled', got "
                             f"{self.target!r}")

    def label_config(self) -> LabelConfig:
        return LabelConfig(horizon=self.label_horizon, sample=self.sample,
                           peak_weight=self.peak_weight)

    @classmethod
    def dagger(cls) -> ItpConfig:
        """The issue-15 recipe (docs/itp.md "The learned placer, recipe 2"), fixed on
        validation seeds TRAIN_SEED_BASE + 5000..5002 before the evaluation: full-lookahead
        labels with peak weight 0.1, the scaled regret target, 2 DAgger rounds of 2
        scenarios; the same factors, model sizes and export as the shipped ``itp``."""
        return cls(label_horizon=None, peak_weight=0.1, target="scaled", dagger_rounds=2,
                   dagger_scenarios=2)

    @classmethod
    def shipped(cls, tiny: bool = False) -> ItpConfig:
        """What the default bundle ships: recipe 2 (``tiny``: the seconds-long form)."""
        return cls.tiny() if tiny else cls.dagger()

    @classmethod
    def tiny(cls) -> ItpConfig:
        """Seconds, for tests and the tiny pipeline."""
        return cls(scenarios=1, loads=(0.8,), sample=0.1, lgbm_trees=20, gb_trees=20,
                   gb_rows=5_000, golden_requests=3)


def recipes() -> dict[str, ItpConfig]:
    """The named training configurations; the manifest names the one a model was trained
    with (training_data.generator), so its training data can be regenerated."""
    return {"dagger": ItpConfig.dagger(), "default": ItpConfig(), "tiny": ItpConfig.tiny()}


def recipe_of(config: ItpConfig) -> str:
    """The name of ``config`` in recipes(), or "custom"."""
    return next((name for name, c in recipes().items() if c == config), "custom")


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
    drift_sample: DriftSample


def factors(params: fc.PlacementParams, data: LabeledDecisions) -> NDArray[np.float32]:
    """The factor rows of every (decision, host), decision after decision."""
    out = np.empty((len(data.label), len(fc.PLACEMENT_FACTORS)), np.float32)
    for d in range(data.n_decisions):
        rows = data.rows_of(d)
        fc.placement_factors(params, *data.query(d).args(), out=out[rows])
    return out


def regret_target(data: LabeledDecisions, kind: str = "regret") -> NDArray[np.float64]:
    """-(label - the decision's best label): 0 for the best host, negative otherwise;
    ``kind`` "scaled" divides it by the decision's label range (0 when all are equal)."""
    starts = np.searchsorted(data.decision, np.arange(data.n_decisions))
    best = np.minimum.reduceat(data.label, starts)
    regret = -(data.label - best[data.decision])
    if kind == "scaled":
        span = np.maximum.reduceat(data.label, starts) - best
        scale = np.where(span > 0, span, 1.0)
        return regret / scale[data.decision]
    return regret


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


class ScorerPolicy:
    """A fitted native scorer as a placement policy (argmax of its score over the feasible
    hosts' factors, ties to the lowest index): the DAgger behaviour policy."""

    def __init__(self, model: Any, params: fc.PlacementParams, name: str = "scorer"):
        self.model, self.params, self.name = model, params, name
        # The Booster's own predict, the same scores: the scikit-learn wrapper validates X and
        # re-derives every parameter on each call, which cost more than the trees here.
        self._predict = model.booster_.predict if isinstance(model, lgb.LGBMModel) else model.predict

    def reset(self, scenario: Scenario) -> None:
        pass

    def choose(self, state: SimState, vm: int, feasible: NDArray[np.int64]) -> int:
        x = fc.placement_factors(self.params, *build_query(state, vm, feasible).args())
        return int(feasible[int(np.argmax(self._predict(x)))])


def _concat(parts: list[LabeledDecisions]) -> LabeledDecisions:
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [p.n_decisions for p in parts[:-1]])
    kw: dict[str, Any] = {"decision": np.concatenate([p.decision + o
                                                      for p, o in zip(parts, offsets)])}
    for name in ("host", "label", "host_capacity", "host_allocated", "host_usage", "host_info",
                 "vm_request", "vm_history", "vm_info", "step", "vm", "chosen"):
        kw[name] = np.concatenate([getattr(p, name) for p in parts])
    kw["scenario"] = tuple(x for p in parts for x in p.scenario)
    return LabeledDecisions(**kw)


def _lgbm(config: ItpConfig) -> lgb.LGBMRegressor:
    return lgb.LGBMRegressor(n_estimators=config.lgbm_trees, num_leaves=config.lgbm_leaves,
                             learning_rate=config.lgbm_learning_rate, min_child_samples=50,
                             subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                             random_state=config.seed, n_jobs=1, deterministic=True,
                             force_row_wise=True, verbose=-1)


@dataclass
class TrainingData:
    """The labelled decisions a scorer fits (all DAgger rounds), their factor rows and the
    held-out split: ``held`` per decision, ``fit`` per row."""

    data: LabeledDecisions
    x: NDArray[np.float32]
    params: fc.PlacementParams
    held: NDArray[np.bool_]
    fit: NDArray[np.bool_]

    def drift_sample(self, config: ItpConfig) -> DriftSample:
        """The fit rows, at most DRIFT_MAX_ROWS of them evenly spaced (decision after
        decision), as the bundle's drift reference sample: the bundle writer and a later
        regeneration (lifecycle/drift.py) cut the same rows."""
        rows = self.x[self.fit]
        rounds = (f", then {config.dagger_rounds} DAgger rounds of {config.dagger_scenarios} "
                  "scenarios placed by the round's own scorer" if config.dagger_rounds else "")
        horizon = (f"{config.label_horizon} steps" if config.label_horizon is not None
                   else "the VM's remaining life")
        text = (f"ITP simulator decisions of the training scenarios ({config.scenarios} "
                f"scenarios of the random placer, loads {list(config.loads)}{rounds}; labels: "
                f"horizon {horizon}, peak weight "
                f"{config.peak_weight}, target {config.target}), the factor rows of the "
                f"decisions not held out (the scorers' fit rows), decision after decision, "
                f"{min(len(rows), DRIFT_MAX_ROWS)} of {len(rows)} evenly spaced")
        return DriftSample(np.ascontiguousarray(rows[evenly_spaced(len(rows))]), text)


def _split(parts: list[LabeledDecisions], x_parts: list[NDArray[np.float32]],
           params: fc.PlacementParams, config: ItpConfig) -> TrainingData:
    data = _concat(parts)
    # The same stream every round: a decision held out once stays held out.
    held = np.random.default_rng([config.seed, 0x17B]).random(data.n_decisions) < config.holdout
    return TrainingData(data, np.concatenate(x_parts), params, held, ~held[data.decision])


def _fit_lgbm(td: TrainingData, config: ItpConfig) -> lgb.LGBMRegressor:
    lgbm = _lgbm(config)
    lgbm.fit(td.x[td.fit], regret_target(td.data, config.target)[td.fit])
    return lgbm


def training_data(scenarios: list[Scenario], config: ItpConfig, progress: bool = False,
                  base: ScenarioConfig | None = None) -> TrainingData:
    """Labels decisions of ``scenarios`` (random behaviour policy), then runs
    ``config.dagger_rounds`` DAgger rounds on new training-seed scenarios built from ``base``
    (default: synthetic on config.cluster), each placed by a LightGBM scorer fitted on all the
    data so far and labelled by the oracle's rule. Deterministic: the same arguments give the
    same data (its digest is the model's training_data_digest)."""
    started = time.perf_counter()
    labels = config.label_config()
    data = generate(scenarios, RandomPolicy, labels)
    params = fc.PlacementParams(history=int(data.vm_history.shape[1]))
    parts, x_parts = [data], [factors(params, data)]
    base = base or ScenarioConfig(cluster=config.cluster)
    for round_ in range(config.dagger_rounds):
        td = _split(parts, x_parts, params, config)
        if progress:
            print(f"itp: round {round_}: {td.data.n_decisions} decisions, {len(td.x)} rows "
                  f"({time.perf_counter() - started:.1f} s)")
        lgbm = _fit_lgbm(td, config)
        new = [make_scenario(replace(base, load=config.loads[i % len(config.loads)],
                                     seed=TRAIN_SEED_BASE + 100 * (round_ + 1) + i))
               for i in range(config.dagger_scenarios)]
        behaviour = functools.partial(ScorerPolicy, lgbm, params, f"dagger{round_}")
        more = generate(new, behaviour, labels)
        parts.append(more)
        x_parts.append(factors(params, more))
    return _split(parts, x_parts, params, config)


def fit(scenarios: list[Scenario], config: ItpConfig = ItpConfig(), progress: bool = False,
        base: ScenarioConfig | None = None) -> TrainedItp:
    """Both scorers on ``training_data(scenarios, config, progress, base)``."""
    started = time.perf_counter()
    td = training_data(scenarios, config, progress, base)
    data, X, params, held, fit_rows = td.data, td.x, td.params, td.held, td.fit
    y = regret_target(data, config.target)
    if progress:
        print(f"itp: final fit: {data.n_decisions} decisions, {len(y)} rows "
              f"({time.perf_counter() - started:.1f} s)")
    lgbm = _fit_lgbm(td, config)
    rng = np.random.default_rng([config.seed, 0x17B])
    rng.random(data.n_decisions)  # the held-out draw (_split): the stream continues after it
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
                       "dagger_rounds": float(config.dagger_rounds),
                       "train_seconds": time.perf_counter() - started}
    heldout_rows = X[~fit_rows][:4096]
    return TrainedItp(lgbm=lgbm, gb=gb, params=params, config=config,
                      heldout_rows=np.ascontiguousarray(heldout_rows),
                      golden_requests=golden_requests(config), metrics=metrics,
                      training_data_digest=_digest(data), drift_sample=td.drift_sample(config))


__all__ = ["ItpConfig", "TrainedItp", "TrainingData", "ScorerPolicy", "train", "fit",
           "training_data", "training_scenarios", "recipes", "recipe_of",
           "factors", "regret_target", "choice_metrics", "golden_requests"]
