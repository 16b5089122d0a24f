"""A placement request as DWCP's Go code sends it (sidecar/engine PlacementRequest), in the
JSON of the itp golden predictions (docs/bundle.md "Placement goldens"): the whole cluster as
the caller knows it, host by host, and the VM to place. Floats travel as big-endian IEEE-754
doubles in hex so every bit survives.

``request_from_state`` writes one from a simulator state; ``query_from_request`` reads one
back as the Go runtime does — the hard constraints, then the factor inputs of the feasible
hosts — with the simulator's own ``constraints.feasible`` and ``query.host_info`` on the
request's arrays. A test requires that it reproduces ``feasible_hosts`` and ``build_query``
exactly (the request carries the whole state), and the bundle writer computes golden
features from the request alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .cluster import R
from . import constraints
from .query import PlacementQuery, host_info
from .simulator import SimState

KIND = "placement"


def _hex(values: Any) -> str:
    return np.ascontiguousarray(values, np.float64).astype(">f8").tobytes().hex()


def _unhex(text: str, shape: tuple[int, ...]) -> NDArray[np.float64]:
    return np.frombuffer(bytes.fromhex(text), ">f8").astype(np.float64).reshape(shape)


def request_from_state(state: SimState, vm: int) -> dict[str, Any]:
    """The request DWCP would send to place ``vm`` now: every host of the cluster."""
    wl, cl = state.workload, state.cluster
    host_id = [f"h{h}" for h in range(cl.n)]
    members, peers = state.group_members(vm), state.peers(vm)
    usage = state.host_usage(np.arange(cl.n))
    hosts = [{
        "id": host_id[h], "domain": f"r{int(cl.domain[h])}",
        "capacity": _hex(cl.capacity[h]), "allocated": _hex(state.alloc[h]),
        "usage": _hex(usage[h]), "vm_count": len(state.host_vms[h]),
        "nic_mbps": _hex([cl.nic_mbps[h]]), "failure_rate": _hex([cl.failure_rate[h]]),
        "cost": _hex([cl.cost[h]]), "maintenance": bool(state.in_maintenance[h]),
    } for h in range(cl.n)]
    group_size = int(wl.group_size[vm])
    return {
        "vm": {
            "request": _hex(wl.request[vm]), "history": _hex(state.vm_history(vm)),
            "group": f"g{int(wl.group[vm])}" if group_size > 1 else "",
            "group_size": group_size,
            "group_hosts": [host_id[h] for h in state.vm_host[members]],
            "peer_hosts": [host_id[h] for h in state.vm_host[peers]],
        },
        "hosts": hosts,
        "overcommit": _hex(np.asarray(state.scenario.config.overcommit, np.float64)),
    }


def query_from_request(req: dict[str, Any], history: int) -> PlacementQuery:
    """The hard constraints and the factor inputs of the feasible hosts, from the request
    alone (what sidecar/runtime does in Go). ``hosts`` of the result are the feasible host
    indices, ascending."""
    vm, hosts = req["vm"], req["hosts"]
    H = int(history)
    ids = [h["id"] for h in hosts]
    index = {h: i for i, h in enumerate(ids)}
    domain_names = sorted({h["domain"] for h in hosts}, key=[h["domain"] for h in hosts].index)
    dom_index = {d: i for i, d in enumerate(domain_names)}
    D = len(domain_names)
    dom = np.array([dom_index[h["domain"]] for h in hosts], np.int64)
    capacity = np.stack([_unhex(h["capacity"], (R,)) for h in hosts])
    allocated = np.stack([_unhex(h["allocated"], (R,)) for h in hosts])
    usage = np.stack([_unhex(h["usage"], (H, R)) for h in hosts])
    scalar = {k: np.array([_unhex(h[k], (1,))[0] for h in hosts]) for k in
              ("nic_mbps", "failure_rate", "cost")}
    request = _unhex(vm["request"], (R,))
    overcommit = _unhex(req["overcommit"], (R,))
    m_host = np.array([index[h] for h in vm["group_hosts"]], np.int64)
    p_host = np.array([index[h] for h in vm["peer_hosts"]], np.int64)

    maintenance = np.array([h["maintenance"] for h in hosts], bool)
    feasible = constraints.feasible(maintenance, allocated, request, capacity * overcommit,
                                    int(vm["group_size"]), m_host, dom, D)
    info = host_info(feasible, np.array([hosts[h]["vm_count"] for h in feasible], np.float64),
                     dom, D, m_host, p_host, scalar["nic_mbps"], scalar["failure_rate"],
                     scalar["cost"], allocated[:, 0], capacity[:, 0])

    c = np.ascontiguousarray
    return PlacementQuery(
        hosts=feasible, vm_request=c(request), vm_history=c(_unhex(vm["history"], (H, R))),
        vm_info=np.array([len(m_host), len(p_host)], np.float64),
        host_capacity=c(capacity[feasible]), host_allocated=c(allocated[feasible]),
        host_usage=c(usage[feasible]), host_info=c(info))


__all__ = ["KIND", "request_from_state", "query_from_request"]
