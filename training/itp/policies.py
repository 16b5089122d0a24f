"""Baseline placement policies. Each gets only the feasible hosts (the hard constraints are
applied before, by constraints.feasible_hosts) and returns one of them.

- random: a uniformly random feasible host (seeded from the scenario seed);
- first_fit: the feasible host with the lowest index (hosts are numbered rack by rack);
- best_fit: the tightest fit: least normalised reserved capacity left after placement,
  summed over resources, sum_r (limit_r - reserved_r - request_r) / limit_r;
- tetris: the multi-resource alignment of Tetris (Grandl et al., SIGCOMM 2014): largest
  dot product of the request and the free reserved capacity, both normalised by the host's
  limits, sum_r (request_r / limit_r) * ((limit_r - reserved_r) / limit_r);
- least_loaded (extra, usage-aware): the host whose largest utilisation after placement,
  max_r (peak of the host's summed demand over the last hour + the VM's peak over its last
  hour) / capacity_r, is smallest (spreads real load; a common production rule).

Ties go to the lowest host index (numpy argmin/argmax return the first).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .simulator import Scenario, SimState


class RandomPolicy:
    name = "random"

    def __init__(self, salt: int = 0):
        self.salt = salt
        self.rng = np.random.default_rng(0)

    def reset(self, scenario: Scenario) -> None:
        self.rng = np.random.default_rng([scenario.seed, 0x5EED, self.salt])

    def choose(self, state: SimState, vm: int, feasible: NDArray[np.int64]) -> int:
        return int(feasible[self.rng.integers(len(feasible))])


class FirstFit:
    name = "first_fit"

    def reset(self, scenario: Scenario) -> None:
        pass

    def choose(self, state: SimState, vm: int, feasible: NDArray[np.int64]) -> int:
        return int(feasible[0])


class BestFit:
    name = "best_fit"

    def reset(self, scenario: Scenario) -> None:
        pass

    def choose(self, state: SimState, vm: int, feasible: NDArray[np.int64]) -> int:
        limit = state.limit[feasible]
        left = (limit - state.alloc[feasible] - state.workload.request[vm]) / limit
        return int(feasible[np.argmin(left.sum(axis=1))])


class Tetris:
    name = "tetris"

    def reset(self, scenario: Scenario) -> None:
        pass

    def choose(self, state: SimState, vm: int, feasible: NDArray[np.int64]) -> int:
        limit = state.limit[feasible]
        free = (limit - state.alloc[feasible]) / limit
        score = ((state.workload.request[vm] / limit) * free).sum(axis=1)
        return int(feasible[np.argmax(score)])


class LeastLoaded:
    name = "least_loaded"

    def reset(self, scenario: Scenario) -> None:
        pass

    def choose(self, state: SimState, vm: int, feasible: NDArray[np.int64]) -> int:
        peak = state.host_usage(feasible).max(axis=1) + state.vm_history(vm).max(axis=0)
        util = peak / state.cluster.capacity[feasible]
        return int(feasible[np.argmin(util.max(axis=1))])


BASELINES = {"random": RandomPolicy, "first_fit": FirstFit, "best_fit": BestFit,
             "tetris": Tetris}
EXTRA = {"least_loaded": LeastLoaded}
