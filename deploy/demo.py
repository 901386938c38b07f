"""``make demo``: PostgreSQL, migrations, seed data, every service in services/; Ctrl-C stops it all."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from localstack import REGISTRY, LocalStack
from seed import rows_for, seed, spec_of

from sanicms.auth import DEVELOPMENT_SECRET, mint
from sanicms.testing.localdb import throwaway_server
from sanicms.testing.processes import free_port

#: Access control is on in the demo, with the public development key.
AUTH_ENV = {"AUTH_ENABLED": "true", "AUTH_SECRET": DEVELOPMENT_SECRET}
READ = [f"{s.name}:read" for s in REGISTRY]
WRITE = [*READ, *(f"{s.name}:write" for s in REGISTRY)]


def banner(stack: LocalStack, log_dir: Path) -> str:
    """What is running and how to call it: every service, then tries on the last one started
    (the one that calls the others, when there is one)."""
    top = REGISTRY[-1].name
    u = stack.url(top)
    paths = {s.name: stack.collection(s.name) for s in REGISTRY}
    body = example_body(stack, top)
    reader, writer = mint(READ, subject="demo-reader", ttl=86400), mint(WRITE, subject="demo-writer", ttl=86400)
    zipkin = os.environ.get("ZIPKIN_URL", "").rstrip("/")
    traces = (f"Traces: {zipkin}/zipkin/ (each response's X-Trace-Id: {zipkin}/zipkin/traces/<id>)\n" if zipkin
              else "Traces: set ZIPKIN_URL=http://127.0.0.1:9411 to send spans to a Zipkin server.\n")
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

{traces}
Press Ctrl-C to stop.
"""


def example_body(stack: LocalStack, name: str) -> str:
    """A body the service would accept, as one line of JSON."""
    service = next(s for s in REGISTRY if s.name == name)
    ids = {d: [2] for d in service.downstreams}
    [row, *_] = rows_for(service, spec_of(stack.url(name)), ids, count=1)
    return json.dumps(row)


def watch(stack: LocalStack, log_dir: Path, every: float = 1.0) -> None:
    """Until stopped: say so at once when a service exits (a crash, a kill), and where its log
    is. The others keep running, so what their callers see without it can be tried."""
    told: set[str] = set()
    while True:
        for name, code in stack.ended().items():
            if name not in told:
                told.add(name)
                print(f"\n{name} service exited (code {code}): its log is {log_dir}/{name}.log. The other "
                      "services keep running; Ctrl-C stops the demo.", flush=True)
        time.sleep(every)


def main() -> None:
    log_dir = Path(".demo")
    free = "--free-ports" in sys.argv[1:]  # for tests: any free ports, not the services' own
    with throwaway_server() as server_url:
        ports = {s.name: free_port() for s in REGISTRY} if free else None
        stack = LocalStack(server_url, ports=ports, log_dir=log_dir, env=AUTH_ENV)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            stack.start()
            seed({s.name: stack.url(s.name) for s in REGISTRY}, REGISTRY,
                 token=mint(WRITE, subject="demo-seed", ttl=300))
            print(banner(stack, log_dir), flush=True)
            watch(stack, log_dir)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean stop short
            print("\nstopping services...", flush=True)
            codes = stack.stop()
            print("stopped:", ", ".join(f"{k} (exit {v})" for k, v in codes.items()), flush=True)


if __name__ == "__main__":
    main()
