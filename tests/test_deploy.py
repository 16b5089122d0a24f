"""deploy/: the Prometheus rules (promtool check + unit tests, each alert shown firing and
silent), the scrape configs, the metric names against the sidecar's contract, the generated
Grafana dashboard, the systemd unit (systemd-analyze verify), the Kubernetes manifest and
the Alertmanager routing. The live Prometheus test is tests/test_prometheus.py."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
RULE_TESTS = sorted((DEPLOY / "prometheus" / "tests").glob("*.test.yml"))
JOB = "dwcp-ml-sidecar"

# The sidecar's metric contract (metric families as exposed on /metrics).
EXISTING = frozenset({
    "dwcp_ml_request_duration_seconds", "dwcp_ml_requests_total", "dwcp_ml_bundle_info",
    "dwcp_ml_reloads_total", "dwcp_ml_panics_total", "dwcp_ml_connections",
    "dwcp_ml_connections_refused_total",
})
# Canary / shadow serving (sidecar/rollout, sidecar/server).
ROLLOUT = frozenset({
    "dwcp_ml_bundle_signed", "dwcp_ml_canary_weight", "dwcp_ml_rollout_step",
    "dwcp_ml_rollout_transitions_total", "dwcp_ml_shadow_requests_total",
    "dwcp_ml_shadow_duration_seconds", "dwcp_ml_shadow_disagreement", "dwcp_ml_ready",
})
# Online accuracy from reported actuals (sidecar/monitor).
ACCURACY = frozenset({
    "dwcp_ml_online_wape", "dwcp_ml_online_interval_coverage",
    "dwcp_ml_online_capacity_shortfall", "dwcp_ml_online_flag_precision",
    "dwcp_ml_online_flag_recall", "dwcp_ml_online_pairs",
})
# Live drift and the monitor's own counters (sidecar/monitor).
MONITOR = ACCURACY | frozenset({
    "dwcp_ml_drift_psi", "dwcp_ml_drift_ks", "dwcp_ml_drift_live_values",
    "dwcp_ml_drift_rows_total", "dwcp_ml_actuals_total", "dwcp_ml_monitor_served_total",
    "dwcp_ml_monitor_evicted_total", "dwcp_ml_monitor_pending",
})
# The online feature store (sidecar/store, sidecar/server/online.go).
STORE = frozenset({
    "dwcp_ml_store_entities", "dwcp_ml_store_samples", "dwcp_ml_store_buffer_bytes",
    "dwcp_ml_store_samples_total", "dwcp_ml_store_refused_entities_total",
    "dwcp_ml_store_evicted_entities_total", "dwcp_ml_store_host_states_total",
})
# Prometheus's own (up) and the Go client's runtime and process collectors.
RUNTIME = frozenset({"up", "go_goroutines", "process_resident_memory_bytes"})
CONTRACT = EXISTING | ROLLOUT | MONITOR | STORE | RUNTIME
HISTOGRAMS = frozenset({"dwcp_ml_request_duration_seconds", "dwcp_ml_shadow_duration_seconds",
                        "dwcp_ml_shadow_disagreement"})

_KEYWORDS = frozenset({"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                       "group_right", "offset", "bool"})


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:  # installed by `make toolchain`; a missing tool fails, never skips
        pytest.fail(f"no {name} on PATH: run `make toolchain` (Debian package "
                    f"{'systemd' if name == 'systemd-analyze' else 'prometheus'})")
    return path


def run(argv: list[str], cwd: Path = REPO, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rules() -> Iterator[dict[str, Any]]:
    for f in RULES:
        for group in load_yaml(f)["groups"]:
            yield from group["rules"]


def recorded() -> dict[str, str]:
    """Recording rule name -> its expression."""
    return {r["record"]: r["expr"] for r in rules() if "record" in r}


def alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in rules() if "alert" in r}


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects (metrics and recording rules)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    s = re.sub(r"\{[^}]*\}", "", s)
    s = re.sub(r"\[[^\]]*\]", "", s)
    s = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", s)
    names = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()", s))
    return {n for n in names if n not in _KEYWORDS}


def families(expr: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """The metric families an expression reads, through the recording rules it uses."""
    rec = recorded()
    out: set[str] = set()
    for name in metric_names(expr):
        if name in rec:
            if name not in seen:
                out |= families(rec[name], seen | {name})
            continue
        for suffix in ("_bucket", "_count", "_sum"):
            if name.endswith(suffix) and name[: -len(suffix)] in HISTOGRAMS:
                name = name[: -len(suffix)]
        out.add(name)
    return out


def load_dashboard() -> ModuleType:
    """deploy/grafana/dashboard.py (a script beside the JSON it writes, not a package)."""
    name = "dwcp_ml_deploy_dashboard"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DEPLOY / "grafana" / "dashboard.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up while it executes
    spec.loader.exec_module(mod)
    return mod


def go_build(out_dir: Path, name: str, cgo: bool) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.fail(f"no go on PATH: {name} cannot be built")
    out = out_dir / name
    proc = subprocess.run([go, "build", "-o", str(out), f"./cmd/{name}"], cwd=REPO,
                          env=dict(os.environ, CGO_ENABLED="1" if cgo else "0"),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"go build ./cmd/{name}: {proc.stderr.strip()}"
    return out


# ---- Prometheus rules ---------------------------------------------------------------------

def test_promtool_checks_the_rules() -> None:
    proc = run([tool("promtool"), "check", "rules", *map(str, RULES)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == len(RULES), proc.stdout


def test_promtool_unit_tests_pass() -> None:
    proc = run([tool("promtool"), "test", "rules", *[p.name for p in RULE_TESTS]],
               cwd=DEPLOY / "prometheus" / "tests")
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == len(RULE_TESTS), proc.stdout


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-kubernetes.yml"])
def test_promtool_checks_the_scrape_config(config: str) -> None:
    path = DEPLOY / "prometheus" / config
    proc = run([tool("promtool"), "check", "config", str(path)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    jobs = [s["job_name"] for s in load_yaml(path)["scrape_configs"]]
    assert jobs == [JOB]  # the rules and the dashboard read this job name


def _rule_test_cases() -> Iterator[dict[str, Any]]:
    for f in RULE_TESTS:
        doc = load_yaml(f)
        assert {Path(r).name for r in doc["rule_files"]} == {p.name for p in RULES}, f
        for group in doc["tests"]:
            yield from group.get("alert_rule_test", [])


def test_every_alert_is_shown_firing_and_silent() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for case in _rule_test_cases():
        (fires if case.get("exp_alerts") else silent).add(case["alertname"])
    names = set(alerts())
    assert names - fires == set(), "alerts never shown firing"
    assert names - silent == set(), "alerts never shown silent"
    assert (fires | silent) - names == set(), "tests of alerts that do not exist"


def test_every_alert_has_a_severity_and_text() -> None:
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in {"page", "ticket", "info"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_every_recording_rule_is_read() -> None:
    """By an alert, a dashboard panel or a promtool expression test."""
    dash = load_dashboard()
    readers = [r["expr"] for r in alerts().values()]
    readers += [x.expr for p in dash.panels() for x in p.queries]
    for f in RULE_TESTS:
        for group in load_yaml(f)["tests"]:
            readers += [c["expr"] for c in group.get("promql_expr_test", [])]
    used = set().union(*(metric_names(e) for e in readers))
    assert set(recorded()) - used == set()


def test_rules_and_panels_read_only_the_metric_contract() -> None:
    dash = load_dashboard()
    exprs = [r["expr"] for r in rules()] + [x.expr for p in dash.panels() for x in p.queries]
    read = set().union(*(families(e) for e in exprs))
    assert read - CONTRACT == set(), "names outside the sidecar's metric contract"
    # Every metric of the contract is on the dashboard.
    shown = set().union(*(families(x.expr) for p in dash.panels() for x in p.queries))
    assert CONTRACT - shown == set(), "contract metrics without a panel"


# ---- Grafana ------------------------------------------------------------------------------

def test_dashboard_json_is_the_generated_one(tmp_path: Path) -> None:
    dash = load_dashboard()
    out = tmp_path / "dwcp-ml.json"
    assert dash.main(["--out", str(out)]) == 0
    committed = DEPLOY / "grafana" / "dwcp-ml.json"
    assert out.read_text() == committed.read_text(), (
        "deploy/grafana/dwcp-ml.json is stale: run .venv/bin/python deploy/grafana/dashboard.py")


def test_dashboard_panels_are_complete() -> None:
    import json

    doc = json.loads((DEPLOY / "grafana" / "dwcp-ml.json").read_text())
    panels = [p for p in doc["panels"] if p["type"] != "row"]
    assert len(panels) == sum(1 for _ in load_dashboard().panels())
    titles = [p["title"] for p in panels]
    assert len(set(titles)) == len(titles), "duplicate panel titles"
    ids = [p["id"] for p in doc["panels"]]
    assert len(set(ids)) == len(ids)
    for p in panels:
        assert p["targets"] and p["description"], p["title"]
        for t in p["targets"]:
            assert t["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert t["expr"].strip() and t["refId"], p["title"]
    assert [v["name"] for v in doc["templating"]["list"]] == ["datasource", "instance"]


# ---- systemd, Kubernetes, Alertmanager ----------------------------------------------------

@pytest.fixture(scope="module")
def sidecar_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return go_build(tmp_path_factory.mktemp("bin"), "dwcp-sidecar", cgo=True)


@pytest.fixture(scope="module")
def client_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return go_build(tmp_path_factory.mktemp("bin"), "dwcp-client", cgo=False)


def flags_of(binary: Path) -> set[str]:
    """The flags a command's -h lists."""
    proc = run([str(binary), "-h"], timeout=60)
    flags = set(re.findall(r"^\s+-([a-z0-9-]+)", proc.stderr, re.M))
    assert flags, f"{binary.name} -h lists no flags: {proc.stderr}"
    return flags


