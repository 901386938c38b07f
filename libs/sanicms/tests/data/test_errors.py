"""Driver errors as API errors: a duplicate is a 409, a broken rule of the data a 400 that
names its field."""

import asyncpg
import pytest

from sanicms import Conflict
from sanicms.errors import BadRequest


@pytest.mark.asyncio
async def test_driver_errors_become_api_errors(db):
    async with db.transaction() as cur:
        await cur.execute("INSERT INTO things (name) VALUES ('x')")
    with pytest.raises(Conflict) as dup:
        async with db.transaction() as cur:
            await cur.execute("INSERT INTO things (name) VALUES ('x')")
    with pytest.raises(BadRequest):
        async with db.acquire() as cur:
            await cur.fetchrow("SELECT * FROM things WHERE n = $1", 2**40)  # beyond int4
    with pytest.raises(BadRequest):
        async with db.transaction() as cur:
            await cur.execute("INSERT INTO things (name) VALUES (NULL)")
    assert dup.value.status_code == 409 and dup.value.error == {"constraint": "things_name_key"}


@pytest.mark.asyncio
async def test_a_400_from_a_rule_of_the_data_lists_its_problem_by_field(db):
    """As the input checks' 400s do: the spec's ValidationError, which a contract test holds
    a service to."""
    async with db.acquire() as cur:
        await cur.execute("DROP TABLE IF EXISTS parts; CREATE TABLE parts (id serial PRIMARY KEY, thing_id int "
                          "REFERENCES things, qty int NOT NULL CONSTRAINT parts_qty_check CHECK (qty > 0))")
    errors = []
    for values in ("(NULL, 0)", "(999, 1)", "(NULL, NULL)"):
        with pytest.raises(BadRequest) as refused:
            async with db.transaction() as cur:
                await cur.execute(f"INSERT INTO parts (thing_id, qty) VALUES {values}")
        errors.append(refused.value.error)
    async with db.transaction() as cur:
        await cur.execute("INSERT INTO things (id, name) VALUES (7, 'kept'); "
                          "INSERT INTO parts (thing_id, qty) VALUES (7, 1)")
    with pytest.raises(Conflict) as referenced:  # a delete of a record others point at: 409, not "does not exist"
        async with db.transaction() as cur:
            await cur.execute("DELETE FROM things WHERE id = 7")
    assert referenced.value.error == {"constraint": "parts_thing_id_fkey"}
    assert errors == [[{"field": "", "message": "breaks the rule parts_qty_check"}],
                      [{"field": "thing_id", "message": "no such record (parts_thing_id_fkey)"}],
                      [{"field": "qty", "message": "required"}]]


def test_a_value_the_driver_cannot_encode_is_the_clients_fault_not_a_lost_connection():
    from sanicms._compat.asyncpg import ClientDataError
    from sanicms.data.errors import DatabaseUnavailable, connection_lost, translate

    unencodable = ClientDataError("invalid input for query argument $1: 1099511627776 (value out of int32 range)")
    assert isinstance(translate(unencodable), BadRequest) and not connection_lost(unencodable)
    closed = asyncpg.InterfaceError("connection is closed")
    assert isinstance(translate(closed), DatabaseUnavailable) and connection_lost(closed)
    stuck = asyncpg.exceptions.InternalClientError("cannot switch to state 15; another operation (2) is in progress")
    assert isinstance(translate(stuck), DatabaseUnavailable) and connection_lost(stuck)
