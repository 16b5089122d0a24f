"""The family registry: one entry per model family naming everything that family is made of.

A family's training module and config, its exporter, its evaluation (and AutoML leaderboard,
where it has one), its trace source, and the per-family contract of the bundle specification
(feature schema, required thresholds, output width, read from spec/bundle/manifest.schema.json).
Modules are imported when used, so a command touching one family does not load torch for
another. Layering (tests/test_layers.py): training imports neither export nor evaluation;
export builds on training and spec; evaluation and this registry sit downstream of both.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from dwcp_ml import spec
from dwcp_ml.training.data import Trace

from . import sources
from .sources import SOURCES, Source

__all__ = ["FAMILIES", "Family", "FamilyError", "SOURCES", "Source", "families"]


class FamilyError(ValueError):
    """An unknown family name."""


@dataclass(frozen=True)
class Family:
    name: str
    training: str  # dotted module: train(traces, config, progress)
    config: str  # config dataclass in the training module (with .tiny())
    export: str  # dotted module: export(trained) -> ExportedModel | list[ExportedModel]
    evaluation: str  # dotted module: evaluate(EvalRequest) -> (markdown, metrics)
    traces: Callable[[Source], list[Trace]]
    board: str | None = None  # dotted module of the AutoML leaderboard, where one exists

    @staticmethod
    def _module(name: str) -> ModuleType:
        return importlib.import_module(name)

    @property
    def contract(self) -> spec.FamilyContract:
        return spec.family_contract(self.name)

    def make_config(self, tiny: bool) -> Any:
        """The configuration the default bundle ships (``tiny``: its seconds-long form)."""
        target: Any = self._module(self.training)
        for part in self.config.split("."):
            target = getattr(target, part)
        if isinstance(target, type):
            return target.tiny() if tiny else target()
        return target(tiny)

    def train(self, traces: list[Trace], config: Any, progress: bool) -> Any:
        return self._module(self.training).train(traces, config, progress)

    def export_models(self, trained: Any) -> list[Any]:
        """The family's ExportedModels (one, or several like itp's two scorers)."""
        exported = self._module(self.export).export(trained)
        return exported if isinstance(exported, list) else [exported]

    def evaluate(self, request: Any) -> tuple[str, dict[str, object]]:
        return self._module(self.evaluation).evaluate(request)


def _family(name: str, training: str, config: str, traces: Callable[[Source], list[Trace]],
            *, evaluation: str | None = None, board: str | None = None) -> Family:
    return Family(name, f"dwcp_ml.training.{training}", config, f"dwcp_ml.export.onnx_{name}",
                  f"dwcp_ml.evaluation.{evaluation or name}", traces,
                  f"dwcp_ml.evaluation.{board}" if board else None)


def link_traces(_: Source) -> list[Trace]:
    """Link: the generated training links of link_traces v1 (docs/link-model.md) for either
    source: no real link traces ship, and the manifest marks the model as trained on
    synthetic data."""
    from dwcp_ml.training import link_traces as generator

    return generator.traces()


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        _family("pba", "pba", "PbaConfig.shipped", sources.vm_traces, board="pba_board"),
        _family("anomaly", "anomaly", "AnomalyConfig", sources.metric_traces),
        _family("scaling", "scaling", "ScalingConfig", sources.cpu_traces),
        _family("itp", "itp.scorer", "ItpConfig.shipped", sources.no_traces),
        _family("link", "link", "LinkConfig", link_traces),
    )
}


def families(names: list[str] | None) -> list[Family]:
    """The named families in the order given (all of them for None or [])."""
    if not names:
        return list(FAMILIES.values())
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise FamilyError(f"unknown model {', '.join(unknown)}; known: {', '.join(FAMILIES)}")
    return [FAMILIES[n] for n in names]
