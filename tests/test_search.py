"""dwcp-ml search (issue 11 items 3, 5, 9): the engine on sqlite in tmp_path, tiny spaces.

The sampler, pruner and grid tests replace the family's ``cross_validate`` by a stand-in with
a known loss, in-process, so they test the engine and not a model. The end-to-end test and
the two-worker test run a real family (anomaly, tiny, the NAB series shipped in
training/nab) through the CLI and through worker processes; the multi-objective test trains
and times real tiny scaling models (Go latency).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from dwcp_ml import cli
from dwcp_ml.search import report, spaces, study
from dwcp_ml.training import cv


def standin_cv(traces, config, folds, on_fold=None, progress=False) -> cv.CvResult:
    """Loss = num_leaves + fold index / 10 (lower is better), reported after every fold."""
    rows = []
    for k, fold in enumerate(folds):
        rows.append({"pinball": config.num_leaves + k / 10})
        if on_fold is not None:
            on_fold(k, sum(r["pinball"] for r in rows) / len(rows))
    return cv.CvResult("pinball", tuple(f.describe() for f in folds), tuple(rows),
                       {"last value": tuple({"pinball": 100.0} for _ in folds)})


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spaces.Space, "cross_validate", lambda self: standin_cv)


def spec(tmp_path: Path, **kw) -> study.SearchSpec:
    base = dict(family="scaling", out=tmp_path / "out", trials=4, tiny=True, folds=3,
                progress=False)
    return study.SearchSpec(**{**base, **kw})


def test_grid_sampler_covers_its_grid(tmp_path: Path, standin: None) -> None:
    grid = spaces.get("scaling").grid(tiny=True, nas=False)
    points = {tuple(sorted(p.items())) for p in
              (dict(zip(grid, values)) for values in itertools.product(*grid.values()))}
    s = spec(tmp_path, sampler="grid", pruner="none", trials=len(points))
    done = study.run(s).get_trials(states=(TrialState.COMPLETE,))
    assert {tuple(sorted(t.params.items())) for t in done} == points


@pytest.mark.parametrize("name", ["tpe", "gp", "random"])
def test_every_sampler_runs_and_is_seeded(tmp_path: Path, standin: None, name: str) -> None:
    params = []
    for run in ("a", "b"):
        s = spec(tmp_path / run, sampler=name, pruner="none", trials=3)
        params.append([t.params for t in study.run(s).get_trials()])
    assert len(params[0]) == 3 and params[0] == params[1]  # same seed, same proposals


def test_a_second_command_joining_the_study_proposes_new_points(tmp_path: Path,
                                                                 standin: None) -> None:
    s = spec(tmp_path, sampler="random", pruner="none", trials=3)
    study.run(s)
    trials = study.run(s).get_trials()  # the same command again: 3 more trials
    assert len(trials) == 6
    assert [t.params for t in trials[:3]] != [t.params for t in trials[3:]]


def test_a_trial_bad_at_fold_0_is_pruned(tmp_path: Path, standin: None) -> None:
    s = spec(tmp_path, pruner="sha", trials=3)
    sel = study.check(s)
    s.out.mkdir()
    first = study.open_study(s, sel)
    good = {"n_estimators": 10, "num_leaves": 3, "learning_rate": 0.1, "seq_len": 4}
    for leaves in (3, 3, 15):
        first.enqueue_trial({**good, "num_leaves": leaves})
    found = study.run(s)
    trials = found.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE,
                                         TrialState.PRUNED]
    assert trials[2].last_step == 1  # stopped after its first fold
    assert report.pick(found, 50.0).trial.params["num_leaves"] == 3


def test_multi_objective_pick_respects_the_budget(tmp_path: Path, standin: None) -> None:
    s = spec(tmp_path, sampler="random", objectives=("loss", "latency"), trials=3,
             latency_calls=20)
    found = study.run(s)
    done = found.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 3 and all(t.values[1] > 0 for t in done)
    chosen = report.write(found, s)
    best = json.loads((s.out / "best.json").read_text())
    assert best["params"] == chosen.trial.params and "p99_us" in best
    assert (s.out / "pareto.png").is_file()
    tight = report.pick(found, budget_us=0.0)  # nothing fits: the fastest, flagged
    assert not tight.within_budget
    assert tight.trial.values[1] == min(t.values[1] for t in found.best_trials)


def test_best_json_loads_as_the_family_config(tmp_path: Path, standin: None) -> None:
    s = spec(tmp_path, sampler="random", trials=2)
    chosen = report.write(study.run(s), s)
    config = report.load_config(s.out / "best.json")
    assert type(config).__name__ == "ScalingConfig"
    assert config.num_leaves == chosen.trial.params["num_leaves"] and config.n_jobs == 1


def test_tiny_search_end_to_end_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "search"
    code = cli.main(["search", "anomaly", "--tiny", "--trials", "2", "--folds", "2",
                     "--quiet", "--sampler", "random", "--out", str(out)])
    assert code == 0
    text = (out / "report.md").read_text()
    assert "eval_anomaly.cross_validate" in text and "searched on: synthetic" in text
    assert "| rolling_zscore |" in text  # the baseline beside the model
    for png in ("history.png", "importance.png"):
        assert (out / png).stat().st_size > 0
    assert (out / "study.db").is_file()
    config = report.load_config(out / "best.json")
    assert type(config).__name__ == "AnomalyConfig" and config.detector == "breakout"


def test_two_worker_processes_share_one_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    s = study.SearchSpec(family="anomaly", out=tmp_path / "out", trials=2, workers=2,
                         tiny=True, folds=2, sampler="random", pruner="none", storage=url,
                         progress=False)
    study.run(s)
    trials = optuna.load_study(study_name=s.name, storage=url).get_trials()
    assert len(trials) == 2 and all(t.state == TrialState.COMPLETE for t in trials)
    assert sorted(t.user_attrs["worker"] for t in trials) == [0, 1]
    assert len({t.user_attrs["pid"] for t in trials}) == 2


def test_joining_a_study_made_for_other_data_is_refused(tmp_path: Path, standin: None) -> None:
    first = spec(tmp_path, sampler="random", trials=1)
    study.run(first)
    other = study.SearchSpec(**{**first.__dict__, "train": "nab", "family": "scaling"})
    with pytest.raises(spaces.SearchError, match="made for other settings"):
        study.run(other)


def test_quotas_split_the_trials_exactly() -> None:
    assert study.quotas(5, 2) == [3, 2] and sum(study.quotas(7, 3)) == 7


@pytest.mark.parametrize("args, message", [
    (["nope"], "unknown family 'nope'"),
    (["scaling", "--sampler", "bayes"], "unknown sampler 'bayes'"),
    (["scaling", "--pruner", "median"], "unknown pruner 'median'"),
    (["scaling", "--objectives", "latency"], "expected loss or loss,latency"),
    (["scaling", "--objectives", "loss,latency", "--pruner", "sha"], "cannot prune"),
    (["scaling", "--storage", "notaurl"], "--storage notaurl: Could not parse"),
    (["scaling", "--storage", "postgresql://u:secret@localhost/db"], "u:***@localhost"),
])
def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               args: list[str], message: str) -> None:
    code = cli.main(["search", *args, "--tiny", "--quiet", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("dwcp-ml: error: ") and err.count("\n") == 1
    assert message in err and "secret" not in err
