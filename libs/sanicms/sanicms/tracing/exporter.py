"""Span exporters ("transports"): where a batch of finished spans goes, like OpenTelemetry's
``SpanExporter``. :class:`HttpTransport` POSTs it to Zipkin, :class:`LogTransport` writes it
to a log for a shipper; the batch processor (:mod:`sanicms.tracing.processor`) calls
``send`` with each batch, off the request path.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from typing import Protocol
from urllib.parse import unquote, urlsplit

import httptools

#: The logger the ``log`` transport writes to: one Zipkin JSON span per line.
SPAN_LOGGER = "sanicms.spans"


class Transport(Protocol):
    name: str

    async def open(self) -> None: ...
    async def send(self, spans: list[bytes]) -> None: ...  # Zipkin JSON objects (UTF-8), one per span
    async def close(self) -> None: ...


class TransportError(Exception):
    """A batch could not be delivered (after the transport's own retries)."""


class HttpTransport:
    """POSTs batches to Zipkin's ``/api/v2/spans`` over one kept-alive connection, each attempt
    (connecting included) bounded by ``timeout``.

    The answer is read by httptools, the C HTTP parser Sanic already loads: a batch costs a
    write and a parse, and a service that calls no neighbour never loads an HTTP client
    library. What that saves: docs/benchmarks.md, "Figures from the code".
    """

    name = "http"

    def __init__(self, zipkin_url: str, *, timeout: float = 2.0, retries: int = 1, backoff: float = 0.2) -> None:
        self.url = zipkin_url.rstrip("/") + "/api/v2/spans"
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {zipkin_url!r}")
        self._tls = parts.scheme == "https"
        self._address = (parts.hostname, parts.port or (443 if self._tls else 80))
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        host += f":{parts.port}" if parts.port else ""
        credentials = ""  # user:password in the URL: Basic auth, never in the Host header
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            credentials = f"Authorization: Basic {base64.b64encode(pair).decode()}\r\n"
        self._head = (f"POST {target} HTTP/1.1\r\nHost: {host}\r\n{credentials}"
                      "Content-Type: application/json\r\nContent-Length: ").encode()
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._connection: _Connection | None = None

    async def open(self) -> None:
        return None  # connects with the first batch

    async def send(self, spans: list[bytes]) -> None:
        body = b"[" + b",".join(spans) + b"]"
        request = b"%s%d\r\n\r\n%s" % (self._head, len(body), body)
        problem = ""
        for attempt in range(1 + self.retries):
            if attempt:
                await asyncio.sleep(self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))
            try:
                async with asyncio.timeout(self.timeout):  # no task per attempt, unlike wait_for
                    status = await self._exchange(request)
            except (TimeoutError, OSError, httptools.HttpParserError) as exc:
                self._disconnect()  # whatever state it is in, the next attempt starts afresh
                problem = type(exc).__name__
                continue
            except asyncio.CancelledError:
                self._disconnect()
                raise
            if status < 300:
                return
            problem = f"HTTP {status}"
            if status < 500:
                break  # the collector refuses this batch: sending it again will not help
        raise TransportError(f"{self.url}: {problem}")

    async def _exchange(self, request: bytes) -> int:
        connection = self._connection
        if connection is None or connection.closed:  # first use, or the collector closed it idle
            _, connection = await asyncio.get_running_loop().create_connection(
                _Connection, *self._address, ssl=self._tls or None)
            self._connection = connection
        status, keep_alive = await connection.exchange(request)
        if not keep_alive:
            self._disconnect()
        return status

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    async def close(self) -> None:
        self._disconnect()


class _Connection(asyncio.Protocol):
    """One connection to the collector: a request written, its answer parsed as it arrives."""

    def __init__(self) -> None:
        self.closed = False
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[tuple[int, bool]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a stream transport

    async def exchange(self, request: bytes) -> tuple[int, bool]:
        """``request`` sent; the answer's status and whether the connection may be kept."""
        assert self._transport is not None and self._answer is None, "one exchange at a time"
        self._answer = asyncio.get_running_loop().create_future()
        try:
            self._transport.write(request)
            return await self._answer
        finally:
            self._answer = None

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._settle(exc)
            self.close()

    def on_message_complete(self) -> None:  # httptools' callback: the whole answer is in
        self._settle((self._parser.get_status_code(), self._parser.should_keep_alive()))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._settle(exc or ConnectionResetError("the collector closed the connection"))

    def _settle(self, outcome: tuple[int, bool] | BaseException) -> None:
        answer = self._answer
        if answer is None or answer.done():
            return  # nothing asked: an idle connection closing, or bytes nobody waits for
        if isinstance(outcome, BaseException):
            answer.set_exception(outcome)
        else:
            answer.set_result(outcome)

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class LogTransport:
    """One span per line on the ``sanicms.spans`` logger, for a log shipper (fluentd) to
    forward to Zipkin: the service never talks to the collector itself."""

    name = "log"

    def __init__(self, logger_name: str = SPAN_LOGGER) -> None:
        self._log = logging.getLogger(logger_name)

    async def open(self) -> None:
        return None

    async def send(self, spans: list[bytes]) -> None:
        if self._log.isEnabledFor(logging.INFO):
            for span in spans:
                self._log.info(span.decode())

    async def close(self) -> None:
        return None
