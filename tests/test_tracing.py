"""Tracing across the three real services, reported to a fake Zipkin collector on loopback;
and requests that do not care whether the collector is up, slow or gone."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import psutil
import pytest
from fakes import FakeZipkin
from localstack import REGISTRY, SERVICES, LocalStack

from sanicms.testing import zipkin_span_validator
from sanicms.testing.localdb import create_database
from sanicms.testing.processes import ServiceProcess, eventually, free_port, migrate

ZIPKIN_SPEC = Path(__file__).resolve().parents[2] / "shared" / "specs" / "zipkin2-api.yaml"
FAST_FLUSH = {"TRACING_FLUSH_INTERVAL": "0.05", "LOG_FORMAT": "json"}


@pytest.fixture(scope="module")
def schema():
    return zipkin_span_validator(ZIPKIN_SPEC)


@pytest.fixture(scope="module")
def traced_stack(pg_server, tmp_path_factory):
    zipkin = FakeZipkin().start()
    ports = {name: free_port() for name, _, _ in SERVICES}
    env = {"ZIPKIN_URL": zipkin.url, "LOG_LEVEL": "DEBUG", **FAST_FLUSH}
    stack = LocalStack(pg_server, ports=ports, log_dir=tmp_path_factory.mktemp("logs"), env=env,
                       db_prefix="trace_", fresh=True).start()
    yield stack, zipkin
    stack.stop()
    zipkin.close()


def post(url, body):
    res = httpx.post(url, json=body, timeout=10)
    assert res.status_code == 201, res.text
    return res.json()["data"]


def wait_for(condition):
    return eventually(condition, "spans reported")


def by(spans, service, kind=None, name_prefix=""):
    return [s for s in spans if s["localEndpoint"]["serviceName"] == service
            and s.get("kind") == kind and s["name"].startswith(name_prefix)]


def test_one_request_is_one_trace_across_three_services(traced_stack, schema):
    stack, zipkin = traced_stack
    city = post(stack.url("city") + "/cities", {"name": "Hangzhou", "province": "Zhejiang"})
    role = post(stack.url("role") + "/roles", {"name": "editor"})
    user = post(stack.url("user") + "/users",
                {"name": "Li", "age": 40, "sex": "male", "city_id": city["id"], "role_id": role["id"]})

    res = httpx.get(f"{stack.url('user')}/users/{user['id']}", timeout=10)
    assert res.status_code == 200
    trace = res.headers["x-trace-id"]

    def complete():
        spans = zipkin.trace(trace)
        done = {s["localEndpoint"]["serviceName"] for s in spans if s.get("kind") == "SERVER"}
        return spans if done == {"user", "city", "role"} and len(by(spans, "user", "CLIENT")) >= 3 else None

    spans = wait_for(complete)
    for span in spans:
        schema.validate(span)
    assert {s["traceId"] for s in spans} == {trace} and len(trace) == 32

    [root] = by(spans, "user", "SERVER")
    assert "parentId" not in root and root["name"] == "get /users/<id:int>"
    [user_sql] = by(spans, "user", "CLIENT", "sql")
    assert user_sql["parentId"] == root["id"] and "SELECT" in user_sql["tags"]["db.statement"].upper()

    # @logger spans around each fetch, siblings under the server span
    fetches = by(spans, "user", None, "fetch_one")
    assert len(fetches) == 2 and all(f["parentId"] == root["id"] for f in fetches)
    calls = {s["remoteEndpoint"]["serviceName"]: s for s in by(spans, "user", "CLIENT", "get ")}
    assert set(calls) == {"city", "role"}
    assert {c["parentId"] for c in calls.values()} == {f["id"] for f in fetches}

    a, b = calls["city"], calls["role"]  # concurrent: each starts before the other ends
    assert a["timestamp"] < b["timestamp"] + b["duration"] and b["timestamp"] < a["timestamp"] + a["duration"]

    for service in ("city", "role"):
        [server] = by(spans, service, "SERVER")
        assert server["parentId"] == calls[service]["id"]
        [sql] = by(spans, service, "CLIENT", "sql")
        assert sql["parentId"] == server["id"]
        assert sql["remoteEndpoint"]["serviceName"] == "postgres"


def mapped_files(pid: int) -> set[str]:
    """Files mapped by a service's process and its workers."""
    service = psutil.Process(pid)
    return {m.path for p in [service, *service.children(recursive=True)] for m in p.memory_maps()}


def test_only_a_service_that_calls_neighbours_loads_aiohttp(traced_stack):
    """Spans go to the collector over HTTP without aiohttp (9 MiB resident), which only the
    user service needs, for its calls to city and role."""
    stack, zipkin = traced_stack
    res = httpx.get(f"{stack.url('city')}/cities", timeout=10)
    assert res.status_code == 200
    wait_for(lambda: zipkin.trace(res.headers["x-trace-id"]))  # city's spans went over HTTP
    loaded = {name: any("/aiohttp/" in path for path in mapped_files(proc.proc.pid))
              for name, proc in stack.processes.items()}
    assert loaded == {s.name: bool(s.downstreams) for s in REGISTRY}  # user: True; city, role: False


