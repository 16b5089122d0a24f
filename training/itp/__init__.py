"""ITP (intelligent placement): a deterministic trace-replay simulator of VM placement on
heterogeneous hosts, its baselines, metrics and learning labels (docs/itp.md).

Modules: ``cluster`` (hosts, racks, maintenance), ``workload`` (synthetic default and
Bitbrains replay, requests, load), ``simulator`` (events, contention, workload speed),
``constraints`` (the one feasibility filter and the independent recount), ``policies``
(baselines), ``query`` (the placement-contract arrays for ``fc.placement_factors``),
``labels`` (counterfactual labels), ``evaluate`` (runs, metrics, load sweeps).
"""

from .cluster import RESOURCES, Cluster, ClusterConfig, HostType, make_cluster
from .constraints import Violations, feasible_hosts, recount
from .evaluate import (BITBRAINS_LOADS, EVAL_SEEDS, LOADS, TRAIN_SEED_BASE, RunMetrics,
                       ScenarioConfig, SummaryRow, bitbrains_config, make_pool, make_scenario,
                       metrics, run, summarise, sweep)
from .labels import LabelConfig, LabeledDecisions, counterfactual, generate
from .policies import BASELINES, EXTRA, BestFit, FirstFit, LeastLoaded, RandomPolicy, Tetris
from .query import HOST_INFO, VM_INFO, PlacementQuery, build_query
from .simulator import (Policy, PolicyError, Scenario, SimConfig, SimResult, SimState,
                        contention, simulate, workload_speed)
from .workload import (BitbrainsWorkloadConfig, SyntheticWorkloadConfig, VMPool, Workload,
                       bitbrains_pool, synthetic_pool, workload_at_load)

__all__ = [
    "RESOURCES", "Cluster", "ClusterConfig", "HostType", "make_cluster",
    "Violations", "feasible_hosts", "recount",
    "BITBRAINS_LOADS", "EVAL_SEEDS", "LOADS", "TRAIN_SEED_BASE", "RunMetrics", "ScenarioConfig",
    "SummaryRow", "bitbrains_config", "make_pool", "make_scenario", "metrics", "run",
    "summarise", "sweep",
    "LabelConfig", "LabeledDecisions", "counterfactual", "generate",
    "BASELINES", "EXTRA", "BestFit", "FirstFit", "LeastLoaded", "RandomPolicy", "Tetris",
    "HOST_INFO", "VM_INFO", "PlacementQuery", "build_query",
    "Policy", "PolicyError", "Scenario", "SimConfig", "SimResult", "SimState", "contention",
    "simulate", "workload_speed",
    "BitbrainsWorkloadConfig", "SyntheticWorkloadConfig", "VMPool", "Workload",
    "bitbrains_pool", "synthetic_pool", "workload_at_load",
]
