"""asyncpg access: dict rows, transactions, and driver errors as API errors."""

import asyncio
import contextlib
import logging
import socket
import struct
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg
import pytest
import pytest_asyncio

from sanicms import Conflict, NotFound, ServiceUnavailable
from sanicms.data.db import Database, DatabaseUnavailable
from sanicms.errors import BadRequest
from sanicms.testing.processes import free_port


@contextlib.asynccontextmanager
async def connected(url, **kwargs):
    db = Database(url, min_size=1, max_size=3, **kwargs)
    await db.connect()
    try:
        yield db
    finally:
        await db.close()


@pytest_asyncio.fixture
async def table(database_url):
    async with connected(database_url) as db, db.acquire() as cur:
        await cur.execute("DROP TABLE IF EXISTS things CASCADE")  # CASCADE: parts' key to it, below
        await cur.execute("CREATE TABLE things (id serial PRIMARY KEY, name text UNIQUE NOT NULL, n int4)")
    return database_url


@pytest_asyncio.fixture
async def db(table):
    """A pool on the test database, whose ``things`` table is new and empty."""
    async with connected(table) as db:
        yield db


@pytest.mark.asyncio
async def test_rows_are_plain_dicts(db):
    async with db.transaction() as cur:
        row = await cur.fetchrow("INSERT INTO things (name, n) VALUES ($1, $2) RETURNING *", "a", 1)
    async with db.acquire() as cur:
        rows, count = await cur.fetch("SELECT * FROM things"), await cur.fetchval("SELECT count(*) FROM things")
    assert row == {"id": 1, "name": "a", "n": 1} and type(row) is dict
    assert rows == [row] and type(rows[0]) is dict and count == 1


@pytest.mark.asyncio
async def test_transaction_rolls_back_on_any_exception(db):
    with pytest.raises(ZeroDivisionError):
        async with db.transaction() as cur:
            await cur.execute("INSERT INTO things (name) VALUES ('gone')")
            raise ZeroDivisionError
    async with db.acquire() as cur:
        assert await cur.fetchval("SELECT count(*) FROM things") == 0


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


@pytest.mark.asyncio
async def test_unreachable_database_is_a_503():
    async with connected(f"postgresql://nobody@127.0.0.1:{free_port()}/none", connect_timeout=1) as db:
        with pytest.raises(ServiceUnavailable) as info:
            async with db.acquire() as cur:
                await cur.fetchval("SELECT 1")
        stats = db.stats()
    assert info.value.status_code == 503 and info.value.code == 50301
    assert stats["in_use"] == 0


@pytest.mark.asyncio
async def test_closed_pool_is_a_503(database_url):
    db = Database(database_url, min_size=0)
    await db.connect()
    await db.close()
    with pytest.raises(ServiceUnavailable):
        async with db.acquire():
            pass


@pytest.mark.asyncio
async def test_observer_sees_each_statement_but_not_its_values(table):
    seen = []

    class Observer:
        def __init__(self, request, sql):
            seen.append((request, sql))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    async with connected(table) as db:
        db.observe = Observer
        async with db.acquire("req") as cur:
            await cur.fetchval("SELECT $1::text", "secret")
    assert seen == [("req", "SELECT $1::text")]


# --------------------------------------------------------------------------- a connection dies
# Every step at which a connection can die, made to happen on purpose: asyncpg talks to the
# database through a proxy that resets the connection (RST) when it sees a given statement
# go by, before or after the server got it. The server end is closed too, so the backend
# goes away as it would in a crash.


class Link:
    def __init__(self, client, server):
        self.client, self.server = client, server
        self.swallow = False  # the server's next answer is not passed on
        self.answered = asyncio.Event()

    def cut(self):
        if not self.client.transport.is_closing():
            sock = self.client.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.client.transport.abort()
        self.server.transport.abort()


