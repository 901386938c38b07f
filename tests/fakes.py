"""Small fake services on loopback for fault tests: slow, failing or counting neighbours."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from aiohttp import web

from sanicms.testing.processes import free_port


class FakeService:
    """An aiohttp server in a background thread. ``delay`` (seconds) slows every answer;
    ``cancelled`` counts handlers cut off because the caller gave up."""

    def __init__(self, answer: Callable[[web.Request], dict]) -> None:
        self.answer = answer
        self.delay = 0.0
        self.port = free_port()
        self.calls = 0
        self.cancelled = 0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return web.json_response({"code": 0, "data": self.answer(request)})

    def start(self) -> FakeService:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def city_answer(request: web.Request) -> dict:
    ident = int(request.match_info["tail"].rsplit("/", 1)[-1])
    return {"id": ident, "name": f"city {ident}", "province": "p", "create_time": "2026-01-01T00:00:00"}


def role_answer(request: web.Request) -> dict:
    ident = int(request.match_info["tail"].rsplit("/", 1)[-1])
    return {"id": ident, "name": f"role {ident}", "description": None, "create_time": "2026-01-01T00:00:00"}


class FakeZipkin:
    """A stand-in collector on loopback, only for the faults a real Zipkin will not show on
    demand: ``delay`` makes it slow (hanging sends), ``stop()`` makes it gone (connections
    refused). What Zipkin receives is tested against the real server (conftest's ``zipkin``)."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.spans: list[dict] = []
        self.posts = 0
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _accept(self, request: web.Request) -> web.Response:
        self.posts += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        self.spans.extend(await request.json())
        return web.Response(status=202)

    def trace(self, trace_id: str) -> list[dict]:
        return [span for span in list(self.spans) if span["traceId"] == trace_id]

    def start(self) -> FakeZipkin:
        if not self._thread.is_alive():
            self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/v2/spans", self._accept)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)

    def close(self) -> None:
        if self._runner is not None:
            self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
