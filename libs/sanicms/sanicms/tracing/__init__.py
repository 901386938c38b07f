"""Distributed tracing: an OpenTracing tracer exporting Zipkin v2 spans.

``install``/``start``/``stop`` are called by the app factory; services use ``logger`` and,
for custom spans, ``request.app.ctx.tracer`` (a regular ``opentracing.Tracer``).
"""

from .decorator import logger
from .exporter import HttpTransport, LogTransport
from .instrument import ClientSpans, SpanHooks, SqlSpans, install, instrumentation, note_error, start, stop
from .processor import SpanReporter
from .propagation import extract, headers_for
from .tracer import Span, SpanContext, Tracer, new_span_id, new_trace_id
from .zipkin import to_zipkin

__all__ = [
    "ClientSpans", "HttpTransport", "LogTransport", "Span", "SpanContext", "SpanHooks", "SpanReporter", "SqlSpans",
    "Tracer", "extract", "headers_for", "install", "instrumentation", "logger", "new_span_id", "new_trace_id",
    "note_error", "start", "stop", "to_zipkin",
]
