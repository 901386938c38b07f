"""The shipped Prometheus config on a real Prometheus, scraping the real services.

promtool checks the config and the recording rules (and runs the rules on known series);
then Prometheus starts with deploy/prometheus as shipped, only its targets file swapped for
the local stack's addresses, the services get known traffic, and Prometheus's HTTP API must
show: all targets up, the exact request counts per service, route and status, an increase()
that matches them, the trace ids sent as exemplars, the recording rules' series, and every
query of the Grafana dashboard running without error (the main ones with data).

Needs Debian's `prometheus` package (`make prometheus-deps`); without it the tests skip,
unless PROMETHEUS_TEST_REQUIRED=1 (`make check-prometheus`), where they fail.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from localstack import SERVICES, LocalStack

from sanicms.testing.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "sanicms.json"
REQUIRED = os.environ.get("PROMETHEUS_TEST_REQUIRED") == "1"
DEADLINE = 90  # seconds any one poll of Prometheus may take: a few scrape intervals and then some


def binary(name: str) -> str:
    """The path of prometheus / promtool, or a skip (a failure under PROMETHEUS_TEST_REQUIRED=1)."""
    found = os.environ.get(name.upper()) or shutil.which(name) or f"/usr/bin/{name}"
    if not Path(found).is_file():
        message = f"{name} is not installed: `make prometheus-deps` installs Debian's prometheus package"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return found


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool"), *args], capture_output=True, text=True, timeout=60)


# ---- offline: promtool ------------------------------------------------------------------------

def test_promtool_accepts_the_shipped_config_and_its_rule_files():
    result = promtool("check", "config", str(CONFIG_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def rule_files() -> list[Path]:
    return sorted((CONFIG_DIR / "rules").glob("*.yml"))


def test_promtool_accepts_the_recording_rules():
    assert rule_files()
    result = promtool("check", "rules", *map(str, rule_files()))
    assert result.returncode == 0, result.stdout + result.stderr


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    text = ",".join(f'{k}="{v}"' for k, v in {"job": "sanicms", "instance": "a:1", **labels}.items())
    return {"series": f"{name}{{{text}}}", "values": values}


RULES_UNIT_TEST = {
    # city: 1 request/s answered 200 and 0.25/s answered 500, every one between 10 and 25 ms.
    "evaluation_interval": "15s",
    "tests": [{
        "interval": "15s",
        "input_series": [
            series("sanicms_http_requests_total", "0+15x8", service="city", method="GET", route="/cities/{id}",
                   status="200"),
            series("sanicms_http_requests_total", "0+3.75x8", service="city", method="GET", route="/cities/{id}",
                   status="500"),
            *[series("sanicms_http_request_duration_seconds_bucket", f"0+{per}x8", service="city", method="GET",
                     route="/cities/{id}", le=le) for le, per in (("0.01", "0"), ("0.025", "18.75"),
                                                                    ("0.05", "18.75"), ("+Inf", "18.75"))],
        ],
        "promql_expr_test": [
            {"expr": "service:sanicms_http_requests:rate1m", "eval_time": "2m",
             "exp_samples": [{"labels": 'service:sanicms_http_requests:rate1m{service="city"}', "value": 1.25}]},
            {"expr": "service:sanicms_http_requests_5xx:ratio_rate1m", "eval_time": "2m",
             "exp_samples": [{"labels": 'service:sanicms_http_requests_5xx:ratio_rate1m{service="city"}',
                              "value": 0.2}]},
            {"expr": 'service_method_route_status:sanicms_http_requests:rate1m{status="200"}', "eval_time": "2m",
             "exp_samples": [{"labels": 'service_method_route_status:sanicms_http_requests:rate1m'
                                        '{service="city",method="GET",route="/cities/{id}",status="200"}',
                              "value": 1}]},
            # all in the (0.01, 0.025] bucket: the quantiles interpolate linearly inside it
            *[{"expr": f"service:sanicms_http_request_duration_seconds:p{q}_rate1m", "eval_time": "2m",
               "exp_samples": [{"labels": f"service:sanicms_http_request_duration_seconds:p{q}_rate1m"
                                          '{service="city"}',
                                "value": round(0.01 + 0.015 * int(q) / 100, 6)}]} for q in ("50", "95", "99")],
        ],
    }],
}


def test_the_recording_rules_compute_what_their_names_say(tmp_path):
    rules = []
    for path in rule_files():
        shutil.copy(path, tmp_path / path.name)
        rules.append(path.name)
    test = tmp_path / "rules_test.yml"
    test.write_text(yaml.safe_dump({"rule_files": rules, **RULES_UNIT_TEST}, sort_keys=False))
    result = promtool("test", "rules", str(test))
    assert result.returncode == 0, result.stdout + result.stderr
    # teeth: a wrong expectation fails
    broken = json.loads(json.dumps(RULES_UNIT_TEST))
    broken["tests"][0]["promql_expr_test"][0]["exp_samples"][0]["value"] = 1.5
    test.write_text(yaml.safe_dump({"rule_files": rules, **broken}, sort_keys=False))
    assert promtool("test", "rules", str(test)).returncode != 0


# ---- the real thing: Prometheus scraping the services -----------------------------------------

class Prometheus:
    """A Prometheus on 127.0.0.1, read through its HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def api(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as resp:
            body = json.load(resp)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        return data["result"]

    def query_range(self, expr: str, seconds: int = 120, step: int = 5) -> list[dict]:
        end = time.time()
        return self.api("query_range", query=expr, start=end - seconds, end=end, step=step)["result"]

    def eventually(self, what: str, probe: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
        """Poll ``probe`` until ``done`` holds, for at most DEADLINE seconds; fail with the last value."""
        deadline = time.monotonic() + DEADLINE
        while True:
            value = probe()
            if done(value):
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: still {value!r} after {DEADLINE} s")
            time.sleep(1)


def local_targets(stack: LocalStack) -> list[dict]:
    """The targets file for the local stack: what the shipped one says for compose, other addresses."""
    return [{"targets": [f"127.0.0.1:{stack.ports[name]}"], "labels": {"service": name}} for name, _, _ in SERVICES]


@pytest.fixture(scope="module")
def services(pg_server, tmp_path_factory) -> Iterator[LocalStack]:
    """The services with two workers each (a scrape must see the sum over workers) and spans on."""
    stack = LocalStack(pg_server, ports={name: free_port() for name, _, _ in SERVICES},
                       log_dir=tmp_path_factory.mktemp("logs"), db_prefix="prom_", fresh=True,
                       env={"WORKERS": "2", "TRACING_TRANSPORTS": "log", "TRACING_SAMPLE_RATE": "1.0",
                            "LOG_FORMAT": "json"})
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def executable() -> str:
    return binary("prometheus")


@pytest.fixture(scope="module")
def prometheus(executable, services, tmp_path_factory) -> Iterator[Prometheus]:
    """Prometheus with deploy/prometheus as shipped but for the targets file (the binary is
    looked for first: without it the tests skip before the services start)."""
    config = tmp_path_factory.mktemp("prometheus") / "config"
    shutil.copytree(CONFIG_DIR, config)
    shipped = yaml.safe_load((CONFIG_DIR / "targets" / "sanicms.yml").read_text())
    assert {g["labels"]["service"] for g in shipped} == {g["labels"]["service"] for g in local_targets(services)}
    (config / "targets" / "sanicms.yml").write_text(yaml.safe_dump(local_targets(services)))
    port = free_port()
    log = config.parent / "prometheus.log"
    with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [executable, f"--config.file={config / 'prometheus.yml'}", f"--storage.tsdb.path={config.parent / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--enable-feature=exemplar-storage"],
            stdout=out, stderr=subprocess.STDOUT)
    server = Prometheus(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"prometheus did not start (exit {proc.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def hex_id(length: int) -> str:
    return secrets.token_hex(length // 2)


@pytest.fixture(scope="module")
def traffic(services) -> dict[str, Any]:
    """Known requests to each service. Returns what was sent: counts per (service, method, route,
    status), and the trace ids sent with the last requests to GET /cities/{id}."""
    sent: dict[tuple[str, str, str, str], int] = {}

    def call(service: str, method: str, path: str, route: str, status: int, **kwargs: Any) -> dict:
        res = httpx.request(method, services.url(service) + path, timeout=10, **kwargs)
        assert res.status_code == status, res.text
        key = (service, method, route, str(status))
        sent[key] = sent.get(key, 0) + 1
        return res.json()

    city = call("city", "POST", "/cities", "/cities", 201, json={"name": "Suzhou", "province": "Jiangsu"})["data"]
    role = call("role", "POST", "/roles", "/roles", 201, json={"name": "auditor"})["data"]
    user = call("user", "POST", "/users", "/users", 201,
                json={"name": "Zhao", "age": 30, "sex": "male", "city_id": city["id"], "role_id": role["id"]})["data"]
    for _ in range(5):
        call("role", "GET", f"/roles/{role['id']}", "/roles/{id}", 200)
    for _ in range(4):
        call("user", "GET", f"/users/{user['id']}", "/users/{id}", 200)  # each calls city and role
    for _ in range(3):
        call("city", "GET", "/cities/999999", "/cities/{id}", 404)
    for _ in range(2):
        call("city", "GET", "/no/such/route", "unmatched", 404)
    trace_ids = [hex_id(32) for _ in range(7)]
    for trace_id in trace_ids:  # sampled, so their ids become the duration buckets' exemplars
        call("city", "GET", f"/cities/{city['id']}", "/cities/{id}", 200,
             headers={"traceparent": f"00-{trace_id}-{hex_id(16)}-01"})
    return {"sent": sent, "trace_ids": trace_ids, "city_id": city["id"]}


def counts(prometheus: Prometheus) -> dict[tuple[str, str, str, str], float]:
    result = prometheus.query("sum by (service, method, route, status) (sanicms_http_requests_total)")
    return {(r["metric"]["service"], r["metric"]["method"], r["metric"]["route"], r["metric"]["status"]):
            float(r["value"][1]) for r in result}


def test_every_target_is_up(prometheus, services):
    def up() -> dict[str, str]:
        targets = prometheus.api("targets", state="active")["activeTargets"]
        return {t["labels"]["service"]: t["health"] for t in targets}

    health = prometheus.eventually("targets", up, lambda h: h == {name: "up" for name, _, _ in SERVICES})
    assert set(health) == {name for name, _, _ in SERVICES}
    targets = prometheus.api("targets", state="active")["activeTargets"]
    assert {t["scrapeUrl"] for t in targets} == {f"{services.url(name)}/metrics" for name, _, _ in SERVICES}
    assert all(t["labels"]["job"] == "sanicms" and not t["lastError"] for t in targets)
    up_values = prometheus.query("up")
    assert {r["metric"]["service"]: r["value"][1] for r in up_values} == {name: "1" for name, _, _ in SERVICES}


def test_requests_per_service_route_and_status_are_the_traffic_sent(prometheus, traffic):
    """The counter itself, an instant query: exactly the requests sent (two workers each, summed).
    City and role also served user's calls for the users' cities and roles: those are counted
    on both sides, as user's downstream calls and as city's and role's requests."""
    def downstream() -> dict[str, float]:
        calls = prometheus.query('sum by (neighbour) (sanicms_downstream_calls_total{service="user", outcome="2xx"})')
        return {r["metric"]["neighbour"]: float(r["value"][1]) for r in calls}

    def expected(made: dict[str, float]) -> dict[tuple[str, str, str, str], float]:
        sent = {key: float(n) for key, n in traffic["sent"].items()}
        sent[("city", "GET", "/cities/{id}", "200")] += made.get("city", 0)
        sent[("role", "GET", "/roles/{id}", "200")] += made.get("role", 0)
        return sent

    made, seen = prometheus.eventually(
        "user's calls to city and role, and the request counts",
        lambda: (downstream(), counts(prometheus)),
        lambda got: set(got[0]) == {"city", "role"}
        and {k: got[1].get(k) for k in expected(got[0])} == expected(got[0]))
    assert min(made.values()) >= 4  # a call each for each of the 4 reads of a user, at least
    assert {k: seen[k] for k in expected(made)} == expected(made)
    # no raw paths as labels: the 404s on /cities/999999 are counted under the template
    routes = {key[2] for key in counts(prometheus)}
    assert not any(re.search(r"/\d+", route) for route in routes), routes
    assert "unmatched" in routes and "/no/such/route" not in routes


def extrapolated_increase(samples: list[tuple[float, float]], start: float, end: float) -> float:
    """What increase() over [start, end] returns for these (time, value) samples: Prometheus's
    extrapolatedRate (promql/functions.go, 2.42), counter resets and all."""
    values = [v for _, v in samples]
    result = values[-1] - values[0] + sum(a for a, b in itertools.pairwise(values) if b < a)
    to_start, to_end = samples[0][0] - start, end - samples[-1][0]
    sampled = samples[-1][0] - samples[0][0]
    average = sampled / (len(samples) - 1)
    if result > 0 and values[0] >= 0:
        to_start = min(to_start, sampled * values[0] / result)  # a counter is not extrapolated below zero
    threshold = average * 1.1
    interval = sampled + (to_start if to_start < threshold else average / 2) + (to_end if to_end < threshold
                                                                                 else average / 2)
    return result * interval / sampled


def test_increase_over_the_known_route_is_the_traffic_as_prometheus_extrapolates_it(prometheus, services, traffic):
    """increase() extrapolates the samples it has to the window's edges, so it reads a little more
    than was sent; the figure must be exactly that extrapolation of samples that grew by the burst."""
    # the 404s: only this test's requests reach that series (user's calls find their cities)
    selector = 'sanicms_http_requests_total{service="city", method="GET", route="/cities/{id}", status="404"}'
    before = traffic["sent"][("city", "GET", "/cities/{id}", "404")]
    prometheus.eventually("the counter before the burst", lambda: prometheus.query(selector),
                          lambda r: len(r) == 1 and float(r[0]["value"][1]) == before)
    burst = 6
    for _ in range(burst):
        assert httpx.get(f"{services.url('city')}/cities/999999", timeout=10).status_code == 404
    traffic["sent"][("city", "GET", "/cities/{id}", "404")] += burst
    prometheus.eventually("the counter after the burst", lambda: prometheus.query(selector),
                          lambda r: len(r) == 1 and float(r[0]["value"][1]) == before + burst)
    at = round(time.time(), 3)
    [increase] = prometheus.api("query", query=f"increase({selector}[10m])", time=at)["result"]
    [raw] = prometheus.api("query", query=f"{selector}[10m]", time=at)["result"]
    samples = [(float(t), float(v)) for t, v in raw["values"]]
    assert samples[-1][1] - samples[0][1] >= burst  # the samples in the window saw the burst
    model = extrapolated_increase(samples, at - 600, at)
    assert float(increase["value"][1]) == pytest.approx(model, rel=1e-6)  # float rounding, not slack
    assert float(increase["value"][1]) >= burst


def test_the_extrapolation_model_has_teeth():
    samples = [(100.0, 7.0), (105.0, 7.0), (110.0, 13.0)]
    assert extrapolated_increase(samples, 0, 112) == pytest.approx(6 * (10 + 2.5 + 2) / 10)
    assert extrapolated_increase([(100.0, 0.0), (110.0, 6.0)], 0, 110) == pytest.approx(6)  # not below zero


def test_exemplars_carry_the_trace_ids_of_sampled_requests(prometheus, traffic):
    def exemplar_ids() -> set[str]:
        now = time.time()
        data = prometheus.api("query_exemplars", start=now - 600, end=now,
                              query='sanicms_http_request_duration_seconds_bucket{service="city",route="/cities/{id}"}')
        return {e["labels"].get("trace_id", "") for group in data for e in group["exemplars"]}

    ids = prometheus.eventually("exemplars", exemplar_ids, lambda got: bool(got & set(traffic["trace_ids"])))
    assert all(re.fullmatch(r"[0-9a-f]{16}|[0-9a-f]{32}", trace_id) for trace_id in ids), ids


def test_the_recording_rules_run_on_the_real_series(prometheus, traffic):
    names = {name for name, _, _ in SERVICES}
    rate, p95_name = "service:sanicms_http_requests:rate1m", "service:sanicms_http_request_duration_seconds:p95_rate1m"
    prometheus.eventually(rate, lambda: {r["metric"]["service"] for r in prometheus.query(rate)},
                          lambda got: got == names)
    p95 = prometheus.eventually(p95_name, lambda: prometheus.query(p95_name),
                                lambda r: any(x["value"][1] != "NaN" for x in r))
    assert all(0 < float(r["value"][1]) <= 10 for r in p95 if r["value"][1] != "NaN")


#: Dashboard panels that must show data after the traffic above (the others, such as 5xx
#: errors, breaker transitions or database errors, have nothing to show: they must only run).
PANELS_WITH_DATA = {
    "Request rate", "Latency p50 / p95 / p99", "Responses by status", "Request rate by route",
    "Latency p95 by route", "Requests in flight", "Calls by neighbour and outcome", "Call latency p95",
    "Circuit breaker state", "Connection pool", "Statement latency p95", "Spans", "Span queue length",
    "Resident memory", "CPU", "Open file descriptors",
}


def grafana_interpolate(expr: str, services: list[str]) -> str:
    """What Grafana sends for the dashboard's variables: $service as All (a regex of every
    value), $__rate_interval as 4 scrape intervals at least (here 1m, as for a 15 min view)."""
    return expr.replace("$service", "(" + "|".join(services) + ")").replace("$__rate_interval", "1m")


def test_every_dashboard_query_runs_and_the_main_ones_show_the_traffic(prometheus, traffic):
    dashboard = json.loads(DASHBOARD.read_text())
    names = sorted(name for name, _, _ in SERVICES)
    panels = {p["title"]: p for p in dashboard["panels"] if p["type"] != "row"}
    assert set(panels) >= PANELS_WITH_DATA
    variable = dashboard["templating"]["list"][0]["query"]["query"]
    assert variable.startswith("label_values(")
    metric, label = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable).groups()
    prometheus.eventually(f"the ${label} variable's values", lambda: sorted(
        prometheus.api(f"label/{label}/values", **{"match[]": metric})), lambda values: values == names)
    # every query runs as Grafana runs it (a range query); each query of the data panels
    # eventually has data
    def without_data() -> set[str]:
        return {f"{title} / {target['refId']}" for title, panel in panels.items() if title in PANELS_WITH_DATA
                for target in panel["targets"]
                if not prometheus.query_range(grafana_interpolate(target["expr"], names))}

    assert prometheus.eventually("dashboard queries without data", without_data, lambda missing: not missing) == set()
    for panel in panels.values():  # every target, not only the first with data
        for target in panel["targets"]:
            prometheus.query_range(grafana_interpolate(target["expr"], names))  # raises unless status success
    # A rate needs two scrapes of a series: on a loaded machine one service's may lag the others'.
    routes = {("city", "/cities/{id}"), ("role", "/roles/{id}"), ("user", "/users/{id}")}
    by_route = grafana_interpolate(panels["Request rate by route"]["targets"][0]["expr"], names)
    prometheus.eventually("a rate for each main route", lambda: {
        (r["metric"]["service"], r["metric"]["route"]) for r in prometheus.query(by_route)}, routes.issubset)
    outcomes = {("user", "city", "2xx"), ("user", "role", "2xx")}
    calls = grafana_interpolate(panels["Calls by neighbour and outcome"]["targets"][0]["expr"], names)
    prometheus.eventually("a rate for each neighbour's successful calls", lambda: {
        (r["metric"]["service"], r["metric"]["neighbour"], r["metric"]["outcome"])
        for r in prometheus.query(calls)}, outcomes.issubset)
