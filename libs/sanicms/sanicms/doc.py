"""Route documentation decorators, and the input check that follows from them.

``@doc.consumes(Model)`` both documents the body and enforces it: the handler runs only
with a valid body, available as ``request.ctx.data`` (clean, typed values).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .validation import json_body, validate

Handler = Callable[..., Any]


def _meta(handler: Handler) -> dict[str, Any]:
    meta = getattr(handler, "__sanicms_doc__", None)
    if meta is None:
        meta = {}
        handler.__sanicms_doc__ = meta
    return meta


def summary(text: str) -> Callable[[Handler], Handler]:
    def mark(handler: Handler) -> Handler:
        _meta(handler)["summary"] = text
        return handler
    return mark


def description(text: str) -> Callable[[Handler], Handler]:
    def mark(handler: Handler) -> Handler:
        _meta(handler)["description"] = text
        return handler
    return mark


def tag(*names: str) -> Callable[[Handler], Handler]:
    def mark(handler: Handler) -> Handler:
        _meta(handler).setdefault("tags", []).extend(names)
        return handler
    return mark


def produces(schema: Any, *, paginated: bool = False) -> Callable[[Handler], Handler]:
    """Declare what the handler returns as ``data`` (wrapped in the envelope)."""
    def mark(handler: Handler) -> Handler:
        _meta(handler).update(produces=schema, paginated=paginated)
        return handler
    return mark


def consumes(model: Any, *, partial: bool | Callable[[Any], bool] = False) -> Callable[[Handler], Handler]:
    """Declare and enforce the JSON body. ``partial`` may be a function of the request
    (e.g. true for PATCH) that makes every field optional."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: Any, *args: Any, **kwargs: Any) -> Any:
            is_partial = partial(request) if callable(partial) else partial
            request.ctx.data = validate(json_body(request), model, partial=is_partial)
            return await handler(request, *args, **kwargs)

        meta = dict(getattr(handler, "__sanicms_doc__", {}))
        meta.update(consumes=model)
        checked.__sanicms_doc__ = meta
        return checked

    return wrap
