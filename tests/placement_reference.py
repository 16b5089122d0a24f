"""Independent, straightforward numpy implementation of the placement factors as
docs/placement-factors.md defines them. Used only by tests, to check the C core is *correct*
(not just consistent); it shares no code with it and sums however numpy sums.

``factors`` returns float64 (n_hosts, F) in the order of ``NAMES`` (written out here, not
read from the core, so a reordering in the core is caught too).
"""

from __future__ import annotations

import numpy as np

RES = ("cpu", "mem", "disk", "net")


def _per(stem: str) -> list[str]:
    return [f"{stem}_{r}" for r in RES]


NAMES: tuple[str, ...] = tuple(
    sum((_per(s) for s in ("vm_request", "vm_mean", "vm_peak", "vm_std", "vm_trend",
                           "vm_last", "vm_peak_to_request")), [])
    + sum((_per(s) for s in ("host_capacity", "host_allocated", "host_allocated_ratio",
                             "host_mean", "host_peak", "host_std", "host_trend", "host_last",
                             "host_util")), [])
    + sum((_per(s) for s in ("request_share", "alloc_ratio_after", "mean_util_after",
                             "peak_util_after", "joint_peak_util_after", "peak_diversity",
                             "headroom_after", "peak_headroom_after", "overcommit_after",
                             "overload_frac_after", "overload_excess_after", "demand_corr")),
          [])
    + ["alloc_util_mean_after", "alloc_util_std_after", "alloc_util_max_after",
       "alloc_util_min_after", "usage_util_std_after", "joint_peak_util_max_after",
       "tetris_alignment", "cosine_alignment", "tetris_usage_alignment", "free_l2_before",
       "free_l2_after", "free_min_after", "stranded_after", "dominant_share",
       "dominant_resource", "resources_over_after"]
    + ["vm_count", "vm_count_after", "host_empty", "group_size", "group_on_host",
       "group_in_domain", "group_domain_frac", "group_exposure_after", "group_domains",
       "group_domains_after", "group_spread_gain", "peers", "peers_on_host", "peers_in_domain",
       "peers_on_host_frac", "peers_in_domain_frac", "net_distance", "net_traffic_hops",
       "nic_mbps", "nic_util_vm", "nic_util_after", "failure_rate", "cost",
       "cost_per_vm_after", "domain_cpu_share", "domain_hosts"]
)


def _safe_div(a: np.ndarray, b: np.ndarray, default: float) -> np.ndarray:
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    out = np.full(a.shape, default, dtype=float)
    np.divide(a, b, out=out, where=b != 0)
    return out


def series_stats(x: np.ndarray, step_seconds: int) -> dict[str, np.ndarray]:
    """Statistics over axis -2 (time) of x (..., H, R): mean, peak, std, trend (per hour),
    last, and the deviations; a constant history has mean = its value and no spread."""
    h = x.shape[-2]
    lo, hi = x.min(axis=-2), x.max(axis=-2)
    constant = lo == hi
    mean = np.where(constant, lo, x.mean(axis=-2))
    dev = np.where(constant[..., None, :], 0.0, x - mean[..., None, :])
    k = np.arange(h) - (h - 1) / 2.0
    std = np.sqrt((dev**2).mean(axis=-2))
    slope = (k[:, None] * dev).sum(axis=-2) / (k**2).sum()
    return {"mean": mean, "peak": hi, "std": std, "trend": slope * (3600.0 / step_seconds),
            "last": x[..., -1, :], "dev": dev, "constant": constant}


