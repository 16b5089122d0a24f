"""The search engine: an Optuna study in an RDB, K worker processes that join it by name, one
trial = one configuration judged by the family's ``cross_validate`` over fixed folds.

- Samplers: TPE (Bayesian), GP, random, grid (the space's grid, :mod:`.spaces`). Seeds are
  derived from (``--seed``, trials the study held when this command started, worker index),
  so neither two workers nor a second command joining the study repeat earlier proposals.
- Pruners: Hyperband and successive halving over folds: the resource is the number of folds
  done; after each fold the trial reports its mean loss so far through the family's
  :data:`~dwcp_ml.training.cv.FoldCallback` and raises ``optuna.TrialPruned`` when the pruner
  says so. Optuna cannot prune multi-objective trials, so ``loss,latency`` studies run every
  fold.
- Objectives: ``loss`` (the family's CV loss, lower is better) and optionally ``latency``: the
  trial's configuration trained on the first fold's training part, exported to ONNX by the
  family's exporter (verified against the native model) and timed one row per call
  (:mod:`.latency`, p99 in microseconds).
- Storage: any SQLAlchemy URL; default ``sqlite:///<out>/study.db``. ``--trials N`` is what
  this command adds, split over its workers (worker i runs N // K, +1 for i < N % K), so the
  count is exact; another machine running the same command with the same ``--storage`` and
  study name adds its own N to the same study.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import sqlalchemy
from optuna.trial import TrialState
from tqdm import tqdm

from dwcp_ml import families, pipeline
from dwcp_ml.export.go_latency import GoLatencyError
from dwcp_ml.training import cv, selection
from dwcp_ml.training.data import Trace

from . import latency, spaces
from .spaces import SearchError

SAMPLERS = ("tpe", "gp", "random", "grid")
PRUNERS = ("hyperband", "sha", "none")
OBJECTIVES = ("loss", "latency")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass(frozen=True)
class SearchSpec:
    """One ``dwcp-ml search`` run; picklable, so worker processes get exactly this."""

    family: str
    out: Path
    trials: int = 20
    workers: int = 1
    storage: str | None = None  # None: sqlite:///<out>/study.db
    study_name: str | None = None  # None: <family>-<objectives>[-tiny]
    sampler: str = "tpe"
    pruner: str | None = None  # None: hyperband for one objective, none for two
    objectives: tuple[str, ...] = ("loss",)
    train: str | None = None  # selection text; None: the family's dev selection
    data: Path | None = None
    tiny: bool = False
    nas: bool = False  # search the architecture too (pba: cell, layers)
    folds: int = 5
    seed: int = 0
    joined_at: int = 0  # trials the study held when this command started (set by run)
    latency_calls: int = 1000
    budget_us: float = 50.0  # p99 budget the multi-objective pick respects
    progress: bool = True
    command: str = ""  # as typed, for the report

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{self.out.resolve() / 'study.db'}"

    @property
    def name(self) -> str:
        if self.study_name:
            return self.study_name
        return (f"{self.family}{'-nas' if self.nas else ''}-{'-'.join(self.objectives)}"
                + ("-tiny" if self.tiny else ""))

    @property
    def pruner_name(self) -> str:
        if self.pruner is not None:
            return self.pruner
        return "hyperband" if len(self.objectives) == 1 else "none"

    def data_selection(self) -> selection.Selection:
        if self.train is not None:
            return selection.parse(self.train)
        return spaces.get(self.family).dev_selection(self.tiny)


def check(spec: SearchSpec) -> selection.Selection:
    """Every user choice checked before any work starts; returns the parsed selection."""
    spaces.get(spec.family).active(spec.tiny, spec.nas)
    if spec.sampler not in SAMPLERS:
        raise SearchError(f"unknown sampler {spec.sampler!r}; pick one of {', '.join(SAMPLERS)}")
    if spec.pruner_name not in PRUNERS:
        raise SearchError(f"unknown pruner {spec.pruner!r}; pick one of {', '.join(PRUNERS)}")
    if spec.objectives not in (("loss",), ("loss", "latency")):
        raise SearchError(f"--objectives {','.join(spec.objectives)!r}: expected loss or "
                          "loss,latency")
    if len(spec.objectives) > 1 and spec.pruner_name != "none":
        raise SearchError("Optuna cannot prune multi-objective trials: pass --pruner none "
                          "with --objectives loss,latency")
    if spec.workers > spec.trials:
        raise SearchError(f"--workers {spec.workers} > --trials {spec.trials}: every worker "
                          "needs at least one trial")
    return spec.data_selection()


def storage(url: str) -> optuna.storages.RDBStorage:
    """The study's RDB; sqlite waits up to 60 s for a lock other workers hold."""
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SearchError(f"--storage {safe_url(url)}: {first}") from None


