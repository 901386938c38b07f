"""Deadlines that travel, on the serving side: the X-Request-Timeout header read, a spent
budget refused before any work, work still running when the budget ends cancelled."""

import asyncio
import logging

import pytest
from sanic import Blueprint

from sanicms.deadlines import HEADER, format_timeout, parse
from sanicms.errors import ErrorCode


@pytest.mark.parametrize(("value", "seconds"), [
    ("250m", 0.25), ("2S", 2.0), ("1M", 60.0), ("1H", 3600.0), ("1500u", 0.0015), ("7n", 7e-9), ("0m", 0.0),
    ("99999999m", 99999.999),
])
def test_a_header_value_is_read_as_grpc_timeout_is(value, seconds):
    assert parse(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "m", "250", "250ms", "-5m", "1.5S", "123456789m", "٣m", " 5m", "5 m"])
def test_anything_else_is_not_a_budget(value):
    with pytest.raises(ValueError):
        parse(value)


@pytest.mark.parametrize(("seconds", "value"), [(0.25, "250m"), (0.0004, "1m"), (4.9999, "4999m"),
                                                (200_000.0, "200000S")])
def test_a_budget_is_written_in_whole_milliseconds(seconds, value):
    assert format_timeout(seconds) == value
    assert parse(value) <= max(seconds, 0.001)


def work_blueprint():
    bp = Blueprint("work", url_prefix="/work")

    @bp.get("/slow")
    async def slow(request):
        request.app.ctx.started.append(request.path)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            request.app.ctx.cancelled.append(request.path)
            raise
        return {"done": True}

    @bp.get("/quick")
    async def quick(request):
        request.app.ctx.started.append(request.path)
        await asyncio.sleep(float(request.args.get("s", 0)))
        return {"done": True}

    return bp


@pytest.fixture(scope="module")
def live(probe_servers):
    with probe_servers("deadline_probe", work_blueprint()) as server:
        yield server


@pytest.fixture
def seen(live):
    live.app.ctx.started = []
    live.app.ctx.cancelled = []
    return live.app.ctx


def test_work_still_running_when_the_budget_ends_is_cancelled_and_answered_504(live, seen, caplog):
    with caplog.at_level(logging.INFO, logger="sanicms.deadlines"):
        res = live.request("GET", "/work/slow", headers={HEADER: "150m"})
    assert res.status_code == 504
    assert res.json() == {"code": ErrorCode.DEADLINE_EXCEEDED,
                          "message": "the caller's deadline passed while the request was being handled",
                          "error": {"budget": "150m"}}
    assert seen.started == ["/work/slow"] and seen.cancelled == ["/work/slow"]
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["GET /work/slow cancelled"]


def test_a_spent_budget_is_refused_before_any_work(live, seen, caplog):
    with caplog.at_level(logging.INFO, logger="sanicms.deadlines"):
        res = live.request("GET", "/work/slow", headers={HEADER: "0m"})
    assert res.status_code == 504 and res.json()["code"] == ErrorCode.DEADLINE_EXCEEDED
    assert seen.started == []
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["GET /work/slow refused"]


def test_a_malformed_budget_is_the_callers_400(live, seen):
    res = live.request("GET", "/work/slow", headers={HEADER: "soon"})
    assert res.status_code == 400 and res.json()["code"] == ErrorCode.REQUEST_TIMEOUT_MALFORMED
    assert seen.started == []


def test_a_request_answered_in_time_leaves_no_timer_behind(live, seen):
    """The next request on the same keep-alive connection outlives the first one's budget."""
    async def two_on_one_connection():
        first = await live.http.get("/work/quick", headers={HEADER: "100m"})
        second = await live.http.get("/work/quick", params={"s": 0.3})  # past the first one's budget
        return first.status_code, second.status_code
    assert live.run(two_on_one_connection()) == (200, 200)
    assert seen.started == ["/work/quick", "/work/quick"] and seen.cancelled == []
