"""Retries and the circuit breaker of downstream calls (other services mocked)."""

import asyncio
import contextlib

import pytest
from aioresponses import aioresponses

from sanicms import ServiceUnavailable
from sanicms.calls.client import DownstreamError, ServiceClient
from sanicms.calls.resilience import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, RetryPolicy
from sanicms.errors import BadGateway
from sanicms.testing import ServiceMocks

BASE = "http://city.mock"


@contextlib.asynccontextmanager
async def opened(client):
    await client.open()
    try:
        yield client
    finally:
        await client.close()


async def call(client, method="GET", path="/cities/1"):
    async with opened(client):
        return await client.call(None, method, path, json={} if method == "POST" else None)


def make_client(**kwargs):
    kwargs.setdefault("retry", RetryPolicy(retries=2, backoff=0.001, backoff_max=0.002))
    return ServiceClient("city", BASE, timeout=1, **kwargs)


@pytest.fixture
def mocks():
    with aioresponses() as mocker:
        yield ServiceMocks(mocker, BASE)


@pytest.mark.asyncio
async def test_get_is_retried_after_a_503_and_succeeds(mocks):
    mocks.get("/cities/1", status=503, repeat=False)
    mocks.get("/cities/1", payload={"id": 1}, repeat=False)
    assert await call(make_client()) == {"id": 1}
    assert len(mocks.requests("GET", "/cities/1")) == 2


@pytest.mark.asyncio
async def test_get_gives_up_after_the_configured_retries(mocks):
    mocks.get("/cities/1", status=502)
    with pytest.raises(BadGateway):
        await call(make_client())
    assert len(mocks.requests("GET", "/cities/1")) == 3  # one call + two retries


@pytest.mark.asyncio
async def test_connection_errors_are_retried(mocks):
    mocks.get("/cities/1", exception=ConnectionRefusedError(), repeat=False)
    mocks.get("/cities/1", payload={"id": 1}, repeat=False)
    assert await call(make_client()) == {"id": 1}


@pytest.mark.asyncio
async def test_post_is_never_retried(mocks):
    mocks.post("/cities/1", status=503)
    with pytest.raises(BadGateway):
        await call(make_client(), method="POST")
    assert len(mocks.requests("POST", "/cities/1")) == 1


@pytest.mark.asyncio
async def test_a_4xx_or_500_is_not_retried(mocks):
    mocks.get("/cities/1", status=404)
    mocks.get("/cities/2", status=500)
    with pytest.raises(DownstreamError):
        await call(make_client())
    with pytest.raises(BadGateway):
        await call(make_client(), path="/cities/2")
    assert len(mocks.requests("GET", "/cities/1")) == 1
    assert len(mocks.requests("GET", "/cities/2")) == 1


@pytest.mark.asyncio
async def test_open_breaker_fails_fast_without_calling(mocks):
    mocks.get("/cities/1", exception=ConnectionRefusedError())
    client = make_client(retry=RetryPolicy(retries=0), breaker=CircuitBreaker(threshold=3, reset_after=60))

    async with opened(client):
        for _ in range(3):
            with pytest.raises(ServiceUnavailable):
                await client.get(None, "/cities/1")
        assert client.breaker.state == OPEN
        with pytest.raises(ServiceUnavailable) as info:
            await client.get(None, "/cities/1")
    error = info.value
    assert error.code == 50304
    assert error.headers["retry-after"] == "60"
    assert len(mocks.requests("GET", "/cities/1")) == 3  # the fourth call never went out
    assert client.breaker.refused == 1


def test_breaker_half_opens_and_one_good_probe_closes_it():
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, reset_after=5, clock=lambda: now[0])
    breaker.failure()
    breaker.failure()
    assert breaker.state == OPEN and not breaker.allow()
    now[0] = 5.0
    assert breaker.allow()  # the probe
    assert breaker.state == HALF_OPEN
    assert not breaker.allow()  # only one probe at a time
    breaker.success()
    assert breaker.state == CLOSED and breaker.allow()


def test_breaker_reopens_when_the_probe_fails():
    now = [0.0]
    breaker = CircuitBreaker(threshold=1, reset_after=5, clock=lambda: now[0])
    breaker.failure()
    now[0] = 6.0
    assert breaker.allow()
    breaker.failure()
    assert breaker.state == OPEN and not breaker.allow()
    now[0] = 11.0
    assert breaker.allow()


def test_backoff_is_jittered_and_capped():
    policy = RetryPolicy(retries=5, backoff=0.1, backoff_max=0.3)
    delays = [policy.delay(4) for _ in range(200)]
    assert max(delays) <= 0.3
    assert len(set(delays)) > 100


def breaker_client(now):
    """Default retries (2), a breaker that opens after 2 failed calls, a hand-set clock."""
    return make_client(breaker=CircuitBreaker(threshold=2, reset_after=5, clock=lambda: now[0]))


@pytest.mark.asyncio
async def test_a_failed_probe_reopens_the_breaker_and_a_later_probe_closes_it(mocks):
    now = [0.0]
    client = breaker_client(now)
    mocks.get("/cities/1", exception=ConnectionRefusedError(), repeat=7)

    async with opened(client):
        for _ in range(2):
            with pytest.raises(ServiceUnavailable):
                await client.get(None, "/cities/1")
        assert client.breaker.state == OPEN
        now[0] = 6.0  # half-open: the probe is one attempt, not three
        with pytest.raises(ServiceUnavailable):
            await client.get(None, "/cities/1")
        assert client.breaker.state == OPEN and not client.breaker.probing
        probes = len(mocks.requests("GET", "/cities/1"))
        now[0] = 12.0  # the neighbour is back
        mocks.get("/cities/1", payload={"id": 1})
        assert await client.get(None, "/cities/1") == {"id": 1}
        assert client.breaker.state == CLOSED
    assert probes == 2 * 3 + 1  # two calls of three attempts, then one probe


@pytest.mark.asyncio
async def test_a_cancelled_probe_lets_the_next_call_probe(mocks):
    now = [0.0]
    client = breaker_client(now)
    client.breaker.failure()
    client.breaker.failure()
    now[0] = 6.0
    mocks.get("/cities/1", payload={"id": 1})

    async with opened(client):
        slow = asyncio.get_running_loop().create_future()  # never answers

        async def stuck(*args, **kwargs):
            await slow

        real_send, client._send = client._send, stuck  # fence: ServiceClient's own
        probe = asyncio.create_task(client.get(None, "/cities/1"))
        await asyncio.sleep(0.01)
        assert client.breaker.probing
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        client._send = real_send  # fence: ServiceClient's own
        answer = await client.get(None, "/cities/1")
    assert answer == {"id": 1}
    assert client.breaker.state == CLOSED


@pytest.mark.asyncio
async def test_a_cut_off_answer_is_a_502_not_a_crash(mocks):
    import aiohttp

    mocks.get("/cities/1", exception=aiohttp.ClientPayloadError("truncated"))
    with pytest.raises(BadGateway) as info:
        await call(make_client(retry=RetryPolicy(retries=0)))
    assert info.value.code == 50204
