"""The Grafana dashboard (deploy/grafana/dashboards/sanicms.json), checked offline as the
dashboard model Grafana loads: layout, panels, queries, data source references, template
variables, and every metric and label its PromQL names against the agreed vocabulary. That
each expression also runs on a real Prometheus, with data, is tests/test_prometheus.py."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "sanicms.json"

#: The metric vocabulary the library exposes (its names and labels are fixed; the README lists
#: them): metric -> its own labels. Prometheus adds `service` and `instance` to every series.
HISTOGRAMS = {
    "sanicms_http_request_duration_seconds": {"method", "route"},
    "sanicms_downstream_call_duration_seconds": {"neighbour"},
    "sanicms_db_statement_duration_seconds": {"kind"},
}
VOCABULARY: dict[str, set[str]] = {
    "sanicms_http_requests_total": {"method", "route", "status"},
    "sanicms_http_requests_in_flight": set(),
    "sanicms_downstream_calls_total": {"neighbour", "method", "outcome"},
    "sanicms_downstream_retries_total": {"neighbour"},
    "sanicms_circuit_breaker_state": {"neighbour", "state"},
    "sanicms_circuit_breaker_transitions_total": {"neighbour", "to"},
    "sanicms_db_pool_size": set(),
    "sanicms_db_pool_connections_in_use": set(),
    "sanicms_db_pool_connections_idle": set(),
    "sanicms_db_pool_waiters": set(),
    "sanicms_db_errors_total": {"sqlstate_class"},
    "sanicms_tracing_spans_reported_total": set(),
    "sanicms_tracing_spans_sent_total": set(),
    "sanicms_tracing_spans_dropped_total": set(),
    "sanicms_tracing_send_failures_total": set(),
    "sanicms_tracing_queue_length": set(),
    "process_cpu_seconds_total": {"pid"},
    "process_resident_memory_bytes": {"pid"},
    "process_open_fds": {"pid"},
    **{name + "_bucket": labels | {"le"} for name, labels in HISTOGRAMS.items()},
    **{name + suffix: labels for name, labels in HISTOGRAMS.items() for suffix in ("_sum", "_count")},
}
TARGET_LABELS = {"service", "instance", "job"}

#: What Grafana itself substitutes in a query (not dashboard variables).
GRAFANA_VARIABLES = {"__rate_interval", "__interval", "__range", "__interval_ms", "__range_s"}

#: PromQL words that are not metric names.
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group",
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool",
    "rate", "irate", "increase", "delta", "idelta", "deriv", "histogram_quantile", "label_replace", "label_join",
    "clamp_min", "clamp_max", "abs", "ceil", "floor", "round", "vector", "scalar", "time", "absent",
    "sum_over_time", "avg_over_time", "max_over_time", "min_over_time", "changes", "resets", "sort", "sort_desc",
}

PANEL_TYPES = {"timeseries", "stat", "gauge", "table", "bargauge", "state-timeline", "heatmap", "text"}


def provisioned_datasources() -> dict[str, dict]:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    return {source["uid"]: source for source in doc["datasources"]}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


# ---- the PromQL of a target, as far as names go ----------------------------------------------

def variables_in(text: str) -> set[str]:
    """Grafana variables a query refers to: $name, ${name} and ${name:format}."""
    return {a or b for a, b in re.findall(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", text)}


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(metric, label names matched) of each series selector in ``expr``."""
    found = []
    for metric, matchers in re.findall(r"([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?", re.sub(r'"[^"]*"', '""', expr)):
        if metric in PROMQL_WORDS or metric.startswith("__"):
            continue
        found.append((metric, set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))))
    return found


def strip_non_selectors(expr: str) -> str:
    """``expr`` without what is not a series selector: durations, groupings, numbers, strings."""
    expr = re.sub(r'"[^"]*"', '""', expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    return re.sub(r"\b\d+(\.\d+)?\b", " ", expr)


def grouping_labels(expr: str) -> set[str]:
    return {label.strip() for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr)
            for label in group.split(",") if label.strip()}


def query_problems(expr: str, defined: set[str]) -> list[str]:
    problems = [f"undefined variable ${name} in {expr}" for name in variables_in(expr) - defined - GRAFANA_VARIABLES]
    used = selectors(strip_non_selectors(expr))
    if not used:
        problems.append(f"no metric in {expr}")
    labels_available: set[str] = set(TARGET_LABELS)
    for metric, matched in used:
        if metric not in VOCABULARY:
            problems.append(f"{metric} is not in the agreed vocabulary")
            continue
        labels_available |= VOCABULARY[metric]
        unknown = matched - VOCABULARY[metric] - TARGET_LABELS
        problems += [f"{metric} has no label {label}" for label in sorted(unknown)]
    problems += [f"grouping by {label}, which no metric in {expr} has"
                 for label in sorted(grouping_labels(expr) - labels_available)]
    return problems


