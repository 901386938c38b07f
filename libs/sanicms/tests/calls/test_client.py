"""ServiceClient against a real loopback server: unwrap, errors, timeouts, gather."""

import asyncio
import contextlib
import gc
import logging
import warnings
from types import SimpleNamespace

import pytest
import pytest_asyncio
from aiohttp import web

from sanicms import BadGateway, Forbidden, GatewayTimeout, ServiceUnavailable, gather
from sanicms.calls.client import DownstreamError, ServiceClient
from sanicms.calls.resilience import CLOSED, OPEN, CircuitBreaker, RetryPolicy
from sanicms.errors import ApiError
from sanicms.testing.peer import RawPeer, reset
from sanicms.testing.processes import free_port

SLOW_DONE = []


async def handler(request):
    path = request.path
    if path == "/slow":
        await asyncio.sleep(2)
        SLOW_DONE.append(path)
    if path == "/missing":
        return web.json_response({"code": 404, "message": "nope", "error": None}, status=404)
    if path == "/broken":
        return web.json_response({"code": 500, "message": "db exploded at 10.0.0.3", "error": None}, status=500)
    if path == "/admin":  # the neighbour's scope check, as sanicms.auth answers it
        return web.json_response({"code": 403, "message": "insufficient scope",
                                  "error": {"required": ["city:admin"]}}, status=403)
    if path == "/closed":  # a 403 of the neighbour's own rules, not of the token's scopes
        return web.json_response({"code": 403, "message": "the ledger is closed", "error": None}, status=403)
    if path == "/taken":
        return web.json_response({"code": 409, "message": "taken", "error": None}, status=409)
    if path == "/garbage":
        return web.Response(text="<html>", content_type="text/html")
    if path == "/login":  # a neighbour setting a cookie, as a session-based one would
        response = web.json_response({"code": 0, "data": None})
        response.set_cookie("session", "first-callers-session")
        return response
    body = {"body": await request.json()} if request.can_read_body else {}
    if "cookie" in request.headers:
        body["cookie"] = request.headers["cookie"]
    return web.json_response({"code": 0, "data": {"path": path, "q": dict(request.query), "method": request.method,
                                                  "accept": request.headers.get("accept"),
                                                  "authorization": request.headers.get("authorization"), **body}})


