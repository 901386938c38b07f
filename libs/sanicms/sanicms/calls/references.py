"""Records of other services that a row names by id: ``city_id`` names a city of the city
service.

A model field whose ``help_text`` is a neighbour's published shape
(``published_shape("city", "City")``) is such a reference. :meth:`References.of` finds them on
the model, so a service that refers to its neighbours writes no calling code of its own: its
handlers ask for a body's references to be checked (a 400 naming each field whose record does
not exist) and for rows to be shown with the records they name (``city`` beside ``city_id``),
one call per neighbour for a whole page of rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sanic import Request

from ..contract.published import SERVICE_ATTRIBUTE
from ..errors import ValidationError
from ..tracing.decorator import logger
from .client import gather


class References:
    """``{field: service}``, e.g. ``{"city_id": "city", "role_id": "role"}``; a record is shown
    under its field's name without ``_id``. ``noun`` names the row in error messages."""

    def __init__(self, fields: Mapping[str, str], *, noun: str = "record") -> None:
        self.fields = dict(fields)
        self.noun = noun

    @classmethod
    def of(cls, model: Any) -> References:
        """The references of a peewee model: its fields whose ``help_text`` is a published shape."""
        fields = {name: getattr(field.help_text, SERVICE_ATTRIBUTE)
                  for name, field in model._meta.fields.items()
                  if hasattr(field.help_text, SERVICE_ATTRIBUTE)}
        return cls(fields, noun=model.__name__.lower())

    async def expand(self, request: Request, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` with the records it names, fetched concurrently (None for one that is gone)."""
        found = await gather(*(fetch_one(request, service, row[field]) if row[field] is not None else _none()
                               for field, service in self.fields.items()))
        return {**row, **{_shown_as(field): obj for field, obj in zip(self.fields, found, strict=True)}}

    async def expand_many(self, request: Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A page of rows with the records they name: one call per neighbour, not one per row."""
        found = await gather(*(fetch_many(request, service, [r[field] for r in rows if r[field] is not None])
                               for field, service in self.fields.items()))
        shown = [(field, _shown_as(field), by_id) for field, by_id in zip(self.fields, found, strict=True)]
        return [{**r, **{name: by_id.get(r[field]) for field, name, by_id in shown}} for r in rows]

    async def check(self, request: Request, data: Mapping[str, Any],
                    current: Mapping[str, Any] | None = None) -> Found:
        """Make sure the records a body names exist, or a 400 naming each field that does not.

        Returns the records (by the name they are shown under; None for a null reference)
        so that the reply can include them without asking again. With ``current``, the row a change applies to, the
        records it goes on naming are fetched too (None for one that is gone, as in
        :meth:`expand`): a handler that checks before it writes then has every record of its
        reply, and a neighbour that fails leaves nothing written."""
        asked = {field: (service, data[field]) for field, service in self.fields.items()
                 if data.get(field) is not None}
        if current is not None:
            asked.update({field: (service, current[field]) for field, service in self.fields.items()
                          if field not in data and current.get(field) is not None})
        found = await gather(*(fetch_one(request, service, id) for service, id in asked.values()))
        problems = [{"field": field, "message": f"{service} {id} does not exist"}
                    for (field, (service, id)), obj in zip(asked.items(), found, strict=True)
                    if obj is None and field in data]
        if problems:
            raise ValidationError(f"the {self.noun} refers to records that do not exist", error=problems)
        records = dict(zip(asked, found, strict=True))
        return Found({_shown_as(field): records.get(field) for field in self.fields},  # None: null or gone
                     {field: id for field, (_, id) in asked.items()})

    async def attach(self, request: Request, row: dict[str, Any], found: Found) -> dict[str, Any]:
        """``row``, as written, with the records :meth:`check` found for it. Should another
        request have changed a reference between the check and the write, the row's records
        are fetched again, as :meth:`expand` does."""
        if any(row.get(field) != found.ids.get(field) for field in self.fields):
            return await self.expand(request, row)
        return {**row, **{_shown_as(field): found.get(_shown_as(field)) for field in self.fields}}


class Found(dict[str, dict[str, Any] | None]):
    """The records :meth:`References.check` found, by the name each is shown under; ``ids``:
    the id it asked for, by field."""

    def __init__(self, records: Mapping[str, dict[str, Any] | None], ids: dict[str, Any]) -> None:
        super().__init__(records)
        self.ids = ids


# A span and a DEBUG log line per fetch: visible in the trace, quiet in INFO logs under load.
@logger(type="method", detail="fetch one by id", level=logging.DEBUG)
async def fetch_one(request: Request, service: str, id: int) -> dict[str, Any] | None:
    """One record of a neighbour by id; None when the neighbour says it does not exist."""
    client = request.app.ctx.clients[service]
    found: dict[str, Any] | None = await client.get_or_none(request, f"{client.resource}/{id}")
    return found


@logger(type="method", detail="fetch a page's worth by ids", level=logging.DEBUG)
async def fetch_many(request: Request, service: str, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Records of a neighbour by id, in one call (?ids=); those that do not exist are absent."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    client = request.app.ctx.clients[service]
    rows = await client.get(request, client.resource, params={"ids": wanted})
    return {row["id"]: row for row in rows}


async def _none() -> None:
    """What a null reference names."""
    return None


def _shown_as(field: str) -> str:
    return field[:-3] if field.endswith("_id") else field
