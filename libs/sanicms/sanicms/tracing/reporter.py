"""Getting finished spans out of the process without ever slowing a request.

``report()`` is all the request path pays: the span encoded to its Zipkin JSON line and
appended to a bounded deque, no await, no I/O. Encoding at once lets the span objects die
young and leaves the queue holding plain strings, which the garbage collector never has to
walk. A background task hands batches of those lines to the transports. When
the collector is down or slow the deque fills and further spans are dropped and counted:
memory stays bounded and requests never wait for tracing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import httptools
import orjson

from .zipkin import to_zipkin

log = logging.getLogger("sanicms.tracing")

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
    write and a parse, where an HTTP client library would cost ten times the Python calls, and
    a service that calls no neighbour never loads one (aiohttp is 9 MiB resident).
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


class SpanReporter:
    """A bounded queue of finished spans and the task that empties it."""

    def __init__(self, transports: Sequence[Transport], *, queue_size: int = 10_000, batch_size: int = 200,
                 flush_interval: float = 0.5, drop_log_interval: float = 10.0) -> None:
        self.transports = list(transports)
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.drop_log_interval = drop_log_interval
        self._queue: deque[bytes] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.reported = 0  # accepted on the queue
        self.dropped = 0  # refused because the queue was full
        self.sent = 0  # delivered by every transport
        self.lost = 0  # taken from the queue but not delivered by some transport
        self.send_failures = 0  # batches a transport failed to deliver (after its own retries)
        self._dropped_logged = 0
        self._last_drop_log = 0.0
        self._failing: dict[str, _Failing] = {}  # transports failing now, by name

    # The request path: no await, constant time.
    def report(self, span: Any) -> None:
        if not self.transports:
            return  # nowhere to send: ids still propagate and reach the logs
        queue = self._queue
        queued = len(queue)
        if queued >= self.queue_size or self._closing:
            self.dropped += 1
            return
        queue.append(orjson.dumps(to_zipkin(span)))
        self.reported += 1
        if queued + 1 >= self.batch_size and self._wake is not None and not self._wake.is_set():
            self._wake.set()

    def stats(self) -> dict[str, int]:
        return {"queued": len(self._queue), "reported": self.reported, "sent": self.sent,
                "dropped": self.dropped, "lost": self.lost}

    async def flush(self) -> None:
        """Send everything queued now (tests, and callers that cannot wait for the interval)."""
        await self._drain()

    async def start(self) -> None:
        for transport in self.transports:
            await transport.open()
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sanicms-span-reporter")

    async def close(self, timeout: float = 5.0) -> None:
        """Stop taking spans and send what is queued, for at most ``timeout`` seconds."""
        self._closing = True
        flushing = self._task or asyncio.get_running_loop().create_task(self._drain())
        self._task = None
        if self._wake is not None:
            self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(flushing), timeout)
        except TimeoutError:
            flushing.cancel()
            await asyncio.gather(flushing, return_exceptions=True)
            log.warning("span flush timed out after %.1f s; %d spans not sent", timeout, len(self._queue))
            self.lost += len(self._queue)
            self._queue.clear()
        self._log_drops(force=True)
        for transport in self.transports:
            await transport.close()

    async def _run(self) -> None:
        """Wake when a batch is full or the interval passed; send what was queued then.
        Spans arriving meanwhile wait for the next wake, so that batches stay large under
        load instead of one small POST per round trip."""
        wake = self._wake
        assert wake is not None, "start() makes it before this task"
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self.flush_interval)
            wake.clear()
            await self._drain(len(self._queue))
            self._log_drops()
        await self._drain()  # what arrived while the last batch was on its way

    async def _drain(self, limit: int | None = None) -> None:
        left = len(self._queue) if limit is None else limit
        while left > 0 and self._queue:
            count = min(self.batch_size, left, len(self._queue))
            left -= count
            await self._send([self._queue.popleft() for _ in range(count)])

    async def _send(self, spans: list[bytes]) -> None:
        """Every span taken from the queue ends up counted as sent or as lost, whatever
        happens to the batch (a transport failing, or the flush cancelled on close)."""
        delivered = True
        try:
            for transport in self.transports:
                try:
                    await transport.send(spans)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a transport failing must never stop the reporter
                    delivered = False
                    self._transport_failed(transport.name, len(spans), exc)
                else:
                    if transport.name in self._failing:
                        self._transport_back(transport.name)
        except asyncio.CancelledError:
            self.lost += len(spans)
            raise
        if delivered:
            self.sent += len(spans)
        else:
            self.lost += len(spans)

    def _transport_failed(self, name: str, count: int, exc: Exception) -> None:
        """One WARNING when a transport starts failing; the batches after it at DEBUG."""
        failing = self._failing.get(name)
        if failing is None:
            failing = self._failing[name] = _Failing()
            log.warning("could not send %d spans via %s: %s; counting spans as lost until it works again",
                        count, name, exc, extra={"transport": name, "failing": "begin"})
        else:
            log.debug("could not send %d spans via %s: %s", count, name, exc)
        failing.batches += 1
        failing.spans += count
        self.send_failures += 1

    def _transport_back(self, name: str) -> None:
        failing = self._failing.pop(name)
        log.info("spans sent via %s again after %.1f s: %d spans in %d batches lost meanwhile",
                 name, time.monotonic() - failing.since, failing.spans, failing.batches,
                 extra={"transport": name, "failing": "end", "lost": failing.spans})

    def _log_drops(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.dropped == self._dropped_logged:
            return
        if force or now - self._last_drop_log >= self.drop_log_interval:
            log.warning("span queue full: dropped %d spans (%d in total since start)",
                        self.dropped - self._dropped_logged, self.dropped)
            self._dropped_logged = self.dropped
            self._last_drop_log = now


class _Failing:
    """A transport failing since ``since``: the batches and spans it lost so far."""

    __slots__ = ("batches", "since", "spans")

    def __init__(self) -> None:
        self.since = time.monotonic()
        self.batches = 0
        self.spans = 0
