"""What every AutoML leaderboard's command line shares (pba_board, scaling_board)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from dwcp_ml.training import data
from dwcp_ml.training.data import Trace
from dwcp_ml.training.selection import Selection


def parser(prog: str, doc: str, family: str, candidates: Sequence[str]
           ) -> argparse.ArgumentParser:
    """``--out --data --train --folds --candidates --tiny --report``."""
    ap = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--data")
    ap.add_argument("--train", help=f"selection (default: eval_{family}.DEV)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--candidates", default=",".join(candidates))
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--report", action="store_true", help="only tabulate OUT/results")
    return ap


def load(evaluation: ModuleType, sel: Selection, root: str | None) -> list[Trace]:
    """The family evaluation's own loader, on --data or the default data directory."""
    return evaluation.load(sel, Path(root) if root else data.data_dir(None))
