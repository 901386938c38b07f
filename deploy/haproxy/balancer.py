"""Debian's haproxy in front of several instances of each service, for tests/test_rolling_restart.py.

The configuration is haproxy.cfg.in (one service.cfg.in block per service) with the ports filled
in; haproxy runs in the foreground, and which instances it sends requests to is read from its
stats page (CSV). ``make haproxy-deps`` installs haproxy and wrk.

Usage::

    balancer = Balancer({"city": 8500}, {"city": {"city1": 8501, "city2": 8502}}, stats_port=8510,
                        workdir=tmp).start()
    balancer.wait_until("city", "city1", "UP")
    balancer.stop()
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from string import Template

from sanicms.testing.processes import terminate

HERE = Path(__file__).resolve().parent
#: A request's line in haproxy's log (option httplog).
LOG_LINE = re.compile(r'\] (?P<frontend>\S+) (?P<server>\S+) \S+ (?P<status>-?\d+) \S+ \S+ \S+ (?P<state>\S{4}) '
                      r'.*"(?P<method>\S+) ')


def missing() -> str | None:
    """What is missing to run haproxy and wrk here (None: nothing)."""
    absent = [tool for tool in ("haproxy", "wrk") if shutil.which(tool) is None]
    return f"{' and '.join(absent)} not installed (make haproxy-deps)" if absent else None


def render(frontends: Mapping[str, int], backends: Mapping[str, Mapping[str, int]], stats_port: int) -> str:
    """The configuration: a frontend per service on its port, its instances behind it, checked on /readyz."""
    block = Template((HERE / "service.cfg.in").read_text())
    services = "\n".join(block.substitute(name=name, port=port, servers="".join(
        f"    server {server} 127.0.0.1:{server_port} check\n" for server, server_port in backends[name].items()))
        for name, port in frontends.items())
    return Template((HERE / "haproxy.cfg.in").read_text()).substitute(stats_port=stats_port, services=services)


class Balancer:
    def __init__(self, frontends: Mapping[str, int], backends: Mapping[str, Mapping[str, int]], *, stats_port: int,
                 workdir: Path) -> None:
        self.frontends = dict(frontends)
        self.stats_port = stats_port
        self.config = Path(workdir) / "haproxy.cfg"
        self.config.write_text(render(frontends, backends, stats_port))
        self.log = Path(workdir) / "haproxy.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.frontends[service]}"

    def start(self, timeout: float = 30) -> Balancer:
        checked = subprocess.run(["haproxy", "-c", "-q", "-f", str(self.config)], capture_output=True, text=True,
                                 timeout=30)
        if checked.returncode != 0:
            raise RuntimeError(f"haproxy rejects {self.config}:\n{checked.stdout}{checked.stderr}")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(self.config)], stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.states()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"haproxy exited: {self.log.read_text()}") from None
                time.sleep(0.1)
        raise TimeoutError(f"haproxy's stats page did not answer within {timeout} s")

    def states(self) -> dict[tuple[str, str], str]:
        """(backend, server) -> UP, DOWN, ... as haproxy sees each instance now."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=2) as resp:
            text = resp.read().decode()
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {(row["pxname"], row["svname"]): row["status"].split()[0] for row in rows
                if row["svname"] not in ("FRONTEND", "BACKEND")}

    def wait_until(self, backend: str, server: str, status: str, timeout: float = 60) -> None:
        """Wait until haproxy sees ``server`` of ``backend`` as ``status`` (UP: it sends it requests again)."""
        deadline = time.monotonic() + timeout
        while self.states().get((backend, server)) != status:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{backend}/{server} not {status} after {timeout} s: {self.states()}")
            time.sleep(0.05)

    def failed_requests(self) -> dict[str, int]:
        """From haproxy's log: the requests not answered 2xx or not ended normally by the server side, counted by
        ``<backend/server> <status> <termination state> <method>`` (``SC--``: the server refused
        the connection; ``SH--``: it dropped it before answering; see haproxy's "session state
        at disconnection")."""
        counts: dict[str, int] = {}
        for line in self.log.read_text().splitlines():
            found = LOG_LINE.search(line)
            if found is None or found["frontend"] == "stats" or found["state"].startswith("C"):
                continue  # C...: the client went away (wrk stopped with requests in flight)
            if not found["status"].startswith("2") or found["state"] != "----":
                key = f"{found['server']} {found['status']} {found['state']} {found['method']}"
                counts[key] = counts.get(key, 0) + 1
        return counts

    def stop(self) -> int | None:
        return None if self.proc is None else terminate(self.proc, 10)
        code, self.proc = self.proc.returncode, None
        return code
