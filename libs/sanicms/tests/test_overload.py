"""Overload shedding: past MAX_CONCURRENT_REQUESTS in flight a worker answers 503 at once, in
the envelope, with Retry-After, and counts it; health, readiness and metrics are never shed.
Most refusals are written before Sanic parses the request (``Admission.answer_early``); a
request that cannot be read whole there is refused after routing, with the same answer."""

import asyncio
import json

import pytest
from sanic import Blueprint

from sanicms.admission import refusable
from sanicms.errors import ErrorCode

from .metrics.conftest import samples

LIMIT = 2


def held_blueprint():
    bp = Blueprint("held", url_prefix="/held")

    @bp.get("/wait")
    async def wait(request):
        await request.app.ctx.gate.wait()
        return {"waited": True}

    @bp.post("/echo")
    async def echo(request):
        return {"echo": request.json}

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
    # refused before Sanic parsed it: no route to name
    assert found[("sanicms_http_requests_total", (("method", "GET"), ("route", "unrouted"), ("status", "503")))] == 1
    assert [r.status_code for r in answered] == [200, 200]
    assert after.status_code == 200 and admission.in_flight == 0 and admission.shed == 1


async def _connections(live, count):
    host, port = live.base_url.removeprefix("http://").split(":")
    return [await asyncio.open_connection(host, int(port)) for _ in range(count)]


