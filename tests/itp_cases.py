"""Small ITP scenarios and hand-made cases shared by the test_itp_* files."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from dwcp_ml.training.itp import cluster, evaluate, simulator, workload

SMALL_CLUSTER = cluster.ClusterConfig(n_hosts=16, n_domains=4, maintenance_fraction=0.25,
                                      maintenance_hours=(1.0, 3.0))
SMALL_WORKLOAD = workload.SyntheticWorkloadConfig(steps=72)


def small_config(load: float = 0.8, seed: int = 0) -> evaluate.ScenarioConfig:
    return evaluate.ScenarioConfig(load=load, seed=seed, cluster=SMALL_CLUSTER,
                                   workload=SMALL_WORKLOAD)


def small_scenario(load: float = 0.8, seed: int = 0,
                   pool: workload.VMPool | None = None) -> simulator.Scenario:
    config = small_config(load, seed)
    return evaluate.make_scenario(config, pool)


def hand_scenario(capacity, vms, *, steps: int, history: int = 1, domain=None, maint=None,
                  swap_penalty: float = 10.0, overcommit=(4.0, 1.0, 1.0, 1.0)
                  ) -> simulator.Scenario:
    """vms: list of dicts with arrive, depart, request (R), demand rows (history + life, R),
    optional group, tenant."""
    n = len(vms)
    group = np.array([v.get("group", 1000 + i) for i, v in enumerate(vms)])
    tenant = np.array([v.get("tenant", 1000 + i) for i, v in enumerate(vms)])
    wl = workload.make_workload(
        np.array([v["arrive"] for v in vms]), np.array([v["depart"] for v in vms]),
        np.array([v["request"] for v in vms], np.float64), [np.asarray(v["demand"], float)
                                                            for v in vms],
        steps=steps, history=history, tenant=tenant, group=group)
    ms = me = None
    if maint is not None:
        ms, me = (np.array(x) for x in zip(*maint))
    cl = cluster.cluster_from(np.asarray(capacity, float), domain, maint_start=ms, maint_end=me)
    assert wl.n == n
    return simulator.Scenario(cl, wl, replace(simulator.SimConfig(), swap_penalty=swap_penalty,
                                              overcommit=overcommit), seed=0, name="hand")


class Scripted:
    """Places VM i on ``hosts[i]`` (fails loudly if that host is not feasible)."""

    name = "scripted"

    def __init__(self, hosts: dict[int, int]):
        self.hosts = hosts

    def reset(self, scenario) -> None:
        pass

    def choose(self, state, vm, feasible):
        return self.hosts[vm]