class CuttingProxy:
    """TCP on loopback in front of the test database. ``cut_on = b"COMMIT;"`` resets the
    first connection that sends it, before the server sees it; with ``after_answer`` the
    server gets it and answers, and the answer is lost instead. ``refuse()`` resets every
    connection and refuses new ones (the database is gone); ``accept()`` undoes that."""

    def __init__(self, database_url):
        parts = urlsplit(database_url)
        query = parse_qs(parts.query)
        host = query.pop("host", [parts.hostname or "127.0.0.1"])[0]
        port = parts.port or 5432
        self.target = ("unix", f"{host}/.s.PGSQL.{port}") if host.startswith("/") else ("tcp", host, port)
        self.port = free_port()
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = (userinfo + "@" if userinfo else "") + f"127.0.0.1:{self.port}"
        rest = "&".join(f"{k}={v[0]}" for k, v in query.items())
        self.url = urlunsplit(parts._replace(netloc=netloc, query=rest))
        self.cut_on = None
        self.after_answer = False
        self.cuts = 0
        self.links = set()
        self._server = None

    async def accept(self):
        self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port)

    def refuse(self):
        self._server.close()
        for link in list(self.links):
            link.cut()

    async def _link(self, client_reader, client_writer):
        try:
            if self.target[0] == "unix":
                server_reader, server_writer = await asyncio.open_unix_connection(self.target[1])
            else:
                server_reader, server_writer = await asyncio.open_connection(*self.target[1:])
        except OSError:
            client_writer.transport.abort()
            return
        link = Link(client_writer, server_writer)
        self.links.add(link)
        try:
            await asyncio.gather(self._up(link, client_reader), self._down(link, server_reader),
                                 return_exceptions=True)
        finally:
            self.links.discard(link)
            link.cut()

    async def _up(self, link, reader):
        while data := await reader.read(65536):
            trigger = self.cut_on is not None and self.cut_on in data
            if trigger:
                self.cut_on = None
                self.cuts += 1
                if not self.after_answer:
                    link.cut()
                    return
                link.swallow = True
            link.server.write(data)
            if trigger:
                await link.answered.wait()
                link.cut()
                return
        link.cut()

    async def _down(self, link, reader):
        while data := await reader.read(65536):
            if link.swallow:
                link.answered.set()
                return
            link.client.write(data)
        link.cut()


@pytest.fixture
def proxied(table):
    """``async with proxied() as (db, proxy)``: a pool on the ``things`` table through a
    cutting proxy. Both are closed when the block ends, before the test reads the log: what
    the pool logs as it closes is part of what these tests check."""
    @contextlib.asynccontextmanager
    async def through_a_proxy():
        proxy = CuttingProxy(table)
        await proxy.accept()
        try:
            async with connected(proxy.url, connect_timeout=2) as db:
                yield db, proxy
        finally:
            proxy.refuse()
    return through_a_proxy


def closed(conn):
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:  # asyncpg took it back to the pool when it closed
        return True


async def count(db, name=None):
    async with db.acquire() as cur:
        if name is None:
            return await cur.fetchval("SELECT count(*) FROM things")
        return await cur.fetchval("SELECT count(*) FROM things WHERE name = $1", name)


async def insert(db, name, *, then=None):
    async with db.transaction() as cur:
        await cur.execute("INSERT INTO things (name) VALUES ($1)", name)
        if then is not None:
            await then(cur)


async def serves_again(db, name):
    """The next request works and the pool has nothing lent out: the connection that died
    was not kept."""
    await insert(db, name)
    assert await count(db, name) == 1
    assert db.stats()["in_use"] == 0


def no_errors_logged(caplog):
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


@pytest.mark.asyncio
@pytest.mark.parametrize("statement", [b"BEGIN;", b"INSERT INTO things"], ids=["transaction start", "mid-statement"])
async def test_a_connection_lost_before_commit_is_a_503_and_nothing_is_saved(proxied, caplog, statement):
    async with proxied() as (db, proxy):
        proxy.cut_on = statement
        with pytest.raises(DatabaseUnavailable) as info:
            await insert(db, "lost")
        assert proxy.cuts == 1
        assert await count(db, "lost") == 0
        await serves_again(db, "after")
    error = info.value
    assert (error.status_code, error.code, error.error) == (503, 50301, None)
    no_errors_logged(caplog)


