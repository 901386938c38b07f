"""What sanicms relies on in asyncpg's internals (sanicms/_compat/asyncpg.py).

A failure here after an upgrade names the internal that changed; fix the fence, not the callers.
"""

import asyncio

import asyncpg
import asyncpg.exceptions._base
import pytest

from sanicms._compat.asyncpg import ClientDataError, free_holders


def test_the_client_side_data_error_is_an_interface_error_and_no_server_error():
    assert ClientDataError is asyncpg.exceptions._base.DataError, "asyncpg.exceptions._base.DataError moved"
    assert ClientDataError is not asyncpg.DataError, "asyncpg.DataError is now the client's: the fence is not needed"
    # sanicms asks about it before InterfaceError (a lost connection): it must stay one of those.
    assert issubclass(ClientDataError, asyncpg.InterfaceError), "the client's DataError is no InterfaceError now"
    assert not issubclass(ClientDataError, asyncpg.PostgresError), "the client's DataError is a server error now"


def test_internal_client_error_is_public():
    assert asyncpg.exceptions.InternalClientError is asyncpg.exceptions._base.InternalClientError, \
        "asyncpg.exceptions no longer exports InternalClientError: fence it here"


@pytest.mark.asyncio
async def test_a_value_it_cannot_encode_is_the_public_data_error_and_leaves_the_connection_fine(database_url):
    """sanicms answers it 400 as SQLSTATE 22000's class, and must not read it as a lost connection."""
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.PostgresError) as info:
            await conn.fetchval("SELECT $1::int4", 2**40)
        assert await conn.fetchval("SELECT 1") == 1  # raised before anything was sent
    finally:
        await conn.close()
    assert type(info.value) is asyncpg.exceptions.DataError, f"an unencodable value raises {type(info.value)} now"
    assert not isinstance(info.value, (asyncpg.InterfaceError, ClientDataError))


@pytest.mark.asyncio
async def test_the_free_holders_queue_says_whether_acquire_would_wait(database_url):
    pool = await asyncpg.create_pool(database_url, min_size=0, max_size=2)
    try:
        free = free_holders(pool)
        assert isinstance(free, asyncio.Queue), f"Pool._queue is a {type(free)} now"
        assert free.qsize() == 2 and not free.empty()  # a holder per connection the pool may open, opened or not
        first = await pool.acquire()
        assert not free.empty()
        second = await pool.acquire()
        assert free.empty(), "Pool._queue is not empty with every connection lent out"
        waiting = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0.05)
        assert not waiting.done()  # empty means acquire() waits for a release
        await pool.release(first)
        third = await asyncio.wait_for(waiting, 5)
        await pool.release(second)
        await pool.release(third)
        assert free.qsize() == 2
        await pool.expire_connections()
        assert free_holders(pool) is free, "Pool._queue is replaced during the pool's life: cache it no longer"
    finally:
        await pool.close()
