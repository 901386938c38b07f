"""Two commits' city services side by side: ``GET /cities/<id>``, interleaved wrk rounds.

Each commit is exported (``git archive``) and its city service started from the export, both
against the same throwaway PostgreSQL, pinned like ``make bench`` (servers on SERVER_CPUS,
wrk and PostgreSQL on LOAD_CPUS). Rounds alternate which goes first; medians are printed.
For a quick before/after of one change; ``make bench`` remains the record.

    cd bench && ../.venv/bin/python ab.py HEAD~1 HEAD [--tracing on] [--rounds 4] [--seconds 6]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from collector import SpanCollector
from run import HERE, LOAD_CPUS, Server, pin_load_side, seed, service
from wrk import wrk

from sanicms.testing.localdb import create_database, throwaway_server
from sanicms.testing.processes import migrate


def export(rev: str) -> Path:
    """The commit's tree in a fresh directory."""
    root = Path(tempfile.mkdtemp(prefix="ab-"))
    archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    return root


def compare(servers: list[tuple[str, Server]], path: str, *, connections: int, rounds: int, seconds: float) -> None:
    """Interleaved rounds (each commit goes first every other round); medians printed."""
    runs: dict[str, list] = {rev: [] for rev, _ in servers}
    for r in range(rounds):
        for rev, server in servers if r % 2 == 0 else servers[::-1]:
            wrk(server.url + path, connections=connections, duration=2, cpus=LOAD_CPUS)  # warm-up
            runs[rev].append(wrk(server.url + path, connections=connections, duration=seconds, cpus=LOAD_CPUS))
    for rev, done in runs.items():
        rps, p50 = statistics.median(x.rps for x in done), statistics.median(x.p50_ms for x in done)
        errors = sum(x.errors for x in done)
        print(f"{connections:>2} connections  {rev:<12} {rps:8.0f} req/s  p50 {p50:.3f} ms  errors {errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--tracing", choices=["on", "off"], default="off")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    roots = {rev: export(rev) for rev in (args.a, args.b)}
    logs = Path(tempfile.mkdtemp(prefix="ab-logs-"))
    collector = SpanCollector().start()
    servers: list[tuple[str, Server]] = []
    try:
        with throwaway_server() as pg:
            pin_load_side()
            db = create_database(pg, "ab_city", fresh=True)
            migrate("city_service", {"DATABASE_URL": db})
            env = {"DATABASE_URL": db, "LOG_LEVEL": "WARNING", "TRACING_ENABLED": str(args.tracing == "on").lower(),
                   "ZIPKIN_URL": collector.url}
            for rev, root in roots.items():
                pythonpath = f"{root}/libs/sanicms:{root}/services/city"  # ahead of the editable installs
                server = service(f"ab-{len(servers)}", "city_service", {**env, "PYTHONPATH": pythonpath})
                servers.append((rev, server.start(logs)))
            [city_id] = seed(servers[0][1].url, "/cities", [{"name": "A/B", "province": "P"}])
            for connections in (1, 64):
                compare(servers, f"/cities/{city_id}", connections=connections, rounds=args.rounds,
                        seconds=args.seconds)
    finally:
        for _, server in servers:
            server.stop()
        collector.close()


if __name__ == "__main__":
    main()