def correlation(dx: np.ndarray, dy: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """Pearson correlation over axis -2 of deviations dx (H, R) and dy (n, H, R); 0 where
    either history is constant. Deviations are normalised by their largest magnitude first
    (any positive scale gives the same correlation) so that tiny and huge inputs work."""
    def unit(d: np.ndarray) -> np.ndarray:
        m = np.abs(d).max(axis=-2, keepdims=True)
        return _safe_div(d, m, 0.0)

    ux, uy = unit(dx)[None], unit(dy)
    num = (ux * uy).sum(axis=-2)
    den = np.sqrt((ux**2).sum(axis=-2) * (uy**2).sum(axis=-2))
    corr = np.clip(_safe_div(num, den, 0.0), -1.0, 1.0)
    return np.where(cx[None] | cy, 0.0, corr)


def factors(history: int, step_seconds: int, vm_request: np.ndarray, vm_history: np.ndarray,
            vm_info: np.ndarray, host_capacity: np.ndarray, host_allocated: np.ndarray,
            host_usage: np.ndarray, host_info: np.ndarray) -> np.ndarray:
    """(n, F) float64 factors; inputs as placement_factors takes them."""
    req, hist = np.asarray(vm_request, float), np.asarray(vm_history, float)
    cap, alloc = np.asarray(host_capacity, float), np.asarray(host_allocated, float)
    usage, info = np.asarray(host_usage, float), np.asarray(host_info, float)
    group_size, peers = float(vm_info[0]), float(vm_info[1])
    n = cap.shape[0]
    assert hist.shape == (history, 4) and usage.shape == (n, history, 4)

    vm = series_stats(hist, step_seconds)
    host = series_stats(usage, step_seconds)
    joint = usage + hist[None]
    jpeak = joint.max(axis=1)
    hot = joint > cap[:, None, :]
    after = alloc + req

    cols: dict[str, np.ndarray] = {}

    def per(stem: str, value: np.ndarray) -> None:
        value = np.broadcast_to(value, (n, 4))
        for j, r in enumerate(RES):
            cols[f"{stem}_{r}"] = value[:, j]

    per("vm_request", req)
    per("vm_mean", vm["mean"])
    per("vm_peak", vm["peak"])
    per("vm_std", vm["std"])
    per("vm_trend", vm["trend"])
    per("vm_last", vm["last"])
    per("vm_peak_to_request", _safe_div(vm["peak"], req, 0.0))
    per("host_capacity", cap)
    per("host_allocated", alloc)
    per("host_allocated_ratio", alloc / cap)
    per("host_mean", host["mean"])
    per("host_peak", host["peak"])
    per("host_std", host["std"])
    per("host_trend", host["trend"])
    per("host_last", host["last"])
    per("host_util", host["mean"] / cap)
    q = req / cap
    u = after / cap
    w = (host["mean"] + vm["mean"]) / cap
    p = jpeak / cap
    per("request_share", q)
    per("alloc_ratio_after", u)
    per("mean_util_after", w)
    per("peak_util_after", (host["peak"] + vm["peak"]) / cap)
    per("joint_peak_util_after", p)
    per("peak_diversity", _safe_div(host["peak"] + vm["peak"], jpeak, 1.0))
    per("headroom_after", cap - after)
    per("peak_headroom_after", cap - jpeak)
    per("overcommit_after", np.where(after > cap, (after - cap) / cap, 0.0))
    per("overload_frac_after", hot.sum(axis=1) / history)
    per("overload_excess_after", np.where(hot, joint - cap[:, None, :], 0.0).sum(axis=1)
        / history / cap)
    per("demand_corr", correlation(vm["dev"], host["dev"], vm["constant"], host["constant"]))

    free_before = (cap - alloc) / cap
    free_after = np.maximum(cap - after, 0.0) / cap
    tetris = (q * free_before).sum(axis=1)
    nq = np.linalg.norm(q, axis=1)
    nf = np.linalg.norm(free_before, axis=1)
    cols["alloc_util_mean_after"] = u.mean(axis=1)
    cols["alloc_util_std_after"] = u.std(axis=1)
    cols["alloc_util_max_after"] = u.max(axis=1)
    cols["alloc_util_min_after"] = u.min(axis=1)
    cols["usage_util_std_after"] = w.std(axis=1)
    cols["joint_peak_util_max_after"] = p.max(axis=1)
    cols["tetris_alignment"] = tetris
    cols["cosine_alignment"] = np.clip(
        np.where((nq > 0) & (nf > 0), tetris / np.where(nq * nf > 0, nq * nf, 1.0), 0.0), -1, 1)
    cols["tetris_usage_alignment"] = ((vm["mean"] / cap) * ((cap - host["mean"]) / cap)).sum(1)
    cols["free_l2_before"] = np.linalg.norm(np.maximum(free_before, 0.0), axis=1)
    cols["free_l2_after"] = np.linalg.norm(free_after, axis=1)
    cols["free_min_after"] = free_after.min(axis=1)
    cols["stranded_after"] = (free_after - free_after.min(axis=1, keepdims=True)).mean(axis=1)
    cols["dominant_share"] = q.max(axis=1)
    cols["dominant_resource"] = q.argmax(axis=1).astype(float)  # first maximum
    cols["resources_over_after"] = (after > cap).sum(axis=1).astype(float)

    vm_count = info[:, 0]
    cols["vm_count"] = vm_count
    cols["vm_count_after"] = vm_count + 1
    cols["host_empty"] = (vm_count == 0).astype(float)
    cols["group_size"] = np.full(n, group_size)
    cols["group_on_host"] = info[:, 1]
    cols["group_in_domain"] = info[:, 2]
    cols["group_domain_frac"] = _safe_div(info[:, 2], np.full(n, group_size), 0.0)
    cols["group_exposure_after"] = (info[:, 2] + 1) / (group_size + 1)
    cols["group_domains"] = info[:, 3]
    cols["group_domains_after"] = info[:, 4]
    cols["group_spread_gain"] = info[:, 4] - info[:, 3]
    cols["peers"] = np.full(n, peers)
    cols["peers_on_host"] = info[:, 5]
    cols["peers_in_domain"] = info[:, 6]
    cols["peers_on_host_frac"] = _safe_div(info[:, 5], np.full(n, peers), 0.0)
    cols["peers_in_domain_frac"] = _safe_div(info[:, 6], np.full(n, peers), 0.0)
    cols["net_distance"] = info[:, 7]
    cols["net_traffic_hops"] = vm["mean"][3] * info[:, 7]
    cols["nic_mbps"] = info[:, 8]
    mbit = 8.0 / 1000.0  # KB/s (1000 bytes) -> Mbit/s
    cols["nic_util_vm"] = _safe_div(np.full(n, vm["peak"][3] * mbit), info[:, 8], 0.0)
    cols["nic_util_after"] = _safe_div(jpeak[:, 3] * mbit, info[:, 8], 0.0)
    cols["failure_rate"] = info[:, 9]
    cols["cost"] = info[:, 10]
    cols["cost_per_vm_after"] = info[:, 10] / (vm_count + 1)
    cols["domain_cpu_share"] = info[:, 11]
    cols["domain_hosts"] = info[:, 12]

    assert set(cols) == set(NAMES), set(NAMES) ^ set(cols)
    return np.column_stack([np.broadcast_to(cols[name], (n,)) for name in NAMES]) if n else \
        np.zeros((0, len(NAMES)))
