"""Faults a service must survive, with real processes: a restarted database, a slow
neighbour, and SIGTERM while requests are in flight."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import pytest
from fakes import FakeService, city_answer, role_answer

from sanicms.testing.localdb import LocalPostgres, create_database
from sanicms.testing.processes import ServiceProcess, free_port, migrate

USER = {"name": "Ann", "age": 30, "sex": "f", "city_id": 1, "role_id": 1}


@pytest.fixture(scope="module")
def own_pg():
    """A PostgreSQL this module may stop and start (never the one in DATABASE_URL)."""
    with LocalPostgres() as server:
        yield server


def start_service(package, pg, tmp_path, **env):
    env = {"DATABASE_URL": create_database(pg.url, f"faults_{package}", fresh=True),
           "LOG_LEVEL": "INFO", **{k: str(v) for k, v in env.items()}}
    migrate(package, env)
    return ServiceProcess(package, free_port(), env, log_path=tmp_path / f"{package}.log").start()


@pytest.fixture
def fakes():
    city, role = FakeService(city_answer).start(), FakeService(role_answer).start()
    yield city, role
    city.stop()
    role.stop()


def test_database_restart_gives_503s_then_recovers_without_a_restart(own_pg, tmp_path):
    city = start_service("city_service", own_pg, tmp_path, DB_CONNECT_TIMEOUT=1)
    try:
        res = httpx.post(city.url + "/cities", json={"name": "Lhasa", "province": "Tibet"}, timeout=10)
        url = f"{city.url}/cities/{res.json()['data']['id']}"
        assert httpx.get(url).status_code == 200

        own_pg.stop()
        for _ in range(3):
            res = httpx.get(url, timeout=10)
            assert res.status_code == 503, res.text
            assert res.json() == {"code": 50301, "message": "the database is unavailable, retry shortly",
                                  "error": None}
            assert "Traceback" not in res.text and "asyncpg" not in res.text
        ready = httpx.get(city.url + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["error"]["checks"]["database"] != "ok"
        res = httpx.post(city.url + "/cities", json={"name": "Kashgar", "province": "Xinjiang"}, timeout=10)
        assert res.status_code == 503

        own_pg.start()
        res = httpx.get(url, timeout=10)
        assert res.status_code == 200, res.text  # the first request after the restart already works
        assert httpx.get(city.url + "/readyz", timeout=10).status_code == 200
        assert city.proc.poll() is None  # same process throughout
    finally:
        assert city.stop() == 0
    log = city.log_path.read_text()
    assert "unhandled error" not in log and '"level":"ERROR"' not in log
    assert log.count("database unavailable (") == 1 and log.count("database available again") == 1


def test_slow_neighbour_is_a_504_on_time_and_its_call_is_cancelled(own_pg, tmp_path, fakes):
    slow_city, role = fakes
    user = start_service("user_service", own_pg, tmp_path, CLIENT_TIMEOUT=0.5,
                         CITY_SERVICE_URL=slow_city.url, ROLE_SERVICE_URL=role.url)
    try:
        created = httpx.post(user.url + "/users", json=USER, timeout=10).json()["data"]
        slow_city.delay = 3.0
        res = httpx.get(f"{user.url}/users/{created['id']}", timeout=10)
        assert res.status_code == 504
        assert res.json() == {"code": 50401, "message": "city service did not answer in time",
                              "error": {"service": "city"}}
        deadline = time.monotonic() + 10
        while slow_city.cancelled == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert slow_city.cancelled == 1, "the timed-out call was left running"
        assert slow_city.calls == 2  # one for the create, one for the timed-out get: no retry on timeout
    finally:
        user.stop()


def test_sigterm_lets_in_flight_requests_finish(own_pg, tmp_path, fakes):
    slow_city, role = fakes
    user = start_service("user_service", own_pg, tmp_path, CLIENT_TIMEOUT=5, GRACEFUL_SHUTDOWN_TIMEOUT=10,
                         CITY_SERVICE_URL=slow_city.url, ROLE_SERVICE_URL=role.url)
    created = httpx.post(user.url + "/users", json=USER, timeout=10).json()["data"]
    slow_city.delay = 1.0
    url = f"{user.url}/users/{created['id']}"

    async def load():
        async with httpx.AsyncClient(timeout=10) as client:
            calls = [asyncio.create_task(client.get(url)) for _ in range(20)]
            await asyncio.sleep(0.4)  # all 20 are now waiting on the slow city
            user.proc.send_signal(signal.SIGTERM)
            return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(load())
    code = user.proc.wait(15)
    statuses = [r.status_code if isinstance(r, httpx.Response) else repr(r) for r in results]
    assert statuses == [200] * 20
    assert code == 0
    assert slow_city.calls == 21 and slow_city.cancelled == 0  # every in-flight call answered
    log = user.log_path.read_text()
    assert "Unclosed client session" not in log and "Unclosed connector" not in log
    assert "database pool closed" in log and "tracing stopped" in log  # after the requests, in order
    assert log.index("database pool closed") < log.index("tracing stopped")
    user.stop()
