"""Search throughput on this machine: trials per hour with 1 and 2 worker processes.

Not a test; prints figures only. Each run is a fresh sqlite study in a temporary directory
with the same N configurations enqueued (drawn once at random, seed 0), no pruning: both
runs do exactly the same work, all folds of every configuration. Wall time
includes what a worker pays before its first trial (spawned workers import torch / LightGBM
and load the data again); "per trial" is the mean of the trials' own durations.

    .venv/bin/python tests/bench_search.py                     # pba, tiny, synthetic
    .venv/bin/python tests/bench_search.py --family scaling --trials 8
    .venv/bin/python tests/bench_search.py --no-tiny --train bitbrains:months=2013-7:vms=first:5
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import optuna

from dwcp_ml.search import spaces, study


def configurations(args: argparse.Namespace) -> list[dict[str, object]]:
    """``args.trials`` configurations of the family's space, drawn at random with seed 0."""
    draw = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    out = []
    for _ in range(args.trials):
        trial = draw.ask()
        out.append(spaces.get(args.family).suggest(trial, args.tiny, nas=False))
        draw.tell(trial, 0.0)
    return out


def run(args: argparse.Namespace, workers: int,
        configs: list[dict[str, object]]) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = study.SearchSpec(family=args.family, out=Path(tmp), trials=args.trials,
                                workers=workers, sampler="random", pruner="none",
                                train=args.train, tiny=args.tiny, folds=args.folds,
                                progress=False)
        queued = study.open_study(spec, study.check(spec))
        for params in configs:
            queued.enqueue_trial(params)
        started = time.perf_counter()
        found = study.run(spec)
        wall = time.perf_counter() - started
        trials = found.get_trials(states=study.FINISHED)
        own = [(t.datetime_complete - t.datetime_start).total_seconds() for t in trials]
    return wall, sum(own) / len(own), len(trials)


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="pba")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--train", help="selection (default: the tiny synthetic data)")
    parser.add_argument("--no-tiny", dest="tiny", action="store_false")
    args = parser.parse_args()
    what = args.train or "synthetic"
    print(f"{args.family}, {'tiny' if args.tiny else 'full'} space, {what}, {args.folds} folds, "
          f"{args.trials} trials per run, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at start")
    print(f"{'workers':>7} {'trials':>6} {'wall s':>8} {'s/trial':>8} {'trials/hour':>12}")
    configs = configurations(args)
    for workers in (1, 2):
        wall, per_trial, n = run(args, workers, configs)
        print(f"{workers:>7} {n:>6} {wall:>8.1f} {per_trial:>8.2f} {3600 * n / wall:>12.0f}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
