"""Evidently's data-drift HTML report beside the feature core's own (``dwcp-ml drift report
--evidently-reference SEL``; docs/drift-report.md).

What Evidently adds for an ML engineer: one interactive page per model with every column's
reference and live distributions overlaid, its own per-column test (Kolmogorov-Smirnov or
Wasserstein for numeric columns, chosen by sample size) and the share of drifting columns.
It compares raw samples, while a bundle keeps only the binned reference (quantile edges and
counts, so that C, Python and Go agree on every bit); so the reference rows come from a data
selection, normally the model's training data, built into the same drift matrix (model
inputs and outputs) as the live rows. Evidently's figures are a second opinion computed in
floating point by Evidently: the bit-exact PSI and KS of the report are the feature core's.

Evidently is imported only here, with its usage telemetry switched off (``DO_NOT_TRACK``)
before the import: nothing leaves the machine.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# The Evidently version this report is written for (pyproject pins it).
EVIDENTLY = "0.7.23"


def _evidently():  # type: ignore[no-untyped-def]
    os.environ.setdefault("DO_NOT_TRACK", "1")
    import evidently
    from evidently import Report
    from evidently.presets import DataDriftPreset

    return evidently, Report, DataDriftPreset


@dataclass(frozen=True)
class ColumnVerdict:
    """Evidently's test of one column: its method, score and threshold."""

    column: str
    method: str
    score: float
    threshold: float

    @property
    def drifts(self) -> bool:
        # Evidently's rule: a p-value below the threshold, or a distance above it.
        return (self.score < self.threshold if "p_value" in self.method
                else self.score >= self.threshold)


@dataclass(frozen=True)
class Summary:
    """What the HTML page says in numbers: the drifting columns and each column's test."""

    path: Path
    drifted: int
    share: float
    columns: list[ColumnVerdict] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # constant in both samples


_VALUE_DRIFT = re.compile(r"ValueDrift\(column=(?P<column>.*),method=(?P<method>.*),"
                          r"threshold=(?P<threshold>[^)]*)\)")


def write(columns: Sequence[str], reference: np.ndarray, live: np.ndarray, path: Path,
          title: str) -> Summary:
    """Evidently's DataDriftPreset of ``live`` against ``reference`` (rows x ``columns``)
    as a self-contained HTML file. Columns constant in both samples are left out (Evidently
    has nothing to test there) and listed."""
    import pandas as pd

    _, Report, DataDriftPreset = _evidently()
    keep = [j for j in range(len(columns))
            if np.ptp(reference[:, j]) > 0 or np.ptp(live[:, j]) > 0]
    names = [columns[j] for j in keep]
    ref = pd.DataFrame(reference[:, keep], columns=names)
    cur = pd.DataFrame(live[:, keep], columns=names)
    snapshot = Report([DataDriftPreset()]).run(cur, ref, name=title)
    path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(path))
    drifted, share, verdicts = 0, 0.0, []
    for m in snapshot.dict()["metrics"]:
        if m["metric_name"].startswith("DriftedColumnsCount"):
            drifted, share = int(m["value"]["count"]), float(m["value"]["share"])
        elif (v := _VALUE_DRIFT.fullmatch(m["metric_name"])) is not None:
            verdicts.append(ColumnVerdict(v["column"], v["method"], float(m["value"]),
                                          float(v["threshold"])))
    left_out = [c for j, c in enumerate(columns) if j not in keep]
    return Summary(path, drifted, share, verdicts, left_out)
