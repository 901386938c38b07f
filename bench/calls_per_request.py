"""Python calls, C calls or bytecodes per ``GET /cities/<id>``, counted exactly, in process.

The city app is served on this process's event loop and a raw keep-alive client on the same
loop sends the requests, so nothing but the two runs; the client's share is the same for
every version of the library, so a difference between two versions is the server's. Spans
are made and queued but not sent during the count (a batch size above the requests).

    cd bench && ../.venv/bin/python calls_per_request.py [--count calls|opcodes|none] [--requests N] [--replica]

``--replica``: with one read replica configured (a second pool to the same server, checked once at
start: the request path of a read on a replica).

``--count none`` runs the requests bare, for ``valgrind --tool=callgrind``: the instructions
of N requests are the total of a run with N more requests less that of one without.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
from typing import Any

from sanic import Sanic

from sanicms.testing.localdb import create_database, throwaway_server
from sanicms.testing.processes import free_port, migrate

WARM_UP = 300


async def count(db_url: str, what: str, requests: int, traced: bool, replica: bool = False) -> dict[str, float]:
    from city_service.server import create_app

    Sanic.test_mode = True
    replicas = {"DATABASE_REPLICA_URLS": [db_url], "DATABASE_REPLICA_CHECK_INTERVAL": 3600.0} if replica else {}
    app = create_app(DATABASE_URL=db_url, **replicas, TRACING_ENABLED=traced, TRACING_SAMPLE_RATE=1.0,
                     TRACING_TRANSPORTS=["http"], ZIPKIN_URL="http://127.0.0.1:9",
                     TRACING_FLUSH_INTERVAL=3600.0, TRACING_BATCH_SIZE=50_000, TRACING_QUEUE_SIZE=100_000,
                     LOG_CONFIGURE=False)
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def request(method: str, path: str, body: bytes = b"") -> bytes:
        head = f"{method} {path} HTTP/1.1\r\nhost: bench\r\ncontent-length: {len(body)}\r\n"
        if body:
            head += "content-type: application/json\r\n"
        writer.write(head.encode() + b"\r\n" + body)
        await writer.drain()
        status = await reader.readline()
        length = 0
        while (line := await reader.readline()) != b"\r\n":
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        return status

    if replica:  # read from it once its first check passed
        while not all(r.usable for r in app.ctx.db.replicas.all):
            await asyncio.sleep(0.05)
    assert b" 201 " in await request("POST", "/cities", b'{"name": "Counted", "province": "P"}')
    for _ in range(WARM_UP):
        assert b" 200 " in await request("GET", "/cities/1")
    counts: collections.Counter[str] = collections.Counter()

    def profile(frame: Any, event: str, arg: Any) -> None:
        counts[event] += 1

    def trace(frame: Any, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        if event == "opcode":
            counts["opcode"] += 1
        return trace

    if what == "calls":
        sys.setprofile(profile)
    elif what == "opcodes":
        sys.settrace(trace)
    try:
        for _ in range(requests):
            await request("GET", "/cities/1")
    finally:
        sys.setprofile(None)
        sys.settrace(None)
    writer.close()
    await server.before_stop()
    await server.close()
    await server.after_stop()
    return {event: round(total / requests, 2) for event, total in sorted(counts.items()) if "return" not in event}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", choices=["calls", "opcodes", "none"], default="calls")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--tracing", choices=["on", "off"], default="on")
    parser.add_argument("--replica", action="store_true", help="one read replica (a second pool, same server)")
    args = parser.parse_args()
    with throwaway_server() as pg:
        db = create_database(pg, "calls_per_request_city", fresh=True)
        migrate("city_service", {"DATABASE_URL": db})
        print(asyncio.run(count(db, args.count, args.requests, args.tracing == "on", args.replica)))


if __name__ == "__main__":
    main()
