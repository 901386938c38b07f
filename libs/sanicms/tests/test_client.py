"""ServiceClient against a real loopback server: unwrap, errors, timeouts, gather."""

import asyncio
import gc
import time
import warnings

import pytest
from aiohttp import web

from sanicms import BadGateway, GatewayTimeout, ServiceUnavailable, gather
from sanicms.client import DownstreamError, ServiceClient
from sanicms.processes import free_port
from sanicms.resilience import RetryPolicy


async def handler(request):
    path = request.path
    if path == "/slow":
        await asyncio.sleep(2)
    if path == "/missing":
        return web.json_response({"code": 404, "message": "nope", "error": None}, status=404)
    if path == "/broken":
        return web.json_response({"code": 500, "message": "db exploded at 10.0.0.3", "error": None}, status=500)
    if path == "/garbage":
        return web.Response(text="<html>", content_type="text/html")
    return web.json_response({"code": 0, "data": {"path": path, "q": dict(request.query),
                                                  "accept": request.headers.get("accept")}})


async def scenario(body):
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    client = ServiceClient("city", f"http://127.0.0.1:{port}/", timeout=0.5, retry=RetryPolicy(retries=0))
    await client.open()
    try:
        return await body(client)
    finally:
        await client.close()
        await runner.cleanup()


def test_relative_paths_query_lists_and_unwrapped_data():
    data = asyncio.run(scenario(lambda c: c.get(None, "/cities", params={"ids": [1, 2], "x": None})))
    assert data == {"path": "/cities", "q": {"ids": "1,2"}, "accept": "application/json"}


@pytest.mark.parametrize("path,error,code", [
    ("/missing", DownstreamError, 50201), ("/broken", BadGateway, 50203), ("/garbage", BadGateway, 50202),
])
def test_bad_answers_become_api_errors(path, error, code):
    async def body(client):
        with pytest.raises(error) as info:
            await client.get(None, path)
        return info.value
    exc = asyncio.run(scenario(body))
    assert exc.code == code and exc.status_code == 502
    assert "10.0.0.3" not in exc.message  # the downstream's internals stay downstream
    if isinstance(exc, DownstreamError):
        assert exc.status == 404 and exc.downstream_message == "nope"


def test_timeout_is_a_504_on_time():
    async def body(client):
        started = time.monotonic()
        with pytest.raises(GatewayTimeout):
            await client.get(None, "/slow")
        return time.monotonic() - started
    assert 0.45 < asyncio.run(scenario(body)) < 0.8


def test_connection_refused_is_a_503():
    async def body():
        client = ServiceClient("city", f"http://127.0.0.1:{free_port()}", retry=RetryPolicy(retries=0))
        await client.open()
        try:
            with pytest.raises(ServiceUnavailable) as info:
                await client.get(None, "/x")
            return info.value
        finally:
            await client.close()
    assert asyncio.run(body()).code == 50303


def test_gather_overlaps_calls_and_cancels_siblings_on_failure():
    async def body(client):
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
            return name

        started = time.monotonic()
        assert await gather(slow("a", 0.2), slow("b", 0.2)) == ["a", "b"]
        elapsed = time.monotonic() - started
        with pytest.raises(ValueError):
            await gather(slow("c", 0.01, fail=True), slow("d", 5))
        return elapsed, events
    elapsed, events = asyncio.run(scenario(body))
    assert elapsed < 0.35  # concurrent, not 0.4
    assert ("cancelled", "d") in events


def test_closing_leaves_no_unclosed_session_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(scenario(lambda c: c.get(None, "/x")))
        gc.collect()
    assert not [w for w in caught if "Unclosed" in str(w.message)]
