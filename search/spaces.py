"""What each family searches over, in one registry: parameters, their ranges (a real and a
``--tiny`` range), the grid derived from them, where the traces come from, how they are
split into folds, and which ``cross_validate`` judges a configuration.

A space never computes a metric or a split of its own: folds come from
:mod:`dwcp_ml.training.cv` and the loss from the family's ``eval_<family>.cross_validate``.
Fixed overrides (one thread) are applied on top of every sampled configuration so that K
worker processes use K cores, not K x all of them.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from dwcp_ml.families import FAMILIES
from dwcp_ml.pipeline import PipelineError
from dwcp_ml.training import cv, data, selection
from dwcp_ml.training.data import Trace

Value = int | float | str
TINY_DATA = "synthetic"  # what --tiny searches on: embedded data (anomaly: the shipped NAB)


class SearchError(PipelineError):
    """Bad input to a search (unknown family, sampler, storage...); the CLI prints one line."""


@dataclass(frozen=True)
class Param:
    """One searched configuration field.

    ``kind`` "int" / "float" take ``[low, high]`` (``log`` for scale parameters, ``step`` for
    linear ints); "cat" takes ``choices``. ``grid`` is what the grid sampler tries (for "cat"
    the choices themselves unless given).
    """

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: int | None = None
    choices: tuple[Value, ...] = ()
    grid: tuple[Value, ...] = ()

    def suggest(self, trial: optuna.Trial) -> Value:
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log,
                                     step=self.step or 1)
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log)
        return trial.suggest_categorical(self.name, list(self.choices))

    def grid_values(self) -> list[Value]:
        return list(self.grid or self.choices)


@dataclass(frozen=True)
class Space:
    """One family's search: ``params`` (real data) and ``tiny`` (tests, seconds per trial);
    ``nas`` / ``tiny_nas``: the architecture, searched too with ``--nas`` (pba only)."""

    family: str
    config_module: str  # under dwcp_ml.training
    config_class: str
    params: tuple[Param, ...]
    tiny: tuple[Param, ...]
    load: Callable[[selection.Selection, Path | None], list[Trace]]
    folds: Callable[[list[Trace], int], list[Any]]
    fixed: dict[str, Value] = field(default_factory=dict)  # applied to every configuration
    nas: tuple[Param, ...] = ()
    tiny_nas: tuple[Param, ...] = ()

    def _cls(self) -> type:
        module = importlib.import_module(f"dwcp_ml.training.{self.config_module}")
        return getattr(module, self.config_class)

    def fields(self) -> set[str]:
        return {f.name for f in dataclasses.fields(self._cls())}

    def active(self, tiny: bool, nas: bool = False) -> tuple[Param, ...]:
        """The parameters searched; ``nas`` adds the architecture."""
        if nas and not self.nas:
            raise SearchError(f"--nas: {self.family} has no architecture space (pba has)")
        arch = (self.tiny_nas if tiny else self.nas) if nas else ()
        return arch + (self.tiny if tiny else self.params)

    def suggest(self, trial: optuna.Trial, tiny: bool, nas: bool) -> dict[str, Value]:
        return {p.name: p.suggest(trial) for p in self.active(tiny, nas)}

    def grid(self, tiny: bool, nas: bool) -> dict[str, list[Value]]:
        return {p.name: p.grid_values() for p in self.active(tiny, nas)}

    def base(self, tiny: bool) -> Any:
        cls = self._cls()
        return cls.tiny() if tiny else cls()

    def config(self, params: dict[str, Value], tiny: bool) -> Any:
        """The family's config: its default (or tiny) one with ``params`` and ``fixed``."""
        unknown = sorted(set(params) - self.fields())
        if unknown:
            raise SearchError(f"{self.config_class} has no field {', '.join(unknown)}")
        return dataclasses.replace(self.base(tiny), **params, **self.fixed)

    def cross_validate(self) -> Callable[..., cv.CvResult]:
        fn = getattr(_eval(self.family), "cross_validate", None)
        if fn is None:
            raise SearchError(f"{FAMILIES[self.family].evaluation} has no cross_validate yet; "
                              f"{self.family} cannot be searched")
        return fn

    def dev_selection(self, tiny: bool) -> selection.Selection:
        """What a search without --train runs on: the eval module's ``DEV`` (tiny: TINY_DATA)."""
        return selection.parse(TINY_DATA) if tiny else _eval(self.family).DEV


# --------------------------------------------------------------------------- data and folds

def _eval(family: str) -> Any:
    return importlib.import_module(FAMILIES[family].evaluation)


def _eval_load(family: str) -> Callable[[selection.Selection, Path | None], list[Trace]]:
    """The family's own loader (``evaluation.<family>.load``): search reads what eval reads."""
    def load(sel: selection.Selection, root: Path | None) -> list[Trace]:
        return _eval(family).load(sel, root)
    return load


