"""A placement request as DWCP's Go code sends it (sidecar/engine PlacementRequest), in the
JSON of the itp golden predictions (docs/bundle.md "Placement goldens"): the whole cluster as
the caller knows it, host by host, and the VM to place. Floats travel as big-endian IEEE-754
doubles in hex so every bit survives.

``request_from_state`` writes one from a simulator state; ``query_from_request`` reads one
back the way the Go runtime does — the hard constraints, then the factor inputs of the
feasible hosts — so a test can require that it reproduces ``feasible_hosts`` and
``build_query`` exactly, and the bundle writer can compute golden features from the request
alone.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .cluster import R
from .query import HOST_INFO, PlacementQuery
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
    n, H = len(hosts), int(history)
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

    on_host = np.bincount(m_host, minlength=n)
    in_dom = np.bincount(dom[m_host], minlength=D)
    ok = ~np.array([h["maintenance"] for h in hosts], bool)
    ok &= np.all(allocated + request <= capacity * overcommit, axis=1)
    g = int(vm["group_size"])
    if g > 1 and len(m_host):
        ok &= (on_host == 0) & (in_dom[dom] < math.ceil(g / D))
    feasible = np.flatnonzero(ok)

    fd = dom[feasible]
    info = np.zeros((len(feasible), len(HOST_INFO)), np.float64)
    info[:, 0] = [hosts[h]["vm_count"] for h in feasible]
    info[:, 1] = on_host[feasible]
    info[:, 2] = in_dom[fd]
    n_dom = int(np.count_nonzero(in_dom))
    info[:, 3] = n_dom
    info[:, 4] = n_dom + (in_dom[fd] == 0)
    p_on = np.bincount(p_host, minlength=n)[feasible].astype(np.float64)
    p_in = np.bincount(dom[p_host], minlength=D)[fd].astype(np.float64)
    info[:, 5], info[:, 6] = p_on, p_in
    if len(p_host):
        info[:, 7] = ((p_in - p_on) * 1.0 + (len(p_host) - p_in) * 2.0) / len(p_host)
    info[:, 8] = scalar["nic_mbps"][feasible]
    info[:, 9] = scalar["failure_rate"][feasible]
    info[:, 10] = scalar["cost"][feasible]
    dom_alloc = np.bincount(dom, weights=allocated[:, 0], minlength=D)
    dom_cap = np.bincount(dom, weights=capacity[:, 0], minlength=D)
    info[:, 11] = dom_alloc[fd] / dom_cap[fd]
    info[:, 12] = np.bincount(dom, minlength=D)[fd]

    c = np.ascontiguousarray
    return PlacementQuery(
        hosts=feasible, vm_request=c(request), vm_history=c(_unhex(vm["history"], (H, R))),
        vm_info=np.array([len(m_host), len(p_host)], np.float64),
        host_capacity=c(capacity[feasible]), host_allocated=c(allocated[feasible]),
        host_usage=c(usage[feasible]), host_info=c(info))


__all__ = ["KIND", "request_from_state", "query_from_request"]
