"""ServiceClient's verbs beyond get/post/put/delete: patch, and get_or_none (404 is None)."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from sanicms import DownstreamError
from sanicms.calls.client import ServiceClient
from sanicms.calls.resilience import RetryPolicy
from sanicms.testing.processes import free_port


async def answer(request: web.Request) -> web.Response:
    if request.path == "/cities/404":
        return web.json_response({"code": 404, "message": "city 404 not found", "error": None}, status=404)
    if request.path == "/cities/409":
        return web.json_response({"code": 409, "message": "taken", "error": None}, status=409)
    body = await request.json() if request.can_read_body else None
    return web.json_response({"code": 0, "data": {"method": request.method, "path": request.path, "body": body}})


@pytest_asyncio.fixture
async def client() -> Any:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    client = ServiceClient("city", f"http://127.0.0.1:{port}", timeout=5, retry=RetryPolicy(retries=0))
    await client.open()
    yield client
    await client.close()
    await runner.cleanup()


@pytest.mark.asyncio
async def test_patch_sends_its_body(client: ServiceClient) -> None:
    data = await client.patch(None, "/cities/1", json={"name": "Hefei"})
    assert data == {"method": "PATCH", "path": "/cities/1", "body": {"name": "Hefei"}}


@pytest.mark.asyncio
async def test_get_or_none_is_none_on_404_only(client: ServiceClient) -> None:
    assert await client.get_or_none(None, "/cities/404") is None
    assert (await client.get_or_none(None, "/cities/1"))["path"] == "/cities/1"
    with pytest.raises(DownstreamError) as refused:
        await client.get_or_none(None, "/cities/409")
    assert refused.value.status == 409
