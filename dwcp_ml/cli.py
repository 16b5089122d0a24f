"""``dwcp-ml`` command line. Bad user input ends in one line on stderr and exit status 2.

train, eval, search and bundle record an MLflow run (embedded store by default, --tracking-uri
for a server, --no-track for none); `registry` registers, lists, shows and pulls bundles
(docs/lifecycle.md). MLflow is imported only by commands that track."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import onnxruntime as ort
from tqdm import tqdm

from dwcp_ml import families
from dwcp_ml import feature_core as fc
from dwcp_ml import pipeline
from dwcp_ml.datasource import exporter, openmetrics, prometheus
from dwcp_ml.evaluation.request import EvalRequest
from dwcp_ml.export import bundle
from dwcp_ml.export.go_latency import GoLatencyError
from dwcp_ml.families import sources
from dwcp_ml.lifecycle import lineage, tracking
from dwcp_ml.lifecycle.registry import RegistryError
from dwcp_ml.spec.model import schema_label
from dwcp_ml.training import cv, data, prepare, selection, synthetic


class UsageError(Exception):
    """Bad user input the CLI reports in one line."""


@dataclass
class FeatureSummary:
    traces: int = 0
    raw_samples: int = 0
    bins: int = 0
    filled_bins: int = 0
    missing_bins: int = 0
    windows: int = 0
    seconds: float = 0.0


def _load_traces(args: argparse.Namespace) -> list[data.Trace]:
    if args.source == "synthetic":
        return synthetic.traces(synthetic.SyntheticConfig(vms=args.vms, days=args.days))
    root = data.data_dir(args.data)
    if args.source == "bitbrains":
        vms = data.first_vms(args.month, root, args.vms)
        return [data.load_bitbrains_vm(args.month, vm, root) for vm in vms]
    raise UsageError(f"unknown source {args.source!r}")  # argparse keeps this unreachable


def cmd_features(args: argparse.Namespace) -> int:
    params = fc.Params(seq_len=args.seq_len, stat_window=args.stat_window)
    params.to_c()  # reject bad parameters before loading anything
    traces = _load_traces(args)
    summary = FeatureSummary(traces=len(traces))
    last_steps: list[np.ndarray] = []
    started = time.perf_counter()
    for trace in tqdm(traces, desc="features", unit="trace", disable=args.quiet):
        try:
            grid = prepare.to_grid(params, trace)
            windows = prepare.grid_windows(params, grid)
        except fc.FeatureCoreError as exc:  # the loaders' checks passed; name the trace
            raise UsageError(f"{trace.name}: {exc}") from exc
        summary.raw_samples += len(trace.ts)
        summary.bins += len(grid.ts)
        summary.missing_bins += int(grid.missing.sum())
        summary.filled_bins += int(grid.filled.sum())
        summary.windows += len(windows)
        last_steps.append(windows[:, -1, :])
    summary.seconds = time.perf_counter() - started
    _print_feature_summary(params, summary, last_steps)
    return 0


def _print_feature_summary(params: fc.Params, summary: FeatureSummary,
                           last_steps: list[np.ndarray]) -> None:
    schema = params.schema
    print(f"feature core {fc.VERSION}, schema {schema.label} "
          f"(hash {schema.hash:016x}), {len(schema.features)} features x "
          f"{params.seq_len} steps, stat window {params.stat_window}")
    print(f"traces {summary.traces}: {summary.raw_samples} raw samples -> {summary.bins} bins "
          f"of {params.step_seconds} s ({summary.filled_bins} filled, "
          f"{summary.missing_bins} missing) -> {summary.windows} windows "
          f"in {summary.seconds:.2f} s")
    rows = np.concatenate(last_steps) if last_steps else np.empty((0, len(schema.features)))
    if not len(rows):
        print("no complete window: traces too short for seq_len + stat_window - 1 bins")
        return
    print(f"{'feature':<16}{'mean':>14}{'min':>14}{'max':>14}")
    for i, name in enumerate(schema.features):
        col = rows[:, i].astype(np.float64)
        print(f"{name:<16}{col.mean():>14.4g}{col.min():>14.4g}{col.max():>14.4g}")


def cmd_golden(args: argparse.Namespace) -> int:
    from dwcp_ml.golden import features, placement

    targets = [
        (features, Path(args.out) if args.out else features.DEFAULT_PATH),
        (placement, Path(args.placement_out) if args.placement_out else placement.DEFAULT_PATH),
    ]
    for module, path in targets:
        if args.check:
            if not path.is_file():
                state = "is not a regular file" if path.exists() else "does not exist"
                raise UsageError(f"{path} {state}; run `dwcp-ml golden` to create it")
            if module.render().encode() != _read_file(path):
                raise UsageError(f"{path} differs from what the feature core computes now")
            print(f"{path}: reproduced bit for bit")
        else:
            try:
                module.write(path)
            except OSError as exc:
                raise UsageError(f"cannot write {path}: {exc.strerror}; pass --out / "
                                 "--placement-out with a writable file path") from None
            print(f"wrote {path}")
    return 0


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _make_dir(path: Path, flag: str) -> Path:
    """Creates a directory the command writes into before any long work starts."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # FileExistsError: it, or a parent, is a file
        state = "is a file" if path.is_file() else exc.strerror
        raise UsageError(f"{flag} {path}: {state}; pass a directory to create or "
                         "reuse") from None
    return path


