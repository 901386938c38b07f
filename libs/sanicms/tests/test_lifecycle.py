"""sanicms.lifecycle in process: readiness from the workers' shared state, the single-process drain,
signals before start-up, and the main process's stop (tests/test_drain.py runs real servers)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from sanicms._compat.sanic import MAIN_PROCESS, TERMINATE_EARLY
from sanicms.lifecycle import DRAINING, EarlySignals, Lifecycle, MainProcessStop


def worker(serving: bool, pid: int, state: str = "ACKED") -> dict[str, Any]:
    return {"server": True, "pid": pid, "state": state, "serving": serving}


def app_with(states: dict[str, Any] | None) -> Any:
    app = SimpleNamespace(stopped=0, state=SimpleNamespace(is_running=True), listeners=[])
    app.after_server_start = lambda listener, priority=0: app.listeners.append(listener)
    app.stop = lambda terminate=True: setattr(app, "stopped", app.stopped + 1)
    if states is not None:
        app.multiplexer = SimpleNamespace(workers=states)
    return app


def test_ready_when_every_worker_serves_and_nobody_drains():
    lifecycle = Lifecycle(workers=2)
    assert lifecycle.not_ready(app_with(None)) is None  # one process: it answers, so it serves
    states = {MAIN_PROCESS: {"pid": 1}, "a": worker(True, 2), "b": worker(False, 3)}
    assert lifecycle.not_ready(app_with(states)) == "1 of 2 workers serving"
    states["b"] = worker(True, 3, state="STARTING")  # restarted: serving is stale until it acks again
    assert lifecycle.not_ready(app_with(states)) == "1 of 2 workers serving"
    states["b"] = worker(True, 3)
    assert lifecycle.not_ready(app_with(states)) is None
    states[MAIN_PROCESS] = {"pid": 1, DRAINING: True}
    assert lifecycle.not_ready(app_with(states)) == "draining"
    local = Lifecycle(workers=1)
    local.draining = True
    assert local.not_ready(app_with(None)) == "draining"


@pytest.mark.asyncio
async def test_one_process_drains_on_sigterm_then_stops():
    app = app_with(None)
    lifecycle = Lifecycle(workers=1, drain_seconds=0.05)
    lifecycle._drain_then_stop(app)
    assert lifecycle.draining and app.stopped == 0
    await asyncio.sleep(0.2)
    assert app.stopped == 1


@pytest.mark.asyncio
async def test_a_second_sigterm_stops_at_once_and_only_once():
    app = app_with(None)
    lifecycle = Lifecycle(workers=1, drain_seconds=600)
    lifecycle._drain_then_stop(app)
    lifecycle._drain_then_stop(app)
    assert app.stopped == 1
    lifecycle._drain_then_stop(app)
    assert app.stopped == 1


@pytest.mark.asyncio
async def test_a_stop_asked_for_while_starting_waits_for_the_loop_to_run_for_good():
    app = app_with(None)
    app.state.is_running = False  # after_server_start listeners still running
    lifecycle = Lifecycle(workers=1, drain_seconds=600)
    loop = asyncio.get_running_loop()
    try:
        lifecycle.install(app)  # type: ignore[arg-type]
        assert lifecycle.not_ready(app) == "starting"
        on_serving, hold = app.listeners
        await on_serving(app)
        await hold(app)  # the end of start-up: stop signals held until the loop runs for good
        assert {signal.SIGTERM, signal.SIGINT} <= signal.pthread_sigmask(signal.SIG_BLOCK, [])
        lifecycle.stop_asked = True  # what ServiceApp.stop does now
        await asyncio.sleep(0.1)
        assert app.stopped == 0
        app.state.is_running = True
        await asyncio.sleep(0.1)
        assert app.stopped == 1 and lifecycle.serving  # at once: never ready, nothing to drain
        assert not {signal.SIGTERM, signal.SIGINT} & signal.pthread_sigmask(signal.SIG_BLOCK, [])
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def test_service_app_stop_is_noted_until_the_server_runs_for_good():
    from sanic import Sanic

    from sanicms.lifecycle import ServiceApp

    Sanic.test_mode = True
    app = ServiceApp("lifecycle_stop")
    try:
        app.ctx.lifecycle = lifecycle = Lifecycle(workers=1)
        lifecycle.serving = False
        app.stop()
        assert lifecycle.stop_asked
    finally:
        Sanic.unregister_app(app)


def test_service_app_serves_with_the_early_answer_protocol_and_the_listen_backlog_unless_told_otherwise():
    from sanic import Sanic

    import sanicms
    from sanicms._compat.sanic import EarlyAnswerHttpProtocol

    Sanic.test_mode = True
    settings = sanicms.load_settings(environ={}, overrides={
        "SERVICE_NAME": "backlog_probe", "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "LISTEN_BACKLOG": 77})
    app = sanicms.create_app(settings, [], name="backlog_probe")
    try:
        assert app._server_defaults({}) == {"protocol": EarlyAnswerHttpProtocol, "backlog": 77}
        assert app._server_defaults({"protocol": asyncio.Protocol, "backlog": 5}) == \
            {"protocol": asyncio.Protocol, "backlog": 5}
    finally:
        Sanic.unregister_app(app)


@pytest.mark.asyncio
async def test_a_signal_received_while_loading_stops_the_server_once_it_serves():
    app = app_with(None)
    lifecycle = Lifecycle(workers=1, drain_seconds=600)
    lifecycle.early = EarlySignals()
    lifecycle.early.received = signal.SIGTERM
    loop = asyncio.get_running_loop()
    try:
        await lifecycle.on_serving(app)
        await asyncio.sleep(0.1)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    assert app.stopped == 1 and lifecycle.draining  # never ready: no drain


def test_early_signals_remember_the_first_and_give_up_on_the_second():
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        early = EarlySignals.install()
        os.kill(os.getpid(), signal.SIGTERM)
        assert early.received == signal.SIGTERM
        with pytest.raises(SystemExit) as exited:
            os.kill(os.getpid(), signal.SIGINT)
        assert exited.value.code == 128 + signal.SIGINT
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


class Manager:
    """What MainProcessStop uses of Sanic's WorkerManager."""

    def __init__(self, states: dict[str, Any], alive: bool = True) -> None:
        self.worker_state = states
        self.num_server = 2
        self.sent: list[object] = []
        self.monitor_publisher = SimpleNamespace(send=self.sent.append)
        self.monitor_subscriber = SimpleNamespace(poll=lambda timeout: False)
        self.transient_processes = [SimpleNamespace(pid=2, is_alive=lambda: alive)]


