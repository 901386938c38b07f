"""Tracing across the three real services, reported to the real Zipkin server and read back
through Zipkin's own API; and requests that do not care whether the collector is up, slow or
gone (a fake collector there: a real Zipkin will not hang or vanish on demand)."""

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
def traced_stack(pg_server, tmp_path_factory, zipkin):
    ports = {name: free_port() for name, _, _ in SERVICES}
    env = {"ZIPKIN_URL": zipkin.url, "LOG_LEVEL": "DEBUG", **FAST_FLUSH}
    stack = LocalStack(pg_server, ports=ports, log_dir=tmp_path_factory.mktemp("logs"), env=env,
                       db_prefix="trace_", fresh=True).start()
    yield stack, zipkin
    stack.stop()


@pytest.fixture(scope="module")
def people(traced_stack):
    """A city, a role and a user in them; every later request of this module reads them."""
    stack, _ = traced_stack
    city = post(stack.url("city") + "/cities", {"name": "Hangzhou", "province": "Zhejiang"})
    role = post(stack.url("role") + "/roles", {"name": "editor"})
    user = post(stack.url("user") + "/users",
                {"name": "Li", "age": 40, "sex": "male", "city_id": city["id"], "role_id": role["id"]})
    return city, role, user


def post(url, body):
    res = httpx.post(url, json=body, timeout=10)
    assert res.status_code == 201, res.text
    return res.json()["data"]


def wait_for(condition, what="spans reported"):
    return eventually(condition, what)


def by(spans, service, kind=None, name_prefix=""):
    return [s for s in spans if s["localEndpoint"]["serviceName"] == service
            and s.get("kind") == kind and s["name"].startswith(name_prefix)]


def whole_trace(zipkin, trace, services=("user", "city", "role"), client_calls=3):
    """The spans Zipkin holds for ``trace``, once every service's server span and the user
    service's client spans (its SQL and one call per neighbour) are in."""
    def complete():
        spans = zipkin.trace(trace)
        done = {s["localEndpoint"]["serviceName"] for s in spans if s.get("kind") == "SERVER"}
        return spans if done == set(services) and len(by(spans, "user", "CLIENT")) >= client_calls else None
    return wait_for(complete, f"trace {trace} of {services} in Zipkin")


def get_user(stack, ident, **headers):
    res = httpx.get(f"{stack.url('user')}/users/{ident}", headers=headers, timeout=10)
    assert res.status_code == 200, res.text
    return res


def test_one_request_is_one_trace_across_three_services(traced_stack, people, schema):
    stack, zipkin = traced_stack
    _, _, user = people
    trace = get_user(stack, user["id"]).headers["x-trace-id"]

    spans = whole_trace(zipkin, trace)
    for span in spans:
        schema.validate(span)  # what Zipkin stored is still the v2 model the services sent
    assert {s["traceId"] for s in spans} == {trace} and len(trace) == 32

    [root] = by(spans, "user", "SERVER")
    assert "parentId" not in root and root["name"] == "get /users/<id:int>"
    assert root["tags"]["http.route"] == "/users/<id:int>" and root["tags"]["http.status_code"] == "200"
    [user_sql] = by(spans, "user", "CLIENT", "sql")
    assert user_sql["parentId"] == root["id"] and "SELECT" in user_sql["tags"]["db.statement"].upper()
    assert user_sql["remoteEndpoint"]["serviceName"] == "postgres"

    # @logger spans around each fetch, siblings under the server span
    fetches = by(spans, "user", None, "fetch_one")
    assert len(fetches) == 2 and all(f["parentId"] == root["id"] for f in fetches)
    calls = {s["remoteEndpoint"]["serviceName"]: s for s in by(spans, "user", "CLIENT", "get ")}
    assert set(calls) == {"city", "role"}
    assert {c["parentId"] for c in calls.values()} == {f["id"] for f in fetches}
    assert all(c["remoteEndpoint"]["port"] == stack.ports[name] for name, c in calls.items())

    a, b = calls["city"], calls["role"]  # concurrent: each starts before the other ends
    assert a["timestamp"] < b["timestamp"] + b["duration"] and b["timestamp"] < a["timestamp"] + a["duration"]

    for service in ("city", "role"):
        [server] = by(spans, service, "SERVER")
        assert server["parentId"] == calls[service]["id"]
        assert server["tags"]["http.route"].startswith(f"/{service[:-1]}")  # /cities/<..>, /roles/<..>
        [sql] = by(spans, service, "CLIENT", "sql")
        assert sql["parentId"] == server["id"]
        assert sql["remoteEndpoint"]["serviceName"] == "postgres"
    assert not any("error" in s.get("tags", {}) for s in spans)


