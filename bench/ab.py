"""Two commits' city services side by side: ``GET /cities/<id>``, interleaved wrk rounds.

Each commit is exported (``git archive``) and its city service started from the export, both
against the same throwaway PostgreSQL, measured by ``make bench``'s own comparison (servers
on SERVER_CPUS, wrk and PostgreSQL on LOAD_CPUS; interleaved rounds, rotating which goes
first, after a warm-up; medians).
For a quick before/after of one change; ``make bench`` remains the record.

    cd bench && ../.venv/bin/python ab.py HEAD~1 HEAD [--tracing on] [--rounds 4] [--seconds 6]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from collector import SpanCollector
from run import HERE, Bench, Server, Target, pin_load_side, seed, service

from sanicms.testing.localdb import create_database, throwaway_server
from sanicms.testing.processes import migrate


def export(rev: str) -> Path:
    """The commit's tree in a fresh directory."""
    root = Path(tempfile.mkdtemp(prefix="ab-"))
    archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    return root


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
            bench = Bench(args.rounds, args.seconds, 2.0, logs, collector)
            for connections in (1, 64):
                medians = bench.compare(f"GET /cities/<id>, {connections} connections",
                                        {rev: Target(server, f"/cities/{city_id}") for rev, server in servers},
                                        connections=connections)
                for rev, m in medians.items():
                    print(f"{connections:>2} connections  {rev:<12} {m['rps']:8.0f} req/s  p50 {m['p50_ms']:.3f} ms  "
                          f"errors {m['errors']}")
    finally:
        for _, server in servers:
            server.stop()
        collector.close()


if __name__ == "__main__":
    main()