@contextlib.asynccontextmanager
async def opened(client):
    await client.open()
    try:
        yield client
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def fake_city():
    """``handler`` on a loopback port, and a ServiceClient for it (no retries, a 0.5 s timeout)."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with opened(ServiceClient("city", f"http://127.0.0.1:{port}/", timeout=0.5,
                                        retry=RetryPolicy(retries=0))) as client:
            yield client
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture
async def client():
    async with fake_city() as client:
        yield client


@pytest.mark.asyncio
async def test_relative_paths_query_lists_and_unwrapped_data(client):
    data = await client.get(None, "/cities", params={"ids": [1, 2], "x": None})
    assert data == {"path": "/cities", "q": {"ids": "1,2"}, "method": "GET", "accept": "application/json",
                    "authorization": None}


@pytest.mark.asyncio
async def test_the_callers_token_is_passed_on_unless_the_service_has_its_own(client):
    caller = SimpleNamespace(ctx=SimpleNamespace(token="callers.jwt"))

    seen = [(await client.get(caller, "/a"))["authorization"]]
    client.token = "services.own.jwt"
    seen.append((await client.get(caller, "/a"))["authorization"])
    client.token, client.forward_token = "", False
    seen.append((await client.get(caller, "/a"))["authorization"])
    assert seen == ["Bearer callers.jwt", "Bearer services.own.jwt", None]


@pytest.mark.asyncio
async def test_a_scope_the_callers_token_lacks_downstream_is_the_callers_403(client):
    caller = SimpleNamespace(ctx=SimpleNamespace(token="callers.jwt"))
    with pytest.raises(Forbidden) as info:
        await client.get(caller, "/admin")
    assert (info.value.status_code, info.value.error) == (403, {"service": "city",
                                                                 "detail": {"required": ["city:admin"]}})
    assert info.value.message == "the token does not allow this call to the city service: insufficient scope"
    with pytest.raises(DownstreamError):  # the neighbour's own rule: not the caller's token
        await client.get(caller, "/closed")
    client.token = "services.own.jwt"  # the service's own token refused: its own misconfiguration, a 502
    with pytest.raises(DownstreamError) as info:
        await client.get(caller, "/admin")
    assert (info.value.status_code, info.value.status) == (502, 403)


@pytest.mark.asyncio
async def test_a_cookie_a_neighbour_sets_is_never_sent_on_later_calls(client):
    """One session serves every caller: a cookie kept from one call would go out with the
    calls made for other callers. (By host name: aiohttp keeps no cookies of IP addresses.)"""
    by_name = ServiceClient("city", client.base_url.replace("127.0.0.1", "localhost"), retry=RetryPolicy(retries=0))
    async with opened(by_name):
        await by_name.get(None, "/login")
        assert "cookie" not in await by_name.get(None, "/a")


@pytest.mark.asyncio
@pytest.mark.parametrize("path,error,code", [
    ("/missing", DownstreamError, 50201), ("/broken", BadGateway, 50203), ("/garbage", BadGateway, 50202),
])
async def test_bad_answers_become_api_errors(client, path, error, code):
    with pytest.raises(error) as info:
        await client.get(None, path)
    exc = info.value
    assert exc.code == code and exc.status_code == 502
    assert "10.0.0.3" not in exc.message  # the downstream's internals stay downstream
    if isinstance(exc, DownstreamError):
        assert exc.status == 404 and exc.downstream_message == "nope"


@pytest.mark.asyncio
async def test_timeout_is_a_504_without_waiting_for_the_answer(client):
    with pytest.raises(GatewayTimeout) as info:
        await client.get(None, "/slow")
    done_by_then = list(SLOW_DONE)
    assert info.value.code == 50401 and info.value.error == {"service": "city"}
    assert done_by_then == []  # the slow answer had not come: the client gave up on its own


@pytest.mark.asyncio
async def test_connection_refused_is_a_503():
    async with opened(ServiceClient("city", f"http://127.0.0.1:{free_port()}", retry=RetryPolicy(retries=0))) as c:
        with pytest.raises(ServiceUnavailable) as info:
            await c.get(None, "/x")
    assert info.value.code == 50303


@pytest.mark.asyncio
async def test_gather_overlaps_calls_and_cancels_siblings_on_failure():
    events = []

    async def slow(name, delay, fail=False):
        events.append(("start", name))
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            events.append(("cancelled", name))
            raise
        if fail:
            raise ValueError(name)
        events.append(("end", name))
        return name

    assert await gather(slow("a", 0.2), slow("b", 0.2)) == ["a", "b"]
    with pytest.raises(ValueError):
        await gather(slow("c", 0.01, fail=True), slow("d", 5))
    # Concurrent: both started before either ended.
    assert events[:4] in ([("start", "a"), ("start", "b"), ("end", "a"), ("end", "b")],
                          [("start", "a"), ("start", "b"), ("end", "b"), ("end", "a")])
    assert ("cancelled", "d") in events and ("end", "d") not in events


@pytest.mark.asyncio
async def test_closing_leaves_no_unclosed_session_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with fake_city() as client:
            await client.get(None, "/x")
        gc.collect()
    assert not [w for w in caught if "Unclosed" in str(w.message)]



# --------------------------------------------------------------------------- the peer dies mid-call
# A raw HTTP peer on loopback (sanicms.testing.peer) that reads the request and then fails
# the way a crashed or killed process does: the connection reset (RST, SO_LINGER 0) or
# closed, before the status line, in the middle of the headers or of the body.

CITY = b'{"code":0,"data":{"id":1,"name":"Lhasa","province":"Tibet","create_time":"2026-01-01T00:00:00"}}'


class DyingPeer(RawPeer):
    """``mode`` says how each call ends; ``requests`` counts the calls that reached it."""

    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    async def handle(self, head, length, reader, writer):
        mode = self.mode
        if mode == "reset while the body is sent":
            await reader.readexactly(length // 2)
            reset(writer)
            return False
        await reader.readexactly(length)
        ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(CITY)
        if mode == "ok":
            writer.write(ok + CITY)
            await writer.drain()
            return True
        if mode == "reset before answering":
            reset(writer)
        elif mode == "closed before answering":
            writer.close()
        elif mode == "reset in the headers":
            writer.write(ok[:30])
            await writer.drain()
            await asyncio.sleep(0.01)
            reset(writer)
        elif mode in ("half a body, then closed", "half a body, then reset"):
            writer.write(ok + CITY[:len(CITY) // 2])
            await writer.drain()
            await asyncio.sleep(0.01)
            reset(writer) if mode.endswith("reset") else writer.close()
        elif mode == "chunked, cut":
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
                         b"10\r\n" + CITY[:16] + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)
            reset(writer)
        return False


DYING = {  # mode -> (status, code) of the call
    "reset before answering": (503, 50303),
    "closed before answering": (503, 50303),
    "reset in the headers": (503, 50303),
    "reset while the body is sent": (503, 50303),
    "half a body, then closed": (502, 50204),
    "half a body, then reset": (502, 50204),
    "chunked, cut": (502, 50204),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("mode", list(DYING))
async def test_a_peer_dying_mid_call_is_a_clean_5xx_and_leaves_nothing_behind(mode, method):
    """Never an unhandled error; one failed call for the breaker however many attempts; no
    connection kept from the pool; and when the peer is well again the same client works."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with DyingPeer(mode) as peer, opened(ServiceClient(
                "city", peer.url, timeout=5, retry=RetryPolicy(retries=2, backoff=0.001, backoff_max=0.002),
                breaker=CircuitBreaker(threshold=10, reset_after=60))) as client:
            payload = {"name": "x" * 200_000}  # big enough to be cut while it is sent
            with pytest.raises(ApiError) as info:
                await client.call(None, method, "/cities/1", json=payload if method == "POST" else None)
            failures, state, requests, in_use = (client.breaker.failures, client.breaker.state, peer.requests,
                                                 len(client.session.connector._acquired))  # fence: aiohttp's
            peer.mode = "ok"
            answer = await client.call(None, method, "/cities/1")
            failures_after = client.breaker.failures
        gc.collect()
    error = info.value
    assert (error.status_code, error.code) == DYING[mode]
    assert error.error == {"service": "city"}
    assert failures == 1 and state == CLOSED  # one failed call, however many attempts
    # POST is never sent twice. GET gets three attempts (two retries); aiohttp itself sends
    # an idempotent request once more when the connection drops before the answer's head
    # (RFC 9112 9.3.1, meant for stale keep-alive connections), so a drop costs two each.
    dropped = DYING[mode][1] == 50303
    assert requests == ((6 if dropped else 3) if method == "GET" else 1)
    assert in_use == 0  # nothing lent out of the connection pool
    assert answer["id"] == 1 and failures_after == 0
    assert not [w for w in caught if "Unclosed" in str(w.message)]