def test_a_failed_call_is_tagged_as_an_error_in_zipkin(traced_stack, people):
    """A reference to a city that does not exist: city answers 404, user refuses the body."""
    stack, zipkin = traced_stack
    _, role, _ = people
    res = httpx.post(stack.url("user") + "/users", timeout=10,
                     json={"name": "Wu", "age": 30, "sex": "male", "city_id": 999_999, "role_id": role["id"]})
    assert res.status_code == 400, res.text
    trace = res.headers["x-trace-id"]

    def city_call(spans):
        return [s for s in by(spans, "user", "CLIENT", "get ") if s["remoteEndpoint"]["serviceName"] == "city"]

    # Each service sends its own spans: wait for both sides of the call, not the first to arrive.
    spans = wait_for(lambda: (found := zipkin.trace(trace)) and by(found, "city", "SERVER") and city_call(found)
                     and found, "the failed call's spans in Zipkin")
    [city_server] = by(spans, "city", "SERVER")
    assert city_server["tags"]["http.status_code"] == "404"
    [call] = city_call(spans)
    assert call["tags"]["http.status_code"] == "404" and call["tags"]["error"]
    assert city_server["parentId"] == call["id"]


def test_zipkin_lists_the_services_and_their_spans(traced_stack, people):
    stack, zipkin = traced_stack
    trace = get_user(stack, people[2]["id"]).headers["x-trace-id"]
    whole_trace(zipkin, trace)
    assert set(zipkin.api("/api/v2/services")) == {"user", "city", "role"}  # this module's Zipkin only
    assert set(zipkin.api("/api/v2/remoteServices", serviceName="user")) == {"city", "role", "postgres"}
    assert set(zipkin.api("/api/v2/spans", serviceName="user")) >= {"get /users/<id:int>", "post /users"}
    assert "get /cities/<id:int>" in zipkin.api("/api/v2/spans", serviceName="city")
    found = zipkin.api("/api/v2/traces", serviceName="role", spanName="get /roles/<id:int>", limit=1000)
    assert trace in {spans[0]["traceId"] for spans in found}


def test_dependencies_count_every_call_user_made(traced_stack, people):
    """Zipkin's dependency links are built from the spans: user -> city and user -> role, one
    call each per read of a user (and per create, which checks both references)."""
    stack, zipkin = traced_stack
    before = zipkin.dependencies()
    reads = 7
    traces = [get_user(stack, people[2]["id"]).headers["x-trace-id"] for _ in range(reads)]
    for trace in traces:
        whole_trace(zipkin, trace)

    def counted():
        links = zipkin.dependencies()
        grown = {pair: links.get(pair, {}).get("callCount", 0) - before.get(pair, {}).get("callCount", 0)
                 for pair in (("user", "city"), ("user", "role"))}
        return grown if all(n >= reads for n in grown.values()) else None

    assert wait_for(counted, "dependency links") == {("user", "city"): reads, ("user", "role"): reads}
    links = zipkin.dependencies()
    assert {("user", "city"), ("user", "role"), ("city", "postgres"), ("role", "postgres")} <= set(links)
    assert ("city", "user") not in links and ("role", "city") not in links


def test_zipkin_received_every_span_the_services_sent_and_dropped_none(traced_stack, people):
    stack, zipkin = traced_stack
    get_user(stack, people[2]["id"])

    def settled():
        sent = {name: stats(stack.url(name)) for name in stack.processes}
        if any(s["queued"] for s in sent.values()):
            return None
        total = sum(s["sent"] for s in sent.values())
        return (sent, total) if zipkin.counter("zipkin_collector_spans_total") == total else None

    sent, total = wait_for(settled, "Zipkin's span count to equal what the services sent")
    assert total > 0 and all(s["dropped"] == s["lost"] == 0 for s in sent.values()), sent
    assert zipkin.counter("zipkin_collector_spans_dropped_total") == 0
    assert zipkin.counter("zipkin_collector_messages_dropped_total") == 0


# ---- trace context from a caller: B3, W3C traceparent, and a caller's "do not sample" -----------

