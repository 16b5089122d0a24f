"""The learned placer in the simulator: the exported ONNX scorer, run the way Go runs it
(factors from the feature core; the scores from the feature core's tree evaluator, ONNX
Runtime's bits, when the model is one TreeEnsembleRegressor, else ONNX Runtime with 1
thread; one batch per decision, argmax with ties to the lowest host index), behind the same
hard-constraint filter as every baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from dwcp_ml import feature_core as fc
from dwcp_ml.spec.model import INPUT
from dwcp_ml.spec.runtime import session

from .query import build_query
from .simulator import Scenario, SimState


class LearnedPolicy:
    """Picklable (the ONNX bytes travel; the scorer is made in each process)."""

    def __init__(self, onnx_bytes: bytes, name: str = "learned", history: int = 12):
        self.onnx_bytes, self.name = onnx_bytes, name
        self.params = fc.PlacementParams(history=history)
        self._session: Any = None
        self._trees: fc.Trees | None = None

    def reset(self, scenario: Scenario) -> None:
        if self._session is None and self._trees is None:
            try:
                self._trees = fc.Trees.from_onnx(self.onnx_bytes)
            except fc.TreeUnsupportedError:  # not one tree ensemble: ONNX Runtime scores
                self._session = session(self.onnx_bytes)

    def choose(self, state: SimState, vm: int, feasible: NDArray[np.int64]) -> int:
        x = fc.placement_factors(self.params, *build_query(state, vm, feasible).args())
        if self._trees is not None:
            score = self._trees.score(x)
        else:
            score = self._session.run(None, {INPUT: x})[0][:, 0]
        return int(feasible[int(np.argmax(score))])

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_session": None, "_trees": None}


__all__ = ["LearnedPolicy"]
