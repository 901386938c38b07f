"""Where one ``GET /users/<id>`` spends its time at one connection, read from its own spans.

The three services run traced against a collector that keeps the spans; ``--requests``
sequential requests later, each span's start (relative to the user's SERVER span) and
duration are printed as medians over the traces. The gaps between them are what no span
covers: the client's work before a call's span reaches the neighbour, the pool's release.

    cd bench && ../.venv/bin/python timeline.py [--requests 1000]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from aiohttp import web
from collector import SpanCollector
from run import ALL_CPUS, Server, get, seed, service

from sanicms.testing.localdb import create_database, throwaway_server
from sanicms.testing.processes import migrate


class KeepingCollector(SpanCollector):
    """The bench's collector, keeping every span instead of counting them."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[dict] = []

    async def _accept(self, request: web.Request) -> web.Response:
        self.spans.extend(orjson.loads(await request.read()))
        return web.Response(status=202)


def timeline(spans: list[dict]) -> dict[str, list[tuple[int, int]]]:
    """Per span kind and name: (start after the user's SERVER span, duration) in µs."""
    traces: dict[str, list[dict]] = collections.defaultdict(list)
    for span in spans:
        traces[span["traceId"]].append(span)
    rows: dict[str, list[tuple[int, int]]] = collections.defaultdict(list)
    for trace in traces.values():
        roots = [s for s in trace if s.get("kind") == "SERVER" and s["localEndpoint"]["serviceName"] == "user"]
        if len(roots) != 1:
            continue
        origin = roots[0]["timestamp"]
        for span in trace:
            key = f"{span['localEndpoint']['serviceName']:<5} {span.get('kind', '-'):<7} {span['name']}"
            rows[key].append((span["timestamp"] - origin, span["duration"]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    servers: list[Server] = []
    log_dir = Path(tempfile.mkdtemp(prefix="timeline-"))

    def up(package: str, env: dict[str, str]) -> str:
        # The scheduler places the three, as in make bench's fan-out scenario.
        servers.append(service(package, package, {**env, "LOG_LEVEL": "WARNING"}, cpus=ALL_CPUS).start(log_dir))
        return servers[-1].url

    collector = KeepingCollector().start()
    try:
        with throwaway_server() as pg:
            traced = {"TRACING_ENABLED": "true", "TRACING_SAMPLE_RATE": "1.0", "ZIPKIN_URL": collector.url}
            dbs = {name: create_database(pg, f"timeline_{name}", fresh=True) for name in ("city", "role", "user")}
            for name, url in dbs.items():
                migrate(f"{name}_service", {"DATABASE_URL": url})
            city = up("city_service", {"DATABASE_URL": dbs["city"], **traced})
            role = up("role_service", {"DATABASE_URL": dbs["role"], **traced})
            [city_id] = seed(city, "/cities", [{"name": "C", "province": "P"}])
            [role_id] = seed(role, "/roles", [{"name": "R"}])
            user = up("user_service", {"DATABASE_URL": dbs["user"], **traced, "CITY_SERVICE_URL": city,
                                       "ROLE_SERVICE_URL": role})
            [user_id] = seed(user, "/users", [{"name": "B", "age": 30, "sex": "f", "city_id": city_id,
                                               "role_id": role_id}])
            path = f"{user}/users/{user_id}"
            for _ in range(300):  # warm-up: pools filled, code paths taken
                get(path)
            collector.quiet(2.0)
            collector.spans.clear()
            began = time.perf_counter()
            for _ in range(args.requests):
                get(path)
            per_request = (time.perf_counter() - began) / args.requests
            collector.quiet(2.0)
    finally:
        for server in reversed(servers):
            server.stop()
        collector.close()
    rows = timeline(collector.spans)
    print(f"{args.requests} sequential GET /users/<id>: {per_request * 1e3:.3f} ms each, seen by the client")
    print("medians over the traces; start is µs after the user's SERVER span started")
    for key in sorted(rows, key=lambda k: statistics.median(start for start, _ in rows[k])):
        starts, durations = zip(*rows[key], strict=True)
        print(f"  {key:<32} start +{statistics.median(starts):5.0f} µs  duration {statistics.median(durations):5.0f} µs"
              f"  ({len(starts)} spans)")


if __name__ == "__main__":
    main()
