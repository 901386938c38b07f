"""PostgreSQL crashed the hard way under load, with real processes.

The throwaway server's postmaster and every backend are SIGKILLed while writers and
readers keep calling a service; it is started again a moment later (crash recovery), three
times in one test. What must hold:

- every answer is a 2xx or the unified 503 (code 50301) envelope, never a 500 or a traceback,
  and the service answers every request (no dropped connection);
- every write acknowledged is in the table, and nothing unacknowledged is: the only rows
  a refused request may have left are those of requests told "commit outcome unknown"
  (the connection died during COMMIT), and no row mixes the fields of two requests;
- the service serves again by itself, in the same process;
- its log has no ERROR line and no unhandled error for this expected outage, and per
  worker exactly one WARNING when the database went away and one INFO when it came back
  per crash, whose counts add up to the 503s the clients saw.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections import Counter, defaultdict

import aiohttp
import psycopg2
import pytest
from fakes import FakeService, city_answer, role_answer

from sanicms.testing.localdb import LocalPostgres, create_database
from sanicms.testing.processes import ServiceProcess, free_port, migrate

CRASHES = 3
DOWN_FOR = 1.0  # seconds the database stays dead each time
WRITERS, READERS = 8, 4
SETTLE = 30  # writes acknowledged before each crash, and after each restart
PHASE_LIMIT = 20.0  # seconds a phase may take before the test gives up (bounds the test, asserts nothing)
UNKNOWN = {"commit": "unknown"}  # the `error` of a 503 whose COMMIT was cut off


@pytest.fixture(scope="module")
def own_pg():
    """A PostgreSQL this module may kill (never the one in DATABASE_URL)."""
    with LocalPostgres() as server:
        yield server


def start_service(package, pg, tmp_path, db_name, **env):
    env = {"DATABASE_URL": create_database(pg.url, db_name, fresh=True), "LOG_LEVEL": "INFO",
           **{k: str(v) for k, v in {"DB_CONNECT_TIMEOUT": 2, **env}.items()}}
    migrate(package, env)
    service = ServiceProcess(package, free_port(), env, log_path=tmp_path / f"{db_name}.log").start()
    # /readyz answered, but perhaps by one worker of two: wait for the others, so that the
    # load reaches every worker and none is still starting when the database dies.
    service.wait_workers(int(env.get("WORKERS", 1)))
    return service


def query(url, sql, *args):
    conn = psycopg2.connect(url, connect_timeout=10)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


class Load:
    """Concurrent clients of one service; every answer is kept to be judged afterwards."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.answers: list[tuple[str, str, int, object]] = []  # (method, path, status, body or text)
        self.failures: list[str] = []  # answers that are not a 2xx or 503 envelope
        self.writes_ok = 0
        self.refused = 0
        self.stopping = False
        self.session: aiohttp.ClientSession | None = None

    async def call(self, method: str, path: str, body=None) -> tuple[int, dict | None]:
        """One request; (status, envelope) or (0, None) when there was no answer at all."""
        try:
            async with self.session.request(method, self.base_url + path, json=body) as resp:
                text = await resp.text()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.failures.append(f"{method} {path}: no answer ({type(exc).__name__}: {exc})")
            return 0, None
        problem, envelope = judge(status, text)
        self.answers.append((method, path, status, envelope if envelope is not None else text))
        if problem:
            self.failures.append(f"{method} {path}: {problem}")
        if status == 503:
            self.refused += 1
        return status, envelope

    async def run(self, workers, crash) -> None:
        connector = aiohttp.TCPConnector(limit=len(workers) + 2, force_close=False)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
            self.session = session
            tasks = [asyncio.create_task(worker()) for worker in workers]
            try:
                await crash()
            finally:
                self.stopping = True
                await asyncio.gather(*tasks)

    async def until(self, predicate, what: str) -> None:
        deadline = time.monotonic() + PHASE_LIMIT
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what} after {PHASE_LIMIT} s")
            await asyncio.sleep(0.01)


def judge(status: int, text: str) -> tuple[str | None, dict | None]:
    """Is this a 2xx or the unified 503 of a lost database? (problem or None, envelope)"""
    try:
        body = json.loads(text)
    except ValueError:
        return f"{status} answer is not JSON: {text[:200]!r}", None
    if not isinstance(body, dict) or not isinstance(body.get("code"), int):
        return f"{status} answer is not the envelope: {text[:200]!r}", None
    if "Traceback" in text or "asyncpg" in text:
        return f"{status} answer shows internals: {text[:200]!r}", body
    if 200 <= status < 300:
        return (None if body["code"] == 0 and "data" in body else f"{status} with {text[:200]!r}"), body
    if status == 503 and body["code"] == 50301 and body.get("error") in (None, UNKNOWN):
        return None, body
    return f"{status} {text[:300]!r}", body