@pytest.mark.asyncio
async def test_a_dead_peer_opens_the_circuit_once_and_its_return_closes_it(caplog):
    """One WARNING when the circuit opens, the calls failed fast meanwhile at DEBUG, one
    INFO when the neighbour answers again, counting them."""
    caplog.set_level(logging.DEBUG, "sanicms.calls.client")
    now = [0.0]

    async with DyingPeer("reset before answering") as peer, opened(ServiceClient(
            "city", peer.url, retry=RetryPolicy(retries=0),
            breaker=CircuitBreaker(threshold=2, reset_after=5, clock=lambda: now[0]))) as client:
        for _ in range(2):
            with pytest.raises(ServiceUnavailable):
                await client.get(None, "/cities/1")
        assert client.breaker.state == OPEN
        reached = peer.requests
        for _ in range(3):
            with pytest.raises(ServiceUnavailable) as info:
                await client.get(None, "/cities/1")
            assert info.value.code == 50304 and info.value.logged
        assert peer.requests == reached  # failed fast: the peer saw none of them
        peer.mode = "ok"
        now[0] = 6.0
        assert (await client.get(None, "/cities/1"))["id"] == 1
        assert client.breaker.state == CLOSED
    circuit = [(r.levelname, r.circuit) for r in caplog.records if hasattr(r, "circuit")]
    assert circuit == [("WARNING", "open"), ("INFO", "closed")]
    [closed] = [r for r in caplog.records if getattr(r, "circuit", None) == "closed"]
    assert closed.refused == 3


@pytest.mark.asyncio
async def test_patch_sends_its_body(client):
    data = await client.patch(None, "/cities/1", json={"name": "Hefei"})
    assert (data["method"], data["path"], data["body"]) == ("PATCH", "/cities/1", {"name": "Hefei"})


@pytest.mark.asyncio
async def test_get_or_none_is_none_on_404_only(client):
    assert await client.get_or_none(None, "/missing") is None
    assert (await client.get_or_none(None, "/cities/1"))["path"] == "/cities/1"
    with pytest.raises(DownstreamError) as refused:
        await client.get_or_none(None, "/taken")
    assert refused.value.status == 409
