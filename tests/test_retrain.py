"""Champion / challenger retraining (lifecycle/retrain.py): a tiny scaling flow on the first 3
Bitbrains VMs of July 2013 with an embedded MLflow store in tmp. The champion is trained on
the first two days only, the challenger on the 7 days before a 4-day hold-out: the
challenger wins (0.0070 vs 0.0147 under-provisioned share at the reactive capacity)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dwcp_ml import cli, families
from dwcp_ml.export import bundle
from dwcp_ml.export.go_latency import GoLatencyError
from dwcp_ml.lifecycle import registry, retrain, tracking
from dwcp_ml.training import data, selection

DATA = "bitbrains:months=2013-7:vms=first:3:to=2013-07-20"
CHAMPION_DATA = "bitbrains:months=2013-7:vms=first:3:to=2013-07-03"


def _root() -> Path:
    try:
        return data.data_dir()
    except data.DataNotFoundError as exc:  # the real traces are required, never skipped
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An embedded store of this module's own (sqlite + artifacts in tmp)."""
    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def champion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _root()
    fam = families.FAMILIES["scaling"]
    traces = retrain.load("scaling", selection.parse(CHAMPION_DATA), root)
    out = tmp_path_factory.mktemp("champ") / "bundle"
    bundle.write(out, fam.export_models(fam.train(traces, fam.make_config(True), False)),
                 "champ-1")
    return out


def _champion(store: str, champion_dir: Path, name: str) -> None:
    registry.register(champion_dir, name, alias="champion", tracking_uri=store)


def _spec(tmp_path: Path, store: str, name: str, **kw: object) -> retrain.RetrainSpec:
    base = dict(champion=f"{name}@champion", data=DATA, out=tmp_path / "work",
                window_s=7 * 86400, holdout_s=4 * 86400, margin=0.005, tiny=True,
                version="retrain-test", tracking_uri=store, latency_calls=200,
                latency_ratio=5.0)
    base.update(kw)
    return retrain.RetrainSpec(**base)  # type: ignore[arg-type]


def _run_tags(store: str, run_name: str) -> tuple[dict[str, str], dict[str, float]]:
    c = tracking.client(tracking.resolve(store))
    exp = tracking.experiment_id(c, tracking.resolve(store))
    runs = c.search_runs([exp], f"attributes.run_name = '{run_name}'",
                         order_by=["attributes.start_time DESC"], max_results=1)
    assert runs, f"no run {run_name!r}"
    return runs[0].data.tags, runs[0].data.metrics


def test_promotes_when_the_challenger_wins(tmp_path: Path, store: str,
                                           champion_dir: Path) -> None:
    _champion(store, champion_dir, "rt-win")
    d = retrain.retrain(_spec(tmp_path, store, "rt-win"), log=lambda _: None)
    v = d.families[0]
    assert (v.family, v.loss_name) == ("scaling", "under_share_at_reactive_capacity")
    assert v.challenger_loss < v.champion_loss - 0.005, d.as_dict()
    assert d.promote and d.reasons == []
    assert d.challenger == "rt-win/2"
    assert registry.show("rt-win@champion", tracking_uri=store).version == "2"
    old = registry.Registry(tracking.resolve(store)).version("rt-win", "1")
    assert "previous" in old.aliases
    assert old.tags["dwcp_ml.replaced_by"] == "2"
    assert set(d.goldens) == {"scaling"}
    assert v.latency_ratio is not None and v.challenger_p50_us and v.champion_p50_us
    tags, metrics = _run_tags(store, "retrain rt-win@champion")
    assert tags["dwcp_ml.retrain.decision"] == "promote"
    assert tags["dwcp_ml.retrain.reasons"] == "all checks passed"
    assert metrics["promoted"] == 1.0
    assert metrics["scaling.champion.under_share_at_reactive_capacity"] == v.champion_loss
    assert metrics["scaling.challenger.under_share_at_reactive_capacity"] == v.challenger_loss
    saved = json.loads((tmp_path / "work" / "decision.json").read_text())
    assert saved["promote"] is True and saved["families"][0]["improvement"] == v.improvement


