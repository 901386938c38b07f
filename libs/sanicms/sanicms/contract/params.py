"""Query parameters every service uses: pages (``page``, ``page_size``) and id lists (``ids``),
and the check of integer path parameters (``/cities/<id:int>``).

The OpenAPI spec (:mod:`sanicms.contract.openapi`) documents these parameters with the bounds below,
so what the spec allows and what these functions accept are the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sanic import Request
from sanic_routing.route import Route

from ..errors import ValidationError
from .validation import INT32

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
