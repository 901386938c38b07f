"""Query parameters every service uses: pages (``page``, ``page_size``) and id lists (``ids``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ValidationError


@dataclass(frozen=True, slots=True)
class Page:
    page: int
    page_size: int

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


def page_from(request: Any) -> Page:
    """Read ``page`` and ``page_size``; bad values are a 400 naming the parameter."""
    config = request.app.config
    problems = []
    page = _int_arg(request, "page", 1, 1, MAX_PAGE, problems)
    size = _int_arg(request, "page_size", config.PAGE_SIZE_DEFAULT, 1, config.PAGE_SIZE_MAX, problems)
    if problems:
        raise ValidationError("invalid pagination parameters", error=problems)
    return Page(page, size)


def _int_arg(request: Any, name: str, default: int, low: int, high: int, problems: list) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        problems.append({"field": name, "message": f"must be an integer, got {raw[:40]!r}"})
        return default
    if not low <= value <= high:
        problems.append({"field": name, "message": f"must be between {low} and {high}"})
    return value


MAX_IDS = 100


def ids_from(request: Any, name: str = "ids") -> list[int] | None:
    """``?ids=1,2,3`` as a list of distinct ints (at most ``MAX_IDS``), or None if absent."""
    raw = request.args.get(name)
    if raw is None:
        return None
    ids: list[int] = []
    for part in raw.split(","):
        part = part.strip()
        try:
            value = int(part)
        except ValueError:
            raise ValidationError(f"invalid {name}", error=[{"field": name, "message": f"{part[:40]!r} is not an integer"}]) from None
        if not -(2**31) <= value < 2**31:
            raise ValidationError(f"invalid {name}", error=[{"field": name, "message": f"{value} is out of range"}])
        if value not in ids:
            ids.append(value)
    if len(ids) > MAX_IDS:
        raise ValidationError(f"too many {name}", error=[{"field": name, "message": f"at most {MAX_IDS} ids"}])
    return ids
