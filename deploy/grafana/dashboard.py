"""The dwcp-ml Grafana dashboard as code (grafanalib): SLOs, serving, bundles and rollout,
shadow, online accuracy, drift and the online feature store of the sidecars scraped as job "dwcp-ml-sidecar".

    python deploy/grafana/dashboard.py              # writes deploy/grafana/dwcp-ml.json
    python deploy/grafana/dashboard.py --out FILE

Import the JSON into Grafana (Dashboards > Import) and pick the Prometheus data source.
Every panel's PromQL is run against a real Prometheus scraping a real sidecar by
tests/test_prometheus.py; tests/test_deploy.py requires the committed JSON to equal a fresh
generation. Grafana's own variables in the queries ($__rate_interval, $instance) are the
only placeholders.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

JOB = "dwcp-ml-sidecar"
OUT = Path(__file__).resolve().parent / "dwcp-ml.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# The label matchers of every query on a raw sidecar metric (recording rules carry job only).
SEL = f'job="{JOB}",instance=~"$instance"'
RJOB = f'job="{JOB}"'
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    """One panel: its title, what it shows, its queries, unit and optional threshold steps
    (value, color) drawn as lines."""

    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    thresholds: tuple[tuple[float, str], ...] = ()


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)


def q(expr: str, legend: str) -> Query:
    return Query(" ".join(expr.split()), legend)


ROWS: tuple[Row, ...] = (
    Row("SLOs (fleet, per model)", (
        Panel("Latency SLO: calls over 10 ms",
              "Share of Engine calls slower than 10 ms over 5 minutes (SLO: at most 1 %).",
              (q(f"dwcp_ml:request_latency_slo_miss:ratio_rate5m{{{RJOB}}}", "{{model}}"),),
              "percentunit", thresholds=((0.01, "red"),)),
        Panel("Latency budget burn rate (1h)",
              "1 = the budget lasts exactly the SLO period; the page fires above 14.4 (with "
              "the 5m window) or 6 (6h with 30m).",
              (q(f"dwcp_ml:request_latency_slo_miss:ratio_rate1h{{{RJOB}}} / 0.01",
                 "{{model}}"),),
              "short", thresholds=((6.0, "orange"), (14.4, "red"))),
        Panel("Availability SLO: server-side errors",
              "Share of Engine calls answered Unknown, Internal, Unavailable, "
              "DeadlineExceeded or DataLoss over 5 minutes (SLO: at most 0.1 %).",
              (q(f"dwcp_ml:request_errors:ratio_rate5m{{{RJOB}}}", "{{model}}"),),
              "percentunit", thresholds=((0.001, "red"),)),
        Panel("Availability budget burn rate (1h)",
              "As the latency burn rate, for the 99.9 % availability SLO.",
              (q(f"dwcp_ml:request_errors:ratio_rate1h{{{RJOB}}} / 0.001", "{{model}}"),),
              "short", thresholds=((6.0, "orange"), (14.4, "red"))),
    )),
    Row("Serving", (
        Panel("Calls per second by model, slot and bundle version",
              "Engine calls answered, per model and per slot (champion, canary, shadow) and "
              "bundle version serving them.",
              (q(f"""sum by (model, slot, bundle_version) (
                     rate(dwcp_ml_requests_total{{{SEL}}}[{RATE}]))""",
                 "{{model}} {{slot}} {{bundle_version}}"),),
              "reqps"),
        Panel("Calls per second by gRPC code",
              "OK and every error code; InvalidArgument and NotFound are the caller's.",
              (q(f"sum by (code) (rate(dwcp_ml_requests_total{{{SEL}}}[{RATE}]))", "{{code}}"),),
              "reqps"),
        Panel("Latency p50 and p99 by model and slot",
              "From the sidecar's histogram (request decoded to answer ready), 5 buckets a "
              "decade from 10 us.",
              (q(f"""histogram_quantile(0.5, sum by (le, model, slot) (
                     rate(dwcp_ml_request_duration_seconds_bucket{{{SEL}}}[{RATE}])))""",
                 "p50 {{model}} {{slot}}"),
               q(f"""histogram_quantile(0.99, sum by (le, model, slot) (
                     rate(dwcp_ml_request_duration_seconds_bucket{{{SEL}}}[{RATE}])))""",
                 "p99 {{model}} {{slot}}")),
              "s", thresholds=((0.01, "red"),)),
        Panel("Sidecars up", "Sidecars answering the metrics scrape.",
              (q(f'sum(up{{job="{JOB}"}})', "up"),), "short", kind="stat"),
        Panel("Sidecars ready", "Sidecars serving a verified bundle (gRPC health SERVING).",
              (q(f"sum(dwcp_ml_ready{{{SEL}}})", "ready"),), "short", kind="stat"),
        Panel("Connections open and refused",
              "Open connections per node and refusals per second at -max-conns.",
              (q(f"sum by (instance) (dwcp_ml_connections{{{SEL}}})", "open {{instance}}"),
               q(f"""sum by (instance) (
                     rate(dwcp_ml_connections_refused_total{{{SEL}}}[{RATE}]))""",
                 "refused/s {{instance}}")),
              "short"),
        Panel("Reloads and panics in the last hour",
              "Bundle reloads by result; handler panics (0 on a node that has had none).",
              (q(f"sum by (instance, result) (increase(dwcp_ml_reloads_total{{{SEL}}}[1h]))",
                 "reload {{result}} {{instance}}"),
               q(f"""sum by (instance) (increase(dwcp_ml_panics_total{{{SEL}}}[1h]))
                     or sum by (instance) (dwcp_ml_bundle_info{{{SEL}}}) * 0""",
                 "panics {{instance}}")),
              "short"),
        Panel("Process memory and goroutines",
              "Resident memory and goroutines of each sidecar process.",
              (q(f"process_resident_memory_bytes{{{SEL}}}", "rss {{instance}}"),
               q(f"go_goroutines{{{SEL}}}", "goroutines {{instance}}")),
              "short"),
    )),
    Row("Bundles and rollout", (
        Panel("Bundle serving per node and slot",
              "The bundle version each node serves in each slot.",
              (q(f"max by (instance, slot, bundle_version) (dwcp_ml_bundle_info{{{SEL}}})",
                 "{{instance}} {{slot}}: {{bundle_version}}"),),
              "short", kind="stat"),
        Panel("Bundle signed",
              "1: signed by a trusted key and verified; 0: unsigned (sidecar started without "
              "-trusted-keys).",
              (q(f"min by (instance, slot, bundle_version) (dwcp_ml_bundle_signed{{{SEL}}})",
                 "{{instance}} {{slot}} {{bundle_version}}"),),
              "short", kind="stat", thresholds=((1.0, "green"),)),
        Panel("Canary weight", "Share of entities routed to the canary (0..1), per node.",
              (q(f"max by (instance) (dwcp_ml_canary_weight{{{SEL}}})", "{{instance}}"),),
              "percentunit"),
        Panel("Rollout step", "The canary's step in percent (10, 50, 100; 0 = no canary).",
              (q(f"max by (instance) (dwcp_ml_rollout_step{{{SEL}}})", "{{instance}}"),),
              "percent"),
        Panel("Rollout transitions in the last hour",
              "start, promote, rollback, complete, withdraw.",
              (q(f"""sum by (action) (
                     increase(dwcp_ml_rollout_transitions_total{{{SEL}}}[1h]))""",
                 "{{action}}"),),
              "short"),
        Panel("Share of calls by slot",
              "Observed share of each model's calls per slot (sticky per entity: close to the "
              "canary weight over many entities).",
              (q(f"dwcp_ml:requests_slot_share:ratio_rate5m{{{RJOB}}}", "{{model}} {{slot}}"),),
              "percentunit"),
        Panel("Server-side error ratio by slot",
              "Canary next to champion, per bundle version (5m).",
              (q(f"dwcp_ml:request_errors_by_slot:ratio_rate5m{{{RJOB}}}",
                 "{{model}} {{slot}} {{bundle_version}}"),),
              "percentunit"),
        Panel("p99 latency by slot",
              "Canary next to champion, per bundle version (5m).",
              (q(f"dwcp_ml:request_duration_seconds:p99_5m{{{RJOB}}}",
                 "{{model}} {{slot}} {{bundle_version}}"),),
              "s"),
    )),
    Row("Shadow", (
        Panel("Shadow calls by result",
              "ok, error, dropped (queue full: never blocks the caller).",
              (q(f"""sum by (result) (
                     rate(dwcp_ml_shadow_requests_total{{{SEL}}}[{RATE}]))""", "{{result}}"),),
              "reqps"),
        Panel("Shadow call duration p50 and p99",
              "Time the shadow candidate took, off the request path.",
              (q(f"""histogram_quantile(0.5, sum by (le) (
                     rate(dwcp_ml_shadow_duration_seconds_bucket{{{SEL}}}[{RATE}])))""", "p50"),
               q(f"""histogram_quantile(0.99, sum by (le) (
                     rate(dwcp_ml_shadow_duration_seconds_bucket{{{SEL}}}[{RATE}])))""",
                 "p99")),
              "s"),
        Panel("Shadow disagreement |shadow - champion|",
              "Of each model's main output, p50 and p99.",
              (q(f"""histogram_quantile(0.5, sum by (le, model) (
                     rate(dwcp_ml_shadow_disagreement_bucket{{{SEL}}}[{RATE}])))""",
                 "p50 {{model}}"),
               q(f"""histogram_quantile(0.99, sum by (le, model) (
                     rate(dwcp_ml_shadow_disagreement_bucket{{{SEL}}}[{RATE}])))""",
                 "p99 {{model}}")),
              "short"),
    )),
    Row("Online accuracy (from reported actuals)", (
        Panel("Forecast WAPE",
              "Weighted absolute percentage error of served forecasts against actuals "
              "(rolling window); offline 0.91 for the shipped PBA model.",
              (q(f"dwcp_ml_online_wape{{{SEL}}}",
                 "{{instance}} {{model}} {{slot}} {{bundle_version}}"),),
              "short", thresholds=((1.2, "red"),)),
        Panel("Forecast interval coverage",
              "Share of actuals inside the served 0.1..0.9 quantile interval (nominal 0.8).",
              (q(f"dwcp_ml_online_interval_coverage{{{SEL}}}",
                 "{{instance}} {{model}} {{slot}} {{bundle_version}}"),),
              "percentunit", thresholds=((0.65, "red"),)),
        Panel("Capacity shortfall",
              "Share of demand above the recommended capacity.",
              (q(f"dwcp_ml_online_capacity_shortfall{{{SEL}}}",
                 "{{instance}} {{model}} {{slot}} {{bundle_version}}"),),
              "percentunit", thresholds=((0.05, "red"),)),
        Panel("Anomaly flag precision and recall",
              "Precision: of served flags with a reported label, the share labelled "
              "anomalous. Recall: of pairs labelled anomalous, the share flagged.",
              (q(f"dwcp_ml_online_flag_precision{{{SEL}}}",
                 "precision {{instance}} {{model}} {{slot}} {{bundle_version}}"),
               q(f"dwcp_ml_online_flag_recall{{{SEL}}}",
                 "recall {{instance}} {{model}} {{slot}} {{bundle_version}}")),
              "percentunit", thresholds=((0.2, "red"),)),
        Panel("Joined pairs in the window",
              "Served predictions joined with an actual: what the accuracy panels rest on.",
              (q(f"dwcp_ml_online_pairs{{{SEL}}}",
                 "{{instance}} {{model}} {{slot}} {{bundle_version}}"),),
              "short"),
        Panel("Actuals per second by kind and result",
              "ReportActual calls: joined, unmatched (no served prediction), invalid.",
              (q(f"sum by (kind, result) (rate(dwcp_ml_actuals_total{{{SEL}}}[{RATE}]))",
                 "{{kind}} {{result}}"),),
              "reqps"),
        Panel("Served predictions recorded and evicted",
              "Predictions recorded for joining per second by kind and result, evictions "
              "per second by reason (capacity: MaxPending full; ttl: no actual in time; "
              "window: pushed out of the accuracy window), and how many wait now.",
              (q(f"""sum by (kind, result) (
                     rate(dwcp_ml_monitor_served_total{{{SEL}}}[{RATE}]))""",
                 "served {{kind}} {{result}}"),
               q(f"""sum by (reason) (
                     rate(dwcp_ml_monitor_evicted_total{{{SEL}}}[{RATE}]))""",
                 "evicted {{reason}}"),
               q(f"sum by (instance) (dwcp_ml_monitor_pending{{{SEL}}})",
                 "waiting {{instance}}")),
              "short"),
    )),
    Row("Drift (live inputs against the bundle's references)", (
        Panel("PSI: the 10 most drifted features",
              "Population stability index per feature; 0.1 moderate, 0.25 major shift.",
              (q(f"""topk(10, max by (model, slot, bundle_version, feature) (
                     dwcp_ml_drift_psi{{{SEL}}}))""",
                 "{{model}} {{slot}} {{feature}}"),),
              "short", thresholds=((0.1, "orange"), (0.25, "red"))),
        Panel("Binned KS: the 10 largest",
              "Largest gap between the reference's and the live cumulative proportions.",
              (q(f"""topk(10, max by (model, slot, bundle_version, feature) (
                     dwcp_ml_drift_ks{{{SEL}}}))""",
                 "{{model}} {{slot}} {{feature}}"),),
              "short"),
        Panel("Live values in the drift windows",
              "Fewest values behind any feature's PSI per model and slot: below a few hundred "
              "PSI over-reads, and the drift alerts wait for 300.",
              (q(f"""min by (model, slot, bundle_version) (
                     dwcp_ml_drift_live_values{{{SEL}}})""",
                 "{{model}} {{slot}} {{bundle_version}}"),),
              "short", thresholds=((300.0, "green"),)),
        Panel("Rows given to the drift windows",
              "Per second by result: accepted, non_finite, wrong_length, no_reference (a "
              "served model without a drift reference: drift is blind for it).",
              (q(f"sum by (result) (rate(dwcp_ml_drift_rows_total{{{SEL}}}[{RATE}]))",
                 "{{result}}"),),
              "short"),
    )),
    Row("Online feature store (samples observed per entity)", (
        Panel("Entities and samples held",
              "Entity buffers ((kind, id, schema)) and raw samples the store holds; bounded "
              "by -store-max-entities and -store-max-samples, idle entities leave after "
              "-store-ttl.",
              (q(f"sum by (instance) (dwcp_ml_store_entities{{{SEL}}})",
                 "entities {{instance}}"),
               q(f"sum by (instance) (dwcp_ml_store_samples{{{SEL}}})",
                 "samples {{instance}}")),
              "short"),
        Panel("Buffer memory",
              "Memory of the sample buffers (about 2 KB per VM entity).",
              (q(f"sum by (instance) (dwcp_ml_store_buffer_bytes{{{SEL}}})", "{{instance}}"),),
              "bytes"),
        Panel("Samples observed by result",
              "Per second: accepted, late (older than any window reads), invalid, "
              "entity_full (beyond the per-entity bound).",
              (q(f"sum by (result) (rate(dwcp_ml_store_samples_total{{{SEL}}}[{RATE}]))",
                 "{{result}}"),),
              "short"),
        Panel("Entities refused, evicted; host states replaced",
              "Per second: new entities refused because the store is full "
              "(ResourceExhausted), idle ones evicted after the TTL, host placement states "
              "replaced by Observe.",
              (q(f"sum(rate(dwcp_ml_store_refused_entities_total{{{SEL}}}[{RATE}]))",
                 "refused"),
               q(f"sum(rate(dwcp_ml_store_evicted_entities_total{{{SEL}}}[{RATE}]))",
                 "evicted"),
               q(f"sum(rate(dwcp_ml_store_host_states_total{{{SEL}}}[{RATE}]))",
                 "host states")),
              "short"),
    )),
)


def panels() -> Iterator[Panel]:
    """Every panel of the dashboard, in order."""
    for row in ROWS:
        yield from row.panels


def _steps(p: Panel) -> list[dict[str, object]]:
    base = "green" if not p.thresholds or p.thresholds[0][1] != "green" else "red"
    return [{"color": base, "value": None}] + [{"color": c, "value": v} for v, c in p.thresholds]


def _panel(p: Panel, pos: g.GridPos) -> g.Panel:
    targets = [g.Target(expr=x.expr, legendFormat=x.legend, refId=chr(ord("A") + i),
                        datasource=DATASOURCE) for i, x in enumerate(p.queries)]
    common = dict(title=p.title, description=p.description, dataSource=DATASOURCE,
                  targets=targets, gridPos=pos, thresholds=_steps(p))
    if p.kind == "stat":
        return g.Stat(format=p.unit, reduceCalc="lastNotNull", graphMode="none",
                      textMode="value_and_name", **common)
    return g.TimeSeries(unit=p.unit, legendDisplayMode="table", legendPlacement="bottom",
                        thresholdsStyleMode="line" if p.thresholds else "off", **common)


def dashboard() -> g.Dashboard:
    out: list[g.Panel] = []
    y = 0
    for row in ROWS:
        out.append(g.RowPanel(title=row.title, gridPos=g.GridPos(h=1, w=24, x=0, y=y)))
        y += 1
        for i, p in enumerate(row.panels):
            out.append(_panel(p, g.GridPos(h=8, w=12, x=(i % 2) * 12, y=y + (i // 2) * 8)))
        y += ((len(row.panels) + 1) // 2) * 8
    templating = g.Templating(list=[
        g.Template(name="datasource", label="Prometheus", query="prometheus",
                   type="datasource"),
        g.Template(name="instance", label="Node", dataSource=DATASOURCE,
                   query=f'label_values(up{{job="{JOB}"}}, instance)', includeAll=True,
                   multi=True, allValue=".*", default="$__all"),
    ])
    return g.Dashboard(
        title="dwcp-ml sidecars", uid="dwcp-ml", tags=["dwcp-ml"], timezone="utc",
        description="SLOs, serving, bundles and rollout, shadow, online accuracy and drift "
                    "of the dwcp-ml sidecars (generated by deploy/grafana/dashboard.py).",
        refresh="30s", time=g.Time("now-6h", "now"), templating=templating, panels=out,
        schemaVersion=39,  # Grafana 10's: no migration of the panels on import
        graphTooltip=g.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
    ).auto_panel_ids()


def render() -> str:
    """The dashboard JSON, as committed (sorted keys, 2-space indent, final newline)."""
    return json.dumps(dashboard().to_json_data(), sort_keys=True, indent=2,
                      cls=DashboardEncoder) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT, help="where to write the JSON")
    args = ap.parse_args(argv)
    args.out.write_text(render())
    print(f"wrote {args.out} ({sum(1 for _ in panels())} panels)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
