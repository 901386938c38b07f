"""The batch processor: getting finished spans out of the process without ever slowing a
request, like OpenTelemetry's ``BatchSpanProcessor``.

``report()`` is all the request path pays: the span encoded to its Zipkin JSON line and
appended to a bounded deque, no await, no I/O. Encoding at once lets the span objects die
young and leaves the queue holding plain strings, which the garbage collector never has to
walk. A background task hands batches of those lines to the transports
(:mod:`sanicms.tracing.exporter`). When the collector is down or slow the deque fills and
further spans are dropped and counted: memory stays bounded and requests never wait for
tracing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import orjson

from .exporter import Transport
from .zipkin import to_zipkin

log = logging.getLogger("sanicms.tracing")


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
