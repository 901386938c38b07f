"""``@logger``: a log line and a span for one function, as the original design has it.

    @logger(type="method", category="user", detail="fetch one city", tracing=True, level=logging.DEBUG)
    async def get_city(request, city_id): ...

The span is a child of whatever span is active (the request's), so a decorated helper shows
up inside its request's trace; the log line carries the fields and the time it took.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from opentracing import tags as ot_tags

from .tracer import _ACTIVE, Scope, Tracer, active_span

F = TypeVar("F", bound=Callable[..., Any])


def logger(type: str = "method", category: str | None = None, detail: str | None = None,
           description: str | None = None, tracing: bool = True, level: int = logging.INFO) -> Callable[[F], F]:
    """Log each call of the decorated function (sync or async) and, with ``tracing``, time it
    in a span. ``category`` defaults to the service's name, ``description`` to the docstring."""

    def decorate(func: F) -> F:
        name = func.__qualname__
        about = description or (inspect.getdoc(func) or "").split("\n", 1)[0] or None
        log = logging.getLogger(func.__module__)
        fields = {"type": type, "detail": detail, "description": about}
        shown = {k: v for k, v in fields.items() if v is not None}  # the span's tags, but category

        def begin() -> tuple[Any, float]:
            active = _ACTIVE.get()
            new_scope = None
            # Attributes, not opentracing's properties: this runs for every decorated call.
            if tracing and active is not None and active._span._context.sampled:
                span = active._span
                tracer = span._tracer
                tags = {**shown, "category": category or getattr(tracer, "service", None)}
                if isinstance(tracer, Tracer):  # ours: the child made in one call
                    child = tracer.start_child(span._context, name, tags, None)
                    new_scope = Scope(tracer._scope_manager, child, True)
                else:
                    new_scope = tracer.start_active_span(name, tags=tags)
            return new_scope, time.perf_counter()

        def end(scope: Any, started: float, error: BaseException | None) -> None:
            took = (time.perf_counter() - started) * 1000
            if log.isEnabledFor(level):  # before the span closes, so the line names it
                outcome = "ok" if error is None else f"failed ({type_name(error)})"
                extra = {**fields, "category": category or _service(), "function": name, "duration_ms": round(took, 3)}
                log.log(level, "%s %s in %.1f ms", name, outcome, took, extra=extra)
            if scope is not None:
                if error is not None:
                    scope.span.set_tag(ot_tags.ERROR, type_name(error))
                    scope.span.log_kv({"event": "error", "message": getattr(error, "message", None) or str(error)})
                scope.close()

        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def traced(*args: Any, **kwargs: Any) -> Any:
                scope, started = begin()
                try:
                    result = await func(*args, **kwargs)
                except BaseException as exc:
                    end(scope, started, exc)
                    raise
                end(scope, started, None)
                return result
        else:
            @functools.wraps(func)
            def traced(*args: Any, **kwargs: Any) -> Any:
                scope, started = begin()
                try:
                    result = func(*args, **kwargs)
                except BaseException as exc:
                    end(scope, started, exc)
                    raise
                end(scope, started, None)
                return result

        return traced  # type: ignore[return-value]

    return decorate


def type_name(error: BaseException) -> str:
    return type(error).__name__


def _service() -> str | None:
    span = active_span()
    return getattr(span.tracer, "service", None) if span is not None else None