def safe_url(url: str) -> str:
    """The URL with any password hidden, for errors and reports."""
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:  # not a URL at all: nothing to hide
        return url


def sampler(spec: SearchSpec, worker: int) -> optuna.samplers.BaseSampler:
    seed = int(np.random.SeedSequence([spec.seed, spec.joined_at, worker]).generate_state(1)[0])
    if spec.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if spec.sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.GridSampler(spaces.get(spec.family).grid(spec.tiny, spec.nas),
                                       seed=spec.seed)


def pruner(spec: SearchSpec) -> optuna.pruners.BasePruner:
    """Resource = folds done: Hyperband over 1..folds (factor 3); successive halving with
    rungs at 1, 2, 4 folds (factor 2)."""
    if spec.pruner_name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=spec.folds,
                                              reduction_factor=3)
    if spec.pruner_name == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2)
    return optuna.pruners.NopPruner()


def _study_attrs(spec: SearchSpec, sel: selection.Selection) -> dict[str, Any]:
    """What a joining worker must agree on: the same family, data, folds and objectives."""
    return {"family": spec.family, "data": sel.describe(), "tiny": spec.tiny, "nas": spec.nas,
            "folds": spec.folds, "objectives": list(spec.objectives)}


def open_study(spec: SearchSpec, sel: selection.Selection, worker: int = 0) -> optuna.Study:
    directions = ["minimize"] * len(spec.objectives)
    study = optuna.create_study(storage=storage(spec.storage_url), study_name=spec.name,
                                sampler=sampler(spec, worker), pruner=pruner(spec),
                                directions=directions, load_if_exists=True)
    want = _study_attrs(spec, sel)
    have = study.user_attrs
    if not have:
        for key, value in want.items():
            study.set_user_attr(key, value)
    elif any(have.get(k) != v for k, v in want.items()):
        diff = ", ".join(f"{k} {have.get(k)!r} != {v!r}" for k, v in want.items()
                         if have.get(k) != v)
        raise SearchError(f"study {spec.name!r} in {safe_url(spec.storage_url)} was made for "
                          f"other settings ({diff}); pass another --study-name")
    return study


class Objective:
    """One trial: sample, cross-validate (reporting each fold), optionally time the model."""

    def __init__(self, spec: SearchSpec, traces: list[Trace], worker: int) -> None:
        self.spec = spec
        self.space = spaces.get(spec.family)
        self.traces = traces
        self.folds = self.space.folds(traces, spec.folds)
        self.cross_validate = self.space.cross_validate()
        self.worker = worker

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        started = time.perf_counter()
        params = self.space.suggest(trial, self.spec.tiny, self.spec.nas)
        config = self.space.config(params, self.spec.tiny)
        trial.set_user_attr("worker", self.worker)
        trial.set_user_attr("pid", os.getpid())
        prune = len(self.spec.objectives) == 1

        def on_fold(index: int, mean_so_far: float) -> None:
            if prune:
                trial.report(mean_so_far, step=index + 1)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after {index + 1} folds")

        result = self.cross_validate(self.traces, config, self.folds, on_fold=on_fold)
        mean, sd = result.mean_std(result.loss)
        trial.set_user_attr("loss_metric", result.loss)
        trial.set_user_attr("fold_losses", result.values(result.loss).tolist())
        trial.set_user_attr("loss_sd", sd)
        trial.set_user_attr("metrics", {m: list(result.mean_std(m)) for m in result.model[0]})
        trial.set_user_attr("baselines", {
            name: list(result.mean_std(result.loss, name)) for name in result.baselines})
        trial.set_user_attr("cv_seconds", time.perf_counter() - started)
        if not prune:
            timed = self._latency(config)
            trial.set_user_attr("latency_p50_us", timed.p50_us)
            trial.set_user_attr("latency_backend", timed.backend)
            trial.set_user_attr("load_average", os.getloadavg()[0])  # a shared machine's p99
            return mean, timed.p99_us
        return mean

    def _latency(self, config: Any) -> latency.Latency:
        """Trains the configuration on the first fold's training part (the smallest, so the
        timing costs least; the model's shape, not its weights, decides the latency) and
        times its verified ONNX export."""
        first = self.folds[0]
        part = (cv.train_part(self.traces, first) if isinstance(first, cv.TimeFold)
                else cv.pick(self.traces, first.train))
        family = families.FAMILIES[self.spec.family]
        model = family.export_models(family.train(part, config, False))[0]
        return latency.measure(model.onnx_bytes, model.inputs[0].shape, self.spec.latency_calls)


