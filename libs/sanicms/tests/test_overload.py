"""Overload shedding: past MAX_CONCURRENT_REQUESTS in flight a worker answers 503 at once, in
the envelope, with Retry-After, and counts it; health, readiness and metrics are never shed."""

import asyncio

import pytest
from sanic import Blueprint

from sanicms.errors import ErrorCode

from .metrics.conftest import samples

LIMIT = 2


def held_blueprint():
    bp = Blueprint("held", url_prefix="/held")

    @bp.get("/wait")
    async def wait(request):
        await request.app.ctx.gate.wait()
        return {"waited": True}

    @bp.get("/now")
    async def now(request):
        return {"now": True}

    return bp


@pytest.fixture(scope="module")
def live(probe_servers):
    with probe_servers("shed_probe", held_blueprint(), MAX_CONCURRENT_REQUESTS=LIMIT, SHED_RETRY_AFTER=3) as server:
        yield server


async def _until(condition, what):
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


def test_past_the_limit_a_request_is_refused_at_once_and_health_and_metrics_still_answer(live):
    admission = live.app.ctx.admission
    http = live.http

    async def scenario():
        live.app.ctx.gate = asyncio.Event()
        held = [asyncio.ensure_future(http.get("/held/wait")) for _ in range(LIMIT)]
        await _until(lambda: admission.in_flight == LIMIT, "both requests admitted")
        refused = await http.get("/held/now")
        others = [await http.get(path) for path in ("/healthz", "/readyz", "/metrics")]
        live.app.ctx.gate.set()
        answered = await asyncio.gather(*held)
        after = await http.get("/held/now")
        return refused, others, answered, after

    refused, (healthz, readyz, metrics), answered, after = live.run(scenario())
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "3"
    assert refused.json() == {"code": ErrorCode.OVERLOADED, "message": "the service is overloaded: try again later",
                              "error": {"limit": LIMIT}}
    assert healthz.status_code == 200 and metrics.status_code == 200
    assert readyz.status_code == 503 and readyz.json()["code"] == ErrorCode.NOT_READY  # no database: not shed
    found = samples(metrics.text)
    assert found[("sanicms_http_requests_shed_total", ())] == 1
    assert found[("sanicms_http_requests_total", (("method", "GET"), ("route", "/held/now"), ("status", "503")))] == 1
    assert [r.status_code for r in answered] == [200, 200]
    assert after.status_code == 200 and admission.in_flight == 0 and admission.shed == 1


def test_requests_whose_clients_went_away_do_not_hold_places(live):
    admission = live.app.ctx.admission
    host, port = live.base_url.removeprefix("http://").split(":")

    async def scenario():
        live.app.ctx.gate = asyncio.Event()  # never set: these wait until their clients leave
        writers = []
        for _ in range(LIMIT):
            _, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"GET /held/wait HTTP/1.1\r\nhost: x\r\n\r\n")
            await writer.drain()
            writers.append(writer)
        await _until(lambda: admission.in_flight == LIMIT, "both requests admitted")
        for writer in writers:
            writer.transport.abort()  # gone without a word
        await _until(lambda: not [c for c in live.server.connections if c.http and c.http.stage.name == "HANDLER"],
                     "the server let go of both requests")
        return [(await live.http.get("/held/now")).status_code for _ in range(LIMIT + 1)]

    assert live.run(scenario()) == [200] * (LIMIT + 1)
    assert admission.in_flight == 0


def test_a_count_left_high_is_corrected_from_the_server_when_it_reaches_the_limit(live):
    """A request cancelled without a response (the server aborted its connection) is never
    counted down: the count is checked against the server's connections before a refusal."""
    admission = live.app.ctx.admission
    admission.in_flight = LIMIT  # as if two such requests had been lost
    admission._next_recount = 0.0  # not counted within the last second (a test before may have)
    assert live.request("GET", "/held/now").status_code == 200
    assert admission.in_flight == 0


def test_no_limit_counts_nothing(probe_servers):
    with probe_servers("unlimited_probe", held_blueprint(), MAX_CONCURRENT_REQUESTS=0) as server:
        server.app.ctx.admission.in_flight = 10_000  # never read without a limit
        assert server.request("GET", "/held/now").status_code == 200
        assert server.app.ctx.admission.in_flight == 10_000 and server.app.ctx.admission.shed == 0
