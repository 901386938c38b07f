"""The scrape: prometheus-client's own encoders, chosen by the ``Accept`` header (OpenMetrics
when the scraper asks for it, Prometheus text otherwise), served on the app's own listener or
on ``METRICS_PORT``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry
from sanic import HTTPResponse, Request

from .._compat.sanic import server_connections
from ..contract import doc
from .exemplars import ExemplarStore, attach

if TYPE_CHECKING:
    from aiohttp import web


class WithExemplars:
    """One worker's registry, with the exemplars of its store on the histogram buckets."""

    def __init__(self, inner: CollectorRegistry, store: ExemplarStore | None) -> None:
        self.inner = inner
        self.store = store

    def collect(self) -> Iterator[Metric]:
        latest = self.store.latest if self.store is not None else {}
        return attach(self.inner.collect(), dict(latest))


class Exposer:
    """Renders the scrape. ``refresh`` updates the gauges read on demand first; with several
    workers the rendering (it reads every worker's files) runs in a thread."""

    def __init__(self, source: Collector, refresh: Callable[[], None], *, in_thread: bool) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(source)
        self.refresh = refresh
        self.in_thread = in_thread

    async def render(self, accept: str) -> tuple[bytes, str]:
        self.refresh()
        encoder, content_type = choose_encoder(accept)
        if self.in_thread:
            body = await asyncio.get_running_loop().run_in_executor(None, encoder, self.registry)
        else:
            body = encoder(self.registry)
        return body, content_type


@doc.summary("Prometheus metrics: requests, downstream calls, database, tracing, the process")
@doc.description("Prometheus text format, or OpenMetrics (with exemplars: the trace id of a sampled "
                 "request on each duration bucket) when the `Accept` header asks for "
                 "`application/openmetrics-text`. The families are listed in docs/metrics.md.")
@doc.tag("operations")
@doc.media("text/plain", "application/openmetrics-text")
async def metrics_endpoint(request: Request) -> HTTPResponse:
    """The scrape, on the service's own listener (``METRICS_PORT=0``)."""
    metrics = request.app.ctx.metrics
    if metrics.server.connections is None:  # the first request of this server: this one
        metrics.server.connections = server_connections(request)
    body, content_type = await metrics.exposer.render(request.headers.get("accept", ""))
    return HTTPResponse(body, content_type=content_type)


class PortServer:
    """The scrape on a port of its own (``METRICS_PORT``): a small aiohttp server per worker,
    the workers sharing the port (``SO_REUSEPORT``); any of them answers for all."""

    def __init__(self, exposer: Exposer, host: str, port: int, path: str) -> None:
        self.exposer = exposer
        self.host, self.port, self.path = host, port, path
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        from aiohttp import web  # only with a port of its own: most services never load it (docs/benchmarks.md)

        app = web.Application()
        app.router.add_get(self.path, self._handle)
        runner = self._runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port, reuse_port=True).start()

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        from aiohttp import web

        body, content_type = await self.exposer.render(request.headers.get("accept", ""))
        response = web.Response(body=body)
        response.headers["content-type"] = content_type
        return response


