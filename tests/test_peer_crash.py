"""Neighbours and the span collector dying mid-request, with real processes and sockets.

The user service calls city and role on every read and write. Here its city is a real
city process SIGKILLed while calls are in flight and started again on the same port, or a
raw socket peer that resets connections and sends half answers; its span collector is a
raw socket peer that resets the connection while a batch is being sent. What must hold:
every answer is a 2xx or a unified 502/503 envelope (never a 500), a refused write writes
nothing, the service recovers by itself, its database pool is back to idle, the span counts
add up (reported = sent + lost), and its log has no ERROR, only one WARNING when a
neighbour or the collector starts failing and one INFO when it is back.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import time
from collections import Counter

import aiohttp
import httpx
from fakes import FakeService, role_answer

from sanicms.testing.localdb import create_database
from sanicms.testing.peer import RawPeer, reset
from sanicms.testing.processes import ServiceProcess, free_port, migrate

PHASE_LIMIT = 20.0  # seconds a phase may take before the test gives up (bounds it, asserts nothing)
ALLOWED = {(502, 50204), (503, 50303), (503, 50304)}  # a neighbour cut off, unreachable, circuit open


def start(package, pg_server, tmp_path, name, port=None, **env):
    env = {"DATABASE_URL": create_database(pg_server, name, fresh=port is None), "LOG_LEVEL": "INFO",
           **{k: str(v) for k, v in env.items()}}
    if port is None:
        migrate(package, env)
    log_path = tmp_path / f"{name}-{time.monotonic_ns()}.log"
    return ServiceProcess(package, port or free_port(), env, log_path=log_path).start()


def kill(service: ServiceProcess) -> None:
    """SIGKILL, no goodbye: its connections are reset or cut by the kernel mid-call."""
    os.killpg(service.proc.pid, signal.SIGKILL)
    service.proc.wait(10)
    service.proc = None


def log_lines(service: ServiceProcess) -> list[dict]:
    text = service.log_path.read_text()
    for needle in ("unhandled error", "Traceback", "was never retrieved"):
        assert needle not in text, f"{needle!r} in {service.log_path}"
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line.get("level") in ("ERROR", "CRITICAL")]
    assert not errors, errors[:5]
    return lines


def pairs(lines, key, begin, end) -> list[str]:
    """The sequence of begin/end marks of ``key`` (breaker or transport) in the log, checked
    to alternate WARNING (begin) / INFO (end) and to end with the end."""
    marks = [(line["level"], line[key]) for line in lines if line.get(key) in (begin, end)]
    assert marks and marks == [("WARNING", begin), ("INFO", end)] * (len(marks) // 2), marks
    return marks


def idle_pool(service: ServiceProcess) -> None:
    health = httpx.get(service.url + "/healthz", timeout=10).json()["data"]
    assert health["database"]["in_use"] == 0, health


class Load:
    """Concurrent clients; every answer judged as it comes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ok = 0
        self.failed = 0
        self.statuses: Counter = Counter()
        self.problems: list[str] = []
        self.stopping = False
        self.session: aiohttp.ClientSession | None = None

    async def call(self, method: str, path: str, body=None) -> tuple[int, dict | None]:
        try:
            async with self.session.request(method, self.url + path, json=body) as resp:
                status, text = resp.status, await resp.text()
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.problems.append(f"{method} {path}: no answer ({exc!r})")
            return 0, None
        try:
            envelope = json.loads(text)
        except ValueError:
            envelope = None
        self.statuses[(status, envelope.get("code") if isinstance(envelope, dict) else None)] += 1
        if not isinstance(envelope, dict) or "Traceback" in text:
            self.problems.append(f"{method} {path}: {status} {text[:200]!r}")
        elif 200 <= status < 300 and envelope.get("code") == 0:
            self.ok += 1
        elif (status, envelope.get("code")) in ALLOWED:
            self.failed += 1
        else:
            self.problems.append(f"{method} {path}: {status} {text[:300]!r}")
        return status, envelope

    async def until(self, predicate, what: str) -> None:
        deadline = time.monotonic() + PHASE_LIMIT
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what} after {PHASE_LIMIT} s: {dict(self.statuses)}")
            await asyncio.sleep(0.01)

    async def run(self, workers, script) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            self.session = session
            tasks = [asyncio.create_task(worker()) for worker in workers]
            try:
                await script()
            finally:
                self.stopping = True
                await asyncio.gather(*tasks)


