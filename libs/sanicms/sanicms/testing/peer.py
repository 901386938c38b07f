"""A raw HTTP/1.1 peer on loopback that answers byte by byte as a test scripts it: for how a
client copes with a peer that resets the connection, cuts its answer short or never answers,
which no real server does on purpose.

Usage::

    async def cut_short(peer, head, length, reader, writer):
        await reader.readexactly(length)  # the request's body
        writer.write(b"HTTP/1.1 200 OK\\r\\ncontent-length: 100\\r\\n\\r\\nhalf an answer")
        await writer.drain()
        reset(writer)  # as a killed process would
        return False  # nothing more on this connection

    async with RawPeer(cut_short) as peer:  # served by the test's event loop
        ...  # call peer.url
    peer = RawPeer(cut_short).start()  # or by a thread of its own, for another process to call
    peer.stop()

The peer reads each request's head up to its blank line and calls the handler with the
head, its ``Content-Length`` (0 without one) and the connection's streams; the handler reads
the body and answers (or not), and returns whether to read another request on the same
connection. ``requests`` counts the heads read, ``connections`` the connections accepted. A
subclass may override :meth:`RawPeer.handle` instead of passing a handler; a peer with state
of its own (a mode, a flag) is such a subclass.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Awaitable, Callable

#: ``handler(peer, head, length, reader, writer)``: answer one request; True keeps the connection.
Handler = Callable[["RawPeer", bytes, int, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


class RawPeer:
    """A raw HTTP/1.1 server on loopback, answering as ``handler`` (or :meth:`handle`) says."""

    def __init__(self, handler: Handler | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = handler
        self.host = host
        self.port = port  # 0: a free one, known once the peer listens
        self.requests = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def handle(self, head: bytes, length: int, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> bool:
        """Answer one request whose head is read; True: read another on this connection."""
        if self.handler is None:
            raise NotImplementedError("pass RawPeer a handler, or override handle()")
        return await self.handler(self, head, length, reader, writer)

    async def open(self) -> RawPeer:
        """Listen, served by the running event loop."""
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        """Stop listening (connections still open end as their handlers return)."""
        if self._server is not None:
            self._server.close()
            self._server = None

    async def __aenter__(self) -> RawPeer:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> RawPeer:
        """Listen, served by an event loop in a thread of the peer's own."""
        loop = self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="sanicms-raw-peer", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.open(), loop).result(10)
        return self

    def stop(self) -> None:
        """Stop what :meth:`start` started."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                if not await self.handle(head, content_length(head), reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away, or the handler reset the connection
        finally:
            if not writer.transport.is_closing():
                writer.transport.abort()


def content_length(head: bytes) -> int:
    """The ``Content-Length`` of a request's head; 0 without one."""
    return next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                 if line.lower().startswith(b"content-length:")), 0)


def reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a reset (RST), as the kernel does for a killed process."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
