"""The caller's CPU per downstream call: what the fan-out pays that its parts do not.

A city service runs on one CPU (``SERVER_CPUS``), this script on the other (``LOAD_CPUS``)
and calls ``GET /cities/<id>`` one call at a time, with uvloop as the services use it:
through aiohttp alone, through sanicms's ``ServiceClient``, and through it with a client
span per call, as inside a traced request (the reporter has no transport: spans are made,
not sent). Each variant runs ``--calls`` calls per round, the variants take turns for
``--rounds`` rounds, and the medians of the process's CPU time per call (user and system)
are printed.

    cd bench && ../.venv/bin/python client_cost.py [--calls 2000] [--rounds 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from run import LOAD_CPUS, seed, service

from sanicms.calls.client import ServiceClient
from sanicms.testing.localdb import create_database, throwaway_server
from sanicms.testing.processes import migrate
from sanicms.tracing.instrument import ClientSpans
from sanicms.tracing.reporter import SpanReporter
from sanicms.tracing.tracer import Tracer

Call = Callable[[], Awaitable[Any]]


async def variants(url: str, path: str, tracer: Tracer) -> tuple[dict[str, Call], Callable[[], Awaitable[None]]]:
    """The calls to compare, and what closes their sessions."""
    session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
    plain, traced = ServiceClient("city", url), ServiceClient("city", url, observers=[ClientSpans(tracer, url)])
    await plain.open()
    await traced.open()

    async def raw() -> None:
        async with session.get(url + path, headers={"accept": "application/json"}) as resp:
            await resp.read()

    async def close() -> None:
        await session.close()
        await plain.close()
        await traced.close()

    calls: dict[str, Call] = {
        "aiohttp alone": raw,
        "sanicms ServiceClient": lambda: plain.get(None, path),
        "sanicms ServiceClient, traced": lambda: traced.get(None, path),
    }
    return calls, close


async def compare(url: str, path: str, calls: int, rounds: int) -> dict[str, list[float]]:
    tracer = Tracer("caller", SpanReporter([]))  # no transport: spans are made, not sent
    todo, close = await variants(url, path, tracer)
    cpu: dict[str, list[float]] = {name: [] for name in todo}
    # The calls' parent, as a request's SERVER span would be (active in this task throughout).
    request_scope = tracer.start_active_span("GET /users/<id>", finish_on_close=False)
    try:
        for call in todo.values():  # warm-up: connections open, code paths taken
            for _ in range(300):
                await call()
        for _ in range(rounds):
            for name, call in todo.items():
                began = time.process_time()
                for _ in range(calls):
                    await call()
                cpu[name].append((time.process_time() - began) / calls * 1e6)
    finally:
        request_scope.close()
        await close()
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    with throwaway_server() as pg:
        database = create_database(pg, "client_cost_city", fresh=True)
        migrate("city_service", {"DATABASE_URL": database})
        city = service("city", "city_service", {"DATABASE_URL": database, "TRACING_ENABLED": "false",
                                                "LOG_LEVEL": "WARNING"})
        city.start(Path(tempfile.mkdtemp(prefix="client-cost-")))
        try:
            [city_id] = seed(city.url, "/cities", [{"name": "C", "province": "P"}])
            os.sched_setaffinity(0, {int(cpu) for cpu in LOAD_CPUS.split(",")})
            cpu = uvloop.run(compare(city.url, f"/cities/{city_id}", args.calls, args.rounds))
        finally:
            city.stop()
    print(f"caller CPU per GET /cities/<id>, {args.calls} calls a round, medians of {args.rounds} rounds:")
    for name, values in cpu.items():
        rounds = " ".join(f"{v:.0f}" for v in values)
        print(f"  {name:<30} {statistics.median(values):6.1f} µs   (rounds: {rounds})")


if __name__ == "__main__":
    main()