def test_log_lines_of_a_request_name_its_trace(traced_stack):
    stack, _ = traced_stack
    res = httpx.get(f"{stack.url('user')}/users", timeout=10)
    assert res.status_code == 200
    trace = res.headers["x-trace-id"]
    log_file = stack.log_dir / "user.log"

    def lines():
        found = []
        for raw in log_file.read_text().splitlines():
            if trace in raw and raw.startswith("{") and '"level"' in raw:
                found.append(json.loads(raw))
        return found

    records = wait_for(lines)
    assert all(r["service"] == "user" and r["traceId"] == trace and r["spanId"] for r in records)
    assert {"time", "level", "logger", "message"} <= set(records[0])


# ---- the collector down or slow: requests do not notice --------------------------------------

def city_process(pg_server, tmp_path, zipkin_url, **env):
    env = {"DATABASE_URL": create_database(pg_server, "trace_faults_city", fresh=True),
           "ZIPKIN_URL": zipkin_url, **FAST_FLUSH, **{k: str(v) for k, v in env.items()}}
    migrate("city_service", env)
    return ServiceProcess("city_service", free_port(), env, log_path=tmp_path / "city.log").start()


def failures(client, url, n):
    """How many of ``n`` GETs did not answer 200."""
    return sum(client.get(url).status_code != 200 for _ in range(n))


def stats(city):
    return httpx.get(city.url + "/healthz", timeout=5).json()["data"]["tracing"]


def test_requests_do_not_notice_a_collector_that_is_gone_or_slow(pg_server, tmp_path):
    zipkin = FakeZipkin().start()
    city = city_process(pg_server, tmp_path, zipkin.url, TRACING_QUEUE_SIZE=300, TRACING_SEND_TIMEOUT=0.5)
    try:
        with httpx.Client(timeout=5) as client:
            created = client.post(city.url + "/cities", json={"name": "Xi'an", "province": "Shaanxi"})
            url = f"{city.url}/cities/{created.json()['data']['id']}"
            failures(client, url, 50)  # warm up
            failed_up = failures(client, url, 300)
            wait_for(lambda: stats(city)["queued"] == 0)
            assert zipkin.spans and stats(city)["sent"] > 0

            zipkin.delay = 30  # slow: every send times out, the queue fills, spans are dropped
            failed_slow = failures(client, url, 300)
            slow_stats = stats(city)

            zipkin.stop()  # gone: connections refused
            failed_down = failures(client, url, 300)
            down_stats = stats(city)
    finally:
        code = city.stop()
        zipkin.close()

    # Every request answered while sends time out or are refused: none waited on the collector
    # (how fast they were is measured by `make bench`, not asserted here).
    assert (failed_up, failed_slow, failed_down) == (0, 0, 0)
    assert slow_stats["dropped"] > 0 and slow_stats["queued"] <= 300  # bounded, drops counted
    assert down_stats["dropped"] + down_stats["lost"] > slow_stats["dropped"] + slow_stats["lost"]
    log = (tmp_path / "city.log").read_text()
    assert "span queue full: dropped" in log
    assert code == 0


def test_sigterm_flushes_the_spans_of_the_last_requests(pg_server, tmp_path):
    zipkin = FakeZipkin().start()
    # A long interval: only the shutdown flush can deliver these spans.
    city = city_process(pg_server, tmp_path, zipkin.url, TRACING_FLUSH_INTERVAL=60)
    try:
        traces = {httpx.get(city.url + "/cities", timeout=5).headers["x-trace-id"] for _ in range(5)}
        assert zipkin.spans == []
        assert city.stop() == 0
        assert traces <= {s["traceId"] for s in zipkin.spans}
    finally:
        city.stop()
        zipkin.close()


def test_log_transport_writes_one_zipkin_span_per_line_for_a_shipper(pg_server, tmp_path, schema):
    """What docker compose runs: spans on stdout, one JSON line each, no collector in sight."""
    city = city_process(pg_server, tmp_path, "", TRACING_TRANSPORTS='["log"]')
    try:
        res = httpx.get(city.url + "/cities", timeout=5)
        trace = res.headers["x-trace-id"]
    finally:
        assert city.stop() == 0  # the shutdown flush writes what is still queued
    lines = [json.loads(line) for line in (tmp_path / "city.log").read_text().splitlines()
             if line.startswith("{")]
    spans = [line for line in lines if "localEndpoint" in line]
    logs = [line for line in lines if "localEndpoint" not in line]
    mine = [span for span in spans if span["traceId"] == trace]
    assert {span.get("kind") for span in mine} == {"SERVER", "CLIENT"}  # the request and its SQL
    for span in spans:
        schema.validate(span)
    assert logs and all({"time", "level", "logger", "message"} <= set(line) for line in logs)
