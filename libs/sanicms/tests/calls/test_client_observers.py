"""A ServiceClient's observers and retry listeners: lists given at construction, called for
every call; the single hooks they were before still read and replace them."""

import contextlib

import pytest
from aiohttp import web

from sanicms.calls.client import ServiceClient
from sanicms.calls.resilience import RetryPolicy
from sanicms.testing.processes import free_port


@contextlib.asynccontextmanager
async def flaky_neighbour():
    """A neighbour whose first answer to ``/flaky`` is a 503 and every other a success."""
    answered = []

    async def handler(request):
        answered.append(request.path)
        if request.path == "/flaky" and answered.count("/flaky") == 1:
            return web.json_response({"code": 503, "message": "busy", "error": None}, status=503)
        return web.json_response({"code": 0, "data": {"path": request.path,
                                                      "traced": request.headers.get("x-seen-by")}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def recording(seen, name):
    @contextlib.contextmanager
    def observe(request, service, method, url, headers):
        headers["x-seen-by"] = ",".join(filter(None, [headers.get("x-seen-by"), name]))  # as tracing adds its own
        seen.append((name, "open", request, service, method, url.rsplit("/", 1)[-1]))
        yield
        seen.append((name, "closed"))
    return observe


@pytest.mark.asyncio
async def test_observers_and_retry_listeners_given_at_construction_see_every_call_in_order():
    seen, retries = [], []
    async with flaky_neighbour() as url:
        client = ServiceClient("city", url, retry=RetryPolicy(retries=1, backoff=0.0),
                               observers=[recording(seen, "outer"), recording(seen, "inner")],
                               retry_listeners=[lambda: retries.append("a"), lambda: retries.append("b")])
        await client.open()
        try:
            data = await client.get("req", "/flaky")
        finally:
            await client.close()
    assert data == {"path": "/flaky", "traced": "outer,inner"}
    assert seen == [("outer", "open", "req", "city", "GET", "flaky"), ("inner", "open", "req", "city", "GET", "flaky"),
                    ("inner", "closed"), ("outer", "closed")]  # around the call, its retries inside
    assert retries == ["a", "b"]


def test_the_single_hooks_of_before_read_and_replace_the_lists():
    def spans(*args):
        return None

    def metrics(*args):
        return None

    def count():
        return None

    client = ServiceClient("city", "http://127.0.0.1:1", observers=[spans], retry_listeners=[count])
    assert client.observers == (spans,) and client.observe is spans  # one: the observer itself, no layer
    assert client.retry_listeners == (count,) and client.on_retry is count
    client.observe = metrics
    client.on_retry = None
    assert client.observers == (metrics,) and client.retry_listeners == () and client.on_retry is None
    client.observers += (spans,)
    assert client.observers == (metrics, spans) and client.observe is not None
