"""A connection lent to a block of code: the :class:`Cursor` it is used through, and the
:class:`Checkout` that decides its fate at the end of the block.

The checkout talks to its pool (:class:`~sanicms.data.db.Database`) through ``take``,
``release`` and ``discard``, and to the pool's outage tracker
(:class:`~sanicms.data.outage.OutageTracker`) through ``epoch``, ``current``, ``refuse``,
``served`` and ``count_commit_unknown``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg
from sanic import Request

from .errors import (
    COMMIT_UNKNOWN_MESSAGE,
    DB_ERRORS,
    NOT_SENT,
    DatabaseUnavailable,
    connection_lost,
    describe,
    translate,
)
from .session import Stateless

if TYPE_CHECKING:
    from .db import Database
    from .replicas import Replica

#: ``request.ctx`` attribute set once a request opened a transaction, or wrote through a
#: replica's checkout: its later reads go to the primary, so it sees what it wrote.
WROTE = "sanicms_wrote"

log = logging.getLogger("sanicms.data.db")  # see outage.log

#: Hook called around each statement: ``observer(request, sql)`` returns a context
#: manager, or None. Tracing gives one; without any, statements run bare.
StatementObserver = Callable[[Request | None, str], Any]
#: Told of each statement once it ended: ``timer(sql, seconds, driver error or None)``.
#: Metrics give one; a call, not a context manager, to keep the request path short.
StatementTimer = Callable[[str, float, BaseException | None], None]


class Cursor:
    """One connection, with results as dicts and errors as API errors."""

    __slots__ = ("_conn", "_observe", "_replica", "_request", "_stateful", "_timer")

    def __init__(self, conn: asyncpg.Connection, request: Request | None, observe: StatementObserver | None,
                 timer: StatementTimer | None = None) -> None:
        self._conn = conn
        self._request = request
        self._observe = observe
        self._timer = timer
        self._stateful = False  # a statement other than Stateless ran, or the raw connection went out
        self._replica: Replica | None = None  # reading from this replica (see Checkout)

    async def fetch(self, sql: str | Stateless, *args: Any) -> list[dict[str, Any]]:
        rows = await self._run(self._conn.fetch, sql, args)
        return [dict(row) for row in rows]

    async def fetchrow(self, sql: str | Stateless, *args: Any) -> dict[str, Any] | None:
        row = await self._run(self._conn.fetchrow, sql, args)
        return None if row is None else dict(row)

    async def fetchval(self, sql: str | Stateless, *args: Any, column: int = 0) -> Any:
        return await self._run(self._conn.fetchval, sql, args, column=column)

    async def execute(self, sql: str | Stateless, *args: Any) -> str:
        status: str = await self._run(self._conn.execute, sql, args)  # asyncpg's command tag
        return status

    async def executemany(self, sql: str | Stateless, args: Sequence[Sequence[Any]]) -> None:
        await self._run(self._conn.executemany, sql, (args,))

    @property
    def connection(self) -> asyncpg.Connection:
        """The raw asyncpg connection, for what the cursor does not wrap (COPY, LISTEN).
        Whatever it is used for, the session is reset when the checkout ends."""
        self._stateful = True
        return self._conn

    async def _run(self, method: Callable[..., Awaitable[Any]], sql: str | Stateless, args: Sequence[Any],
                   **kwargs: Any) -> Any:
        if isinstance(sql, Stateless):
            sql = sql.text
        else:
            self._stateful = True
        observer = self._observe(self._request, sql) if self._observe else None
        timer = self._timer
        started = time.perf_counter() if timer is not None else 0.0
        failure: BaseException | None = None
        try:
            if observer is None:
                return await method(sql, *args, **kwargs)
            with observer:
                return await method(sql, *args, **kwargs)
        except DB_ERRORS as exc:
            failure = exc
            if self._replica is None or not await self._left_replica(exc):
                raise translate(exc) from exc
        finally:
            if timer is not None:
                timer(sql, time.perf_counter() - started, failure)
        # The replica failed it (see Checkout): once more, on the primary.
        return await self._run(getattr(self._conn, method.__name__), sql, args, **kwargs)

    async def _left_replica(self, exc: BaseException) -> bool:
        """Whether the checkout moved to the primary after ``exc`` on its replica (Checkout)."""
        return False


def _closed(conn: asyncpg.Connection) -> bool:
    try:
        closed: bool = conn.is_closed()
        return closed
    except asyncpg.InterfaceError:  # asyncpg took it back to the pool when it closed
        return True


class Checkout(Cursor):
    """``async with db.acquire(request) as cur``: a :class:`Cursor` on a pooled connection,
    in a transaction when asked; the checkout is the cursor (one object per block:
    docs/benchmarks.md, 'One respond for every concern'). A plain class rather than
    ``@asynccontextmanager``: it runs twice per request on every service, and generators cost
    more than they say.

    Its exit decides the connection's fate. Healthy (the block succeeded, or failed with
    an answer from the server or an error of its own): committed or rolled back, then
    released. Lost or in an unknown state (a connection error at any step, a rollback that
    fails, a cancelled statement): terminated, and a lost database is a 503."""

    __slots__ = ("_db", "_epoch", "_primary", "_transactional", "_tx")

    def __init__(self, db: Database, request: Request | None, *, transactional: bool,
                 replica: Replica | None = None) -> None:
        # Cursor's fields set here rather than through its __init__: one call less per block.
        self._db = db
        self._request = request
        self._observe = db.statement_observer
        self._timer = db.statement_timer
        self._transactional = transactional
        self._stateful = False
        self._conn: asyncpg.Connection | None = None  # until entered
        self._tx: Any = None
        self._epoch = 0
        self._replica = replica
        if replica is not None:  # a read on a replica: ``db`` is the primary, which stays the fallback
            self._primary: Database = db
            self._db = replica.db
            self._observe = replica.db.statement_observer
            self._timer = replica.db.statement_timer

    async def __aenter__(self) -> Cursor:
        db = self._db
        epoch = self._epoch = db.tracker.epoch
        try:
            conn = self._conn = await db.take(epoch)
        except Exception as exc:  # refused, unreachable, a password it does not know: the primary
            if self._replica is None:
                raise
            await self._to_primary(f"connecting: {describe(exc.__cause__ or exc)}")
            return self
        if self._transactional:
            try:
                self._tx = conn.transaction()
                await self._tx.start()
            except BaseException as exc:
                # A BEGIN that fails leaves the connection in no known state (asyncpg marks
                # it as in a transaction before sending it).
                self._conn = self._tx = None
                if not connection_lost(exc):
                    db.discard(conn)
                    if isinstance(exc, DB_ERRORS):
                        raise translate(exc) from exc
                    raise
                error = DatabaseUnavailable()
                db.tracker.refuse(error, epoch, exc, "starting a transaction")
                db.discard(conn)
                raise error from exc
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        db, conn, tx = self._db, self._conn, self._tx
        self._conn = self._tx = None
        if conn is None:  # it left a replica and the primary had no connection: counted there
            return
        if exc is None:
            if tx is not None:
                if _closed(conn):
                    # Lost after the last statement: COMMIT never went out, so the server
                    # rolls the transaction back. Known outcome: nothing was saved.
                    error = DatabaseUnavailable()
                    db.tracker.refuse(error, self._epoch, asyncpg.ConnectionDoesNotExistError(
                        "connection lost before COMMIT"), "committing")
                    db.discard(conn)
                    raise error
                try:
                    await tx.commit()
                except BaseException as error:
                    failure = await self._commit_failed(conn, error)
                    if failure is error:
                        raise
                    raise failure from error
            await db.release(conn, clean=not self._stateful)
            if db.tracker.current is not None:  # the one question while the database serves
                db.tracker.served(self._epoch)
            return

        tracker = db.tracker
        if isinstance(exc, DatabaseUnavailable):
            # From a statement on this connection (uncounted yet), or from another checkout
            # nested in this block (counted there; this connection may be fine).
            own = not exc.counted
            tracker.refuse(exc, self._epoch, exc.__cause__ or exc, "running a statement")
            if own:
                db.discard(conn)
                return
        elif connection_lost(exc):
            # A driver error straight from the raw connection (``cur.connection``).
            lost = DatabaseUnavailable()
            tracker.refuse(lost, self._epoch, exc, "running a statement")
            db.discard(conn)
            raise lost from exc
        elif isinstance(exc, asyncio.CancelledError):
            # Cut off mid-statement perhaps: what the server did and will send is unknown.
            db.discard(conn)
            return
        if tx is not None and not await self._rolled_back(conn, tx):
            return
        await db.release(conn, clean=not self._stateful)
        if isinstance(exc, DB_ERRORS):  # from the raw connection: an answer like any other
            raise translate(exc) from exc

    # A read on a replica (``replica`` given): when the replica fails it, at the start or
    # mid-statement, it goes on on the primary. Reads there run outside a transaction, each
    # statement on its own, so running the failed one again is safe. Nothing of this runs
    # while the replica answers.

    async def _left_replica(self, exc: BaseException) -> bool:
        replica = self._replica
        assert replica is not None, "only asked on a replica"
        if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):  # a write sent through acquire()
            log.debug("a write sent through acquire() to replica %s: run on the primary", replica.server)
            if self._request is not None:
                setattr(self._request.ctx, WROTE, True)  # it reads its write from now on
            await self._db.release(self._conn)
        elif connection_lost(exc):
            self._db.discard(self._conn)
            replica.out(f"connection lost: {describe(exc)}")
        else:
            return False
        self._conn = None
        await self._to_primary(None)
        return True

    async def _to_primary(self, reason: str | None) -> None:
        """Go on on the primary (``reason``: why the replica is taken out, None to leave it in)."""
        replica, primary = self._replica, self._primary
        assert replica is not None, "only on a replica"
        if reason is not None:
            replica.out(reason)
        self._replica = None
        self._db = primary
        self._observe = primary.statement_observer
        self._timer = primary.statement_timer
        epoch = self._epoch = primary.tracker.epoch
        self._conn = await primary.take(epoch)

    async def _rolled_back(self, conn: asyncpg.Connection, tx: Any) -> bool:
        """Roll back after a failed block; a connection that cannot is discarded (False)."""
        try:
            await tx.rollback()  # raises at once, not when awaited, on a closed connection
            return True
        except asyncio.CancelledError:
            self._db.discard(conn)
            raise
        except Exception as error:  # the failure being handled matters more than this one
            self._db.discard(conn)
            log.debug("rollback failed, connection discarded: %s", type(error).__name__)
            return False

    async def _commit_failed(self, conn: asyncpg.Connection, error: BaseException) -> BaseException:
        """What a failed COMMIT becomes. The server refusing it (a deferred constraint, a
        serialization failure) is an answer: the transaction is rolled back and the
        connection fine. Anything else cut the COMMIT off: it may or may not have happened."""
        db = self._db
        if isinstance(error, asyncpg.PostgresError) and not connection_lost(error):
            await db.release(conn, clean=not self._stateful)
            return translate(error)
        if isinstance(error, NOT_SENT):
            # Refused by the driver before anything went out (the connection was closed,
            # or its protocol stuck in an operation a crash cut off): not committed.
            unsent = DatabaseUnavailable()
            db.tracker.refuse(unsent, self._epoch, error, "committing")
            db.discard(conn)
            return unsent
        failure: BaseException = error  # a cancelled request: nobody left to answer
        if not isinstance(error, asyncio.CancelledError):
            failure = DatabaseUnavailable(COMMIT_UNKNOWN_MESSAGE, error={"commit": "unknown"})
            db.tracker.refuse(failure, self._epoch, error, "committing")
        db.discard(conn)
        db.tracker.count_commit_unknown()
        request = self._request
        log.warning("commit outcome unknown on %s %s: %s during COMMIT; the change may or may not have been saved",
                    getattr(request, "method", "-"), getattr(request, "path", "-"), type(error).__name__,
                    extra={"pid": os.getpid(), "commit": "unknown"})
        return failure
