"""Route documentation decorators, and the input check that follows from them.

The decorators record what a route takes and answers on the handler (``__sanicms_doc__``);
:mod:`sanicms.contract.openapi` hands that to sanic-ext when the app starts, which serves the spec.
``@doc.consumes(Model)`` also enforces what it declares: the handler runs only with a valid
body, available as ``request.ctx.data`` (clean, typed values).

A shape (what ``consumes`` / ``produces`` take) is a peewee model, a plain class of peewee
fields, a dict of fields or Python types (``{"id": int}``), a list of one of those
(``[City]``), or a Python type.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sanic import Request
from sanic_ext.extensions.openapi.builders import OperationStore

from ..errors import ValidationError
from .shapes import as_model
from .validation import json_body, rules_for, validate

Handler = Callable[..., Any]
Decorator = Callable[[Handler], Handler]
HANDLER_DOC = "__sanicms_doc__"  # attribute set on a handler by the decorators


def meta_of(handler: Handler) -> dict[str, Any]:
    """What the decorators recorded on ``handler`` (empty if none)."""
    return getattr(handler, HANDLER_DOC, {})


def _record(**values: Any) -> Decorator:
    def mark(handler: Handler) -> Handler:
        meta = getattr(handler, HANDLER_DOC, None)
        if meta is None:
            meta = {}
            setattr(handler, HANDLER_DOC, meta)
        meta.update(values)
        return handler
    return mark


def summary(text: str) -> Decorator:
    return _record(summary=text)


def description(text: str) -> Decorator:
    return _record(description=text)


def tag(*names: str) -> Decorator:
    def mark(handler: Handler) -> Handler:
        tags = [*meta_of(handler).get("tags", []), *names]
        return _record(tags=tags)(handler)
    return mark


def produces(shape: Any, *, status: int = 200, paginated: bool = False, expand: bool = True) -> Decorator:
    """Declare what the handler returns as ``data`` (the envelope wraps it) and with which
    status. ``paginated`` adds the ``pagination`` block and documents the ``page`` and
    ``page_size`` parameters that :func:`sanicms.page_from` reads. ``expand`` (the default)
    says each reply carries, as a required property, the object every ``help_text=`` reference
    names (``city`` beside ``city_id``); ``expand=False`` documents the ids alone."""
    return _record(produces=shape, status=status, paginated=paginated, expand=expand)


def media(*types: str) -> Decorator:
    """Declare that the handler answers in these media types instead of the JSON envelope
    (``/metrics``: Prometheus text or OpenMetrics), so the spec says what really comes back."""
    return _record(media=types)


def errors(*statuses: int | tuple[int, str]) -> Decorator:
    """Declare the error statuses the route may answer, e.g. ``errors(404, 503)``, or
    ``(409, "the name is taken")`` to say why. The rest are added by themselves: 400 for
    bad input, 404 for an unknown path, 413 for a request over Sanic's size limits, 415 for
    a body that is not JSON."""
    declared = dict(s if isinstance(s, tuple) else (s, None) for s in statuses)

    def mark(handler: Handler) -> Handler:
        return _record(errors={**meta_of(handler).get("errors", {}), **declared})(handler)
    return mark


def ids_param(name: str = "ids") -> Decorator:
    """Declare the ``?ids=1,2,3`` batch-lookup parameter that :func:`sanicms.ids_from` reads."""
    return _record(ids=name)


def consumes(shape: Any, *, partial: bool = False) -> Decorator:
    """Declare and enforce the JSON body: a record shape (model, class of fields, dict) or a
    list of one. ``partial`` (for PATCH) makes every field optional but wants at least one."""
    check = _body_check(shape, partial)  # an unsupported shape fails here, at import

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: Request, *args: Any, **kwargs: Any) -> Any:
            request.ctx.data = check(json_body(request))
            return await handler(request, *args, **kwargs)

        setattr(checked, HANDLER_DOC, {**meta_of(handler), "consumes": shape, "partial": partial})
        store = OperationStore()  # type: ignore[no-untyped-call]  # sanic-ext leaves its __init__ unannotated
        if handler in store:  # keep what sanic_ext.openapi decorators below this one recorded
            store[checked] = store.pop(handler)
        return checked

    return wrap


def _body_check(shape: Any, partial: bool) -> Callable[[Any], Any]:
    if isinstance(shape, (list, tuple)) and len(shape) == 1:
        model = as_model(shape[0])
        rules_for(model)  # now: a mistake in the model fails at import, not on the first body
        return lambda data: _validate_list(data, model, partial)
    model = as_model(shape)
    rules_for(model)
    return lambda data: validate(data, model, partial=partial)


def _validate_list(data: Any, model: Any, partial: bool) -> list[dict[str, Any]]:
    """A JSON array of records; problems are named ``<index>.<field>``."""
    if not isinstance(data, list):
        raise ValidationError("the body must be a JSON array",
                              error=[{"field": "", "message": "expected an array"}])
    clean, problems = [], []
    for index, item in enumerate(data):
        try:
            clean.append(validate(item, model, partial=partial))
        except ValidationError as exc:
            problems += [{"field": f"{index}.{p['field']}".rstrip("."), "message": p["message"]}
                         for p in exc.error]
    if problems:
        raise ValidationError("invalid request body", error=problems)
    return clean
