"""The main job as a Prefect 3 flow, run embedded: train -> export -> bundle -> verify -> sign
-> eval -> register -> promote.

Why Prefect: ML teams run it, it runs in-process with no server to start (a temporary local API
on a loopback port lives as long as the flow), and it gives the three things a long pipeline
needs: tasks cached by a digest of their inputs, retries on transient failure, and resumption
after a crash (a re-run finds every completed task's persisted result under its cache key and
skips it). Schedules (the weekly retrain) need a long-lived Prefect API: docs/lifecycle.md.

Cache keys are explicit digests, never object hashes: a family's training key is its name, its
configuration, the digest of the traces it trains on and the digest of the code; every later
key is derived from the keys of its inputs, so a change anywhere upstream re-runs exactly what
depends on it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dwcp_ml import families, pipeline
from dwcp_ml.training.data import traces_digest

PACKAGE = Path(__file__).resolve().parents[1]
CODE_DIRS = ("dwcp_ml", "training", "export", "spec", "families", "evaluation", "lifecycle",
             "feature_core/python", "feature_core/src", "feature_core/include")
# Retried: what a second try can fix. A missing file or a refused bundle fails at once.
TRANSIENT_ERRNOS = {errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.EIO, errno.ETIMEDOUT}
RETRIES = 2


@dataclass(frozen=True)
class PipelineSpec:
    """One run of the pipeline: what to train on and where everything goes."""

    work: Path  # cached task results, trained and exported models
    out: Path  # the bundle directory written by this run
    version: str
    models: tuple[str, ...] = ()  # () = every family
    source: families.Source = field(default_factory=families.Source)
    tiny: bool = False
    sign_key: Path | None = None
    eval_test: str | None = None  # a selection to judge the bundle on (dwcp-ml eval --test)
    register_as: str | None = None  # registered model name; None = do not register
    promote: bool = False  # set the champion alias once everything before it passed


def code_digest() -> str:
    """sha256 over every source file the pipeline runs (a changed line re-runs its tasks)."""
    h = hashlib.sha256()
    for folder in CODE_DIRS:
        for path in sorted((PACKAGE / folder).rglob("*")):
            if path.suffix in (".py", ".c", ".h") and "__pycache__" not in path.parts:
                h.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0")
                h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _keyed(context: Any, parameters: dict[str, Any]) -> str:
    """Prefect cache key: the explicit ``key`` argument every task takes."""
    return str(parameters["key"])


def is_transient(exc: BaseException) -> bool:
    """Timeouts, dropped connections (an MLflow server restarting), busy or interrupted I/O."""
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    if isinstance(exc, OSError):
        http = type(exc).__module__.split(".")[0] in ("requests", "urllib3")
        return http or exc.errno in TRANSIENT_ERRNOS
    return False


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    return is_transient(state.result(raise_on_failure=False))


def _configure_prefect(work: Path) -> None:
    """Prefect's state (its sqlite API database) lives under ``work``, no telemetry, and a
    temporary API given time to start on a loaded machine. Set before Prefect is imported;
    the environment wins where it sets them."""
    defaults = {
        "PREFECT_HOME": str(work / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING"),
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)


def build_flow(results: Path) -> Any:
    """The Prefect flow, its task results persisted under ``results`` (built on first use so
    that importing this module does not import Prefect, which reads its settings from the
    environment at import time)."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    cached = {"cache_key_fn": _keyed, "persist_result": True, "result_storage": results,
              "retries": RETRIES, "retry_delay_seconds": 1, "retry_condition_fn": _transient}
    uncached = {"cache_policy": NO_CACHE, "persist_result": False, "retries": RETRIES,
                "retry_delay_seconds": 1, "retry_condition_fn": _transient}

    @task(name="data-digest", **uncached)
    def data_digest(name: str, source: families.Source) -> str:
        return traces_digest(families.FAMILIES[name].traces(source))

    @task(name="train", **cached)
    def train(key: str, name: str, source: families.Source, tiny: bool) -> Any:
        family = families.FAMILIES[name]
        return family.train(family.traces(source), family.make_config(tiny), False)

    @task(name="export", **cached)
    def export(key: str, name: str, trained: Any) -> list[Any]:
        return families.FAMILIES[name].export_models(trained)

    @task(name="bundle", **cached)
    def write_bundle(key: str, exported: list[Any], out: str, version: str,
                     source: families.Source) -> str:
        return str(_write_bundle(exported, Path(out), version, source))

    @task(name="sign", **cached)
    def sign(key: str, bundle_dir: str, private_key: str) -> str:
        from dwcp_ml.export import signing

        signing.sign(Path(bundle_dir), Path(private_key))
        return signing.private_key_id(Path(private_key))

    @task(name="verify", **cached)
    def verify(key: str, bundle_dir: str) -> dict[str, str]:
        return _verify(Path(bundle_dir))

    @task(name="eval", **cached)
    def evaluate(key: str, bundle_dir: str, names: list[str], test: str, out: str,
                 data_root: Path | None) -> dict[str, Any]:
        return _evaluate(Path(bundle_dir), names, test, Path(out), data_root)

    @task(name="register", **uncached)
    def register(bundle_dir: str, name: str) -> str:
        from dwcp_ml.lifecycle import registry

        return str(registry.register(Path(bundle_dir), name, alias="challenger").version)

    @task(name="promote", **uncached)
    def promote(name: str, version: str) -> str:
        from dwcp_ml.lifecycle import registry

        registry.set_alias(name, version, "champion")
        return version

    @flow(name="dwcp-ml-pipeline")
    def run_pipeline(spec: PipelineSpec) -> dict[str, Any]:
        steps = Steps()
        code = code_digest()
        chosen = families.families(list(spec.models) or None)
        exported_all, upstream = [], []
        for family in chosen:
            digest = steps.run(data_digest, f"data {family.name}", family.name, spec.source)
            train_key = _key("train", family.name, spec.tiny, digest, code)
            trained = steps.run(train, f"train {family.name}", train_key, family.name,
                                spec.source, spec.tiny)
            export_key = _key("export", train_key)
            exported_all += steps.run(export, f"export {family.name}", export_key,
                                      family.name, trained)
            upstream.append(export_key)
        key = _key("bundle", upstream, str(spec.out), spec.version)
        bundle_dir = steps.run(write_bundle, "bundle", key, exported_all, str(spec.out),
                               spec.version, spec.source)
        if spec.sign_key is not None:
            key = _key("sign", key, str(spec.sign_key))
            steps.summary["signed_by"] = steps.run(sign, "sign", key, bundle_dir,
                                                   str(spec.sign_key))
        steps.summary["verify"] = steps.run(verify, "verify", _key("verify", key), bundle_dir)
        if spec.eval_test:
            names = [f.name for f in chosen]
            out = str(spec.work / "eval" / key[:12])
            steps.summary["eval"] = steps.run(evaluate, "eval", _key("eval", key, spec.eval_test),
                                              bundle_dir, names, spec.eval_test, out,
                                              spec.source.data_dir)
        if spec.register_as:
            version = steps.run(register, "register", bundle_dir, spec.register_as)
            steps.summary["registered"] = f"{spec.register_as}/{version}"
            if spec.promote:
                steps.summary["champion"] = steps.run(promote, "promote", spec.register_as,
                                                      version)
        steps.summary.update(bundle=bundle_dir, code=code)
        return steps.summary

    return run_pipeline


