"""Admission: whether a worker takes a request on, decided as soon as it is routed, before
any work. One route hook and one respond hook (:mod:`sanicms.request_hooks`) for two checks:

- **Overload is shed, not queued.** At most ``MAX_CONCURRENT_REQUESTS`` requests in flight
  per worker; the next one is answered at once with a 503 in the envelope
  (:attr:`~sanicms.errors.ErrorCode.OVERLOADED`, ``Retry-After``) and counted
  (``sanicms_http_requests_shed_total``). Health, readiness and the metrics are never shed.
  Without a limit a worker accepts everything, and past its capacity every request waits
  longer, until ``RESPONSE_TIMEOUT`` answers them all (docs/benchmarks.md, "Overload").
- **The caller's deadline** (:mod:`sanicms.deadlines`): a request whose ``X-Request-Timeout``
  is spent is refused, one with time left gets a timer that cancels its work when it ends.

The count is a plain integer (one event loop per worker: no lock). A request cancelled
without a response (its connection aborted by the server) is never counted down, so when
the count reaches the limit it is checked against the server's connections before a refusal
(at most once a second).
"""

from __future__ import annotations

import logging
from time import monotonic
from typing import Any

from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse
from sanic_routing.route import Route

from . import deadlines
from ._compat.sanic import requests_in_flight, server_connections
from .errors import ErrorCode, ServiceUnavailable
from .request_hooks import RequestHooks

log = logging.getLogger("sanicms.admission")

#: ``request.__dict__`` keys: the request is counted in flight; its deadline's timer.
_COUNTED = "sanicms_counted"
_TIMER = "sanicms_deadline_timer"
#: Seconds between two log lines about shedding.
LOG_INTERVAL = 10.0
#: Seconds between two checks of the count against the server's connections.
RECOUNT_INTERVAL = 1.0


class Overloaded(ServiceUnavailable):
    """Refused at once: the worker has as many requests in flight as it may."""

    message = "the service is overloaded: try again later"
    logged = True  # one line per LOG_INTERVAL says how many, not one per request

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(code=ErrorCode.OVERLOADED, headers={"retry-after": str(retry_after)},
                         error={"limit": limit})


class Admission:
    """One worker's requests in flight, and the limit on them (0: none).

    ``admission.enter`` is a route hook, ``admission.leave`` a respond hook; :func:`install`
    adds both."""

    def __init__(self, limit: int = 0, *, exempt: frozenset[str] = frozenset(), retry_after: int = 1) -> None:
        self.limit = limit
        #: Sanic's route paths (``healthz``, no leading slash) never refused.
        self.exempt = exempt
        self.retry_after = retry_after
        self.in_flight = 0
        #: requests refused since the worker started
        self.shed = 0
        self._logged_shed = 0
        self._next_log = 0.0
        self._next_recount = 0.0

    def enter(self, request: Request, route: Route) -> None:
        """Count ``request`` in, or refuse it: :class:`Overloaded` past the limit, and the
        errors of :func:`sanicms.deadlines.arrive` for a budget that is spent or malformed."""
        attrs = request.__dict__
        if self.limit:
            count = self.in_flight + 1
            if count > self.limit and route.path not in self.exempt:
                count = self._recount(request)
                if count > self.limit:
                    self._refused(request)
                    raise Overloaded(self.limit, self.retry_after)
            self.in_flight = count
            attrs[_COUNTED] = True
        value = request.headers.get(deadlines.HEADER)
        if value is not None:
            attrs[_TIMER] = deadlines.arrive(request, value)

    def leave(self, request: Request, response: BaseHTTPResponse) -> None:
        """Count ``request`` out once it is answered (once, and only if it was counted in),
        and end its deadline's timer."""
        attrs = request.__dict__
        if _COUNTED in attrs:  # ``in`` and ``del``: no call on the request path
            del attrs[_COUNTED]
            self.in_flight -= 1
        if _TIMER in attrs:
            timer = attrs.pop(_TIMER)
            if timer is not None:
                timer.cancel()

    def _recount(self, request: Request) -> int:
        """The requests this worker's server is handling now (this one included): what the
        count would be without requests cancelled unanswered. At most once per
        RECOUNT_INTERVAL: it visits every open connection, and under overload every refusal
        would pay for it (thousands of connections, the worker's time spent refusing)."""
        now = monotonic()
        connections = server_connections(request)
        if connections is None or now < self._next_recount:  # not Sanic's own server (ASGI), or counted lately
            return self.in_flight + 1
        self._next_recount = now + RECOUNT_INTERVAL
        self.in_flight = requests_in_flight(connections) - 1
        return self.in_flight + 1

    def _refused(self, request: Request) -> None:
        self.shed += 1
        metrics = getattr(request.app.ctx, "metrics", None)
        instruments = getattr(metrics, "instruments", None)
        if instruments is not None:
            instruments.requests_shed.inc()
        now = monotonic()
        if now >= self._next_log:
            self._next_log = now + LOG_INTERVAL
            log.warning("overloaded: %d requests in flight (MAX_CONCURRENT_REQUESTS), %d refused since the "
                        "last line", self.limit, self.shed - self._logged_shed,
                        extra={"shed": self.shed, "limit": self.limit})
            self._logged_shed = self.shed


def install(app: Sanic[Any, Any], hooks: RequestHooks) -> None:
    """Admit ``app``'s requests through one :class:`Admission` per worker, ``app.ctx.admission``
    (``MAX_CONCURRENT_REQUESTS``: 0 counts nothing, and only the deadline is read)."""
    settings = app.ctx.settings
    exempt = frozenset({"healthz", "readyz", settings.metrics.path.strip("/")})
    admission = app.ctx.admission = Admission(settings.http.max_concurrent_requests, exempt=exempt,
                                              retry_after=settings.http.shed_retry_after)
    hooks.on_route.append(admission.enter)
    hooks.on_respond.append(admission.leave)