def _source(args: argparse.Namespace) -> families.Source:
    prom = {}
    if getattr(args, "source", None) == "prometheus":
        missing = [f for f in ("url", "start", "end") if getattr(args, f) is None]
        if missing:
            raise UsageError(f"--source prometheus needs --{', --'.join(missing)} (e.g. --url "
                             "http://127.0.0.1:9090 --start 2013-07-01T00:00:00Z --end "
                             "2013-07-31T23:59:59Z)")
        prom = {"url": args.url, "start": prometheus.parse_time(args.start),
                "end": prometheus.parse_time(args.end), "match": args.match or ""}
    return families.Source(kind=args.source, data_dir=Path(args.data) if args.data else None,
                           month=args.month, vms=args.vms, **prom)


def _prometheus_families(chosen: list[families.Family], named: bool,
                         source: families.Source) -> list[families.Family]:
    """The chosen families that read Prometheus; the others are refused when named with
    --models, else left out with a note. Checks the server answers before any work."""
    left = [f.name for f in chosen if not sources.reads_prometheus(f.traces)]
    if left and named:
        raise UsageError(f"--source prometheus: {', '.join(left)} do not read Prometheus "
                         "(anomaly: labelled NAB series; itp: its simulator; link: generated "
                         "links): train them with --source default or real")
    if left:
        print(f"dwcp-ml: --source prometheus trains the families that read VM series; not "
              f"{', '.join(left)} (they read no Prometheus data)", file=sys.stderr)
    prometheus.Query(source.url or "", source.start or 0, source.end or 0).check()
    prometheus.Client(source.url or "").version()
    return [f for f in chosen if f.name not in left]


def _models(args: argparse.Namespace) -> list[str] | None:
    if args.models is None:
        return None
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if not names:
        raise UsageError(f"--models {args.models!r} names no model; pick from "
                         f"{','.join(families.FAMILIES)} or leave --models out for all")
    repeated = sorted({m for m in names if names.count(m) > 1})
    if repeated:
        raise UsageError(f"--models names {', '.join(repeated)} more than once")
    return names


def _target(args: argparse.Namespace) -> tracking.Target | None:
    """Where this command's run goes; None with --no-track."""
    return None if getattr(args, "no_track", False) else tracking.resolve(args.tracking_uri)


def _track(args: argparse.Namespace, command: str) -> AbstractContextManager[tracking.Run]:
    """The command's MLflow run (started before any long work, so a bad store fails first)."""
    return tracking.track(command, _target(args), argv=args.argv)


def cmd_train(args: argparse.Namespace) -> int:
    chosen = families.families(_models(args))
    source = _source(args)
    if source.kind == "real":
        data.data_dir(source.data_dir)  # a missing directory fails before any work starts
    if source.kind == "prometheus":
        chosen = _prometheus_families(chosen, args.models is not None, source)
    _make_dir(Path(args.work), "--work")
    rows = []
    with _track(args, "train") as run:
        run.log_params({"models": ",".join(f.name for f in chosen), "tiny": args.tiny,
                        "work": Path(args.work).resolve(), **tracking.flatten(source, "source")})
        for family in tqdm(chosen, desc="train", unit="model", disable=args.quiet):
            started = time.perf_counter()
            traces = family.traces(source)
            config = family.make_config(args.tiny)
            run.log_params(tracking.flatten(config, f"{family.name}.config"))
            trained = family.train(traces, config, not args.quiet)
            pipeline.save(trained, Path(args.work) / "trained" / f"{family.name}.pkl")
            rows.append((family.name, len(traces), time.perf_counter() - started))
            run.log_params({f"{family.name}.training_data_digest":
                            getattr(trained, "training_data_digest", "n/a")})
            run.log_metrics({f"{family.name}.traces": len(traces),
                             f"{family.name}.train_seconds": rows[-1][2]})
    print(f"{'model':<10}{'traces':>8}{'seconds':>10}")
    for name, n, seconds in rows:
        print(f"{name:<10}{n:>8}{seconds:>10.1f}")
    return 0