def _flags_used(args: list[str]) -> set[str]:
    return {a.lstrip("-").split("=")[0] for a in args if a.startswith("-")}


def test_systemd_unit_verifies(tmp_path: Path, sidecar_bin: Path) -> None:
    """systemd-analyze verify, with ExecStart pointing at a freshly built sidecar (the unit
    names the installed path), and every flag it passes is one the sidecar has."""
    unit = (DEPLOY / "systemd" / "dwcp-sidecar.service").read_text()
    assert "ExecStart=/opt/dwcp-ml/bin/dwcp-sidecar " in unit
    local = tmp_path / "dwcp-sidecar.service"
    local.write_text(unit.replace("/opt/dwcp-ml/bin/dwcp-sidecar", str(sidecar_bin)))
    proc = run([tool("systemd-analyze"), "verify", str(local)], cwd=tmp_path, timeout=120)
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr
    exec_start = re.search(r"^ExecStart=(.*?)(?<!\\)$", unit.replace("\\\n", " "), re.M)
    assert exec_start is not None
    used = _flags_used(exec_start.group(1).split()[1:])
    assert used - flags_of(sidecar_bin) == set(), "flags the sidecar does not have"
    assert {"trusted-keys", "bundle-root", "metrics", "unix"} <= used


def test_kubernetes_manifest(sidecar_bin: Path, client_bin: Path) -> None:
    docs = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "daemonset.yaml").read_text()))
    by_kind = {d["kind"]: d for d in docs}
    assert set(by_kind) == {"Namespace", "ServiceAccount", "ConfigMap", "Service", "DaemonSet"}
    ns = by_kind["Namespace"]["metadata"]["name"]
    assert all(d["metadata"].get("namespace", ns) == ns for d in docs)
    ds = by_kind["DaemonSet"]
    pod = ds["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert ds["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (c,) = pod["spec"]["containers"]
    used = _flags_used(c["args"])
    assert used - flags_of(sidecar_bin) == set(), "flags the sidecar does not have"
    probe = c["readinessProbe"]["exec"]["command"]
    assert probe[0] == "/opt/dwcp-ml/bin/dwcp-client" and probe[-1] == "versions"
    assert _flags_used(probe[1:]) - flags_of(client_bin) == set(), "flags dwcp-client lacks"
    assert {"-metrics=$(POD_IP):9464", "-trusted-keys=/etc/dwcp-ml/trusted.pub"} <= set(c["args"])
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    mounts = {m["name"] for m in c["volumeMounts"]}
    assert mounts <= {v["name"] for v in pod["spec"]["volumes"]}
    # Prometheus finds the pods through the headless Service the DNS scrape config names.
    svc = by_kind["Service"]
    assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["publishNotReadyAddresses"]
    assert svc["spec"]["selector"].items() <= labels.items()
    (port,) = svc["spec"]["ports"]
    assert port["targetPort"] in {p["name"] for p in c["ports"]}
    scrape = load_yaml(DEPLOY / "prometheus" / "prometheus-kubernetes.yml")["scrape_configs"][0]
    (dns,) = scrape["dns_sd_configs"]
    assert dns["names"] == [f"{svc['metadata']['name']}.{ns}.svc.cluster.local"]
    assert dns["port"] == port["port"] == 9464


def test_alertmanager_routes_every_severity() -> None:
    am = load_yaml(DEPLOY / "alertmanager" / "alertmanager.yml")
    receivers = {r["name"] for r in am["receivers"]}
    route = am["route"]
    assert route["receiver"] in receivers
    routed = {}
    for r in route["routes"]:
        assert r["receiver"] in receivers
        (m,) = r["matchers"]
        key, value = re.fullmatch(r'(\w+)="([^"]*)"', m).groups()  # type: ignore[union-attr]
        assert key == "severity"
        routed[value] = r["receiver"]
    severities = {a["labels"]["severity"] for a in alerts().values()}
    assert severities <= set(routed), "a severity without a route"
    names = set(alerts())
    for rule in am["inhibit_rules"]:
        for m in rule["source_matchers"] + rule["target_matchers"]:
            key, op, value = re.fullmatch(r'(\w+)(=~|=)"([^"]*)"', m).groups()  # type: ignore
            if key == "alertname":
                hit = ({n for n in names if re.fullmatch(value, n)} if op == "=~"
                       else {value} & names)
                assert hit, f"inhibit rule names no alert: {m}"
