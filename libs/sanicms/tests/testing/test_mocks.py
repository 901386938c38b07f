"""ServiceMocks over aioresponses: envelopes by status, raw bodies, exceptions, what the app
sent, and a call nobody registered refused as by a service that is down."""

import aiohttp
import pytest

from sanicms.testing import MOCK_BASE_URL, ServiceMocks
from sanicms.testing.mocks import _Mocker


@pytest.fixture
def mocks():
    mocker = _Mocker()
    mocker.start()
    yield ServiceMocks(mocker)
    mocker.stop()


@pytest.mark.asyncio
async def test_answers_are_envelopes_by_status_or_raw_bodies(mocks):
    mocks.get("/cities/1", {"id": 1})
    mocks.get("/cities/2", status=404, message="no such city")
    mocks.get("/cities/3", body="<html>")
    async with aiohttp.ClientSession() as session:
        async with session.get(MOCK_BASE_URL + "/cities/1") as ok:
            assert (ok.status, await ok.json()) == (200, {"code": 0, "data": {"id": 1}})
        async with session.get(MOCK_BASE_URL + "/cities/2") as missing:
            assert (missing.status, await missing.json()) == (404, {"code": 404, "message": "no such city",
                                                                     "error": None})
        async with session.get(MOCK_BASE_URL + "/cities/3") as raw:
            assert await raw.text() == "<html>"
    assert len(mocks.requests("get", "/cities/1")) == 1


@pytest.mark.asyncio
async def test_a_call_nobody_registered_is_refused_and_says_so(mocks):
    mocks.post("/roles", exception=TimeoutError())
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ConnectionRefusedError, match=r"no mock registered for GET .*/roles/9"):
            await session.get(MOCK_BASE_URL + "/roles/9")
        with pytest.raises(TimeoutError):  # a registered exception keeps its own type
            await session.post(MOCK_BASE_URL + "/roles")