async def crash_cycles(pg: LocalPostgres, load: Load) -> None:
    """Kill the database CRASHES times under load; each time wait until writes fail, start
    it again, and wait until writes succeed again."""
    for _ in range(CRASHES):
        ok = load.writes_ok
        await load.until(lambda ok=ok: load.writes_ok >= ok + SETTLE, "writes before the crash")
        await asyncio.to_thread(pg.kill)
        refused = load.refused
        await asyncio.sleep(DOWN_FOR)
        await load.until(lambda refused=refused: load.refused > refused, "503s while the database is dead")
        await asyncio.to_thread(pg.start)
        ok = load.writes_ok
        await load.until(lambda ok=ok: load.writes_ok >= ok + SETTLE, "writes after the restart")


def check_served_again(service: ServiceProcess, workers: int) -> None:
    """Same process; ready; each worker's pool back to idle (no connection lost in bookkeeping)."""
    import httpx

    assert service.proc.poll() is None, "the service died"
    assert httpx.get(service.url + "/readyz", timeout=10).status_code == 200
    for _ in range(4 * workers):  # a new connection each: both workers get asked
        health = httpx.get(service.url + "/healthz", timeout=10, headers={"connection": "close"}).json()["data"]
        assert health["database"]["in_use"] == 0, health


def check_log(service: ServiceProcess, *, workers: int, refused: int, unknown: int, clients: int) -> dict:
    """No ERROR, no unhandled error; per worker one WARNING/INFO pair per crash, whose
    counts add up to the 503s answered; one "commit outcome unknown" line per such answer.
    Returns what the INFO lines counted."""
    text = service.log_path.read_text()
    for needle in ("unhandled error", "Traceback", "Resetting connection", "was never retrieved"):
        assert needle not in text, f"{needle!r} in the log:\n{_around(text, needle)}"
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line.get("level") in ("ERROR", "CRITICAL")]
    assert not errors, errors[:5]
    db_warnings = [line for line in lines if line["logger"] == "sanicms.data.db" and line["level"] == "WARNING"]
    per_worker = defaultdict(list)
    for line in lines:
        if line.get("outage"):
            per_worker[line["pid"]].append(line)
    others = [line for line in db_warnings if line.get("outage") != "begin" and line.get("commit") != "unknown"]
    assert not others, others
    assert 1 <= len(per_worker) <= workers, dict(per_worker)
    pairs = {}
    for pid, outages in per_worker.items():
        kinds = [(line["level"], line["outage"]) for line in outages]
        pairs[pid] = len(kinds) // 2
        assert kinds == [("WARNING", "begin"), ("INFO", "end")] * pairs[pid], (pid, kinds)
    # One pair per crash for a worker that served requests through all of them; another
    # worker (given fewer of the clients' connections) may have missed a crash, never
    # seen one twice.
    assert max(pairs.values()) == CRASHES and min(pairs.values()) >= 1, pairs
    ends = [line for outages in per_worker.values() for line in outages if line["outage"] == "end"]
    counted = {key: sum(line[key] for line in ends) for key in ("refused", "discarded", "commits_unknown")}
    # The INFO line counts the 503s up to the first request served again. A request still
    # waiting for a connection then (to a database still starting up) may yet fail: a late
    # casualty of that outage, counted at DEBUG only. Each client has one request in flight,
    # so at most one per client per crash.
    late = refused - counted["refused"]
    assert 0 <= late <= clients * CRASHES, (counted, refused)
    lines_unknown = sum(1 for line in db_warnings if line.get("commit") == "unknown")
    assert lines_unknown == unknown, (lines_unknown, unknown)  # each such answer said so in the log
    assert counted["commits_unknown"] <= unknown <= counted["commits_unknown"] + late
    return {**counted, "late": late}


def _around(text: str, needle: str) -> str:
    at = text.index(needle)
    return text[max(0, at - 1500):at + 1500]


def statuses(load: Load, method: str) -> Counter:
    return Counter(status for m, _, status, _ in load.answers if m == method)


