"""What the data tests share: a pool on a fresh ``things`` table, and a proxy that makes a
connection die at any step."""

import asyncio
import contextlib
import logging
import socket
import struct
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg
import pytest
import pytest_asyncio

from sanicms.data.db import Database
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
