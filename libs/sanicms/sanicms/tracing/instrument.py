"""Tracing wired into a Sanic app: a SERVER span per request, CLIENT spans for downstream
calls, a span per SQL statement, and the reporter's life tied to the server's.

The active span lives in a contextvar (opentracing's ``ContextVarsScopeManager``), so it
follows the request through every ``await`` and into tasks started for concurrent calls;
each such task gets a copy, so sibling calls never see each other as parent.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any, TypeVar
from urllib.parse import urlsplit

from opentracing import Format
from opentracing import tags as ot_tags
from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse
from sanic_routing.route import Route

from .._compat.sanic import STARTED
from ..config import TracingSettings
from ..request_hooks import RequestHooks
from . import propagation
from .exporter import HttpTransport, LogTransport, Transport
from .processor import SpanReporter
from .tracer import _ACTIVE, Span, Tracer, active_span
from .zipkin import endpoint, peer

log = logging.getLogger("sanicms.tracing")

_Made = TypeVar("_Made", "SqlSpans", "ClientSpans")
_MAX_STATEMENT = 2000  # characters of SQL kept on a span
#: ``request.ctx`` attribute naming the trace of a finished, sampled server span (exemplars)
KEPT_TRACE_ID = "kept_trace_id"


def install(app: Sanic[Any, Any], hooks: RequestHooks) -> None:
    """Trace every request of ``app`` when ``TRACING_ENABLED`` (spans start once it serves).

    No middleware (see :mod:`sanicms.request_hooks`): the server span starts in a route
    hook, which the app factory installs first (the span is open before anything can refuse
    the request), and finishes in a respond hook, after the response middleware, with the
    status every response has by then. A request no route matched gets its span when the
    error handler notes the 404 or 405 (:func:`note_error`).
    """
    if not app.ctx.settings.tracing.enabled:
        return
    app.ctx.span_names = {}
    hooks.on_route.append(_start_server_span)
    hooks.on_respond.append(_end_server_span)


class SpanHooks:
    """Tracing's :class:`~sanicms.observers.Instrumentation`: a :class:`SqlSpans` per pool and a
    :class:`ClientSpans` per client, given when they are made (none while tracing is off) and
    bound to the worker's tracer when the server starts (:func:`start`)."""

    def __init__(self, settings: TracingSettings) -> None:
        self.enabled = settings.enabled
        self.made: list[SqlSpans | ClientSpans] = []

    def statement_observers(self, dsn: str, role: str) -> list[SqlSpans]:
        return [self._keep(SqlSpans(None, dsn, role))] if self.enabled else []

    def statement_timers(self, dsn: str, role: str) -> list[Any]:
        return []

    def call_observers(self, name: str, base_url: str) -> list[ClientSpans]:
        return [self._keep(ClientSpans(None, base_url))] if self.enabled else []

    def retry_listeners(self, name: str) -> list[Any]:
        return []

    def bind(self, tracer: Tracer) -> None:
        for observer in self.made:
            observer.tracer = tracer

    def _keep(self, observer: _Made) -> _Made:
        self.made.append(observer)
        return observer


def instrumentation(app: Sanic[Any, Any]) -> SpanHooks:
    """The hooks the pool and the clients are made with (none made while tracing is off)."""
    hooks = app.ctx.span_hooks = SpanHooks(app.ctx.settings.tracing)
    return hooks


async def start(app: Sanic[Any, Any]) -> None:
    """Create the tracer and reporter, and bind the pool's and the clients' span hooks to it
    (server start)."""
    settings, service = app.ctx.settings.tracing, app.ctx.settings.service
    if not settings.enabled:
        return
    reporter = SpanReporter(
        transports_from(settings),
        queue_size=settings.queue_size,
        batch_size=settings.batch_size,
        flush_interval=settings.flush_interval,
        drop_log_interval=settings.drop_log_interval,
    )
    local = endpoint(service.name, await _local_ip(service.host), service.port)
    tracer = Tracer(service.name, reporter, sample_rate=settings.sample_rate,
                    endpoint=local)
    await reporter.start()
    app.ctx.tracer = tracer
    app.ctx.span_reporter = reporter
    app.ctx.span_hooks.bind(tracer)


async def stop(app: Sanic[Any, Any]) -> None:
    """Flush queued spans, bounded by ``TRACING_FLUSH_TIMEOUT`` (server stop, after requests)."""
    reporter = getattr(app.ctx, "span_reporter", None)
    if reporter is not None:
        await reporter.close(app.ctx.settings.tracing.flush_timeout)
        log.info("tracing stopped: %s", reporter.stats())


