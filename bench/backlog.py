"""A storm of new connections against one city worker, with Sanic's listen backlog (100) and
with ``LISTEN_BACKLOG``'s default: how many SYNs the kernel dropped, and what that did to the
answers.

    cd bench && ../.venv/bin/python backlog.py [--rate 25000] [--seconds 6] [--backlogs 100 1024]

The load is bench/openloop.py with ``--grow``: a request that finds no idle connection opens a
new one, as a crowd of clients that each connect when they need to would. The worker has
``MAX_CONCURRENT_REQUESTS`` at its default. The drops are the kernel's ``ListenOverflows``
(``nstat``), counted over each run; a dropped SYN is sent again 1 s later, then 3 s, 7 s...
Results: bench/results/backlog.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from overload import settle
from run import LOAD_CPUS, pin_load_side, seed, service

from sanicms.testing.localdb import create_database, throwaway_server
from sanicms.testing.processes import migrate

HERE = Path(__file__).resolve().parent
COUNTERS = ("TcpExtListenOverflows", "TcpExtListenDrops")


def kernel_counters() -> dict[str, int]:
    out = subprocess.run(["nstat", "-az", *COUNTERS], capture_output=True, text=True, check=True).stdout
    return {line.split()[0]: int(line.split()[1]) for line in out.splitlines()[1:] if line.strip()}


def storm(url: str, rate: float, seconds: float) -> dict:
    out = subprocess.run(["taskset", "-c", LOAD_CPUS, sys.executable, str(HERE / "openloop.py"), url, "--grow",
                          "--connections", "4000", "--rate", str(round(rate)), "--seconds", str(seconds),
                          "--timeout", "35"], capture_output=True, text=True, check=True, timeout=seconds + 120).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=25000)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--backlogs", type=int, nargs="+", default=[100, 1024])
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    rows = []
    (args.out / "logs").mkdir(parents=True, exist_ok=True)
    with throwaway_server() as pg:
        pin_load_side()
        db = create_database(pg, "bench_backlog_city", fresh=True)
        migrate("city_service", {"DATABASE_URL": db})
        for backlog in args.backlogs:
            server = service(f"city-backlog-{backlog}", "city_service", {
                "DATABASE_URL": db, "TRACING_ENABLED": "false", "LOG_LEVEL": "WARNING", "WORKERS": "1",
                "LISTEN_BACKLOG": str(backlog)})
            server.start(args.out / "logs")
            try:
                [city] = seed(server.url, "/cities", [{"name": f"Storm {backlog}", "province": "P"}])
                url = f"{server.url}/cities/{city}"
                settle(server, url)
                before = kernel_counters()
                result = storm(url, args.rate, args.seconds)
                after = kernel_counters()
            finally:
                server.stop()
            by = result["by_status"]
            row = {"backlog": backlog, "rate": args.rate, "seconds": args.seconds,
                   "syn_dropped": after["TcpExtListenOverflows"] - before["TcpExtListenOverflows"],
                   "connections": result["connections"], "lost_or_unsent": result["broken"] + result["unsent"],
                   "unanswered": result["unanswered"],
                   **{f"{status}": {"count": v["count"], "p50_ms": v["p50"], "p99_ms": v["p99"]}
                      for status, v in by.items()}}
            rows.append(row)
            print(json.dumps(row), flush=True)
    (args.out / "backlog.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