async def _answer(reader):
    """One whole response from ``reader``: status, headers (lower-case names), parsed body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
    return int(lines[0].split()[1]), headers, json.loads(body)


def test_a_refusal_before_parsing_is_the_same_answer_as_through_sanic_and_the_connection_stays_usable(live):
    admission = live.app.ctx.admission
    shed_before = admission.shed

    async def scenario():
        live.app.ctx.gate = asyncio.Event()
        held = [asyncio.ensure_future(live.http.get("/held/wait")) for _ in range(LIMIT)]
        await _until(lambda: admission.in_flight == LIMIT, "both requests admitted")
        [(reader, writer)] = await _connections(live, 1)
        writer.write(b"GET /held/now HTTP/1.1\r\nhost: x\r\n\r\n")  # read whole: refused before parsing
        early = await _answer(reader)
        body = b'{"city": "x"}'  # a body: Sanic reads the request, and refuses it once routed
        writer.write(b"POST /held/echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: %d\r\n\r\n%s" % (len(body), body))
        routed = await _answer(reader)
        live.app.ctx.gate.set()
        await asyncio.gather(*held)
        writer.write(b"GET /held/now HTTP/1.1\r\nhost: x\r\n\r\n")  # the same connection, now admitted
        after = await _answer(reader)
        writer.close()
        return early, routed, after, (await live.http.get("/metrics")).text

    early, routed, after, metrics = live.run(scenario())
    for status, headers, body in (early, routed):
        assert status == 503 and headers["retry-after"] == "3" and headers["content-type"] == "application/json"
        assert headers["connection"] == "keep-alive"
        assert body == {"code": ErrorCode.OVERLOADED, "message": "the service is overloaded: try again later",
                        "error": {"limit": LIMIT}}
    assert after[0] == 200 and after[2]["data"] == {"now": True}
    assert admission.shed - shed_before == 2 and admission.in_flight == 0 and admission.arriving == 0
    found = samples(metrics)
    assert found[("sanicms_http_requests_total", (("method", "POST"), ("route", "/held/echo"), ("status", "503")))] == 1


def test_a_burst_arriving_in_one_turn_of_the_loop_is_admitted_up_to_the_limit_and_the_rest_refused_early(live):
    """Many requests can arrive in one turn of the event loop, before any is routed: those
    handed to Sanic count against the limit until they are, so the rest are refused early
    (without it each freed place let a whole turn's arrivals through, to be refused late)."""
    admission = live.app.ctx.admission
    burst = 10

    async def scenario():
        live.app.ctx.gate = asyncio.Event()
        before = samples((await live.http.get("/metrics")).text)
        connections = await _connections(live, burst)
        for _, writer in connections:  # no await between the writes: one turn of the server's loop
            writer.write(b"GET /held/wait HTTP/1.1\r\nhost: x\r\n\r\n")
        refused = [await _answer(reader) for reader, _ in connections[LIMIT:]]
        admitted_now = admission.in_flight
        live.app.ctx.gate.set()
        admitted = [await _answer(reader) for reader, _ in connections[:LIMIT]]
        for _, writer in connections:
            writer.close()
        return before, samples((await live.http.get("/metrics")).text), refused, admitted, admitted_now

    before, after, refused, admitted, admitted_now = live.run(scenario())
    assert admitted_now == LIMIT
    assert [status for status, _, _ in admitted] == [200] * LIMIT
    assert [status for status, _, _ in refused] == [503] * (burst - LIMIT)
    unrouted = ("sanicms_http_requests_total", (("method", "GET"), ("route", "unrouted"), ("status", "503")))
    routed = ("sanicms_http_requests_total", (("method", "GET"), ("route", "/held/wait"), ("status", "503")))
    assert after[unrouted] - before.get(unrouted, 0) == burst - LIMIT
    assert after.get(routed, 0) == before.get(routed, 0) == 0
    assert admission.arriving == 0 and admission.in_flight == 0


def test_requests_answered_unrouted_do_not_stay_counted_as_arriving(live):
    admission = live.app.ctx.admission
    assert live.request("GET", "/nowhere").status_code == 404
    assert live.raw(b"GET /held/now HTTP/1.1\r\nhost: x\r\nbroken header\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert admission.arriving == 0 and admission.in_flight == 0


def test_an_adaptive_limit_shrinks_while_requests_queue_and_grows_back_when_they_do_not(probe_servers):
    """One request at a time is served (a lock), 5 ms each: 40 clients at once queue about 40
    deep, so the limit comes down from its ceiling and the rest are refused; one client alone
    does not queue, and it goes back up."""
    bp = Blueprint("serial", url_prefix="/serial")

    @bp.get("/")
    async def serial(request):
        async with request.app.ctx.lock:
            await asyncio.sleep(0.005)
        return {"served": True}

    ceiling = 60
    with probe_servers("adaptive_probe", bp, MAX_CONCURRENT_REQUESTS=ceiling, ADAPTIVE_CONCURRENCY=True) as live:
        admission = live.app.ctx.admission
        live.app.ctx.lock = asyncio.Lock()

        async def client(count):
            return [(await live.http.get("/serial/")) for _ in range(count)]

        async def scenario():
            alone = await client(60)  # the fastest request: one with no queue
            crowd = await asyncio.gather(*(client(30) for _ in range(40)))
            lowest = admission.limit
            after = await client(300)
            metrics = samples((await live.http.get("/metrics")).text)
            return alone, [r for rs in crowd for r in rs], lowest, after, metrics

        alone, crowd, lowest, after, metrics = live.run(scenario())
    assert {r.status_code for r in alone} == {200}
    refused = [r for r in crowd if r.status_code == 503]
    assert refused and {r.status_code for r in crowd} == {200, 503}
    assert {r.json()["code"] for r in refused} == {ErrorCode.OVERLOADED}
    assert all(r.json()["error"]["limit"] < ceiling for r in refused[-10:])  # the limit they met, moved down
    assert lowest < ceiling
    assert {r.status_code for r in after} == {200}
    assert admission.limit > lowest  # grown back with no queue
    assert metrics[("sanicms_http_concurrency_limit", ())] == admission.limit


@pytest.mark.parametrize(("data", "method"), [
    (b"GET /cities/1 HTTP/1.1\r\nhost: x\r\n\r\n", "GET"),
    (b"DELETE /cities/1?force=1 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", "DELETE"),
    (b"GET /cities/1 HTTP/1.1\r\nhost: x\r\n", None),  # the head not whole yet
    (b"GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\r\nhost: x\r\n\r\n", None),  # pipelined
    (b"POST /cities HTTP/1.1\r\nhost: x\r\nContent-Length: 2\r\n\r\n", None),  # a body to come
    (b"POST /cities HTTP/1.1\r\nhost: x\r\nTransfer-Encoding: chunked\r\n\r\n", None),
    (b"GET /cities/1 HTTP/1.1\r\nhost: x\r\nConnection: close\r\n\r\n", None),  # Sanic closes it
    (b"GET /cities/1 HTTP/1.1\r\nhost: x\r\nOrigin: https://a.example\r\n\r\n", None),  # CORS headers
    (b"GET /ws HTTP/1.1\r\nhost: x\r\nUpgrade: websocket\r\n\r\n", None),
    (b"GET /cities/1 HTTP/1.0\r\n\r\n", None),
    (b"HEAD /cities/1 HTTP/1.1\r\nhost: x\r\n\r\n", None),  # the answer has no body
    (b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n", None),  # never shed
    (b"GET /readyz/?full=1 HTTP/1.1\r\nhost: x\r\n\r\n", None),
    (b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n", None),
    (b"GET http://x/healthz HTTP/1.1\r\nhost: x\r\n\r\n", None),  # absolute-form: Sanic routes it
    (b"OPTIONS * HTTP/1.1\r\nhost: x\r\n\r\n", None),
    (b"garbage\r\n\r\n", None),
])
def test_what_can_be_refused_before_parsing(data, method):
    assert refusable(data, frozenset({b"/healthz", b"/readyz", b"/metrics"})) == method


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