@dataclass
class Steps:
    """Runs tasks and records, per step, whether it ran or came from the cache."""

    summary: dict[str, Any] = field(default_factory=lambda: {"steps": {}})

    def run(self, task: Any, label: str, *args: Any) -> Any:
        state = task(*args, return_state=True)
        value = state.result()  # raises the task's exception if it failed
        self.summary["steps"][label] = "cached" if state.name == "Cached" else "ran"
        return value


def _write_bundle(exported: list[Any], out: Path, version: str,
                  source: families.Source) -> Path:
    """Writes the bundle with its drift references (from the training data of ``source``
    where the trainer gave no sample) next to ``out`` and renames it into place, so a crash
    never leaves a half bundle that a resumed run would refuse as "not empty"."""
    from dwcp_ml.export import bundle
    from dwcp_ml.lifecycle import drift

    if out.exists() and any(out.iterdir()):
        raise pipeline.PipelineError(f"{out} is not empty; choose a new bundle directory")
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    written = bundle.write(partial, exported, version)
    # Models whose trainer handed over its drift sample (link, itp) have their reference.
    missing = [name for name, m in written.models.items() if m.drift is None]
    if missing:
        drift.attach(partial, source, models=missing, progress=lambda _: None)
    if out.exists():
        out.rmdir()
    partial.rename(out)
    return out


def _verify(bundle_dir: Path) -> dict[str, str]:
    from dwcp_ml.export import bundle

    loaded = bundle.load(bundle_dir)
    results = bundle.check_goldens(loaded)
    refusal = bundle.first_refusal(loaded, results)
    if refusal is not None:
        raise refusal
    return {r.model: r.detail for r in results}


def _evaluate(bundle_dir: Path, names: list[str], test: str, out: Path,
              data_root: Path | None) -> dict[str, Any]:
    """``dwcp-ml eval --bundle`` for each family: the bundle judged as it is on ``test``."""
    from dataclasses import replace

    from dwcp_ml.evaluation.request import EvalRequest
    from dwcp_ml.training import data, selection

    chosen = selection.parse(test)
    # Embedded selections read no data directory; the others need one.
    root = out if chosen.kind == "synthetic" else data.data_dir(data_root)
    request = EvalRequest(data_root=root, out_dir=out, test=chosen, bundle=bundle_dir)
    metrics = {}
    for name in names:
        if name == "itp":
            continue  # itp is judged by its simulator replay, not on a test selection
        _, metrics[name] = families.FAMILIES[name].evaluate(replace(request,
                                                                    out_dir=out / name))
    return metrics


