"""The main job, family by family: traces -> trained model -> verified ONNX export -> bundle.

Each family names its training module, export module, evaluation module and where its traces
come from; modules are imported when used, so a command touching one family does not load
torch for another.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dwcp_ml.training import data, synthetic
from dwcp_ml.training.data import Trace

SOURCES = ("default", "real")


@dataclass(frozen=True)
class Source:
    """Where traces come from: "default" is embedded (synthetic VMs, shipped NAB series) and
    runs anywhere; "real" reads ../shared/data (Bitbrains ``month``, all NAB series)."""

    kind: str = "default"
    data_dir: Path | None = None
    month: str = "2013-7"
    vms: int | None = None  # first N VMs of the month; None = all


@dataclass(frozen=True)
class Family:
    name: str
    training: str  # module under dwcp_ml.training
    config: str  # config dataclass in it
    export: str  # module under dwcp_ml.export
    evaluation: str  # module under dwcp_ml.training
    traces: Callable[[Source], list[Trace]]

    def module(self, name: str) -> Any:
        return importlib.import_module(name)

    def make_config(self, tiny: bool) -> Any:
        cls = getattr(self.module(f"dwcp_ml.training.{self.training}"), self.config)
        return cls.tiny() if tiny else cls()

    def train(self, traces: list[Trace], config: Any, progress: bool) -> Any:
        return self.module(f"dwcp_ml.training.{self.training}").train(traces, config, progress)

    def export_models(self, trained: Any) -> list[Any]:
        """The family's ExportedModels (one, or several like itp's two scorers)."""
        exported = self.module(f"dwcp_ml.export.{self.export}").export(trained)
        return exported if isinstance(exported, list) else [exported]


def _bitbrains(month: str, loader: Callable[..., Trace], source: Source) -> list[Trace]:
    root = data.data_dir(source.data_dir)
    vms = data.first_vms(month, root, source.vms)
    return [loader(month, vm, root) for vm in vms]


def _vm_traces(source: Source) -> list[Trace]:
    if source.kind == "default":
        return synthetic.traces()
    return _bitbrains(source.month, data.load_bitbrains_vm, source)


def _cpu_traces(source: Source) -> list[Trace]:
    from dwcp_ml.training import scaling

    if source.kind == "default":
        return scaling.synthetic_cpu_mhz()
    return _bitbrains(source.month, data.load_bitbrains_cpu_mhz, source)


def _metric_traces(source: Source) -> list[Trace]:
    from dwcp_ml.training import anomaly

    if source.kind == "default":
        return anomaly.shipped_traces()
    root = data.data_dir(source.data_dir) / "nab"
    names = sorted(p.relative_to(root).as_posix() for p in root.glob("real*/*.csv"))
    if not names:
        raise data.DataNotFoundError(f"no NAB series (real*/*.csv) under {root}: pass --data "
                                     "DIR holding nab/")
    return [data.load_nab(name, root.parent) for name in names]


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("pba", "pba", "PbaConfig", "onnx_pba", "eval_pba", _vm_traces),
        Family("anomaly", "anomaly", "AnomalyConfig", "onnx_anomaly", "eval_anomaly",
               _metric_traces),
        Family("scaling", "scaling", "ScalingConfig", "onnx_scaling", "eval_scaling",
               _cpu_traces),
        # The simulator generates its own seeded VMs (synthetic default); no traces.
        Family("itp", "itp.scorer", "ItpConfig", "onnx_itp", "itp.report", lambda _: []),
    )
}


class PipelineError(Exception):
    """Bad input to a pipeline step (unknown model, missing work directory...)."""


def families(names: list[str] | None) -> list[Family]:
    if not names:
        return list(FAMILIES.values())
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise PipelineError(f"unknown model {', '.join(unknown)}; known: {', '.join(FAMILIES)}")
    return [FAMILIES[n] for n in names]


def save(obj: object, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            pickle.dump(obj, fh)
    except OSError as exc:  # e.g. --work is a file, or not writable
        raise PipelineError(f"cannot write {path}: {exc.strerror}; pass a writable --work "
                            "directory") from None


def _unpickle(path: Path) -> Any:
    """One pickled step output; a truncated, foreign or unreadable file is a PipelineError."""
    try:
        with path.open("rb") as fh:
            return pickle.load(fh)  # noqa: S301 - our own work directory
    except OSError as exc:
        problem = exc.strerror
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        problem = f"not a pickle this version wrote ({exc})"
    step = "train" if path.parent.name == "trained" else "export"
    raise PipelineError(f"{path}: {problem}; run `dwcp-ml {step}` again to rewrite it")


def load_stage(work: Path, stage: str, names: list[str] | None) -> dict[str, Any]:
    """The pickled outputs of an earlier step (``trained`` or ``exported``) in ``work``."""
    folder = Path(work) / stage
    wanted = [f.name for f in families(names)] if names else None
    found = sorted(folder.glob("*.pkl")) if folder.is_dir() else []
    result = {}
    for path in found:
        if wanted is None or path.stem in wanted:
            result[path.stem] = _unpickle(path)
    if not result:
        step = "train" if stage == "trained" else "export"
        raise PipelineError(f"{folder}: no {stage} models; run `dwcp-ml {step} --work {work}` "
                            "first")
    return result
