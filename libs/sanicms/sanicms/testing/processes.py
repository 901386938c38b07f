"""Services as real processes on loopback, for the demo and end-to-end tests.

Each service is started with ``python -m <package>`` and its settings in the environment,
exactly as it runs in production; readiness is its own ``/readyz``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, TypeVar

T = TypeVar("T")


#: Ports this process has handed out: the kernel may offer a port again as soon as the probe
#: socket closes, and two services of one stack given the same port make the second fail to
#: bind while the first answers its readiness probe (seen in CI: role's requests reached city).
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, never the same twice."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def eventually(probe: Callable[[], T], what: str, *, timeout: float = 60.0, step: float = 0.05) -> T:
    """Poll ``probe`` until it returns something truthy, and return that. ``timeout`` guards
    against a hang, it does not check speed: keep it generous, a loaded machine is slow."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not so after {timeout:.0f} s")
        time.sleep(step)


def terminate(proc: subprocess.Popen[Any], timeout: float = 20) -> int:
    """SIGTERM (a graceful stop), then SIGKILL to its process group (or to it alone, when it
    leads none) if it has not exited within ``timeout``; its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
            proc.wait(10)
    return proc.returncode


def migrate(package: str, env: Mapping[str, str], timeout: float = 60, *, python: str = sys.executable) -> None:
    """Run ``python -m <package> migrate`` and fail loudly with its output if it fails."""
    result = subprocess.run([python, "-m", package, "migrate"], env={**os.environ, **env},
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{package} migrate failed ({result.returncode}):\n{result.stdout}{result.stderr}")


class ServiceProcess:
    """One service process; ``start()`` returns once ``/readyz`` answers 200.

    ``python`` is the interpreter to run it with: another virtual environment's, for a test of
    what a clean install can do.
    """

    def __init__(self, package: str, port: int, env: Mapping[str, str], *, log_path: Path | None = None,
                 python: str = sys.executable) -> None:
        self.package = package
        self.python = python
        self.port = port
        self.env = {**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(port)}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> ServiceProcess:
        # open for as long as the process runs: closed by stop()
        self._log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        self.proc = subprocess.Popen([self.python, "-m", self.package, "serve"], env=self.env,
                                     stdout=self._log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        assert self.proc is not None, "start() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.package} exited with {self.proc.returncode}; see {self.log_path}")
            if self.ready():
                return
            time.sleep(0.1)
        raise TimeoutError(f"{self.package} not ready on port {self.port} after {timeout}s")

    def wait_workers(self, workers: int, timeout: float = 60) -> None:
        """Wait until ``workers`` worker processes said they are ready in the log: /readyz
        answered by one of them does not mean the others are up."""
        assert self.log_path is not None, "a log_path to read"
        log = self.log_path
        eventually(lambda: log.read_text().count('"Worker ready [') >= workers, f"{workers} workers ready",
                   timeout=timeout)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=1) as resp:
                status: int = resp.status
                return status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM (graceful), then SIGKILL if it does not exit in time; returns the exit code."""
        if self.proc is None:
            return None
        code = terminate(self.proc, timeout)
        if self._log is not None:
            self._log.close()
        self.proc = None
        return code
