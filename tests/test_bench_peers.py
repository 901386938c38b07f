"""The benchmark's bare peer (bench/peers/bare_sanic.py) must stay bare: Sanic loads sanic-ext
into every app when sanic-ext is installed (it is: sanicms needs it) unless AUTO_EXTEND is
off, and sanic-ext's per-request work would then be counted as the bare stack's."""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sanicms.testing.localdb import create_database
from sanicms.testing.processes import free_port, migrate

PEERS = Path(__file__).resolve().parents[1] / "bench" / "peers"


@pytest.fixture(scope="module")
def city_db(pg_server):
    asyncpg = pytest.importorskip("asyncpg")
    db = create_database(pg_server, "bench_peers_city", fresh=True)
    migrate("city_service", {"DATABASE_URL": db})

    async def insert() -> int:
        conn = await asyncpg.connect(db)
        try:
            return await conn.fetchval(
                'INSERT INTO "cities" ("name", "province", "create_time") VALUES ($1, $2, $3) RETURNING "id"',
                "Bare", "P", datetime.datetime(2026, 1, 1))
        finally:
            await conn.close()

    return db, asyncio.run(insert())


def test_the_bare_peer_runs_without_sanic_ext(city_db, tmp_path):
    for module in ("sanic", "asyncpg", "orjson", "ujson"):  # what the peer imports
        pytest.importorskip(module)
    pytest.importorskip("sanic_ext")  # installed, as in the project's venv: the case that matters
    db, city_id = city_db
    port = free_port()
    log = tmp_path / "bare.log"
    env = {**os.environ, "DATABASE_URL": db, "PORT": str(port)}
    env.pop("SANIC_AUTO_EXTEND", None)  # the peer must turn it off itself
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(PEERS / "bare_sanic.py")], env=env, cwd=PEERS,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        body = None
        deadline = time.monotonic() + 30
        while body is None and time.monotonic() < deadline:
            assert proc.poll() is None, f"the bare peer exited:\n{log.read_text()}"
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}/cities/{city_id}", timeout=2)
                assert resp.status_code == 200, resp.text
                body = resp.json()
            except httpx.TransportError:
                time.sleep(0.1)
        assert body is not None, f"the bare peer did not answer:\n{log.read_text()}"
        assert body["code"] == 0 and body["data"]["id"] == city_id and body["data"]["name"] == "Bare"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    lines = log.read_text()
    assert "bare_city: sanic_ext loaded: False" in lines, lines
    assert "sanic_ext loaded: True" not in lines


SEQUENTIAL_CHECK = """
import asyncio
import peers.sequential_user as peer
from user_service import views

assert isinstance(views.references, peer.SequentialReferences), "the user service's references are not replaced"
events = []

async def fake_fetch_one(request, service, id):
    events.append(("start", service))
    await asyncio.sleep(0)
    events.append(("end", service))
    return {"id": id, "of": service}

peer.fetch_one = fake_fetch_one
row = {"id": 1, "city_id": 7, "role_id": 9}
out = asyncio.run(views.references.expand(None, row))
assert out == {**row, "city": {"id": 7, "of": "city"}, "role": {"id": 9, "of": "role"}}, out
assert events == [("start", "city"), ("end", "city"), ("start", "role"), ("end", "role")], events
print("sequential ok")
"""


def test_the_sequential_fan_out_peer_still_fits_the_user_service():
    # make bench's fan-out scenario runs it; it broke once when the user service's calls moved
    # into sanicms.References (run in a child: importing it patches the user service's views).
    result = subprocess.run([sys.executable, "-c", SEQUENTIAL_CHECK], cwd=PEERS.parent, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "sequential ok" in result.stdout, result.stderr[-2000:]


def test_span_cost_measures_the_spans_a_traced_request_makes():
    # bench/span_cost.py's loops call the tracer's internals: this keeps them in step with it.
    check = ("import span_cost\n"
             "from sanicms.tracing.zipkin import to_zipkin\n"
             "for name in span_cost.PARTS:\n"
             "    span_cost.run_loop(name, 3)\n"
             "tracer = span_cost.Tracer('city', span_cost.SpanReporter([]))\n"
             "server, sql = (to_zipkin(span) for span in span_cost.request_spans(tracer))\n"
             "assert (server['kind'], sql['kind']) == ('SERVER', 'CLIENT'), (server, sql)\n"
             "assert sql['parentId'] == server['id'] and sql['traceId'] == server['traceId']\n"
             "assert server['tags']['http.status_code'] == '200' and 'db.statement' in sql['tags']\n"
             "print('span_cost ok')\n")
    result = subprocess.run([sys.executable, "-c", check], cwd=PEERS.parent, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "span_cost ok" in result.stdout, result.stderr[-2000:]
