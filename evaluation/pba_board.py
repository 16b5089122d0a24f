"""The PBA AutoML leaderboard: every candidate cross-validated on the same folds as the
shipped network (``eval_pba.cross_validate_fitter``, every naive baseline at the same
origins), exported to ONNX, verified against its native model, sized and timed.

Candidates (:data:`CANDIDATES`, configurations fixed before any result): the shipped LSTM,
a GRU of the same width, an MLP and a linear quantile regression (all ``PbaNet`` cells, the
same training loop), and LightGBM, XGBoost and a random forest over the flattened window
(``pba_tabular``). Each result is written to ``OUT/results/<name>.json`` as it finishes, so
candidates can run in separate processes; ``--report`` tabulates whatever is there. The
winner is the lowest mean CV WAPE (the loss); size and Go latency are reported beside it.

    python -m dwcp_ml.evaluation.pba_board --out DIR [--train SEL] [--folds 5]
        [--candidates linear,mlp,...] [--tiny] [--report]
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from dwcp_ml.evaluation import board
from dwcp_ml.evaluation import pba as eval_pba
from dwcp_ml.training import cv, pba
from dwcp_ml.training.candidates import pba_tabular
from dwcp_ml.training.candidates.quantile import TreeConfig
from dwcp_ml.training.data import Trace
from dwcp_ml.training.selection import SelectionError, parse

LATENCY_CALLS = 500


@dataclass(frozen=True)
class Candidate:
    """A network configuration (``net``) or a tree configuration (``tree``)."""

    net: pba.PbaConfig | None = None
    tree: TreeConfig | None = None

    def describe(self) -> str:
        if self.tree is not None:
            t = self.tree
            shape = {"lightgbm": f"{t.leaves} leaves", "xgboost": f"depth {t.depth}",
                     "forest": f"depth {t.depth}, leaf >= {t.min_leaf}"}[t.kind]
            return f"{t.kind}: {t.trees} trees, {shape}, rows <= {t.max_rows:,}"
        n = self.net
        assert n is not None
        shape = "no hidden layer" if n.cell == "linear" else f"{n.layers} layer(s) x {n.hidden}"
        return f"PbaNet cell {n.cell}, {shape}, {n.epochs} epochs"


def candidates(tiny: bool) -> dict[str, Candidate]:
    base = pba.PbaConfig.tiny() if tiny else pba.PbaConfig(threads=1)
    tree = TreeConfig.tiny if tiny else TreeConfig
    forest = TreeConfig.tiny("forest") if tiny else TreeConfig("forest", trees=100, depth=12)
    return {
        "lstm": Candidate(net=base),  # the shipped configuration
        "gru": Candidate(net=replace(base, cell="gru")),
        "mlp": Candidate(net=replace(base, cell="mlp", layers=2, hidden=min(base.hidden, 64))),
        "linear": Candidate(net=replace(base, cell="linear")),
        "lightgbm": Candidate(tree=tree("lightgbm")),
        "xgboost": Candidate(tree=tree("xgboost")),
        "forest": Candidate(tree=forest),
    }


CANDIDATES = tuple(candidates(True))


def _fitter(c: Candidate, config: pba.PbaConfig,
            last: list[Any]) -> Callable[[list[Trace]], eval_pba.Fitted]:
    """A fitter that keeps the latest fitted model (the last fold's) for the export."""
    def fit(traces: list[Trace]) -> eval_pba.Fitted:
        if c.tree is not None:
            m = pba_tabular.fit(traces, config, c.tree)
            last[:] = [m]
            return eval_pba.Fitted(m.params, m.predict, float(m.train_windows))
        trained = pba.train(traces, config)
        last[:] = [trained]
        return eval_pba.Fitted(trained.params, trained.predict,
                               trained.metrics["train_windows"])
    return fit


def _export(model: Any, out: Path, name: str) -> dict[str, float | str]:
    """ONNX bytes, verification and latency of the last fold's model."""
    from dwcp_ml.export import go_latency, metadata, onnx_candidates, onnx_pba, verify

    if isinstance(model, pba.TrainedPba):
        exported = onnx_pba.export(model)  # verifies against torch, raises on a mismatch
        onnx_bytes, v = exported.onnx_bytes, exported.verification
    else:
        onnx_bytes = onnx_candidates.pba_tabular_onnx(model)
        metadata.check_rules(onnx_bytes, name)
        v = verify.verify(onnx_bytes, model.predict, model.holdout_x, atol=onnx_pba.ATOL,
                          rtol=onnx_pba.RTOL, label=name)
    path = out / "onnx" / f"{name}.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onnx_bytes)
    shape = (1, model.params.seq_len, model.params.n_features)
    info: dict[str, float | str] = {"onnx_bytes": float(len(onnx_bytes)),
                                    "verified_rows": float(v.rows),
                                    "max_abs_error_kbs": v.max_abs_error}
    p50, p99, where = go_latency.one_row_latency_us(path, shape, LATENCY_CALLS)
    info.update(p50_us=p50, p99_us=p99, latency=where)
    return info


def run(traces: list[Trace], folds: list[cv.TimeFold], names: list[str], out: Path,
        tiny: bool = False, progress: bool = False) -> dict[str, dict[str, Any]]:
    """Cross-validates, exports and times each named candidate; writes results/<name>.json."""
    table = candidates(tiny)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise SelectionError(f"unknown PBA candidates {', '.join(unknown)}; expected "
                             f"{', '.join(table)}")
    (out / "results").mkdir(parents=True, exist_ok=True)
    results = {}
    for name in names:
        c = table[name]
        config = c.net if c.net is not None else (pba.PbaConfig.tiny() if tiny
                                                  else pba.PbaConfig(threads=1))
        config = replace(config, threads=1)
        last: list[Any] = []
        started = time.perf_counter()
        result = eval_pba.cross_validate_fitter(traces, _fitter(c, config, last), config, folds,
                                                progress=progress)
        row = {"name": name, "describe": c.describe(), "cv": asdict(result),
               "cv_seconds": time.perf_counter() - started, **_export(last[0], out, name)}
        (out / "results" / f"{name}.json").write_text(json.dumps(row, indent=1, default=float))
        results[name] = row
        if progress:
            print(f"{name}: WAPE {result.mean_std('wape')[0]:.3f}, {row['onnx_bytes']:.0f} B, "
                  f"p99 {row['p99_us']:.0f} us", flush=True)
    return results


def _cv(row: dict[str, Any]) -> cv.CvResult:
    d = row["cv"]
    return cv.CvResult(d["loss"], tuple(d["folds"]), tuple(d["model"]),
                       {k: tuple(v) for k, v in d["baselines"].items()})


def report(out: Path, train: str) -> str:
    """The leaderboard of every result in ``out/results``, best mean WAPE first."""
    rows = [json.loads(p.read_text()) for p in sorted((out / "results").glob("*.json"))]
    if not rows:
        raise SelectionError(f"no candidate results under {out / 'results'}")
    res = {r["name"]: _cv(r) for r in rows}
    folds = {r["cv"]["folds"][0] for r in rows}
    order = sorted(rows, key=lambda r: res[r["name"]].mean_loss())
    lines = ["# PBA leaderboard", "",
             f"Trained and cross-validated on {train}; every candidate on the same "
             f"{len(order[0]['cv']['folds'])} rolling-origin folds (1-day gap), every naive "
             "baseline at the same origins. Configurations fixed before any result; the "
             "winner is the lowest mean WAPE. Size, verification and latency: the last fold's "
             "model, batch 1.", ""]
    if len(folds) > 1:
        lines += ["**Warning**: the results were not all made on the same folds.", ""]
    lines += ["| rank | candidate | WAPE | gain vs best baseline | covered | folds gain >= 20 % "
              "| ONNX bytes | max abs err KB/s | p50 / p99 us | CV s |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(order, 1):
        c = res[r["name"]]
        w, g, cov = c.mean_std("wape"), c.mean_std("wape_gain"), c.mean_std("covered")
        met = int((c.values("wape_gain") >= eval_pba.WAPE_GAIN_TARGET).sum())
        lines.append(f"| {i} | **{r['name']}** ({r['describe']}) | {w[0]:.3f} +- {w[1]:.3f} | "
                     f"{g[0]:+.3f} +- {g[1]:.3f} | {cov[0]:.3f} +- {cov[1]:.3f} | "
                     f"{met} of {len(c.folds)} | {r['onnx_bytes']:,.0f} | "
                     f"{r['max_abs_error_kbs']:.2g} | {r['p50_us']:.0f} / {r['p99_us']:.0f} | "
                     f"{r['cv_seconds']:.0f} |")
    best = res[order[0]["name"]]
    lines += ["", f"Latency: {order[0]['latency']}.", "",
              "Naive baselines on the same folds (from the winner's run):", "",
              best.table(eval_pba.TABLE_METRICS), "",
              f"Winner on this cross-validation: **{order[0]['name']}**.", ""]
    text = "\n".join(lines)
    (out / "leaderboard.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    args = board.parser("pba_board", __doc__, "pba", CANDIDATES).parse_args(argv)
    out = Path(args.out)
    sel = parse(args.train) if args.train else eval_pba.DEV
    if not args.report:
        traces = board.load(eval_pba, sel, args.data)
        folds, _ = eval_pba.dev_folds(traces, args.folds)
        run(traces, folds, args.candidates.split(","), out, args.tiny, progress=True)
    print(report(out, sel.describe()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