# ---- the dashboard model --------------------------------------------------------------------

def overlaps(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def panel_problems(panel: dict, datasource_uid: str, defined: set[str]) -> list[str]:
    name = f"panel {panel.get('id')} ({panel.get('title')})"
    problems = []
    grid = panel.get("gridPos", {})
    if not all(isinstance(grid.get(k), int) for k in "hwxy") or grid["w"] < 1 or grid["h"] < 1 \
            or grid["x"] < 0 or grid["x"] + grid["w"] > 24:
        problems.append(f"{name}: gridPos {grid} is not inside the 24-column grid")
    if panel.get("type") == "row":
        if panel.get("targets") or panel.get("panels"):
            problems.append(f"{name}: an open row holds no queries or panels of its own")
        return problems
    if panel.get("type") not in PANEL_TYPES or not panel.get("title"):
        problems.append(f"{name}: type {panel.get('type')!r} / title")
    if panel.get("datasource") != {"type": "prometheus", "uid": datasource_uid}:
        problems.append(f"{name}: data source {panel.get('datasource')} is not the provisioned one")
    targets = panel.get("targets") or []
    if not targets:
        problems.append(f"{name}: no queries")
    refs = [t.get("refId") for t in targets]
    if len(set(refs)) != len(refs) or not all(isinstance(r, str) and r for r in refs):
        problems.append(f"{name}: refIds {refs} not unique")
    for target in targets:
        if target.get("datasource", panel.get("datasource")) != panel.get("datasource"):
            problems.append(f"{name}: query {target.get('refId')} uses another data source")
        expr = target.get("expr")
        if not isinstance(expr, str) or not expr.strip():
            problems.append(f"{name}: query {target.get('refId')} has no expr")
            continue
        problems += [f"{name}: {p}" for p in query_problems(expr, defined)]
        if set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", ""))) - grouping_labels(expr):
            problems.append(f"{name}: legend {target['legendFormat']!r} names a label the query sums away")
    return problems


def dashboard_problems(dashboard: dict, datasource_uid: str) -> list[str]:
    problems = []
    for key, kind in (("uid", str), ("title", str), ("schemaVersion", int), ("panels", list),
                      ("templating", dict), ("time", dict), ("editable", bool)):
        if not isinstance(dashboard.get(key), kind):
            problems.append(f"dashboard.{key} is not a {kind.__name__}")
    if problems:
        return problems
    if dashboard["schemaVersion"] < 36:  # the first with datasource refs as {type, uid} objects
        problems.append(f"schemaVersion {dashboard['schemaVersion']} is older than the refs used")
    variables = dashboard["templating"].get("list", [])
    defined = {v["name"] for v in variables}
    for variable in variables:
        if variable.get("type") == "query":
            if variable.get("datasource") != {"type": "prometheus", "uid": datasource_uid}:
                problems.append(f"variable {variable['name']}: not the provisioned data source")
            query = variable["query"]["query"] if isinstance(variable.get("query"), dict) else variable.get("query")
            match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query or "")
            if not match or match.group(1) not in VOCABULARY or match.group(2) not in VOCABULARY[match.group(1)] | \
                    TARGET_LABELS:
                problems.append(f"variable {variable['name']}: {query!r} is not label_values(<metric>, <label>)")
    panels = dashboard["panels"]
    ids = [p.get("id") for p in panels]
    if len(set(ids)) != len(ids) or not all(isinstance(i, int) for i in ids):
        problems.append(f"panel ids {ids} are not unique integers")
    for panel in panels:
        problems += panel_problems(panel, datasource_uid, defined)
    grids = [(p.get("id"), p.get("gridPos")) for p in panels if isinstance(p.get("gridPos"), dict)]
    for i, (a_id, a) in enumerate(grids):
        for b_id, b in grids[i + 1:]:
            if all(k in a and k in b for k in "hwxy") and overlaps(a, b):
                problems.append(f"panels {a_id} and {b_id} overlap")
    return problems


def test_the_dashboard_is_a_consistent_dashboard_model(dashboard):
    assert dashboard_problems(dashboard, "prometheus") == []


def test_it_refers_to_the_datasource_grafana_is_provisioned_with():
    sources = provisioned_datasources()
    assert sources["prometheus"]["type"] == "prometheus"
    assert dashboard_problems(json.loads(DASHBOARD.read_text()), sources["prometheus"]["uid"]) == []
    assert sum(1 for s in sources.values() if s.get("isDefault")) == 1


