"""The placement state of one decision as the arrays of docs/placement-contract.md, the
inputs of ``fc.placement_factors`` (the C core computes every factor; nothing here is a
feature, only the raw state the simulator knows).

For VM ``vm`` arriving (or migrating) at step t and candidate hosts ``hosts``:

- vm_request (R,): its reserved size;
- vm_history (H, R): its demand over steps t-H .. t-1, oldest first (for an arriving VM the H
  samples before arrival, "as DWCP knows it from the VM's previous run");
- vm_info (2,): group_size = placed, alive VMs of its anti-affinity group (itself excluded),
  peers = placed, alive VMs of its tenant (itself excluded);
- host_capacity, host_allocated (n, R): physical capacity and summed requests of residents;
- host_usage (n, H, R): summed demand of the VMs on the host at each of the last H steps
  (each step counts the VMs that were on the host at that step), oldest first;
- host_info (n, 13): the contract's columns, HOST_INFO below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .cluster import RESOURCES, R
from .simulator import SimState

VM_INFO = ("group_size", "peers")
HOST_INFO = ("vm_count", "group_on_host", "group_in_domain", "group_domains",
             "group_domains_after", "peers_on_host", "peers_in_domain", "net_distance",
             "nic_mbps", "failure_rate", "cost", "domain_cpu_share", "domain_hosts")


@dataclass(frozen=True)
class PlacementQuery:
    """Inputs of one ``fc.placement_factors`` call, float64, C-contiguous, shapes of the
    contract; ``hosts`` are the candidate host indices (rows of the host arrays)."""

    hosts: NDArray[np.int64]
    vm_request: NDArray[np.float64]  # (R,)
    vm_history: NDArray[np.float64]  # (H, R)
    vm_info: NDArray[np.float64]  # (2,)
    host_capacity: NDArray[np.float64]  # (n, R)
    host_allocated: NDArray[np.float64]  # (n, R)
    host_usage: NDArray[np.float64]  # (n, H, R)
    host_info: NDArray[np.float64]  # (n, 13)

    def args(self) -> tuple[NDArray[np.float64], ...]:
        """Positional arrays of ``fc.placement_factors(params, *query.args())``."""
        return (self.vm_request, self.vm_history, self.vm_info, self.host_capacity,
                self.host_allocated, self.host_usage, self.host_info)


def _c(a: NDArray) -> NDArray[np.float64]:
    return np.ascontiguousarray(a, dtype=np.float64)


def host_info(hosts: NDArray[np.int64], vm_count: NDArray[np.float64],
              domain: NDArray[np.int64], n_domains: int, member_hosts: NDArray[np.int64],
              peer_hosts: NDArray[np.int64], nic_mbps: NDArray[np.float64],
              failure_rate: NDArray[np.float64], cost: NDArray[np.float64],
              alloc_cpu: NDArray[np.float64], capacity_cpu: NDArray[np.float64]
              ) -> NDArray[np.float64]:
    """The HOST_INFO columns of the candidate ``hosts`` (vm_count is per candidate; every
    other per-host array covers the whole cluster): the VM's group members and peers are
    on ``member_hosts`` and ``peer_hosts``, one entry per VM. The simulator (build_query)
    and a DWCP request (request.py) both come here."""
    n, D = len(domain), n_domains
    dom = domain[hosts]
    info = np.zeros((len(hosts), len(HOST_INFO)), np.float64)
    info[:, 0] = vm_count
    info[:, 1] = np.bincount(member_hosts, minlength=n)[hosts]
    in_dom = np.bincount(domain[member_hosts], minlength=D)
    info[:, 2] = in_dom[dom]
    n_dom = int(np.count_nonzero(in_dom))
    info[:, 3] = n_dom
    info[:, 4] = n_dom + (in_dom[dom] == 0)
    p_on = np.bincount(peer_hosts, minlength=n)[hosts].astype(np.float64)
    p_in = np.bincount(domain[peer_hosts], minlength=D)[dom].astype(np.float64)
    info[:, 5], info[:, 6] = p_on, p_in
    if len(peer_hosts):
        # Hops to each peer: 0 same host, 1 same domain (rack), 2 another domain.
        info[:, 7] = ((p_in - p_on) * 1.0 + (len(peer_hosts) - p_in) * 2.0) / len(peer_hosts)
    info[:, 8] = nic_mbps[hosts]
    info[:, 9] = failure_rate[hosts]
    info[:, 10] = cost[hosts]
    dom_alloc = np.bincount(domain, weights=alloc_cpu, minlength=D)
    dom_cap = np.bincount(domain, weights=capacity_cpu, minlength=D)
    info[:, 11] = dom_alloc[dom] / dom_cap[dom]
    info[:, 12] = np.bincount(domain, minlength=D)[dom]
    return info


def build_query(state: SimState, vm: int, hosts: NDArray[np.int64]) -> PlacementQuery:
    """The contract's arrays for ``vm`` against ``hosts`` in the current state."""
    wl, cl = state.workload, state.cluster
    hosts = np.asarray(hosts, np.int64)
    members, peers = state.group_members(vm), state.peers(vm)
    info = host_info(hosts, np.array([len(state.host_vms[h]) for h in hosts], np.float64),
                     cl.domain, cl.n_domains, state.vm_host[members], state.vm_host[peers],
                     cl.nic_mbps, cl.failure_rate, cl.cost, state.alloc[:, 0], cl.capacity[:, 0])
    vm_info = np.array([len(members), len(peers)], np.float64)
    return PlacementQuery(
        hosts=hosts, vm_request=_c(wl.request[vm]), vm_history=_c(state.vm_history(vm)),
        vm_info=vm_info, host_capacity=_c(cl.capacity[hosts]),
        host_allocated=_c(state.alloc[hosts]), host_usage=_c(state.host_usage(hosts)),
        host_info=_c(info))


__all__ = ["VM_INFO", "HOST_INFO", "RESOURCES", "R", "PlacementQuery", "build_query", "host_info"]
