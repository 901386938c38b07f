"""Query parameters every service uses: pages (``page``, ``page_size``) and id lists (``ids``),
the check of integer path parameters (``/cities/<id:int>``), and the parameters a route
declares itself (``doc.query``, ``doc.path``, ``doc.header``: :class:`Param`), checked by the
same rules as body fields.

The OpenAPI spec (:mod:`sanicms.contract.openapi`) documents these parameters with the bounds below,
so what the spec allows and what these functions accept are the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

import peewee
from sanic import Request
from sanic_routing.route import Route

from ..errors import ValidationError
from .shapes import PYTHON_TYPES
from .validation import INT32, Rule, check, rule_for

# Digits only: Python's int() would also take " 7", "+7", "7_000" and non-ASCII digits.
_INTEGER = re.compile(r"-?[0-9]+")


@dataclass(frozen=True, slots=True)
class Page:
    page: int
    page_size: int
    #: whether the request asked for it (``page`` or ``page_size``), rather than the defaults
    given: bool = False

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    @property
    def limit(self) -> int:
        return self.page_size

    def info(self, total: int) -> dict[str, int]:
        """The ``pagination`` block: where this page is and how many there are."""
        pages = (total + self.page_size - 1) // self.page_size
        return {"page": self.page, "page_size": self.page_size, "total": total, "pages": pages}


MAX_PAGE = 1_000_000  # keeps OFFSET within what PostgreSQL can answer quickly and bigint allows


def page_from(request: Request) -> Page:
    """Read ``page`` and ``page_size``; bad values are a 400 naming the parameter."""
    api = request.app.ctx.settings.api
    problems: list[dict[str, str]] = []
    page = _int_arg(request, "page", 1, 1, MAX_PAGE, problems)
    size = _int_arg(request, "page_size", api.page_size_default, 1, api.page_size_max, problems)
    if problems:
        raise ValidationError("invalid pagination parameters", error=problems)
    return Page(page, size, given=_arg(request, "page") is not None or _arg(request, "page_size") is not None)


def _int_arg(request: Request, name: str, default: int, low: int, high: int, problems: list[dict[str, str]]) -> int:
    raw = _arg(request, name)
    if raw is None:
        return default
    try:
        value = _strict_int(raw)
    except ValueError:
        problems.append({"field": name, "message": f"must be an integer, got {raw[:40]!r}"})
        return default
    if not low <= value <= high:
        problems.append({"field": name, "message": f"must be between {low} and {high}"})
    return value


MAX_IDS = 100


def ids_from(request: Request, name: str = "ids") -> list[int] | None:
    """``?ids=1,2,3`` (or ``?ids=1&ids=2&ids=3``) as a list of distinct ints (at most
    ``MAX_IDS``), or None if absent."""
    values = request.get_args(keep_blank_values=True).getlist(name)
    if not values:
        return None
    parts = ",".join(values).split(",")
    if len(parts) > MAX_IDS:
        raise ValidationError(f"too many {name}", error=[{"field": name, "message": f"at most {MAX_IDS} ids"}])
    ids: list[int] = []
    for part in parts:
        part = part.strip()
        try:
            value = _strict_int(part)
        except ValueError:
            raise ValidationError(f"invalid {name}",
                                  error=[{"field": name, "message": f"{part[:40]!r} is not an integer"}]) from None
        if not INT32[0] <= value <= INT32[1]:
            raise ValidationError(f"invalid {name}", error=[{"field": name, "message": f"{value} is out of range"}])
        if value not in ids:
            ids.append(value)
    return ids


def _arg(request: Request, name: str) -> str | None:
    """The raw value; ``?page=`` is an empty string (a 400), not a missing parameter, and a
    parameter given twice is a 400, not one of its values picked."""
    values = request.get_args(keep_blank_values=True).getlist(name)
    if len(values) > 1:
        raise ValidationError(f"{name} is given {len(values)} times",
                              error=[{"field": name, "message": "must be given once"}])
    return values[0] if values else None


def _strict_int(raw: str) -> int:
    if not _INTEGER.fullmatch(raw):
        raise ValueError(raw)
    return int(raw)


#: Integer path parameters are 32-bit, like the serial keys they look up.
PATH_INT = INT32


def check_path_params(request: Request, route: Route) -> None:
    """Route hook (:mod:`sanicms.routed`): an integer path parameter out of 32-bit range is
    a 400 naming it, before the handler runs (the router only checks that it is digits)."""
    if request.method == "OPTIONS":  # CORS preflights answer for any path
        return
    low, high = PATH_INT
    values = request.match_info
    problems: list[dict[str, str]] = []
    for param in route.params.values():  # a loop, not a comprehension: one frame less per request
        if param.cast is int and not low <= values.get(param.name, 0) <= high:
            problems.append({"field": param.name, "message": f"must be between {low} and {high}"})
    if problems:
        raise ValidationError("invalid path parameters", error=problems)


# --------------------------------------------------------------------------- declared parameters
#: Where a declared parameter is read from, as OpenAPI names it.
LOCATIONS = ("query", "path", "header")
#: Headers OpenAPI does not let an operation describe as parameters (they have their own places).
RESERVED_HEADERS = frozenset({"accept", "content-type", "authorization"})
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_REQUIRED: Any = object()


class Params(SimpleNamespace):
    """``request.ctx.params``: each declared parameter's parsed value (``params.user_id``), its
    default when absent; ``params["user_id"]`` works too."""

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter a route declares (``doc.query``, ``doc.path``, ``doc.header``): where it
    is, the rule its value must keep (the same :class:`~sanicms.contract.validation.Rule` a body
    field keeps), its default and its description."""

    name: str
    location: str
    rule: Rule
    field: peewee.Field  # what the rule was read from: the spec's schema comes from both
    default: Any = None
    description: str | None = None

    @classmethod
    def declare(cls, name: str, location: str, annotation: Any, *, default: Any = _REQUIRED,
                required: bool | None = None, description: str | None = None,
                gt: float | None = None, ge: float | None = None, lt: float | None = None, le: float | None = None,
                choices: Iterable[Any] | None = None, max_length: int | None = None) -> Param:
        if location not in LOCATIONS:
            raise TypeError(f"a parameter is in one of {', '.join(LOCATIONS)}, not {location!r}")
        if location == "header" and name.lower() in RESERVED_HEADERS:
            raise TypeError(f"the {name} header is not a parameter OpenAPI lets an operation describe")
        if annotation not in PYTHON_TYPES or annotation in (dict, list, Any):
            raise TypeError(f"parameter {name}: no parameter type for {annotation!r} "
                            "(int, float, Decimal, str, bool, date, datetime, time, UUID)")
        if required is None:
            required = default is _REQUIRED
        if location == "path":
            required = True
        default = None if default is _REQUIRED else default
        field = PYTHON_TYPES[annotation](verbose_name=description, default=default)
        field.name = field.column_name = name
        rule = rule_for(field)
        low, high = _bound(ge, gt, rule.minimum, max), _bound(le, lt, rule.maximum, min)
        rule = replace(rule, required=required, nullable=False,
                       max_length=max_length if rule.kind == "string" else None,
                       minimum=low[0], exclusive_minimum=low[1], maximum=high[0], exclusive_maximum=high[1],
                       choices=tuple(choices) if choices is not None else None)
        if (low[0] is not None or high[0] is not None) and rule.kind not in ("integer", "number", "decimal"):
            raise TypeError(f"parameter {name}: bounds (gt, ge, lt, le) are for numbers")
        param = cls(name, location, rule, field, default, description)
        if default is not None and rule.kind in ("integer", "number", "string", "boolean"):
            try:
                check(rule, default)
            except ValueError as exc:  # a default that breaks its own rule fails at import
                raise TypeError(f"parameter {name}: its default {default!r} {exc}") from None
        return param

    @property
    def attribute(self) -> str:
        """Its name on ``request.ctx.params``: a header's in lowercase, ``-`` as ``_`` (``x_tenant``)."""
        return self.name.lower().replace("-", "_") if self.location == "header" else self.name

    def parse(self, raw: Any) -> Any:
        """The value of one occurrence (text from a URL or header, or what the router made of a
        path segment), checked by the parameter's rule; ValueError with a message otherwise."""
        if isinstance(raw, str):
            raw = _from_text(self.rule.kind, raw)
        return check(self.rule, raw)


