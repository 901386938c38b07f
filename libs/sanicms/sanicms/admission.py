"""Admission: whether a worker takes a request on, decided before any work. One route hook and
one respond hook (:mod:`sanicms.request_hooks`), and a first look at a request's bytes before
Sanic parses them (:meth:`Admission.answer_early`), for two checks:

- **Overload is shed, not queued.** At most ``MAX_CONCURRENT_REQUESTS`` requests in flight
  per worker (or fewer, moved by latency: ``ADAPTIVE_CONCURRENCY``, :mod:`sanicms.adaptive`);
  the next one is answered at once with a 503 in the envelope
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
from collections.abc import Set
from http import HTTPStatus
from time import monotonic, perf_counter
from typing import Any

from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse
from sanic_routing.route import Route

from . import deadlines
from ._compat.sanic import requests_in_flight, server_connections
from .adaptive import AdaptiveLimit
from .errors import ErrorCode, ServiceUnavailable, describe
from .request_hooks import RequestHooks
from .responses import dumps, error_body

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

    ``admission.enter`` is a route hook, ``admission.leave`` a respond hook, and
    ``admission.answer_early`` the protocol's first look at a request (:func:`install`)."""

    def __init__(self, limit: int = 0, *, exempt: frozenset[str] = frozenset(), retry_after: int = 1,
                 ctx: Any = None, adaptive: bool = False) -> None:
        #: requests in flight admitted now: ``MAX_CONCURRENT_REQUESTS``, or the adaptive limit under it
        self.limit = limit
        #: moves ``limit`` by the latency of the answered requests (``ADAPTIVE_CONCURRENCY``)
        self.adaptive = AdaptiveLimit(limit) if adaptive and limit else None
        #: Sanic's route paths (``healthz``, no leading slash) never refused.
        self.exempt = exempt
        self._exempt_paths = frozenset(("/" + path).rstrip("/").encode() for path in exempt)
        self.retry_after = retry_after
        #: the app's ``ctx``: its ``metrics`` (if any) count each refusal
        self._ctx = ctx
        self._answer = _refusal(limit, retry_after)
        self.in_flight = 0
        #: requests handed to Sanic by :meth:`answer_early` and not yet routed (or answered unrouted)
        self.arriving = 0
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
            if self.arriving:
                self.arriving -= 1
            count = self.in_flight + 1
            if count > self.limit and route.path not in self.exempt:
                count = self._recount(server_connections(request), this=1) + 1
                if count > self.limit:
                    self._refused()
                    raise Overloaded(self.limit, self.retry_after)
            self.in_flight = count
            attrs[_COUNTED] = perf_counter() if self.adaptive is not None else True
        value = request.headers.get(deadlines.HEADER)
        if value is not None:
            attrs[_TIMER] = deadlines.arrive(request, value)

    def leave(self, request: Request, response: BaseHTTPResponse) -> None:
        """Count ``request`` out once it is answered (once, and only if it was counted in),
        and end its deadline's timer."""
        attrs = request.__dict__
        if _COUNTED in attrs:  # ``in`` and ``pop``: no call on the request path
            started = attrs.pop(_COUNTED)
            self.in_flight -= 1
            if self.adaptive is not None and response.status < 500:  # a failure's latency says nothing of the queue
                moved = self.adaptive.sample(perf_counter() - started)
                if moved is not None:
                    self._set_limit(moved)
        elif self.arriving and attrs.get("route") is None:  # answered unrouted (404, 400): it arrived
            self.arriving -= 1
        if _TIMER in attrs:
            timer = attrs.pop(_TIMER)
            if timer is not None:
                timer.cancel()

    def answer_early(self, data: bytes, connections: Set[Any]) -> bytes | None:
        """The refusal to write for ``data``, the start of a request on an idle connection, when
        the worker is past its limit; None hands the request to Sanic: not past the limit, or
        a request not read whole here (which :meth:`enter` refuses once it is routed).

        Through Sanic a refusal costs about as much CPU as serving a small request (85 µs
        here): at four times a worker's capacity the refusals alone took more than its core,
        and the admitted requests starved. Here it costs a few µs (docs/benchmarks.md,
        "Overload"). A request refused here has no route, no span and no access log line; it
        is counted as a 503 of ``route="unrouted"``.

        A request handed to Sanic is routed in a later turn of the event loop, and many arrive
        in one turn: so those handed on and not yet routed (``arriving``) count against the
        limit too. Otherwise each place freed let a whole turn's arrivals through, to be
        refused the dear way after routing (four in ten refusals at four times the capacity)."""
        if not self.limit:
            return None
        if self.in_flight + self.arriving >= self.limit and \
                self._recount(connections, this=0) + self.arriving >= self.limit:
            method = refusable(data, self._exempt_paths)
            if method is not None:
                self._refused(method)
                return self._answer
        self.arriving += 1
        return None

    def _set_limit(self, limit: int) -> None:
        self.limit = limit
        self._answer = _refusal(limit, self.retry_after)

    def _recount(self, connections: Set[Any] | None, *, this: int) -> int:
        """The requests this worker's server is handling now, less ``this`` (1: the one being
        routed, already among them): what the count would be without requests cancelled
        unanswered. At most once per RECOUNT_INTERVAL: it visits every open
        connection, and under overload every refusal would pay for it (thousands of
        connections, the worker's time spent refusing)."""
        now = monotonic()
        if connections is None or now < self._next_recount:  # not Sanic's own server (ASGI), or counted lately
            return self.in_flight
        self._next_recount = now + RECOUNT_INTERVAL
        self.in_flight = requests_in_flight(connections) - this
        self.arriving = 0  # any lost (a connection dropped mid-head) are forgotten; at worst a turn's arrivals get in
        return self.in_flight

    def _refused(self, early_method: str | None = None) -> None:
        self.shed += 1
        metrics = getattr(self._ctx, "metrics", None)
        if metrics is not None:
            metrics.shed(early_method)
        now = monotonic()
        if now >= self._next_log:
            self._next_log = now + LOG_INTERVAL
            log.warning("overloaded: %d requests in flight (MAX_CONCURRENT_REQUESTS), %d refused since the "
                        "last line", self.limit, self.shed - self._logged_shed,
                        extra={"shed": self.shed, "limit": self.limit})
            self._logged_shed = self.shed


