"""Outage bookkeeping: one WARNING when the database goes away, one INFO when it serves
again, with what it cost in between (requests refused, connections discarded, commits whose
outcome is unknown). One tracker per pool, so per worker process.

The epoch goes up when an outage begins and when it ends; a checkout remembers the one it
began in. Only a checkout begun after the outage was declared can declare it over (an answer
that was on its way before proves nothing), and a failure of one begun before the last
outage ended belongs to that outage, not to a new one.

A checkout's success path asks one thing, ``tracker.current is not None``, and calls
nothing more while the database serves.
"""

from __future__ import annotations

import logging
import os
import time

from .errors import DatabaseUnavailable, describe

#: The logger of the pool's life and outages, named as before data/ was split: it is what
#: operators filter on.
log = logging.getLogger("sanicms.data.db")


class Outage:
    """One stretch of "no database", from the first request it failed to the first request
    served on a connection opened after that."""

    __slots__ = ("commits_unknown", "discarded", "epoch", "refused", "started")

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.started = time.monotonic()
        self.refused = 0  # requests answered 503 (50301)
        self.discarded = 0  # connections terminated instead of returned to the pool
        self.commits_unknown = 0  # COMMITs cut off: saved or not, nobody knows


class OutageTracker:
    """The outage now (``current``, None while the database serves), the epoch checkouts
    begin in, and the counts since the pool was made."""

    __slots__ = ("commits_unknown", "current", "discarded", "epoch", "outages", "refused", "silent")

    def __init__(self, *, silent: bool = False) -> None:
        #: A replica's pool counts like any other but logs nothing: its reads go to the
        #: primary, and :mod:`sanicms.data.replicas` says so, once.
        self.silent = silent
        self.epoch = 0
        self.current: Outage | None = None
        self.outages = 0
        self.refused = 0
        self.discarded = 0
        self.commits_unknown = 0

    @property
    def available(self) -> bool:
        """False from the first request an outage failed until one is served again."""
        return self.current is None

    def refuse(self, error: DatabaseUnavailable, epoch: int, cause: BaseException, during: str) -> None:
        """Count a request answered 503 because the database failed it (once per error);
        the first of an outage begins it."""
        if error.counted:
            return
        error.counted = True
        self.refused += 1
        outage = self.current
        if outage is None:
            if epoch < self.epoch:
                # Begun before the last outage ended (waiting for a connection to a
                # database still starting up, say): a late casualty of that one.
                log.debug("database request refused late (%s while %s)", type(cause).__name__, during)
                return
            outage = self.begin(cause, during)
        outage.refused += 1
        log.debug("database request refused (%s while %s)", type(cause).__name__, during)

    def begin(self, cause: BaseException, during: str, *, quiet: bool = False) -> Outage:
        """An outage begins (``quiet``: the caller logged it its own way)."""
        self.epoch += 1
        outage = self.current = Outage(self.epoch)
        self.outages += 1
        if not (quiet or self.silent):
            log.warning("database unavailable (%s while %s: %s); answering 503 (50301) until it serves again",
                        type(cause).__name__, during, describe(cause),
                        extra={"pid": os.getpid(), "outage": "begin"})
        # The idle connections died with it too. No pool.expire_connections() here: that
        # closes each one gracefully in a task nobody awaits, and on a dead socket that is
        # an ERROR ("Task exception was never retrieved") per connection. The pool already
        # reconnects a connection it knows is closed, and one that dies in use is discarded.
        return outage

    def served(self, epoch: int) -> None:
        """A checkout begun in ``epoch`` succeeded; if it began after the outage began, the
        outage is over. (Called only when ``current`` is set.)"""
        outage = self.current
        if outage is None or epoch < outage.epoch:
            return
        self.current = None
        self.epoch += 1
        if self.silent:
            return
        log.info("database available again after %.1f s: %d requests answered 503, %d connections "
                 "discarded, %d commits of unknown outcome",
                 time.monotonic() - outage.started, outage.refused, outage.discarded, outage.commits_unknown,
                 extra={"pid": os.getpid(), "outage": "end", "refused": outage.refused,
                        "discarded": outage.discarded, "commits_unknown": outage.commits_unknown})

    def count_discarded(self) -> None:
        """A connection was terminated instead of going back to the pool."""
        self.discarded += 1
        if self.current is not None:
            self.current.discarded += 1

    def count_commit_unknown(self) -> None:
        """A COMMIT was cut off: whether it was saved, nobody knows."""
        self.commits_unknown += 1
        if self.current is not None:
            self.current.commits_unknown += 1
