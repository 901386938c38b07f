"""Read replicas with real processes: the city service (two workers) on a real PostgreSQL
primary and a real streaming replica built with ``pg_basebackup -R`` (sanicms.testing.replication).

- reads land on the replica, writes on the primary (each server's own statistics say so);
- a request that writes, then reads, sees its write (the replica paused cannot have it);
- the replica SIGKILLed under a mixed read/write load: every answer 2xx, every acknowledged
  write on the primary, one WARNING and one INFO per worker, and reads back on the replica
  once it is started again;
- replay paused: past ``DATABASE_REPLICA_MAX_LAG`` reads move to the primary, said once per
  worker, and return after ``pg_wal_replay_resume()``;
- a replica URL that never answers: the service starts, serves from the primary, says so.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from pathlib import Path

import aiohttp
import httpx
import pytest

from sanicms.testing.processes import ServiceProcess, free_port, migrate
from sanicms.testing.replication import ReplicatedPostgres

WORKERS = 2
TESTS = Path(__file__).resolve().parent
PHASE_LIMIT = 60.0  # seconds a phase may take before the test gives up (a bound, not an assertion)


def env_for(pg: ReplicatedPostgres, replica_url: str, **more: str) -> dict[str, str]:
    return {"DATABASE_URL": pg.primary.url("city"), "DATABASE_REPLICA_URLS": replica_url,
            "DATABASE_REPLICA_CHECK_INTERVAL": "0.2", "DB_CONNECT_TIMEOUT": "2", "WORKERS": str(WORKERS),
            "LOG_LEVEL": "INFO", "TRACING_ENABLED": "false", "AUTH_ENABLED": "false",
            "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]), **more}


@pytest.fixture(scope="module")
def pg():
    with ReplicatedPostgres() as pg:
        pg.primary.execute("CREATE DATABASE city")
        yield pg


@pytest.fixture(scope="module")
def city(pg, tmp_path_factory):
    env = env_for(pg, pg.replica.url("city"), DATABASE_REPLICA_MAX_LAG="1")
    migrate("replica_city", env)
    pg.wait_replayed()
    log = tmp_path_factory.mktemp("replicas") / "city.log"
    service = ServiceProcess("replica_city", free_port(), env, log_path=log).start()
    service.wait_workers(WORKERS)
    try:
        yield service
    finally:
        service.stop()


def events(service: ServiceProcess, state: str) -> list[dict]:
    """The replica switches the service logged (``replica_state`` in or out), in order."""
    found = []
    for line in service.log_path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("replica_state") == state:
            found.append(record)
    return found


def wait_for(condition, what: str, timeout: float = PHASE_LIMIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.1)


def read_on(service: ServiceProcess) -> str:
    response = httpx.get(service.url + "/probe/where", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["data"]["read_on"]


def every_worker_reads_from(service: ServiceProcess, server: str) -> bool:
    """20 reads in a row from ``server``: with two workers, both do."""
    return all(read_on(service) == server for _ in range(20))


def index_scans(server, table: str = "cities") -> int:
    rows = server.execute(f"SELECT coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = '{table}'",
                          "city")
    return int(rows[0][0])


def test_reads_land_on_the_replica_and_writes_on_the_primary(pg, city):
    wait_for(lambda: every_worker_reads_from(city, "replica"), "reads on the replica")
    created = [httpx.post(city.url + "/cities", json={"name": f"split-{i}", "province": "p"}, timeout=10)
               for i in range(10)]
    assert [r.status_code for r in created] == [201] * 10
    ids = [r.json()["data"]["id"] for r in created]
    pg.wait_replayed()
    on_primary, on_replica = index_scans(pg.primary), index_scans(pg.replica)
    for city_id in ids * 5:
        response = httpx.get(f"{city.url}/cities/{city_id}", timeout=10)
        assert response.status_code == 200, response.text
    # Each server counts the index scans of the reads it ran (flushed within a second or so).
    wait_for(lambda: index_scans(pg.replica) - on_replica >= 50, "50 reads counted by the replica")
    assert index_scans(pg.primary) == on_primary  # none of them on the primary
    rows = pg.primary.execute("SELECT count(*) FROM cities WHERE name LIKE 'split-%'", "city")
    assert rows[0][0] == 10
    # Both servers list the service's connections under its name.
    sessions = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'city'"
    assert pg.primary.execute(sessions)[0][0] >= 1 and pg.replica.execute(sessions)[0][0] >= 1
    # The metrics: a pool series per role and server, and both workers reading from the replica.
    replica = f"127.0.0.1:{pg.replica.port}"
    wait_for(lambda: metric(city, "sanicms_db_replica_usable", server=replica) == WORKERS, "the usable gauge")
    assert metric(city, "sanicms_db_pool_size", role="replica", server=replica) >= 1
    assert metric(city, "sanicms_db_pool_size", role="primary", server=f"127.0.0.1:{pg.primary.port}") >= 1


def metric(service: ServiceProcess, name: str, **labels: str) -> float | None:
    """A sample's value from the service's /metrics (every worker's, summed), None if absent."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(service.url + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


def test_a_request_that_writes_then_reads_sees_its_write(pg, city):
    wait_for(lambda: every_worker_reads_from(city, "replica"), "reads on the replica")
    pg.pause_replay()  # from now on the replica cannot have any new write
    try:
        assert read_on(city) == "replica"  # a request that did not write still reads from it
        for _ in range(10):
            response = httpx.post(city.url + "/probe/write-then-read", timeout=10)
            assert response.status_code == 200, response.text
            assert response.json()["data"]["seen"] is True and response.json()["data"]["read_on"] == "primary"
    finally:
        pg.resume_replay()


def test_a_replica_killed_under_load_costs_no_request_and_comes_back(pg, city):
    wait_for(lambda: every_worker_reads_from(city, "replica"), "reads on the replica")
    outs, ins = len(events(city, "out")), len(events(city, "in"))
    existing = [r.json()["data"]["id"] for r in
                (httpx.post(city.url + "/cities", json={"name": f"kill-seed-{i}", "province": "p"}, timeout=10)
                 for i in range(5))]
    statuses, acknowledged = asyncio.run(mixed_load(city.url, existing, lambda: restart_replica(pg)))
    assert set(statuses) <= {200, 201}, sorted(set(statuses))
    assert statuses.count(201) == len(acknowledged) > 0
    names = {row[0] for row in pg.primary.execute("SELECT name FROM cities WHERE province = 'load'", "city")}
    assert set(acknowledged) <= names  # nothing acknowledged is lost
    wait_for(lambda: len(events(city, "in")) - ins >= WORKERS, "each worker reading from the replica again")
    assert every_worker_reads_from(city, "replica")
    # One WARNING when it went, one INFO when it came back, per worker: no line per request.
    went = events(city, "out")[outs:]
    assert len(went) == WORKERS and all(e.get("levelname", e.get("level")) == "WARNING" for e in went), went
    assert len(events(city, "in")) - ins == WORKERS


def restart_replica(pg: ReplicatedPostgres) -> None:
    pg.replica.kill()
    time.sleep(1.0)  # down for a while under load (a pause in the scenario, not an assertion)
    pg.replica.start()


async def mixed_load(url: str, ids: list[int], fault) -> tuple[list[int], list[str]]:
    """Readers and writers until the fault (run in a thread) is over and 100 more answers came;
    every request's status, and the names of the writes acknowledged."""
    statuses: list[int] = []
    acknowledged: list[str] = []
    done = asyncio.Event()
    after = 0
    timeout = aiohttp.ClientTimeout(total=30)

    async def reader(session: aiohttp.ClientSession) -> None:
        nonlocal after
        n = 0
        while not (done.is_set() and after >= 100):
            async with session.get(f"{url}/cities/{ids[n % len(ids)]}") as response:
                statuses.append(response.status)
                await response.read()
            n += 1
            if done.is_set():
                after += 1

    async def writer(session: aiohttp.ClientSession, k: int) -> None:
        n = 0
        while not (done.is_set() and after >= 100):
            name = f"load-{k}-{n}"
            async with session.post(f"{url}/cities", json={"name": name, "province": "load"}) as response:
                statuses.append(response.status)
                await response.read()
                if response.status == 201:
                    acknowledged.append(name)
            n += 1

    async def trigger() -> None:
        while len(statuses) < 100:
            await asyncio.sleep(0.02)
        await asyncio.to_thread(fault)
        done.set()

    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.wait_for(asyncio.gather(trigger(), *(reader(session) for _ in range(4)),
                                              *(writer(session, k) for k in range(2))), PHASE_LIMIT * 2)
    return statuses, acknowledged


def test_a_lagging_replica_is_read_from_again_once_it_catches_up(pg, city):
    wait_for(lambda: every_worker_reads_from(city, "replica"), "reads on the replica")
    outs, ins = len(events(city, "out")), len(events(city, "in"))
    pg.pause_replay()
    try:
        response = httpx.post(city.url + "/cities", json={"name": "lag-1", "province": "p"}, timeout=10)
        assert response.status_code == 201  # received by the replica, not replayed
        wait_for(lambda: len(events(city, "out")) - outs >= WORKERS, "each worker taking the replica out")
        assert every_worker_reads_from(city, "primary")
        reasons = [e["message"] for e in events(city, "out")[outs:]]
        assert all("DATABASE_REPLICA_MAX_LAG" in reason for reason in reasons), reasons
    finally:
        pg.resume_replay()
    wait_for(lambda: len(events(city, "in")) - ins >= WORKERS, "each worker reading from the replica again")
    assert every_worker_reads_from(city, "replica")
    assert len(events(city, "out")) - outs == WORKERS  # said once per worker, not per request


def test_a_replica_that_never_answers_at_start_up_leaves_the_reads_to_the_primary(pg, city, tmp_path):
    with socket.socket() as silent:  # accepts connections and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        env = env_for(pg, f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/city")
        service = ServiceProcess("replica_city", free_port(), env, log_path=tmp_path / "silent.log").start()
        try:
            service.wait_workers(WORKERS)
            assert every_worker_reads_from(service, "primary")
            assert httpx.get(service.url + "/cities/1", timeout=10).status_code in (200, 404)
            wait_for(lambda: len(events(service, "out")) >= WORKERS, "each worker saying so")
            said = events(service, "out")
            assert all("not usable at start-up" in e["message"] for e in said), said
            ready = httpx.get(service.url + "/readyz", timeout=10)
            assert ready.status_code == 200  # the primary serves: ready
            pools = httpx.get(service.url + "/healthz", timeout=10).json()["data"]["pools"]
            assert [p["role"] for p in pools] == ["primary", "replica"] and pools[1]["state"] == "out"
        finally:
            service.stop()
