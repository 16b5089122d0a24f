"""PBA latency in ONNX Runtime (CPU, 1 thread: the deterministic serving profile). Prints,
asserts nothing. Run: python tests/bench_pba.py

The model has the shipped architecture (PbaConfig defaults: T, 14 features, LSTM 128 hidden);
it is trained for one short epoch on a small synthetic trace, since weights do not change the
cost of the graph.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from dwcp_ml.export import onnx_pba
from dwcp_ml.spec.model import INPUT
from dwcp_ml.spec.runtime import session
from dwcp_ml.training import pba, synthetic


def _median_seconds(fn, repeats: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main() -> None:
    config = replace(pba.PbaConfig(), epochs=1, train_stride=8, threads=1)
    trained = pba.train(synthetic.traces(synthetic.SyntheticConfig(vms=2, days=4)), config)
    model = onnx_pba.export(trained)
    sess = session(model.onnx_bytes)
    rows = np.resize(trained.holdout_x, (64, *trained.holdout_x.shape[1:]))
    print(f"PBA ONNX: T={config.seq_len}, features={trained.params.n_features}, "
          f"hidden={config.hidden}, {len(model.onnx_bytes) / 1024:.0f} KiB, ORT 1 thread")
    v = model.verification
    print(f"  verified vs torch on {v.rows} rows: max abs {v.max_abs_error:.3g} KB/s, "
          f"max rel {v.max_rel_error:.3g}")
    for n in (1, 64):
        x = np.ascontiguousarray(rows[:n])
        for _ in range(20):  # warm-up
            sess.run(None, {INPUT: x})
        s = _median_seconds(lambda: sess.run(None, {INPUT: x}), 300 if n == 1 else 100)
        print(f"  batch {n:>2}: {s * 1e6:8.1f} us per call, {s * 1e6 / n:7.1f} us per row")


if __name__ == "__main__":
    main()
