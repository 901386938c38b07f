"""A rolling restart under load behind a real load balancer (Debian's haproxy) loses nothing.

haproxy stands in front of two city instances and two user instances, checking each one's
``/readyz`` every 200 ms, as a cluster's endpoints do; user calls city through it. Under a
bounded wrk load on ``GET /users/<id>`` and ``POST /cities``, every instance is restarted in
turn: SIGTERM, wait for its exit, a new one on the same port, wait until haproxy sends to it
again. With ``SHUTDOWN_DRAIN_SECONDS`` the instance leaves haproxy's rotation before it stops
accepting: every request is answered 2xx, wrk sees no socket error, and every 201 wrk saw is a
row in the table. The same run with a drain of 0 shows what the drain prevents.

haproxy and wrk come from ``make haproxy-deps``; without them the test skips, and fails where
``HAPROXY_TEST_REQUIRED`` is set (CI installs them).
"""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
import uuid
from pathlib import Path

import psycopg2
import pytest
from haproxy.balancer import Balancer, missing
from required import require

from sanicms.testing.localdb import create_database
from sanicms.testing.processes import ServiceProcess, free_port, migrate

COUNT_LUA = Path(__file__).resolve().parents[1] / "deploy" / "haproxy" / "count.lua"
#: Requests answered per wrk thread after which it stops: a bound, far above what a run makes.
CAP = 200_000
#: The most a run may take (wrk's -d); wrk is stopped with SIGINT once the restarts are done.
LOAD_BOUND = "150s"
DRAIN = 2  # seconds: ten of haproxy's checks
CONNECTIONS = 4  # per wrk


def require_tools() -> None:
    require("rolling-restart", missing(), "HAPROXY_TEST_REQUIRED")


@pytest.fixture(scope="module")
def databases(pg_server):
    urls = {}
    for name in ("city", "role", "user"):
        urls[name] = create_database(pg_server, f"rolling_{name}", fresh=True)
        migrate(f"{name}_service", {"DATABASE_URL": urls[name]})
    return urls


