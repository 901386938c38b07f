"""What sanicms.lifecycle reads of Sanic's worker manager, pinned (sanicms/_compat/sanic.py): the
shared worker state a worker writes when it acknowledges start-up and when it serves, the main
process's entry, and the message that makes the manager give up on a start-up."""

from sanic.worker.manager import WorkerManager
from sanic.worker.multiplexer import WorkerMultiplexer

from sanicms._compat.sanic import MAIN_PROCESS, TERMINATE_EARLY, server_pids, serving_workers


class Publisher:
    def __init__(self) -> None:
        self.sent: list[object] = []

    def send(self, message: object) -> None:
        self.sent.append(message)


def test_a_worker_counts_as_serving_once_acked_and_serving(monkeypatch):
    name = "Sanic-Server-0-0"
    monkeypatch.setenv("SANIC_WORKER_NAME", name)
    state = {MAIN_PROCESS: {"pid": 1}, name: {"server": True, "pid": 42, "state": "STARTED"},
             "Sanic-Server-1-0": {"server": True, "pid": 43, "state": "STARTED"}}
    multiplexer = WorkerMultiplexer(Publisher(), state)  # type: ignore[arg-type]
    assert serving_workers(state) == 0
    multiplexer.ack()
    assert serving_workers(state) == 0, "ACKED is before after_server_start"
    multiplexer.set_serving(True)
    assert serving_workers(state) == 1
    assert sorted(server_pids(state)) == [42, 43]
    assert multiplexer.workers == state


def test_the_main_process_entry_and_the_early_termination_message():
    assert WorkerManager.MAIN_NAME == MAIN_PROCESS
    publisher = Publisher()
    WorkerMultiplexer(publisher, {}).terminate(early=True)  # type: ignore[arg-type]
    assert publisher.sent == [TERMINATE_EARLY]
