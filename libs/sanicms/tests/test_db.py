"""asyncpg access: dict rows, transactions, and driver errors as API errors."""

import asyncio
import time

import pytest

from sanicms import Conflict, ServiceUnavailable
from sanicms.db import Database
from sanicms.errors import BadRequest


async def with_db(url, body, **kwargs):
    db = Database(url, min_size=1, max_size=3, **kwargs)
    await db.connect()
    try:
        return await body(db)
    finally:
        await db.close()


def run(url, body, **kwargs):
    return asyncio.run(with_db(url, body, **kwargs))


@pytest.fixture
def table(database_url):
    async def create(db):
        async with db.acquire() as cur:
            await cur.execute("DROP TABLE IF EXISTS things")
            await cur.execute("CREATE TABLE things (id serial PRIMARY KEY, name text UNIQUE NOT NULL, n int4)")
    run(database_url, create)
    return database_url


def test_rows_are_plain_dicts(table):
    async def body(db):
        async with db.transaction() as cur:
            row = await cur.fetchrow("INSERT INTO things (name, n) VALUES ($1, $2) RETURNING *", "a", 1)
        async with db.acquire() as cur:
            return row, await cur.fetch("SELECT * FROM things"), await cur.fetchval("SELECT count(*) FROM things")
    row, rows, count = run(table, body)
    assert row == {"id": 1, "name": "a", "n": 1} and type(row) is dict
    assert rows == [row] and type(rows[0]) is dict and count == 1


def test_transaction_rolls_back_on_any_exception(table):
    async def body(db):
        with pytest.raises(ZeroDivisionError):
            async with db.transaction() as cur:
                await cur.execute("INSERT INTO things (name) VALUES ('gone')")
                1 / 0
        async with db.acquire() as cur:
            return await cur.fetchval("SELECT count(*) FROM things")
    assert run(table, body) == 0


def test_driver_errors_become_api_errors(table):
    async def body(db):
        async with db.transaction() as cur:
            await cur.execute("INSERT INTO things (name) VALUES ('x')")
        with pytest.raises(Conflict) as dup:
            async with db.transaction() as cur:
                await cur.execute("INSERT INTO things (name) VALUES ('x')")
        with pytest.raises(BadRequest):
            async with db.acquire() as cur:
                await cur.fetchrow("SELECT * FROM things WHERE n = $1", 2**40)  # beyond int4
        with pytest.raises(BadRequest):
            async with db.transaction() as cur:
                await cur.execute("INSERT INTO things (name) VALUES (NULL)")
        return dup.value
    error = run(table, body)
    assert error.status_code == 409 and error.error == {"constraint": "things_name_key"}


def test_unreachable_database_is_a_quick_503():
    async def body(db):
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as info:
            async with db.acquire() as cur:
                await cur.fetchval("SELECT 1")
        return info.value, time.monotonic() - started
    error, elapsed = run("postgresql://nobody@127.0.0.1:1/none", body, connect_timeout=1)
    assert error.status_code == 503 and error.code == 50301 and elapsed < 1.5


def test_closed_pool_is_a_503(database_url):
    async def body():
        db = Database(database_url, min_size=0)
        await db.connect()
        await db.close()
        with pytest.raises(ServiceUnavailable):
            async with db.acquire():
                pass
    asyncio.run(body())


def test_observer_sees_each_statement_but_not_its_values(table):
    seen = []

    class Observer:
        def __init__(self, request, sql):
            seen.append((request, sql))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    async def body(db):
        db.observe = Observer
        async with db.acquire("req") as cur:
            await cur.fetchval("SELECT $1::text", "secret")
    run(table, body)
    assert seen == [("req", "SELECT $1::text")]
