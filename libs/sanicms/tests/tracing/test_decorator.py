"""``@logger``: one log line and one span per call of the decorated function."""

import asyncio
import logging

import pytest

from sanicms import logger
from sanicms.tracing import Tracer


class Collect:
    def __init__(self):
        self.spans = []

    def report(self, span):
        self.spans.append(span)


@logger(type="method", category="geo", detail="one city", level=logging.INFO)
async def get_city(city_id):
    """Fetch one city from the city service."""
    await asyncio.sleep(0)
    if city_id < 0:
        raise ValueError("negative")
    return {"id": city_id}


@logger(tracing=False, level=logging.DEBUG)
def plain(x):
    return x * 2


async def run_in_request(tracer, coro_fn):
    with tracer.start_active_span("GET /users/<id>") as scope:
        return scope.span, await coro_fn()


@pytest.mark.asyncio
async def test_a_call_inside_a_request_is_a_child_span_with_the_decorator_fields(caplog):
    tracer = Tracer("user", Collect())
    with caplog.at_level(logging.INFO):
        server, result = await run_in_request(tracer, lambda: get_city(3))
    assert result == {"id": 3}
    child = next(s for s in tracer.reporter.spans if s.name.endswith("get_city"))
    assert child.context.parent_id == server.context.span_id
    assert child.tags == {"type": "method", "category": "geo", "detail": "one city",
                          "description": "Fetch one city from the city service."}
    [record] = [r for r in caplog.records if "get_city" in r.getMessage()]
    assert record.levelno == logging.INFO and record.category == "geo" and record.duration_ms >= 0
    assert "get_city ok in" in record.getMessage()


@pytest.mark.asyncio
async def test_the_log_line_names_the_decorated_span_not_its_parent(caplog):
    from sanicms.logs import TraceContextFilter

    tracer = Tracer("user", Collect())
    caplog.handler.addFilter(TraceContextFilter("user"))
    with caplog.at_level(logging.INFO):
        await run_in_request(tracer, lambda: get_city(3))
    child = next(s for s in tracer.reporter.spans if s.name.endswith("get_city"))
    [record] = [r for r in caplog.records if "get_city" in r.getMessage()]
    assert (record.traceId, record.spanId) == (child.context.trace_id, child.context.span_id)


@pytest.mark.asyncio
async def test_a_failure_is_tagged_logged_and_raised(caplog):
    tracer = Tracer("user", Collect())
    with caplog.at_level(logging.INFO), pytest.raises(ValueError):
        await run_in_request(tracer, lambda: get_city(-1))
    child = next(s for s in tracer.reporter.spans if s.name.endswith("get_city"))
    assert child.tags["error"] == "ValueError"
    assert "failed (ValueError)" in caplog.text


@pytest.mark.asyncio
async def test_outside_a_request_there_is_no_span_but_still_a_log_line(caplog):
    with caplog.at_level(logging.INFO):
        assert await get_city(1) == {"id": 1}
    assert "get_city ok" in caplog.text


def test_sync_functions_and_levels(caplog):
    with caplog.at_level(logging.INFO):
        assert plain(2) == 4
    assert "plain" not in caplog.text  # DEBUG is below the level
    with caplog.at_level(logging.DEBUG):
        plain(2)
    assert "plain ok" in caplog.text
    assert plain.__name__ == "plain"
