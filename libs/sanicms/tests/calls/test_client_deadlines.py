"""ServiceClient and the caller's deadline: what the neighbour is told, no call and no retry
that the budget has no room for, a neighbour's shedding 503 retried only within the budget."""

import asyncio
import contextlib
from time import perf_counter
from types import SimpleNamespace

import pytest
from aiohttp import web

from sanicms.calls.client import ServiceClient
from sanicms.calls.resilience import RetryPolicy
from sanicms.deadlines import DEADLINE, HEADER, DeadlineExceeded, parse
from sanicms.errors import BadGateway, ErrorCode, GatewayTimeout
from sanicms.testing.processes import free_port

MARGIN = 0.02


class FixedDelay(RetryPolicy):
    """Retries after exactly ``backoff`` seconds (no jitter): which retries fit is then known."""

    def delay(self, attempt: int) -> float:
        return self.backoff


class Neighbour:
    """Answers as ``mode`` says, and keeps the budget each call was given."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.budgets: list[str | None] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.budgets.append(request.headers.get(HEADER))
        if self.mode == "shed":
            return web.json_response({"code": ErrorCode.OVERLOADED, "message": "overloaded", "error": None},
                                     status=503, headers={"retry-after": "1"})
        if self.mode == "slow":
            await asyncio.sleep(1)
        if self.mode == "spent":
            return web.json_response({"code": ErrorCode.DEADLINE_EXCEEDED, "message": "deadline passed",
                                      "error": None}, status=504)
        return web.json_response({"code": 0, "data": {"ok": True}})


@contextlib.asynccontextmanager
async def neighbour_and_client(**client_options):
    neighbour = Neighbour()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", neighbour.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    client = ServiceClient("city", f"http://127.0.0.1:{port}", deadline_margin=MARGIN, **client_options)
    await client.open()
    try:
        yield neighbour, client
    finally:
        await client.close()
        await runner.cleanup()


def caller(budget: float) -> SimpleNamespace:
    """A request whose caller gave it ``budget`` seconds from now (what the route hook records)."""
    return SimpleNamespace(**{DEADLINE: perf_counter() + budget}, ctx=SimpleNamespace())


@pytest.mark.asyncio
async def test_the_neighbour_is_told_the_lesser_of_the_timeout_and_what_remains_less_two_margins():
    async with neighbour_and_client(timeout=5.0) as (neighbour, client):
        await client.get(caller(1.0), "/cities/1")
        await client.get(caller(60.0), "/cities/1")
        await client.get(None, "/cities/1")  # no caller: the client's own timeout
    near, far, alone = (parse(b) for b in neighbour.budgets)
    assert 1.0 - 3 * MARGIN < near <= 1.0 - 2 * MARGIN
    assert far == alone == pytest.approx(5.0 - MARGIN)


@pytest.mark.asyncio
async def test_no_call_once_the_budget_leaves_the_neighbour_no_time():
    async with neighbour_and_client() as (neighbour, client):
        with pytest.raises(DeadlineExceeded) as caught:
            await client.get(caller(2 * MARGIN), "/cities/1")
        with pytest.raises(DeadlineExceeded):
            await client.get(caller(-1.0), "/cities/1")
    assert caught.value.status_code == 504 and caught.value.code == ErrorCode.DEADLINE_EXCEEDED
    assert neighbour.budgets == []
    assert client.breaker.failures == 0  # nothing was asked of the neighbour


@pytest.mark.asyncio
async def test_a_shedding_503_is_retried_while_the_budget_has_room_and_not_after():
    retries = []
    async with neighbour_and_client(retry=FixedDelay(retries=5, backoff=1.2),
                                    retry_listeners=[lambda: retries.append(1)]) as (neighbour, client):
        neighbour.mode = "shed"
        with pytest.raises(BadGateway) as caught:
            # Room for the first attempt and one retry 1.2 s later; the next would start at 2.4 s.
            await client.get(caller(2.0), "/cities/1")
        assert len(neighbour.budgets) == 2 and len(retries) == 1
        assert caught.value.retryable and caught.value.error["status"] == 503
        neighbour.budgets.clear()
        with pytest.raises(BadGateway):
            await client.get(None, "/cities/1")  # no caller's deadline: every retry, as before
    assert len(neighbour.budgets) == 6


@pytest.mark.asyncio
async def test_a_neighbour_whose_budget_ran_out_is_the_callers_504_and_is_not_retried():
    async with neighbour_and_client(retry=FixedDelay(retries=2, backoff=0)) as (neighbour, client):
        neighbour.mode = "spent"
        with pytest.raises(DeadlineExceeded) as caught:
            await client.get(caller(5.0), "/cities/1")
    assert len(neighbour.budgets) == 1
    assert isinstance(caught.value, GatewayTimeout) and not caught.value.retryable


@pytest.mark.asyncio
async def test_a_call_cut_short_by_the_callers_deadline_is_the_callers_504_not_the_neighbours_timeout():
    async with neighbour_and_client(timeout=5.0, retry=FixedDelay(retries=2, backoff=0)) as (neighbour, client):
        neighbour.mode = "slow"
        with pytest.raises(DeadlineExceeded):
            await client.get(caller(0.3), "/cities/1")
        with pytest.raises(GatewayTimeout) as caught:  # its own timeout, as before
            await client.get(None, "/cities/1", timeout=0.2)
    assert caught.value.code == ErrorCode.DOWNSTREAM_TIMEOUT
    assert len(neighbour.budgets) == 2  # a timeout is not retried
