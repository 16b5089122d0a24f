"""Drift references in the bundle and the drift report (docs/drift-report.md).

A bundle model may carry ``drift/<model>.json`` (format ``dwcp-ml-drift-reference/1``): the
quantile edges and counts of its own training inputs and outputs, per input feature and
output column, as raw float64 bits, computed by the feature core. This module makes those
references from the training data again (no retraining: the same bundle and the same traces
give the same bits), attaches them to an existing bundle, and reports a live data selection
against them::

    python -m dwcp_ml.lifecycle.drift attach BUNDLE [--source default|real] [--data DIR]
    python -m dwcp_ml.lifecycle.drift report --bundle B --data SEL [--data-dir DIR] [--out DIR]

``add_arguments`` and ``run`` serve ``dwcp-ml drift ...`` as well.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dwcp_ml import families
from dwcp_ml import feature_core as fc
from dwcp_ml.export import bundle as bundle_mod
from dwcp_ml.export.bundle import Bundle, BundleModel
from dwcp_ml.export.golden_checks import DriftData, column_stats, drift_matrix
from dwcp_ml.spec.model import DriftSample, evenly_spaced, model_input
from dwcp_ml.training import prepare, selection
from dwcp_ml.training.data import DataNotFoundError, Trace, TraceFormatError, traces_digest

MANIFEST = "manifest.json"
# PSI readings (docs/drift.md): below STABLE stable, up to MODERATE moderate, above major.
STABLE, MODERATE = 0.1, 0.25
LIVE_MAX_ROWS = 50_000  # live rows per model, evenly spaced like the reference sample
MIN_LIVE_ROWS = 300  # below this the PSI thresholds over-read (docs/drift.md, caveat)
TOP_PLOTS = 4  # histograms of the most drifting columns per model


class DriftError(ValueError):
    """A reference that cannot be made (data other than the model's), or a bad request."""


# ---- the reference sample ---------------------------------------------------------------

def _window_rows(model: BundleModel, traces: Sequence[Trace]) -> np.ndarray:
    """Every stride-1 window of every complete run of each trace, on the bundle's grid and
    feature_params, in trace order, as the model's input tensor."""
    params = model.params
    assert isinstance(params, fc.Params)
    parts = [prepare.grid_windows(params, prepare.to_grid(params, t)) for t in traces]
    parts = [p for p in parts if len(p)]
    if not parts:
        raise DriftError(f"{model.name}: the traces hold no complete window of "
                         f"{params.input_len} bins")
    return model_input(np.concatenate(parts), model.inputs[0])


def _window_sample(model: BundleModel, traces: Sequence[Trace]) -> DriftSample:
    digest = traces_digest(list(traces))
    want = str(model.entry["training_data_digest"])
    if digest != want:
        raise DriftError(f"{model.name}: the traces have digest {digest}, the model was trained "
                         f"on {want}; pass the data it was trained on (--source, --data)")
    names = ", ".join(t.name for t in traces[:6]) + (", ..." if len(traces) > 6 else "")
    text = (f"training traces of {model.family} ({len(traces)}: {names}): every stride-1 "
            "window of every complete run on the bundle's feature_params, training and "
            "validation time ranges alike, in trace order")
    return DriftSample(_window_rows(model, traces), text)


@dataclass
class _ItpCache:
    """The simulator's labelled decisions, made once for the bundle's placement models."""

    by_digest: dict[str, DriftSample] = field(default_factory=dict)


_ITP = _ItpCache()


def _placement_sample(model: BundleModel) -> DriftSample:
    """ITP trains on simulator decisions, not traces: regenerate them with the recipe the
    manifest names (training_data.generator; every recipe when it names none) until the
    digest is the model's."""
    from dwcp_ml.training.itp import scorer

    want = str(model.entry["training_data_digest"])
    if want in _ITP.by_digest:
        return _ITP.by_digest[want]
    generator = str((model.entry.get("training_data") or {}).get("generator", ""))
    recipes = scorer.recipes()
    named = [n for n in recipes if generator.endswith(f"recipe {n}")]
    for name in named or list(recipes):
        config = recipes[name]
        data = scorer.training_data(scorer.training_scenarios(config), config)
        if scorer._digest(data.data) != want:  # noqa: SLF001 - the digest the trainer records
            continue
        _ITP.by_digest[want] = data.drift_sample(config)
        return _ITP.by_digest[want]
    raise DriftError(f"{model.name}: the ITP recipe{'s' if not named else ''} "
                     f"{', '.join(named or recipes)} do not regenerate the training data {want}")


def training_sample(model: BundleModel, traces: Sequence[Trace]) -> DriftSample:
    """The model's training inputs as a drift sample (placement models ignore ``traces``)."""
    if isinstance(model.params, fc.PlacementParams):
        return _placement_sample(model)
    return _window_sample(model, traces)


def reference(bundle_model: BundleModel, traces: Sequence[Trace]) -> dict[str, Any]:
    """The dwcp-ml-drift-reference/1 document of a loaded bundle's model from the data it
    was trained on: the same bundle and traces give the same bits."""
    m = bundle_model
    assert m.golden is not None, "reference() needs a model of bundle.load()"
    return bundle_mod.drift_reference(
        m.name, m.params, m.inputs[0], m.outputs[0], m.session, training_sample(m, traces),
        str(m.entry["training_data_digest"]), str(m.entry["golden"]), m.golden.x, m.golden.y)


# ---- attach -------------------------------------------------------------------------------

def _family_traces(family: str, source: families.Source) -> list[Trace]:
    return families.FAMILIES[family].traces(source)


def attach(bundle_dir: Path, source: families.Source = families.Source(),
           models: Sequence[str] | None = None, progress: Callable[[str], None] = print
           ) -> Bundle:
    """Writes drift/<model>.json for each model (all, or ``models``) of an existing bundle
    from ``source``'s training data, records drift and drift_sha256 in the manifest, and
    returns the bundle loaded and golden-checked again."""
    bundle_dir = Path(bundle_dir)
    b = bundle_mod.load(bundle_dir)
    chosen = list(models) if models else list(b.models)
    unknown = [n for n in chosen if n not in b.models]
    if unknown:
        raise DriftError(f"no model {', '.join(unknown)} in {bundle_dir}; it has "
                         f"{', '.join(b.models)}")
    traces: dict[str, list[Trace]] = {}
    files: dict[str, bytes] = {}
    for name in chosen:
        started = time.perf_counter()
        m = b.models[name]
        if m.family not in traces:
            traces[m.family] = _family_traces(m.family, source)
        files[name] = bundle_mod.drift_bytes(reference(m, traces[m.family]))
        progress(f"{name}: drift/{name}.json ({len(files[name]) // 1024} KiB, "
                 f"{time.perf_counter() - started:.1f} s)")
    (bundle_dir / "drift").mkdir(exist_ok=True)
    manifest = json.loads((bundle_dir / MANIFEST).read_text())
    for entry in manifest["models"]:
        if entry["name"] in files:
            data = files[entry["name"]]
            (bundle_dir / "drift" / f"{entry['name']}.json").write_bytes(data)
            entry["drift"] = f"drift/{entry['name']}.json"
            entry["drift_sha256"] = hashlib.sha256(data).hexdigest()
    (bundle_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    if (bundle_dir / "model.sig").exists():
        progress("warning: model.sig no longer covers the bundle's files; sign it again")
    return _verified(bundle_dir)


def _verified(bundle_dir: Path) -> Bundle:
    b = bundle_mod.load(bundle_dir)
    refusal = bundle_mod.first_refusal(b, bundle_mod.check_goldens(b))
    if refusal is not None:
        raise refusal
    problems = {k: v for k, v in bundle_mod.check_drift_goldens(b).items() if v}
    if problems:
        raise DriftError(f"drift golden proof fails: {problems}")
    return b


# ---- the report ---------------------------------------------------------------------------

def verdict(psi: float) -> str:
    return "stable" if psi < STABLE else "moderate" if psi <= MODERATE else "major"


@dataclass(frozen=True)
class ColumnDrift:
    kind: str
    name: str
    constant: bool
    psi: float | None = None
    ks: float | None = None
    verdict: str = "excluded (constant in the reference)"
    live_counts: list[float] | None = None


@dataclass(frozen=True)
class ModelDrift:
    model: str
    family: str
    reference_rows: int
    live_rows: int
    live_windows: int
    selection: str
    columns: list[ColumnDrift]
    skipped: str | None = None  # why no statistics were computed

    @property
    def worst(self) -> ColumnDrift | None:
        scored = [c for c in self.columns if c.psi is not None]
        return max(scored, key=lambda c: c.psi or 0.0) if scored else None


def _live_loader(family: str) -> Callable[[selection.Selection, Path], list[Trace]]:
    if family == "pba":
        from dwcp_ml.evaluation.pba import load
    elif family == "scaling":
        from dwcp_ml.evaluation.scaling import load
    elif family == "anomaly":
        from dwcp_ml.evaluation.anomaly import load
    else:
        raise selection.SelectionError(f"{family}: placement factors come from DWCP requests, "
                                       "not from traces; a trace selection has none")
    return load


def _live_matrix(model: BundleModel, traces: list[Trace]) -> tuple[np.ndarray, int]:
    x = _window_rows(model, traces)
    keep = evenly_spaced(len(x), LIVE_MAX_ROWS)  # the reference's rule
    x = x[keep]
    matrix = drift_matrix(model.params, x, bundle_mod._outputs(model.session, x))  # noqa: SLF001
    return matrix[np.isfinite(matrix).all(axis=1)], len(keep)


def _model_drift(model: BundleModel, drift: DriftData, matrix: np.ndarray, windows: int,
                 text: str) -> ModelDrift:
    cols = []
    for j, c in enumerate(drift.columns):
        if c.edges is None:
            cols.append(ColumnDrift(c.kind, c.name, True))
            continue
        s = column_stats(c.edges, c.counts, matrix[:, j], drift.epsilon)
        cols.append(ColumnDrift(c.kind, c.name, False, s.psi, s.ks, verdict(s.psi),
                                s.live_counts.tolist()))
    return ModelDrift(model.name, model.family, drift.rows, len(matrix), windows, text, cols)


def model_drift(model: BundleModel, sel: selection.Selection, root: Path | None) -> ModelDrift:
    """PSI and KS of every column of a selection's data against the model's reference."""
    return _drift_and_rows(model, sel, root)[0]


def _rows(model: BundleModel, sel: selection.Selection, root: Path | None
          ) -> tuple[np.ndarray, int]:
    """The drift matrix (model inputs and outputs) of a selection's windows, and how many
    windows there were."""
    load = _live_loader(model.family)
    base = Path(".") if sel.kind == "synthetic" else _data_root(root)
    return _live_matrix(model, load(sel, base))


def _drift_and_rows(model: BundleModel, sel: selection.Selection, root: Path | None
                    ) -> tuple[ModelDrift, np.ndarray | None]:
    text = sel.describe()
    if model.drift is None:
        return ModelDrift(model.name, model.family, 0, 0, 0, text, [],
                          "the bundle has no drift reference for it (attach one first)"), None
    try:
        matrix, windows = _rows(model, sel, root)
    except (selection.SelectionError, DriftError) as exc:
        return ModelDrift(model.name, model.family, model.drift.rows, 0, 0, text, [],
                          str(exc)), None
    if not len(matrix):
        return ModelDrift(model.name, model.family, model.drift.rows, 0, windows, text, [],
                          "no live window with finite features"), None
    return _model_drift(model, model.drift, matrix, windows, text), matrix


def _evidently_page(model: BundleModel, live: np.ndarray, reference: selection.Selection,
                    root: Path | None, out: Path, title: str) -> Any:
    """Evidently's page of the live rows against the rows of ``reference`` (lifecycle/
    drift_html.py); the reference selection is the model's training data, normally."""
    from . import drift_html

    assert model.drift is not None
    ref, _ = _rows(model, reference, root)
    if not len(ref):
        raise DriftError(f"--evidently-reference {reference.describe()}: no window with finite "
                         f"features for {model.name}")
    return drift_html.write([c.name for c in model.drift.columns], ref, live,
                            out / f"evidently_{model.name}.html", title)


def _data_root(root: Path | None) -> Path:
    from dwcp_ml.training import data

    return data.data_dir(root)


def report(bundle_dir: Path, sel_text: str, out: Path, root: Path | None = None,
           models: Sequence[str] | None = None, evidently_reference: str | None = None
           ) -> list[ModelDrift]:
    """Writes out/drift.md, out/drift.json and PNG plots (and, with ``evidently_reference``,
    Evidently's page per model, out/evidently_MODEL.html); returns the per-model results."""
    b = bundle_mod.load(Path(bundle_dir))
    sel = selection.parse(sel_text)
    reference = selection.parse(evidently_reference) if evidently_reference else None
    chosen = [b.models[n] for n in (models or list(b.models))]
    out.mkdir(parents=True, exist_ok=True)
    results, pages = [], {}
    for m in chosen:
        r, live = _drift_and_rows(m, sel, root)
        results.append(r)
        if reference is not None and live is not None:
            pages[m.name] = _evidently_page(m, live, reference, root, out,
                                            f"{m.name}: {sel.describe()} vs {reference.describe()}")
    plots = _plots(b, results, out)
    (out / "drift.json").write_text(json.dumps(_json(b, sel_text, results, pages), indent=1)
                                    + "\n")
    (out / "drift.md").write_text(_markdown(b, sel_text, results, plots, pages))
    return results


def _json(b: Bundle, sel_text: str, results: list[ModelDrift], pages: dict[str, Any]
          ) -> dict[str, Any]:
    return {"format": "dwcp-ml-drift-report/1", "bundle": str(b.path), "bundle_version": b.version,
            "data": sel_text, "thresholds": {"stable_below": STABLE, "major_above": MODERATE},
            "models": [{**{k: v for k, v in vars(r).items() if k != "columns"},
                        "columns": [vars(c) for c in r.columns],
                        **({"evidently": _page_json(pages[r.model])} if r.model in pages else {})}
                       for r in results]}


def _page_json(page: Any) -> dict[str, Any]:
    return {"html": page.path.name, "drifted_columns": page.drifted, "share": page.share,
            "left_out": page.left_out,
            "columns": [{"column": c.column, "method": c.method, "score": c.score,
                         "threshold": c.threshold, "drifts": c.drifts} for c in page.columns]}


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def _markdown(b: Bundle, sel_text: str, results: list[ModelDrift],
              plots: dict[str, list[str]], pages: dict[str, Any]) -> str:
    lines = [f"# Drift report: bundle {b.version} against `{sel_text}`", "",
             f"PSI readings: < {STABLE} stable, {STABLE} - {MODERATE} moderate, > {MODERATE} "
             f"major (docs/drift.md). Binned KS beside it. A live sample under {MIN_LIVE_ROWS} "
             "rows over-reads PSI. Columns constant in the reference sample have no bins and "
             "are excluded from PSI and KS (listed, never dropped).", ""]
    lines += ["| model | family | reference rows | live rows | worst column | PSI | verdict |",
              "|---|---|---:|---:|---|---:|---|"]
    for r in results:
        w = r.worst
        lines.append(f"| {r.model} | {r.family} | {r.reference_rows} | {r.live_rows} | "
                     f"{w.name if w else '-'} | {_fmt(w.psi if w else None)} | "
                     f"{w.verdict if w else 'skipped: ' + (r.skipped or '')} |")
    for r in results:
        lines += ["", f"## {r.model} ({r.family})", ""]
        if r.skipped:
            lines += [f"Skipped: {r.skipped}.", ""]
            continue
        caveat = " (fewer than the thresholds assume)" if r.live_rows < MIN_LIVE_ROWS else ""
        lines += [f"Live: {r.selection}; {r.live_rows} rows{caveat} of {r.live_windows} "
                  f"windows taken (at most {LIVE_MAX_ROWS}, evenly spaced). Reference: "
                  f"{r.reference_rows} rows.", "",
                  "| column | kind | PSI | KS | verdict |", "|---|---|---:|---:|---|"]
        for c in sorted(r.columns, key=lambda c: -(c.psi if c.psi is not None else -1.0)):
            lines.append(f"| {c.name} | {c.kind} | {_fmt(c.psi)} | {_fmt(c.ks)} | {c.verdict} |")
        if r.model in pages:
            page = pages[r.model]
            lines += ["", f"Evidently ([{page.path.name}]({page.path.name}), its own tests in "
                      f"floating point, on raw reference rows): {page.drifted} of "
                      f"{len(page.columns)} columns drift; " + ", ".join(
                          f"{c.column} {c.score:.3g}{' (drift)' if c.drifts else ''}"
                          for c in page.columns)
                      + (f"; left out (constant): {', '.join(page.left_out)}"
                         if page.left_out else "") + "."]
        lines += [""] + [f"![{p}]({p})" for p in plots.get(r.model, [])]
    return "\n".join(lines) + "\n"


def _plots(b: Bundle, results: list[ModelDrift], out: Path) -> dict[str, list[str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made: dict[str, list[str]] = {}
    for r in results:
        drift = b.models[r.model].drift
        scored = [(j, c) for j, c in enumerate(r.columns) if c.psi is not None]
        if drift is None or not scored:
            continue
        names = [f"psi_{r.model}.png"]
        fig, ax = plt.subplots(figsize=(8, max(2.5, 0.22 * len(scored))))
        ax.barh([c.name for _, c in scored], [c.psi for _, c in scored], color="tab:blue")
        for x, style in ((STABLE, ":"), (MODERATE, "--")):
            ax.axvline(x, color="tab:red", linestyle=style, linewidth=1)
        ax.set_xlabel("PSI (reference: training sample; live: " + r.selection[:40] + ")")
        ax.set_title(f"{r.model}: PSI per column")
        fig.tight_layout()
        fig.savefig(out / names[0], dpi=90)
        plt.close(fig)
        for j, c in sorted(scored, key=lambda jc: -(jc[1].psi or 0.0))[:TOP_PLOTS]:
            names.append(_histogram(plt, out, r, drift, j, c))
        made[r.model] = names
    return made


def _histogram(plt: Any, out: Path, r: ModelDrift, drift: DriftData, j: int,
               c: ColumnDrift) -> str:
    ref = drift.columns[j]
    assert ref.counts is not None and c.live_counts is not None
    p = ref.counts / ref.counts.sum()
    q = np.asarray(c.live_counts) / max(sum(c.live_counts), 1.0)
    k = np.arange(len(p))
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(k - 0.2, p, 0.4, label=f"reference ({r.reference_rows})")
    ax.bar(k + 0.2, q, 0.4, label=f"live ({r.live_rows})")
    ax.set_xticks(k, [f"{e:.3g}" for e in ref.edges[:-1]], rotation=45, fontsize=7)
    ax.set_xlabel("bin (lower edge)")
    ax.set_ylabel("share")
    ax.set_title(f"{r.model} {c.name}: PSI {c.psi:.3f}, KS {c.ks:.3f} ({c.verdict})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    name = f"hist_{r.model}_{j:03d}.png"
    fig.savefig(out / name, dpi=90)
    plt.close(fig)
    return name


# ---- command line -------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``attach`` and ``report`` subcommands (``dwcp-ml drift ...``)."""
    sub = parser.add_subparsers(dest="drift_command", required=True)
    a = sub.add_parser("attach", help="attach drift references to an existing bundle")
    a.add_argument("bundle", type=Path)
    a.add_argument("--source", choices=families.SOURCES, default="default",
                   help="the training data: embedded default, or ../shared/data (real)")
    a.add_argument("--data", type=Path, default=None, help="data directory for --source real")
    a.add_argument("--month", default="2013-7", help="Bitbrains month of --source real")
    a.add_argument("--vms", type=int, default=None, help="first N VMs of --source real")
    a.add_argument("--models", nargs="*", default=None, help="only these models")
    r = sub.add_parser("report", help="PSI / KS of a data selection against a bundle")
    r.add_argument("--bundle", type=Path, required=True)
    r.add_argument("--data", required=True, help="a selection, as dwcp-ml eval --test takes")
    r.add_argument("--data-dir", type=Path, default=None, help="the data directory")
    r.add_argument("--out", type=Path, default=Path("reports/drift"))
    r.add_argument("--models", nargs="*", default=None, help="only these models")
    r.add_argument("--evidently-reference", metavar="SEL", default=None,
                   help="also write Evidently's HTML page per model, against the raw rows of "
                   "this selection (the model's training data, normally)")


def run(args: argparse.Namespace) -> int:
    try:
        if args.drift_command == "attach":
            source = families.Source(args.source, args.data, args.month, args.vms)
            b = attach(args.bundle, source, args.models)
            print(f"bundle {b.version}: {sum(m.drift is not None for m in b.models.values())} "
                  "drift references; the bundle verifies")
            return 0
        results = report(args.bundle, args.data, args.out, args.data_dir, args.models,
                         args.evidently_reference)
    except (DriftError, selection.SelectionError, bundle_mod.BundleError, DataNotFoundError,
            TraceFormatError) as exc:
        print(f"dwcp-ml drift: {exc}", file=sys.stderr)
        return 2
    for r in results:
        w = r.worst
        print(f"{r.model:<9} live {r.live_rows:>6}  " + (
            f"worst {w.name} PSI {w.psi:.4f} ({w.verdict})" if w else f"skipped: {r.skipped}"))
    print(f"report: {args.out / 'drift.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dwcp_ml.lifecycle.drift",
                                     description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