@pytest.mark.asyncio
async def test_a_connection_lost_at_checkout_is_a_503(proxied, caplog):
    async with proxied() as (db, proxy):
        proxy.refuse()
        with pytest.raises(DatabaseUnavailable) as info:
            await count(db)
        await proxy.accept()
        await serves_again(db, "after")
    assert info.value.code == 50301
    no_errors_logged(caplog)


@pytest.mark.asyncio
async def test_a_connection_lost_after_the_last_statement_is_a_503_and_nothing_is_saved(proxied, caplog):
    async with proxied() as (db, proxy):
        async def lose_it(cur):
            proxy.refuse()
            while not closed(cur.connection):  # asyncpg has seen it go
                await asyncio.sleep(0.01)
        with pytest.raises(DatabaseUnavailable) as info:
            await insert(db, "lost", then=lose_it)
        await proxy.accept()
        assert await count(db, "lost") == 0
        await serves_again(db, "after")
    assert info.value.error is None  # COMMIT never went out: the outcome is known
    no_errors_logged(caplog)


@pytest.mark.asyncio
@pytest.mark.parametrize("after_answer", [False, True], ids=["before the server got it", "after it committed"])
async def test_a_commit_cut_off_is_a_503_of_unknown_outcome(proxied, caplog, after_answer):
    caplog.set_level(logging.WARNING, "sanicms.data.db")

    async with proxied() as (db, proxy):
        proxy.cut_on, proxy.after_answer = b"COMMIT;", after_answer
        with pytest.raises(DatabaseUnavailable) as info:
            await insert(db, "maybe")
        saved = await count(db, "maybe")
        await serves_again(db, "after")
    error = info.value
    assert (error.code, error.error) == (50301, {"commit": "unknown"})
    assert "may or may not have been saved" in error.message
    assert saved == (1 if after_answer else 0)  # both happen: hence "unknown"
    assert [r.getMessage() for r in caplog.records if "commit outcome unknown" in r.getMessage()]
    no_errors_logged(caplog)


@pytest.mark.asyncio
async def test_a_rollback_on_a_lost_connection_keeps_the_request_error(proxied, caplog):
    """The issue's first 500: ``Transaction.rollback()`` raises at call time on a closed
    connection. The request's own error is what it answers; the connection is dropped."""
    async with proxied() as (db, proxy):
        async def lose_it_then_fail(cur):
            proxy.refuse()
            while not closed(cur.connection):
                await asyncio.sleep(0.01)
            raise NotFound("no such thing")
        with pytest.raises(NotFound):
            await insert(db, "lost", then=lose_it_then_fail)
        await proxy.accept()

        async def fail(cur):
            raise NotFound("no such thing")
        proxy.cut_on = b"ROLLBACK;"  # and one that dies during the ROLLBACK itself
        with pytest.raises(NotFound):
            await insert(db, "lost", then=fail)
        assert proxy.cuts == 1
        assert await count(db, "lost") == 0
        await serves_again(db, "after")
    no_errors_logged(caplog)


@pytest.mark.asyncio
async def test_a_connection_lost_at_release_keeps_the_answer(proxied, caplog):
    """The work is done (read, or committed) when the pool resets the connection: the request
    keeps its answer, the connection is terminated, the pool lends nothing."""
    async with proxied() as (db, proxy):
        proxy.cut_on = b"RESET ALL;"
        async with db.transaction() as cur:
            row = await cur.fetchrow("INSERT INTO things (name) VALUES ('kept') RETURNING name")
        assert proxy.cuts == 1
        assert await count(db, "kept") == 1
        await serves_again(db, "after")
    assert row == {"name": "kept"}
    no_errors_logged(caplog)


