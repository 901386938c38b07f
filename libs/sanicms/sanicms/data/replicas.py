"""Read replicas: where ``db.acquire(request)`` reads when ``DATABASE_REPLICA_URLS`` is set.

Each replica has its own pool (a :class:`~sanicms.data.db.Database` whose outages are silent)
and a state read in the background, never on the request path: every
``DATABASE_REPLICA_CHECK_INTERVAL`` each worker asks each replica for its replay lag. A replica
that refuses or drops connections, or lags by more than ``DATABASE_REPLICA_MAX_LAG`` (at two
checks in a row), is not read from, and its reads go to the primary with no error to the client; a check that finds it
well again puts it back. Each switch is logged once per worker: a WARNING when it goes out, an
INFO when it is back.

A read cut off by a replica that went away mid-statement is run again on the primary (see
:class:`~sanicms.data.checkout.Checkout`): a checkout from ``acquire()`` runs each statement on
its own, with no transaction, so running a read twice is safe.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from sanic import Request

from .checkout import WROTE
from .errors import DB_ERRORS, DatabaseUnavailable, describe
from .session import Stateless

if TYPE_CHECKING:
    from .db import Database

log = logging.getLogger("sanicms.data.replicas")

#: Seconds the replica trails the primary: 0 when it has replayed all it received (an idle
#: primary sends nothing, and ``now() - pg_last_xact_replay_timestamp()`` would grow without
#: any lag; after a restart the receive position reads as the start of its WAL segment,
#: behind the replay position), NULL on a server not in recovery (a primary given as a
#: replica: never behind).
LAG_SQL = Stateless(
    "SELECT CASE WHEN pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0"
    " ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END"
)



def server_of(dsn: str) -> str:
    """``host:port`` of a PostgreSQL URL, never its credentials (a label and a log field)."""
    parts = urlsplit(dsn)
    host = parts.hostname or parse_qs(parts.query).get("host", ["localhost"])[0]  # or a socket directory
    return f"{host}:{parts.port or 5432}"


class Replica:
    """One replica: its pool, whether reads may go to it (``usable``) and why not."""

    __slots__ = ("behind", "db", "lag", "reason", "server", "state")

    def __init__(self, db: Database) -> None:
        self.db = db
        self.server = server_of(db.dsn)
        self.state = "starting"  # then "in" or "out"
        self.reason = "not checked yet"
        self.lag: float | None = None
        self.behind = 0  # checks in a row that found it lagging past the limit

    @property
    def usable(self) -> bool:
        return self.state == "in"

    def out(self, reason: str) -> None:
        """Not read from until a check finds it well; logged when it was (or might have been)."""
        self.reason = reason
        if self.state == "out":
            return
        starting, self.state = self.state == "starting", "out"
        log.warning("replica %s %s: %s; its reads go to the primary", self.server,
                    "not usable at start-up" if starting else "taken out", reason,
                    extra={"pid": os.getpid(), "replica": self.server, "replica_state": "out"})

    def back(self, lag: float) -> None:
        """Read from again: a check found it answering and within the lag limit."""
        self.reason = ""
        if self.state == "in":
            return
        starting, self.state = self.state == "starting", "in"
        log.info("replica %s %s (replay lag %.1f s)", self.server, "in use" if starting else "read from again",
                 lag, extra={"pid": os.getpid(), "replica": self.server, "replica_state": "in"})

    def describe(self) -> dict[str, Any]:
        return {"role": "replica", "server": self.server, "state": self.state, "lag": self.lag,
                "reason": self.reason or None, "waiting": self.db.waiting, **self.db.stats()}


class Replicas:
    """The replicas of one pool, the round robin over the usable ones, and their checks."""

    def __init__(self, replicas: Sequence[Replica], *, max_lag: float, interval: float) -> None:
        self.all = tuple(replicas)
        self.max_lag = max_lag
        self.interval = interval
        self._next = 0
        self._task: asyncio.Task[None] | None = None

    def pick(self, request: Request | None) -> Replica | None:
        """A usable replica, or None: the read goes to the primary (none usable, or the
        request wrote already)."""
        if request is not None and getattr(request.ctx, WROTE, False):
            return None
        replicas = self.all
        for _ in range(len(replicas)):
            self._next = index = (self._next + 1) % len(replicas)
            if replicas[index].state == "in":
                return replicas[index]
        return None

    async def start(self) -> None:
        """Open each replica's pool (no connection yet) and start checking them; a replica
        is read from once a check found it well, so a slow or dead one never delays start-up."""
        for replica in self.all:
            await replica.db.open_pool()
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="sanicms-replica-checks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for replica in self.all:
            await replica.db.close()

    async def _watch(self) -> None:
        while True:
            await asyncio.gather(*(self.check(replica) for replica in self.all))
            await asyncio.sleep(self.interval)

    async def check(self, replica: Replica) -> None:
        """Ask ``replica`` its replay lag, and take it out or put it back accordingly."""
        db = replica.db
        try:
            async with asyncio.timeout(db.connect_timeout + db.command_timeout):
                lag = await db.lag()
        except (*DB_ERRORS, OSError, TimeoutError, DatabaseUnavailable) as exc:
            replica.out(f"{type(exc).__name__}: {describe(exc)}")
            return
        except Exception as exc:  # whatever it is, the checks must go on; the primary serves
            replica.out(f"check failed: {type(exc).__name__}: {describe(exc)}")
            return
        replica.lag = lag
        if lag <= self.max_lag:
            replica.behind = 0
            replica.back(lag)
            return
        # Twice in a row: a record received a moment before the check and not yet replayed
        # reads as the age of the last replayed commit, which after a quiet spell is large.
        replica.behind += 1
        if replica.behind >= 2:
            replica.out(f"replay lag {lag:.1f} s over DATABASE_REPLICA_MAX_LAG {self.max_lag:g} s")
