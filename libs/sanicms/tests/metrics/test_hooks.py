"""Downstream calls by outcome, retries and breaker changes; SQL statements and their errors;
the span reporter's counters. Each after real requests through the live app."""

from __future__ import annotations

from sanicms.data.replicas import server_of
from sanicms.metrics.hooks import statement_kind

from .conftest import scrape, value

CALLS = "sanicms_downstream_calls_total"


def moved(before: dict, after: dict, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_each_outcome_of_a_downstream_call_is_counted(live):
    before = scrape(live)
    # An answer between failures keeps city's breaker (threshold 2) closed.
    for what in ("ok", "missing", "ok", "broken", "ok", "garbage", "ok", "slow", "ok", "unavailable", "ok"):
        live.request("GET", f"/things/call/city/{what}")
    after = scrape(live)
    city = {"neighbour": "city", "method": "GET"}
    assert moved(before, after, CALLS, **city, outcome="2xx") == 6
    assert moved(before, after, CALLS, **city, outcome="4xx") == 1
    assert moved(before, after, CALLS, **city, outcome="5xx") == 2  # 500, and 503 after its retry
    assert moved(before, after, CALLS, **city, outcome="bad_response") == 1
    assert moved(before, after, CALLS, **city, outcome="timeout") == 1
    assert moved(before, after, "sanicms_downstream_retries_total", neighbour="city") == 1  # the 503
    assert moved(before, after, "sanicms_downstream_call_duration_seconds_count", neighbour="city") == 11


def test_a_dead_neighbour_opens_its_breaker_and_calls_then_fail_fast(live):
    before = scrape(live)
    statuses = [live.request("GET", "/things/call/dead/x").status_code for _ in range(3)]
    after = scrape(live)
    assert statuses == [503, 503, 503]
    dead = {"neighbour": "dead", "method": "GET"}
    assert moved(before, after, CALLS, **dead, outcome="connection_error") == 2
    assert moved(before, after, CALLS, **dead, outcome="circuit_open") == 1
    assert moved(before, after, "sanicms_downstream_retries_total", neighbour="dead") == 2  # one per call
    assert moved(before, after, "sanicms_circuit_breaker_transitions_total", neighbour="dead", to="open") == 1
    assert value(after, "sanicms_circuit_breaker_state", neighbour="dead", state="open") == 1
    assert value(after, "sanicms_circuit_breaker_state", neighbour="dead", state="closed") == 0
    assert value(after, "sanicms_circuit_breaker_state", neighbour="city", state="closed") == 1
    # the refusal took no time: it is not a call's duration
    assert moved(before, after, "sanicms_downstream_call_duration_seconds_count", neighbour="dead") == 2


def test_breaker_transitions_through_half_open_back_to_closed():
    from prometheus_client import CollectorRegistry

    from sanicms.calls.resilience import CircuitBreaker
    from sanicms.metrics import Instruments

    registry = CollectorRegistry()
    instruments = Instruments(registry)
    now = [0.0]
    breaker = CircuitBreaker(1, 5.0, clock=lambda: now[0], name="city")
    breaker.on_change = instruments.breaker_listener("city")
    breaker.failure()
    now[0] = 10.0
    assert breaker.allow()
    breaker.success()

    def got(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"neighbour": "city", **labels})

    assert [got("sanicms_circuit_breaker_transitions_total", to=s) for s in ("open", "half_open", "closed")] == \
        [1, 1, 1]
    assert [got("sanicms_circuit_breaker_state", state=s) for s in ("open", "half_open", "closed")] == [0, 0, 1]


def test_statements_are_timed_by_kind_and_failures_counted_by_sqlstate_class(live):
    before = scrape(live)
    live.request("GET", "/things/1")
    live.request("POST", "/things", json={"name": "unique-once"})
    assert live.request("POST", "/things", json={"name": "unique-once"}).status_code == 409
    after = scrape(live)
    count = "sanicms_db_statement_duration_seconds_count"
    assert moved(before, after, count, kind="select") == 1
    assert moved(before, after, count, kind="insert") == 2
    assert moved(before, after, "sanicms_db_errors_total", sqlstate_class="23") == 1  # unique_violation 23505
    pool = {"role": "primary", "server": server_of(live.app.ctx.db.dsn)}
    assert value(after, "sanicms_db_pool_size", **pool) >= 1
    assert value(after, "sanicms_db_pool_connections_in_use", **pool) == 0
    assert value(after, "sanicms_db_pool_connections_idle", **pool) == value(after, "sanicms_db_pool_size", **pool)
    assert value(after, "sanicms_db_pool_waiters", **pool) == 0


def test_statement_kinds():
    assert [statement_kind(s) for s in ("SELECT 1", "  insert into t", "UPDATE t", "delete from t", "WITH x",
                                        "")] == ["select", "insert", "update", "delete", "other", "other"]


def test_span_counters_follow_the_reporter(live):
    before = scrape(live)
    live.request("GET", "/things/1")  # a server span and a SQL span
    after = scrape(live)
    assert moved(before, after, "sanicms_tracing_spans_reported_total") == 2
    reporter = live.app.ctx.span_reporter
    assert value(after, "sanicms_tracing_spans_reported_total") == reporter.reported
    assert value(after, "sanicms_tracing_spans_dropped_total") == reporter.dropped
    assert value(after, "sanicms_tracing_queue_length") == reporter.stats()["queued"]