def cmd_replay_exporter(args: argparse.Namespace) -> int:
    """Serves a trace as Prometheus gauges, or writes it whole as OpenMetrics (+ backfill)."""
    if args.tsdb and not args.openmetrics:
        raise UsageError("--tsdb backfills the --openmetrics file: pass --openmetrics FILE")
    source = _source(args)
    vm, cpu = sources.vm_traces(source), sources.cpu_traces(source)
    if args.openmetrics:
        path = Path(args.openmetrics)
        _make_dir(path.parent, "--openmetrics (its folder)")
        written = openmetrics.write_openmetrics(path, vm, cpu, counters=args.counters)
        print(f"{path}: {written.series} series, {written.samples} samples "
              f"({written.repeats} repeats of a second stored k ms later, {written.reordered} "
              "reordered)")
        if args.tsdb:
            done = openmetrics.backfill(path, _make_dir(Path(args.tsdb), "--tsdb"))
            print(f"{args.tsdb}: {done.blocks} TSDB blocks in {done.seconds:.1f} s (serve with "
                  f"prometheus --storage.tsdb.path {args.tsdb} "
                  "--storage.tsdb.retention.time 100y)")
        return 0
    collector = exporter.ReplayCollector(vm, cpu, speed=args.speed)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def ready(where: str) -> None:
        print(f"replay-exporter: {len(vm)} VMs on http://{where}/metrics, replay from "
              f"{collector.origin} at {args.speed:g}x", flush=True)

    exporter.serve(collector, args.listen, stop, ready)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    trained = pipeline.load_stage(Path(args.work), "trained", _models(args))
    print(f"{'model':<10}{'rows':>7}{'max abs err':>14}  {'tolerance':>22}{'KiB':>9}")
    for name, model in tqdm(trained.items(), desc="export", unit="model", disable=args.quiet):
        exported = families.FAMILIES[name].export_models(model)
        pipeline.save(exported, Path(args.work) / "exported" / f"{name}.pkl")
        for e in exported:
            v = e.verification
            print(f"{e.name:<10}{v.rows:>7}{v.max_abs_error:>14.3g}"
                  f"  {f'atol {v.atol:g} rtol {v.rtol:g}':>22}{len(e.onnx_bytes) / 1024:>9.0f}")
    return 0


def cmd_bundle(args: argparse.Namespace) -> int:
    exported = pipeline.load_stage(Path(args.work), "exported", _models(args))
    models = [m for family in exported.values() for m in family]
    with _track(args, "bundle") as run:
        written = bundle.write(Path(args.out), models, version=args.version)
        _log_bundle(run, args, written)
    print(f"bundle {written.version} in {written.path}:")
    for model in written.models.values():
        size = model.path.stat().st_size / 1024
        print(f"  {model.name:<10} {model.family:<8} schema {schema_label(model.params):<9} "
              f"input {list(model.inputs[0].shape)} {size:8.0f} KiB")
    return 0


def _log_bundle(run: tracking.Run, args: argparse.Namespace, written: bundle.Bundle) -> None:
    """The bundle's lineage as tags, each model's export metrics, the directory itself."""
    run.log_params({"work": Path(args.work).resolve(), "out": written.path.resolve(),
                    "version": written.version, "models": ",".join(written.models)})
    run.set_tags(lineage.bundle_tags(written.path, written.manifest, None))
    for model in written.models.values():
        run.log_json_metrics({"metrics": model.entry.get("metrics", {}),
                              "verification": model.entry.get("verification", {}),
                              "size_kib": model.path.stat().st_size / 1024}, model.name)
    run.log_artifacts(written.path, "bundle")


def _selection(text: str | None) -> selection.Selection | None:
    return None if text is None else selection.parse(text)