# The city service: POST (inserts) and GETs.

@pytest.mark.parametrize("workers", [1, 2])
def test_city_survives_three_database_crashes_under_writes(own_pg, tmp_path, workers):
    db_name = f"crash_city_{workers}"
    city = start_service("city_service", own_pg, tmp_path, db_name, WORKERS=workers)
    db_url = create_database(own_pg.url, db_name)
    load = Load(city.url)
    sent: dict[str, dict] = {}  # name -> body, every create sent
    acked: dict[str, int] = {}  # name -> id, every create answered 201
    unknown: set[str] = set()  # creates answered "commit outcome unknown"

    async def writer(n):
        for seq in itertools.count():
            if load.stopping:
                return
            body = {"name": f"crash-{n}-{seq}", "province": f"p{seq % 7}"}
            sent[body["name"]] = body
            status, envelope = await load.call("POST", "/cities", body)
            if status == 201:
                load.writes_ok += 1
                acked[body["name"]] = envelope["data"]["id"]
            elif status == 503:
                if envelope.get("error") == UNKNOWN:
                    unknown.add(body["name"])
                await asyncio.sleep(0.005)

    async def reader(n):
        while not load.stopping:
            if acked and n % 2:
                status, _ = await load.call("GET", f"/cities/{random.choice(list(acked.values()))}")
            else:
                status, _ = await load.call("GET", "/cities?page=1&page_size=5")
            if status == 503:
                await asyncio.sleep(0.005)

    try:
        asyncio.run(load.run([lambda n=n: writer(n) for n in range(WRITERS)] +
                             [lambda n=n: reader(n) for n in range(READERS)],
                             lambda: crash_cycles(own_pg, load)))
        assert not load.failures, load.failures[:10]
        check_served_again(city, workers)

        rows = query(db_url, "SELECT id, name, province FROM cities")
        in_table = {name: (ident, province) for ident, name, province in rows}
        assert len(in_table) == len(rows)
        lost = {name: ident for name, ident in acked.items() if in_table.get(name, (None,))[0] != ident}
        assert not lost, f"acknowledged creates not in the table: {lost}"
        strangers = [name for name in in_table if name not in sent]
        assert not strangers, strangers
        wrong = [name for name, (_, province) in in_table.items() if province != sent[name]["province"]]
        assert not wrong, f"rows unlike what was sent: {wrong}"
        unacked = set(in_table) - set(acked)
        assert unacked <= unknown, (f"refused creates that were saved all the same, the client not "
                                    f"told the outcome was unknown: {sorted(unacked - unknown)}")
        print(f"\ncity, {workers} worker(s): POST {dict(statuses(load, 'POST'))}, "
              f"GET {dict(statuses(load, 'GET'))}; unknown commits {len(unknown)}, of which saved {len(unacked)}")
    finally:
        assert city.stop() == 0, city.log_path.read_text()[-4000:]
    counted = check_log(city, workers=workers, refused=load.refused, unknown=len(unknown),
                        clients=WRITERS + READERS)
    print(f"log: {counted}")


# The user service: PUT and DELETE (after asking the city and role services), and GETs.

PUT_USERS = 4  # users each PUT writer owns
DELETE_POOL = 40_000  # users the DELETE writers may delete, one DELETE each


def put_body(seq: int) -> dict:
    # Every field derives from seq: a row mixing two PUTs would show.
    return {"name": f"put-{seq}", "age": seq % 150, "sex": f"s{seq % 3}", "city_id": seq % 7 + 1,
            "role_id": seq % 5 + 1}


def unknown_outcomes(puts, deletes) -> int:
    return (sum(result == "unknown" for history in puts.values() for _, result in history)
            + sum(result == "unknown" for result in deletes.values()))


@pytest.fixture
def neighbours():
    city, role = FakeService(city_answer).start(), FakeService(role_answer).start()
    yield city, role
    city.stop()
    role.stop()


