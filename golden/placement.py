"""Generator of the placement-factor golden vectors (``golden/placement_v1.txt``).

Inputs are small clusters built from the shipped synthetic VM generator
(``training/synthetic.py``) and from the shipped NAB series (MIT, ``training/nab/``), plus
hand-made edge cases; outputs are what the feature core returns through cffi. C, Python and
Go tests read the file back and require every bit. The format is docs/golden-format.md.
Bitbrains data is never written here (it has no licence).

Cluster inputs are built the way a caller builds them (the ITP simulator, or DWCP from its
host metrics): a VM's demand is resampled onto the 300 s grid by the core and converted to
the placement resources (cpu_mhz = cpu_pct / 100 x cores x 2600 MHz, mem_mb = mem_pct / 100
x provisioned MB, disk_kbs = read + write, net_kbs = rx + tx); a host's usage is the sum of
its resident VMs' demand and its allocation the sum of their requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dwcp_ml import feature_core as fc
from dwcp_ml.training import data, synthetic

from .vectors import hex64

FORMAT = "dwcp-fc-golden 1"
DEFAULT_PATH = Path(__file__).resolve().parent / "placement_v1.txt"

NAN = float("nan")
INF = float("inf")
R = len(fc.PLACEMENT_RESOURCES)
N_VM_INFO = len(fc.PLACEMENT_VM_INFO)
N_HOST_INFO = len(fc.PLACEMENT_HOST_INFO)
MHZ_PER_CORE = float(data.MHZ_PER_CORE)
STEP = 300
# The shipped NAB series (MIT): EC2 CPU utilisation in percent, 5-minute samples.
NAB_SHIPPED = (
    "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv",
)
# Host kinds: cores, memory MB, disk KB/s, NIC Mbit/s, relative cost per hour.
HOST_KINDS = (
    (32, 262144.0, 400000.0, 10000.0, 1.0),
    (64, 524288.0, 800000.0, 25000.0, 1.8),
    (16, 131072.0, 200000.0, 1000.0, 0.6),
)
ARRAYS = ("vm_request", "vm_history", "vm_info", "host_capacity", "host_allocated",
          "host_usage", "host_info")


@dataclass(frozen=True)
class PlaceCase:
    """One fc_place_factors call: params, n_hosts and the seven input arrays (any length,
    so that length errors can be recorded too)."""

    name: str
    params: fc.PlacementParams
    n_hosts: int
    vm_request: np.ndarray
    vm_history: np.ndarray
    vm_info: np.ndarray
    host_capacity: np.ndarray
    host_allocated: np.ndarray
    host_usage: np.ndarray
    host_info: np.ndarray

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(np.asarray(getattr(self, a), dtype=np.float64) for a in ARRAYS)

    def with_array(self, name: str, value: np.ndarray, label: str) -> PlaceCase:
        return replace(self, name=label, **{name: value})


# ---- demand --------------------------------------------------------------------------


@dataclass(frozen=True)
class Demand:
    """A VM: its request (R,) and its observed demand on the grid (T, R), NaN = missing."""

    request: np.ndarray
    series: np.ndarray


def _synthetic_demands(n_vms: int, seed: int, days: int = 2) -> list[Demand]:
    """Synthetic VMs (training/synthetic.py) resampled by the core onto one common grid."""
    config = synthetic.SyntheticConfig(vms=n_vms, days=days, seed=seed)
    params = fc.Params(schema=fc.Schema.VM)
    n_bins = days * synthetic.DAY // STEP
    rng = np.random.default_rng(seed)
    out = []
    for trace in synthetic.traces(config):
        _, grid, _ = fc.resample(params, trace.ts, trace.values, synthetic.START, n_bins)
        cores = float(rng.choice([1, 2, 4, 8]))
        mem = float(rng.choice([2048, 4096, 8192, 16384]))
        series = np.column_stack([
            grid[:, 0] / 100.0 * cores * MHZ_PER_CORE,
            grid[:, 1] / 100.0 * mem,
            grid[:, 2] + grid[:, 3],
            grid[:, 4] + grid[:, 5],
        ])
        request = np.array([cores * MHZ_PER_CORE, mem,
                            float(np.ceil(np.nanmax(series[:, 2]) / 100.0) * 100.0),
                            float(np.ceil(np.nanmax(series[:, 3]) / 100.0) * 100.0)])
        out.append(Demand(request, series))
    return out


def _nab_series() -> list[np.ndarray]:
    """The shipped NAB CPU series on their 300 s grid (resampled by the core)."""
    root = Path(data.__file__).resolve().parent
    params = fc.Params(schema=fc.Schema.METRIC)
    out = []
    for name in NAB_SHIPPED:
        trace = data.load_nab(name, root)
        _, grid, _ = fc.resample(params, trace.ts, trace.values)
        out.append(grid[:, 0])
    return out


def _nab_demands(n_vms: int, seed: int, length: int = 600) -> list[Demand]:
    """NAB-derived VMs: each resource is one shipped NAB CPU-utilisation series (percent)
    from a VM-specific offset, scaled to the resource's unit."""
    series = _nab_series()
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_vms):
        cores = float(rng.choice([1, 2, 4, 8]))
        mem = float(rng.choice([2048, 4096, 8192, 16384]))
        cols = []
        for r, unit in enumerate((cores * MHZ_PER_CORE / 100.0, mem / 100.0, 400.0, 2500.0)):
            s = series[(r + int(rng.integers(3))) % 3]
            start = int(rng.integers(0, len(s) - length))
            cols.append(np.minimum(s[start : start + length], 100.0) * unit)
        demand = np.column_stack(cols)
        request = np.array([cores * MHZ_PER_CORE, mem,
                            float(np.ceil(np.nanmax(demand[:, 2]) / 100.0) * 100.0),
                            float(np.ceil(np.nanmax(demand[:, 3]) / 100.0) * 100.0)])
        out.append(Demand(request, demand))
    return out


