"""The placement binding (fc.placement_factors): names, shapes, zero copy, one exception per
status naming the host, input column and factor, and properties that must hold bit for bit
(host order, row independence, power-of-two units)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dwcp_ml import feature_core as fc

HEADER = (Path(__file__).resolve().parents[1] / "feature_core" / "include" /
          "feature_core.h").read_text()
F = fc.PLACEMENT_FACTORS
P = fc.PlacementParams()


def cluster(n: int = 4, history: int = 12, seed: int = 3) -> dict[str, np.ndarray]:
    """A valid problem: one VM, n hosts, every value positive."""
    rng = np.random.default_rng(seed)
    cap = rng.choice([0.5, 1.0, 2.0], (n, 1)) * np.array([83200.0, 262144.0, 4e5, 1.25e6])
    alloc = cap * rng.uniform(0, 0.8, (n, 4))
    request = np.array([5200.0, 8192.0, 2e4, 5e4])
    info = rng.integers(0, 5, (n, 13)).astype(float)
    info[:, 8] = 10000.0
    return {
        "vm_request": request,
        "vm_history": request * rng.uniform(0.05, 0.95, (history, 4)),
        "vm_info": np.array([3.0, 2.0]),
        "host_capacity": cap,
        "host_allocated": alloc,
        "host_usage": alloc[:, None, :] * rng.uniform(0.1, 0.9, (n, history, 4)),
        "host_info": info,
    }


def run(c: dict[str, np.ndarray], params: fc.PlacementParams = P, **kw) -> np.ndarray:
    return fc.placement_factors(params, c["vm_request"], c["vm_history"], c["vm_info"],
                                c["host_capacity"], c["host_allocated"], c["host_usage"],
                                c["host_info"], **kw)


def test_names_and_hash_follow_the_header() -> None:
    assert len(F) == fc.lib.FC_PLACE_FACTORS == fc.lib.fc_place_factor_count() >= 100
    assert len(set(F)) == len(F)
    assert all(re.fullmatch(r"[a-z0-9_]+", name) for name in F)
    assert fc.PLACEMENT_RESOURCES == ("cpu_mhz", "mem_mb", "disk_kbs", "net_kbs")
    assert fc.PLACEMENT_VM_INFO == ("group_size", "peers")
    assert fc.PLACEMENT_HOST_INFO == (
        "vm_count", "group_on_host", "group_in_domain", "group_domains", "group_domains_after",
        "peers_on_host", "peers_in_domain", "net_distance", "nic_mbps", "failure_rate", "cost",
        "domain_cpu_share", "domain_hosts")
    assert len(fc.PLACEMENT_COLUMNS) == 35 and fc.PLACEMENT_COLUMNS[19] == "host_usage.mem_mb"
    macro = int(re.search(r"#define FC_PLACE_HASH (0x[0-9a-f]+)ULL", HEADER).group(1), 16)
    assert fc.PLACEMENT_HASH == macro


def test_placement_hash_is_fnv1a_of_the_names() -> None:
    text = ("dwcp-fc/1;place;resources=" + "+".join(fc.PLACEMENT_RESOURCES)
            + ";vm_info=" + "+".join(fc.PLACEMENT_VM_INFO)
            + ";host_info=" + "+".join(fc.PLACEMENT_HOST_INFO)
            + "".join(f";f32:{name}" for name in F))
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    assert fc.PLACEMENT_HASH == h


def test_shape_and_dtype() -> None:
    out = run(cluster(5))
    assert out.shape == (5, len(F)) and out.dtype == np.float32
    assert np.isfinite(out).all()
    empty = cluster(0)
    assert run(empty).shape == (0, len(F))


def test_output_in_place_and_inputs_not_copied() -> None:
    c = cluster(3)
    out = np.full((3, len(F)), -1.0, np.float32)
    assert run(c, out=out) is out
    np.testing.assert_array_equal(out, run(c))
    with pytest.raises(fc.OutputSizeError, match="shape"):
        run(c, out=np.empty((2, len(F)), np.float32))
    with pytest.raises(fc.OutputSizeError):
        run(c, out=np.empty((3, len(F)), np.float64))
    with pytest.raises(fc.OutputSizeError):
        run(c, out=np.empty((len(F), 3), np.float32).T)
    # Non-contiguous and other dtypes are converted (a copy), with the same bits.
    strided = {k: np.repeat(v, 2, axis=-1)[..., ::2] for k, v in c.items()}
    assert not strided["host_usage"].flags.c_contiguous
    np.testing.assert_array_equal(run(strided).view(np.uint32), run(c).view(np.uint32))
    # C-contiguous float64 inputs are passed to C in place: a cffi buffer over the array.
    arr = c["host_usage"]
    buf = fc.ffi.from_buffer("double[]", arr)
    assert int(fc.ffi.cast("uintptr_t", buf)) == arr.ctypes.data


@pytest.mark.parametrize("name,shape", [
    ("vm_request", (3,)), ("vm_history", (11, 4)), ("vm_history", (48,)), ("vm_info", (3,)),
    ("host_capacity", (4,)), ("host_allocated", (3, 4)), ("host_usage", (4, 12, 3)),
    ("host_info", (4, 12)),
])
def test_wrong_shapes_name_the_array(name: str, shape: tuple[int, ...]) -> None:
    c = cluster(4)
    c[name] = np.ones(shape)
    with pytest.raises(fc.LengthError, match=f"{name} must have shape"):
        run(c)


@pytest.mark.parametrize("name,index,value,error,host,column", [
    ("vm_request", (1,), np.nan, fc.MissingValueError, None, "vm_request.mem_mb"),
    ("vm_history", (4, 3), np.inf, fc.InfiniteValueError, None, "vm_history.net_kbs"),
    ("vm_info", (0,), -1.0, fc.NegativeValueError, None, "vm_info.group_size"),
    ("host_capacity", (2, 2), 0.0, fc.ZeroCapacityError, 2, "host_capacity.disk_kbs"),
    ("host_capacity", (1, 0), -np.inf, fc.InfiniteValueError, 1, "host_capacity.cpu_mhz"),
    ("host_allocated", (3, 1), -1e-300, fc.NegativeValueError, 3, "host_allocated.mem_mb"),
    ("host_usage", (0, 11, 3), np.nan, fc.MissingValueError, 0, "host_usage.net_kbs"),
    ("host_info", (1, 9), -0.5, fc.NegativeValueError, 1, "host_info.failure_rate"),
])
def test_bad_values_raise_with_host_and_column(name, index, value, error, host,
                                               column) -> None:  # noqa: ANN001
    c = cluster(4)
    c[name] = c[name].copy()
    c[name][index] = value
    with pytest.raises(error) as info:
        run(c)
    exc = info.value
    assert isinstance(exc, fc.FeatureCoreError) and isinstance(exc, ValueError)
    assert exc.index == host and exc.channel == column and exc.feature is None
    where = (f"host {host}, " if host is not None else "") + f"column '{column}'"
    assert f"placement_factors: {where}: " in str(exc)


def test_negative_zero_is_not_negative_but_is_no_capacity() -> None:
    c = cluster(2)
    c["host_allocated"] = np.full((2, 4), -0.0)
    c["vm_history"] = np.full((12, 4), -0.0)
    assert np.isfinite(run(c)).all()
    c["host_capacity"] = c["host_capacity"].copy()
    c["host_capacity"][1, 3] = -0.0
    with pytest.raises(fc.ZeroCapacityError, match="host 1, column 'host_capacity.net_kbs'"):
        run(c)


def test_range_error_names_host_and_factor() -> None:
    c = cluster(3)
    c["host_usage"] = c["host_usage"].copy()
    c["host_usage"][2, 5, 0] = 1e300
    with pytest.raises(fc.RangeError, match="host 2, factor 'host_mean_cpu'") as info:
        run(c)
    assert info.value.index == 2 and info.value.feature == "host_mean_cpu"
    assert info.value.channel is None


@pytest.mark.parametrize("params", [fc.PlacementParams(history=1),
                                    fc.PlacementParams(history=2049),
                                    fc.PlacementParams(step_seconds=0),
                                    fc.PlacementParams(step_seconds=86401),
                                    fc.PlacementParams(history=-1)])
def test_bad_params(params: fc.PlacementParams) -> None:
    with pytest.raises(fc.BadParamsError):
        params.to_c()
    with pytest.raises(fc.BadParamsError):
        run(cluster(1, history=12), params)


def test_core_length_errors_name_the_array() -> None:
    c = cluster(2)
    arrays = [np.ravel(c[k]) for k in ("vm_request", "vm_history", "vm_info", "host_capacity",
                                       "host_allocated", "host_usage", "host_info")]
    for i, first in enumerate((0, 4, 8, 10, 14, 18, 22)):
        short = list(arrays)
        short[i] = short[i][:-1]
        with pytest.raises(fc.LengthError) as info:
            fc._placement_factors_flat(P, 2, tuple(short))
        assert info.value.channel == fc.PLACEMENT_COLUMNS[first]
    with pytest.raises(fc.LengthError, match="host_capacity.cpu_mhz"):
        fc._placement_factors_flat(P, 3, tuple(arrays))


# ---- properties ------------------------------------------------------------------------


@st.composite
def problems(draw) -> tuple[fc.PlacementParams, dict[str, np.ndarray]]:  # noqa: ANN001
    n = draw(st.integers(1, 7))
    history = draw(st.integers(2, 30))
    seed = draw(st.integers(0, 2**32 - 1))
    c = cluster(n, history, seed)
    rng = np.random.default_rng(seed + 1)
    if draw(st.booleans()):  # constant histories, empty and over-allocated hosts
        c["vm_history"][:, rng.integers(4)] = 0.1
        c["host_usage"][rng.integers(n)] = 0.0
        c["host_allocated"][rng.integers(n)] *= 3.0
    return fc.PlacementParams(history, draw(st.sampled_from([60, 300, 900]))), c


PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(problems(), st.randoms(use_true_random=False))
def test_host_order_permutes_rows_bit_for_bit(problem, rnd) -> None:  # noqa: ANN001
    params, c = problem
    n = c["host_capacity"].shape[0]
    order = list(range(n))
    rnd.shuffle(order)
    shuffled = {k: (v[order] if k.startswith("host_") else v) for k, v in c.items()}
    base, perm = run(c, params), run(shuffled, params)
    np.testing.assert_array_equal(perm.view(np.uint32), base[order].view(np.uint32))


@PROPERTY
@given(problems())
def test_rows_are_independent_of_other_hosts(problem) -> None:  # noqa: ANN001
    params, c = problem
    base = run(c, params)
    for h in range(base.shape[0]):
        one = {k: (v[h : h + 1] if k.startswith("host_") else v) for k, v in c.items()}
        np.testing.assert_array_equal(run(one, params).view(np.uint32),
                                      base[h : h + 1].view(np.uint32))


# Factors in the unit of their resource (scale with it); every other factor of a resource,
# and every cross-resource factor, is a ratio, a count or a correlation.
def _absolute(resource: str) -> set[str]:
    short = {"cpu_mhz": "cpu", "mem_mb": "mem", "disk_kbs": "disk", "net_kbs": "net"}[resource]
    stems = ("vm_request", "vm_mean", "vm_peak", "vm_std", "vm_trend", "vm_last",
             "host_capacity", "host_allocated", "host_mean", "host_peak", "host_std",
             "host_trend", "host_last", "headroom_after", "peak_headroom_after")
    extra = {"net_traffic_hops", "nic_util_vm", "nic_util_after"} if short == "net" else set()
    return {f"{s}_{short}" for s in stems} | extra


@PROPERTY
@given(problems(), st.integers(0, 3), st.integers(-20, 20))
def test_power_of_two_units_scale_exactly(problem, r: int, k: int) -> None:  # noqa: ANN001
    """Measuring resource r in a unit 2^k times smaller multiplies its absolute factors by
    2^k exactly and leaves every ratio, count, correlation and alignment bit-identical."""
    params, c = problem
    scaled = dict(c)
    scaled["vm_request"] = c["vm_request"].copy()
    scaled["vm_request"][r] *= 2.0**k
    for key, axis_last in (("vm_history", True), ("host_capacity", True),
                           ("host_allocated", True), ("host_usage", True)):
        scaled[key] = c[key].copy()
        scaled[key][..., r] *= 2.0**k
    base, got = run(c, params), run(scaled, params)
    absolute = _absolute(fc.PLACEMENT_RESOURCES[r])
    for f, name in enumerate(F):
        want = base[:, f] * np.float32(2.0**k) if name in absolute else base[:, f]
        np.testing.assert_array_equal(got[:, f], want, err_msg=name)


@PROPERTY
@given(problems())
def test_ranges(problem) -> None:  # noqa: ANN001
    params, c = problem
    out = run(c, params)
    col = {name: out[:, i] for i, name in enumerate(F)}
    for r in ("cpu", "mem", "disk", "net"):
        assert ((-1 <= col[f"demand_corr_{r}"]) & (col[f"demand_corr_{r}"] <= 1)).all()
        assert ((0 <= col[f"overload_frac_after_{r}"]) & (col[f"overload_frac_after_{r}"] <= 1)).all()
        assert (col[f"peak_diversity_{r}"] >= 1).all()
        assert (col[f"vm_std_{r}"] >= 0).all() and (col[f"host_std_{r}"] >= 0).all()
        assert (col[f"host_peak_{r}"] >= col[f"host_mean_{r}"]).all()
    assert (np.abs(col["cosine_alignment"]) <= 1).all()
    assert np.isin(col["dominant_resource"], [0, 1, 2, 3]).all()
    assert np.isin(col["host_empty"], [0, 1]).all()
    assert (col["alloc_util_min_after"] <= col["alloc_util_mean_after"]).all()
    assert (col["alloc_util_mean_after"] <= col["alloc_util_max_after"]).all()