def test_refuses_when_the_margin_is_not_met(tmp_path: Path, store: str, champion_dir: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _champion(store, champion_dir, "rt-margin")
    code = cli.main(["retrain", "--champion", "rt-margin@champion", "--data", DATA,
                     "--window", "7d", "--holdout", "4d", "--margin", "1000", "--tiny",
                     "--out", str(tmp_path / "work"), "--latency-calls", "200",
                     "--latency-ratio", "5", "--tracking-uri", store])
    out = capsys.readouterr().out
    assert code == 0
    assert "decision: KEEP rt-margin@champion; rt-margin/2 stays challenger" in out
    assert "margin 1000 not met" in out
    reg = registry.Registry(tracking.resolve(store))
    assert reg.summary("rt-margin").aliases == {"champion": "1", "challenger": "2"}
    tags, metrics = _run_tags(store, "retrain rt-margin@champion")
    assert tags["dwcp_ml.retrain.decision"] == "keep champion"
    assert "margin 1000 not met" in tags["dwcp_ml.retrain.reasons"]
    assert metrics["promoted"] == 0.0


def test_no_go_is_a_refusal_not_a_pass(tmp_path: Path, store: str, champion_dir: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _champion(store, champion_dir, "rt-nogo")

    def no_go(*_: object, **__: object) -> tuple[float, float]:
        raise GoLatencyError("Go is not installed (no `go` on PATH)")

    monkeypatch.setattr("dwcp_ml.export.go_latency.go_latency_us", no_go)
    d = retrain.retrain(_spec(tmp_path, store, "rt-nogo"), log=lambda _: None)
    assert not d.promote
    assert d.reasons == ["scaling: Go latency unavailable, so not shown no worse: Go is not "
                         "installed (no `go` on PATH)"]


def test_latency_ratio_refuses(tmp_path: Path, store: str, champion_dir: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    _champion(store, champion_dir, "rt-slow")
    calls = iter([(2.0, 3.0), (5.0, 6.0)])  # champion, then challenger
    monkeypatch.setattr("dwcp_ml.export.go_latency.go_latency_us",
                        lambda *_a, **_k: next(calls))
    d = retrain.retrain(_spec(tmp_path, store, "rt-slow", latency_ratio=1.5),
                        log=lambda _: None)
    assert not d.promote
    assert d.reasons == ["scaling: Go p50 5.0 us is 2.50 x the champion's 2.0 us "
                         "(allowed 1.5 x)"]


def test_unknown_champion_is_one_line(tmp_path: Path, store: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["retrain", "--champion", "no-such@champion", "--data", DATA, "--tiny",
                     "--out", str(tmp_path / "w"), "--tracking-uri", store])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("dwcp-ml: error: no registered model 'no-such' in ")
    assert err.count("\n") == 1


@pytest.mark.parametrize("argv, message", [
    (["--champion", "x@best"], "alias 'best': use champion, challenger, previous"),
    (["--window", "30"], "duration '30': expected N d or N h"),
    (["--data", "nab"], "retraining needs dated VM data"),
])
def test_bad_input_is_one_line(tmp_path: Path, store: str, argv: list[str], message: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    args = {"--champion": "x@champion", "--data": DATA, "--window": "7d"}
    args.update(dict(zip(argv[::2], argv[1::2])))
    code = cli.main(["retrain", *[t for kv in args.items() for t in kv],
                     "--out", str(tmp_path / "w"), "--tracking-uri", store])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err


NAB = ("nab:series=realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv,"
       "realAWSCloudwatch/ec2_cpu_utilization_fe7f93.csv,realKnownCause/nyc_taxi.csv,"
       "realKnownCause/ec2_request_latency_system_failure.csv")
DEFAULT_BUNDLE = Path(__file__).resolve().parents[1] / "golden" / "bundle"


@pytest.fixture(scope="module")
def default_champion(store: str) -> str:
    """The committed default bundle (every family) as rt-default@champion."""
    _root()
    registry.register(DEFAULT_BUNDLE, "rt-default", alias="champion", tracking_uri=store)
    return "rt-default@champion"


def test_anomaly_threshold_recalibrated_per_series(tmp_path: Path, store: str,
                                                   default_champion: str) -> None:
    """Each NAB series is cut into its own window and hold-out; the challenger's threshold
    is the folds' rule on the windows; both bundles are judged on the hold-outs as they are;
    the other families' models are carried verbatim."""
    from dwcp_ml.evaluation import anomaly as ea

    spec = _spec(tmp_path, store, "rt-default", data="", anomaly_data=NAB, models=("anomaly",),
                 window_s=30 * 86400, holdout_s=7 * 86400, tiny=False)
    d = retrain.retrain(spec, log=lambda _: None)
    (v,) = d.families
    assert (v.family, v.loss_name) == ("anomaly", "event_loss")
    assert "left out: realKnownCause/nyc_taxi.csv (sampled every 1800 s)" in d.windows["anomaly"]
    champ = bundle.load(DEFAULT_BUNDLE)
    chall = bundle.load(tmp_path / "work" / "challenger")
    recent = retrain.series_windows(NAB, data.data_dir(), 30 * 86400, 7 * 86400, 300)
    assert [t.name for t in recent.traces] == [
        "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv",
        "realAWSCloudwatch/ec2_cpu_utilization_fe7f93.csv",
        "realKnownCause/ec2_request_latency_system_failure.csv"]
    expected = ea.recalibrate(families.FAMILIES["anomaly"].make_config(False), recent.traces,
                              recent.labels, recent.train).threshold
    assert chall.models["anomaly"].thresholds["score"] == expected
    assert expected != champ.models["anomaly"].thresholds["score"]
    for b, loss in ((champ, v.champion_loss), (chall, v.challenger_loss)):
        counts, _ = ea.bundle_counts(b.models["anomaly"], recent.traces, recent.labels,
                                     recent.holdout)
        assert ea.loss_of(counts) == loss
    for name in ("itp", "pba", "scaling"):
        assert chall.models[name].entry == champ.models[name].entry
    assert d.promote == bool(d.promoted_families) and d.promote == (not d.reasons)


NAB3 = ("nab:series=realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv,"
        "realAWSCloudwatch/ec2_cpu_utilization_fe7f93.csv,"
        "realKnownCause/ec2_request_latency_system_failure.csv")


def test_a_partial_win_promotes_a_composite(tmp_path: Path, store: str) -> None:
    """scaling's challenger wins (the default champion was trained on synthetic VMs), the
    anomaly challenger loses (its threshold recalibrated on 3 short windows flags nothing on
    the hold-outs): the full challenger stays challenger, and a composite of the challenger's
    scaling and the champion's every other model becomes champion."""
    _root()
    registry.register(DEFAULT_BUNDLE, "rt-part", alias="champion", tracking_uri=store)
    d = retrain.retrain(_spec(tmp_path, store, "rt-part", anomaly_data=NAB3,
                              models=("scaling", "anomaly")), log=lambda _: None)
    assert (d.promote, d.promoted_families) == (True, ["scaling"])
    assert (d.challenger, d.promoted) == ("rt-part/2", "rt-part/3")
    assert d.reasons and all(r.startswith("anomaly: ") for r in d.reasons)
    reg = registry.Registry(tracking.resolve(store))
    assert reg.summary("rt-part").aliases == {"champion": "3", "challenger": "2", "previous": "1"}
    composite = bundle.load(tmp_path / "work" / "composite")
    chall = bundle.load(tmp_path / "work" / "challenger")
    champ = bundle.load(DEFAULT_BUNDLE)
    assert composite.models["scaling"].entry == chall.models["scaling"].entry
    for name in ("anomaly", "itp", "itp_gb", "pba"):
        assert composite.models[name].entry == champ.models[name].entry
    assert composite.version == "retrain-test-scaling"
    tags, _ = _run_tags(store, "retrain rt-part@champion")
    assert tags["dwcp_ml.retrain.decision"] == "promote scaling"
    assert tags["dwcp_ml.retrain.champion"] == "rt-part/3"
    lines = retrain.summary(d)
    assert ("decision: PROMOTE rt-part/3 to champion: scaling from the challenger rt-part/2, "
            "anomaly kept from rt-part@champion (old champion: alias previous)") in lines


@pytest.mark.parametrize("argv, message", [
    (["--models", "itp"], "cannot retrain itp on recent data"),
    (["--models", "scaling"], "retraining scaling needs --data"),
    (["--models", "anomaly", "--anomaly-data", DATA],
     "the anomaly detector is judged on labelled NAB series"),
])
def test_bad_family_input_is_one_line(tmp_path: Path, store: str, default_champion: str,
                                      argv: list[str], message: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["retrain", "--champion", default_champion, *argv,
                     "--out", str(tmp_path / "w"), "--tracking-uri", store])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_windows_end_at_the_data() -> None:
    import numpy as np

    from dwcp_ml.training.data import Trace

    t = Trace("a", np.arange(0, 20 * 86400, 300, dtype=np.int64), np.zeros(5760))
    w = retrain.windows([t], 7 * 86400, 4 * 86400)
    assert (w.train_start, w.train_end, w.holdout_end) == (
        20 * 86400 - 300 + 1 - 11 * 86400, 20 * 86400 - 300 + 1 - 4 * 86400, 20 * 86400 - 299)
    with pytest.raises(retrain.RetrainError, match="too little before a 19-day hold-out"):
        retrain.windows([t], 7 * 86400, 19 * 86400)


def _go_build(tmp: Path, name: str) -> Path:
    import os
    import shutil
    import subprocess

    go = shutil.which("go")
    if go is None:
        pytest.fail("no go on PATH: the sidecar cannot be built")
    out = tmp / name
    repo = Path(__file__).resolve().parents[1]
    subprocess.run([go, "build", "-o", str(out), f"./cmd/{name}"], cwd=repo, check=True,
                   env=dict(os.environ, CGO_ENABLED="1"), timeout=600, capture_output=True)
    return out


def test_promotion_reloads_the_sidecar(tmp_path: Path, store: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A promoted bundle is copied under the sidecar's -bundle-root and the sidecar, asked
    by its own uid (an admin on its Unix socket), serves it."""
    import os
    import shutil
    import subprocess
    import time

    from dwcp_ml.export.go_latency import ort_library

    _root()
    bins = tmp_path / "bin"
    sidecar, client = _go_build(bins, "dwcp-sidecar"), _go_build(bins, "dwcp-client")
    monkeypatch.setenv("PATH", f"{bins}{os.pathsep}{os.environ['PATH']}")
    root = tmp_path / "root"
    shutil.copytree(Path(__file__).resolve().parents[1] / "golden" / "bundle",
                    root / "default")
    sock = tmp_path / "s.sock"
    _champion(store, root / "default", "rt-sidecar")
    proc = subprocess.Popen([str(sidecar), "-bundle", str(root / "default"), "-bundle-root",
                             str(root), "-unix", str(sock), "-metrics", ""],
                            env=dict(os.environ, ONNXRUNTIME_LIB=str(ort_library())),
                            stderr=subprocess.DEVNULL)
    try:
        addr = f"unix://{sock}"
        for _ in range(100):  # the socket appears before the bundle is verified
            if sock.exists():
                break
            time.sleep(0.1)
        spec = _spec(tmp_path, store, "rt-sidecar", margin=-1.0, sidecar_root=root,
                     sidecar_addr=addr)  # margin -1: promote whatever the scores
        d = retrain.retrain(spec, log=lambda _: None)
        assert d.promote
        assert d.sidecar == f"copied to {root / 'retrain-test'}; sidecar reloaded"
        served = subprocess.run([str(client), "-addr", addr, "versions"], capture_output=True,
                                text=True, timeout=60, check=True).stdout
        assert "bundle retrain-test from" in served
    finally:
        proc.terminate()
        proc.wait(timeout=30)
