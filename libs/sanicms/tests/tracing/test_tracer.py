"""The tracer: id formats, parenthood (also across concurrent tasks), sampling."""

import asyncio
import re

import opentracing
import pytest

from sanicms.tracing import SpanContext, Tracer, new_span_id, new_trace_id


class Collect:
    def __init__(self):
        self.spans = []

    def report(self, span):
        self.spans.append(span)


def tracer(rate=1.0):
    return Tracer("probe", Collect(), sample_rate=rate)


def test_ids_are_128_bit_trace_and_64_bit_span_ids_in_lowercase_hex():
    traces = {new_trace_id() for _ in range(1000)}
    spans = {new_span_id() for _ in range(1000)}
    assert len(traces) == 1000 and len(spans) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", t) for t in traces)
    assert all(re.fullmatch(r"[0-9a-f]{16}", s) and s != "0" * 16 for s in spans)


def test_it_is_an_opentracing_tracer():
    assert isinstance(tracer(), opentracing.Tracer)


def test_children_share_the_trace_and_name_their_parent():
    t = tracer()
    with t.start_active_span("root") as scope:
        child = t.start_span("child")
        child.finish()
    root = scope.span
    assert root.context.parent_id is None
    assert child.context.trace_id == root.context.trace_id
    assert child.context.parent_id == root.context.span_id
    assert [s.name for s in t.reporter.spans] == ["child", "root"]


def test_finishing_twice_reports_once():
    t = tracer()
    span = t.start_span("once")
    span.finish()
    span.finish()
    assert len(t.reporter.spans) == 1


@pytest.mark.asyncio
async def test_concurrent_tasks_get_the_same_parent_and_never_each_other():
    t = tracer()

    async def call(name):
        with t.start_active_span(name) as scope:
            await asyncio.sleep(0.01)  # both are open at the same time
            return scope.span

    with t.start_active_span("server") as scope:
        a, b = await asyncio.gather(call("city"), call("role"))
    server = scope.span
    assert a.context.parent_id == server.context.span_id
    assert b.context.parent_id == server.context.span_id
    assert a.start < b.end and b.start < a.end  # they overlapped


def test_ignore_active_span_starts_a_new_trace():
    t = tracer()
    with t.start_active_span("old") as scope:
        fresh = t.start_span("new", ignore_active_span=True)
    assert fresh.context.trace_id != scope.span.context.trace_id
    assert fresh.context.parent_id is None


def test_sampling_rate_zero_records_nothing_but_keeps_ids_for_propagation():
    t = tracer(rate=0.0)
    span = t.start_span("dropped")
    span.set_tag("k", "v")
    span.finish()
    assert t.reporter.spans == [] and span.tags == {}
    assert span.context.sampled is False and len(span.context.trace_id) == 32


def test_sampling_rate_decides_new_traces_in_proportion():
    t = tracer(rate=0.25)
    kept = sum(t.start_span("x").context.sampled for _ in range(20_000))
    assert 4_400 < kept < 5_600


def test_the_callers_decision_is_followed_whatever_the_rate():
    keep = tracer(rate=0.0).start_span("x", child_of=SpanContext("a" * 32, "b" * 16, sampled=True))
    drop = tracer(rate=1.0).start_span("x", child_of=SpanContext("a" * 32, "b" * 16, sampled=False))
    assert keep.context.sampled is True and drop.context.sampled is False


def test_a_callers_do_not_sample_without_ids_starts_an_unsampled_root():
    t = tracer(1.0)
    parent = t.extract(opentracing.Format.HTTP_HEADERS, {"b3": "0"})
    assert len(parent.trace_id) == 32 and parent.sampled is False
    with t.server_scope("get /x", parent, {}, None) as scope:
        span = scope.span
    assert span.context.parent_id is None and span.context.sampled is False
    assert span.context.trace_id == parent.trace_id


def test_extract_continues_the_trace_and_decides_when_the_caller_did_not():
    t = tracer(rate=0.0)
    context = t.extract(opentracing.Format.HTTP_HEADERS, {"b3": f"{'a' * 32}-{'b' * 16}"})
    assert context.trace_id == "a" * 32 and context.sampled is False
    assert t.extract(opentracing.Format.HTTP_HEADERS, {"b3": "junk"}) is None


def test_inject_writes_the_span_context():
    t = tracer()
    span = t.start_span("client")
    carrier = {}
    t.inject(span.context, opentracing.Format.HTTP_HEADERS, carrier)
    assert carrier["X-B3-SpanId"] == span.context.span_id
    assert carrier["traceparent"].split("-")[1] == span.context.trace_id
