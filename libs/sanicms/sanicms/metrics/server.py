"""Requests served: a count by method, route template and status, a duration histogram by
method and route, and the requests in flight.

No middleware: Sanic wraps each middleware call in two signal dispatches, and a handler on its
``http.lifecycle.response`` signal costs about as much (Sanic dispatches it only when someone
listens; the figures: docs/benchmarks.md, "Figures from the code"). Instead
:meth:`ServerMetrics.responded` is a respond hook (:mod:`sanicms.request_hooks`): it counts
the response once Sanic's own ``respond`` (and the response middleware in it) is done;
every response goes through it, matched or not, handled or failed. The start is when Sanic began handling the request
(``request.stream.perft0``: :mod:`sanicms._compat.sanic`). The requests in flight are not counted up and down (a request
whose client went away is cancelled, and would never be counted down) but read when asked,
from the server's connections: those whose HTTP stage is handler or response.

The route label is the template as the OpenAPI document writes it (``/cities/{id}``), never
the raw path, so the number of series is bounded by the routes; a request that matched no
route is ``route="unmatched"``, and one refused for overload before Sanic parsed it
(:meth:`sanicms.admission.Admission.answer_early`) ``route="unrouted"``.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Set
from time import perf_counter, time
from typing import Any

from sanic import Request
from sanic.response import BaseHTTPResponse

from .._compat.prometheus_client import counter_cell, histogram_cells
from .._compat.sanic import STARTED, requests_in_flight, server_connections
from ..context import KEPT_TRACE_ID
from .exemplars import ExemplarStore
from .instruments import BUCKETS, REQUEST_DURATION, Instruments

UNMATCHED = "unmatched"
UNROUTED = "unrouted"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
_PARAMETER = re.compile(r"<(\w+)(?::[^>]*)?>")
#: (count cell, duration sum cell, duration bucket cells, exemplar key)
Entry = tuple[Any, Any, list[Any], Any]


def route_label(path: str | None) -> str:
    """Sanic's route path (``cities/<id:int>``) as the OpenAPI template (``/cities/{id}``)."""
    if path is None:
        return UNMATCHED
    return ("/" + _PARAMETER.sub(r"{\1}", path)).rstrip("/") or "/"


class ServerMetrics:
    """Counts and times responses; ``bind()`` hands it the instruments when the server starts."""

    def __init__(self) -> None:
        self.instruments: Instruments | None = None
        self.exemplars: ExemplarStore | None = None
        self.connections: Set[Any] | None = None  # the server's, seen on the first response
        self.direct = False
        self._entries: dict[tuple[str | None, str, int], Entry] = {}
        self._unrouted: dict[str, Any] = {}

    def bind(self, instruments: Instruments, exemplars: ExemplarStore | None, *, direct: bool) -> None:
        """``direct``: one process, and the values are prometheus-client's in-memory ones."""
        self.instruments = instruments
        self.exemplars = exemplars
        self.direct = direct
        self._entries = {}
        self._unrouted = {}

    def responded(self, request: Request, response: BaseHTTPResponse) -> None:
        """Count and time one response."""
        route = request.route
        key = (route.path if route is not None else None, request.method, response.status)
        entry = self._entries.get(key) or self._entry(key, request)
        started = getattr(request.stream, STARTED, None)
        elapsed = perf_counter() - started if started is not None else None
        bucket = bisect_left(BUCKETS, elapsed) if elapsed is not None else 0
        if self.direct:
            # One process, one thread: the cells' floats themselves (their lock guards
            # against threads, and the scrape runs on this one); no call at all.
            entry[0].value += 1
            if elapsed is not None:
                entry[1].value += elapsed
                entry[2][bucket].value += 1
        else:  # the values write through to this worker's shared file
            entry[0].inc(1)
            if elapsed is not None:
                entry[1].inc(elapsed)
                entry[2][bucket].inc(1)
        if elapsed is not None and self.exemplars is not None:
            trace_id = getattr(request.ctx, KEPT_TRACE_ID, None)
            if trace_id is not None:
                self.exemplars.latest[(entry[3], bucket)] = (trace_id, elapsed, time())

    def refused_early(self, method: str) -> None:
        """Count a 503 written before Sanic parsed the request: no route, no duration."""
        instruments = self.instruments
        if instruments is None:
            return
        cell = self._unrouted.get(method)
        if cell is None:
            cell = self._unrouted[method] = counter_cell(instruments.requests.labels(method, UNROUTED, "503"))
        cell.inc(1)

    def in_flight(self) -> int:
        """Requests being handled now by this process's server."""
        return requests_in_flight(self.connections or ())

    def _entry(self, key: tuple[str | None, str, int], request: Request) -> Entry:
        instruments = self.instruments
        if instruments is None:  # not started (a test app that never served): nothing counts
            return (_Nothing(), _Nothing(), [_Nothing()] * (len(BUCKETS) + 1), None)
        if self.connections is None:
            self.connections = server_connections(request)
        path, method, status = key
        if path is None and method not in _KNOWN_METHODS:
            method = "other"  # any word is a method to an unmatched request: keep the series bounded
        route = route_label(path)
        duration = instruments.request_duration.labels(method, route)
        total, buckets = histogram_cells(duration)
        entry = (counter_cell(instruments.requests.labels(method, route, str(status))), total, buckets,
                 (REQUEST_DURATION, (("method", method), ("route", route))))
        self._entries[key] = entry
        return entry


class _Nothing:
    value = 0.0

    def inc(self, amount: float) -> None:
        return None
