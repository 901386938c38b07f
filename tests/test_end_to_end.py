"""The services for real: separate processes, real HTTP between them, real PostgreSQL.

The user, city and role tests below are about those services; the trace test at the end runs
for every service that calls another (the registry's DOWNSTREAM_SERVICES), a generated one too."""

import time

import httpx
import pytest
from conftest import BREAKER_RESET
from localstack import BY_NAME, REGISTRY, LocalStack, depends_on
from seed import seed, spec_of
from zipkin import missing as zipkin_missing

from sanicms.contract.published import collection_path
from sanicms.testing.processes import eventually, free_port


@pytest.fixture(scope="module")
def stack(pg_server, tmp_path_factory, request):
    """Every service, reporting its spans to the real Zipkin server when it can run here (the
    trace test below needs it; the others run either way)."""
    ports = {s.name: free_port() for s in REGISTRY}
    env = {"CLIENT_BREAKER_RESET": str(BREAKER_RESET), "TRACING_FLUSH_INTERVAL": "0.05"}
    if not zipkin_missing():
        env["ZIPKIN_URL"] = request.getfixturevalue("zipkin").url
    stack = LocalStack(pg_server, ports=ports, log_dir=tmp_path_factory.mktemp("logs"), db_prefix="e2e_",
                       fresh=True, env=env).start()
    yield stack
    stack.stop()


def post(url, body):
    res = httpx.post(url, json=body, timeout=10)
    assert res.status_code == 201, res.text
    return res.json()["data"]


def test_user_is_served_with_city_and_role_from_the_other_services(stack):
    city = post(stack.url("city") + "/cities", {"name": "Hangzhou", "province": "Zhejiang"})
    role = post(stack.url("role") + "/roles", {"name": "editor"})
    user = post(stack.url("user") + "/users",
                {"name": "Li", "age": 40, "sex": "male", "city_id": city["id"], "role_id": role["id"]})

    res = httpx.get(f"{stack.url('user')}/users/{user['id']}", timeout=10)

    assert res.status_code == 200
    body = res.json()
    assert body["code"] == 0
    assert body["data"]["city"] == city
    assert body["data"]["role"] == role


def test_listing_fills_in_every_user(stack):
    res = httpx.get(stack.url("user") + "/users", params={"page_size": 100}, timeout=10)
    assert res.status_code == 200
    users = res.json()["data"]
    assert users and all(u["city"] and u["role"] for u in users)


def test_reference_to_a_missing_city_is_refused_through_real_http(stack):
    res = httpx.post(stack.url("user") + "/users",
                     json={"name": "X", "age": 1, "sex": "f", "city_id": 99999, "role_id": 1}, timeout=10)
    assert res.status_code == 400
    assert {"field": "city_id", "message": "city 99999 does not exist"} in res.json()["error"]


def test_city_down_is_a_prompt_503_then_fails_fast_and_recovery_needs_no_restart(stack):
    city = post(stack.url("city") + "/cities", {"name": "Xi'an", "province": "Shaanxi"})
    role = post(stack.url("role") + "/roles", {"name": "ops"})
    user = post(stack.url("user") + "/users",
                {"name": "Wu", "age": 33, "sex": "female", "city_id": city["id"], "role_id": role["id"]})
    url = f"{stack.url('user')}/users/{user['id']}"

    stack.processes["city"].stop()
    res = httpx.get(url, timeout=10)
    assert res.status_code == 503
    assert res.json()["code"] == 50303  # unreachable, after the retries
    assert res.json()["error"] == {"service": "city"}

    # Four more failed calls open the circuit (CLIENT_BREAKER_THRESHOLD=5): from then on the
    # dead neighbour is not called at all (50304, not 50303), and the answer says when to retry.
    for _ in range(4):
        assert httpx.get(url, timeout=10).status_code == 503
    res = httpx.get(url, timeout=10)
    assert (res.status_code, res.json()["code"]) == (503, 50304)
    assert int(res.headers["retry-after"]) >= 1

    # City comes back: once the circuit half-opens, one probe closes it, no restart.
    stack.processes["city"].start()
    time.sleep(BREAKER_RESET + 0.1)
    assert httpx.get(url, timeout=10).status_code == 200
    assert all(httpx.get(url, timeout=10).status_code == 200 for _ in range(5))


@pytest.fixture(scope="module")
def seeded(stack):
    return seed({s.name: stack.url(s.name) for s in REGISTRY}, REGISTRY)


@pytest.mark.parametrize("service", [s.name for s in REGISTRY if s.downstreams])
def test_a_read_is_one_trace_through_every_service_it_depends_on(stack, zipkin, seeded, service):
    resource = collection_path(spec_of(stack.url(service)))
    res = httpx.get(f"{stack.url(service)}{resource}/{seeded[service][0]}", timeout=10)
    assert res.status_code == 200, res.text
    trace = res.headers["x-trace-id"]
    expected = depends_on(service)
    assert BY_NAME[service].downstreams and expected > {service}

    eventually(lambda: {s["localEndpoint"]["serviceName"] for s in zipkin.trace(trace)
                        if s.get("kind") == "SERVER"} == expected, f"the server spans of {expected} in Zipkin")
    spans = zipkin.trace(trace)
    assert {s["traceId"] for s in spans} == {trace}
    by_id = {s["id"]: s for s in spans}
    [root] = [s for s in spans if s.get("kind") == "SERVER" and s["localEndpoint"]["serviceName"] == service]
    assert "parentId" not in root
    for server in (s for s in spans if s.get("kind") == "SERVER" and s is not root):
        callee = server["localEndpoint"]["serviceName"]
        call = by_id[server["parentId"]]  # each hop's server span hangs under its caller's client span
        assert call["kind"] == "CLIENT" and call["remoteEndpoint"]["serviceName"] == callee
        assert callee in BY_NAME[call["localEndpoint"]["serviceName"]].downstreams
