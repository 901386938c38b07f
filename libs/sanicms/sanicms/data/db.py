"""PostgreSQL access over an asyncpg pool.

``acquire(request)`` for reads, ``transaction(request)`` for writes. Both hand out a
:class:`Cursor` whose methods return plain dicts, and translate driver failures into the
library's errors: a lost database is a 503, a duplicate a 409, never a traceback.
The ``request`` argument is the seam tracing uses to hang SQL spans under the request span.

This module is the pool: its life, lending and taking back connections, and the public
:class:`Database`. The rest of ``data/`` by role, after asyncpg's own ``pool.py``:
``errors`` (driver failures as API errors), ``outage`` (one WARNING, one INFO per outage,
and its counts), ``checkout`` (the cursor and the fate of a lent connection) and ``session``
(the session reset, skipped after :class:`Stateless` statements only). Every name that was
imported from here before stays importable from here.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from typing import Any

import asyncpg
from sanic import Request

from .. import observers as _observers
from .._compat.asyncpg import free_holders
from ..config import DatabaseSettings
from ..errors import ErrorCode, ServiceUnavailable
from ..observers import Instrumentation
from .checkout import WROTE, Checkout, Cursor, StatementObserver, StatementTimer
from .errors import (
    COMMIT_UNKNOWN_MESSAGE,
    DB_ERRORS,
    UNAVAILABLE_MESSAGE,
    DatabaseUnavailable,
    connection_lost,
    translate,
)
from .outage import OutageTracker
from .replicas import LAG_SQL, Replica, Replicas, server_of
from .session import PooledConnection, Stateless, reset_session

__all__ = [
    "COMMIT_UNKNOWN_MESSAGE", "UNAVAILABLE_MESSAGE", "Checkout", "Cursor", "Database", "DatabaseUnavailable",
    "PooledConnection", "Stateless", "StatementObserver", "StatementTimer", "connection_lost", "reset_session",
    "translate",
]

log = logging.getLogger("sanicms.data.db")


class Database:
    """An asyncpg pool opened before the server starts and closed when it stops.

    When the database goes away (stopped, crashed, unreachable) every request that needs it
    gets the unified 503 (``50301``) and every connection that failed is terminated, never
    returned to the pool. The outage is logged once: a WARNING when it begins, an INFO when
    the database serves again, with what it cost in between (requests refused, connections
    discarded, commits whose outcome is unknown): see ``tracker``. Per worker process, like
    the pool.

    ``observers`` are called around each statement and ``timers`` told of it once it ended
    (:data:`StatementObserver`, :data:`StatementTimer`), in the order given."""

    _free: asyncio.Queue[Any]  # the pool's free connections, set with it (see take)

    def __init__(self, dsn: str, *, min_size: int = 2, max_size: int = 10,
                 connect_timeout: float = 5.0, command_timeout: float = 10.0, reset_always: bool = False,
                 observers: Iterable[StatementObserver] = (), timers: Iterable[StatementTimer] = (),
                 replicas: Iterable[Database] = (), replica_max_lag: float = 5.0,
                 replica_check_interval: float = 1.0, role: str = "primary", application_name: str = "") -> None:
        self.dsn = dsn
        #: Sent to the server, which shows it in ``pg_stat_activity`` (which service, which pool).
        self.application_name = application_name
        self.role = role
        self.server = server_of(dsn)
        self.min_size = min_size
        self.max_size = max_size
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.reset_always = reset_always
        self.pool: asyncpg.Pool | None = None
        #: What each checkout's cursor calls: the observers (timers) as one, None without any.
        self.statement_observer: StatementObserver | None = None
        self.statement_timer: StatementTimer | None = None
        self._observers: tuple[StatementObserver, ...] = ()
        self._timers: tuple[StatementTimer, ...] = ()
        self.observers = tuple(observers)
        self.timers = tuple(timers)
        self.waiting = 0  # requests waiting for a connection now (none idle): the metrics' pool waiters
        #: Outages: the epoch a checkout begins in, the outage now, and the counts.
        self.tracker = OutageTracker(silent=role == "replica")
        #: Where ``acquire()`` reads (None without replicas: nothing changes, nothing more runs).
        made = [Replica(db) for db in replicas]
        self.replicas = Replicas(made, max_lag=replica_max_lag, interval=replica_check_interval) if made else None

    @classmethod
    def from_settings(cls, settings: DatabaseSettings, *, observers: Iterable[StatementObserver] = (),
                      timers: Iterable[StatementTimer] = (),
                      instrumentation: Iterable[Instrumentation] = (), application_name: str = "") -> Database:
        """``instrumentation``: tracing's and the metrics' hooks, asked for each pool's;
        ``application_name``: the service, shown by the server in ``pg_stat_activity``."""
        hooks = list(instrumentation)
        replicated = bool(settings.replica_urls)

        def pool(url: str, role: str, **more: Any) -> Database:
            told = role if replicated else ""  # the hooks name the server only where there is a choice
            given = [o for i in hooks for o in i.statement_observers(url, told)]
            timed = [t for i in hooks for t in i.statement_timers(url, told)]
            return cls(url, min_size=settings.pool_min_size, max_size=settings.pool_max_size,
                       connect_timeout=settings.connect_timeout, command_timeout=settings.command_timeout,
                       reset_always=settings.reset_always, role=role, application_name=application_name, **more,
                       observers=[*observers, *given] if role == "primary" else given,
                       timers=[*timers, *timed] if role == "primary" else timed)

        return pool(settings.url, "primary", replicas=[pool(url, "replica") for url in settings.replica_urls],
                    replica_max_lag=settings.replica_max_lag,
                    replica_check_interval=settings.replica_check_interval)

    # The observers: lists given at construction (tracing's and the metrics' among them,
    # bound to the worker's tracer and instruments when the server starts).

    @property
    def observers(self) -> tuple[StatementObserver, ...]:
        """Called around each statement, first given outermost; assigning replaces them."""
        return self._observers

    @observers.setter
    def observers(self, observers: Iterable[StatementObserver]) -> None:
        self._observers = tuple(observers)
        self.statement_observer = _observers.around(self._observers)

    @property
    def timers(self) -> tuple[StatementTimer, ...]:
        """Told of each statement once it ended, in order; assigning replaces them."""
        return self._timers

    @timers.setter
    def timers(self, timers: Iterable[StatementTimer]) -> None:
        self._timers = tuple(timers)
        self.statement_timer = _observers.each(self._timers)

    @property
    def observe(self) -> StatementObserver | None:
        """The observers as one (the single hook this was before they became a list);
        assigning one makes it the only observer, None none."""
        return self.statement_observer

    @observe.setter
    def observe(self, observer: StatementObserver | None) -> None:
        self.observers = () if observer is None else (observer,)

    @property
    def timer(self) -> StatementTimer | None:
        """The timers as one (the single hook this was); assigning one makes it the only one."""
        return self.statement_timer

    @timer.setter
    def timer(self, timer: StatementTimer | None) -> None:
        self.timers = () if timer is None else (timer,)

    # The pool's life.

    async def connect(self) -> None:
        """Open the pool. A database that is down at start-up is retried lazily: the
        pool opens with no idle connections and the first request gets a clean 503.
        Replicas open their pools and are checked in the background (see ``replicas``)."""
        await self.open_pool()
        try:
            await self._warm_up()
        except DB_ERRORS as exc:
            log.warning("database not reachable at start-up (%s); will retry on demand", exc,
                        extra={"pid": os.getpid(), "outage": "begin"})
            self.tracker.begin(exc, "starting up", quiet=True)
        if self.replicas is not None:
            await self.replicas.start()

    async def open_pool(self) -> asyncpg.Pool:
        """The pool, open with no connection yet (``connect`` warms it up)."""
        self.pool = pool = await asyncpg.create_pool(
            self.dsn,
            min_size=0,
            max_size=self.max_size,
            timeout=self.connect_timeout,
            command_timeout=self.command_timeout,
            max_inactive_connection_lifetime=300,
            connection_class=PooledConnection,
            **self._server_settings(),
            reset=None if self.reset_always else reset_session,  # None: asyncpg's reset, every time
        )
        self._free = free_holders(pool)
        return pool

    def _server_settings(self) -> dict[str, Any]:
        # asyncpg lets server_settings override the URL's: an application_name there wins here
        if not self.application_name or "application_name=" in self.dsn:
            return {}
        return {"server_settings": {"application_name": self.application_name}}

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
        if self.replicas is not None:
            await self.replicas.stop()
        if self.pool is not None:
            pool, self.pool = self.pool, None
            try:
                await asyncio.wait_for(pool.close(), timeout=self.connect_timeout)
                log.info("database pool closed")
            except DB_ERRORS as exc:
                pool.terminate()
                log.warning("database pool terminated: %s", type(exc).__name__)

    # Lending connections.

    def acquire(self, request: Request | None = None, *, primary: bool = False) -> Checkout:
        """A connection for reads, no transaction (each statement commits on its own): on a
        healthy replica when there are any, on the primary when ``primary`` (a read that must
        see the latest write) or once ``request`` opened a transaction (it reads its writes)."""
        replicas = self.replicas
        if replicas is not None and not primary:
            replica = replicas.pick(request)
            if replica is not None:
                return Checkout(self, request, transactional=False, replica=replica)
        return Checkout(self, request, transactional=False)

    def transaction(self, request: Request | None = None) -> Checkout:
        """A connection inside a transaction, always on the primary: committed on success,
        rolled back on any error."""
        if self.replicas is not None and request is not None:
            setattr(request.ctx, WROTE, True)  # from now on it reads from the primary
        return Checkout(self, request, transactional=True)

    async def take(self, epoch: int | None = None) -> asyncpg.Connection:
        """A pooled connection, or a 503 within ``connect_timeout``."""
        pool = self.pool
        if pool is None:
            raise ServiceUnavailable("the database pool is not open", code=ErrorCode.DATABASE_NOT_OPEN)
        try:
            if not self._free.empty():
                # A connection is free: acquiring cannot wait on other requests, and
                # (re)connecting is bounded by the pool's own connect timeout. This skips
                # a timer per request on the hot path. Asked of asyncpg's queue of free
                # holders, not get_idle_size() (docs/benchmarks.md, 'Figures from the code').
                return await pool.acquire()
            # asyncio.timeout rather than acquire(timeout=): the latter wraps the acquire in
            # wait_for, a task per call.
            self.waiting += 1
            try:
                async with asyncio.timeout(self.connect_timeout):
                    return await pool.acquire()
            finally:
                self.waiting -= 1
        except DB_ERRORS as exc:
            if not connection_lost(exc):
                raise translate(exc) from exc
            error = DatabaseUnavailable()
            cause = exc
            if isinstance(exc, TimeoutError) and not str(exc):
                cause = TimeoutError(f"no connection free or opened within {self.connect_timeout:g} s")
            self.tracker.refuse(error, self.tracker.epoch if epoch is None else epoch, cause, "connecting")
            raise error from exc

    # What becomes of a connection after use (a checkout's exit decides which).

    async def release(self, conn: asyncpg.Connection, *, clean: bool = False) -> None:
        """Return a healthy connection to the pool; ``clean``: only Stateless statements ran
        on it. If resetting it fails there (it died just now), asyncpg terminates it; the
        request keeps the outcome it already has."""
        pool = self.pool
        if pool is None:  # closed meanwhile: pool.close() waits for this one
            self.discard(conn)
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
            self.discard(conn)
            log.debug("connection discarded at release: %s", type(exc).__name__)

    def discard(self, conn: asyncpg.Connection) -> None:
        """Terminate a connection that failed or whose state is unknown: the pool replaces
        it on demand. Never released: releasing resets it first, which means I/O on a dead
        socket, or on a live one with a half-done operation, and asyncpg logs an ERROR for
        every connection it finds still in a transaction."""
        self.tracker.count_discarded()
        try:
            conn.terminate()
        except Exception as exc:  # already detached from the pool: nothing left to free
            log.debug("connection already gone: %s", type(exc).__name__)

    # What it is doing.

    def pools(self) -> list[dict[str, Any]]:
        """Every pool, the primary's first: role, server, its :meth:`stats`; a replica's
        state (in, out, starting), replay lag and why it is out."""
        primary = {"role": self.role, "server": self.server, "waiting": self.waiting, **self.stats()}
        return [primary, *(replica.describe() for replica in (self.replicas.all if self.replicas else ()))]

    async def lag(self) -> float:
        """This server's replay lag in seconds (0 on a primary, or a replica with nothing left
        to replay): what the replica checks ask, in the background."""
        epoch = self.tracker.epoch
        conn = await self.take(epoch)  # not a checkout: no spans, no statement metrics for it
        try:
            lag = await conn.fetchval(LAG_SQL.text, timeout=self.command_timeout)
        except BaseException:
            self.discard(conn)
            raise
        await self.release(conn, clean=True)
        if self.tracker.current is not None:
            self.tracker.served(epoch)
        return float(lag or 0.0)

    def stats(self) -> dict[str, int]:
        """Open connections, idle ones, and those lent out (``in_use`` is 0 when at rest)."""
        if self.pool is None:
            return {"size": 0, "idle": 0, "in_use": 0}
        size, idle = self.pool.get_size(), self.pool.get_idle_size()
        return {"size": size, "idle": idle, "in_use": size - idle}

    @property
    def available(self) -> bool:
        """False from the first request an outage failed until one is served again."""
        return self.tracker.current is None

    @property
    def outages(self) -> int:
        """Outages since the pool was made (``tracker`` holds every count)."""
        return self.tracker.outages

    @property
    def refused(self) -> int:
        """Requests answered 503 because the database failed them."""
        return self.tracker.refused

    @property
    def discarded(self) -> int:
        """Connections terminated instead of going back to the pool."""
        return self.tracker.discarded

    @property
    def commits_unknown(self) -> int:
        """COMMITs cut off: whether they were saved, nobody knows."""
        return self.tracker.commits_unknown

    async def ping(self) -> None:
        """Raise ServiceUnavailable unless the primary answers ``SELECT 1`` (replicas being
        down only moves their reads: ready all the same)."""
        async with self.acquire(primary=True) as cur:
            await cur.fetchval(Stateless("SELECT 1"))
