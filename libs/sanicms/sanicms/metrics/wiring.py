"""Metrics wired into a Sanic app: ``install`` when the app is built, ``start``/``stop`` with
the server (the app factory calls all three, like tracing's)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from prometheus_client import CollectorRegistry, disable_created_metrics
from sanic import Sanic

from .._compat.prometheus_client import in_memory_values
from ..config import Settings
from ..observers import Instrumentation
from ..request_hooks import RequestHooks
from . import workers
from .exemplars import ExemplarStore
from .exposition import Exposer, PortServer, WithExemplars, metrics_endpoint
from .hooks import MetricHooks
from .instruments import Instruments
from .server import ServerMetrics

log = logging.getLogger("sanicms.metrics")


class AppMetrics:
    """``app.ctx.metrics``: one app's instruments, its scrape, and (several workers) its timer."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.server = ServerMetrics()
        #: What the pool and the clients are made with (``metrics.hooks``), bound at start.
        self.hooks = MetricHooks()
        self.instruments: Instruments | None = None
        self.exposer: Exposer | None = None
        # Exemplars are trace ids: none without tracing (and no ``request.ctx`` made for them).
        self.store = ExemplarStore() if settings.metrics.exemplars and settings.tracing.enabled else None
        self.files: workers.WorkerFiles | None = None
        self._port: PortServer | None = None
        self._timer: asyncio.Task[None] | None = None
        self._app: Sanic[Any, Any] | None = None

    def shed(self, early_method: str | None = None) -> None:
        """Count a request refused for overload (:mod:`sanicms.admission`). One refused before
        Sanic parsed it (``early_method``: its method) is also counted here as a 503 of route
        ``unrouted``; the others are counted when answered, like any response."""
        instruments = self.instruments
        if instruments is None:
            return
        instruments.requests_shed.inc()
        if early_method is not None:
            self.server.refused_early(early_method)

    async def start(self, app: Sanic[Any, Any]) -> None:
        settings = self.settings
        self._app = app
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no ``_created`` series beside every counter: half the lines, no use
        directory = workers.shared_dir(settings)
        if settings.service.workers > 1 and workers.shared(directory):
            workers.write_to_shared_files()
            self.instruments = instruments = Instruments(None)
            self.files = workers.WorkerFiles(directory, self.store)
            self.exposer = Exposer(workers.SharedCollector(self.files), self.refresh, in_thread=True)
        else:
            registry = CollectorRegistry(auto_describe=True)
            self.instruments = instruments = Instruments(registry)
            registry.register(workers.process_collectors())
            self.exposer = Exposer(WithExemplars(registry, self.store), self.refresh, in_thread=False)
        # In-memory values (one process) are bumped in place on the request path.
        direct = in_memory_values()
        self.hooks.bind(instruments, direct=direct)
        for client in app.ctx.clients:
            client.breaker.on_change = instruments.breaker_listener(client.name)
        self.server.bind(instruments, self.store, direct=direct)
        metrics = settings.metrics
        if metrics.port:
            self._port = PortServer(self.exposer, settings.service.host, metrics.port, metrics.path)
            await self._port.start()
        if self.files is not None:
            await self._write()
            self._timer = asyncio.get_running_loop().create_task(self._every(metrics.refresh_interval),
                                                                 name="sanicms-metrics-refresh")

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            await asyncio.gather(self._timer, return_exceptions=True)
            self._timer = None
        if self._port is not None:
            await self._port.stop()
            self._port = None
        if self.files is not None:
            self.files.leave()

    def refresh(self) -> None:
        """The figures read rather than counted: requests in flight and their limit, the pool
        and the span reporter."""
        app, instruments = self._app, self.instruments
        if app is None or instruments is None:
            return
        db = app.ctx.db
        reporter = getattr(app.ctx, "span_reporter", None)
        tracing = queued = None
        if reporter is not None:
            tracing = (reporter.reported, reporter.sent, reporter.dropped, reporter.send_failures)
            queued = reporter.stats()["queued"]
        instruments.in_flight.set(self.server.in_flight())
        admission = getattr(app.ctx, "admission", None)
        if admission is not None:
            instruments.concurrency_limit.set(admission.limit)
        instruments.refresh(db.pools(), tracing, queued or 0)

    async def _every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self._write()
            except OSError as exc:  # a full or vanished directory must not end the timer
                log.warning("could not write this worker's metrics file: %s", exc)

    async def _write(self) -> None:
        self.refresh()
        assert self.files is not None, "several workers only"
        await asyncio.get_running_loop().run_in_executor(None, self.files.write)


def instrumentation(app: Sanic[Any, Any]) -> Instrumentation | None:
    """The hooks the pool and the clients are made with (None when ``METRICS_ENABLED`` is
    off); the app factory asks before making them, and before :func:`install`."""
    if not app.ctx.settings.metrics.enabled:
        return None
    state = app.ctx.metrics = AppMetrics(app.ctx.settings)
    return state.hooks


def install(app: Sanic[Any, Any], hooks: RequestHooks) -> None:
    """Measure ``app`` when ``METRICS_ENABLED``: its request class and the endpoint now, the
    instruments when the server starts (:func:`start`)."""
    settings: Settings = app.ctx.settings
    metrics = settings.metrics
    if not metrics.enabled:
        return
    state = getattr(app.ctx, "metrics", None)
    if state is None:
        state = app.ctx.metrics = AppMetrics(settings)
    if not metrics.path.startswith(app.ctx.untraced_paths):
        app.ctx.untraced_paths = (*app.ctx.untraced_paths, metrics.path)
    hooks.on_respond.append(state.server.responded)  # see server.py: no middleware
    if not metrics.port:
        app.add_route(metrics_endpoint, metrics.path, methods=["GET"], name="sanicms_metrics")
    if settings.service.workers > 1:
        app.main_process_start(_prepare_shared_dir)


async def start(app: Sanic[Any, Any]) -> None:
    """Make the instruments and bind the pool's and the clients' hooks to them (server start)."""
    state: AppMetrics | None = getattr(app.ctx, "metrics", None)
    if state is not None:
        await state.start(app)


async def stop(app: Sanic[Any, Any]) -> None:
    state: AppMetrics | None = getattr(app.ctx, "metrics", None)
    if state is not None:
        with contextlib.suppress(OSError):
            await state.stop()


def _prepare_shared_dir(app: Sanic[Any, Any]) -> None:
    """Main process, several workers: the shared directory emptied and named to the workers."""
    workers.prepare(workers.shared_dir(app.ctx.settings))
