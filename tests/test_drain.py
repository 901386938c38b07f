"""SIGTERM the way orchestrators send it, on the real city service (sanicms.lifecycle).

- At any point of start-up, with ``WORKERS=2``: the process exits 0 (it used to hang: sanic
  issue 2997), a worker still loading its app included.
- ``/readyz`` answers 200 only once every worker serves.
- The drain: ``/readyz`` 503 at once, still serving new and kept-alive connections for
  ``SHUTDOWN_DRAIN_SECONDS``, then no longer accepting, the request in flight answered, the idle
  keep-alive connection closed, exit 0; with one worker and with two.

Timeouts here detect hangs; nothing asserts how fast anything was.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from sanicms.testing.localdb import create_database
from sanicms.testing.processes import eventually, free_port, migrate

TESTS = Path(__file__).resolve().parent
#: A hang detector, not a speed check: a stop takes the drain, the graceful timeout and a busy machine.
EXIT_BOUND = 60


@pytest.fixture(scope="module")
def city_db(pg_server):
    url = create_database(pg_server, "drain_city", fresh=True)
    migrate("city_service", {"DATABASE_URL": url})
    return url


class City:
    """One city process (``python -m city_service``, or the gated variant), on its own port."""

    def __init__(self, database_url: str, log: Path, *, workers: int, drain: float = 0, gate: Path | None = None,
                 graceful: float = 15) -> None:
        self.port = free_port()
        env = {**os.environ, "DATABASE_URL": database_url, "HOST": "127.0.0.1", "PORT": str(self.port),
               "WORKERS": str(workers), "SHUTDOWN_DRAIN_SECONDS": str(drain),
               "GRACEFUL_SHUTDOWN_TIMEOUT": str(graceful), "TRACING_ENABLED": "false", "METRICS_ENABLED": "false",
               # idle connections are then closed by the stop only, not by their keep-alive timeout
               "KEEP_ALIVE_TIMEOUT": "120",
               "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
        if gate is not None:
            env["GATE_FILE"] = str(gate)
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-c", "import gated_city; gated_city.run()"], env=env,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 2) -> tuple[int, dict]:
        """On a new connection; (0, {}) when the server does not answer."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=json.dumps(body) if body else None,
                         headers={"content-type": "application/json"})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read() or b"{}")
        except OSError:
            return 0, {}
        finally:
            conn.close()

    def status(self, path: str) -> int:
        return self.request("GET", path)[0]

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.proc.send_signal(signum)
        return self.wait()

    def wait(self) -> int:
        try:
            return self.proc.wait(EXIT_BOUND)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            pytest.fail(f"still running {EXIT_BOUND} s after SIGTERM; log:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def problems(self) -> list[str]:
        text = self.log.read_text()
        return [line for line in text.splitlines() if "Traceback" in line or "KeyboardInterrupt" in line]


@pytest.fixture
def cities(city_db, tmp_path):
    started: list[City] = []

    def start(**kwargs) -> City:
        city = City(city_db, tmp_path / f"city-{len(started)}.log", **kwargs)
        started.append(city)
        return city

    yield start
    for city in started:
        city.kill()


def workers_spawned(city: City) -> bool:
    """Sanic's main process has started its worker processes (and its state manager)."""
    try:
        return len(psutil.Process(city.proc.pid).children()) >= 3
    except psutil.NoSuchProcess:
        return False


# Where in start-up the signal lands: each waits for something observable, none for a time.
START_POINTS = {
    "workers spawned": workers_spawned,
    "first /healthz 200": lambda city: city.status("/healthz") == 200,
    "50 ms after the first /healthz 200": lambda city: city.status("/healthz") == 200 and time.sleep(0.05) is None,
    "/readyz 200": lambda city: city.status("/readyz") == 200,
}


@pytest.mark.parametrize(("workers", "point"), [(2, point) for point in START_POINTS]
                         + [(1, point) for point in START_POINTS if point != "workers spawned"])
def test_sigterm_at_any_point_of_start_up_exits_0(cities, workers, point):
    city = cities(workers=workers, drain=5)
    eventually(lambda: START_POINTS[point](city) or city.proc.poll() is not None, point)
    # drained only if it was ready: 5 s here, then Sanic's graceful stop
    assert city.stop() == 0, city.log.read_text()[-3000:]
    assert city.problems() == []


def test_sigterm_while_a_worker_is_still_loading_its_app_exits_0_once_it_has_loaded(cities, tmp_path):
    gate = tmp_path / "gate"
    city = cities(workers=2, drain=5, gate=gate)
    eventually(lambda: city.status("/healthz") == 200, "the first worker serving")
    city.proc.send_signal(signal.SIGTERM)
    assert city.proc.poll() is None  # waits for the worker still in its app factory
    gate.touch()
    assert city.wait() == 0, city.log.read_text()[-3000:]
    assert city.problems() == []


def test_sigterm_before_the_app_is_loaded_with_one_worker_exits_0(cities):
    city = cities(workers=1, drain=5)
    eventually(lambda: workers_spawned(city) or "database pool" in city.log.read_text()
               or city.status("/healthz") == 200, "loading")
    assert city.stop() == 0
    assert city.problems() == []


def test_ready_means_every_worker_serves(cities, tmp_path):
    gate = tmp_path / "gate"
    city = cities(workers=2, gate=gate)
    eventually(lambda: city.request("GET", "/readyz")[1].get("error", {}).get("checks")
               == {"serving": "1 of 2 workers serving"}, "the first worker serving")
    for _ in range(5):  # the slow one is still in its app factory
        status, body = city.request("GET", "/readyz")
        assert status == 503, body
        assert body["error"]["checks"] == {"serving": "1 of 2 workers serving"}
    gate.touch()
    eventually(lambda: city.status("/readyz") == 200, "ready once both serve")
    assert city.stop() == 0


class KeptAlive:
    """A keep-alive connection, used for one request and then left idle."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)

    def get(self, path: str) -> int:
        self.conn.request("GET", path)
        resp = self.conn.getresponse()
        resp.read()
        return resp.status

    def closed_by_server(self) -> bool:
        sock = self.conn.sock
        assert sock is not None
        sock.settimeout(5)
        try:
            return sock.recv(1) == b""
        except ConnectionResetError:
            return True


def half_sent_post(port: int, body: bytes) -> socket.socket:
    """A POST /cities in flight: headers and half its body sent, the rest to follow."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (f"POST /cities HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode()
    sock.sendall(head + body[:len(body) // 2])
    return sock


def answer_of(sock: socket.socket, rest: bytes) -> bytes:
    sock.sendall(rest)
    reply = b""
    while not reply.endswith(b"}") and (chunk := sock.recv(65536)):
        reply += chunk
    return reply


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_drains_then_stops_accepting_finishes_in_flight_and_closes_idle_keep_alive(cities, workers):
    city = cities(workers=workers, drain=8, graceful=20)
    eventually(lambda: city.status("/readyz") == 200, "ready")
    idle = [KeptAlive(city.port) for _ in range(2 * workers)]  # some on each worker, most likely
    assert all(conn.get("/cities") == 200 for conn in idle)
    body = json.dumps({"name": f"drained-{workers}", "province": "Drain"}).encode()
    in_flight = half_sent_post(city.port, body)

    city.proc.send_signal(signal.SIGTERM)
    eventually(lambda: city.status("/readyz") == 503, "/readyz 503 after SIGTERM", timeout=10)
    # still serving, on new connections and on the kept-alive ones
    assert city.status("/cities") == 200
    assert city.request("GET", "/readyz")[1]["error"]["checks"] == {"serving": "draining"}
    assert idle[0].get("/healthz") == 200
    # after the drain: new connections are no longer answered
    eventually(lambda: city.request("GET", "/healthz", timeout=0.5)[0] == 0, "no longer accepting", timeout=30)
    # the idle keep-alive connections are closed while the request in flight holds the stop
    assert all(conn.closed_by_server() for conn in idle)
    assert city.proc.poll() is None
    reply = answer_of(in_flight, body[len(body) // 2:])
    assert reply.startswith(b"HTTP/1.1 201"), reply
    in_flight.close()
    assert city.wait() == 0, city.log.read_text()[-3000:]
    assert city.problems() == []


def test_sigint_stops_without_draining(cities):
    city = cities(workers=2, drain=600)
    eventually(lambda: city.status("/readyz") == 200, "ready")
    assert city.stop(signal.SIGINT) == 0  # a 600 s drain would trip the hang detector
