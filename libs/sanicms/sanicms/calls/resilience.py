"""Retries with jittered backoff, and a circuit breaker, for calls to other services.

A dead downstream should cost milliseconds, not a timeout per request: after
``threshold`` consecutive failures the breaker opens and calls fail at once; after
``reset_after`` seconds one probe call is let through (half-open) and its outcome
closes or re-opens the breaker. State is per client, so per worker process.

An outage of a neighbour is logged once: a WARNING when the circuit opens, an INFO when it
closes again, with how many calls were failed fast in between (failed probes are DEBUG).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("sanicms.calls.client")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"

#: Methods safe to send twice; others are never retried.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
#: Downstream statuses worth another try: the next instance or attempt may succeed.
RETRY_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 2
    backoff: float = 0.05  # seconds, doubled per attempt
    backoff_max: float = 1.0

    def delay(self, attempt: int) -> float:
        """Full jitter: a random wait up to the exponential cap, so callers spread out."""
        return random.uniform(0, min(self.backoff_max, self.backoff * (2 ** attempt)))


class CircuitBreaker:
    def __init__(self, threshold: int = 5, reset_after: float = 5.0, clock: Callable[[], float] = time.monotonic, *,
                 name: str = "") -> None:
        self.threshold = threshold
        self.reset_after = reset_after
        self.name = name  # the downstream service, for the log
        self._clock = clock
        self.failures = 0
        self.state = CLOSED
        self._opened_at = 0.0
        self._first_opened_at = 0.0
        self._probing = False
        self.refused = 0  # calls failed fast while open, since it last opened
        #: ``on_change(old, new)`` is told of every state change (metrics count them).
        self.on_change: Callable[[str, str], None] | None = None

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one probe at a time; the caller
        that gets it must end it with ``success``, ``failure`` or ``abandon``."""
        if self.state == CLOSED or self.threshold <= 0:
            return True
        if self.state == OPEN and self._clock() - self._opened_at >= self.reset_after:
            self._enter(HALF_OPEN)
            self._probing = False
        if self.state == HALF_OPEN and not self._probing:
            self._probing = True
            return True
        self.refused += 1
        return False

    def success(self) -> None:
        """A call got an answer: close the circuit."""
        if self.state != CLOSED:
            log.info("%s service answers again: circuit closed after %.1f s, %d calls failed fast meanwhile",
                     self.name or "downstream", self._clock() - self._first_opened_at, self.refused,
                     extra={"downstream": self.name, "circuit": "closed", "refused": self.refused})
        self.failures = 0
        if self.state != CLOSED:
            self._enter(CLOSED)
        self._probing = False

    reset = success

    def failure(self) -> None:
        self.failures += 1
        self._probing = False
        if self.state == HALF_OPEN or (self.threshold > 0 and self.failures >= self.threshold):
            if self.state == CLOSED:
                self._first_opened_at = self._clock()
                self.refused = 0
                log.warning("%s service failing: circuit open after %d failed calls in a row; calls fail "
                            "fast, one probe every %.1f s", self.name or "downstream", self.failures,
                            self.reset_after, extra={"downstream": self.name, "circuit": "open"})
            elif self.state == HALF_OPEN:
                log.debug("%s service still failing: the probe failed, circuit open again", self.name)
            self._enter(OPEN)
            self._opened_at = self._clock()

    def _enter(self, state: str) -> None:
        old, self.state = self.state, state
        if old != state and self.on_change is not None:
            self.on_change(old, state)

    def abandon(self) -> None:
        """The probe ended without a verdict (cancelled): let the next call probe."""
        self._probing = False

    @property
    def probing(self) -> bool:
        return self.state == HALF_OPEN and self._probing

    def retry_after(self) -> float:
        """Seconds until a probe will be allowed (for the Retry-After header)."""
        if self.state != OPEN:
            return 0.0
        return max(0.0, self.reset_after - (self._clock() - self._opened_at))
