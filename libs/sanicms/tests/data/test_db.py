"""The pool: connections lent and taken back, a 503 when there are none, and the observers
each statement is shown to."""

import contextlib

import pytest

from sanicms import ServiceUnavailable
from sanicms.data.db import Database
from sanicms.testing.processes import free_port

from .conftest import connected


@pytest.mark.asyncio
async def test_unreachable_database_is_a_503():
    async with connected(f"postgresql://nobody@127.0.0.1:{free_port()}/none", connect_timeout=1) as db:
        with pytest.raises(ServiceUnavailable) as info:
            async with db.acquire() as cur:
                await cur.fetchval("SELECT 1")
        stats = db.stats()
    assert info.value.status_code == 503 and info.value.code == 50301
    assert stats["in_use"] == 0


@pytest.mark.asyncio
async def test_closed_pool_is_a_503(database_url):
    db = Database(database_url, min_size=0)
    await db.connect()
    await db.close()
    with pytest.raises(ServiceUnavailable):
        async with db.acquire():
            pass


@pytest.mark.asyncio
async def test_observer_sees_each_statement_but_not_its_values(table):
    seen = []

    class Observer:
        def __init__(self, request, sql):
            seen.append((request, sql))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    async with connected(table) as db:
        db.observe = Observer
        async with db.acquire("req") as cur:
            await cur.fetchval("SELECT $1::text", "secret")
    assert seen == [("req", "SELECT $1::text")]


@pytest.mark.asyncio
async def test_observers_and_timers_given_at_construction_see_every_statement_in_order(table):
    seen = []

    def observer(name):
        @contextlib.contextmanager
        def observe(request, sql):
            seen.append((name, "open", request, sql))
            yield
            seen.append((name, "closed"))
        return observe

    def timer(name):
        def told(sql, seconds, error):
            seen.append((name, sql, seconds >= 0, error))
        return told

    async with connected(table, observers=[observer("outer"), observer("inner")],
                         timers=[timer("first"), timer("second")]) as db, db.acquire("req") as cur:
        await cur.fetchval("SELECT 1")
    assert seen == [("outer", "open", "req", "SELECT 1"), ("inner", "open", "req", "SELECT 1"),
                    ("inner", "closed"), ("outer", "closed"),
                    ("first", "SELECT 1", True, None), ("second", "SELECT 1", True, None)]


def test_the_single_hooks_of_before_read_and_replace_the_lists():
    def spans(request, sql):
        return None

    def metrics(sql, seconds, error):
        return None

    db = Database("postgresql://nobody@127.0.0.1:1/none", observers=[spans], timers=[metrics])
    assert db.observers == (spans,) and db.timers == (metrics,)
    assert db.observe is spans and db.timer is metrics  # one: the hook itself, no layer per statement
    assert db.statement_observer is spans and db.statement_timer is metrics  # what a checkout hands its cursor
    db.observe = None
    db.timers += (metrics,)
    assert db.observers == () and db.statement_observer is None
    assert db.timers == (metrics, metrics) and db.statement_timer is not metrics


def test_every_name_imported_from_the_module_before_it_was_split_still_is():
    from sanicms.data import checkout, errors, session
    from sanicms.data.db import (
        COMMIT_UNKNOWN_MESSAGE,
        UNAVAILABLE_MESSAGE,
        Checkout,
        Cursor,
        DatabaseUnavailable,
        PooledConnection,
        Stateless,
        StatementObserver,
        StatementTimer,
        connection_lost,
        reset_session,
        translate,
    )

    assert (Checkout, Cursor, StatementObserver, StatementTimer) == (
        checkout.Checkout, checkout.Cursor, checkout.StatementObserver, checkout.StatementTimer)
    assert (COMMIT_UNKNOWN_MESSAGE, UNAVAILABLE_MESSAGE, DatabaseUnavailable, connection_lost, translate) == (
        errors.COMMIT_UNKNOWN_MESSAGE, errors.UNAVAILABLE_MESSAGE, errors.DatabaseUnavailable,
        errors.connection_lost, errors.translate)
    assert (PooledConnection, Stateless, reset_session) == (
        session.PooledConnection, session.Stateless, session.reset_session)
