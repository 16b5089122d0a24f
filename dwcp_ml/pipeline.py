"""The work directory between the steps of the main job (traces -> trained model -> verified
ONNX export -> bundle): each step pickles its per-family output for the next one. What a
family is made of lives in :mod:`dwcp_ml.families`.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from dwcp_ml import families


class PipelineError(Exception):
    """Bad input to a pipeline step (unknown model, missing work directory...)."""


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
    wanted = [f.name for f in families.families(names)] if names else None
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
