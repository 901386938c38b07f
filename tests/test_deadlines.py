"""Deadlines travel across the real services: user called with a short budget while city's
database holds it up answers 504 (the caller's deadline, not its own client timeout); city
cancels the work it was given, says so in its log, and sees no retry; a spent budget is
refused before any work.

City is slowed by its real database: the test holds a lock on its table, so city's read waits
in PostgreSQL as it would behind a long migration or a stuck transaction."""

import contextlib
import json

import httpx
import psycopg2
import pytest
from localstack import LocalStack
from prometheus_client.parser import text_string_to_metric_families

from sanicms.deadlines import HEADER
from sanicms.errors import ErrorCode
from sanicms.testing.localdb import database_url
from sanicms.testing.processes import eventually, free_port

PREFIX = "deadline_"
BUDGET = "2S"  # what user's caller gives it; CLIENT_TIMEOUT (5 s) is longer


@pytest.fixture(scope="module")
def stack(pg_server, tmp_path_factory):
    ports = {name: free_port() for name in ("city", "role", "user")}
    stack = LocalStack(pg_server, ports=ports, log_dir=tmp_path_factory.mktemp("logs"), db_prefix=PREFIX,
                       fresh=True, env={"CLIENT_TIMEOUT": "5"}).start()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def records(stack):
    def post(service, path, body):
        res = httpx.post(stack.url(service) + path, json=body, timeout=10)
        assert res.status_code == 201, res.text
        return res.json()["data"]
    city = post("city", "/cities", {"name": "Ningbo", "province": "Zhejiang"})
    role = post("role", "/roles", {"name": "reader"})
    user = post("user", "/users", {"name": "Wu", "age": 30, "sex": "female", "city_id": city["id"],
                                   "role_id": role["id"]})
    return city, role, user


@contextlib.contextmanager
def cities_locked(pg_server):
    """City's table locked by another session: every statement on it waits until released."""
    conn = psycopg2.connect(database_url(pg_server, PREFIX + "city"), connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("LOCK TABLE cities IN ACCESS EXCLUSIVE MODE")
        yield
    finally:
        conn.rollback()
        conn.close()


def metric(stack, service, name, **labels):
    text = httpx.get(stack.url(service) + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def deadline_lines(stack, service):
    """What ``service`` logged about deadlines: (verdict, message) per line."""
    lines = []
    for raw in (stack.log_dir / f"{service}.log").read_text().splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("deadline"):
            lines.append((record["deadline"], record.get("message", "")))
    return lines


def test_a_short_budget_through_user_to_a_slow_city_is_a_504_and_city_drops_the_work(stack, records, pg_server):
    city, _, user = records
    route = {"method": "GET", "route": "/cities/{id}"}
    served_before = sum(metric(stack, "city", "sanicms_http_requests_total", **route, status=s)
                        for s in ("200", "504"))
    logged_before = len(deadline_lines(stack, "city"))

    with cities_locked(pg_server):
        res = httpx.get(f"{stack.url('user')}/users/{user['id']}", headers={HEADER: BUDGET}, timeout=30)

    assert res.status_code == 504
    body = res.json()
    assert body["code"] == ErrorCode.DEADLINE_EXCEEDED, body  # the caller's deadline, not CLIENT_TIMEOUT's 50401
    assert set(body) == {"code", "message", "error"}
    # city was asked once, cancelled that work when its budget ended, and was not asked again
    lines = eventually(lambda: deadline_lines(stack, "city")[logged_before:], "city logged the cancelled work")
    assert [verdict for verdict, _ in lines] == ["cancelled"]
    assert f"GET /cities/{city['id']} cancelled" in lines[0][1]
    served = sum(metric(stack, "city", "sanicms_http_requests_total", **route, status=s) for s in ("200", "504"))
    assert served - served_before == 1
    assert metric(stack, "city", "sanicms_http_requests_total", **route, status="504") >= 1
    assert metric(stack, "user", "sanicms_downstream_retries_total", neighbour="city") == 0
    # and city is well again once its database is
    again = httpx.get(f"{stack.url('user')}/users/{user['id']}", headers={HEADER: BUDGET}, timeout=30)
    assert again.status_code == 200 and again.json()["data"]["city"] == city


def test_a_spent_budget_is_refused_before_any_work(stack, records):
    listed = httpx.get(stack.url("city") + "/cities", params={"page_size": 100}, timeout=10).json()["data"]
    logged_before = len(deadline_lines(stack, "city"))

    res = httpx.post(stack.url("city") + "/cities", json={"name": "Too late", "province": "Nowhere"},
                     headers={HEADER: "0m"}, timeout=10)

    assert res.status_code == 504 and res.json()["code"] == ErrorCode.DEADLINE_EXCEEDED
    after = httpx.get(stack.url("city") + "/cities", params={"page_size": 100}, timeout=10).json()["data"]
    assert after == listed  # nothing written
    lines = eventually(lambda: deadline_lines(stack, "city")[logged_before:], "city logged the refusal")
    assert [verdict for verdict, _ in lines] == ["refused"]
