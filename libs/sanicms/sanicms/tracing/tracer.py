"""An OpenTracing tracer that records Zipkin-shaped spans and hands them to a reporter.

Instrumentation talks to the ``opentracing`` 2.4 API only, so another tracer could be
dropped in; ours keeps just what Zipkin v2 needs and does no I/O: a finished span goes to
``reporter.report(span)``, which must not block.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Protocol

import opentracing
from opentracing import tags as ot_tags

from . import propagation

_KINDS = {ot_tags.SPAN_KIND_RPC_SERVER: "SERVER", ot_tags.SPAN_KIND_RPC_CLIENT: "CLIENT",
          ot_tags.SPAN_KIND_PRODUCER: "PRODUCER", ot_tags.SPAN_KIND_CONSUMER: "CONSUMER"}
_random = random.Random()  # its own generator: seeding the global one in tests changes no ids


def new_trace_id() -> str:
    """128 random bits as 32 lowercase hex characters."""
    return f"{_random.getrandbits(128) or 1:032x}"


def new_span_id() -> str:
    """64 random bits as 16 lowercase hex characters, never all zeros."""
    return f"{_random.getrandbits(64) or 1:016x}"


#: The active scope of the running task. Tasks copy it when created, so concurrent calls
#: started from a request see the request's span, and never each other's.
_ACTIVE: ContextVar[Scope | None] = ContextVar("sanicms_active_scope", default=None)


def active_span() -> Span | None:
    """The span of the innermost active scope here (in this task), or None."""
    scope = _ACTIVE.get()
    return scope._span if scope is not None else None


class Scope(opentracing.Scope):  # type: ignore[misc]  # opentracing ships no types
    """An activated span; closing it restores the previous one (and finishes the span)."""

    __slots__ = ("_finish_on_close", "_manager", "_span", "_token")

    def __init__(self, manager: ScopeManager, span: Span, finish_on_close: bool) -> None:
        self._manager = manager
        self._span = span
        self._finish_on_close = finish_on_close
        self._token = _ACTIVE.set(self)

    def close(self) -> None:
        if _ACTIVE.get() is not self:
            return  # closed already, or out of order: leave the newer scope alone
        _ACTIVE.reset(self._token)
        if self._finish_on_close:
            self._span.finish()


class ScopeManager(opentracing.ScopeManager):  # type: ignore[misc]  # opentracing ships no types
    """What opentracing's ``ContextVarsScopeManager`` does, in fewer calls: it runs twice per
    request on every service."""

    def activate(self, span: Span, finish_on_close: bool) -> Scope:
        return Scope(self, span, finish_on_close)

    @property
    def active(self) -> Scope | None:
        return _ACTIVE.get()


class Reporter(Protocol):
    def report(self, span: Span) -> None: ...


class SpanContext(opentracing.SpanContext):  # type: ignore[misc]  # opentracing ships no types
    """What crosses process boundaries: ids plus the sampling decision."""

    __slots__ = ("_baggage", "debug", "parent_id", "sampled", "span_id", "trace_id")

    def __init__(self, trace_id: str, span_id: str, parent_id: str | None = None,
                 sampled: bool | None = True, debug: bool = False, baggage: Mapping[str, str] | None = None) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.sampled = sampled
        self.debug = debug
        self._baggage = dict(baggage) if baggage else None  # made on first use: most spans have none

    @property
    def baggage(self) -> dict[str, str]:
        if self._baggage is None:
            self._baggage = {}
        return self._baggage

    def __repr__(self) -> str:
        return f"SpanContext({self.trace_id}/{self.span_id} parent={self.parent_id} sampled={self.sampled})"


class Span(opentracing.Span):  # type: ignore[misc]  # opentracing ships no types
    """One timed operation. Unsampled spans keep ids (for propagation) and record nothing."""

    __slots__ = ("_context", "_tracer", "end", "kind", "logs", "name", "remote", "start", "tags")

    def __init__(self, tracer: Tracer, context: SpanContext, name: str, start: float,
                 tags: dict[str, Any] | None, kind: str | None = None) -> None:
        # opentracing.Span.__init__ only stores these two; set directly on this hot path.
        self._tracer = tracer
        self._context = context
        self.name = name
        self.start = start
        self.end: float | None = None
        self.tags: dict[str, Any] = tags or {}
        # Zipkin's kind (SERVER, CLIENT...): given by our instrumentation, else from
        # opentracing's span.kind tag.
        self.kind: str | None = kind or (_KINDS.get(self.tags.pop(ot_tags.SPAN_KIND, None)) if tags else None)
        self.logs: list[tuple[float, dict[str, Any]]] | None = None  # made by the first log: most spans have none
        self.remote: dict[str, Any] | None = None  # Zipkin remoteEndpoint, when known

    def set_operation_name(self, operation_name: str) -> Span:
        self.name = operation_name
        return self

    def set_tag(self, key: str, value: Any) -> Span:
        if self._context.sampled:
            if key == ot_tags.SPAN_KIND:
                self.kind = _KINDS.get(value)
            else:
                self.tags[key] = value
        return self

    def log_kv(self, key_values: Mapping[str, Any], timestamp: float | None = None) -> Span:
        if self._context.sampled:
            if self.logs is None:
                self.logs = []
            self.logs.append((timestamp or time.time(), dict(key_values)))
        return self

    def set_baggage_item(self, key: str, value: str) -> Span:
        self._context.baggage[key] = value
        return self

    def get_baggage_item(self, key: str) -> str | None:
        return self._context.baggage.get(key)

    def finish(self, finish_time: float | None = None) -> None:
        if self.end is not None:
            return  # finishing twice reports once
        self.end = finish_time or time.time()
        if self._context.sampled:
            self._tracer.reporter.report(self)


class Tracer(opentracing.Tracer):  # type: ignore[misc]  # opentracing ships no types
    """Makes spans for one service. ``sample_rate`` decides new traces only: a caller's
    decision, when it sent one, is followed so that a trace is kept or dropped whole."""

    def __init__(self, service: str, reporter: Reporter, *, sample_rate: float = 1.0,
                 endpoint: Mapping[str, Any] | None = None) -> None:
        super().__init__(scope_manager=ScopeManager())
        self.service = service
        self.reporter = reporter
        self.sample_rate = sample_rate
        self.endpoint = dict(endpoint or {"serviceName": service})

    def start_span(self, operation_name: str | None = None, child_of: Any = None, references: Any = None,
                   tags: dict[str, Any] | None = None, start_time: float | None = None,
                   ignore_active_span: bool = False) -> Span:
        if child_of is None and not references:  # the usual case: no explicit parent
            scope = None if ignore_active_span else _ACTIVE.get()
            parent = scope._span._context if scope is not None else None
        else:
            parent = self._parent(child_of, references)
        if parent is None:
            context = SpanContext(new_trace_id(), new_span_id(), None, self._sample())
        else:  # positional: keyword calls cost measurably on this path
            context = SpanContext(parent.trace_id, new_span_id(), parent.span_id,
                                  parent.sampled, parent.debug, parent._baggage)
        return Span(self, context, operation_name or "", start_time or time.time(),
                    tags if context.sampled else None)

    def server_scope(self, operation_name: str, parent: SpanContext | None, tags: dict[str, Any],
                     start_time: float | None) -> Scope:
        """``start_active_span(name, child_of=parent, tags=tags + span.kind=server,
        start_time=start_time, ignore_active_span=True)`` in one call: the request's server
        span, opened for every request (the general path costs several more Python calls and
        keyword parsing). Ids are made inline for the same reason."""
        span_id = f"{_random.getrandbits(64) or 1:016x}"
        if parent is None:
            rate = self.sample_rate
            sampled = rate >= 1.0 or (rate > 0.0 and _random.random() < rate)
            context = SpanContext(f"{_random.getrandbits(128) or 1:032x}", span_id, None, sampled)
        else:  # a parent without a span id is a caller's decision alone: this span is the root
            context = SpanContext(parent.trace_id, span_id, parent.span_id or None,
                                  parent.sampled, parent.debug, parent._baggage)
        if context.sampled:
            span = Span(self, context, operation_name, start_time or time.time(), tags, "SERVER")
        else:
            span = Span(self, context, operation_name, start_time or time.time(), None)
        return Scope(self._scope_manager, span, True)

    def start_child(self, parent: SpanContext, operation_name: str, tags: dict[str, Any], kind: str | None) -> Span:
        """A sampled child span of ``parent`` (what instrumentation makes for each SQL statement,
        without ``start_span``'s argument handling); ``tags`` becomes the span's own."""
        context = SpanContext(parent.trace_id, f"{_random.getrandbits(64) or 1:016x}", parent.span_id,
                              True, parent.debug, parent._baggage)
        return Span(self, context, operation_name, time.time(), tags, kind)

    def start_active_span(self, operation_name: str, child_of: Any = None, references: Any = None,
                          tags: dict[str, Any] | None = None, start_time: float | None = None,
                          ignore_active_span: bool = False, finish_on_close: bool = True) -> opentracing.Scope:
        span = self.start_span(operation_name, child_of, references, tags, start_time, ignore_active_span)
        return Scope(self._scope_manager, span, finish_on_close)

    def continue_trace(self, incoming: SpanContext | None) -> SpanContext | None:
        """An extracted context whose sampling was left open gets this service's decision."""
        if incoming is not None and incoming.sampled is None:
            incoming.sampled = self._sample()
        return incoming

    def inject(self, span_context: SpanContext, format: str, carrier: dict[str, str]) -> None:
        if format not in (opentracing.Format.HTTP_HEADERS, opentracing.Format.TEXT_MAP):
            raise opentracing.UnsupportedFormatException(format)
        carrier.update(propagation.headers_for(span_context))

    def extract(self, format: str, carrier: Mapping[str, str]) -> SpanContext | None:
        """The caller's context, or None (also for malformed headers: they start a new trace)."""
        if format not in (opentracing.Format.HTTP_HEADERS, opentracing.Format.TEXT_MAP):
            raise opentracing.UnsupportedFormatException(format)
        found = propagation.extract(carrier)
        if found is None:
            return None
        if not found.trace_id:  # a decision only: the root of a new trace, sampled as the caller said
            context = SpanContext(new_trace_id(), "", None, sampled=found.sampled, debug=found.debug)
        else:
            context = SpanContext(found.trace_id, found.span_id, found.parent_id,
                                  sampled=found.sampled, debug=found.debug)
        return self.continue_trace(context)

    def _sample(self) -> bool:
        rate = self.sample_rate
        return rate >= 1.0 or (rate > 0.0 and _random.random() < rate)

    @staticmethod
    def _parent(child_of: opentracing.Span | SpanContext | None, references: Any) -> SpanContext | None:
        if isinstance(child_of, opentracing.Span):
            context: SpanContext = child_of.context  # ours: opentracing declares no types
            return context
        if child_of is not None:
            return child_of
        return references[0].referenced_context if references else None
