"""Read replicas on a real primary and a real streaming replica (``pg_basebackup -R``): where
each checkout runs, read-your-writes, a replica that dies (before or during a read), lags,
or never answers, and what each says in the log, once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from types import SimpleNamespace

import pytest
import pytest_asyncio

from sanicms.data.checkout import Checkout
from sanicms.data.db import Database
from sanicms.data.replicas import server_of
from sanicms.testing.processes import free_port
from sanicms.testing.replication import ReplicatedPostgres

WHERE = "SELECT pg_is_in_recovery()"  # true on the replica, false on the primary
LOGGER = "sanicms.data.replicas"


@pytest.fixture(scope="module")
def servers():
    with ReplicatedPostgres() as pg:
        pg.primary.execute("CREATE DATABASE app")
        pg.primary.execute("CREATE TABLE things (id serial PRIMARY KEY, name text)", "app")
        pg.wait_replayed()
        yield pg


def pool(servers, *replicas: str, **kwargs) -> Database:
    return Database(servers.primary.url("app"), min_size=1, max_size=4, connect_timeout=2,
                    replicas=[Database(url, min_size=1, max_size=4, connect_timeout=2, role="replica")
                              for url in replicas],
                    replica_check_interval=0.2, **kwargs)


@contextlib.asynccontextmanager
async def opened(db: Database):
    await db.connect()
    try:
        yield db
    finally:
        await db.close()


async def eventually(condition, what: str, timeout: float = 30) -> None:
    """Poll ``condition`` (a bound on the test's run, not an assertion on time)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.05)


async def in_use(db: Database) -> None:
    await eventually(lambda: all(r.usable for r in db.replicas.all), "every replica read from")


def request() -> SimpleNamespace:
    return SimpleNamespace(ctx=SimpleNamespace())


async def where(db: Database, req=None, **kwargs) -> str:
    async with db.acquire(req, **kwargs) as cur:
        return "replica" if await cur.fetchval(WHERE) else "primary"


@pytest_asyncio.fixture
async def db(servers):
    async with opened(pool(servers, servers.replica.url("app"))) as db:
        await in_use(db)
        yield db


def test_without_replicas_nothing_changes(servers):
    db = Database(servers.primary.url("app"))
    assert db.replicas is None
    assert type(db.acquire()) is Checkout and type(db.acquire(request())) is Checkout


@pytest.mark.asyncio
async def test_reads_go_to_the_replica_and_writes_to_the_primary(db):
    assert await where(db) == "replica"
    assert await where(db, primary=True) == "primary"
    async with db.transaction() as cur:
        assert await cur.fetchval(WHERE) is False


@pytest.mark.asyncio
async def test_a_request_that_wrote_reads_its_write_from_the_primary(db, servers):
    servers.pause_replay()  # the replica cannot have it: only the primary can answer
    try:
        req = request()
        assert await where(db, req) == "replica"
        async with db.transaction(req) as cur:
            new = await cur.fetchval("INSERT INTO things (name) VALUES ('mine') RETURNING id")
        async with db.acquire(req) as cur:
            assert await cur.fetchval("SELECT name FROM things WHERE id = $1", new) == "mine"
            assert await cur.fetchval(WHERE) is False
        assert await where(db, request()) == "replica"  # another request still reads from it
    finally:
        servers.resume_replay()


@pytest.mark.asyncio
async def test_a_write_sent_through_acquire_runs_on_the_primary(db):
    req = request()
    async with db.acquire(req) as cur:
        assert await cur.fetchval(WHERE) is True
        new = await cur.fetchval("INSERT INTO things (name) VALUES ('by mistake') RETURNING id")
        assert await cur.fetchval(WHERE) is False  # the rest of the block stays there
    assert new and await where(db, req) == "primary"


@pytest.mark.asyncio
async def test_a_killed_replica_moves_reads_to_the_primary_without_an_error_and_back(db, servers, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with db.acquire() as cur:  # a connection lent when it dies: cut off mid-read
        servers.replica.kill()
        assert await cur.fetchval(WHERE) is False  # ran again on the primary
    for _ in range(20):
        assert await where(db) == "primary"
    stats = db.pools()
    assert stats[1]["role"] == "replica" and stats[1]["state"] == "out" and stats[1]["reason"]
    servers.replica.start()
    await in_use(db)
    assert await where(db) == "replica"
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == LOGGER]
    assert [level for level, _ in lines] == ["WARNING", "INFO"], lines
    assert "taken out" in lines[0][1] and "read from again" in lines[1][1]
    assert server_of(servers.replica.url()) in lines[0][1]


@pytest.mark.asyncio
async def test_a_lagging_replica_is_not_read_from_until_it_catches_up(servers, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with opened(pool(servers, servers.replica.url("app"), replica_max_lag=0.5)) as db:
        await in_use(db)
        servers.pause_replay()
        try:
            async with db.transaction() as cur:  # something to replay, which it does not
                await cur.execute("INSERT INTO things (name) VALUES ('lag')")
            await eventually(lambda: not db.replicas.all[0].usable, "the replica taken out")
            assert await where(db) == "primary"
            assert "over DATABASE_REPLICA_MAX_LAG" in db.pools()[1]["reason"]
        finally:
            servers.resume_replay()
        await in_use(db)
        assert await where(db) == "replica"
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == LOGGER]
    assert [level for level, _ in lines] == ["INFO", "WARNING", "INFO"], lines  # in use, out, back
    assert "replay lag" in lines[1][1]


@pytest.mark.asyncio
async def test_a_replica_that_never_answers_does_not_hold_up_start_up(servers, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    with socket.socket() as silent:  # accepts connections, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/app"
        async with opened(pool(servers, url)) as db:
            assert await where(db) == "primary"  # at once: not read from before a check passed
            await eventually(lambda: db.replicas.all[0].state == "out", "the replica found unusable")
            assert await where(db) == "primary"
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == LOGGER]
    assert [level for level, _ in lines] == ["WARNING"] and "not usable at start-up" in lines[0][1]


@pytest.mark.asyncio
async def test_a_refused_replica_among_two_leaves_the_reads_to_the_other(servers):
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/app"
    async with opened(pool(servers, dead, servers.replica.url("app"))) as db:
        await eventually(lambda: [r.state for r in db.replicas.all] == ["out", "in"], "one out, one in")
        assert {await where(db) for _ in range(10)} == {"replica"}


@pytest.mark.asyncio
async def test_the_primary_down_is_a_503_even_with_a_replica_up(servers):
    # readiness asks the primary: replicas alone cannot take writes
    db = Database(f"postgresql://postgres@127.0.0.1:{free_port()}/app", min_size=0, connect_timeout=1,
                  replicas=[Database(servers.replica.url("app"), min_size=1, role="replica")],
                  replica_check_interval=0.2)
    async with opened(db):
        await in_use(db)
        assert await where(db) == "replica"
        with pytest.raises(Exception) as info:
            await db.ping()
        assert getattr(info.value, "status_code", None) == 503
