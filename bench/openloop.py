"""An open-loop HTTP/1.1 load generator: requests start at a fixed rate, answered or not.

wrk keeps a fixed number of connections each waiting for its answer before it sends again (a
closed loop): when the server slows down, wrk slows down with it, so it cannot offer "four
times what the server can serve", and a fast refusal makes it send faster still. wrk2 (which
has a rate) is not in Debian; this does what it does. Request ``i`` is due at
``start + i / rate`` whatever happened before. It goes out on an idle keep-alive connection of
a fixed set (``--connections``, opened before the clock starts, like wrk2's ``-c``), or waits,
in order, for the next one to be free. Latency runs from when the request was due, so a
server that falls behind shows it as latency instead of hiding it (coordinated omission), and
``late_ms`` says how far the generator itself fell behind.

``--grow`` instead opens a new connection for a request that finds none idle (up to
``--connections``): a crowd of clients that each connect when they need to. Against a busy
server that is a storm of connections, and what it measures is mostly the listen backlog
(docs/benchmarks.md, "Overload").

    python openloop.py http://127.0.0.1:8000/cities/1 --rate 4000 --seconds 8

prints one JSON object: answers by status with latency percentiles (ms), requests that got
no answer within ``--timeout``, those lost with their connection, and (``--grow``) those
that found no connection.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

#: Connections by default: more than a worker's MAX_CONCURRENT_REQUESTS (100), as many as a
#: few callers' pools would hold.
CONNECTIONS = 256


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self, gen: _Generator) -> None:
        self.gen = gen
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport instances
        self.buffer = bytearray()
        self.due = 0.0  # when the request in flight was due; 0: idle

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def send(self, due: float) -> None:
        assert self.transport is not None
        self.due = due
        self.transport.write(self.gen.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        length = 0
        start = head.find(b"\r\ncontent-length:")
        if start >= 0:
            stop = head.find(b"\r\n", start + 2)
            length = int(head[start + 17:stop if stop >= 0 else len(head)])
        if len(self.buffer) < end + 4 + length:
            return
        status = int(self.buffer[9:12])
        del self.buffer[:end + 4 + length]
        due, self.due = self.due, 0.0
        self.gen.answered(self, status, due)

    def connection_lost(self, exc: Exception | None) -> None:
        self.gen.lost(self)


class _Generator:
    def __init__(self, url: str, rate: float, seconds: float, connections: int, timeout: float,
                 headers: dict[str, str], grow: bool = False) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.request = f"GET {path} HTTP/1.1\r\nhost: {self.host}\r\n{extra}\r\n".encode()
        self.rate, self.seconds, self.max_connections, self.timeout = rate, seconds, connections, timeout
        self.grow = grow
        self.idle: list[_Connection] = []
        #: due times of requests waiting for a free connection (fixed set), oldest first
        self.waiting: deque[float] = deque()
        self.open = 0
        self.latencies: dict[int, list[float]] = {}
        self.late: list[float] = []
        self.unsent = 0
        self.broken = 0
        self.in_flight = 0
        self.loop = asyncio.get_running_loop()
        self.start = self.last_answer = 0.0

    def answered(self, conn: _Connection, status: int, due: float) -> None:
        self.in_flight -= 1
        self.last_answer = now = self.loop.time()
        self.latencies.setdefault(status, []).append(now - due)
        self._free(conn)

    def _free(self, conn: _Connection) -> None:
        """``conn`` takes the oldest request waiting for a connection, or waits idle."""
        if self.waiting:
            self.in_flight += 1
            conn.send(self.waiting.popleft())
        else:
            self.idle.append(conn)

    def lost(self, conn: _Connection) -> None:
        self.open -= 1
        if conn.due:
            self.in_flight -= 1
            self.broken += 1
        if conn in self.idle:
            self.idle.remove(conn)
        if not self.grow:  # the set stays whole: one lost (a server's timeout or restart) is replaced
            self.open += 1
            self.loop.create_task(self._replace())

    async def _connect(self) -> _Connection | None:
        """A new connection (counted in ``open`` by the caller), or None if it failed."""
        try:
            _, conn = await self.loop.create_connection(lambda: _Connection(self), self.host, self.port)
        except OSError:
            self.open -= 1
            return None
        return conn

    async def _replace(self) -> None:
        conn = await self._connect()
        if conn is not None:
            self._free(conn)

    async def _connect_and_send(self, due: float) -> None:
        conn = await self._connect()
        if conn is None:
            self.in_flight -= 1
            self.broken += 1
            return
        conn.send(due)

    async def open_all(self) -> None:
        """The fixed set of connections, open before the first request is due."""
        for _ in range(self.max_connections):
            self.open += 1
            conn = await self._connect()
            if conn is None:
                raise OSError(f"could not connect to {self.host}:{self.port}")
            self.idle.append(conn)

    def issue(self, due: float) -> None:
        self.late.append(self.loop.time() - due)
        if self.idle:
            self.in_flight += 1
            self.idle.pop().send(due)
        elif not self.grow:
            self.waiting.append(due)
        elif self.open < self.max_connections:
            self.in_flight += 1
            self.open += 1
            self.loop.create_task(self._connect_and_send(due))
        else:
            self.unsent += 1

    async def run(self) -> dict:
        if not self.grow:
            await self.open_all()
        total = int(self.rate * self.seconds)
        self.start = start = self.loop.time()
        i = 0
        while i < total:
            now = self.loop.time()
            while i < total and start + i / self.rate <= now:
                self.issue(start + i / self.rate)
                i += 1
            if i < total:
                await asyncio.sleep(max(0.0, start + i / self.rate - self.loop.time()))
        finish = self.loop.time() + self.timeout
        while (self.in_flight > 0 or self.waiting) and self.loop.time() < finish:
            await asyncio.sleep(0.01)
        return self.report(total)

    def report(self, total: int) -> dict:
        answered = sum(len(v) for v in self.latencies.values())
        return {
            "rate": self.rate, "seconds": self.seconds, "due": total, "answered": answered,
            "unanswered": self.in_flight + len(self.waiting), "broken": self.broken, "unsent": self.unsent,
            "connections": self.open, "grow": self.grow,
            "answering_s": round(max(0.0, self.last_answer - self.start), 3),  # first due to last answer
            "by_status": {str(status): {"count": len(values), **percentiles(values)}
                          for status, values in sorted(self.latencies.items())},
            "late_ms": percentiles(self.late),
        }


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max, in milliseconds (0 for no values)."""
    if not values:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)
    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)
    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": round(ordered[-1] * 1000, 3)}


async def generate(url: str, *, rate: float, seconds: float, connections: int = CONNECTIONS, timeout: float = 10.0,
                   headers: dict[str, str] | None = None, grow: bool = False) -> dict:
    return await _Generator(url, rate, seconds, connections, timeout, headers or {}, grow).run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=CONNECTIONS,
                        help="keep-alive connections (with --grow: at most)")
    parser.add_argument("--grow", action="store_true", help="open a connection for a request that finds none idle")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the last answers")
    parser.add_argument("-H", "--header", action="append", default=[], help="name: value")
    args = parser.parse_args()
    headers = dict(h.split(":", 1) for h in args.header)
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    started = time.perf_counter()
    result = asyncio.run(generate(args.url, rate=args.rate, seconds=args.seconds, connections=args.connections,
                                  timeout=args.timeout, headers={k.strip(): v.strip() for k, v in headers.items()},
                                  grow=args.grow))
    result["wall_s"] = round(time.perf_counter() - started, 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