def _bound(inclusive: float | None, exclusive: float | None, kind_bound: float | None,
           tighter: Callable[[float, float], float]) -> tuple[float | None, bool]:
    if inclusive is not None and exclusive is not None:
        raise TypeError("give one bound on each side: ge or gt, le or lt")
    declared = inclusive if inclusive is not None else exclusive
    if declared is None:
        return kind_bound, False
    if kind_bound is not None and tighter(kind_bound, declared) != declared:
        return kind_bound, False  # the type's own range (32-bit) is tighter
    return declared, exclusive is not None


def _from_text(kind: str, raw: str) -> Any:
    """Text as the JSON value the body check reads: numbers and booleans parsed strictly."""
    if kind == "integer":
        if not _INTEGER.fullmatch(raw):
            raise ValueError(f"must be an integer, got {raw[:40]!r}")
        return int(raw)
    if kind == "number":
        if not _NUMBER.fullmatch(raw):
            raise ValueError(f"must be a number, got {raw[:40]!r}")
        return float(raw)
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise ValueError(f"must be true or false, got {raw[:40]!r}")
        return raw == "true"
    return raw


def check_params(request: Request, declared: list[Param], kwargs: dict[str, Any]) -> Params:
    """Every declared parameter of the request, parsed; one 400 naming each one at fault.
    Parameters nobody declared are left alone; one given twice is a 400, as ``page`` is."""
    problems: list[dict[str, str]] = []
    values: dict[str, Any] = {}
    args = None
    for param in declared:
        if param.location == "path":
            given = [kwargs[param.name]] if param.name in kwargs else []
        elif param.location == "query":
            args = args if args is not None else request.get_args(keep_blank_values=True)
            given = args.getlist(param.name)
        else:
            given = request.headers.getall(param.name, [])
        if len(given) > 1:
            problems.append({"field": param.name, "message": "must be given once"})
        elif not given:
            if param.rule.required:
                problems.append({"field": param.name, "message": "is required"})
            values[param.attribute] = param.default
        else:
            try:
                values[param.attribute] = param.parse(given[0])
            except ValueError as exc:
                problems.append({"field": param.name, "message": str(exc)})
    if problems:
        where = {p.location for p in declared if p.name in {q["field"] for q in problems}}
        raise ValidationError(f"invalid {where.pop() if len(where) == 1 else 'request'} parameters", error=problems)
    for param in declared:
        if param.location == "path":
            kwargs[param.name] = values[param.name]
    existing = getattr(request.ctx, "params", None)
    if isinstance(existing, Params):  # another declaration of the same route read some already
        existing.__dict__.update(values)
        return existing
    return Params(**values)
