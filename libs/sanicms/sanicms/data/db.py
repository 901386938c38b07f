"""PostgreSQL access over an asyncpg pool.

``acquire(request)`` for reads, ``transaction(request)`` for writes. Both hand out a
:class:`Cursor` whose methods return plain dicts, and translate driver failures into the
library's errors: a lost database is a 503, a duplicate a 409, never a traceback.
The ``request`` argument is the seam tracing uses to hang SQL spans under the request span.

A connection goes back to the pool without asyncpg's session reset (a round trip per checkout:
``RESET ALL``, ``UNLISTEN *``, advisory locks released, cursors closed) when its checkout ran
only :class:`Stateless` statements, which :class:`sanicms.Table` writes: they read and write rows
and leave the session as they found it. Any other statement, or the raw connection handed
out, and the reset runs as usual. ``DB_RESET_ALWAYS`` runs it after every checkout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
from sanic import Request

from ..config import DatabaseSettings
from ..errors import BadRequest, Conflict, ErrorCode, ServiceUnavailable

log = logging.getLogger("sanicms.data.db")

#: Hook called around each statement: ``observer(request, sql)`` returns a context
#: manager, or None. Tracing installs one; without it, statements run bare.
StatementObserver = Callable[[Request | None, str], Any]
#: Told of each statement once it ended: ``timer(sql, seconds, driver error or None)``.
#: Metrics install one; a call, not a context manager, to keep the request path short.
StatementTimer = Callable[[str, float, BaseException | None], None]

# Failures that mean "no database right now" rather than "bad statement". Whatever the
# connection was doing when one of these came, it is not trusted again: it is terminated.
_UNAVAILABLE = (
    asyncpg.exceptions.PostgresConnectionError,  # 08xxx, ConnectionDoesNotExistError included
    asyncpg.exceptions.OperatorInterventionError,  # admin/crash shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections
    asyncpg.InterfaceError,  # "connection is closed", "another operation is in progress"
    # The protocol's own state broken by a connection cut mid-operation, e.g. "cannot switch
    # to state 15; another operation (2) is in progress" after a crash.
    asyncpg.exceptions._base.InternalClientError,
    ConnectionError,
    OSError,  # asyncio.TimeoutError included
)
# Raised by asyncpg before it writes anything: "connection is closed", "another operation is
# in progress", "cannot switch to state N". (A connection lost once a message is out is a
# ConnectionDoesNotExistError, an OSError or a timeout.)
_NOT_SENT = (asyncpg.InterfaceError, asyncpg.exceptions._base.InternalClientError)
# A value asyncpg could not encode (an id beyond int32, say): the client's fault.
_CLIENT_DATA_ERROR = asyncpg.exceptions._base.DataError
_DB_ERRORS = (asyncpg.PostgresError, *_UNAVAILABLE)

#: What every request refused because the database is gone is told (503, code 50301).
UNAVAILABLE_MESSAGE = "the database is unavailable, retry shortly"
#: ... and one whose COMMIT was cut off: nobody can say whether it was saved.
COMMIT_UNKNOWN_MESSAGE = ("the database connection was lost during commit: "
                          "the change may or may not have been saved")


class DatabaseUnavailable(ServiceUnavailable):
    """The unified 503 (``50301``) of a request the database could not serve. The outage
    behind it is logged once by :class:`Database`, so the error handler keeps it at DEBUG."""

    logged = True

    def __init__(self, message: str = UNAVAILABLE_MESSAGE, *, error: Any = None) -> None:
        super().__init__(message, code=ErrorCode.DATABASE_UNAVAILABLE, error=error)
        self.counted = False  # in the outage's count of refused requests


class Stateless:
    """SQL known to leave no session state behind (no ``SET``, advisory lock, ``LISTEN``,
    cursor ``WITH HOLD``): a checkout that ran only these skips the reset. Table's statements
    are; wrap a service's own only when that holds for it and any trigger it fires. (Not a
    ``str`` subclass: asyncpg takes exact strings only.)"""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Stateless({self.text!r})"


class PooledConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg ships partial types
    """A pool's connection that can be told its session needs no reset on this release."""

    __slots__ = ("_session_clean",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session_clean = False

    def mark_session_clean(self) -> None:
        """Only :class:`Stateless` statements ran since this connection was taken."""
        self._session_clean = True

    def take_session_clean(self) -> bool:
        clean, self._session_clean = self._session_clean, False
        return clean


async def reset_session(conn: PooledConnection) -> None:
    """The pool's ``reset``, after asyncpg's own part (an open transaction rolled back,
    listeners dropped): the session reset, unless the checkout marked the session clean."""
    if conn.take_session_clean():
        return
    query = conn.get_reset_query()
    if query:
        await conn.execute(query)


class Cursor:
    """One connection, with results as dicts and errors as API errors."""

    __slots__ = ("_conn", "_observe", "_request", "_stateful", "_timer")

    def __init__(self, conn: asyncpg.Connection, request: Request | None, observe: StatementObserver | None,
                 timer: StatementTimer | None = None) -> None:
        self._conn = conn
        self._request = request
        self._observe = observe
        self._timer = timer
        self._stateful = False  # a statement other than Stateless ran, or the raw connection went out

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
        except _DB_ERRORS as exc:
            failure = exc
            raise translate(exc) from exc
        finally:
            if timer is not None:
                timer(sql, time.perf_counter() - started, failure)


def translate(exc: BaseException) -> BaseException:
    """Driver error -> API error; unknown ones pass through as 500s (and are logged)."""
    if isinstance(exc, _CLIENT_DATA_ERROR):
        return BadRequest("a value is out of range or of the wrong type")
    if isinstance(exc, _UNAVAILABLE):
        return DatabaseUnavailable()
    if isinstance(exc, asyncpg.exceptions.UniqueViolationError):
        return Conflict("a record with the same unique value already exists",
                        error={"constraint": exc.constraint_name})
    # A 400's `error` lists problems by field, as the input checks' do (the spec's ValidationError).
    if isinstance(exc, asyncpg.exceptions.ForeignKeyViolationError) and "still referenced" in (exc.detail or ""):
        return Conflict("the record is still referenced by others", error={"constraint": exc.constraint_name})
    if isinstance(exc, asyncpg.exceptions.ForeignKeyViolationError):
        return BadRequest("a referenced record does not exist", error=[
            {"field": _key_column(exc), "message": f"no such record ({exc.constraint_name})"}])
    if isinstance(exc, asyncpg.exceptions.CheckViolationError):
        return BadRequest("a value breaks a rule of the data", error=[
            {"field": "", "message": f"breaks the rule {exc.constraint_name}"}])
    if isinstance(exc, asyncpg.exceptions.NotNullViolationError):
        return BadRequest("a required value is missing",
                          error=[{"field": exc.column_name or "", "message": "required"}])
    if isinstance(exc, asyncpg.exceptions.DataError):
        return BadRequest("a value is out of range or of the wrong type")
    return exc


def _key_column(exc: asyncpg.exceptions.ForeignKeyViolationError) -> str:
    """The column of a foreign key PostgreSQL names in its detail: ``Key (city_id)=(7) is not
    present in table "cities".`` (the value itself is not repeated back)."""
    found = re.match(r"Key \(([^)]*)\)=", exc.detail or "")
    return found.group(1) if found else ""


def connection_lost(exc: BaseException) -> bool:
    """Does ``exc`` (a driver error, or the API error made of one) mean the connection it
    came from is gone or in an unknown state?"""
    if isinstance(exc, DatabaseUnavailable):
        return True
    return isinstance(exc, _UNAVAILABLE) and not isinstance(exc, _CLIENT_DATA_ERROR)


class _Outage:
    """One stretch of "no database", from the first request it failed to the first request
    served on a connection opened after that."""

    __slots__ = ("commits_unknown", "discarded", "epoch", "refused", "started")

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.started = time.monotonic()
        self.refused = 0  # requests answered 503 (50301)
        self.discarded = 0  # connections terminated instead of returned to the pool
        self.commits_unknown = 0  # COMMITs cut off: saved or not, nobody knows


class Database:
    """An asyncpg pool opened before the server starts and closed when it stops.

    When the database goes away (stopped, crashed, unreachable) every request that needs it
    gets the unified 503 (``50301``) and every connection that failed is terminated, never
    returned to the pool. The outage is logged once: a WARNING when it begins, an INFO when
    the database serves again, with what it cost in between (requests refused, connections
    discarded, commits whose outcome is unknown). Per worker process, like the pool."""

    def __init__(self, dsn: str, *, min_size: int = 2, max_size: int = 10,
                 connect_timeout: float = 5.0, command_timeout: float = 10.0, reset_always: bool = False) -> None:
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.reset_always = reset_always
        self.pool: asyncpg.Pool | None = None
        self.observe: StatementObserver | None = None
        self.timer: StatementTimer | None = None
        self.waiting = 0  # requests waiting for a connection now (none idle): the metrics' pool waiters
        # Outage bookkeeping. The epoch goes up when an outage begins and when it ends; a
        # checkout remembers the one it began in. Only a checkout begun after the outage was
        # declared can declare it over (an answer that was on its way before proves
        # nothing), and a failure of one begun before the last outage ended belongs to that
        # outage, not to a new one.
        self._epoch = 0
        self._outage: _Outage | None = None
        self.outages = 0
        self.refused = 0
        self.discarded = 0
        self.commits_unknown = 0

    @classmethod
    def from_settings(cls, settings: DatabaseSettings) -> Database:
        return cls(settings.url, min_size=settings.pool_min_size, max_size=settings.pool_max_size,
                   connect_timeout=settings.connect_timeout, command_timeout=settings.command_timeout,
                   reset_always=settings.reset_always)

    async def connect(self) -> None:
        """Open the pool. A database that is down at start-up is retried lazily: the
        pool opens with no idle connections and the first request gets a clean 503."""
        self.pool = await asyncpg.create_pool(
            self.dsn,
            min_size=0,
            max_size=self.max_size,
            timeout=self.connect_timeout,
            command_timeout=self.command_timeout,
            max_inactive_connection_lifetime=300,
            connection_class=PooledConnection,
            reset=None if self.reset_always else reset_session,  # None: asyncpg's reset, every time
        )
        try:
            await self._warm_up()
        except _DB_ERRORS as exc:
            log.warning("database not reachable at start-up (%s); will retry on demand", exc,
                        extra={"pid": os.getpid(), "outage": "begin"})
            self._begin_outage(exc, "starting up", quiet=True)

    async def _warm_up(self) -> None:
        pool = self.pool
        assert pool is not None, "connect() opens it first"
        conns = []
        try:
            for _ in range(self.min_size):
                conns.append(await asyncio.wait_for(pool.acquire(), self.connect_timeout))
        finally:
            for conn in conns:
                await pool.release(conn)

    async def close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            try:
                await asyncio.wait_for(pool.close(), timeout=self.connect_timeout)
                log.info("database pool closed")
            except _DB_ERRORS as exc:
                pool.terminate()
                log.warning("database pool terminated: %s", type(exc).__name__)

    def acquire(self, request: Request | None = None) -> Checkout:
        """A connection for reads, no transaction (each statement commits on its own)."""
        return Checkout(self, request, transactional=False)

    def transaction(self, request: Request | None = None) -> Checkout:
        """A connection inside a transaction: committed on success, rolled back on any error."""
        return Checkout(self, request, transactional=True)

    async def take(self, epoch: int | None = None) -> asyncpg.Connection:
        """A pooled connection, or a 503 within ``connect_timeout``."""
        pool = self.pool
        if pool is None:
            raise ServiceUnavailable("the database pool is not open", code=ErrorCode.DATABASE_NOT_OPEN)
        try:
            if not pool._queue.empty():
                # A connection is free: acquiring cannot wait on other requests, and
                # (re)connecting is bounded by the pool's own connect timeout. This skips
                # a timer per request on the hot path. (Asked of asyncpg's queue of free
                # holders: get_idle_size() calls two methods on every holder, 21 Python
                # calls per request with 10.)
                return await pool.acquire()
            # asyncio.timeout rather than acquire(timeout=): the latter wraps the acquire in
            # wait_for, a task per call.
            self.waiting += 1
            try:
                async with asyncio.timeout(self.connect_timeout):
                    return await pool.acquire()
            finally:
                self.waiting -= 1
        except _DB_ERRORS as exc:
            if not connection_lost(exc):
                raise translate(exc) from exc
            error = DatabaseUnavailable()
            cause = exc
            if isinstance(exc, TimeoutError) and not str(exc):
                cause = TimeoutError(f"no connection free or opened within {self.connect_timeout:g} s")
            self._refuse(error, self._epoch if epoch is None else epoch, cause, "connecting")
            raise error from exc

    def stats(self) -> dict[str, int]:
        """Open connections, idle ones, and those lent out (``in_use`` is 0 when at rest)."""
        if self.pool is None:
            return {"size": 0, "idle": 0, "in_use": 0}
        size, idle = self.pool.get_size(), self.pool.get_idle_size()
        return {"size": size, "idle": idle, "in_use": size - idle}

    @property
    def available(self) -> bool:
        """False from the first request an outage failed until one is served again."""
        return self._outage is None

    async def ping(self) -> None:
        """Raise ServiceUnavailable unless the database answers ``SELECT 1``."""
        async with self.acquire() as cur:
            await cur.fetchval(Stateless("SELECT 1"))

    # What becomes of a connection after use.

    async def _release(self, conn: asyncpg.Connection, *, clean: bool = False) -> None:
        """Return a healthy connection to the pool; ``clean``: only Stateless statements ran
        on it. If resetting it fails there (it died just now), asyncpg terminates it; the
        request keeps the outcome it already has."""
        pool = self.pool
        if pool is None:  # closed meanwhile: pool.close() waits for this one
            self._discard(conn)
            return
        if clean and not self.reset_always:
            try:
                conn.mark_session_clean()
            except AttributeError:  # the proxy is detached: the connection was lost, asyncpg took it back
                log.debug("connection lost before its release")
        try:
            await pool.release(conn)
        except asyncio.CancelledError:
            raise  # the release itself is shielded and completes
        except Exception as exc:
            self._discard(conn)
            log.debug("connection discarded at release: %s", type(exc).__name__)

    def _discard(self, conn: asyncpg.Connection) -> None:
        """Terminate a connection that failed or whose state is unknown: the pool replaces
        it on demand. Never released: releasing resets it first, which means I/O on a dead
        socket, or on a live one with a half-done operation, and asyncpg logs an ERROR for
        every connection it finds still in a transaction."""
        self.discarded += 1
        if self._outage is not None:
            self._outage.discarded += 1
        try:
            conn.terminate()
        except Exception as exc:  # already detached from the pool: nothing left to free
            log.debug("connection already gone: %s", type(exc).__name__)

    # Outage bookkeeping: one WARNING when it begins, one INFO when it ends.

    def _refuse(self, error: DatabaseUnavailable, epoch: int, cause: BaseException, during: str) -> None:
        """Count a request answered 503 because the database failed it (once per error)."""
        if error.counted:
            return
        error.counted = True
        self.refused += 1
        outage = self._outage
        if outage is None:
            if epoch < self._epoch:
                # Begun before the last outage ended (waiting for a connection to a
                # database still starting up, say): a late casualty of that one.
                log.debug("database request refused late (%s while %s)", type(cause).__name__, during)
                return
            outage = self._begin_outage(cause, during)
        outage.refused += 1
        log.debug("database request refused (%s while %s)", type(cause).__name__, during)

    def _begin_outage(self, cause: BaseException, during: str, *, quiet: bool = False) -> _Outage:
        self._epoch += 1
        outage = self._outage = _Outage(self._epoch)
        self.outages += 1
        if not quiet:
            log.warning("database unavailable (%s while %s: %s); answering 503 (50301) until it serves again",
                        type(cause).__name__, during, _describe(cause),
                        extra={"pid": os.getpid(), "outage": "begin"})
        # The idle connections died with it too. No pool.expire_connections() here: that
        # closes each one gracefully in a task nobody awaits, and on a dead socket that is
        # an ERROR ("Task exception was never retrieved") per connection. The pool already
        # reconnects a connection it knows is closed, and one that dies in use is discarded.
        return outage

    def _served(self, epoch: int) -> None:
        """A checkout succeeded; if it began after the outage began, the outage is over."""
        outage = self._outage
        if outage is None or epoch < outage.epoch:
            return
        self._outage = None
        self._epoch += 1
        log.info("database available again after %.1f s: %d requests answered 503, %d connections "
                 "discarded, %d commits of unknown outcome",
                 time.monotonic() - outage.started, outage.refused, outage.discarded, outage.commits_unknown,
                 extra={"pid": os.getpid(), "outage": "end", "refused": outage.refused,
                        "discarded": outage.discarded, "commits_unknown": outage.commits_unknown})


def _closed(conn: asyncpg.Connection) -> bool:
    try:
        closed: bool = conn.is_closed()
        return closed
    except asyncpg.InterfaceError:  # asyncpg took it back to the pool when it closed
        return True


def _describe(exc: BaseException) -> str:
    """The driver's words, on one line and short (they never quote statement values here:
    these are connection-level errors)."""
    text = " ".join(str(exc).split())
    return (text[:200] + "...") if len(text) > 200 else (text or "no detail")


class Checkout(Cursor):
    """``async with db.acquire(request) as cur``: a :class:`Cursor` on a pooled connection,
    in a transaction when asked; the checkout is the cursor (one object per block). A plain
    class rather than ``@asynccontextmanager``: it runs twice per request on every service,
    and generators cost more than they say.

    Its exit decides the connection's fate. Healthy (the block succeeded, or failed with
    an answer from the server or an error of its own): committed or rolled back, then
    released. Lost or in an unknown state (a connection error at any step, a rollback that
    fails, a cancelled statement): terminated, and a lost database is a 503."""

    __slots__ = ("_db", "_epoch", "_transactional", "_tx")

    def __init__(self, db: Database, request: Request | None, *, transactional: bool) -> None:
        # Cursor's fields set here rather than through its __init__: one call less per block.
        self._db = db
        self._request = request
        self._observe = db.observe
        self._timer = db.timer
        self._transactional = transactional
        self._stateful = False
        self._conn: asyncpg.Connection | None = None  # until entered
        self._tx: Any = None
        self._epoch = 0

    async def __aenter__(self) -> Cursor:
        db = self._db
        epoch = self._epoch = db._epoch
        conn = self._conn = await db.take(epoch)
        if self._transactional:
            try:
                self._tx = conn.transaction()
                await self._tx.start()
            except BaseException as exc:
                # A BEGIN that fails leaves the connection in no known state (asyncpg marks
                # it as in a transaction before sending it).
                self._conn = self._tx = None
                if not connection_lost(exc):
                    db._discard(conn)
                    if isinstance(exc, _DB_ERRORS):
                        raise translate(exc) from exc
                    raise
                error = DatabaseUnavailable()
                db._refuse(error, epoch, exc, "starting a transaction")
                db._discard(conn)
                raise error from exc
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        db, conn, tx = self._db, self._conn, self._tx
        self._conn = self._tx = None
        if exc is None:
            if tx is not None:
                if _closed(conn):
                    # Lost after the last statement: COMMIT never went out, so the server
                    # rolls the transaction back. Known outcome: nothing was saved.
                    error = DatabaseUnavailable()
                    db._refuse(error, self._epoch, asyncpg.ConnectionDoesNotExistError(
                        "connection lost before COMMIT"), "committing")
                    db._discard(conn)
                    raise error
                try:
                    await tx.commit()
                except BaseException as error:
                    failure = await self._commit_failed(conn, error)
                    if failure is error:
                        raise
                    raise failure from error
            await db._release(conn, clean=not self._stateful)
            if db._outage is not None:
                db._served(self._epoch)
            return

        if isinstance(exc, DatabaseUnavailable):
            # From a statement on this connection (uncounted yet), or from another checkout
            # nested in this block (counted there; this connection may be fine).
            own = not exc.counted
            db._refuse(exc, self._epoch, exc.__cause__ or exc, "running a statement")
            if own:
                db._discard(conn)
                return
        elif connection_lost(exc):
            # A driver error straight from the raw connection (``cur.connection``).
            lost = DatabaseUnavailable()
            db._refuse(lost, self._epoch, exc, "running a statement")
            db._discard(conn)
            raise lost from exc
        elif isinstance(exc, asyncio.CancelledError):
            # Cut off mid-statement perhaps: what the server did and will send is unknown.
            db._discard(conn)
            return
        if tx is not None and not await self._rolled_back(conn, tx):
            return
        await db._release(conn, clean=not self._stateful)
        if isinstance(exc, _DB_ERRORS):  # from the raw connection: an answer like any other
            raise translate(exc) from exc

    async def _rolled_back(self, conn: asyncpg.Connection, tx: Any) -> bool:
        """Roll back after a failed block; a connection that cannot is discarded (False)."""
        try:
            await tx.rollback()  # raises at once, not when awaited, on a closed connection
            return True
        except asyncio.CancelledError:
            self._db._discard(conn)
            raise
        except Exception as error:  # the failure being handled matters more than this one
            self._db._discard(conn)
            log.debug("rollback failed, connection discarded: %s", type(error).__name__)
            return False

    async def _commit_failed(self, conn: asyncpg.Connection, error: BaseException) -> BaseException:
        """What a failed COMMIT becomes. The server refusing it (a deferred constraint, a
        serialization failure) is an answer: the transaction is rolled back and the
        connection fine. Anything else cut the COMMIT off: it may or may not have happened."""
        db = self._db
        if isinstance(error, asyncpg.PostgresError) and not connection_lost(error):
            await db._release(conn, clean=not self._stateful)
            return translate(error)
        if isinstance(error, _NOT_SENT):
            # Refused by the driver before anything went out (the connection was closed,
            # or its protocol stuck in an operation a crash cut off): not committed.
            unsent = DatabaseUnavailable()
            db._refuse(unsent, self._epoch, error, "committing")
            db._discard(conn)
            return unsent
        failure: BaseException = error  # a cancelled request: nobody left to answer
        if not isinstance(error, asyncio.CancelledError):
            failure = DatabaseUnavailable(COMMIT_UNKNOWN_MESSAGE, error={"commit": "unknown"})
            db._refuse(failure, self._epoch, error, "committing")
        db._discard(conn)
        db.commits_unknown += 1
        if db._outage is not None:
            db._outage.commits_unknown += 1
        request = self._request
        log.warning("commit outcome unknown on %s %s: %s during COMMIT; the change may or may not have been saved",
                    getattr(request, "method", "-"), getattr(request, "path", "-"), type(error).__name__,
                    extra={"pid": os.getpid(), "commit": "unknown"})
        return failure
