"""Soak: sustained concurrent load on GET /users/<id> and POST /cities, bounded in time.

Run by ``make resilience`` (not ``make test``): SOAK_SECONDS (default 60) of load at
SOAK_CONCURRENCY (default 64) connections, loopback only. Asserts zero failed requests,
bounded memory growth and connections back to idle; prints the figures for the README.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time

import aiohttp
import httpx
import psutil
import psycopg2

SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
CONCURRENCY = int(os.environ.get("SOAK_CONCURRENCY", "64"))
RSS_GROWTH_BOUND_MB = 25.0  # between the first and the last ten seconds, per service


def rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


async def drive(stack, user_ids, samples):
    stats = {"ok": 0, "failed": 0, "errors": {}, "latencies": []}
    deadline = time.monotonic() + SECONDS
    connector = aiohttp.TCPConnector(limit=CONCURRENCY * 2)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def worker(n: int) -> None:
            i = 0
            while time.monotonic() < deadline:
                i += 1
                started = time.perf_counter()
                try:
                    if i % 4 == 0:  # one write in four
                        body = {"name": f"soak-{n}-{i}", "province": "load"}
                        async with session.post(stack.url("city") + "/cities", json=body) as res:
                            ok = res.status == 201
                            await res.read()
                    else:
                        uid = user_ids[(n + i) % len(user_ids)]
                        async with session.get(f"{stack.url('user')}/users/{uid}") as res:
                            ok = res.status == 200
                            await res.read()
                    key = None if ok else f"HTTP {res.status}"
                except Exception as exc:
                    key = type(exc).__name__
                stats["latencies"].append(time.perf_counter() - started)
                if key is None:
                    stats["ok"] += 1
                else:
                    stats["failed"] += 1
                    stats["errors"][key] = stats["errors"].get(key, 0) + 1

        async def sampler() -> None:
            while time.monotonic() < deadline:
                samples.append((time.monotonic(), {n: rss_mb(p.proc.pid) for n, p in stack.processes.items()}))
                await asyncio.sleep(1)

        await asyncio.gather(sampler(), *(worker(n) for n in range(CONCURRENCY)))
    return stats


def seed(stack) -> list[int]:
    city = httpx.post(stack.url("city") + "/cities", json={"name": "Soak", "province": "S"}, timeout=10).json()["data"]
    role = httpx.post(stack.url("role") + "/roles", json={"name": "soak"}, timeout=10).json()["data"]
    ids = []
    for i in range(20):
        body = {"name": f"u{i}", "age": 20 + i, "sex": "f", "city_id": city["id"], "role_id": role["id"]}
        ids.append(httpx.post(stack.url("user") + "/users", json=body, timeout=10).json()["data"]["id"])
    return ids


def db_connections(stack) -> dict[str, int]:
    """Open connections per service database, as PostgreSQL counts them."""
    conn = psycopg2.connect(stack.server_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datname, count(*) FROM pg_stat_activity WHERE datname LIKE %s GROUP BY datname",
                        (stack.db_prefix + "%",))
            return {name[len(stack.db_prefix):]: n for name, n in cur.fetchall()}
    finally:
        conn.close()


def busy_db_connections(stack) -> int:
    """Connections of the service databases still running a statement or left in a transaction."""
    conn = psycopg2.connect(stack.server_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname LIKE %s AND state <> 'idle'",
                        (stack.db_prefix + "%",))
            return cur.fetchone()[0]
    finally:
        conn.close()


def pools_in_use(stack) -> dict[str, int]:
    """Connections each service's pool has lent out, from its /healthz."""
    return {name: httpx.get(stack.url(name) + "/healthz", timeout=5).json()["data"]["database"]["in_use"]
            for name in stack.processes}


def downstream_connections(stack) -> int:
    ports = {stack.ports["city"], stack.ports["role"]}
    ps = psutil.Process(stack.processes["user"].proc.pid)
    return len([c for c in ps.net_connections(kind="tcp")
                if c.raddr and c.raddr.port in ports and c.status == psutil.CONN_ESTABLISHED])


def test_soak(stack):
    user_ids = seed(stack)
    samples: list = []
    started = time.monotonic()
    stats = asyncio.run(drive(stack, user_ids, samples))
    elapsed = time.monotonic() - started
    time.sleep(2)  # let keep-alive connections settle

    first = [s for t, s in samples if t - samples[0][0] < 10]
    last = [s for t, s in samples if samples[-1][0] - t < 10]
    growth = {n: statistics.mean(s[n] for s in last) - statistics.mean(s[n] for s in first)
              for n in stack.processes}
    lat = sorted(stats["latencies"])
    report = {
        "seconds": round(elapsed, 1), "concurrency": CONCURRENCY, "requests": stats["ok"] + stats["failed"],
        "failed": stats["failed"], "errors": stats["errors"], "rps": round((stats["ok"] + stats["failed"]) / elapsed),
        "p50_ms": round(lat[len(lat) // 2] * 1000, 1), "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 1),
        "rss_growth_mb": {n: round(g, 1) for n, g in growth.items()},
        "rss_last_mb": {n: round(v, 1) for n, v in samples[-1][1].items()},
        "db_sockets_after": db_connections(stack), "db_busy_after": busy_db_connections(stack),
        "pool_in_use_after": pools_in_use(stack), "user_to_downstream_conns_after": downstream_connections(stack),
    }
    print("\nSOAK " + json.dumps(report))

    assert stats["failed"] == 0, stats["errors"]
    assert all(g < RSS_GROWTH_BOUND_MB for g in growth.values()), growth
    assert all(n <= 10 for n in report["db_sockets_after"].values()), report  # DB_POOL_MAX_SIZE
    # Back to idle: no connection lent out by a pool, none busy or inside a transaction.
    assert report["pool_in_use_after"] == dict.fromkeys(stack.processes, 0), report
    assert report["db_busy_after"] == 0, report
    assert report["user_to_downstream_conns_after"] <= 2 * 100  # CLIENT_POOL_SIZE per downstream
