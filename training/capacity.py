"""Capacity decisions and the scaling simulator, shared by training (choosing the headroom on
July's validation part) and evaluation (August).

- :class:`CapacityRule` / :func:`recommend_capacity`: how Go turns the model's upper quantile
  into capacity (the rule's parameters travel in the bundle as thresholds).
- The simulator: every ``horizon`` bins a scaler sets a VM's capacity for the next
  ``horizon`` bins; scored by under-provisioned 5-minute bins (demand > capacity),
  capacity-hours and shortfall. Scalers: predictive (a forecast through the rule) and the
  reactive threshold scaler (the baseline to beat).
- :func:`select_headroom`: the headroom rule the training applies to validation results.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

# Reactive scaler's target utilisation; fixed before looking at any results (protocol: fix
# the simulator first).
REACTIVE_TARGET = 0.7
# Headrooms the training tries on its validation part (the smallest that beats the reactive
# scaler wins, see select_headroom); 0.05 steps are 5 % of capacity, finer than the 100 MHz
# unit matters for most VMs.
HEADROOM_GRID = tuple(round(0.9 + 0.05 * i, 2) for i in range(23))  # 0.9 .. 2.0


# --------------------------------------------------------------------------- decision rule


@dataclass(frozen=True)
class CapacityRule:
    """Parameters of :func:`recommend_capacity`; they travel in the bundle as thresholds.

    headroom: multiplier on the forecast upper quantile (1.0 = trust the quantile as is).
    unit_mhz: capacity is granted in whole units of this size (100 MHz ~ Kubernetes' 100m of
        a 1 GHz core; Bitbrains cores are 2600 MHz).
    min_units: never recommend fewer units than this (a VM keeps at least some capacity).
    """

    headroom: float = 1.0
    unit_mhz: float = 100.0
    min_units: int = 1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.headroom) and self.headroom > 0):
            raise ValueError(f"CapacityRule.headroom must be a finite number > 0, got {self.headroom}")
        if not (math.isfinite(self.unit_mhz) and self.unit_mhz > 0):
            raise ValueError(f"CapacityRule.unit_mhz must be a finite number > 0, got {self.unit_mhz}")
        if self.min_units < 0:
            raise ValueError(f"CapacityRule.min_units must be >= 0, got {self.min_units}")

    def as_thresholds(self) -> dict[str, float]:
        return {"headroom": float(self.headroom), "unit_mhz": float(self.unit_mhz),
                "min_units": float(self.min_units)}


def recommend_capacity(upper_quantile_mhz: float | NDArray[np.floating],
                       rule: CapacityRule = CapacityRule()) -> float | NDArray[np.float64]:
    """Capacity (MHz) to provision for the next interval from the forecast upper quantile.

        units    = ceil(max(q, 0) * headroom / unit_mhz)
        capacity = max(units, min_units) * unit_mhz

    Plain double arithmetic in this order so Go (math.Ceil, math.Max) gets the same bits from
    the same float32 model output. A quantile model can dip below zero; demand cannot, hence
    max(q, 0). NaN is refused: it would silently become min_units.
    """
    q = np.asarray(upper_quantile_mhz, dtype=np.float64)
    if np.isnan(q).any():
        raise ValueError("recommend_capacity: the forecast is NaN; refuse to size capacity from it")
    units = np.ceil(np.maximum(q, 0.0) * rule.headroom / rule.unit_mhz)
    capacity = np.maximum(units, float(rule.min_units)) * rule.unit_mhz
    return float(capacity) if capacity.ndim == 0 else capacity


# --------------------------------------------------------------------------- simulator


@dataclass(frozen=True)
class SimResult:
    under: int  # 5-minute bins with demand above capacity
    bins: int
    capacity_mhz_h: float
    shortfall_mhz_h: float


def decisions(end: NDArray[np.int64], horizon: int) -> NDArray[np.intp]:
    """Indices into ``end`` (sorted window ends) of decision points every ``horizon`` bins
    (greedy over gaps), so each decision covers bins e+1..e+horizon and intervals never
    overlap."""
    keep, nxt = [], -1
    for i, e in enumerate(end):
        if e >= nxt:
            keep.append(i)
            nxt = e + horizon
    return np.asarray(keep, dtype=np.intp)


def score(demand: NDArray[np.float64], end: NDArray[np.int64], capacity: NDArray[np.float64],
          horizon: int, step_h: float) -> SimResult:
    """Capacity ``capacity[i]`` held over bins end[i]+1 .. end[i]+horizon of ``demand``."""
    bins = np.stack([demand[end + k] for k in range(1, horizon + 1)], axis=1)  # (n, horizon)
    cap = np.asarray(capacity, dtype=np.float64)[:, None]
    return SimResult(int((bins > cap).sum()), int(bins.size),
                     float(cap.sum() * horizon * step_h),
                     float(np.maximum(bins - cap, 0).sum() * step_h))


def total(parts: Iterable[SimResult]) -> SimResult:
    parts = list(parts)
    return SimResult(sum(p.under for p in parts), sum(p.bins for p in parts),
                     sum(p.capacity_mhz_h for p in parts), sum(p.shortfall_mhz_h for p in parts))


def reactive_capacity(demand: NDArray[np.float64], end: NDArray[np.int64], horizon: int,
                      rule: CapacityRule, target: float, delay_intervals: int = 0
                      ) -> NDArray[np.float64]:
    """Threshold scaler: at each decision, peak of the last interval vs current capacity;
    outside [target/2, (1+target)/2] utilisation it resizes to peak/target (rounded up to the
    unit). A gap in the decisions (missing data) restarts it from the last peak. Its reaction
    delay is one decision interval (plus ``delay_intervals`` more)."""
    up, down = (1.0 + target) / 2.0, target / 2.0
    sized = CapacityRule(headroom=1.0 / target, unit_mhz=rule.unit_mhz, min_units=rule.min_units)
    out = np.empty(len(end))
    pending: list[float] = []
    current = math.nan
    prev_e = None
    for i, e in enumerate(end):
        peak = float(demand[e - horizon + 1:e + 1].max())
        if prev_e is None or e != prev_e + horizon:  # start or gap: size from what it sees
            current = recommend_capacity(peak, sized)
            pending = []
        else:
            util = peak / current
            decided = recommend_capacity(peak, sized) if (util > up or util < down) else None
            pending.append(decided if decided is not None else math.nan)
            if len(pending) > delay_intervals:
                applied = pending.pop(0)
                if not math.isnan(applied):
                    current = applied
        out[i] = current
        prev_e = e
    return out


@dataclass(frozen=True)
class SimVM:
    """One VM for the simulator: its demand grid (NaN = missing), the ends of its evaluated
    windows (sorted; the window's input must cover the last ``horizon`` bins and its next
    ``horizon`` bins must be complete) and a forecast per window (None for the reactive
    scaler only)."""

    demand: NDArray[np.float64]
    end: NDArray[np.int64]
    forecast: NDArray[np.float64] | None = None


def simulate_predictive(vms: Iterable[SimVM], rule: CapacityRule, horizon: int, step_h: float
                        ) -> SimResult:
    """Pooled result of recommend_capacity(forecast, rule) at each VM's decision points."""
    parts = []
    for v in vms:
        d = decisions(v.end, horizon)
        parts.append(score(v.demand, v.end[d], recommend_capacity(v.forecast[d], rule),
                           horizon, step_h))
    return total(parts)


