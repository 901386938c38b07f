"""A fake Zipkin collector for the benchmarks that counts spans instead of keeping them.

Every traced variant, sanicms and the OpenTelemetry peers alike, POSTs its spans here
(``/api/v2/spans``, Zipkin v2 JSON). Spans are counted per sender: the local endpoint's
``serviceName`` and, when the span names it, its ``port`` (sanicms does; the OpenTelemetry
exporter does not, so each peer gets a service name of its own). Counting rather than
keeping them holds memory flat over a long run and keeps the load core's share small.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

import orjson
from aiohttp import web

from sanicms.testing.processes import free_port


def sender(span: dict) -> str:
    """The key a span is counted under: ``name`` or ``name:port``."""
    local = span.get("localEndpoint") or {}
    name = local.get("serviceName") or "?"
    return f"{name}:{local['port']}" if local.get("port") else name


class SpanCollector:
    """An aiohttp server in a background thread; ``counts`` holds spans per sender."""

    def __init__(self) -> None:
        self.port = free_port()
        self.counts: Counter[str] = Counter()
        self.names: Counter[str] = Counter()  # "<sender> <span name>"
        self.posts = 0
        self.last_post = 0.0  # time.monotonic() of the last batch
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="span-collector")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    async def _accept(self, request: web.Request) -> web.Response:
        spans = orjson.loads(await request.read())
        senders = [sender(span) for span in spans]
        self.counts.update(senders)
        self.names.update(f"{who} {span.get('name')}" for who, span in zip(senders, spans, strict=True))
        self.posts += 1
        self.last_post = time.monotonic()
        return web.Response(status=202)

    def start(self) -> SpanCollector:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/api/v2/spans", self._accept)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def quiet(self, seconds: float = 6.0, timeout: float = 60.0) -> None:
        """Wait until no batch has arrived for ``seconds`` from now (the OpenTelemetry batch processor
        sends every 5 s, sanicms every 1 s), at most ``timeout``."""
        start = time.monotonic()
        deadline = start + timeout
        while time.monotonic() < deadline and time.monotonic() - max(start, self.last_post) < seconds:
            time.sleep(0.2)

    def snapshot(self) -> Counter[str]:
        return Counter(self.counts)

    def close(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
