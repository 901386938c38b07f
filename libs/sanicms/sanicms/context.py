"""The trace context as the rest of the library sees it: the ids for a log line, an error or
a tag on the current span. One small interface, so that errors, logs and auth never reach
into the tracer's internals (``tracing/`` can change behind it)."""

from __future__ import annotations

from sanic import Request

from .tracing.instrument import KEPT_TRACE_ID, note_error
from .tracing.tracer import active_span

__all__ = ["KEPT_TRACE_ID", "finished_trace_id", "note_error", "tag_span", "trace_ids"]


def trace_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the span the current code runs in; None outside one."""
    span = active_span()
    if span is None:
        return None
    context = span.context
    return context.trace_id, context.span_id


def finished_trace_id(request: Request) -> str | None:
    """The trace id of ``request``'s server span once it finished, when the trace is kept
    (sampled): what a metric's exemplar may point to (an unsampled trace is nowhere)."""
    found: str | None = getattr(request.ctx, KEPT_TRACE_ID, None)
    return found


def tag_span(key: str, value: str) -> None:
    """Tag the current span, when there is one and it is kept (sampled)."""
    span = active_span()
    if span is not None and span.context.sampled:
        span.set_tag(key, value)