def user_body(seq: int) -> dict:
    return {"name": f"peer-{seq}", "age": seq % 150, "sex": "f", "city_id": seq % 3 + 1, "role_id": 1}


def user_traffic(load: Load, users: list[int], last_put: dict, refused_puts: dict):
    """Readers (GET /users/{id}: city and role asked each time) and one PUT writer per
    user (city asked first); the writers remember their last acknowledged and refused PUTs."""
    seqs = itertools.count()

    async def reader():
        while not load.stopping:
            status, _ = await load.call("GET", f"/users/{random.choice(users)}")
            if status != 200:
                await asyncio.sleep(0.005)

    async def writer(ident):
        while not load.stopping:
            seq = next(seqs)
            status, _ = await load.call("PUT", f"/users/{ident}", user_body(seq))
            if status == 200:
                last_put[ident] = seq
            else:
                refused_puts.setdefault(ident, set()).add(seq)
                await asyncio.sleep(0.005)

    return [reader for _ in range(4)] + [lambda ident=ident: writer(ident) for ident in users]


def check_user_rows(user: ServiceProcess, users, last_put, refused_puts) -> None:
    """Each user holds its last acknowledged PUT: a PUT refused because city failed wrote nothing."""
    for ident in users:
        row = httpx.get(f"{user.url}/users/{ident}", timeout=10).json()["data"]
        seq = int(row["name"].split("-")[1])
        assert seq == last_put[ident], (ident, row, last_put[ident])
        assert seq not in refused_puts.get(ident, ())


def test_user_survives_its_city_killed_mid_request_twice(pg_server, tmp_path):
    role = FakeService(role_answer).start()
    city = start("city_service", pg_server, tmp_path, "peer_crash_city")
    user = None
    try:
        for name in ("Lhasa", "Kashgar", "Turpan"):
            assert httpx.post(city.url + "/cities", json={"name": name, "province": "W"}, timeout=10).status_code == 201
        user = start("user_service", pg_server, tmp_path, "peer_crash_user", CITY_SERVICE_URL=city.url,
                     ROLE_SERVICE_URL=role.url, CLIENT_BREAKER_RESET=0.5)
        users = [httpx.post(user.url + "/users", json=user_body(-1), timeout=10).json()["data"]["id"]
                 for _ in range(4)]
        load = Load(user.url)
        last_put, refused_puts = dict.fromkeys(users, -1), {}
        city_env = {k: city.env[k] for k in ("DATABASE_URL", "LOG_LEVEL")}

        async def script():
            nonlocal city
            for _ in range(2):
                ok = load.ok
                await load.until(lambda ok=ok: load.ok >= ok + 50, "answers before the kill")
                await asyncio.to_thread(kill, city)
                failed = load.failed
                await load.until(lambda failed=failed: load.failed >= failed + 20, "refusals while city is dead")
                city = await asyncio.to_thread(start, "city_service", pg_server, tmp_path, "peer_crash_city",
                                               city.port, **city_env)
                ok = load.ok
                await load.until(lambda ok=ok: load.ok >= ok + 50, "answers after city is back")

        asyncio.run(load.run(user_traffic(load, users, last_put, refused_puts), script))
        assert not load.problems, load.problems[:10]
        print(f"\nuser with its city killed twice: {dict(load.statuses)}")
        check_user_rows(user, users, last_put, refused_puts)
        idle_pool(user)
        assert user.proc.poll() is None
    finally:
        if user is not None:
            assert user.stop() == 0
        city.stop()
        role.stop()
    lines = log_lines(user)
    marks = pairs(lines, "circuit", "open", "closed")
    assert all(line["downstream"] == "city" for line in lines if line.get("circuit"))
    print(f"breaker: {len(marks) // 2} open/closed pairs")


# Raw socket peers: a city that cuts its answers, a collector that cuts the batches sent to it.

class FlakyPeer(RawPeer):
    """A raw HTTP peer (sanicms.testing.peer) in a thread of its own whose handler misbehaves
    until ``healthy`` is set."""

    healthy = False


def answer(body: bytes, status: bytes = b"200 OK") -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
            % len(body) + body)


