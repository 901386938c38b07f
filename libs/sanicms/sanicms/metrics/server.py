"""Requests served: a count by method, route template and status, a duration histogram by
method and route, and the requests in flight. Two middlewares, the first and the last to run.

The route label is the template as the OpenAPI document writes it (``/cities/{id}``), never
the raw path, so the number of series is bounded by the routes; a request that matched none
is ``route="unmatched"``.
"""

from __future__ import annotations

import re
from time import perf_counter
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse

from ..context import sampled_trace_id
from .exemplars import ExemplarStore
from .instruments import Instruments

UNMATCHED = "unmatched"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
_PARAMETER = re.compile(r"<(\w+)(?::[^>]*)?>")


def route_label(path: str | None) -> str:
    """Sanic's route path (``cities/<id:int>``) as the OpenAPI template (``/cities/{id}``)."""
    if path is None:
        return UNMATCHED
    return ("/" + _PARAMETER.sub(r"{\1}", path)).rstrip("/") or "/"


class ServerMetrics:
    """The two middlewares; ``bind()`` hands them the instruments when the server starts."""

    def __init__(self) -> None:
        self.instruments: Instruments | None = None
        self.exemplars: ExemplarStore | None = None
        # (route path, method, status) -> (counter child, histogram child, exemplar key)
        self._entries: dict[tuple[str | None, str, int], tuple[Any, Any, Any]] = {}

    def bind(self, instruments: Instruments, exemplars: ExemplarStore | None) -> None:
        self.instruments = instruments
        self.exemplars = exemplars
        self._entries = {}

    async def started(self, request: Request) -> None:
        instruments = self.instruments
        if instruments is not None:
            request.ctx.metrics_started = perf_counter()
            instruments.in_flight.inc()

    async def finished(self, request: Request, response: HTTPResponse) -> None:
        started = getattr(request.ctx, "metrics_started", None)
        if started is None:
            return
        elapsed = perf_counter() - started
        request.ctx.metrics_started = None  # counted once, however often this runs
        route = request.route
        key = (route.path if route is not None else None, request.method, response.status)
        entry = self._entries.get(key) or self._entry(key)
        entry[0].inc()
        entry[1].observe(elapsed)
        assert self.instruments is not None, "started() saw them"
        self.instruments.in_flight.dec()
        if self.exemplars is not None:
            trace_id = sampled_trace_id()
            if trace_id is not None:
                self.exemplars.note(entry[2], elapsed, trace_id)

    def _entry(self, key: tuple[str | None, str, int]) -> tuple[Any, Any, Any]:
        instruments = self.instruments
        assert instruments is not None, "bound before the first request"
        path, method, status = key
        if path is None and method not in _KNOWN_METHODS:
            method = "other"  # any word is a method to an unmatched request: keep the series bounded
        route = route_label(path)
        labels = (("method", method), ("route", route))
        entry = (instruments.requests.labels(method, route, str(status)),
                 instruments.request_duration.labels(method, route),
                 (instruments.request_duration._name, labels))
        self._entries[key] = entry
        return entry