def expressions(dashboard: dict) -> dict[str, str]:
    """panel title / refId -> PromQL, for every query of the dashboard."""
    return {f"{p['title']} / {t['refId']}": t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])}


def test_every_panel_the_issue_asks_for_is_there(dashboard):
    by_title = {p["title"]: p for p in dashboard["panels"] if p["type"] != "row"}
    metrics_of = {title: {m for t in panel["targets"] for m, _ in selectors(strip_non_selectors(t["expr"]))}
                  for title, panel in by_title.items()}
    wanted = {  # what the issue lists -> a metric that must be on some panel
        "request rate": "sanicms_http_requests_total", "latency": "sanicms_http_request_duration_seconds_bucket",
        "downstream calls": "sanicms_downstream_calls_total", "breaker state": "sanicms_circuit_breaker_state",
        "pool waiters": "sanicms_db_pool_waiters", "pool in use": "sanicms_db_pool_connections_in_use",
        "statement latency": "sanicms_db_statement_duration_seconds_bucket",
        "span drops": "sanicms_tracing_spans_dropped_total", "span queue": "sanicms_tracing_queue_length",
        "memory": "process_resident_memory_bytes", "cpu": "process_cpu_seconds_total",
    }
    shown = set().union(*metrics_of.values())
    assert {need for need, metric in wanted.items() if metric not in shown} == set()
    errors = [t["expr"] for t in by_title["Error rate (5xx)"]["targets"]]
    assert any('status=~"5.."' in expr for expr in errors)
    quantiles = {float(q) for t in by_title["Latency p50 / p95 / p99"]["targets"]
                 for q in re.findall(r"histogram_quantile\(([\d.]+)", t["expr"])}
    assert quantiles == {0.5, 0.95, 0.99}


def test_every_query_is_per_service(dashboard):
    for name, expr in expressions(dashboard).items():
        for metric, matched in selectors(strip_non_selectors(expr)):
            assert "service" in matched, f"{name}: {metric} not filtered by $service"
        assert "$service" in expr, name


def test_the_latency_panel_shows_exemplars_linked_to_zipkin(dashboard):
    [latency] = [p for p in dashboard["panels"] if p["title"].startswith("Latency p50")]
    assert all(t.get("exemplar") is True and "_bucket" in t["expr"] for t in latency["targets"])
    [link] = provisioned_datasources()["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert link["name"] == "trace_id" and "/zipkin/traces/" in link["url"]


def test_the_dashboard_check_has_teeth(dashboard):
    def broken(change) -> list[str]:
        copied = copy.deepcopy(dashboard)
        change(copied)
        return dashboard_problems(copied, "prometheus")

    second = 1 if dashboard["panels"][0]["type"] == "row" else 0
    assert any("not unique" in p for p in broken(lambda d: d["panels"][second + 1].update(
        id=d["panels"][second]["id"])))
    assert any("overlap" in p for p in broken(lambda d: d["panels"][second + 1].update(
        gridPos=dict(d["panels"][second]["gridPos"]))))
    assert any("24-column" in p for p in broken(lambda d: d["panels"][second]["gridPos"].update(x=20)))
    assert any("not the provisioned" in p for p in broken(lambda d: d["panels"][second].update(
        datasource={"type": "prometheus", "uid": "prom"})))
    assert any("undefined variable $instance" in p for p in broken(lambda d: d["panels"][second]["targets"][0].update(
        expr='sum(rate(sanicms_http_requests_total{instance="$instance"}[5m]))')))
    assert any("not in the agreed vocabulary" in p for p in broken(lambda d: d["panels"][second]["targets"][0].update(
        expr='sum(rate(sanicms_http_request_total{service=~"$service"}[5m]))')))
    assert any("has no label path" in p for p in broken(lambda d: d["panels"][second]["targets"][0].update(
        expr='sum(rate(sanicms_http_requests_total{path="/cities"}[5m]))')))
    assert any("grouping by path" in p for p in broken(lambda d: d["panels"][second]["targets"][0].update(
        expr='sum by (path) (rate(sanicms_http_requests_total[5m]))')))
    assert any("no expr" in p for p in broken(lambda d: d["panels"][second]["targets"][0].pop("expr")))
    assert any("sums away" in p for p in broken(lambda d: d["panels"][second]["targets"][0].update(
        legendFormat="{{route}}")))


def test_docs_show_each_panel_with_its_promql(dashboard):
    doc = (ROOT / "docs" / "monitoring.md").read_text()
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert f"*{panel['title']}*" in doc, panel["title"]
            assert all(target["expr"] in doc for target in panel["targets"]), panel["title"]
