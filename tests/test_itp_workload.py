"""ITP workloads: the synthetic default (seeded, heterogeneous, correlated tenants, requests
that over- and under-state demand), the load knob, the cluster, and the Bitbrains replay code
on generated files in the Bitbrains format (never the real traces: those are the eval path)."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest

from dwcp_ml.training import data
from dwcp_ml.training.itp import cluster, workload
from dwcp_ml.training.itp.cluster import CPU, DISK, MEM, NET, R

CONFIG = workload.SyntheticWorkloadConfig(steps=2 * 288)


@pytest.fixture(scope="module")
def pool() -> workload.VMPool:
    return workload.synthetic_pool(400, seed=5, config=CONFIG)


def test_size_classes() -> None:
    got = workload.size_class(np.array([0, 50, 100, 101, 199, 200, 201, 499, 999, 1001, 4e4]))
    assert got.tolist() == [100, 100, 100, 200, 200, 200, 500, 500, 1000, 2000, 5e4]


def test_pool_is_seeded_and_prefix_stable(pool) -> None:
    small = workload.synthetic_pool(150, seed=5, config=CONFIG)
    n = small.demand.shape[0]
    assert np.array_equal(small.demand, pool.demand[:n])
    assert np.array_equal(small.request, pool.request[:n])
    assert np.array_equal(small.dep_epoch, pool.dep_epoch[:150])
    other = workload.synthetic_pool(150, seed=6, config=CONFIG)
    assert not np.array_equal(other.request[:50], pool.request[:50])


def test_units_sizes_and_requests(pool) -> None:
    d, req = pool.demand.astype(np.float64), pool.request
    assert d.shape == (len(req), CONFIG.history + CONFIG.steps, R)
    assert np.all(np.isfinite(d)) and np.all(d >= 0)
    assert np.all(req == np.round(req)) and np.all(req > 0)
    # Heterogeneous flavours: 1..16 vCPUs of 2600 MHz (some burstable: 1/4 or 1/2 reserved).
    ceilings = {c * data.MHZ_PER_CORE for c in CONFIG.vcpus}
    assert len(np.unique(req[:, CPU])) >= 6
    assert all(any(math.isclose(r, c * f) for c in ceilings for f in (1, 0.5, 0.25))
               for r in np.unique(req[:, CPU]))
    assert np.all(d[..., CPU] <= max(ceilings) + 1e-6)
    # Disk and network requests are size classes of the VM's own p95.
    p95 = np.percentile(d[..., [DISK, NET]], 95, axis=1)
    assert np.array_equal(req[:, [DISK, NET]], workload.size_class(p95))
    assert np.all(np.isin(req[:, [DISK, NET]] / 10 ** np.floor(np.log10(req[:, [DISK, NET]])),
                          [1, 2, 5]))


def test_requests_over_and_under_state_demand(pool) -> None:
    d, req = pool.demand.astype(np.float64), pool.request
    peak_cpu, mean_cpu = d[..., CPU].max(axis=1), d[..., CPU].mean(axis=1)
    under = np.mean(peak_cpu > req[:, CPU])
    over = np.mean(mean_cpu < 0.2 * req[:, CPU])
    mem_under = np.mean(d[..., MEM].max(axis=1) > req[:, MEM])
    assert under > 0.05 and over > 0.1 and 0.0 < mem_under < 0.2
    # Every kind is present, idle VMs use a few % of their size.
    kinds = np.bincount(pool.kind, minlength=len(workload.KINDS))
    assert np.all(kinds > 0)
    idle = pool.kind == workload.KINDS.index("idle")
    assert np.all(mean_cpu[idle] < 0.12 * req[idle, CPU])


def test_tenants_share_phase_and_co_burst(pool) -> None:
    batch = np.flatnonzero(pool.kind == workload.KINDS.index("batch"))
    cpu = pool.demand[batch, :, CPU].astype(np.float64)
    c = np.corrcoef(cpu)
    same = pool.tenant[batch][:, None] == pool.tenant[batch][None, :]
    off = ~np.eye(len(batch), dtype=bool)
    assert same[off].any() and (~same[off]).any()
    assert c[same & off].mean() > c[~same & off].mean() + 0.3
    # Whole fleet: the diurnal cycle is shared (summed CPU peaks well above its mean).
    total = pool.demand[..., CPU].sum(axis=0)
    assert total.max() > 1.3 * total.mean()
    # Deployments (anti-affinity groups) share flavour and tenant.
    for dep in range(20):
        members = slice(pool.dep_first[dep], pool.dep_first[dep] + pool.dep_size[dep])
        assert len(set(pool.tenant[members])) == 1
        assert len(set(pool.request[members, CPU])) == 1


def test_lifetimes() -> None:
    life = workload.Lifetime()
    rng = np.random.default_rng(0)
    draws = np.array([life.draw(rng) for _ in range(20_000)])
    assert np.all(draws >= 1) and np.all(draws[:, 0] >= 12) and np.all(draws[:, 0] <= 30 * 288)
    assert life.mean_steps() == pytest.approx(draws[:, 0].mean(), rel=0.03)
    # Residual lifetimes of the running population: E[L^2] / (2 E[L]).
    assert draws[:, 1].mean() == pytest.approx((draws[:, 0] ** 2).mean()
                                               / (2 * draws[:, 0].mean()), rel=0.1)


@pytest.mark.parametrize("load", [0.5, 0.95])
def test_workload_at_load(pool, load) -> None:
    cl = cluster.make_cluster(cluster.ClusterConfig(n_hosts=12, n_domains=3), CONFIG.steps, 5)
    cpu = float(cl.capacity[:, CPU].sum())
    wl = workload.workload_at_load(pool, cpu, load)
    H, T = wl.history, wl.steps
    assert wl.offered_load == pytest.approx(load, rel=0.03)
    assert np.all(np.diff(wl.arrive) >= 0) and np.all(wl.depart <= T)
    assert np.all(wl.arrive < wl.depart) and np.all(wl.arrive[wl.initial] == 0)
    assert 0 < wl.initial.sum() < wl.n
    assert wl.offset[-1] == len(wl.demand) == np.sum(wl.depart - wl.arrive + H)
    # Recomputed offered load and the demand rows against the pool's templates.
    total = sum(wl.series(i)[H:, CPU].sum() for i in range(wl.n))
    assert total / T / cpu == pytest.approx(wl.offered_load, rel=1e-9)
    for i in range(0, wl.n, 17):
        v = wl.template[i]
        a, b = wl.arrive[i], wl.depart[i]
        assert np.array_equal(wl.series(i), pool.demand[v, a:b + H])
        assert np.array_equal(wl.history_of(i), pool.demand[v, a:a + H])
        assert np.array_equal(wl.at(i, a, b), pool.demand[v, a + H:b + H])
    _, inv, counts = np.unique(wl.group, return_inverse=True, return_counts=True)
    assert np.array_equal(wl.group_size, counts[inv])
    with pytest.raises(ValueError, match="more deployments"):
        workload.workload_at_load(workload.synthetic_pool(5, 5, CONFIG), cpu * 100, load)


def test_cluster_is_heterogeneous_and_racked() -> None:
    config = cluster.ClusterConfig()
    cl = cluster.make_cluster(config, 576, seed=1)
    assert cl.n == 100 and cl.n_domains == 10
    assert np.bincount(cl.host_type).tolist() == [45, 20, 15, 20]
    assert np.all(np.diff(cl.domain) >= 0) and np.all(cl.domain_hosts == 10)
    assert len({tuple(c) for c in cl.capacity}) == 4
    assert np.all(cl.capacity == np.round(cl.capacity))
    std = config.host_types[0]
    assert std.capacity == (32 * 2600, 384 * 1024, 500 * 1024, math.floor(10_000 * 1e6 / 8192))
    m = cl.maint_start >= 0
    assert m.sum() == 5 and np.all(cl.maint_end[m] - cl.maint_start[m] >= 12)
    assert np.array_equal(cluster.make_cluster(config, 576, seed=1).maint_start, cl.maint_start)


# --------------------------------------------------------------------------- Bitbrains code


def _write_fake_month(root, month: str, vms: dict[int, np.ndarray]) -> None:
    folder = root / "bitbrains" / month
    folder.mkdir(parents=True)
    header = ("Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\t"
              "CPU usage [%];\tMemory capacity provisioned [KB];\tMemory usage [KB];\t"
              "Disk read throughput [KB/s];\tDisk write throughput [KB/s];\t"
              "Network received throughput [KB/s];\tNetwork transmitted throughput [KB/s]\n")
    for vm, rows in vms.items():
        with gzip.open(folder / f"{vm}.csv.gz", "wt") as fh:
            fh.write(header)
            for r in rows:
                fh.write(";\t".join(repr(float(x)) if i else str(int(x))
                                    for i, x in enumerate(r)) + "\n")


def _fake_vm(rng, t0: int, days: int, cores: int, gap: tuple[int, int] | None = None):
    n = days * 288
    ts = t0 + 300 * np.arange(n) + rng.integers(0, 30, n)
    cpu = rng.uniform(0, cores * 2600.0, n)
    cols = [ts, np.full(n, cores), np.full(n, cores * 2599.999), cpu, cpu / (cores * 26),
            np.full(n, cores * 2 * 1048576.0), rng.uniform(0, 1048576, n), rng.uniform(0, 50, n),
            rng.uniform(0, 50, n), rng.uniform(0, 20, n), rng.uniform(0, 20, n)]
    rows = np.column_stack(cols)
    if gap is not None:
        rows = np.delete(rows, np.arange(*gap), axis=0)
    return rows


@pytest.mark.filterwarnings("ignore:loadtxt. input contained no data")
def test_bitbrains_loader_and_replay_on_generated_files(tmp_path) -> None:
    rng = np.random.default_rng(3)
    t0 = 1372636800  # 2013-07-01
    vms = {1: _fake_vm(rng, t0, 31, 2), 2: _fake_vm(rng, t0, 31, 4, gap=(600, 700)),
           3: _fake_vm(rng, t0, 31, 1)}
    vms[3][:, 2] = 0.0  # no provisioned CPU: skipped
    vms[4] = _fake_vm(rng, t0, 0, 1)[:0]  # empty file: skipped
    vms[5] = _fake_vm(rng, t0, 1, 1)[:100]  # less than a day: skipped
    _write_fake_month(tmp_path, "2013-7", vms)
    month = workload.load_bitbrains_month("2013-7", str(tmp_path))
    assert [v.vm for v in month] == [1, 2]
    a = month[0]
    assert a.demand.shape == (31 * 288, R)
    assert a.request[:2] == (math.ceil(2 * 2599.999), math.ceil(2 * 2 * 1024.0))
    raw = vms[1]
    # The first bin averages the samples in [t0, t0 + 300): one sample here.
    assert a.demand[0].tolist() == pytest.approx([raw[0, 3], raw[0, 6] / 1024,
                                                  raw[0, 7] + raw[0, 8], raw[0, 9] + raw[0, 10]])
    # A 100-sample gap: 2 bins filled by the core, the rest missing.
    b = month[1]
    assert np.isnan(b.demand[602:699]).all() and not np.isnan(b.demand[:600]).any()
    assert a.request[2:] == tuple(workload.size_class(np.percentile(
        a.demand[:, [DISK, NET]], 95, axis=0)).tolist())

    config = workload.BitbrainsWorkloadConfig(root=str(tmp_path), steps=288)
    pool = workload.bitbrains_pool(200, seed=1, config=config)
    assert np.all(np.isfinite(pool.demand)) and pool.kind[0] == workload.BITBRAINS_KIND
    assert all(s.startswith("bitbrains/2013-7/") for s in pool.source)
    # Each template is its source VM shifted by whole days from the horizon start.
    for i in range(0, len(pool.source), 5):
        vm, shift = pool.source[i].rsplit("/", 1)[1].split("+")
        src = {v.vm: v for v in month}[int(vm)]
        start = 288 * (config.start_day + int(shift[:-1])) - config.history
        np.testing.assert_array_equal(pool.demand[i],
                                      src.demand[start:start + 288 + config.history]
                                      .astype(np.float32))
    # VM 2's gap is never replayed.
    assert not any(s.endswith("/2+1d") for s in pool.source)
    wl = workload.workload_at_load(pool, 200_000.0, 0.5)
    assert wl.offered_load == pytest.approx(0.5, rel=0.1)
