"""Table: the standard statements, parameterised, on a real table."""

import peewee
import pytest
import pytest_asyncio

from sanicms import Page, Table
from sanicms.data.db import Database


class Gadget(peewee.Model):
    id = peewee.AutoField()
    name = peewee.CharField(max_length=30)
    size = peewee.IntegerField(default=1)

    class Meta:
        table_name = "gadgets"


@pytest_asyncio.fixture
async def db(database_url):
    """A pool on a fresh ``gadgets`` table."""
    db = Database(database_url, min_size=1)
    await db.connect()
    try:
        async with db.transaction() as cur:
            await cur.execute('DROP TABLE IF EXISTS gadgets; CREATE TABLE gadgets '
                              '(id serial PRIMARY KEY, name varchar(30), size int)')
        yield db
    finally:
        await db.close()


@pytest.mark.asyncio
async def test_crud_statements(db):
    table = Table(Gadget)
    async with db.transaction() as cur:
        a = await table.insert(cur, {"name": "a'; DROP TABLE gadgets; --"})
        b = await table.insert(cur, {"name": "b", "size": 5})
    async with db.transaction() as cur:
        updated = await table.update(cur, b["id"], {"size": 6})
        missing = await table.update(cur, 999, {"size": 1})
        rows, total = await table.page(cur, Page(page=2, page_size=1))
        many = await table.get_many(cur, [b["id"], a["id"], 42])
        deleted, again = await table.delete(cur, a["id"]), await table.delete(cur, a["id"])
        left = await table.get(cur, a["id"])

    assert a == {"id": 1, "name": "a'; DROP TABLE gadgets; --", "size": 1}  # stored verbatim, default applied
    assert updated == {"id": 2, "name": "b", "size": 6} and missing is None
    assert (rows, total) == ([updated], 2)
    assert [g["id"] for g in many] == [1, 2]
    assert (deleted, again, left) == (True, False, None)


@pytest.mark.asyncio
async def test_a_listing_by_ids_is_one_page_unless_a_page_of_them_is_asked_for(db):
    table = Table(Gadget)
    async with db.transaction() as cur:
        for name in "abcd":
            await table.insert(cur, {"name": name})
    async with db.acquire() as cur:
        whole = await table.listing(cur, Page(1, 20), [4, 2, 1, 99])
        second = await table.listing(cur, Page(2, 2, given=True), [4, 2, 1, 99])

    assert ([g["id"] for g in whole[0]], whole[1]) == ([1, 2, 4], {"page": 1, "page_size": 4, "total": 3, "pages": 1})
    assert ([g["id"] for g in second[0]], second[1]) == ([4], {"page": 2, "page_size": 2, "total": 3, "pages": 2})