def _pba_folds(traces: list[Trace], n_folds: int) -> list[cv.TimeFold]:
    """evaluation.pba's rolling-origin folds (14 training days or half a shorter span, 1-day
    gap)."""
    time_folds, _ = _eval("pba").dev_folds(traces, n_folds)
    return time_folds


def _scaling_folds(traces: list[Trace], n_folds: int) -> list[cv.TimeFold]:
    """evaluation.scaling's rolling-origin folds (as pba's: the policies run forward in time)."""
    return _eval("scaling").dev_folds(traces, n_folds)


def _nab_load(sel: selection.Selection, root: Path | None) -> list[Trace]:
    """NAB series; ``synthetic`` = the series shipped in training/nab (no shared data)."""
    from dwcp_ml.training import anomaly

    if sel.kind == "synthetic":
        return anomaly.shipped_traces()
    if sel.kind != "nab":
        raise SearchError(f"anomaly searches on NAB series, not {sel.describe()}")
    return sel.load_nab(data.data_dir(root))


def _series_folds(traces: list[Trace], n_folds: int) -> list[cv.GroupFold]:
    """Leave-series-out, ``n_folds`` groups (at most one series each)."""
    return cv.leave_series_out([t.name for t in traces], min(n_folds, len(traces)))


# --------------------------------------------------------------------------- the registry

def _cat(name: str, *choices: Value) -> Param:
    return Param(name, "cat", choices=choices)


SPACES: dict[str, Space] = {
    "scaling": Space(
        family="scaling", config_module="scaling", config_class="ScalingConfig",
        params=(
            Param("n_estimators", "int", 100, 600, step=50, grid=(150, 300)),
            Param("num_leaves", "int", 7, 63, log=True, grid=(15, 31)),
            Param("learning_rate", "float", 0.01, 0.2, log=True, grid=(0.05, 0.1)),
            Param("min_child_samples", "int", 20, 400, log=True, grid=(50, 200)),
            _cat("seq_len", 6, 12, 24),
            _cat("stat_window", 6, 12, 36),
        ),
        tiny=(
            Param("n_estimators", "int", 10, 40, step=10, grid=(10, 30)),
            Param("num_leaves", "int", 3, 15, grid=(3, 7)),
            Param("learning_rate", "float", 0.05, 0.3, log=True, grid=(0.1,)),
            Param("seq_len", "cat", choices=(4, 6), grid=(4,)),
        ),
        load=_eval_load("scaling"), folds=_scaling_folds,
        fixed={"n_jobs": 1},
    ),
    "pba": Space(
        family="pba", config_module="pba", config_class="PbaConfig",
        params=(
            Param("hidden", "int", 16, 128, log=True, grid=(32, 128)),
            Param("lr", "float", 3e-4, 1e-2, log=True, grid=(2e-3,)),
            Param("epochs", "int", 1, 3, grid=(2,)),
            _cat("seq_len", 6, 12, 24),
            _cat("stat_window", 6, 12, 24),
        ),
        tiny=(
            Param("hidden", "int", 4, 16, log=True, grid=(8,)),
            Param("lr", "float", 1e-3, 1e-2, log=True, grid=(5e-3,)),
            Param("epochs", "int", 1, 2, grid=(1,)),
            _cat("seq_len", 4, 6),
        ),
        load=_eval_load("pba"), folds=_pba_folds, fixed={"threads": 1},
        # pba.CELLS: recurrent, temporal convolution, dense over the window, linear.
        nas=(_cat("cell", "lstm", "gru", "tcn", "mlp", "linear"),
             Param("layers", "int", 1, 3, grid=(1, 2))),
        tiny_nas=(_cat("cell", "lstm", "gru", "tcn", "mlp", "linear"),
                  Param("layers", "int", 1, 2, grid=(1,))),
    ),
    "anomaly": Space(
        family="anomaly", config_module="anomaly", config_class="AnomalyConfig",
        # The shipped detector (breakout); its threshold is chosen inside each fold on the
        # training series by eval_anomaly.cross_validate (threshold None).
        params=(
            _cat("stat_window", 288, 576, 864, 1152),
            Param("scale_floor", "float", 1e-4, 1e-1, log=True, grid=(1e-3, 5e-2)),
        ),
        tiny=(
            Param("stat_window", "cat", choices=(6, 12, 24), grid=(24,)),
            Param("scale_floor", "float", 1e-3, 0.5, log=True, grid=(1e-3,)),
        ),
        load=_nab_load, folds=_series_folds,
        fixed={"detector": "breakout", "threshold": None},
    ),
}


def get(family: str) -> Space:
    if family not in SPACES:
        raise SearchError(f"unknown family {family!r}; searchable: {', '.join(SPACES)}")
    return SPACES[family]


def names() -> Sequence[str]:
    return tuple(SPACES)
