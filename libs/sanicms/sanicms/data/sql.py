"""Parameterised CRUD statements for one peewee model, run through a :class:`Cursor`.

Services write their own SQL wherever it matters; this covers the five statements every
resource needs. Column names come from the model and are quoted; values are always
``$n`` parameters, never formatted into the text. Each is :class:`Stateless`: rows only, so
a checkout that runs nothing else returns its connection without a session reset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import peewee

from ..contract.params import Page
from .checkout import Cursor
from .session import Stateless


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class Table:
    """The standard statements for ``model``'s table, built once."""

    def __init__(self, model: type[peewee.Model]) -> None:
        meta = model._meta
        self.name = _q(meta.table_name)
        self.columns = {f.name: f.column_name for f in meta.sorted_fields}
        if not meta.primary_key:  # peewee's models without one say so with False
            raise TypeError(f"{model.__name__} has no primary key, which Table needs")
        self.pk = _q(meta.primary_key.column_name)
        self.defaults = {f.name: f.default for f in meta.sorted_fields if f.default is not None}
        select = ", ".join(_q(c) for c in self.columns.values())
        self._select = select
        self._get = Stateless(f"SELECT {select} FROM {self.name} WHERE {self.pk} = $1")
        self._get_many = Stateless(
            f"SELECT {select} FROM {self.name} WHERE {self.pk} = ANY($1::int[]) ORDER BY {self.pk}")
        self._page = Stateless(f"SELECT {select} FROM {self.name} ORDER BY {self.pk} LIMIT $1 OFFSET $2")
        self._count = Stateless(f"SELECT count(*) FROM {self.name}")
        self._delete = Stateless(f"DELETE FROM {self.name} WHERE {self.pk} = $1 RETURNING {self.pk}")

    async def get(self, cur: Cursor, pk: Any) -> dict[str, Any] | None:
        return await cur.fetchrow(self._get, pk)

    async def get_many(self, cur: Cursor, pks: Sequence[int]) -> list[dict[str, Any]]:
        return await cur.fetch(self._get_many, list(pks))

    async def page(self, cur: Cursor, page: Page) -> tuple[list[dict[str, Any]], int]:
        """One page of rows in primary-key order, and the total row count."""
        rows = await cur.fetch(self._page, page.limit, page.offset)
        total = await cur.fetchval(self._count)
        return rows, total

    async def listing(self, cur: Cursor, page: Page, ids: Sequence[int] | None = None,
                      ) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """What a list route answers: the rows with ``ids`` (one page holding them all, unless
        the request asked for a page of them), or one page of rows in primary-key order; with
        the ``pagination`` block."""
        if ids is not None:
            rows = await self.get_many(cur, ids)
            if page.given:
                return rows[page.offset:page.offset + page.limit], page.info(len(rows))
            return rows, Page(1, max(len(ids), 1)).info(len(rows))
        rows, total = await self.page(cur, page)
        return rows, page.info(total)

    async def insert(self, cur: Cursor, data: Mapping[str, Any]) -> dict[str, Any]:
        values = {**{k: _value(v) for k, v in self.defaults.items() if k not in data}, **data}
        columns = self._columns(values)
        marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        sql = Stateless(f"INSERT INTO {self.name} ({', '.join(columns)}) VALUES ({marks}) "
                        f"RETURNING {self._select}")
        row = await cur.fetchrow(sql, *values.values())
        assert row is not None  # INSERT ... RETURNING answers its row or raises
        return row

    async def update(self, cur: Cursor, pk: Any, data: Mapping[str, Any]) -> dict[str, Any] | None:
        columns = self._columns(data)
        sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=2))
        sql = Stateless(f"UPDATE {self.name} SET {sets} WHERE {self.pk} = $1 RETURNING {self._select}")
        return await cur.fetchrow(sql, pk, *data.values())

    async def delete(self, cur: Cursor, pk: Any) -> bool:
        return await cur.fetchval(self._delete, pk) is not None

    def _columns(self, data: Mapping[str, Any]) -> list[str]:
        unknown = set(data) - set(self.columns)
        if unknown:
            raise KeyError(f"not columns of {self.name}: {sorted(unknown)}")
        return [_q(self.columns[name]) for name in data]


def _value(default: Any) -> Any:
    return default() if callable(default) else default
