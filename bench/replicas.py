"""``make bench BENCH_ARGS='--only replicas'``: GET /cities/<id> with its reads on the primary
alone, on one streaming replica, and spread over both (the primary listed as a replica too:
``DATABASE_REPLICA_URLS=<replica>,<primary>``, round robin), on a real primary and replica
(sanicms.testing.replication). wrk, 64 connections, rounds alternating the variants; medians.

One machine holds both PostgreSQL servers, the service and wrk: a replica adds no CPU here, so
this shows what the routing costs and that nothing is lost, not the capacity a second server
would add.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from run import Server, get, seed, service
from wrk import wrk

from sanicms.testing.processes import migrate
from sanicms.testing.replication import ReplicatedPostgres

CONNECTIONS = 64


def variants(pg: ReplicatedPostgres) -> dict[str, str]:
    """Label -> DATABASE_REPLICA_URLS."""
    primary, replica = pg.primary.url("bench_city"), pg.replica.url("bench_city")
    return {"primary only": "", "one replica": replica, "replica and primary (round robin)": f"{replica},{primary}"}


def measure(out: Path, *, seconds: float = 8.0, rounds: int = 3) -> dict:
    log_dir = out / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results: dict[str, list[dict]] = {}
    with ReplicatedPostgres() as pg:
        pg.primary.execute("CREATE DATABASE bench_city")
        env = {"DATABASE_URL": pg.primary.url("bench_city"), "TRACING_ENABLED": "false", "LOG_FORMAT": "json",
               "DATABASE_REPLICA_CHECK_INTERVAL": "1"}
        migrate("city_service", env)
        seeder = service("replicas-seed", "city_service", env).start(log_dir)
        try:
            ids = seed(seeder.url, "/cities", [{"name": f"City {i}", "province": "P"} for i in range(50)])
        finally:
            seeder.stop()
        pg.wait_replayed()
        path = f"/cities/{ids[len(ids) // 2]}"
        for _ in range(rounds):
            for label, urls in variants(pg).items():
                server = service("replicas-" + label.split()[0], "city_service",
                                 {**env, "DATABASE_REPLICA_URLS": urls}).start(log_dir)
                try:
                    _wait_replicas_in(server)
                    wrk(server.url + path, connections=CONNECTIONS, duration=2, cpus=None)  # warm-up
                    run = wrk(server.url + path, connections=CONNECTIONS, duration=seconds, cpus=None)
                    results.setdefault(label, []).append(run.as_dict())
                    print(f"  {label:<36} {run.rps:8.0f} req/s  p99 {run.p99_ms:6.1f} ms  errors {run.errors}",
                          flush=True)
                finally:
                    server.stop()
    summary = {label: {"rps": statistics.median(r["rps"] for r in runs),
                       "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                       "errors": sum(r["errors"] for r in runs), "rounds": len(runs)}
               for label, runs in results.items()}
    (out / "replicas.json").write_text(json.dumps({"started": started, "seconds": seconds, "rounds": rounds,
                                                    "variants": summary, "runs": results}, indent=2))
    lines = [f"`make bench BENCH_ARGS='--only replicas'`, started {started}: GET /cities/<id>, wrk {CONNECTIONS} "
             f"connections, {seconds:g} s x {rounds} rounds (medians).", "",
             "| reads on | req/s | p99 ms | errors |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {label} | {s['rps']:,.0f} | {s['p99_ms']:.1f} | {s['errors']} |" for label, s in summary.items()]
    (out / "replicas.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return summary


def _wait_replicas_in(server: Server, timeout: float = 30) -> None:
    """Until the service reads from every replica it was given (its /healthz says so)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if get(server.url + "/healthz") == 200:
            with urllib.request.urlopen(server.url + "/healthz", timeout=5) as response:
                pools = json.loads(response.read())["data"]["pools"]
            if all(p.get("state", "in") == "in" for p in pools):
                return
        time.sleep(0.2)
    raise SystemExit(f"{server.name}: its replicas never came in; see its log")