def transports_from(settings: TracingSettings) -> list[Transport]:
    """``TRACING_TRANSPORTS`` lists ``http`` and/or ``log``; empty means ``http`` when
    ``ZIPKIN_URL`` is set, else nothing (ids still propagate and appear in logs)."""
    names = list(settings.transports) or (["http"] if settings.zipkin_url else [])
    transports: list[Transport] = []
    for name in names:
        if name == "http":
            transports.append(HttpTransport(settings.zipkin_url, timeout=settings.send_timeout,
                                            retries=settings.send_retries))
        elif name == "log":
            transports.append(LogTransport())
    return transports


def _end_server_span(request: Request, response: BaseHTTPResponse) -> None:
    """Respond hook: finish the server span with the final response's status."""
    ctx = request.ctx  # a property: read once
    scope = getattr(ctx, "trace_scope", None)
    if scope is not None:
        _finish_server_span(ctx, scope, response)


def _start_server_span(request: Request, route: Route | None) -> None:
    """Route hook: open the request's server span, unless it is on an untraced path."""
    ctx = request.app.ctx
    tracer: Tracer | None = getattr(ctx, "tracer", None)
    path = request.path  # a property that decodes each time: read once
    if tracer is None or path.startswith(ctx.untraced_paths):
        return
    headers = request.headers  # case-insensitive: most requests carry no trace context
    parent = (tracer.extract(Format.HTTP_HEADERS, headers)
              if "b3" in headers or "x-b3-traceid" in headers or "traceparent" in headers
              or "x-b3-sampled" in headers else None)
    method = request.method
    found = ctx.span_names.get((route.path, method)) if route is not None else None
    name, template = found or _names(ctx, request, route, path)
    # Never a child of the active span: a keep-alive connection's previous request is no parent.
    scope = tracer.server_scope(
        name, parent,
        {"http.method": method, "http.path": path, "http.route": template},
        _started_at(request) if route is None else None,
    )
    span = scope._span
    if span._context.sampled:
        span.remote = _peer(request)
    request.ctx.trace_scope = scope


def _peer(request: Request) -> dict[str, Any]:
    """The client's Zipkin endpoint, made once per connection (spans only read it)."""
    info = request.conn_info
    if info is None:
        return peer(request.ip, request.port)
    found: dict[str, Any] | None = getattr(info.ctx, "zipkin_peer", None)
    if found is None:
        found = info.ctx.zipkin_peer = peer(info.client_ip, info.client_port)
    return found


def _started_at(request: Request) -> float | None:
    """When Sanic began handling ``request``, on the wall clock (a span opened late)."""
    began = getattr(request.stream, STARTED, None)
    return time.time() - (time.perf_counter() - began) if began is not None else None


def _names(ctx: Any, request: Request, route: Route | None, path: str) -> tuple[str, str]:
    """Span name and route pattern, worked out once per route and method (the route hook
    looks ``ctx.span_names`` up itself first)."""
    if route is None:
        return f"{request.method} {path}", path
    key = (route.path, request.method)
    found: tuple[str, str] | None = ctx.span_names.get(key)
    if found is None:
        template = request.uri_template
        assert template is not None, "a request with a route has its template"
        found = ctx.span_names[key] = (f"{request.method} {template}", template)
    return found


def _finish_server_span(ctx: Any, scope: Any, response: BaseHTTPResponse) -> None:
    ctx.trace_scope = None
    span: Span = scope._span  # attributes, not opentracing's properties: this runs per request
    context = span._context
    trace_id = context.trace_id
    if context.sampled:
        status = response.status
        tags = span.tags
        tags["http.status_code"] = str(status)
        if status >= 500:
            tags[ot_tags.ERROR] = str(status)
        ctx.kept_trace_id = trace_id  # KEPT_TRACE_ID
    response.headers["x-trace-id"] = trace_id
    scope.close()
    if span.end is None:  # a handler left its own scope open: close() left ours unfinished
        span.finish()


def _unmatched_request() -> Request | None:
    """The request being handled when no route matched it (it has no server span yet)."""
    try:
        request = Request.get_current()
    except Exception:  # no request in this context (Sanic raises its own error)
        return None
    if request.route is not None or getattr(request.ctx, "trace_scope", None) is not None:
        return None
    return request


def note_error(exception: BaseException) -> None:
    """Record a failure on the active span (called by the error handler)."""
    active = active_span()
    if active is None and (request := _unmatched_request()) is not None:
        _start_server_span(request, None)  # a 404 or 405: the span starts here
        active = active_span()
    if active is None or not active.context.sampled:
        return
    # An API error's message is meant for clients; anything else is named by its type only.
    message = getattr(exception, "message", None) if hasattr(exception, "code") else None
    kind = type(exception).__name__
    active.log_kv({"event": "error", "error.kind": kind, "message": message or kind})