# ---- clusters ------------------------------------------------------------------------


def _cluster(name: str, demands: list[Demand], n_hosts: int, seed: int,
             history: int = 12, n_domains: int = 4, max_residents: int = 6,
             empty_hosts: tuple[int, ...] = ()) -> PlaceCase:
    """VM 0 is the newcomer; the others are placed on random hosts of random kinds, some in
    its anti-affinity group, some its peers. host_info follows the contract's definitions."""
    rng = np.random.default_rng(seed)
    kinds = rng.integers(0, len(HOST_KINDS), n_hosts)
    domain = np.arange(n_hosts) % n_domains
    cap = np.array([[k[0] * MHZ_PER_CORE, k[1], k[2], k[3] * 125.0] for k in
                    (HOST_KINDS[i] for i in kinds)])
    residents: list[list[int]] = [[] for _ in range(n_hosts)]
    others = list(range(1, len(demands)))
    rng.shuffle(others)
    for vm in others:
        h = int(rng.integers(n_hosts))
        if h in empty_hosts or len(residents[h]) >= max_residents:
            continue
        residents[h].append(vm)
    placed = [vm for hs in residents for vm in hs]
    group = {vm for vm in placed if rng.random() < 0.25}
    peers = {vm for vm in placed if rng.random() < 0.2}
    host_of = {vm: h for h, hs in enumerate(residents) for vm in hs}

    # the history: H samples ending where no placed VM (nor the newcomer) is missing
    series = np.stack([d.series for d in demands])  # (vms, T, R)
    used = [0, *placed]
    ok = ~np.isnan(series[used]).any(axis=(0, 2))
    runs = np.convolve(ok.astype(int), np.ones(history, int), "valid") == history
    ends = np.flatnonzero(runs) + history - 1
    if len(ends) == 0:
        raise ValueError(f"{name}: no complete history of {history} samples")
    end = int(ends[rng.integers(len(ends))])
    window = series[:, end - history + 1 : end + 1, :]  # (vms, H, R)

    alloc = np.zeros((n_hosts, R))
    usage = np.zeros((n_hosts, history, R))
    for h, hs in enumerate(residents):
        for vm in hs:
            alloc[h] += demands[vm].request
            usage[h] += window[vm]
    group_domains = {int(domain[host_of[vm]]) for vm in group}
    info = np.zeros((n_hosts, N_HOST_INFO))
    for h in range(n_hosts):
        same_domain = [g for g in range(n_hosts) if domain[g] == domain[h]]
        hops = [0.0 if host_of[p] == h else 1.0 if domain[host_of[p]] == domain[h] else 2.0
                for p in sorted(peers)]
        info[h] = [
            len(residents[h]),
            sum(host_of[g] == h for g in group),
            sum(domain[host_of[g]] == domain[h] for g in group),
            len(group_domains),
            len(group_domains | {int(domain[h])}),
            sum(host_of[p] == h for p in peers),
            sum(domain[host_of[p]] == domain[h] for p in peers),
            float(np.mean(hops)) if hops else 0.0,
            HOST_KINDS[kinds[h]][3],
            float(np.round(rng.uniform(0.2, 4.0), 2)),
            HOST_KINDS[kinds[h]][4],
            float(alloc[same_domain, 0].sum() / cap[same_domain, 0].sum()),
            len(same_domain),
        ]
    return PlaceCase(
        name, fc.PlacementParams(history=history, step_seconds=STEP), n_hosts,
        demands[0].request.copy(), window[0].copy(), np.array([len(group), len(peers)], float),
        cap, alloc, usage, info,
    )