def run(spec: PipelineSpec) -> dict[str, Any]:
    """Runs (or resumes) the pipeline; returns the summary the flow logs."""
    work = spec.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    _configure_prefect(work)
    return build_flow(work / "results")(spec)


def _models(text: str | None) -> tuple[str, ...]:
    """``--models``; an unknown family fails here, before Prefect starts."""
    models = tuple(m.strip() for m in (text or "").split(",") if m.strip())
    families.families(list(models) or None)
    return models


def _spec(args: Any) -> PipelineSpec:
    models = _models(args.models)
    source = families.Source(kind=args.source, data_dir=Path(args.data) if args.data else None,
                             month=args.month, vms=args.vms)
    return PipelineSpec(work=Path(args.work), out=Path(args.out), version=args.version,
                        models=models, source=source, tiny=args.tiny,
                        sign_key=Path(args.sign_key) if args.sign_key else None,
                        eval_test=args.eval_test, register_as=args.register_as,
                        promote=args.promote)


def add_arguments(p: Any) -> None:
    """The options of ``dwcp-ml pipeline run`` (also ``python -m dwcp_ml.lifecycle.dag``)."""
    p.add_argument("--work", required=True, help="cached task results and Prefect's state")
    p.add_argument("--out", required=True, help="the new bundle directory")
    p.add_argument("--version", required=True, help="bundle version label")
    _shared_arguments(p, "the bundle")
    p.add_argument("--vms", type=int)
    p.add_argument("--sign-key", help="sign the bundle with this private key")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def _shared_arguments(p: Any, bundles: str) -> None:
    """The options ``run`` and ``serve`` share: what to train on and what follows."""
    p.add_argument("--models", help=f"comma-separated subset of {','.join(families.FAMILIES)}")
    p.add_argument("--source", choices=families.SOURCES, default="default")
    p.add_argument("--data", help="data directory holding bitbrains/ and nab/ (--source real)")
    p.add_argument("--month", default="2013-7")
    p.add_argument("--tiny", action="store_true", help="the tiny configurations (tests)")
    p.add_argument("--eval-test", help=f"judge {bundles} on this selection (dwcp-ml eval --test)")
    p.add_argument("--register-as", help=f"register {bundles} under this MLflow model name")
    p.add_argument("--promote", action="store_true", help="then set its champion alias")


def print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=1, default=str))
        return
    for label, how in summary["steps"].items():
        print(f"{label:<20} {how}")
    print(f"bundle {summary['bundle']} (code {summary['code']})")


def add_serve_arguments(p: Any) -> None:
    """The options of ``dwcp-ml pipeline serve`` (lifecycle/schedule.py)."""
    p.add_argument("--work", required=True, help="cached task results shared by every run")
    p.add_argument("--out-root", required=True, help="each run writes OUT_ROOT/<UTC time>")
    _shared_arguments(p, "each bundle")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--cron", help="cron schedule (default: Mondays 03:00 UTC)")
    when.add_argument("--interval", type=float, help="seconds between runs instead of a cron")


def serve(args: Any) -> None:
    if not os.environ.get("PREFECT_API_URL"):
        raise pipeline.PipelineError(
            "serve needs a Prefect API that outlives one run: start one (`prefect server "
            "start`) or use your team's, and set PREFECT_API_URL (e.g. "
            "http://127.0.0.1:4200/api)")
    models = list(_models(args.models))
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(work / "prefect"))
    from . import schedule

    schedule.serve({"work": str(work), "out_root": str(Path(args.out_root).resolve()),
                    "models": models, "source": args.source, "data": args.data,
                    "month": args.month, "tiny": args.tiny, "eval_test": args.eval_test,
                    "register_as": args.register_as, "promote": args.promote},
                   cron=args.cron, interval=args.interval)


def add_commands(sub: Any) -> None:
    """``run`` and ``serve`` under a parent parser's subcommands."""
    add_arguments(sub.add_parser("run", help="run (or resume) the pipeline once, embedded"))
    add_serve_arguments(sub.add_parser("serve", help="run it on a schedule (needs a Prefect "
                                                     "API: PREFECT_API_URL)"))


def dispatch(args: Any) -> int:
    if args.pipeline_command == "serve":
        serve(args)
    else:
        print_summary(run(_spec(args)), args.json)
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    from dwcp_ml.export.bundle import BundleError

    parser = argparse.ArgumentParser(prog="python -m dwcp_ml.lifecycle.dag",
                                     description=__doc__.split("\n\n")[0])
    add_commands(parser.add_subparsers(dest="pipeline_command", required=True))
    args = parser.parse_args(argv)
    try:
        return dispatch(args)
    except (pipeline.PipelineError, families.FamilyError, BundleError, ValueError,
            OSError) as exc:
        print(f"dwcp-ml: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