#: Request methods a refusal before parsing names in the metrics; others go to Sanic.
_METHODS = {m.encode(): m for m in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}
#: Headers that send a request to Sanic: a body to read or skip, an upgrade to decline, a
#: browser (CORS headers on the answer), a client awaiting 100 Continue; and (below)
#: ``connection: close``.
_SANIC_HEADERS = (b"\r\ncontent-length:", b"\r\ntransfer-encoding:", b"\r\nupgrade:", b"\r\norigin:",
                  b"\r\nexpect:")


def refusable(data: bytes, exempt_paths: frozenset[bytes]) -> str | None:
    """The method of the request in ``data`` if it can be refused without Sanic: one whole
    HTTP/1.1 head with no body and nothing after it, to an origin-form path that is not exempt,
    without any of the headers that need Sanic (:data:`_SANIC_HEADERS`); None otherwise."""
    end = data.find(b"\r\n\r\n")
    if end < 0 or end != len(data) - 4:
        return None
    line_end = data.find(b"\r\n")
    parts = data[:line_end].split(b" ")
    if len(parts) != 3 or parts[2] != b"HTTP/1.1":
        return None
    method, target = _METHODS.get(parts[0]), parts[1]
    if method is None or not target.startswith(b"/") or target.partition(b"?")[0].rstrip(b"/") in exempt_paths:
        return None  # absolute-form (``GET http://host/healthz``) and ``*`` targets: Sanic routes them
    head = data[line_end:].lower()
    for name in _SANIC_HEADERS:
        if name in head:
            return None
    connection = head.find(b"\r\nconnection:")
    if connection >= 0 and b"close" in head[connection:head.find(b"\r\n", connection + 2)]:
        return None
    return method


def _refusal(limit: int, retry_after: int) -> bytes:
    """The whole HTTP/1.1 answer :meth:`Admission.answer_early` writes: what the error handler
    makes of :class:`Overloaded` through Sanic (the same description and envelope), as bytes."""
    status, code, message, error, headers = describe(Overloaded(limit, retry_after))
    body = dumps(error_body(code, message, error))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n{head}content-length: {len(body)}\r\n"
            f"connection: keep-alive\r\ncontent-type: application/json\r\n\r\n").encode() + body


def install(app: Sanic[Any, Any], hooks: RequestHooks) -> None:
    """Admit ``app``'s requests through one :class:`Admission` per worker, ``app.ctx.admission``
    (``MAX_CONCURRENT_REQUESTS``: 0 counts nothing, and only the deadline is read). Its first
    look at each request is ``app.ctx.early_answer``, which :class:`sanicms.lifecycle.ServiceApp`
    gives its server's protocol."""
    settings = app.ctx.settings
    exempt = frozenset({"healthz", "readyz", settings.metrics.path.strip("/")})
    admission = app.ctx.admission = Admission(settings.http.max_concurrent_requests, exempt=exempt,
                                              retry_after=settings.http.shed_retry_after, ctx=app.ctx,
                                              adaptive=settings.http.adaptive_concurrency)
    app.ctx.early_answer = admission.answer_early
    hooks.on_route.append(admission.enter)
    hooks.on_respond.append(admission.leave)