def _pattern(shape: tuple[int, ...], seed: int, scale: float = 100.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(rng.gamma(2.0, scale / 2.0, size=shape), 6)


def _small(name: str, n_hosts: int = 3, history: int = 12, seed: int = 1,
           scale: float = 1.0) -> PlaceCase:
    """A hand-made cluster with every value positive: request, history, info, capacities
    (well above the allocations), allocations and usage."""
    rng = np.random.default_rng(seed)
    cap = np.array([[83200.0, 262144.0, 400000.0, 1250000.0]] * n_hosts)
    cap = cap * rng.choice([0.5, 1.0, 2.0], (n_hosts, 1))
    alloc = np.round(cap * rng.uniform(0.1, 0.7, (n_hosts, R)), 3)
    usage = np.round(alloc[:, None, :] * rng.uniform(0.1, 0.9, (n_hosts, history, R)), 3)
    request = np.array([5200.0, 8192.0, 20000.0, 50000.0])
    vm_history = np.round(request * rng.uniform(0.05, 0.95, (history, R)), 3)
    cap, alloc, usage, request, vm_history = (
        a * scale for a in (cap, alloc, usage, request, vm_history))
    host_info = np.column_stack([
        rng.integers(1, 9, n_hosts), rng.integers(0, 1, n_hosts), rng.integers(0, 3, n_hosts),
        np.full(n_hosts, 2), rng.integers(2, 4, n_hosts), rng.integers(0, 2, n_hosts),
        rng.integers(0, 3, n_hosts), rng.choice([0.0, 1.0, 2.0, 1.5], n_hosts),
        rng.choice([1000.0, 10000.0, 25000.0], n_hosts), np.round(rng.uniform(0, 3, n_hosts), 2),
        rng.choice([0.6, 1.0, 1.8], n_hosts), np.round(rng.uniform(0, 1, n_hosts), 4),
        rng.integers(1, 12, n_hosts),
    ]).astype(float)
    return PlaceCase(name, fc.PlacementParams(history=history), n_hosts, request, vm_history,
                     np.array([4.0, 3.0]), cap, alloc, usage, host_info)


def _palindromes(name: str, n_hosts: int, history: int = 12) -> PlaceCase:
    """Histories that read the same backwards, with full-precision values: every trend is
    exactly 0 in real arithmetic and what the core returns is rounding residue, which a
    build that fuses a*b+c into FMA changes. Over-allocated resources make the tetris sums
    cancel too. This vector lets the determinism matrix see FMA in the placement code."""
    rng = np.random.default_rng(77)

    def palindrome(shape: tuple[int, ...]) -> np.ndarray:
        half = rng.uniform(1e5, 1e6, (*shape[:-2], (history + 1) // 2, shape[-1]))
        return np.concatenate([half, half[..., : history // 2, :][..., ::-1, :]], axis=-2)

    case = _small(name, n_hosts, history, seed=5)
    cap = rng.uniform(2e6, 4e6, (n_hosts, R))
    alloc = cap * rng.uniform(0.5, 1.5, (n_hosts, R))
    return replace(case, vm_request=rng.uniform(1e4, 1e5, R), vm_history=palindrome((history, R)),
                   host_capacity=cap, host_allocated=alloc,
                   host_usage=palindrome((n_hosts, history, R)))


# ---- the cases -----------------------------------------------------------------------


def cases() -> Iterator[PlaceCase]:
    # Normal clusters from the shipped synthetic generator and NAB series.
    syn = _synthetic_demands(40, seed=20130701)
    yield _cluster("synthetic_16_hosts", syn, 16, seed=1)
    yield _cluster("synthetic_history_36", syn, 12, seed=2, history=36)
    yield _cluster("synthetic_history_288_day", syn[:10], 3, seed=3, history=288)
    yield _cluster("synthetic_many_hosts_128", _synthetic_demands(160, seed=6), 128, seed=4,
                   n_domains=8, max_residents=3)
    nab = _nab_demands(24, seed=11)
    yield _cluster("nab_8_hosts", nab, 8, seed=5)
    yield _cluster("nab_empty_hosts", nab, 6, seed=6, empty_hosts=(0, 3))
    one = _cluster("synthetic_one_host", syn, 1, seed=7)
    yield one
    yield replace(_cluster("synthetic_step_60", syn, 4, seed=8), name="synthetic_step_60",
                  params=fc.PlacementParams(history=12, step_seconds=60))
    yield _palindromes("fma_canary", 24)

    # Edge cases.
    base = _small("base", 3)
    yield base.with_array("vm_request", base.vm_request, "small_three_hosts")
    n0 = replace(base, name="no_hosts", n_hosts=0, host_capacity=np.zeros((0, R)),
                 host_allocated=np.zeros((0, R)), host_usage=np.zeros((0, 12, R)),
                 host_info=np.zeros((0, N_HOST_INFO)))
    yield n0
    empty = replace(base, name="empty_host", host_allocated=np.zeros((3, R)),
                    host_usage=np.zeros((3, 12, R)),
                    host_info=np.column_stack([np.zeros((3, 7)), base.host_info[:, 7:]]))
    yield empty
    yield replace(empty, name="zero_use_reserved", host_allocated=base.host_allocated)
    yield replace(base, name="zero_request", vm_request=np.zeros(R),
                  vm_history=np.zeros((12, R)))
    yield replace(base, name="zero_vm_info_nic", vm_info=np.zeros(N_VM_INFO),
                  host_info=np.column_stack([base.host_info[:, :8], np.zeros(3),
                                             base.host_info[:, 9:]]))
    const = base.host_usage.copy()
    const[0] = 0.1  # a mean of 0.1s is not 0.1 in binary: std and trend must still be 0
    const[1, :, 2] = 7.0
    yield replace(base, name="constant_history", vm_history=np.full((12, R), 0.1),
                  host_usage=const)
    yield replace(base, name="constant_vm_only", vm_history=np.full((12, R), 1234.5))
    full = base.host_capacity.copy()
    yield replace(base, name="full_host", host_allocated=full,
                  host_usage=np.repeat(full[:, None, :], 12, axis=1))
    yield replace(base, name="overcommitted_host", host_allocated=base.host_capacity * 1.5,
                  host_usage=base.host_usage * 4.0)
    yield replace(base, name="request_equals_free",
                  vm_request=base.host_capacity[0] - base.host_allocated[0])
    yield _small("history_2", 4, history=2, seed=3)
    yield _small("history_3", 4, history=3, seed=4)
    yield _small("huge_1e30", 3, seed=6, scale=1e30)
    yield _small("tiny_1e-30", 3, seed=7, scale=1e-30)
    yield _small("subnormal_1e-310", 3, seed=8, scale=1e-310)
    yield _small("beyond_float32", 3, seed=9, scale=1e36)
    big_usage = base.host_usage.copy()
    big_usage[1, 4, 3] = 1e200
    yield replace(base, name="range_usage_1e200", host_usage=big_usage)
    yield replace(base, name="negative_zero_allowed", vm_history=np.full((12, R), -0.0),
                  host_allocated=np.full((3, R), -0.0))

    # Bad values: each input array, each status.
    for array in ARRAYS:
        for label, value in (("nan", NAN), ("inf", INF), ("neg_inf", -INF),
                             ("negative", -1e-9)):
            arr = getattr(base, array).copy()
            flat = arr.reshape(-1)
            flat[min(len(flat) - 1, 5 if array != "host_info" else 19)] = value
            yield base.with_array(array, arr, f"{array}_{label}")
    cap0 = base.host_capacity.copy()
    cap0[2, 1] = 0.0
    yield base.with_array("host_capacity", cap0, "host_capacity_zero")
    cap0 = base.host_capacity.copy()
    cap0[1, 3] = -0.0
    yield base.with_array("host_capacity", cap0, "host_capacity_negative_zero")
    later = base.host_usage.copy()
    later[2, 11, 3] = NAN
    bad_first = base.host_info.copy()
    bad_first[1, 12] = -1.0
    yield replace(base, name="first_bad_host_wins", host_usage=later, host_info=bad_first)

    # Lengths and params.
    for array in ARRAYS:
        arr = np.ravel(getattr(base, array))
        yield base.with_array(array, arr[:-1], f"{array}_too_short")
    yield base.with_array("host_info", np.ravel(base.host_info).tolist() + [1.0],
                          "host_info_too_long")
    yield replace(base, name="n_hosts_mismatch", n_hosts=2)
    yield replace(base, name="vm_history_wrong_h", params=fc.PlacementParams(history=11))
    for label, params in (("history_1", fc.PlacementParams(history=1)),
                          ("history_2049", fc.PlacementParams(history=2049)),
                          ("step_0", fc.PlacementParams(step_seconds=0)),
                          ("step_86401", fc.PlacementParams(step_seconds=86401))):
        yield replace(base, name=f"params_{label}", params=params)


# ---- rendering -----------------------------------------------------------------------


def _hex32(values: np.ndarray) -> str:
    return " ".join(
        f"{int(b):08x}" for b in np.ascontiguousarray(values, np.float32).view(np.uint32).ravel()
    )


def run(case: PlaceCase) -> list[str]:
    """Runs one case through the core and returns the expected-result lines."""
    try:
        out = fc._placement_factors_flat(case.params, case.n_hosts, case.arrays())
    except fc.FeatureCoreError as exc:
        column = fc.PLACEMENT_COLUMNS.index(exc.channel) if exc.channel else -1
        factor = fc.PLACEMENT_FACTORS.index(exc.feature) if exc.feature else -1
        index = -1 if exc.index is None else exc.index
        return [f"status {exc.status}", f"error {index} {column} {factor}"]
    return ["status FC_OK", f"out {_hex32(out)}".rstrip()]


def render() -> str:
    out = [FORMAT, f"fc_version {fc.VERSION}", f"place_hash {fc.PLACEMENT_HASH:016x}",
           "# generated by `dwcp-ml golden`; do not edit (docs/golden-format.md)"]
    names: set[str] = set()
    for case in cases():
        if case.name in names:
            raise ValueError(f"duplicate placement vector {case.name}")
        names.add(case.name)
        out += [f"vector {case.name}", "call place", f"history {case.params.history}",
                f"step_seconds {case.params.step_seconds}", f"n_hosts {case.n_hosts}"]
        for name, arr in zip(ARRAYS, case.arrays()):
            out.append(f"{name} {hex64(arr)}".rstrip())
        out += run(case)
        out.append("end")
    return "\n".join(out) + "\n"


def write(path: Path = DEFAULT_PATH) -> Path:
    path.write_text(render())
    return path
