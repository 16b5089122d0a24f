"""What ``dwcp-ml eval`` asks of each family's evaluation: the selections to train and test
on, the folds, an optional bundle to judge as it is, and where the report goes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dwcp_ml.export import bundle
from dwcp_ml.export.bundle import Bundle, BundleModel
from dwcp_ml.training.selection import Selection, SelectionError


@dataclass(frozen=True)
class EvalRequest:
    """What ``dwcp-ml eval`` asks of a family's ``evaluate(request) -> (markdown, metrics)``.

    ``train`` None means the family's dev selection (its eval module names it). ``test`` None
    means cross-validation only, inside ``train``. ``bundle`` set means: judge that bundle's
    model as it is, without retraining, on ``test`` (or ``train`` if no test is given).
    """

    data_root: Path
    out_dir: Path
    train: Selection | None = None
    test: Selection | None = None
    bundle: Path | None = None
    n_folds: int = 5
    progress: bool = False

    def bundle_model(self, family: str) -> tuple[Bundle, BundleModel]:
        """``self.bundle`` loaded and verified, and its first ``family`` model."""
        b = bundle.load(self.bundle)
        found = [m for m in b.models.values() if m.family == family]
        if not found:
            raise SelectionError(f"{family}: bundle {self.bundle} holds no {family} model")
        return b, found[0]

    def report(self, family: str,
               judge: Callable[[EvalRequest, Path], tuple[list[str], dict[str, object]]],
               cross_validate: Callable[[], tuple[list[str], dict[str, object]]]
               ) -> tuple[str, dict[str, object]]:
        """The family's report: ``judge(self, data_root)`` when a bundle is to be judged as
        it is, else ``cross_validate()``; written by :meth:`write_report`."""
        if self.bundle is not None:
            lines, metrics = judge(self, Path(self.data_root))
        else:
            lines, metrics = cross_validate()
        return self.write_report(family, lines, metrics)

    def write_report(self, family: str, lines: list[str], metrics: dict[str, object]
                     ) -> tuple[str, dict[str, object]]:
        """``FAMILY_report.md`` and ``FAMILY_metrics.json`` into out_dir; returns both."""
        out = Path(self.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        md = "\n".join(lines) + "\n"
        (out / f"{family}_report.md").write_text(md)
        (out / f"{family}_metrics.json").write_text(json.dumps(metrics, indent=1, default=float))
        return md, metrics