def cmd_eval(args: argparse.Namespace) -> int:
    chosen = families.families(_models(args))
    train, test = _selection(args.train), _selection(args.test)
    out = _make_dir(Path(args.out), "--out")
    request = EvalRequest(
        data_root=data.data_dir(args.data), out_dir=out, train=train, test=test,
        bundle=Path(args.bundle) if args.bundle else None, n_folds=args.folds,
        progress=not args.quiet)
    index = ["# dwcp-ml evaluation", ""]
    with _track(args, "eval") as run:
        run.log_params({"models": ",".join(f.name for f in chosen),
                        "train": train.describe() if train else "dev",
                        "test": test.describe() if test else "", "bundle": args.bundle or "",
                        "folds": args.folds, "data": request.data_root, "out": out.resolve()})
        for family in chosen:
            markdown, metrics = family.evaluate(replace(request, out_dir=out / family.name))
            (out / family.name / "README.md").write_text(markdown + "\n")  # plots beside it
            index.append(f"- [{family.name}]({family.name}/README.md)")
            run.log_json_metrics(metrics, family.name)
            run.log_artifacts(out / family.name, f"eval/{family.name}")
            print(f"{family.name}: report in {out / family.name}")
        (out / "README.md").write_text("\n".join(index) + "\n")
        run.log_artifact(out / "README.md", "eval")
    print(f"wrote {out / 'README.md'}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """An Optuna study over the family's space (docs/search.md); logic in dwcp_ml.search."""
    from dwcp_ml.search import report, study

    spec = study.SearchSpec(
        family=args.family, out=Path(args.out), trials=args.trials, workers=args.workers,
        storage=args.storage, study_name=args.study_name, sampler=args.sampler,
        pruner=args.pruner, objectives=tuple(o.strip() for o in args.objectives.split(",")),
        train=args.train, data=Path(args.data) if args.data else None, tiny=args.tiny,
        nas=args.nas, folds=args.folds, seed=args.seed, latency_calls=args.latency_calls,
        budget_us=args.budget_us, progress=not args.quiet,
        command=" ".join(["dwcp-ml", *args.argv]))
    with _track(args, "search") as run:
        run.log_params({k: tracking.redact(v) for k, v in tracking.flatten(spec).items()
                        if k not in ("progress", "command", "storage")})
        run.log_params({"data_selection": spec.data_selection().describe(),
                        "storage_url": tracking.redact(spec.storage_url)})
        chosen = report.write(study.run(spec), spec)
        _log_search(run, spec.out)
    print(f"trial {chosen.trial.number}: {chosen.why}; report in {spec.out / 'report.md'}")
    return 0


def _log_search(run: tracking.Run, out: Path) -> None:
    """The pick (best.json: its parameters as params, its numbers as metrics), report, plots."""
    best = json.loads((out / "best.json").read_text())
    run.log_params(tracking.flatten(best.get("params", {}), "best"))
    run.log_json_metrics({k: v for k, v in best.items() if k != "params"}, "best")
    for path in sorted(out.iterdir()):
        if path.suffix in (".md", ".png", ".json") and path.is_file():
            run.log_artifact(path, "search")


def _trusted_keys(path: str | None) -> object | None:
    if not path:
        return None
    from dwcp_ml.export import signing

    try:
        return signing.load_trusted_keys(Path(path))
    except signing.SigningError as exc:
        raise UsageError(f"--trusted-keys {exc}") from None


def cmd_keygen(args: argparse.Namespace) -> int:
    """A new ECDSA P-256 key pair for `dwcp-ml sign`; prints the key id."""
    from dwcp_ml.export import signing

    try:
        print(signing.keygen(Path(args.out_private), Path(args.out_public)))
    except signing.SigningError as exc:
        raise UsageError(str(exc)) from None
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    """Signs the bundle directory (model.sig, OpenSSF model-signing); prints key id and path."""
    from dwcp_ml.export import signing

    try:
        path = signing.sign(Path(args.bundle), Path(args.key))
        print(f"signed by {signing.private_key_id(Path(args.key))}: {path}")
    except signing.SigningError as exc:
        raise UsageError(str(exc)) from None
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Runs the bundle checks of spec/bundle/checks.json in order (the golden predictions
    last); a refused bundle is one line naming the check (with --json an object with "ok":
    false), exit status 2. Regenerates nothing."""
    try:
        loaded = bundle.load(Path(args.bundle),
                             trusted_keys=_trusted_keys(getattr(args, "trusted_keys", None)))
        results = bundle.check_goldens(loaded)
        refusal = bundle.first_refusal(loaded, results)
        if refusal is not None:
            raise refusal
    except bundle.BundleError as exc:
        if args.json:
            print(json.dumps({"bundle": args.bundle, "ok": False, "check": exc.check,
                              "error": exc.detail}))
        raise UsageError(f"{args.bundle}: check {exc.check}: {exc.detail}") from None
    if args.json:
        print(json.dumps({
            "bundle": str(loaded.path), "version": loaded.version, "ok": True,
            "signed_by": loaded.signed_by,
            "models": [{"model": r.model, "ok": r.ok, "detail": r.detail} for r in results],
        }, indent=2))
    else:
        for r in results:
            print(f"{r.model:<12} match  {r.detail}")
        if loaded.signed_by:
            print(f"{'signature':<12} ok     signed by {loaded.signed_by}")
    return 0


def _registry(args: argparse.Namespace) -> Any:
    from dwcp_ml.lifecycle import registry

    return registry.Registry(tracking.resolve(args.tracking_uri))


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000)) if ms else "-"


def _print_version(v: Any) -> None:
    print(f"{v.name} version {v.version}" + (f" ({', '.join(v.aliases)})" if v.aliases else ""))
    for label, value in (("description", v.description), ("created", _when(v.created_ms)),
                         ("run", v.run_id), ("source", v.source)):
        print(f"  {label:<28} {value}")
    for k, value in sorted(v.tags.items()):
        print(f"  {k:<28} {value}")


def cmd_registry_register(args: argparse.Namespace) -> int:
    """Verifies BUNDLE and registers it as a new version of --name (docs/lifecycle.md)."""
    from dwcp_ml.lifecycle import registry

    registry.check_name(args.name)  # before MLflow loads
    reg = _registry(args)
    try:
        version = reg.register(Path(args.bundle), args.name, alias=args.alias,
                               trusted_keys=_trusted_keys(args.trusted_keys), argv=args.argv)
    except bundle.BundleError as exc:
        raise UsageError(f"{args.bundle}: check {exc.check}: {exc.detail}") from None
    _print_version(version)
    target = tracking.resolve(args.tracking_uri)
    if target.embedded:  # a server has its own UI address; the embedded store needs one started
        print(f"browse the runs and the registry: mlflow ui --backend-store-uri {target.uri}")
    return 0


def cmd_registry_list(args: argparse.Namespace) -> int:
    summaries = _registry(args).summaries()
    if args.json:
        print(json.dumps([{"name": m.name, "latest": m.latest, "aliases": m.aliases,
                           "updated_ms": m.updated_ms} for m in summaries], indent=2))
        return 0
    rows = [(m.name, m.latest or "-", " ".join(f"{a}={v}" for a, v in m.aliases.items()) or "-",
             _when(m.updated_ms)) for m in summaries]
    name_w = max([len("name"), *(len(r[0]) for r in rows)]) + 2
    alias_w = max([len("aliases"), *(len(r[2]) for r in rows)]) + 2
    print(f"{'name':<{name_w}}{'latest':>7}  {'aliases':<{alias_w}}updated")
    for name, latest, aliases, updated in rows:
        print(f"{name:<{name_w}}{latest:>7}  {aliases:<{alias_w}}{updated}")
    if not summaries:
        print(f"(no registered model in {tracking.resolve(args.tracking_uri).display})")
    return 0


def cmd_registry_show(args: argparse.Namespace) -> int:
    from dwcp_ml.lifecycle import registry

    ref = registry.parse_ref(args.ref)  # a bad reference fails before MLflow loads
    version = _registry(args).resolve(ref)
    if args.json:
        print(json.dumps(version.as_dict(), indent=2))
    else:
        _print_version(version)
    return 0


def cmd_registry_pull(args: argparse.Namespace) -> int:
    """Downloads NAME@ALIAS (or NAME/VERSION) into --out and verifies it before success."""
    from dwcp_ml.lifecycle import registry

    ref = registry.parse_ref(args.ref)
    reg = _registry(args)
    try:
        pulled = reg.pull(ref, Path(args.out), _trusted_keys(args.trusted_keys))
    except bundle.BundleError as exc:
        raise UsageError(f"{ref}: pulled bundle refused: check {exc.check}: "
                         f"{exc.detail}") from None
    v = pulled.version
    print(f"{v.name} version {v.version} -> {pulled.path}: {len(pulled.models)} models "
          f"verified bit for bit, digest {v.tags.get('bundle_digest', '-')}"
          + (f", signed by {pulled.signed_by}" if pulled.signed_by else ""))
    return 0


def cmd_registry_alias(args: argparse.Namespace) -> int:
    version = _registry(args).set_alias(args.name, args.version, args.alias)
    print(f"{version.name}@{args.alias} -> version {version.version}")
    return 0


REPO = Path(__file__).resolve().parents[1]


def _go_parity_binary(given: str | None) -> Path:
    """The Go parity binary: --go-bin, else build/bin/dwcp-parity of this checkout, rebuilt
    by `go build` (incremental) when Go is available so it is never stale."""
    if given:
        path = Path(given)
        if not path.is_file():
            raise UsageError(f"--go-bin {given}: no such file")
        return path
    path = REPO / "build" / "bin" / "dwcp-parity"
    if shutil.which("go") is not None and (REPO / "go.mod").is_file():
        subprocess.run(["go", "build", "-o", str(path), "./cmd/dwcp-parity"], cwd=REPO, check=True)
    elif not path.is_file():
        raise UsageError("the Go parity binary is missing and Go is not available to build it: "
                         "run `make` in the dwcp-ml checkout or pass --go-bin")
    return path


def cmd_parity(args: argparse.Namespace) -> int:
    """The bundle's golden predictions through Python's ONNX Runtime and through the Go
    runtime (cmd/dwcp-parity, on the same libonnxruntime); one line per model."""
    loaded = bundle.load(Path(args.bundle))
    python = {r.model: r for r in bundle.check_goldens(loaded)}
    lib = Path(ort.__file__).parent / "capi" / f"libonnxruntime.so.{ort.__version__}"
    proc = subprocess.run([str(_go_parity_binary(args.go_bin)), "-json", "-ort-lib", str(lib),
                           str(loaded.path)], capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise UsageError(f"Go runtime: {proc.stderr.strip() or proc.stdout.strip()}")
    go = {m["model"]: m for m in json.loads(proc.stdout)["models"]}
    rows = []
    for name in sorted(python.keys() | go.keys()):
        p, g = python.get(name), go.get(name)
        rows.append({
            "model": name,
            "python": {"ok": bool(p and p.ok), "detail": p.detail if p else "not checked"},
            "go": {"ok": bool(g and g["ok"]), "detail": g["detail"] if g else "not checked"},
        })
    ok = all(r["python"]["ok"] and r["go"]["ok"] for r in rows)
    if args.json:
        print(json.dumps({"bundle": str(loaded.path), "version": loaded.version, "ok": ok,
                          "models": rows}, indent=2))
    else:
        for r in rows:
            for side in ("python", "go"):
                status = "match" if r[side]["ok"] else "MISMATCH"
                print(f"{r['model']:<12} {side:<7} {status:<9} {r[side]['detail']}")
    return 0 if ok else 1


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are the CLI's one line (not usage + message) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"dwcp-ml: error: {' '.join(message.split())} "
                     f"(see `{self.prog} --help`)\n")


def _count(text: str) -> int:
    """A count or length flag: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive count: pass 1 or more")
    return value


def _month(text: str) -> str:
    try:
        return data.check_month(text)
    except data.TraceFormatError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dwcp-ml", description=__doc__)
    parser.add_argument("--version", action="version",
                        version=f"dwcp-ml (feature core {fc.VERSION})")
    sub = parser.add_subparsers(dest="command", required=True)

    feats = sub.add_parser("features", help="resample traces and compute window features")
    feats.add_argument("--source", choices=["synthetic", "bitbrains"], default="synthetic")
    feats.add_argument("--data", help="shared data directory (default $DWCP_DATA_DIR or "
                                      "../shared/data)")
    feats.add_argument("--month", type=_month, default="2013-7",
                       help="Bitbrains month: 2013-7 or 2013-8")
    feats.add_argument("--vms", type=_count, default=4, help="number of VMs")
    feats.add_argument("--days", type=_count, default=7, help="synthetic days per VM")
    feats.add_argument("--seq-len", type=_count, default=12)
    feats.add_argument("--stat-window", type=_count, default=12)
    feats.add_argument("--quiet", action="store_true", help="no progress bar")
    feats.set_defaults(func=cmd_features)

    golden = sub.add_parser("golden", help="write (or --check) the feature and placement "
                                           "golden vectors")
    golden.add_argument("--out", help="feature file to write (default golden/features_v1.txt)")
    golden.add_argument("--placement-out",
                        help="placement file to write (default golden/placement_v1.txt)")
    golden.add_argument("--check", action="store_true",
                        help="regenerate in memory and compare with the file")
    golden.set_defaults(func=cmd_golden)

    def model_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--models", help=f"comma-separated subset of {','.join(families.FAMILIES)}")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        tracking_options(p)

    train = sub.add_parser("train", help="train models on traces (default: embedded data)")
    train.add_argument("--work", required=True, help="work directory for trained models")
    train.add_argument("--source", choices=families.SOURCES, default="default",
                       help="default: synthetic VMs and shipped NAB; real: ../shared/data; "
                            "prometheus: the dwcp_vm_* series at --url (pba, scaling)")
    train.add_argument("--url", help="Prometheus base URL for --source prometheus")
    train.add_argument("--start", help="--source prometheus: first second (Unix seconds or "
                                       "YYYY-MM-DDTHH:MM:SSZ)")
    train.add_argument("--end", help="--source prometheus: last second (included)")
    train.add_argument("--match", help="--source prometheus: PromQL label matchers, e.g. "
                                       "'dataset=\"bitbrains\"'")
    train.add_argument("--data", help="shared data directory (default $DWCP_DATA_DIR or "
                                      "../shared/data)")
    train.add_argument("--month", type=_month, default="2013-7",
                       help="Bitbrains month for --source real")
    train.add_argument("--vms", type=_count, help="first N Bitbrains VMs (or VM series of "
                       "--source prometheus; default all)")
    train.add_argument("--tiny", action="store_true", help="small configurations (tests)")
    model_options(train)
    train.set_defaults(func=cmd_train)

    replay = sub.add_parser("replay-exporter", help="serve traces as Prometheus metrics while "
                            "a replay clock advances, or write them as OpenMetrics for "
                            "promtool's backfill (docs/prometheus-source.md)")
    replay.add_argument("--source", choices=("default", "real"), default="default",
                        help="default: synthetic VMs; real: Bitbrains --month")
    replay.add_argument("--data", help="shared data directory (default $DWCP_DATA_DIR or "
                                       "../shared/data)")
    replay.add_argument("--month", type=_month, default="2013-7", help="Bitbrains month")
    replay.add_argument("--vms", type=_count, help="first N Bitbrains VMs (default all)")
    replay.add_argument("--listen", default="127.0.0.1:9108", help="HOST:PORT of /metrics")
    replay.add_argument("--speed", type=float, default=1.0,
                        help="replay seconds per wall-clock second")
    replay.add_argument("--openmetrics", metavar="FILE", help="write every sample as "
                        "OpenMetrics instead of serving")
    replay.add_argument("--tsdb", metavar="DIR", help="with --openmetrics: backfill a "
                        "Prometheus TSDB with promtool tsdb create-blocks-from openmetrics")
    replay.add_argument("--counters", action="store_true", help="with --openmetrics: also "
                        "*_bytes_total counters (for rate() dashboards; not an exact input)")
    replay.set_defaults(func=cmd_replay_exporter)

    export = sub.add_parser("export", help="export trained models to verified ONNX")
    export.add_argument("--work", required=True, help="work directory of `dwcp-ml train`")
    export.add_argument("--models", help=f"comma-separated subset of "
                        f"{','.join(families.FAMILIES)}")
    export.add_argument("--quiet", action="store_true", help="no progress bars")
    export.set_defaults(func=cmd_export)

    bundle_cmd = sub.add_parser("bundle", help="write exported models into a bundle")
    bundle_cmd.add_argument("--work", required=True, help="work directory of `dwcp-ml export`")
    bundle_cmd.add_argument("--out", required=True, help="new bundle directory")
    bundle_cmd.add_argument("--version", default="dev", help="bundle version")
    model_options(bundle_cmd)
    bundle_cmd.set_defaults(func=cmd_bundle)

    evaluate = sub.add_parser("eval", help="evaluate on any data (cross-validation, a test "
                              "selection, or a bundle as it is); Markdown + PNG report")
    evaluate.add_argument("--data", help="shared data directory")
    evaluate.add_argument("--out", default="reports", help="report directory")
    evaluate.add_argument("--train", metavar="SEL", help="what to train and cross-validate on, "
                          "e.g. bitbrains:months=2013-7,2013-8:vms=first:70 (default: the "
                          "family's dev data)")
    evaluate.add_argument("--test", metavar="SEL", help="what to test on after training on "
                          "--train, e.g. nab:series=realKnownCause/nyc_taxi.csv (default: "
                          "cross-validation only)")
    evaluate.add_argument("--bundle", metavar="B", help="judge this bundle's models as they "
                          "are, without retraining, on --test (or --train)")
    evaluate.add_argument("--folds", type=_count, default=5, help="cross-validation folds")
    model_options(evaluate)
    evaluate.set_defaults(func=cmd_eval)

    search = sub.add_parser("search", help="Optuna search over a family's configuration "
                            "(CV loss, optionally vs serving latency); report + PNG + best.json")
    search.add_argument("family", help="pba, scaling or anomaly")
    search.add_argument("--trials", type=_count, default=20, help="trials this command adds")
    search.add_argument("--workers", type=_count, default=1, help="worker processes")
    search.add_argument("--storage", metavar="URL", help="SQLAlchemy URL of the study's RDB "
                        "(default sqlite:///OUT/study.db)")
    search.add_argument("--study-name", help="default FAMILY[-nas]-OBJECTIVES[-tiny]")
    search.add_argument("--sampler", default="tpe", help="tpe, gp, random or grid")
    search.add_argument("--pruner", help="hyperband, sha or none (default hyperband; none "
                        "for two objectives)")
    search.add_argument("--objectives", default="loss", help="loss or loss,latency")
    search.add_argument("--budget-us", type=float, default=50.0,
                        help="p99 latency budget for the pick on the Pareto front")
    search.add_argument("--latency-calls", type=_count, default=1000)
    search.add_argument("--out", default="reports/search", help="report directory")
    search.add_argument("--train", metavar="SEL", help="what to search on (default: the "
                        "family's dev data; --tiny: synthetic)")
    search.add_argument("--data", help="shared data directory")
    search.add_argument("--folds", type=_count, default=5, help="cross-validation folds")
    search.add_argument("--seed", type=int, default=0, help="sampler seed (+ worker index)")
    search.add_argument("--nas", action="store_true", help="search the architecture too "
                        "(pba: cell lstm/gru/tcn/mlp/linear, layers)")
    search.add_argument("--tiny", action="store_true", help="tiny space and configs (tests)")
    search.add_argument("--quiet", action="store_true", help="no progress bar")
    tracking_options(search)
    search.set_defaults(func=cmd_search)

    verify = sub.add_parser("verify", help="check a bundle and reproduce its golden predictions")
    verify.add_argument("bundle", help="bundle directory")
    verify.add_argument("--json", action="store_true", help="machine-readable result")
    verify.add_argument("--trusted-keys", metavar="F",
                        help="PEM public keys; the bundle's model.sig must be signed by one")
    verify.set_defaults(func=cmd_verify)

    keygen = sub.add_parser("keygen", help="new ECDSA P-256 key pair for signing bundles")
    keygen.add_argument("--out-private", required=True, metavar="K",
                        help="private key to create (PKCS8 PEM, mode 0600)")
    keygen.add_argument("--out-public", required=True, metavar="P",
                        help="public key to create (PEM), for --trusted-keys")
    keygen.set_defaults(func=cmd_keygen)

    sign = sub.add_parser("sign", help="sign a bundle (model.sig, OpenSSF model-signing format)")
    sign.add_argument("bundle", help="bundle directory")
    sign.add_argument("--key", required=True, metavar="K", help="private key of dwcp-ml keygen")
    sign.set_defaults(func=cmd_sign)

    parity = sub.add_parser("parity", help="golden predictions in Python and in Go, one line each")
    parity.add_argument("bundle", help="bundle directory")
    parity.add_argument("--json", action="store_true", help="machine-readable result")
    parity.add_argument("--go-bin", help="the dwcp-parity binary (default: build/bin/dwcp-parity)")
    parity.set_defaults(func=cmd_parity)
    add_registry(sub)
    add_lifecycle(sub)
    return parser


def add_lifecycle(sub: Any) -> None:
    """``pipeline run|serve`` (lifecycle/dag.py, docs/pipeline.md), ``drift
    attach|report`` (lifecycle/drift.py, docs/drift-report.md), ``retrain`` and
    ``backtest`` (lifecycle/retrain.py, lifecycle/backtest.py, docs/retrain.md)."""
    from dwcp_ml.lifecycle import dag, drift

    pipe = sub.add_parser("pipeline", help="the main job as a Prefect flow: cached, retried, "
                          "resumable; or served on a schedule")
    dag.add_commands(pipe.add_subparsers(dest="pipeline_command", required=True))
    pipe.set_defaults(func=dag.dispatch)
    drifting = sub.add_parser("drift", help="drift references in a bundle; PSI / KS of live "
                              "data against them")
    drift.add_arguments(drifting)
    drifting.set_defaults(func=drift.run)
    from dwcp_ml.lifecycle import retrain

    again = sub.add_parser("retrain", help="champion / challenger: retrain on the recent "
                           "window, judge both on the hold-out, promote by the rule")
    retrain.add_arguments(again)
    tracking_options(again, optional=False)
    again.set_defaults(func=retrain.run)
    from dwcp_ml.lifecycle import backtest

    back = sub.add_parser("backtest", help="July -> August weekly: frozen July model vs "
                          "retrain-with-promotion, drift beside accuracy (one report)")
    backtest.add_arguments(back)
    back.add_argument("--tracking-uri", metavar="URI", help=TRACKING_URI_HELP)
    back.set_defaults(func=backtest.run)


TRACKING_URI_HELP = (f"MLflow tracking and registry URI, e.g. http://mlflow.example:5000 "
                     f"(default ${tracking.ENV_URI}, else the embedded sqlite store in "
                     f"${tracking.ENV_DIR} or ~/.local/share/dwcp-ml/mlruns)")


def tracking_options(p: argparse.ArgumentParser, *, optional: bool = True) -> None:
    p.add_argument("--tracking-uri", metavar="URI", help=TRACKING_URI_HELP)
    if optional:
        p.add_argument("--no-track", action="store_true", help="record no MLflow run")


def add_registry(sub: Any) -> None:
    from dwcp_ml.lifecycle.registry import ALIASES

    reg = sub.add_parser("registry", help="MLflow model registry: one registered model per "
                         "bundle name, one version per bundle, aliases champion/challenger")
    cmds = reg.add_subparsers(dest="registry_command", required=True)
    register = cmds.add_parser("register", help="verify a bundle and register it as a version")
    register.add_argument("bundle", help="bundle directory")
    register.add_argument("--name", required=True, help="registered model, e.g. dwcp-default")
    register.add_argument("--alias", choices=ALIASES, help="point this alias at the version")
    register.add_argument("--trusted-keys", metavar="F", help="PEM public keys: model.sig must "
                          "verify and its key id becomes the signature_key_id tag")
    register.set_defaults(func=cmd_registry_register)
    listing = cmds.add_parser("list", help="registered models, latest version, aliases")
    listing.add_argument("--json", action="store_true", help="machine-readable")
    listing.set_defaults(func=cmd_registry_list)
    show = cmds.add_parser("show", help="one version: aliases, source, lineage tags")
    show.add_argument("ref", metavar="NAME@ALIAS|NAME/VERSION")
    show.add_argument("--json", action="store_true", help="machine-readable")
    show.set_defaults(func=cmd_registry_show)
    pull = cmds.add_parser("pull", help="download a version's bundle and verify it")
    pull.add_argument("ref", metavar="NAME@ALIAS|NAME/VERSION")
    pull.add_argument("--out", required=True, help="new (or empty) bundle directory")
    pull.add_argument("--trusted-keys", metavar="F", help="also require a trusted model.sig")
    pull.set_defaults(func=cmd_registry_pull)
    alias = cmds.add_parser("alias", help="point an alias at a version")
    alias.add_argument("name", help="registered model")
    alias.add_argument("version", help="version number")
    alias.add_argument("alias", choices=ALIASES)
    alias.set_defaults(func=cmd_registry_alias)
    for p in (register, listing, show, pull, alias):
        tracking_options(p, optional=False)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.func(args))
    except (UsageError, fc.FeatureCoreError, data.DataNotFoundError, data.TraceFormatError,
            synthetic.ConfigError, bundle.BundleError, pipeline.PipelineError,
            families.FamilyError, GoLatencyError, selection.SelectionError, cv.FoldError,
            tracking.TrackingError, RegistryError, lineage.LineageError,
            prometheus.PrometheusSourceError, sources.NotInPrometheusError,
            openmetrics.OpenMetricsError, exporter.ExporterError) as exc:
        print(f"dwcp-ml: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `dwcp-ml features | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
