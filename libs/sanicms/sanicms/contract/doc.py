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

from ..errors import ApiError, ValidationError
from .params import Param, check_params
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


def errors(*declared: int | str | tuple[int, str] | type[ApiError]) -> Decorator:
    """Declare the errors the route may answer beyond bad input: a status (``errors(404, 503)``),
    a status and why (``errors(409, "already paid")``, or the pair ``(409, "already paid")``),
    or the error classes the handler raises (``errors(AlreadyPaid)``: its ``status_code``, and
    its ``message`` as the reason). The spec lists each one, and the contract test lets a valid
    request get exactly these (a 400 only when declared with a reason: bad input is the other
    400). Added by themselves: 400 for bad input, 404 for an unknown path, 409 where a body
    writes a unique column, 413 for a request over Sanic's size limits, 415 for a body that is
    not JSON."""
    statuses = _declared_errors(declared)

    def mark(handler: Handler) -> Handler:
        return _record(errors={**meta_of(handler).get("errors", {}), **statuses})(handler)
    return mark


def _declared_errors(declared: tuple[Any, ...]) -> dict[int, str | None]:
    out: dict[int, str | None] = {}
    items = list(declared)
    while items:
        item = items.pop(0)
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], int) and isinstance(item[1], str):
            out[item[0]] = item[1]
        elif isinstance(item, type) and issubclass(item, ApiError):
            out[int(item.status_code)] = item.message if "message" in vars(item) else None
        elif isinstance(item, int) and not isinstance(item, bool) and 400 <= item <= 599:
            out[item] = items.pop(0) if items and isinstance(items[0], str) else None
        else:
            raise TypeError(f"doc.errors takes statuses (409), a status and why (409, 'already paid'), "
                            f"or ApiError classes; got {item!r}")
    return out


def ids_param(name: str = "ids") -> Decorator:
    """Declare the ``?ids=1,2,3`` batch-lookup parameter that :func:`sanicms.ids_from` reads."""
    return _record(ids=name)


def query(name: str, annotation: Any = str, /, **rule: Any) -> Decorator:
    """Declare a query parameter, e.g. ``doc.query("user_id", int, gt=0, description="...")``:
    its type (int, float, Decimal, str, bool, date, datetime, time, UUID), bounds (``gt``,
    ``ge``, ``lt``, ``le``), ``choices``, ``max_length``, ``default=`` (absent: the default;
    without one it is required, unless ``required=False``: then None) and ``description``.
    The spec documents it; before the handler runs it is checked by the rules a body field
    keeps (a 400 naming it, as for a body; given twice is a 400 too, parameters nobody
    declared are left alone) and its value is ``request.ctx.params.user_id``."""
    return _parameter(Param.declare(name, "query", annotation, **rule))


def path(name: str, annotation: Any = int, /, **rule: Any) -> Decorator:
    """Declare a path parameter of the route (``/<id:int>``) as :func:`query` does: bounds,
    choices and a description; the handler's argument and ``request.ctx.params`` get the value."""
    return _parameter(Param.declare(name, "path", annotation, **rule))


def header(name: str, annotation: Any = str, /, **rule: Any) -> Decorator:
    """Declare a request header as :func:`query` does, by its HTTP name (matched whatever its
    case): ``doc.header("X-Tenant")`` is ``request.ctx.params.x_tenant``."""
    return _parameter(Param.declare(name, "header", annotation, **rule))


PARAMS = "__sanicms_params__"  # the declared parameters a checking wrapper reads


def _parameter(param: Param) -> Decorator:
    """Add ``param`` to the route: one wrapper checks all those declared next to each other."""
    def wrap(handler: Handler) -> Handler:
        declared: list[Param] | None = getattr(handler, PARAMS, None)
        if declared is not None:  # a declaration below this one made the wrapper already
            if any(p.name == param.name and p.location == param.location for p in declared):
                raise TypeError(f"{param.location} parameter {param.name} is declared twice")
            declared.insert(0, param)  # decorators run bottom-up: keep the order they are written in
            return handler
        params = [param]

        @functools.wraps(handler)
        async def checked(request: Request, *args: Any, **kwargs: Any) -> Any:
            request.ctx.params = check_params(request, params, kwargs)
            return await handler(request, *args, **kwargs)

        # the list is shared: functools.wraps copies it onto any wrapper made above this one
        # (doc.consumes), where a doc.query further up adds to it, and the meta shows it
        setattr(checked, HANDLER_DOC, {**meta_of(handler), "params": params})
        setattr(checked, PARAMS, params)
        _move_operation(handler, checked)
        return checked

    return wrap


def _move_operation(handler: Handler, wrapper: Handler) -> None:
    """Keep what sanic_ext.openapi decorators below this one recorded for ``handler``."""
    store = OperationStore()  # type: ignore[no-untyped-call]  # sanic-ext leaves its __init__ unannotated
    if handler in store:
        store[wrapper] = store.pop(handler)


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
        _move_operation(handler, checked)
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