def load_traces(spec: SearchSpec, sel: selection.Selection) -> list[Trace]:
    return spaces.get(spec.family).load(sel, spec.data)


def _one_thread() -> None:
    """Each worker is one core: the OpenMP/BLAS pools get one thread (read when torch or
    LightGBM load; a spawned worker has loaded neither yet), torch too if already loaded.
    The spaces also fix the family's own thread setting (PbaConfig.threads, n_jobs) to 1."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def work(spec: SearchSpec, worker: int, quota: int,
         callbacks: list[Any] | None = None) -> None:
    """Runs ``quota`` trials of the study in this process."""
    _one_thread()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sel = check(spec)
    objective = Objective(spec, load_traces(spec, sel), worker)
    study = open_study(spec, sel, worker)
    if "fold_ranges" not in study.user_attrs:  # for the report; every worker computes the same
        study.set_user_attr("fold_ranges", [f.describe() for f in objective.folds])
        names = [t.name for t in objective.traces]
        study.set_user_attr("traces", f"{len(names)} traces: " + ", ".join(names[:6])
                            + (", ..." if len(names) > 6 else ""))
    study.optimize(objective, n_trials=quota, callbacks=callbacks or [])


def _worker_main(spec: SearchSpec, worker: int, quota: int) -> None:
    try:
        work(spec, worker, quota)
    except (pipeline.PipelineError, GoLatencyError) as exc:  # SearchError too: one line
        raise SystemExit(f"dwcp-ml: error: worker {worker}: {exc}") from None
    except BaseException:
        traceback.print_exc()
        raise SystemExit(1) from None


def quotas(trials: int, workers: int) -> list[int]:
    return [trials // workers + (1 if i < trials % workers else 0) for i in range(workers)]


def run(spec: SearchSpec) -> optuna.Study:
    """Checks the spec, creates (or joins) the study, runs the workers, returns the study."""
    sel = check(spec)
    try:
        spec.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SearchError(f"--out {spec.out}: {exc.strerror}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(spec, sel)  # tables and the study exist before workers join
    before = len(study.get_trials(deepcopy=False, states=FINISHED))
    spec = dataclasses.replace(spec, joined_at=len(study.get_trials(deepcopy=False)))
    bar = tqdm(total=spec.trials, desc=f"search {spec.family}", unit="trial",
               disable=not spec.progress)
    shares = quotas(spec.trials, spec.workers)
    try:
        if spec.workers == 1:
            work(spec, 0, shares[0], callbacks=[lambda _s, _t: bar.update(1)])
        else:
            _run_processes(spec, shares, study, before, bar)
    finally:
        bar.close()
    return study


def _run_processes(spec: SearchSpec, shares: list[int], study: optuna.Study, before: int,
                   bar: tqdm) -> None:
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch state
    procs = [ctx.Process(target=_worker_main, args=(spec, i, n), name=f"search-worker-{i}")
             for i, n in enumerate(shares)]
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs):
            time.sleep(0.5)
            done = len(study.get_trials(deepcopy=False, states=FINISHED)) - before
            bar.update(max(0, min(done, spec.trials) - bar.n))
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    failed = [f"worker {i} exit {p.exitcode}" for i, p in enumerate(procs) if p.exitcode]
    if failed:
        raise SearchError(f"{', '.join(failed)} (its error is printed above)")
    bar.update(spec.trials - bar.n)