def main_stop(manager: Manager, drain: float = 0.0) -> tuple[MainProcessStop, socket.socket]:
    sock = socket.socket()
    server_info = [SimpleNamespace(settings={"sock": sock})]
    app = SimpleNamespace(manager=manager, state=SimpleNamespace(server_info=server_info))
    return MainProcessStop(app, drain), sock  # type: ignore[arg-type]


def wait_for_drain_thread() -> None:
    for thread in threading.enumerate():
        if thread.name == "sanicms-drain":
            thread.join(10)


def test_the_main_process_waits_for_every_worker_then_interrupts_them(monkeypatch):
    killed: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, signum: killed.append((pid, signum)))
    states = {MAIN_PROCESS: {"pid": 1}, "a": worker(True, 2), "b": worker(False, 3)}
    manager = Manager(states)
    stop, sock = main_stop(manager)
    stop.on_signal(signal.SIGTERM, None)
    threading.Timer(0.2, lambda: states.update(b=worker(True, 3))).start()  # the second one comes up
    wait_for_drain_thread()
    assert states[MAIN_PROCESS][DRAINING] is True
    assert sorted(killed) == [(2, signal.SIGINT), (3, signal.SIGINT)]
    assert manager.sent == [None]
    assert sock.fileno() == -1  # closed


def test_a_worker_that_dies_while_starting_ends_the_start_up(monkeypatch):
    monkeypatch.setattr(os, "kill", lambda pid, signum: pytest.fail("nothing to interrupt"))
    manager = Manager({MAIN_PROCESS: {"pid": 1}, "a": worker(False, 2)}, alive=False)
    stop, sock = main_stop(manager)
    stop.on_signal(signal.SIGINT, None)
    wait_for_drain_thread()
    assert manager.sent == [TERMINATE_EARLY]
    sock.close()


def test_a_second_signal_ends_the_drain(monkeypatch):
    monkeypatch.setattr(os, "kill", lambda pid, signum: None)
    manager = Manager({MAIN_PROCESS: {"pid": 1}, "a": worker(True, 2), "b": worker(True, 3)})
    stop, _ = main_stop(manager, drain=600)
    stop.on_signal(signal.SIGTERM, None)
    stop.on_signal(signal.SIGTERM, None)
    wait_for_drain_thread()
    assert manager.sent == [None]