@pytest.mark.asyncio
async def test_a_broken_client_state_at_transaction_start_is_a_503(proxied, caplog, monkeypatch):
    """The issue's second 500: after a crash asyncpg can refuse to start a transaction with
    ``InternalClientError: cannot switch to state 15; another operation (2) is in progress``."""
    async def broken(self):
        raise asyncpg.exceptions._base.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress")

    async with proxied() as (db, _):
        conns = []
        real_take = db.take

        async def take(epoch=None):
            conns.append(await real_take(epoch))
            return conns[-1]
        db.take = take
        with monkeypatch.context() as patch:
            patch.setattr(asyncpg.transaction.Transaction, "start", broken)
            with pytest.raises(DatabaseUnavailable) as info:
                await insert(db, "lost")
        assert closed(conns[0])  # terminated, not pooled again
        await serves_again(db, "after")
    assert info.value.code == 50301
    no_errors_logged(caplog)


@pytest.mark.asyncio
async def test_a_cancelled_statement_drops_its_connection_quietly(proxied, caplog):
    async with proxied() as (db, _):
        async def slow():
            async with db.transaction() as cur:
                await cur.execute("INSERT INTO things (name) VALUES ('cancelled')")
                await cur.execute("SELECT pg_sleep(5)")
        task = asyncio.create_task(slow())
        while not db.stats()["in_use"]:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await count(db, "cancelled") == 0
        await serves_again(db, "after")
        # The server notices a vanished client when its statement ends: end it now rather
        # than leave its lock on the table to the next test.
        async with db.acquire() as cur:
            await cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE query = 'SELECT pg_sleep(5)' AND pid <> pg_backend_pid()")
    no_errors_logged(caplog)  # no "Resetting connection with an active transaction"


@pytest.mark.asyncio
async def test_an_outage_is_one_warning_then_one_info_with_counts(proxied, caplog):
    caplog.set_level(logging.INFO)

    async with proxied() as (db, proxy):
        await serves_again(db, "before")
        for round_ in range(2):
            proxy.refuse()
            for _ in range(4):
                with pytest.raises(DatabaseUnavailable):
                    await insert(db, f"refused {round_}")
            with pytest.raises(DatabaseUnavailable):
                await db.ping()
            assert not db.available
            await proxy.accept()
            await serves_again(db, f"back {round_}")
            assert db.available
        outages, refused = db.outages, db.refused
    assert (outages, refused) == (2, 10)
    db_lines = [r for r in caplog.records if r.name == "sanicms.data.db" and r.levelno >= logging.INFO]
    assert [(r.levelname, getattr(r, "outage", None)) for r in db_lines[:-1]] == \
        [("WARNING", "begin"), ("INFO", "end")] * 2  # nothing per refused request
    assert db_lines[0].getMessage().startswith("database unavailable (")
    assert db_lines[1].getMessage().startswith("database available again after ")
    assert db_lines[-1].getMessage() == "database pool closed"
    assert [r.refused for r in db_lines if getattr(r, "outage", None) == "end"] == [5, 5]
    no_errors_logged(caplog)


@pytest.mark.asyncio
async def test_a_database_down_at_start_up_is_an_outage_that_ends_when_it_answers(table, caplog):
    caplog.set_level(logging.INFO, "sanicms.data.db")

    proxy = CuttingProxy(table)  # not accepting yet: nothing listens on its port
    db = Database(proxy.url, min_size=1, max_size=2, connect_timeout=2)
    await db.connect()
    try:
        assert not db.available
        with pytest.raises(DatabaseUnavailable):
            await count(db)
        await proxy.accept()
        await serves_again(db, "after")
        available = db.available
    finally:
        await db.close()
        proxy.refuse()

    assert available
    messages = [(r.levelname, r.getMessage().split(" (")[0].split(" after")[0]) for r in caplog.records]
    assert messages == [("WARNING", "database not reachable at start-up"), ("INFO", "database available again"),
                        ("INFO", "database pool closed")]
    [back] = [r for r in caplog.records if getattr(r, "outage", None) == "end"]
    assert back.refused == 1
    no_errors_logged(caplog)
