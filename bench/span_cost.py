"""Instructions per request of a traced request's two spans, part by part, under callgrind.

No server: the parts run in a loop, as a traced ``GET /cities/<id>`` makes them (a SERVER
span with its tags and a SQL span under it). Each part runs once with ``--requests`` loops
and once with none, under ``valgrind --tool=callgrind`` with ``PYTHONMALLOC=malloc`` as in
``instructions.py``; the difference, divided by the loops, is its cost per request:

- ``spans``: start both spans, finish them (the reporter has no transport: nothing encoded);
- ``to_zipkin``: both finished spans as Zipkin dicts;
- ``dumps``: those two dicts as JSON (``orjson.dumps``, what the reporter queues).

    cd bench && ../.venv/bin/python span_cost.py [--requests 20000]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import orjson

from sanicms.tracing.reporter import SpanReporter
from sanicms.tracing.tracer import Span, Tracer
from sanicms.tracing.zipkin import to_zipkin

PARTS = ("spans", "to_zipkin", "dumps")


def request_spans(tracer: Tracer) -> tuple[Span, Span]:
    """One request's spans, made and finished as the route hook, SQL hook and respond hook do."""
    scope = tracer.server_scope("get /cities/<id:int>", None, {
        "http.method": "GET", "http.path": "/cities/1", "http.route": "/cities/<id:int>"}, None)
    server = scope._span
    server.remote = {"ipv4": "127.0.0.1", "port": 50123}
    sql = tracer.start_child(server._context, "sql select", {
        "db.type": "postgresql", "db.instance": "city",
        "db.statement": 'SELECT "id", "name", "province", "create_time" FROM "city" WHERE "id" = $1'}, "CLIENT")
    sql.remote = {"serviceName": "postgres", "ipv4": "127.0.0.1", "port": 5432}
    sql.finish()
    server.tags["http.status_code"] = "200"
    scope.close()
    return server, sql


def part(name: str, tracer: Tracer) -> Callable[[], Any]:
    server, sql = request_spans(tracer)
    if name == "spans":
        return lambda: request_spans(tracer)
    if name == "to_zipkin":
        return lambda: (to_zipkin(server), to_zipkin(sql))
    encoded = to_zipkin(server), to_zipkin(sql)
    return lambda: (orjson.dumps(encoded[0]), orjson.dumps(encoded[1]))


def run_loop(name: str, requests: int) -> None:
    tracer = Tracer("city", SpanReporter([]), endpoint={"serviceName": "city", "ipv4": "127.0.0.1", "port": 8050})
    once = part(name, tracer)
    for _ in range(requests):
        once()


def instructions(name: str, requests: int) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
         "--loop", name, "--requests", str(requests)],
        env={"PYTHONMALLOC": "malloc", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True)
    return int(re.search(r"Collected : (\d+)", out.stderr).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--loop", choices=PARTS, help=argparse.SUPPRESS)  # the measured child
    args = parser.parse_args()
    if args.loop:
        run_loop(args.loop, args.requests)
        return
    for name in PARTS:
        cost = (instructions(name, args.requests) - instructions(name, 0)) / args.requests
        print(f"{name:10} {cost:9,.0f} instructions per request (two spans)")


if __name__ == "__main__":
    main()
