"""The adaptive concurrency limit (``ADAPTIVE_CONCURRENCY``): how many requests a worker admits,
moved by the latency it sees, never above ``MAX_CONCURRENT_REQUESTS``.

A fixed limit suits one kind of request. A worker whose requests spend their time on its CPU
gains no throughput past a few in flight (4 to 32 for one city read here), and each one more
only waits; one whose requests wait on slow neighbours needs hundreds. TCP Vegas' rule, as
Netflix's concurrency-limits applies it to servers, finds the point from latency alone: with
``limit`` requests in flight, a mean latency ``rtt`` and the latency of a request that did not
queue ``base``, about ``limit × (1 − base / rtt)`` of them are queueing. Fewer than alpha, the
limit grows by a step; more than beta, it shrinks by a tenth (alpha, beta and the step grow
with log10 of the limit). The latency is the worker's own, from the request's arrival to its
answer; one window is WINDOW answered requests.

``base`` is the fastest single request of the last two periods of BASE_PERIOD seconds: even
under load some request is served without a queue, and a dependency that slows down for good
raises it within two periods.
"""

from __future__ import annotations

from math import inf, log10
from time import monotonic

#: Answered requests per window: one mean latency, one decision.
WINDOW = 50
#: Seconds in which the fastest request is looked for (the last two periods count).
BASE_PERIOD = 10.0
#: Requests queueing (times the step) below which the limit grows, and above which it shrinks.
#: Twice Vegas' 3 and 6: with those, one city's reads settled at 5 in flight and lost a fifth of
#: the throughput at 0.75× the capacity; throughput grows up to about 8 to 16 here.
ALPHA, BETA = 6, 12


class AdaptiveLimit:
    """One worker's limit, moved by :meth:`sample`, never above ``ceiling``. It starts there, so
    a worker with no history refuses nothing a fixed limit would not. It never goes much below
    BETA either (a limit cannot have more than itself queueing): the rule needs a ceiling above
    that to do anything."""

    def __init__(self, ceiling: int, *, window: int = WINDOW, period: float = BASE_PERIOD) -> None:
        self.ceiling = ceiling
        self.window = window
        self.period = period
        self.value = float(ceiling)
        self._sum = 0.0
        self._count = 0
        self._fastest = inf  # in this period
        self._fastest_before = inf  # in the one before
        self._period_ends = monotonic() + period

    @property
    def limit(self) -> int:
        return int(self.value)

    @property
    def base(self) -> float:
        """The latency of a request that did not queue, as seen lately (seconds; inf: none yet)."""
        return min(self._fastest, self._fastest_before)

    def sample(self, seconds: float) -> int | None:
        """Count one answered request's latency; the new limit if a window just ended and moved
        it, else None."""
        self._sum += seconds
        self._count += 1
        if seconds < self._fastest:
            self._fastest = seconds
        if self._count < self.window:
            return None
        rtt = self._sum / self._count
        self._sum, self._count = 0.0, 0
        now = monotonic()
        if now >= self._period_ends:
            self._fastest_before, self._fastest = self._fastest, inf
            self._period_ends = now + self.period
        before = self.limit
        self.value = self._next(self.value, rtt, self.base)
        return self.limit if self.limit != before else None

    def _next(self, limit: float, rtt: float, base: float) -> float:
        queueing = limit * (1.0 - base / rtt) if rtt > 0 else 0.0
        step = max(1.0, log10(limit))
        if queueing > BETA * step:
            limit *= 0.9
        elif queueing < ALPHA * step:
            limit += step
        return min(float(self.ceiling), max(1.0, limit))
