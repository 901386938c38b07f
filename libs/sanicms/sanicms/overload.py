"""Overload is shed, not queued: at most ``MAX_CONCURRENT_REQUESTS`` requests in flight per
worker; the next one is answered at once with a 503 in the envelope
(:attr:`~sanicms.errors.ErrorCode.OVERLOADED`, ``Retry-After``) and counted
(``sanicms_http_requests_shed``). Health, readiness and the metrics are never shed.

Without a limit, a worker accepts everything, and past its capacity every request waits
longer, until ``RESPONSE_TIMEOUT`` answers them all (docs/benchmarks.md, "Overload").

The count is a plain integer moved by a route hook and a respond hook (no lock: one event
loop per worker). A request whose client went away is cancelled without a response, and is
never counted down; so the count is checked against the server's connections whenever it
reaches the limit, and the refusal is decided on that.
"""

from __future__ import annotations

import logging
from time import monotonic
from typing import Any

from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse
from sanic_routing.route import Route

from ._compat.sanic import requests_in_flight, server_connections
from .errors import ErrorCode, ServiceUnavailable
from .request_hooks import RequestHooks

log = logging.getLogger("sanicms.overload")

#: ``request.__dict__`` key: the request was admitted and is counted.
_ADMITTED = "sanicms_admitted"
#: Seconds between two log lines about shedding.
LOG_INTERVAL = 10.0


class Overloaded(ServiceUnavailable):
    """Refused at once: the worker has as many requests in flight as it may."""

    message = "the service is overloaded: try again later"
    logged = True  # one line per LOG_INTERVAL says how many, not one per request

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(code=ErrorCode.OVERLOADED, headers={"retry-after": str(retry_after)},
                         error={"limit": limit})


class Admission:
    """One worker's requests in flight, and the limit on them.

    ``admission.enter`` is a route hook, ``admission.leave`` a respond hook
    (:mod:`sanicms.request_hooks`); :func:`install` adds both."""

    def __init__(self, limit: int, *, exempt: frozenset[str] = frozenset(), retry_after: int = 1) -> None:
        self.limit = limit
        #: Sanic's route paths (``healthz``, no leading slash) never refused.
        self.exempt = exempt
        self.retry_after = retry_after
        self.in_flight = 0
        #: requests refused since the worker started
        self.shed = 0
        self._logged_shed = 0
        self._next_log = 0.0

    def enter(self, request: Request, route: Route) -> None:
        """Count ``request`` in, or refuse it (:class:`Overloaded`) when the limit is reached."""
        count = self.in_flight + 1
        if count > self.limit and route.path not in self.exempt:
            count = self._recount(request)
            if count > self.limit:
                self._refused(request)
                raise Overloaded(self.limit, self.retry_after)
        self.in_flight = count
        request.__dict__[_ADMITTED] = True

    def leave(self, request: Request, response: BaseHTTPResponse) -> None:
        """Count ``request`` out once it is answered (admitted requests only, once each)."""
        if request.__dict__.pop(_ADMITTED, False):
            self.in_flight -= 1

    def _recount(self, request: Request) -> int:
        """The requests this worker's server is handling now (this one included): what the
        count would be without requests cancelled unanswered."""
        connections = server_connections(request)
        if connections is None:  # not Sanic's own server (ASGI): trust the count
            return self.in_flight + 1
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
    """Limit the requests in flight of ``app``'s workers when ``MAX_CONCURRENT_REQUESTS`` is
    set (0: no limit, no hooks); ``app.ctx.admission`` holds the count."""
    settings = app.ctx.settings
    limit = settings.http.max_concurrent_requests
    if not limit:
        return
    exempt = frozenset({"healthz", "readyz", settings.metrics.path.strip("/")})
    admission = app.ctx.admission = Admission(limit, exempt=exempt, retry_after=settings.http.shed_retry_after)
    hooks.on_route.append(admission.enter)
    hooks.on_respond.append(admission.leave)
