"""A checkout: rows as plain dicts, a transaction committed or rolled back, and the fate of
its connection at every step at which the connection can die."""

import asyncio
import logging

import asyncpg
import pytest

from sanicms import NotFound
from sanicms.data.db import DatabaseUnavailable

from .conftest import closed, count, insert, no_errors_logged, serves_again


@pytest.mark.asyncio
async def test_rows_are_plain_dicts(db):
    async with db.transaction() as cur:
        row = await cur.fetchrow("INSERT INTO things (name, n) VALUES ($1, $2) RETURNING *", "a", 1)
    async with db.acquire() as cur:
        rows, count = await cur.fetch("SELECT * FROM things"), await cur.fetchval("SELECT count(*) FROM things")
    assert row == {"id": 1, "name": "a", "n": 1} and type(row) is dict
    assert rows == [row] and type(rows[0]) is dict and count == 1


@pytest.mark.asyncio
async def test_transaction_rolls_back_on_any_exception(db):
    with pytest.raises(ZeroDivisionError):
        async with db.transaction() as cur:
            await cur.execute("INSERT INTO things (name) VALUES ('gone')")
            raise ZeroDivisionError
    async with db.acquire() as cur:
        assert await cur.fetchval("SELECT count(*) FROM things") == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("statement", [b"BEGIN;", b"INSERT INTO things"], ids=["transaction start", "mid-statement"])
async def test_a_connection_lost_before_commit_is_a_503_and_nothing_is_saved(proxied, caplog, statement):
    async with proxied() as (db, proxy):
        proxy.cut_on = statement
        with pytest.raises(DatabaseUnavailable) as info:
            await insert(db, "lost")
        assert proxy.cuts == 1
        assert await count(db, "lost") == 0
        await serves_again(db, "after")
    error = info.value
    assert (error.status_code, error.code, error.error) == (503, 50301, None)
    no_errors_logged(caplog)


@pytest.mark.asyncio
async def test_a_connection_lost_at_checkout_is_a_503(proxied, caplog):
    async with proxied() as (db, proxy):
        proxy.refuse()
        with pytest.raises(DatabaseUnavailable) as info:
            await count(db)
        await proxy.accept()
        await serves_again(db, "after")
    assert info.value.code == 50301
    no_errors_logged(caplog)


@pytest.mark.asyncio
async def test_a_connection_lost_after_the_last_statement_is_a_503_and_nothing_is_saved(proxied, caplog):
    async with proxied() as (db, proxy):
        async def lose_it(cur):
            proxy.refuse()
            while not closed(cur.connection):  # asyncpg has seen it go
                await asyncio.sleep(0.01)
        with pytest.raises(DatabaseUnavailable) as info:
            await insert(db, "lost", then=lose_it)
        await proxy.accept()
        assert await count(db, "lost") == 0
        await serves_again(db, "after")
    assert info.value.error is None  # COMMIT never went out: the outcome is known
    no_errors_logged(caplog)


@pytest.mark.asyncio
@pytest.mark.parametrize("after_answer", [False, True], ids=["before the server got it", "after it committed"])
async def test_a_commit_cut_off_is_a_503_of_unknown_outcome(proxied, caplog, after_answer):
    caplog.set_level(logging.WARNING, "sanicms.data.db")

    async with proxied() as (db, proxy):
        proxy.cut_on, proxy.after_answer = b"COMMIT;", after_answer
        with pytest.raises(DatabaseUnavailable) as info:
            await insert(db, "maybe")
        saved = await count(db, "maybe")
        await serves_again(db, "after")
    error = info.value
    assert (error.code, error.error) == (50301, {"commit": "unknown"})
    assert "may or may not have been saved" in error.message
    assert saved == (1 if after_answer else 0)  # both happen: hence "unknown"
    assert [r.getMessage() for r in caplog.records if "commit outcome unknown" in r.getMessage()]
    no_errors_logged(caplog)


@pytest.mark.asyncio
async def test_a_rollback_on_a_lost_connection_keeps_the_request_error(proxied, caplog):
    """The issue's first 500: ``Transaction.rollback()`` raises at call time on a closed
    connection. The request's own error is what it answers; the connection is dropped."""
    async with proxied() as (db, proxy):
        async def lose_it_then_fail(cur):
            proxy.refuse()
            while not closed(cur.connection):
                await asyncio.sleep(0.01)
            raise NotFound("no such thing")
        with pytest.raises(NotFound):
            await insert(db, "lost", then=lose_it_then_fail)
        await proxy.accept()

        async def fail(cur):
            raise NotFound("no such thing")
        proxy.cut_on = b"ROLLBACK;"  # and one that dies during the ROLLBACK itself
        with pytest.raises(NotFound):
            await insert(db, "lost", then=fail)
        assert proxy.cuts == 1
        assert await count(db, "lost") == 0
        await serves_again(db, "after")
    no_errors_logged(caplog)


@pytest.mark.asyncio
async def test_a_connection_lost_at_release_keeps_the_answer(proxied, caplog):
    """The work is done (read, or committed) when the pool resets the connection: the request
    keeps its answer, the connection is terminated, the pool lends nothing."""
    async with proxied() as (db, proxy):
        proxy.cut_on = b"RESET ALL;"
        async with db.transaction() as cur:
            row = await cur.fetchrow("INSERT INTO things (name) VALUES ('kept') RETURNING name")
        assert proxy.cuts == 1
        assert await count(db, "kept") == 1
        await serves_again(db, "after")
    assert row == {"name": "kept"}
    no_errors_logged(caplog)


@pytest.mark.asyncio
async def test_a_broken_client_state_at_transaction_start_is_a_503(proxied, caplog, monkeypatch):
    """The issue's second 500: after a crash asyncpg can refuse to start a transaction with
    ``InternalClientError: cannot switch to state 15; another operation (2) is in progress``."""
    async def broken(self):
        raise asyncpg.exceptions.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress")

    async with proxied() as (db, _):
        conns = []
        real_take = db.take

        async def take(epoch=None):
            conns.append(await real_take(epoch))
            return conns[-1]
        db.take = take
        with monkeypatch.context() as patch:
            patch.setattr(asyncpg.transaction.Transaction, "start", broken)
            with pytest.raises(DatabaseUnavailable) as info:
                await insert(db, "lost")
        assert closed(conns[0])  # terminated, not pooled again
        await serves_again(db, "after")
    assert info.value.code == 50301
    no_errors_logged(caplog)


@pytest.mark.asyncio
async def test_a_cancelled_statement_drops_its_connection_quietly(proxied, caplog):
    async with proxied() as (db, _):
        async def slow():
            async with db.transaction() as cur:
                await cur.execute("INSERT INTO things (name) VALUES ('cancelled')")
                await cur.execute("SELECT pg_sleep(5)")
        task = asyncio.create_task(slow())
        while not db.stats()["in_use"]:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await count(db, "cancelled") == 0
        await serves_again(db, "after")
        # The server notices a vanished client when its statement ends: end it now rather
        # than leave its lock on the table to the next test.
        async with db.acquire() as cur:
            await cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE query = 'SELECT pg_sleep(5)' AND pid <> pg_backend_pid()")
    no_errors_logged(caplog)  # no "Resetting connection with an active transaction"
