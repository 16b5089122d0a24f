"""The placement factors are correct, not only consistent: they agree with an independent
numpy reference (tests/placement_reference.py) on the golden clusters (synthetic generator,
shipped NAB series, edge cases) and on generated inputs from 1e-30 to 1e30.

Stated tolerance, per factor:

- EXACT factors (copies of inputs, maxima, counts, and ratios computed with the same
  operations in the same order) equal the reference rounded to float32 bit for bit
  (0 ULP; +0.0 and -0.0 count as equal).
- Every other factor is within 1 float32 ULP of the float64 reference rounded to float32,
  or, where the factor is the residue of a cancelling sum, within an absolute bound:
  ``*_std``: 1e-12 x the history's peak; ``*_trend``: 1e-12 x peak x 3600 / step_seconds;
  ``demand_corr_*``: 1e-12; cross-resource sums: 1e-12 x their largest term.

Measured on the golden clusters: every factor bit-identical to the reference except the
trends of the fma_canary vector (exactly 0 in real arithmetic, rounding residue in both).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import placement_reference as ref
from golden_reader import ulp_distance32
from dwcp_ml import feature_core as fc
from dwcp_ml.golden import placement as golden

F = fc.PLACEMENT_FACTORS
REL = 1e-12

EXACT_PREFIXES = (
    "vm_request_", "vm_peak_", "vm_last_", "host_capacity_", "host_allocated_", "host_peak_",
    "host_last_", "request_share_", "alloc_ratio_after_", "peak_util_after_",
    "joint_peak_util_after_", "peak_diversity_", "headroom_after_", "peak_headroom_after_",
    "overcommit_after_", "overload_frac_after_",
)
EXACT = {name for name in F if name.startswith(EXACT_PREFIXES)} | {
    "alloc_util_max_after", "alloc_util_min_after", "joint_peak_util_max_after",
    "free_min_after", "dominant_share", "dominant_resource", "resources_over_after",
    "vm_count", "vm_count_after", "host_empty", "group_size", "group_on_host",
    "group_in_domain", "group_domain_frac", "group_exposure_after", "group_domains",
    "group_domains_after", "group_spread_gain", "peers", "peers_on_host", "peers_in_domain",
    "peers_on_host_frac", "peers_in_domain_frac", "net_distance", "nic_mbps", "nic_util_vm",
    "nic_util_after", "failure_rate", "cost", "cost_per_vm_after", "domain_cpu_share",
    "domain_hosts",
}


def _bounds(case: golden.PlaceCase, expected: np.ndarray) -> np.ndarray:
    """Absolute bound per (host, factor) for cancelling sums; 0 elsewhere."""
    n = case.n_hosts
    bound = np.zeros((n, len(F)))
    hist = np.asarray(case.vm_history, float)
    usage = np.asarray(case.host_usage, float)
    per_hour = 3600.0 / case.params.step_seconds
    for j, r in enumerate(ref.RES):
        vm_peak, host_peak = np.abs(hist[:, j]).max(), np.abs(usage[:, :, j]).max(axis=1)
        bound[:, F.index(f"vm_std_{r}")] = REL * vm_peak
        bound[:, F.index(f"vm_trend_{r}")] = REL * vm_peak * per_hour
        bound[:, F.index(f"host_std_{r}")] = REL * host_peak
        bound[:, F.index(f"host_trend_{r}")] = REL * host_peak * per_hour
        bound[:, F.index(f"demand_corr_{r}")] = REL
    cap = np.asarray(case.host_capacity, float)
    terms = np.abs(np.concatenate([
        np.asarray(case.vm_request) / cap, np.asarray(case.host_allocated) / cap,
        (np.asarray(case.host_allocated) + case.vm_request) / cap, np.ones((n, 1))], axis=1))
    for name in ("alloc_util_mean_after", "alloc_util_std_after", "usage_util_std_after",
                 "tetris_alignment", "cosine_alignment", "tetris_usage_alignment",
                 "free_l2_before", "free_l2_after", "stranded_after"):
        bound[:, F.index(name)] = REL * terms.max(axis=1) ** 2
    return bound


def check_case(case: golden.PlaceCase) -> int:
    """Compares the core with the reference on one case; returns the rows checked."""
    p = case.params
    got = fc.placement_factors(p, case.vm_request, case.vm_history, case.vm_info,
                               case.host_capacity, case.host_allocated, case.host_usage,
                               case.host_info)
    expected = ref.factors(p.history, p.step_seconds, case.vm_request, case.vm_history,
                           case.vm_info, case.host_capacity, case.host_allocated,
                           case.host_usage, case.host_info)
    expected32 = expected.astype(np.float32)
    ulps = ulp_distance32(got.view(np.uint32), expected32.view(np.uint32))
    exact = np.array([name in EXACT for name in F])
    diff = np.abs(got.astype(np.float64) - expected)
    bad = np.where(exact[None, :], ulps > 0, (ulps > 1) & (diff > _bounds(case, expected)))
    if bad.any():
        h, f = np.argwhere(bad)[0]
        raise AssertionError(
            f"{case.name}: {bad.sum()} factors off, first host {h} factor {F[f]}: core "
            f"{got[h, f]!r} (0x{got.view(np.uint32)[h, f]:08x}), reference {expected[h, f]!r} "
            f"({ulps[h, f]} ULP{', exact expected' if exact[f] else ''})")
    return case.n_hosts


def test_reference_names_follow_the_core() -> None:
    assert ref.NAMES == F
    assert len(EXACT) > 60


def _golden_ok_cases() -> list[golden.PlaceCase]:
    out = []
    for case in golden.cases():
        try:
            fc._placement_factors_flat(case.params, case.n_hosts, case.arrays())
        except fc.FeatureCoreError:
            continue
        out.append(case)
    return out


@pytest.mark.parametrize("case", _golden_ok_cases(), ids=lambda c: c.name)
def test_golden_clusters(case: golden.PlaceCase) -> None:
    check_case(case)


@st.composite
def clusters(draw) -> golden.PlaceCase:  # noqa: ANN001 - hypothesis draw
    """Clusters at one magnitude 1e-30 .. 1e30, with integer, random, near-constant and
    constant histories, empty and over-allocated hosts, zero requests and zero info."""
    n = draw(st.integers(0, 6))
    history = draw(st.sampled_from([2, 3, 4, 5, 12, 13, 36]))
    step = draw(st.sampled_from([1, 60, 300, 3600, 86400]))
    scale = 10.0 ** draw(st.integers(-30, 30))
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(["uniform", "integers", "near_constant", "gamma", "constant"]))
    rng = np.random.default_rng(seed)

    def demand(shape: tuple[int, ...]) -> np.ndarray:
        if kind == "uniform":
            x = rng.uniform(0, 1, shape)
        elif kind == "integers":
            x = np.round(rng.uniform(0, 50, shape))
        elif kind == "near_constant":
            x = 1 + rng.uniform(0, 1e-6, shape)
        elif kind == "gamma":
            x = rng.gamma(0.5, 1, shape)
        else:
            x = np.ones(shape) * rng.uniform(0.5, 2)
        return x * scale

    request = demand((4,)) * draw(st.sampled_from([0.0, 1.0, 3.0]))
    cap = (rng.uniform(1, 10, (n, 4)) + 0.01) * scale
    alloc = cap * rng.uniform(0, 1.5, (n, 4)) * (rng.random((n, 1)) > 0.2)
    info = rng.integers(0, 6, (n, 13)).astype(float)
    info[:, 9:12] = rng.uniform(0, 3, (n, 3))
    vm_info = rng.integers(0, 4, 2).astype(float)
    return golden.PlaceCase("hypothesis", fc.PlacementParams(history=history, step_seconds=step),
                            n, request, demand((history, 4)), vm_info, cap, alloc,
                            demand((n, history, 4)) * rng.uniform(0, 3), info)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_generated_clusters(case: golden.PlaceCase) -> None:
    check_case(case)


def test_many_golden_rows_checked() -> None:
    assert sum(c.n_hosts for c in _golden_ok_cases()) > 200
