"""Start-up and shutdown the way orchestrators expect: ready once every worker serves, drained on SIGTERM.

On SIGTERM ``/readyz`` answers 503 at once and the service keeps serving (and accepting) for
``SHUTDOWN_DRAIN_SECONDS``, so load balancers and endpoint controllers stop sending it traffic.
Then Sanic's own graceful stop runs: the listener closes, in-flight requests finish within
``GRACEFUL_SHUTDOWN_TIMEOUT``, idle keep-alive connections are closed between requests, and the
process exits 0. SIGINT (Ctrl-C) and a second signal skip the drain. An instance stopped before
it was ever ready has nothing to drain and stops as soon as its workers have started: a worker
is never interrupted half-way through start-up (sanic issue 2997: the main process then waited
forever).

Usage (``sanicms.cli.serve`` does this)::

    early = EarlySignals.install()          # first thing: remember a signal until Sanic runs
    app.ctx.lifecycle.install(app, early)    # create_app made it: Lifecycle.from_settings(settings)
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from collections.abc import Mapping
from functools import partial
from types import FrameType
from typing import Any

from sanic import Sanic
from sanic.log import logger

from ._compat.sanic import MAIN_PROCESS, TERMINATE_EARLY, early_answer_protocol, server_pids, serving_workers
from .config import Settings

#: Key the main process sets in its entry of Sanic's shared worker state while it drains.
DRAINING = "sanicms_draining"

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: Seconds the main process waits at least before it interrupts the workers (MainProcessStop).
WORKER_SETTLE_SECONDS = 0.5


class EarlySignals:
    """Remembers SIGTERM/SIGINT received before Sanic installs its own handlers, instead of
    dying half-started (SIGTERM's default) or raising ``KeyboardInterrupt`` in start-up code."""

    def __init__(self) -> None:
        self.received: int | None = None

    @classmethod
    def install(cls) -> EarlySignals:
        early = cls()
        for signum in _STOP_SIGNALS:
            signal.signal(signum, early._remember)
        return early

    def _remember(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:  # a second signal while starting: give up now
            raise SystemExit(128 + signum)
        self.received = signum
        logger.info("Received signal %s while starting: stopping once started", signal.Signals(signum).name)


class Lifecycle:
    """``app.ctx.lifecycle``: whether this instance may get traffic (``/readyz`` asks it first).

    With one worker, the process drains itself (:meth:`on_serving` replaces Sanic's signal
    handlers). With several, the main process does (:class:`MainProcessStop`) and the workers
    read its decision, and each other's state, from Sanic's shared worker state.
    """

    def __init__(self, *, workers: int = 1, drain_seconds: float = 0.0) -> None:
        self.workers = workers
        self.drain_seconds = drain_seconds
        self.draining = False
        self.early: EarlySignals | None = None
        #: Whether the server runs for good: False from install() with one worker, until then.
        self.serving = True
        #: A stop asked for before it did (ServiceApp.stop): done once it does.
        self.stop_asked = False
        self._stopped = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Lifecycle:
        return cls(workers=settings.service.workers, drain_seconds=settings.service.shutdown_drain_seconds)

    def install(self, app: Sanic[Any, Any], early: EarlySignals | None = None) -> None:
        """Take over the stop signals of the server about to run ``app`` (``sanicms.cli.serve``)."""
        self.early = early
        if self.workers == 1:
            self.serving = False
            # the first of them: Sanic's own handlers are set just before they run (ServiceApp.stop)
            app.after_server_start(self.on_serving, priority=1_000_000)
            app.after_server_start(_hold_stop_signals, priority=-1_000_000)  # the last
        else:
            app.main_process_ready(partial(_take_over_main_signals, lifecycle=self))

    def not_ready(self, app: Sanic[Any, Any]) -> str | None:
        """Why the instance must not get traffic now (``draining``, ``1 of 2 workers serving``);
        None when it may."""
        if self.draining:
            return "draining"
        if not self.serving:  # Sanic answers while its after_server_start listeners still run
            return "starting"
        multiplexer = getattr(app, "multiplexer", None)  # set in the workers of a multi-worker server only
        if multiplexer is None:
            return None
        states: Mapping[str, Any] = multiplexer.workers
        if states.get(MAIN_PROCESS, {}).get(DRAINING):
            return "draining"
        serving = serving_workers(states)
        if serving < self.workers:
            return f"{serving} of {self.workers} workers serving"
        return None

    async def on_serving(self, app: Sanic[Any, Any]) -> None:
        """One worker, the main process itself: SIGTERM drains, SIGINT stops at once (Sanic's)."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._drain_then_stop, app)
        loop.add_signal_handler(signal.SIGINT, self._stop, app)
        loop.call_soon(self._when_serving, app)

    def _when_serving(self, app: Sanic[Any, Any]) -> None:
        """Once the loop runs for good (Sanic marks the app running just before): ready, or the stop
        asked for while starting, without a drain (never ready, so nothing to drain)."""
        if not app.state.is_running:  # the after_server_start listeners are still running
            asyncio.get_running_loop().call_later(0.01, self._when_serving, app)
            return
        self.serving = True
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # one held arrives now
        if self.stop_asked or (self.early is not None and self.early.received is not None):
            self._stop(app)

    def _drain_then_stop(self, app: Sanic[Any, Any]) -> None:
        if self.draining:
            self._stop(app)
            return
        self.draining = True
        logger.info("Received signal SIGTERM: not ready, draining for %s s", self.drain_seconds)
        asyncio.get_running_loop().call_later(self.drain_seconds, self._stop, app)

    def _stop(self, app: Sanic[Any, Any]) -> None:
        self.draining = True
        if self._stopped:
            return
        self._stopped = True
        app.stop(terminate=False)  # Sanic's graceful stop, as its own signal handler does it


async def _hold_stop_signals(app: Sanic[Any, Any]) -> None:
    """Hold SIGTERM and SIGINT back from the end of start-up until the loop runs for good. uvloop
    keeps a signal that arrives between two runs of the loop aside until the next signal comes
    (loop.pyx: __sighandler only records it; the self-pipe that would wake the loop is closed)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)


class ServiceApp(Sanic[Any, Any]):
    """The app class :func:`sanicms.create_app` makes: Sanic's, with a stop that waits for the
    server, and a protocol that lets the admission refuse a request before Sanic parses it.

    With one worker, Sanic sets its signal handlers just before the ``after_server_start``
    listeners run; a stop then stops the event loop while they run, and the loop, started again
    for good right after, never stops: SIGTERM at that moment left the process running. Here
    such a stop is noted and done once the loop runs for good.
    """

    def prepare(self, *args: Any, **kwargs: Any) -> None:
        super().prepare(*args, **self._server_defaults(kwargs))

    async def create_server(self, *args: Any, **kwargs: Any) -> Any:
        return await super().create_server(*args, **self._server_defaults(kwargs))

    def _server_defaults(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Sanic's protocol with the admission's first look at each request
        (:meth:`sanicms.admission.Admission.answer_early`), and ``LISTEN_BACKLOG`` rather than
        Sanic's 100, unless the caller chose them."""
        if kwargs.get("protocol") is None and hasattr(self.ctx, "early_answer"):
            kwargs["protocol"] = early_answer_protocol(self)
        settings = getattr(self.ctx, "settings", None)
        if "backlog" not in kwargs and isinstance(settings, Settings):
            kwargs["backlog"] = settings.http.listen_backlog
        return kwargs

    def stop(self, terminate: bool = True, unregister: bool = False) -> None:
        lifecycle = getattr(self.ctx, "lifecycle", None)
        if isinstance(lifecycle, Lifecycle) and not lifecycle.serving:
            lifecycle.stop_asked = True
            return
        super().stop(terminate=terminate, unregister=unregister)


def _take_over_main_signals(app: Sanic[Any, Any], _loop: Any, *, lifecycle: Lifecycle) -> None:
    MainProcessStop(app, lifecycle.drain_seconds).install(lifecycle.early)


class MainProcessStop:
    """The main process of a multi-worker server: its SIGTERM/SIGINT instead of the manager's.

    Sanic's manager interrupts every worker at once; one still starting dies with
    ``KeyboardInterrupt`` and the manager then waits forever for its acknowledgement. Here the
    signal marks the instance as draining, and a thread waits until every worker serves, then
    for the drain if the instance was ready, then interrupts the workers, which stop gracefully.
    """

    def __init__(self, app: Sanic[Any, Any], drain_seconds: float) -> None:
        self.app = app
        self.manager = app.manager
        self.drain_seconds = drain_seconds
        self.workers = self.manager.num_server
        self.received: int | None = None
        self._now = threading.Event()
        self._starting = threading.Event()
        # The listening sockets, bound here and shared with the workers: closed once they stop, so
        # that a connection is refused rather than left unanswered in the backlog.
        self.sockets: list[socket.socket] = [sock for info in app.state.server_info
                                             if isinstance(sock := info.settings.get("sock"), socket.socket)]

    def install(self, early: EarlySignals | None = None) -> None:
        for signum in _STOP_SIGNALS:
            signal.signal(signum, self.on_signal)
        # a signal between the manager's start and now went to the manager's own handler
        pending = self.manager.monitor_subscriber.poll(0) and self.manager.monitor_subscriber.recv() is None
        if early is not None and early.received is not None:
            self.on_signal(early.received, None)
        elif pending:
            self.on_signal(signal.SIGTERM, None)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only note it here: the shared state is another process's, reached over a connection
        # this thread may be using at the very moment the signal arrived.
        name = signal.Signals(signum).name
        if self.received is None:
            self.received = signum
            logger.info("Received signal %s: not ready from now on", name)
            threading.Thread(target=self._stop, args=(signum,), name="sanicms-drain", daemon=True).start()
        elif self._starting.is_set():
            logger.info("Received signal %s again while starting: killing the workers", name)
            self.manager.kill()  # type: ignore[no-untyped-call]  # raises ServerKilled: Sanic exits 1
        else:
            logger.info("Received signal %s again: stopping without draining", name)
            self._now.set()

    def _stop(self, signum: int) -> None:
        states = self.manager.worker_state
        ready = serving_workers(states) >= self.workers
        states[MAIN_PROCESS] = {**states.get(MAIN_PROCESS, {}), DRAINING: True}
        if serving_workers(states) < self.workers:
            self._starting.set()
        while serving_workers(states) < self.workers:  # never interrupt a worker that is starting
            if any(not process.is_alive() for process in self.manager.transient_processes if process.pid):
                logger.info("A worker ended while starting: stopping them all")
                self.manager.monitor_publisher.send(TERMINATE_EARLY)
                return
            time.sleep(0.05)
        self._starting.clear()
        if ready:
            if signum == signal.SIGTERM:
                logger.info("Draining for %s s", self.drain_seconds)
                self._now.wait(self.drain_seconds)
        else:
            # A worker marks itself serving just before its loop runs for good; a signal in between
            # would wait for the next one (see _hold_stop_signals): give the ones just up that moment.
            self._now.wait(WORKER_SETTLE_SECONDS)
        for pid in server_pids(states):
            try:
                os.kill(pid, signal.SIGINT)  # Sanic's worker handler: stop accepting, finish, close
            except ProcessLookupError:
                continue
        self.manager.monitor_publisher.send(None)  # the manager's monitor ends, then joins the workers
        for sock in self.sockets:
            sock.close()  # the workers hold their own copies until they stop accepting
