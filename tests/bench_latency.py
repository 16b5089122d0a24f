"""Python's side of the serving latency table: per model, one prediction as DWCP makes it
(the feature core's window of one golden raw run through cffi, then ONNX Runtime, CPU, 1
thread, one row), p50 and p99 over many calls. `cmd/dwcp-bench` runs this on the same
bundle and inputs as the Go in-process and sidecar figures. Prints figures, asserts nothing.

    .venv/bin/python tests/bench_latency.py [--bundle golden/bundle] [--calls 20000] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from dwcp_ml import feature_core as fc
from dwcp_ml.export import bundle as bundle_io
from dwcp_ml.spec.model import INPUT, model_input
from dwcp_ml.spec.runtime import session


def latencies_us(model: bundle_io.BundleModel, calls: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-call microseconds of features + ONNX Runtime, and of ONNX Runtime alone."""
    golden = json.loads(model.golden_path.read_text())
    raw = golden["raw"]
    ts = np.asarray(raw["ts"][0], np.int64)
    shape = raw["values_shape"]
    values = bundle_io._from_hex64(raw["values"], shape)[0]
    sess = session(model.path.read_bytes())
    spec = model.inputs[0]

    def predict() -> None:
        x = model_input(fc.window(model.params, ts, values)[None], spec)
        sess.run(None, {INPUT: x})

    x = model_input(fc.window(model.params, ts, values)[None], spec)
    return timed(predict, calls), timed(lambda: sess.run(None, {INPUT: x}), calls)


def timed(call, calls: int) -> np.ndarray:  # noqa: ANN001
    for _ in range(200):
        call()
    out = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter_ns()
        call()
        out[i] = (time.perf_counter_ns() - t0) / 1e3
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", type=Path, default=Path("golden/bundle"))
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--json", action="store_true", help="one JSON object: model -> p50_us, p99_us, ort_p50_us, ort_p99_us")
    args = ap.parse_args()
    b = bundle_io.load(args.bundle)
    result = {}
    for name, model in sorted(b.models.items()):
        if isinstance(model.params, fc.PlacementParams):
            continue  # one row per host, not a window: PlaceVM's latency is measured in Go
        lat, ort_only = latencies_us(model, args.calls if model.family != "pba" else max(1, args.calls // 5))
        result[name] = {"p50_us": float(np.percentile(lat, 50)), "p99_us": float(np.percentile(lat, 99)),
                        "ort_p50_us": float(np.percentile(ort_only, 50)),
                        "ort_p99_us": float(np.percentile(ort_only, 99))}
    if args.json:
        print(json.dumps(result))
        return
    for name, r in result.items():
        print(f"{name:10s} python features+ORT  p50 {r['p50_us']:8.1f} us  p99 {r['p99_us']:8.1f} us"
              f"   ORT alone  p50 {r['ort_p50_us']:8.1f} us  p99 {r['ort_p99_us']:8.1f} us")


if __name__ == "__main__":
    main()
