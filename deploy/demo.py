"""``make demo``: PostgreSQL, migrations, seed data, every service in services/; Ctrl-C stops it all.

Traces: with Java and the Zipkin jar (``make zipkin-deps``), the real Zipkin is started too (in
memory, on 127.0.0.1:9411, or a free port with ``--free-ports``) and the services send their spans
to it; the banner links its UI and the trace of a first request. ``ZIPKIN_URL`` in the environment
names a Zipkin already running instead. Without either, the banner says in one line how to get it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import httpx
from localstack import REGISTRY, LocalStack
from seed import rows_for, seed, spec_of
from zipkin import ZipkinServer
from zipkin import missing as zipkin_missing

from sanicms.auth import DEVELOPMENT_SECRET, mint
from sanicms.testing.localdb import throwaway_server
from sanicms.testing.processes import free_port

#: Access control is on in the demo, with the public development key.
AUTH_ENV = {"AUTH_ENABLED": "true", "AUTH_SECRET": DEVELOPMENT_SECRET}
READ = [f"{s.name}:read" for s in REGISTRY]
WRITE = [*READ, *(f"{s.name}:write" for s in REGISTRY)]


class Traces:
    """Where the demo's spans go: ``ZIPKIN_URL`` from the environment, else the real Zipkin
    started here (in a thread, while PostgreSQL and the services start), else nowhere, with why."""

    PORT = 9411

    def __init__(self, log_dir: Path, *, free: bool) -> None:
        self.url = os.environ.get("ZIPKIN_URL", "").rstrip("/")
        self.server: ZipkinServer | None = None
        self.why = ""
        self._started: threading.Thread | None = None
        if self.url:
            return
        self.why = zipkin_missing()
        port = free_port() if free else self.PORT
        if not self.why and not port_is_free(port):
            self.why = (f"port {port} is taken (a Zipkin already? then ZIPKIN_URL=http://127.0.0.1:{port} "
                        "make demo)")
        if not self.why:
            self.server = ZipkinServer(port, log_path=log_dir / "zipkin.log")
            self.url = self.server.url
            self._started = threading.Thread(target=self._start, daemon=True)
            self._started.start()

    def _start(self) -> None:
        try:
            self.server.start()
        except RuntimeError as e:  # its log is named in the message
            self.why = f"Zipkin did not start: {e}"

    def env(self) -> dict[str, str]:
        return {"ZIPKIN_URL": self.url} if self.url else {}

    def ready(self) -> bool:
        """Wait for the Zipkin started here; whether spans now have somewhere to go."""
        if self._started is not None:
            self._started.join()
        return bool(self.url) and not self.why

    def trace_url(self, trace_id: str) -> str:
        return f"{self.url}/zipkin/traces/{trace_id}"

    def exited(self) -> int | None:
        """The exit code of the Zipkin started here once it has exited (None while it runs)."""
        proc = self.server.proc if self.server else None
        return proc.poll() if proc is not None and not self.why else None

    def stop(self) -> None:
        if self.server is None:
            return
        while self._started.is_alive() and self.server.proc is None:  # stopped just as it starts
            time.sleep(0.05)
        self.server.stop()
        print("zipkin stopped", flush=True)


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def first_trace(url: str, token: str) -> str:
    """GET ``url`` as the banner's first try does; the X-Trace-Id of its answer."""
    res = httpx.get(url, headers={"authorization": f"Bearer {token}"}, timeout=10)
    res.raise_for_status()
    return res.headers["x-trace-id"]