CALLER_SPAN = "00f067aa0ba902b7"


@pytest.mark.parametrize("headers", [
    {"X-B3-TraceId": "4bf92f3577b34da6a3ce929d0e0e4701", "X-B3-SpanId": CALLER_SPAN, "X-B3-Sampled": "1"},
    {"b3": f"4bf92f3577b34da6a3ce929d0e0e4702-{CALLER_SPAN}-1"},
    {"traceparent": f"00-4bf92f3577b34da6a3ce929d0e0e4703-{CALLER_SPAN}-01"},
], ids=["b3-multi", "b3-single", "w3c"])
def test_a_callers_trace_is_continued_through_every_service(traced_stack, people, headers):
    stack, zipkin = traced_stack
    [trace] = {word for value in headers.values() for word in value.split("-") if len(word) == 32}
    assert get_user(stack, people[2]["id"], **headers).headers["x-trace-id"] == trace

    spans = whole_trace(zipkin, trace)
    [root] = by(spans, "user", "SERVER")
    assert root["parentId"] == CALLER_SPAN  # hangs under the caller's span, in the caller's trace
    assert {s["traceId"] for s in spans} == {trace}
    assert len(by(spans, "city", "SERVER")) == len(by(spans, "role", "SERVER")) == 1


@pytest.mark.parametrize("headers", [
    {"X-B3-TraceId": "5bf92f3577b34da6a3ce929d0e0e4701", "X-B3-SpanId": CALLER_SPAN, "X-B3-Sampled": "0"},
    {"b3": "0"},
    {"traceparent": f"00-5bf92f3577b34da6a3ce929d0e0e4703-{CALLER_SPAN}-00"},
], ids=["b3-multi", "b3-single-flag", "w3c"])
def test_a_caller_that_says_do_not_sample_leaves_nothing_in_zipkin(traced_stack, people, headers):
    stack, zipkin = traced_stack
    unsampled = get_user(stack, people[2]["id"], **headers).headers["x-trace-id"]
    # A sampled request after it: once its spans are in, the earlier ones would be too, had
    # any been sent (each service sends its spans in the order they finished).
    marker = get_user(stack, people[2]["id"]).headers["x-trace-id"]
    whole_trace(zipkin, marker)
    assert zipkin.api(f"/api/v2/trace/{unsampled}") is None  # Zipkin's 404: it never saw the trace


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


def stats(url):
    """A service's span counters, from its /healthz."""
    return httpx.get(url + "/healthz", timeout=5).json()["data"]["tracing"]


def test_requests_do_not_notice_a_collector_that_is_gone_or_slow(pg_server, tmp_path):
    zipkin = FakeZipkin().start()
    city = city_process(pg_server, tmp_path, zipkin.url, TRACING_QUEUE_SIZE=300, TRACING_SEND_TIMEOUT=0.5)
    try:
        with httpx.Client(timeout=5) as client:
            created = client.post(city.url + "/cities", json={"name": "Xi'an", "province": "Shaanxi"})
            url = f"{city.url}/cities/{created.json()['data']['id']}"
            failures(client, url, 50)  # warm up
            failed_up = failures(client, url, 300)
            wait_for(lambda: stats(city.url)["queued"] == 0)
            assert zipkin.spans and stats(city.url)["sent"] > 0

            zipkin.delay = 30  # slow: every send times out, the queue fills, spans are dropped
            failed_slow = failures(client, url, 300)
            slow_stats = stats(city.url)

            zipkin.stop()  # gone: connections refused
            failed_down = failures(client, url, 300)
            down_stats = stats(city.url)
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


def test_sigterm_flushes_the_spans_of_the_last_requests(pg_server, tmp_path, zipkin):
    # A long interval: only the shutdown flush can deliver these spans.
    city = city_process(pg_server, tmp_path, zipkin.url, TRACING_FLUSH_INTERVAL=60)
    try:
        traces = {httpx.get(city.url + "/cities", timeout=5).headers["x-trace-id"] for _ in range(5)}
        assert all(zipkin.api(f"/api/v2/trace/{trace}") is None for trace in traces)
        assert city.stop() == 0
    finally:
        city.stop()
    for trace in traces:  # Zipkin stores what it accepted a moment later
        assert wait_for(lambda trace=trace: zipkin.trace(trace))[0]["localEndpoint"]["serviceName"] == "city"


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