def post_json(url: str, body: dict) -> dict:
    """POST a JSON body; the created record (the envelope's data)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 201
        return json.loads(resp.read())["data"]


class Wrk:
    """wrk in the background with deploy/haproxy/count.lua; ``result()`` stops it and reads its counts."""

    def __init__(self, url: str, *args: str, connections: int = CONNECTIONS) -> None:
        self.proc = subprocess.Popen(["wrk", "-t2", f"-c{connections}", f"-d{LOAD_BOUND}", "--timeout", "10s",
                                      "-s", str(COUNT_LUA), url, "--", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def result(self) -> dict:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # wrk stops and reports
        out, _ = self.proc.communicate(timeout=60)
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        assert lines, out
        result = json.loads(lines[0].removeprefix("RESULT "))
        result["output"] = out
        return result


def run_rolling_restart(databases: dict[str, str], workdir: Path, drain: float) -> dict:
    """Start the system, restart each city and user instance once under load; what wrk and the table saw."""
    workdir.mkdir(parents=True, exist_ok=True)
    common = {"TRACING_ENABLED": "false", "SHUTDOWN_DRAIN_SECONDS": str(drain), "GRACEFUL_SHUTDOWN_TIMEOUT": "15",
              "LOG_LEVEL": "WARNING"}
    ports = {"city1": free_port(), "city2": free_port(), "user1": free_port(), "user2": free_port()}
    balancer = Balancer({"city": free_port(), "user": free_port()},
                        {"city": {"city1": ports["city1"], "city2": ports["city2"]},
                         "user": {"user1": ports["user1"], "user2": ports["user2"]}},
                        stats_port=free_port(), workdir=workdir)
    role = ServiceProcess("role_service", free_port(), {**common, "DATABASE_URL": databases["role"]},
                          log_path=workdir / "role.log")
    envs = {
        # city with two workers, user with one: the drain of both kinds of server
        "city": {**common, "DATABASE_URL": databases["city"], "WORKERS": "2"},
        "user": {**common, "DATABASE_URL": databases["user"], "CITY_SERVICE_URL": balancer.url("city"),
                 "ROLE_SERVICE_URL": role.url},
    }
    instances: dict[str, ServiceProcess] = {}

    def start(name: str) -> ServiceProcess:
        service = name.rstrip("12")
        instances[name] = ServiceProcess(f"{service}_service", ports[name], envs[service],
                                         log_path=workdir / f"{name}.log").start(timeout=60)
        return instances[name]

    loads: list[Wrk] = []
    restarts = {}
    try:
        role.start(timeout=60)
        balancer.start()
        for name in ports:
            start(name)
        for name in ports:
            balancer.wait_until(name.rstrip("12"), name, "UP")
        city = post_json(balancer.url("city") + "/cities", {"name": f"rolling-{uuid.uuid4().hex[:8]}", "province": "R"})
        role_id = post_json(role.url + "/roles", {"name": f"rolling-{uuid.uuid4().hex[:8]}"})
        user = post_json(balancer.url("user") + "/users", {
            "name": "roller", "age": 30, "sex": "f", "city_id": city["id"], "role_id": role_id["id"]})
        prefix = f"rolling-{uuid.uuid4().hex[:12]}"
        loads = [Wrk(f"{balancer.url('user')}/users/{user['id']}", "get", str(CAP)),
                 Wrk(balancer.url("city"), "post", prefix, str(CAP))]
        for name in ports:  # one at a time, as a Deployment's rolling update with maxUnavailable 1
            service = name.rstrip("12")
            restarts[name] = instances[name].stop(timeout=60)  # SIGTERM; the exit code
            start(name)
            balancer.wait_until(service, name, "UP")
        results = [load.result() for load in loads]
        haproxy_saw = balancer.failed_requests()
    finally:
        for load in loads:
            if load.proc.poll() is None:
                load.proc.kill()
        for proc in [*instances.values(), role]:
            proc.stop()
        balancer.stop()
    with psycopg2.connect(databases["city"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM cities WHERE name LIKE %s", (prefix + "-%",))
        [(rows,)] = cur.fetchall()
    conn.close()
    return {"restarts": restarts, "get": results[0], "post": results[1], "rows": rows, "haproxy": haproxy_saw}


def failures(run: dict) -> list[str]:
    """What went wrong in a run, in words: empty when nothing did."""
    found = [f"{name} exited {code} on SIGTERM" for name, code in run["restarts"].items() if code != 0]
    for kind in ("get", "post"):
        result = run[kind]
        wrong = {status: n for status, n in result["statuses"].items() if not status.startswith("2")}
        if wrong:
            found.append(f"{kind}: answered {wrong} (of {result['requests']})")
        errors = {name: n for name, n in result["errors"].items() if n and name != "status"}
        if errors:
            found.append(f"{kind}: wrk socket errors {errors}")
    created = run["post"]["statuses"].get("201", 0)
    if run["rows"] < created:
        found.append(f"post: {created} answered 201 but {run['rows']} rows in the table")
    if run["haproxy"]:
        found.append(f"haproxy's log: {run['haproxy']}")
    return found


def test_a_rolling_restart_behind_haproxy_answers_every_request_and_keeps_every_write(databases, tmp_path):
    require_tools()
    run = run_rolling_restart(databases, tmp_path / "drain", DRAIN)
    print(json.dumps({k: v for k, v in run.items() if k not in ("get", "post")}),
          {kind: {k: v for k, v in run[kind].items() if k != "output"} for kind in ("get", "post")})
    assert run["get"]["requests"] > 0 and run["post"]["requests"] > 0
    assert run["post"]["statuses"].get("201", 0) > 0
    assert failures(run) == []
    # the requests wrk had on its connections when it was stopped may have been written, unanswered
    assert run["rows"] - run["post"]["statuses"]["201"] <= CONNECTIONS


def test_without_the_drain_the_same_restart_fails_requests(databases, tmp_path):
    require_tools()
    run = run_rolling_restart(databases, tmp_path / "no-drain", 0)
    found = failures(run)
    print("without the drain:", found)
    assert run["get"]["requests"] > 0 and run["post"]["requests"] > 0
    assert found, "no request failed without the drain: this run shows nothing the drain prevents"