def simulate_reactive(vms: Iterable[SimVM], rule: CapacityRule, target: float, horizon: int,
                      step_h: float) -> SimResult:
    """Pooled result of the reactive threshold scaler at each VM's decision points."""
    parts = []
    for v in vms:
        e = v.end[decisions(v.end, horizon)]
        parts.append(score(v.demand, e, reactive_capacity(v.demand, e, horizon, rule, target),
                           horizon, step_h))
    return total(parts)


# --------------------------------------------------------------------------- headroom choice


@dataclass(frozen=True)
class HeadroomChoice:
    """The headroom picked on validation and the numbers behind it."""

    headroom: float
    reachable: bool  # some headroom had fewer under-provisioned bins at no more capacity
    predictive: SimResult  # at the chosen headroom
    reactive: SimResult
    curve: Mapping[float, SimResult]  # every headroom tried

    def as_metrics(self, prefix: str = "val_") -> dict[str, float]:
        p, r = self.predictive, self.reactive
        return {
            prefix + "headroom_target_reachable": float(self.reachable),
            prefix + "chosen_headroom": float(self.headroom),
            prefix + "predictive_under": float(p.under),
            prefix + "predictive_capacity_mhz_h": p.capacity_mhz_h,
            prefix + "reactive_under": float(r.under),
            prefix + "reactive_capacity_mhz_h": r.capacity_mhz_h,
            prefix + "sim_bins": float(r.bins),
        }


def select_headroom(curve: Mapping[float, SimResult], reactive: SimResult) -> HeadroomChoice:
    """The smallest headroom whose capacity-hours are at most the reactive scaler's and whose
    under-provisioned bins are fewer (the target). If none qualifies: among headrooms at no
    more capacity, the one with the fewest under-provisioned bins (smallest on ties), with
    ``reachable=False``; if every headroom costs more capacity, the cheapest one."""
    if not curve:
        raise ValueError("select_headroom: no headroom was simulated")
    order = sorted(curve)
    affordable = [h for h in order if curve[h].capacity_mhz_h <= reactive.capacity_mhz_h]
    qualifying = [h for h in affordable if curve[h].under < reactive.under]
    if qualifying:
        h, ok = qualifying[0], True
    elif affordable:
        h, ok = min(affordable, key=lambda k: (curve[k].under, k)), False
    else:
        h, ok = min(order, key=lambda k: (curve[k].capacity_mhz_h, k)), False
    return HeadroomChoice(h, ok, curve[h], reactive, dict(curve))


def choose_headroom(vms: list[SimVM], rule: CapacityRule, grid: Iterable[float], target: float,
                    horizon: int, step_h: float) -> HeadroomChoice:
    """Simulates the predictive scaler at every headroom of ``grid`` and the reactive scaler
    (target utilisation ``target``) on the same VMs and windows, then applies
    :func:`select_headroom`."""
    curve = {float(h): simulate_predictive(vms, replace(rule, headroom=float(h)), horizon, step_h)
             for h in grid}
    return select_headroom(curve, simulate_reactive(vms, rule, target, horizon, step_h))
