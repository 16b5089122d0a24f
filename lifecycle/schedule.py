"""The pipeline on a schedule (the weekly retrain): a Prefect deployment served by this process.

A schedule needs a Prefect API that outlives one run: a team's Prefect server, or
``prefect server start`` on the machine; ``PREFECT_API_URL`` names it. ``serve`` registers the
deployment with its cron (or interval) schedule and runs each scheduled run in a subprocess;
every run writes a new bundle ``OUT_ROOT/<UTC time>`` and shares the cache of ``--work`` (an
unchanged family is not retrained). Imported only by ``serve``: Prefect reads its settings
at import time, so the environment is set first (dag._configure_prefect).
"""

from __future__ import annotations

import datetime
from pathlib import Path

from prefect import flow
from prefect.deployments.runner import EntrypointType

from dwcp_ml import families

from . import dag

WEEKLY = "0 3 * * 1"  # Mondays 03:00 UTC


@flow(name="dwcp-ml-scheduled-pipeline")
def scheduled_pipeline(work: str, out_root: str, models: list[str], source: str = "default",
                       data: str | None = None, month: str = "2013-7", tiny: bool = False,
                       eval_test: str | None = None, register_as: str | None = None,
                       promote: bool = False) -> dict:
    """One scheduled run: the whole pipeline into a new bundle named by the run's UTC time."""
    version = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    spec = dag.PipelineSpec(
        work=Path(work), out=Path(out_root) / version, version=version, models=tuple(models),
        source=families.Source(kind=source, data_dir=Path(data) if data else None, month=month),
        tiny=tiny, eval_test=eval_test, register_as=register_as, promote=promote)
    return dag.build_flow(Path(work).resolve() / "results")(spec)


def serve(parameters: dict, cron: str | None, interval: float | None,
          name: str = "weekly-retrain") -> None:
    """Registers the deployment and runs its scheduled runs until stopped (SIGTERM / Ctrl-C)."""
    scheduled_pipeline.serve(name=name, cron=None if interval else (cron or WEEKLY),
                             interval=interval, parameters=parameters,
                             entrypoint_type=EntrypointType.MODULE_PATH,
                             pause_on_shutdown=False, print_starting_message=False,
                             limit=1)  # one run at a time: runs share the cache and out root
