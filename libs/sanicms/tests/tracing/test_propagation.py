"""Trace context in and out of HTTP headers: every style, and malformed input."""

import pytest

from sanicms.tracing import SpanContext, extract, headers_for

TRACE = "463ac35c9f6413ad48485a3953bb6124"
SPAN = "a2fb4a1d1a96d312"
PARENT = "0020000000000001"


def test_outgoing_headers_carry_b3_multi_b3_single_and_traceparent():
    headers = headers_for(SpanContext(TRACE, SPAN, PARENT, sampled=True))
    assert headers["X-B3-TraceId"] == TRACE
    assert headers["X-B3-SpanId"] == SPAN
    assert headers["X-B3-ParentSpanId"] == PARENT
    assert headers["X-B3-Sampled"] == "1"
    assert headers["b3"] == f"{TRACE}-{SPAN}-1-{PARENT}"
    assert headers["traceparent"] == f"00-{TRACE}-{SPAN}-01"


def test_unsampled_decision_is_propagated_in_every_style():
    headers = headers_for(SpanContext(TRACE, SPAN, sampled=False))
    assert headers["X-B3-Sampled"] == "0"
    assert headers["b3"] == f"{TRACE}-{SPAN}-0"
    assert headers["traceparent"].endswith("-00")
    assert "X-B3-ParentSpanId" not in headers


def test_64_bit_trace_ids_are_padded_for_traceparent():
    headers = headers_for(SpanContext("48485a3953bb6124", SPAN, sampled=True))
    assert headers["traceparent"] == f"00-000000000000000048485a3953bb6124-{SPAN}-01"


@pytest.mark.parametrize("headers", [
    {"b3": f"{TRACE}-{SPAN}-1-{PARENT}"},
    {"X-B3-TraceId": TRACE, "X-B3-SpanId": SPAN, "X-B3-ParentSpanId": PARENT, "X-B3-Sampled": "1"},
    {"x-b3-traceid": TRACE.upper(), "x-b3-spanid": SPAN, "x-b3-parentspanid": PARENT, "x-b3-sampled": "true"},
], ids=["b3-single", "b3-multi", "b3-multi-lowercase-names-uppercase-hex"])
def test_incoming_b3_is_continued(headers):
    found = extract(headers)
    assert (found.trace_id, found.span_id, found.parent_id, found.sampled) == (TRACE, SPAN, PARENT, True)


def test_incoming_traceparent_is_continued():
    found = extract({"traceparent": f"00-{TRACE}-{SPAN}-01"})
    assert (found.trace_id, found.span_id, found.sampled) == (TRACE, SPAN, True)
    assert extract({"traceparent": f"00-{TRACE}-{SPAN}-00"}).sampled is False


def test_a_future_traceparent_version_with_extra_fields_is_read():
    assert extract({"traceparent": f"01-{TRACE}-{SPAN}-01-whatever"}).trace_id == TRACE


def test_sampling_left_open_or_debug():
    assert extract({"b3": f"{TRACE}-{SPAN}"}).sampled is None
    assert extract({"X-B3-TraceId": TRACE, "X-B3-SpanId": SPAN}).sampled is None
    debug = extract({"X-B3-TraceId": TRACE, "X-B3-SpanId": SPAN, "X-B3-Flags": "1"})
    assert debug.sampled is True and debug.debug is True
    assert extract({"b3": f"{TRACE}-{SPAN}-d"}).debug is True


def test_b3_single_wins_over_the_other_styles():
    other = "11111111111111111111111111111111"
    found = extract({"b3": f"{TRACE}-{SPAN}-1", "X-B3-TraceId": other, "X-B3-SpanId": SPAN,
                     "traceparent": f"00-{other}-{SPAN}-01"})
    assert found.trace_id == TRACE


def test_a_malformed_style_falls_back_to_a_well_formed_one():
    found = extract({"b3": "garbage", "traceparent": f"00-{TRACE}-{SPAN}-01"})
    assert found.trace_id == TRACE


@pytest.mark.parametrize(("headers", "sampled", "debug"), [
    ({"b3": "0"}, False, False),  # B3's "deny": do not sample
    ({"b3": "1"}, True, False),
    ({"b3": "d"}, True, True),
    ({"X-B3-Sampled": "0"}, False, False),
    ({"b3": "junk", "X-B3-Sampled": "0"}, False, False),
])
def test_a_sampling_decision_without_ids_is_kept(headers, sampled, debug):
    assert extract(headers) == ("", "", None, sampled, debug)


@pytest.mark.parametrize("headers", [
    {},
    {"X-B3-Sampled": "maybe"},
    {"b3": "not-hex-at-all"},
    {"b3": f"{TRACE}-{SPAN}-x"},
    {"b3": f"{TRACE}-{SPAN}-1-nothex"},
    {"b3": f"{TRACE}-{SPAN}-1-{PARENT}-extra"},
    {"b3": f"{'0' * 32}-{SPAN}-1"},
    {"b3": f"{TRACE}-{'0' * 16}"},
    {"b3": f"{TRACE[:20]}-{SPAN}"},  # neither 16 nor 32 hex
    {"X-B3-TraceId": TRACE},
    {"X-B3-TraceId": TRACE, "X-B3-SpanId": "xyz"},
    {"X-B3-TraceId": TRACE, "X-B3-SpanId": SPAN, "X-B3-ParentSpanId": "short"},
    {"X-B3-TraceId": "g" * 32, "X-B3-SpanId": SPAN},
    {"traceparent": f"ff-{TRACE}-{SPAN}-01"},
    {"traceparent": f"00-{TRACE}-{SPAN}-01-extra"},
    {"traceparent": f"00-{'0' * 32}-{SPAN}-01"},
    {"traceparent": f"00-{TRACE}-{'0' * 16}-01"},
    {"traceparent": f"00-{TRACE}-{SPAN}"},
    {"traceparent": "\x00\xff" * 40},
    {"b3": "-" * 5000},
], ids=lambda h: repr(h)[:60])
def test_malformed_headers_are_ignored(headers):
    assert extract(headers) is None