async def cutting_city(peer, head, length, reader, writer) -> bool:
    """Cities by id; until healed, two calls in three end badly, in turns: reset before the
    answer, cut in the status line, half the body then closed, half the body then reset."""
    await reader.readexactly(length)
    ident = int(head.split(b" ")[1].rsplit(b"/", 1)[-1])
    body = json.dumps({"code": 0, "data": {"id": ident, "name": f"city {ident}", "province": "p",
                                           "create_time": "2026-01-01T00:00:00"}}).encode()
    full = answer(body)
    turn = peer.requests % 6
    if peer.healthy or turn in (0, 3):
        writer.write(full)
        await writer.drain()
        return True
    if turn == 1:
        reset(writer)
    elif turn == 2:
        writer.write(full[:12])
        await writer.drain()
        reset(writer)
    else:
        writer.write(full[:len(full) - len(body) // 2])
        await writer.drain()
        await asyncio.sleep(0.005)
        reset(writer) if turn == 4 else writer.close()
    return False


def test_user_survives_a_city_that_cuts_its_answers(pg_server, tmp_path):
    city = FlakyPeer(cutting_city).start()
    role = FakeService(role_answer).start()
    user = start("user_service", pg_server, tmp_path, "peer_cut_user", CITY_SERVICE_URL=city.url,
                 ROLE_SERVICE_URL=role.url, CLIENT_BREAKER_RESET=0.5, WORKERS=2)
    try:
        city.healthy = True
        users = [httpx.post(user.url + "/users", json=user_body(-1), timeout=10).json()["data"]["id"]
                 for _ in range(4)]
        city.healthy = False
        load = Load(user.url)
        last_put, refused_puts = dict.fromkeys(users, -1), {}

        async def script():
            await load.until(lambda: load.failed >= 100 and load.ok >= 100, "cut answers and whole ones")
            city.healthy = True
            ok = load.ok
            await load.until(lambda: load.ok >= ok + 100, "answers once city is well")
            failed = load.failed
            ok = load.ok
            await load.until(lambda: load.ok >= ok + 100, "more answers")
            assert load.failed == failed  # healed: nothing fails any more

        asyncio.run(load.run(user_traffic(load, users, last_put, refused_puts), script))
        assert not load.problems, load.problems[:10]
        print(f"\nuser with a city that cuts its answers: {dict(load.statuses)}")
        check_user_rows(user, users, last_put, refused_puts)
        for _ in range(8):
            idle_pool(user)
    finally:
        assert user.stop() == 0
        city.stop()
        role.stop()
    lines = log_lines(user)
    if any(line.get("circuit") for line in lines):
        pairs(lines, "circuit", "open", "closed")


async def dying_collector(peer, head, length, reader, writer) -> bool:
    """Zipkin's POST /api/v2/spans; until healed, reset while the batch is being sent."""
    if not peer.healthy:
        await reader.readexactly(length // 2)
        reset(writer)
        return False
    spans = json.loads(await reader.readexactly(length))
    peer.spans = getattr(peer, "spans", 0) + len(spans)
    writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
    await writer.drain()
    return True


def test_spans_survive_a_collector_that_dies_mid_request(pg_server, tmp_path):
    collector = FlakyPeer(dying_collector).start()
    city = start("city_service", pg_server, tmp_path, "peer_collector_city", ZIPKIN_URL=collector.url,
                 TRACING_FLUSH_INTERVAL=0.1, TRACING_BATCH_SIZE=50, TRACING_SEND_RETRIES=1)

    def tracing():
        return httpx.get(city.url + "/healthz", timeout=10).json()["data"]["tracing"]

    def settled():
        """Stats once nothing is queued or on its way: two reads a flush interval apart agree."""
        deadline = time.monotonic() + PHASE_LIMIT
        while time.monotonic() < deadline:
            first = tracing()
            time.sleep(0.3)
            if first["queued"] == 0 and tracing() == first:
                return first
        raise AssertionError("span counts never settled")

    try:
        with httpx.Client(timeout=10) as client:
            statuses = Counter(client.get(city.url + "/cities").status_code for _ in range(300))
            failing = settled()
            collector.healthy = True
            statuses.update(client.get(city.url + "/cities").status_code for _ in range(100))
            healed = settled()
            delivered = collector.spans
    finally:
        assert city.stop() == 0
        collector.stop()
    print(f"\nspans with a dying collector: while failing {failing}, healed {healed}")
    assert statuses == {200: 400}  # requests never noticed
    assert failing["lost"] > 0 and failing["sent"] == 0
    for stats in (failing, healed):
        assert stats["reported"] == stats["sent"] + stats["lost"] + stats["queued"], stats
    assert healed["sent"] > 0 and healed["lost"] == failing["lost"]
    assert delivered == healed["sent"] - failing["sent"]
    lines = log_lines(city)
    marks = pairs(lines, "failing", "begin", "end")
    assert len(marks) == 2  # one WARNING when sending failed, one INFO when it worked again