class ClientSpans:
    """One of ``ServiceClient.observers``: a CLIENT span per call, its context sent in the headers.
    ``tracer`` may come later (:class:`SpanHooks`), before the first call."""

    tracer: Tracer

    def __init__(self, tracer: Tracer | None, base_url: str) -> None:
        if tracer is not None:
            self.tracer = tracer
        parts = urlsplit(base_url)
        self._host, self._port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        self._remotes: dict[str, dict[str, Any]] = {}  # by service: parsing the host per call showed

    def __call__(self, request: Request | None, service: str, method: str, url: str,
                 headers: dict[str, str]) -> _SpanScope:
        tags = {"http.method": method, "http.url": url, ot_tags.PEER_SERVICE: service}
        scope = _ACTIVE.get()
        if scope is not None and scope._span._context.sampled:  # the usual case: inside a traced request
            span = self.tracer.start_child(scope._span._context, f"{method} {service}", tags, "CLIENT")
        else:  # no request, or an unsampled one (ids still propagate): the general path
            tags[ot_tags.SPAN_KIND] = ot_tags.SPAN_KIND_RPC_CLIENT
            span = self.tracer.start_span(f"{method} {service}", tags=tags)
        remote = self._remotes.get(service)
        if remote is None:
            remote = self._remotes[service] = endpoint(service, self._host, self._port)
        span.remote = remote
        headers.update(propagation.headers_for(span._context))
        return _SpanScope(span)


class SqlSpans:
    """One of ``Database.observers``: a span per statement, tagged with the SQL text (never its values),
    inside a traced request only. ``tracer`` may come later (:class:`SpanHooks`), before the
    first statement. With replicas (``role`` given), each span names the server it ran on
    (``peer.address``, host:port): its remote endpoint holds IP addresses only."""

    tracer: Tracer

    def __init__(self, tracer: Tracer | None, dsn: str, role: str = "") -> None:
        if tracer is not None:
            self.tracer = tracer
        parts = urlsplit(dsn)
        database = parts.path.lstrip("/") or None
        self._remote = endpoint("postgres", parts.hostname, parts.port or 5432)
        self._base_tags = {ot_tags.DATABASE_TYPE: "postgresql"}  # and kind CLIENT
        if database:
            self._base_tags[ot_tags.DATABASE_INSTANCE] = database
        if role:
            self._base_tags[ot_tags.PEER_ADDRESS] = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
        self._statements: dict[str, tuple[str, dict[str, str]]] = {}

    def __call__(self, request: Request | None, sql: str) -> _SqlScope | None:
        scope = _ACTIVE.get()
        if scope is None:
            return None  # outside a traced request (health checks, start-up): no orphan spans
        parent = scope._span._context
        if not parent.sampled:
            return None  # in an unsampled one, nothing is recorded and nothing propagates
        name, tags = self._statements.get(sql) or self._describe(sql)
        span = self.tracer.start_child(parent, name, dict(tags), "CLIENT")
        span.remote = self._remote
        return _SqlScope(span)

    def _describe(self, sql: str) -> tuple[str, dict[str, str]]:
        """Span name and tags of a statement, kept for the next time (up to a bound: services
        with generated SQL must not grow this without end)."""
        words = sql.split(None, 1)
        name = "sql " + (words[0].lower() if words else "statement")
        tags = dict(self._base_tags)
        tags[ot_tags.DATABASE_STATEMENT] = sql if len(sql) <= _MAX_STATEMENT else sql[:_MAX_STATEMENT] + "..."
        if len(self._statements) < 1024:
            self._statements[sql] = (name, tags)
        return name, tags


class _SpanScope:
    """Finishes a (not activated) span; a failure inside marks it as an error."""

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    def __enter__(self) -> Span:
        return self.span

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None and self.span._context.sampled:
            _mark_failed(self.span, exc, with_message=True)
        self.span.finish()


class _SqlScope(_SpanScope):
    """Finishes a statement's span. Driver messages quote the statement's arguments
    ("invalid input for query argument $1: ..."), so a failure keeps the error's type and
    SQLSTATE only. (A Span subclass that is its own context manager measured slower.)"""

    __slots__ = ()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None:
            _mark_failed(self.span, exc, with_message=False)
        self.span.finish()


def _mark_failed(span: Span, exc: BaseException, *, with_message: bool) -> None:
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    if status:
        span.set_tag("http.status_code", str(status))
    span.set_tag(ot_tags.ERROR, type(exc).__name__)
    if with_message:
        span.log_kv({"event": "error", "message": getattr(exc, "message", None) or str(exc)})
    else:
        sqlstate = getattr(exc, "sqlstate", None)
        if sqlstate:
            span.set_tag("db.sqlstate", str(sqlstate))
        span.log_kv({"event": "error", "error.kind": type(exc).__name__})


async def _local_ip(host: str) -> str | None:
    """The address spans name as this service's: HOST when it is one, else this host's."""
    if host and host not in ("0.0.0.0", "::", "localhost"):
        return host
    try:
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.run_in_executor(None, socket.gethostbyname, socket.gethostname()), 1.0)
    except (TimeoutError, OSError):
        return None