@pytest.mark.parametrize("workers", [1, 2])
def test_user_survives_three_database_crashes_under_puts_and_deletes(own_pg, tmp_path, neighbours, workers):
    city, role = neighbours
    db_name = f"crash_user_{workers}"
    user = start_service("user_service", own_pg, tmp_path, db_name, WORKERS=workers,
                         CITY_SERVICE_URL=city.url, ROLE_SERVICE_URL=role.url)
    db_url = create_database(own_pg.url, db_name)
    put_writers, delete_writers = WRITERS // 2, WRITERS - WRITERS // 2
    insert = ("INSERT INTO users (name, age, sex, city_id, role_id, create_time) "
              "SELECT %s || g, 1, 'f', 1, 1, now() FROM generate_series(1, %s) g RETURNING id")
    owned = [[row[0] for row in query(db_url, insert, f"owned-{n}-", PUT_USERS)] for n in range(put_writers)]
    doomed = [row[0] for row in query(db_url, insert, "doomed-", DELETE_POOL)]
    load = Load(user.url)
    # Per user: the PUT seqs in the order sent, each with its outcome ("ok", "refused", "unknown").
    puts: dict[int, list[tuple[int, str]]] = defaultdict(list)
    deletes: dict[int, str] = {}  # id -> outcome of its one DELETE
    seqs = itertools.count()

    def outcome(status, envelope):
        if 200 <= status < 300:
            return "ok"
        return "unknown" if status == 503 and envelope.get("error") == UNKNOWN else "refused"

    async def putter(n):
        for round_ in itertools.count():
            if load.stopping:
                return
            ident = owned[n][round_ % PUT_USERS]
            seq = next(seqs)
            status, envelope = await load.call("PUT", f"/users/{ident}", put_body(seq))
            puts[ident].append((seq, outcome(status, envelope)))
            if status == 200:
                load.writes_ok += 1
            elif status == 503:
                await asyncio.sleep(0.005)

    async def deleter(n):
        for ident in doomed[n::delete_writers]:
            if load.stopping:
                return
            status, envelope = await load.call("DELETE", f"/users/{ident}")
            deletes[ident] = outcome(status, envelope)
            if status == 200:
                load.writes_ok += 1
            elif status == 503:
                await asyncio.sleep(0.005)
        raise AssertionError("ran out of users to delete: raise DELETE_POOL")

    async def reader(n):
        mine = owned[n % put_writers]
        while not load.stopping:
            status, _ = await load.call("GET", f"/users/{random.choice(mine)}")
            if status == 503:
                await asyncio.sleep(0.005)

    try:
        asyncio.run(load.run([lambda n=n: putter(n) for n in range(put_writers)] +
                             [lambda n=n: deleter(n) for n in range(delete_writers)] +
                             [lambda n=n: reader(n) for n in range(READERS)],
                             lambda: crash_cycles(own_pg, load)))
        assert not load.failures, load.failures[:10]
        check_served_again(user, workers)

        rows = {r[0]: r[1:] for r in query(db_url, "SELECT id, name, age, sex, city_id, role_id FROM users")}
        # PUT: each user's row is the last acknowledged PUT, or a later one whose outcome was
        # unknown; never a refused one, never fields of two PUTs.
        for ident, history in puts.items():
            name, *fields = rows[ident]
            if name.startswith("owned-"):
                seq = None
            else:
                seq = int(name.split("-")[1])
                expected = put_body(seq)
                assert fields == [expected[k] for k in ("age", "sex", "city_id", "role_id")], (
                    f"user {ident} is half-written: {rows[ident]}")
            acked = [s for s, result in history if result == "ok"]
            allowed = ({acked[-1]} if acked else {None}) | {
                s for s, result in history if result == "unknown" and (not acked or s > acked[-1])}
            assert seq in allowed, f"user {ident} holds PUT {seq}; history {history[-6:]}"
        # DELETE: acknowledged ones gone, refused ones still there.
        gone = [ident for ident, result in deletes.items() if result == "ok" and ident in rows]
        assert not gone, f"acknowledged deletes still in the table: {gone[:10]}"
        kept = [ident for ident, result in deletes.items() if result == "refused" and ident not in rows]
        assert not kept, f"refused deletes that happened all the same: {kept[:10]}"
        untouched = set(doomed) - set(deletes)
        assert untouched <= set(rows), "users nobody asked to delete are gone"
        print(f"\nuser, {workers} worker(s): PUT {dict(statuses(load, 'PUT'))}, "
              f"DELETE {dict(statuses(load, 'DELETE'))}, GET {dict(statuses(load, 'GET'))}; "
              f"unknown commits {unknown_outcomes(puts, deletes)}")
    finally:
        assert user.stop() == 0, user.log_path.read_text()[-4000:]
    counted = check_log(user, workers=workers, refused=load.refused, unknown=unknown_outcomes(puts, deletes),
                        clients=WRITERS + READERS)
    print(f"log: {counted}")