def banner(stack: LocalStack, log_dir: Path, traces: Traces) -> str:
    """What is running and how to call it: every service, then tries on the last one started
    (the one that calls the others, when there is one), then where its traces are."""
    top = REGISTRY[-1].name
    u = stack.url(top)
    paths = {s.name: stack.collection(s.name) for s in REGISTRY}
    body = example_body(stack, top)
    reader, writer = mint(READ, subject="demo-reader", ttl=86400), mint(WRITE, subject="demo-writer", ttl=86400)
    if traces.ready():
        where = "started here, in memory, stops with the demo" if traces.server else "ZIPKIN_URL"
        try:
            first = traces.trace_url(first_trace(f"{u}{paths[top]}/1", reader))
        except (httpx.HTTPError, KeyError) as e:
            first = f"none, it failed: {e!r}"
        traces_text = (f"Traces in Zipkin ({where}): {traces.url}/zipkin/\n"
                       f"  GET {paths[top]}/1, made once at start: {first}\n"
                       f"  any other answer's X-Trace-Id header: {traces.url}/zipkin/traces/<id>\n")
    else:
        traces_text = f"Traces: none, {traces.why}\n"
    services = "\n".join(f"  {s.name:<6} {stack.url(s.name)}{paths[s.name]}" for s in REGISTRY)
    names = "/".join(s.name for s in REGISTRY)
    return f"""
sanicms demo is up (logs in {log_dir}/):
{services}
  docs  {u}/openapi/   spec  {u}/openapi/spec.json

Access control is on (development key; tokens valid 24 h, more with
`python -m sanicms token --scope {top}:read ...`):
  export READ={reader}
  export WRITE={writer}
(READ: {names} :read; WRITE: those and :write.) In Swagger UI, Authorize takes either.

Try:
  curl -s {u}{paths[top]}/1 -H "authorization: Bearer $READ"
  curl -s '{u}{paths[top]}?page=1&page_size=2' -H "authorization: Bearer $READ"
  curl -s -X POST {u}{paths[top]} -H "authorization: Bearer $WRITE" -H 'content-type: application/json' \\
       -d '{body}'
  curl -s -X POST {u}{paths[top]} -H "authorization: Bearer $READ" -H 'content-type: application/json' -d '{{}}'   # 403
  curl -s {u}{paths[top]}/1                                                           # 401
  curl -s '{stack.url(REGISTRY[0].name)}{paths[REGISTRY[0].name]}?ids=1,2' -H "authorization: Bearer $READ"
  curl -s {stack.url(REGISTRY[-1].name)}/readyz
  curl -s {u}/metrics                # Prometheus text; add -H 'accept: application/openmetrics-text'
                                     # for exemplars (trace ids); docs/monitoring.md for Prometheus + Grafana

{traces_text}
Press Ctrl-C to stop.
"""


def example_body(stack: LocalStack, name: str) -> str:
    """A body the service would accept, as one line of JSON."""
    service = next(s for s in REGISTRY if s.name == name)
    ids = {d: [2] for d in service.downstreams}
    [row, *_] = rows_for(service, spec_of(stack.url(name)), ids, count=1)
    return json.dumps(row)


def watch(stack: LocalStack, log_dir: Path, traces: Traces, every: float = 1.0) -> None:
    """Until stopped: say so at once when a service exits (a crash, a kill), and where its log
    is. The others keep running, so what their callers see without it can be tried."""
    told: set[str] = set()
    while True:
        if "zipkin" not in told and (code := traces.exited()) is not None:
            told.add("zipkin")
            print(f"\nZipkin exited (code {code}): its log is {log_dir}/zipkin.log. The services keep "
                  "running, their spans dropped; Ctrl-C stops the demo.", flush=True)
        for name, code in stack.ended().items():
            if name not in told:
                told.add(name)
                print(f"\n{name} service exited (code {code}): its log is {log_dir}/{name}.log. The other "
                      "services keep running; Ctrl-C stops the demo.", flush=True)
        time.sleep(every)


def main() -> None:
    log_dir = Path(".demo")
    free = "--free-ports" in sys.argv[1:]  # for tests: any free ports, not the services' own
    log_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    traces = Traces(log_dir, free=free)
    try:
        run(log_dir, free, traces)
    except KeyboardInterrupt:
        pass  # while PostgreSQL or the services were starting
    finally:
        traces.stop()  # last: the services send their last spans as they stop


def run(log_dir: Path, free: bool, traces: Traces) -> None:
    with throwaway_server() as server_url:
        ports = {s.name: free_port() for s in REGISTRY} if free else None
        stack = LocalStack(server_url, ports=ports, log_dir=log_dir, env={**AUTH_ENV, **traces.env()})
        try:
            stack.start()
            seed({s.name: stack.url(s.name) for s in REGISTRY}, REGISTRY,
                 token=mint(WRITE, subject="demo-seed", ttl=300))
            print(banner(stack, log_dir, traces), flush=True)
            watch(stack, log_dir, traces)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean stop short
            print("\nstopping services...", flush=True)
            codes = stack.stop()
            print("stopped:", ", ".join(f"{k} (exit {v})" for k, v in codes.items()), flush=True)


if __name__ == "__main__":
    main()
