"""PostgreSQL access over an asyncpg pool.

``acquire(request)`` for reads, ``transaction(request)`` for writes. Both hand out a
:class:`Cursor` whose methods return plain dicts, and translate driver failures into the
library's errors: a lost database is a 503, a duplicate a 409, never a traceback.
The ``request`` argument is the seam tracing uses to hang SQL spans under the request span.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from .errors import BadRequest, Conflict, ServiceUnavailable

log = logging.getLogger("sanicms.db")

#: Hook called around each statement: ``observer(request, sql)`` returns a context
#: manager, or None. Tracing installs one; without it, statements run bare.
StatementObserver = Callable[[Any, str], Any]

# Failures that mean "no database right now" rather than "bad statement".
_UNAVAILABLE = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections
    asyncpg.InterfaceError,  # "connection is closed" and the like
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)
# A value asyncpg could not encode (an id beyond int32, say): the client's fault.
_CLIENT_DATA_ERROR = asyncpg.exceptions._base.DataError
_DB_ERRORS = (asyncpg.PostgresError, *_UNAVAILABLE)


class Cursor:
    """One connection, with results as dicts and errors as API errors."""

    __slots__ = ("_conn", "_request", "_observe")

    def __init__(self, conn: asyncpg.Connection, request: Any, observe: StatementObserver | None) -> None:
        self._conn = conn
        self._request = request
        self._observe = observe

    async def fetch(self, sql: str, *args: Any) -> list[dict]:
        rows = await self._run(self._conn.fetch, sql, args)
        return [dict(row) for row in rows]

    async def fetchrow(self, sql: str, *args: Any) -> dict | None:
        row = await self._run(self._conn.fetchrow, sql, args)
        return None if row is None else dict(row)

    async def fetchval(self, sql: str, *args: Any, column: int = 0) -> Any:
        return await self._run(self._conn.fetchval, sql, args, column=column)

    async def execute(self, sql: str, *args: Any) -> str:
        return await self._run(self._conn.execute, sql, args)

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        await self._run(self._conn.executemany, sql, (args,))

    @property
    def connection(self) -> asyncpg.Connection:
        """The raw asyncpg connection, for what the cursor does not wrap (COPY, LISTEN)."""
        return self._conn

    async def _run(self, method: Callable, sql: str, args: Sequence[Any], **kwargs: Any) -> Any:
        observer = self._observe(self._request, sql) if self._observe else None
        try:
            if observer is None:
                return await method(sql, *args, **kwargs)
            with observer:
                return await method(sql, *args, **kwargs)
        except _DB_ERRORS as exc:
            raise translate(exc) from exc


def translate(exc: BaseException) -> BaseException:
    """Driver error -> API error; unknown ones pass through as 500s (and are logged)."""
    if isinstance(exc, _CLIENT_DATA_ERROR):
        return BadRequest("a value is out of range or of the wrong type")
    if isinstance(exc, _UNAVAILABLE):
        return _unavailable(exc)
    if isinstance(exc, asyncpg.exceptions.UniqueViolationError):
        return Conflict("a record with the same unique value already exists",
                        error={"constraint": exc.constraint_name})
    if isinstance(exc, asyncpg.exceptions.ForeignKeyViolationError):
        return BadRequest("a referenced record does not exist", error={"constraint": exc.constraint_name})
    if isinstance(exc, asyncpg.exceptions.CheckViolationError):
        return BadRequest("a value breaks a rule of the data", error={"constraint": exc.constraint_name})
    if isinstance(exc, asyncpg.exceptions.NotNullViolationError):
        return BadRequest("a required value is missing", error={"column": exc.column_name})
    if isinstance(exc, asyncpg.exceptions.DataError):
        return BadRequest("a value is out of range or of the wrong type")
    return exc


def _unavailable(exc: BaseException) -> ServiceUnavailable:
    log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
    return ServiceUnavailable("the database is unavailable, retry shortly", code=50301)


class Database:
    """An asyncpg pool opened before the server starts and closed when it stops."""

    def __init__(self, dsn: str, *, min_size: int = 2, max_size: int = 10,
                 connect_timeout: float = 5.0, command_timeout: float = 10.0) -> None:
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.pool: asyncpg.Pool | None = None
        self.observe: StatementObserver | None = None

    @classmethod
    def from_settings(cls, settings: dict) -> "Database":
        return cls(
            settings["DATABASE_URL"],
            min_size=settings["DB_POOL_MIN_SIZE"],
            max_size=settings["DB_POOL_MAX_SIZE"],
            connect_timeout=settings["DB_CONNECT_TIMEOUT"],
            command_timeout=settings["DB_COMMAND_TIMEOUT"],
        )

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
        )
        try:
            await self._warm_up()
        except _DB_ERRORS as exc:
            log.warning("database not reachable at start-up (%s); will retry on demand", exc)

    async def _warm_up(self) -> None:
        conns = [await asyncio.wait_for(self.pool.acquire(), self.connect_timeout)
                 for _ in range(self.min_size)]
        for conn in conns:
            await self.pool.release(conn)

    async def close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            try:
                await asyncio.wait_for(pool.close(), timeout=self.connect_timeout)
                log.info("database pool closed")
            except _DB_ERRORS as exc:
                pool.terminate()
                log.warning("database pool terminated: %s", type(exc).__name__)

    def acquire(self, request: Any = None) -> "Checkout":
        """A connection for reads, no transaction (each statement commits on its own)."""
        return Checkout(self, request, transactional=False)

    def transaction(self, request: Any = None) -> "Checkout":
        """A connection inside a transaction: committed on success, rolled back on any error."""
        return Checkout(self, request, transactional=True)

    async def take(self) -> asyncpg.Connection:
        """A pooled connection, or a 503 within ``connect_timeout``."""
        pool = self.pool
        if pool is None:
            raise ServiceUnavailable("the database pool is not open", code=50302)
        try:
            if pool.get_idle_size():
                # A connection is free: acquiring cannot wait on other requests, and
                # (re)connecting is bounded by the pool's own connect timeout. This skips
                # a timer per request on the hot path.
                return await pool.acquire()
            # asyncio.timeout rather than acquire(timeout=): the latter wraps the acquire in
            # wait_for, a task per call.
            async with asyncio.timeout(self.connect_timeout):
                return await pool.acquire()
        except _DB_ERRORS as exc:
            raise translate(exc) from exc

    async def give_back(self, conn: asyncpg.Connection, failure: BaseException | None) -> None:
        """Return ``conn`` to the pool. After a lost database every idle connection is
        dead too: expire them all so the pool reconnects instead of failing one request
        per corpse."""
        if isinstance(failure, ServiceUnavailable):
            await _quietly(self.pool.expire_connections())
        await _quietly(self.pool.release(conn))

    def stats(self) -> dict[str, int]:
        """Open connections, idle ones, and those lent out (``in_use`` is 0 when at rest)."""
        if self.pool is None:
            return {"size": 0, "idle": 0, "in_use": 0}
        size, idle = self.pool.get_size(), self.pool.get_idle_size()
        return {"size": size, "idle": idle, "in_use": size - idle}

    async def ping(self) -> None:
        """Raise ServiceUnavailable unless the database answers ``SELECT 1``."""
        async with self.acquire() as cur:
            await cur.fetchval("SELECT 1")


class Checkout:
    """``async with db.acquire(request) as cur``: a :class:`Cursor` on a pooled connection,
    in a transaction when asked. A plain class rather than ``@asynccontextmanager``: it
    runs twice per request on every service, and generators cost more than they say."""

    __slots__ = ("_db", "_request", "_transactional", "_conn", "_tx")

    def __init__(self, db: Database, request: Any, *, transactional: bool) -> None:
        self._db = db
        self._request = request
        self._transactional = transactional
        self._conn: asyncpg.Connection | None = None
        self._tx: Any = None

    async def __aenter__(self) -> Cursor:
        conn = self._conn = await self._db.take()
        if self._transactional:
            try:
                self._tx = conn.transaction()
                await self._tx.start()
            except BaseException as exc:
                failure = translate(exc) if isinstance(exc, _DB_ERRORS) else exc
                await self._db.give_back(conn, failure)
                if failure is exc:
                    raise
                raise failure from exc
        return Cursor(conn, self._request, self._db.observe)

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        failure = exc
        try:
            if self._tx is not None:
                if exc is None:
                    try:
                        await self._tx.commit()
                    except _DB_ERRORS as error:
                        failure = translate(error)
                        raise failure from error
                else:
                    await _quietly(self._tx.rollback())
        finally:
            await self._db.give_back(self._conn, failure)


async def _quietly(awaitable: Any) -> None:
    """Clean-up after a failure must not hide the failure."""
    try:
        await awaitable
    except Exception as exc:  # connection already gone
        log.debug("ignored during clean-up: %r", exc)
