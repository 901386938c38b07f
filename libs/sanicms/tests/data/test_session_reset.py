"""The session reset on release: skipped after Table's statements only, and what it clears.

Each pool here holds one connection, so every checkout gets the one the last left behind;
PostgreSQL's own ``pg_stat_activity`` says which statement that connection ran last.
"""

import asyncio
import contextlib

import asyncpg
import peewee
import pytest

from sanicms import BadRequest, Database, Page, Stateless, Table
from sanicms.data.checkout import _closed

PROBE = "sanicms_reset_probe"


class Widget(peewee.Model):
    id = peewee.AutoField()
    name = peewee.CharField(max_length=30)

    class Meta:
        table_name = "widgets"


@contextlib.asynccontextmanager
async def one_connection(database_url, **kwargs):
    """A pool of one connection, named so that pg_stat_activity can find it."""
    separator = "&" if "?" in database_url else "?"
    db = Database(f"{database_url}{separator}application_name={PROBE}", min_size=1, max_size=1, **kwargs)
    await db.connect()
    try:
        async with db.transaction() as cur:
            await cur.execute("DROP TABLE IF EXISTS widgets; CREATE TABLE widgets (id serial PRIMARY KEY, name text)")
        yield db
    finally:
        await db.close()


async def last_statement(database_url):
    """What the pool's connection ran last, seen from another connection."""
    conn = await asyncpg.connect(database_url)
    try:
        found: str = await conn.fetchval("SELECT query FROM pg_stat_activity WHERE application_name = $1", PROBE)
        return found
    finally:
        await conn.close()


def was_reset(statement):
    return "RESET ALL" in statement


@pytest.mark.asyncio
async def test_a_checkout_of_table_statements_only_skips_the_reset(database_url):
    table = Table(Widget)
    async with one_connection(database_url) as db:
        async with db.transaction() as cur:
            await table.insert(cur, {"name": "a"})
        after_insert = await last_statement(database_url)
        async with db.acquire() as cur:
            found = await table.get(cur, 1)
        after_get = await last_statement(database_url)
    assert found == {"id": 1, "name": "a"}
    assert not was_reset(after_insert) and "COMMIT" in after_insert.upper()
    assert not was_reset(after_get) and after_get.startswith("SELECT") and "widgets" in after_get


@pytest.mark.asyncio
async def test_any_other_statement_resets_the_session(database_url):
    table = Table(Widget)
    async with one_connection(database_url) as db:
        async with db.acquire() as cur:
            await table.get(cur, 1)
            await cur.execute("SET statement_timeout = 12345")  # the service's own SQL, after Table's
        after = await last_statement(database_url)
        async with db.acquire() as cur:
            timeout = await cur.fetchval("SHOW statement_timeout")
    assert was_reset(after)
    assert timeout != "12345ms"


@pytest.mark.asyncio
async def test_an_advisory_lock_is_released_with_the_connection(database_url):
    async with one_connection(database_url) as db:
        async with db.acquire() as cur:
            assert await cur.fetchval("SELECT pg_try_advisory_lock(4242)")
        other = await asyncpg.connect(database_url)
        try:
            free = await other.fetchval("SELECT pg_try_advisory_lock(4242)")
        finally:
            await other.close()
    assert free


@pytest.mark.asyncio
async def test_the_raw_connection_handed_out_means_a_reset(database_url):
    async with one_connection(database_url) as db:
        async with db.acquire() as cur:
            await cur.connection.execute("SET work_mem = '7MB'")
        async with db.acquire() as cur:
            work_mem = await cur.fetchval(Stateless("SHOW work_mem"))
    assert work_mem != "7MB"


@pytest.mark.asyncio
async def test_reset_always_resets_after_table_statements_too(database_url):
    table = Table(Widget)
    async with one_connection(database_url, reset_always=True) as db:
        async with db.acquire() as cur:
            await table.get(cur, 1)
        after = await last_statement(database_url)
    assert was_reset(after)


@pytest.mark.asyncio
async def test_a_table_statement_refused_by_the_server_leaves_a_working_connection(database_url):
    table = Table(Widget)
    async with one_connection(database_url) as db:
        async with db.transaction() as cur:
            await cur.execute("ALTER TABLE widgets ALTER COLUMN name SET NOT NULL")
        with pytest.raises(BadRequest):
            async with db.transaction() as cur:
                await table.insert(cur, {"name": "b"})
                await table.insert(cur, {"name": None})  # refused by PostgreSQL: the block is rolled back
        after = await last_statement(database_url)
        async with db.acquire() as cur:
            rows = await table.page(cur, Page(page=1, page_size=10))
            in_transaction = cur.connection.is_in_transaction()
    assert not was_reset(after)
    assert rows == ([], 0)
    assert not in_transaction


@pytest.mark.asyncio
async def test_a_connection_lost_during_a_stateless_checkout_keeps_the_answer(database_url):
    async with one_connection(database_url) as db:
        async with db.acquire() as cur:
            pid = await cur.fetchval(Stateless("SELECT pg_backend_pid()"))
            killer = await asyncpg.connect(database_url)
            try:
                await killer.execute("SELECT pg_terminate_backend($1)", pid)
            finally:
                await killer.close()
            for _ in range(200):  # until asyncpg has noticed and taken the connection back (2 s at most)
                if _closed(cur._conn):
                    break
                await asyncio.sleep(0.01)
            assert _closed(cur._conn)
        async with db.acquire() as cur:  # a new connection in its place
            again = await cur.fetchval(Stateless("SELECT 1"))
    assert again == 1


@pytest.mark.asyncio
async def test_a_transaction_left_open_on_the_raw_connection_is_rolled_back(database_url):
    """asyncpg's own part of the reset (a ROLLBACK) still runs beside this library's hook."""
    table = Table(Widget)
    async with one_connection(database_url) as db:
        async with db.acquire() as cur:
            await cur.connection.execute("BEGIN")
            await table.insert(cur, {"name": "never committed"})
        async with db.acquire() as cur:
            in_transaction = cur.connection.is_in_transaction()
            rows = await table.page(cur, Page(page=1, page_size=10))
    assert not in_transaction
    assert rows == ([], 0)
