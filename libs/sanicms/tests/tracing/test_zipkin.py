"""Spans as Zipkin v2 JSON, checked against Zipkin's own schema."""

import pytest
from opentracing import tags

from sanicms.tracing import Tracer, to_zipkin
from sanicms.tracing.zipkin import endpoint


class Collect:
    def __init__(self):
        self.spans = []

    def report(self, span):
        self.spans.append(span)


@pytest.fixture
def tracer():
    return Tracer("City", Collect(), endpoint=endpoint("city", "127.0.0.1", 8050))


def finished(tracer, name, **tag_values):
    span = tracer.start_span(name, tags=tag_values)
    span.finish()
    return to_zipkin(span)


def test_a_server_span_in_zipkin_form(tracer, zipkin_span_schema):
    with tracer.start_active_span("GET /cities/<id:int>", tags={
            tags.SPAN_KIND: "server", "http.method": "GET", "http.status_code": 200}) as scope:
        scope.span.remote = endpoint(None, "10.0.0.7", 51234)
    span = to_zipkin(scope.span)
    zipkin_span_schema.validate(span)
    assert span["kind"] == "SERVER"
    assert span["name"] == "get /cities/<id:int>"  # Zipkin names are lower case
    assert span["localEndpoint"] == {"serviceName": "city", "ipv4": "127.0.0.1", "port": 8050}
    assert span["remoteEndpoint"] == {"ipv4": "10.0.0.7", "port": 51234}
    assert span["tags"] == {"http.method": "GET", "http.status_code": "200"}  # strings only
    assert "parentId" not in span
    assert isinstance(span["timestamp"], int) and span["timestamp"] > 1_600_000_000_000_000  # µs
    assert span["duration"] >= 1


def test_client_span_with_parent_and_error_annotation(tracer, zipkin_span_schema):
    with tracer.start_active_span("root") as scope:
        child = tracer.start_span("get city", tags={tags.SPAN_KIND: "client", tags.ERROR: True})
        child.remote = endpoint("city", "::1", 8050)
        child.log_kv({"event": "error", "message": "city service did not answer in time",
                      "error.object": RuntimeError("x"), "stack": object()})
        child.finish()
    span = to_zipkin(child)
    zipkin_span_schema.validate(span)
    assert span["parentId"] == scope.span.context.span_id
    assert span["kind"] == "CLIENT"
    assert span["remoteEndpoint"] == {"serviceName": "city", "ipv6": "::1", "port": 8050}
    assert span["tags"]["error"] == "true"
    [note] = span["annotations"]
    assert note["value"] == "error: city service did not answer in time"  # no objects, no stack


def test_a_local_span_has_no_kind(tracer, zipkin_span_schema):
    span = finished(tracer, "get_one", category="user")
    zipkin_span_schema.validate(span)
    assert "kind" not in span and "remoteEndpoint" not in span


def test_identical_annotations_are_kept_once(tracer, zipkin_span_schema):
    span = tracer.start_span("x")
    span.log_kv({"event": "retry"}, timestamp=1700000000.0)
    span.log_kv({"event": "retry"}, timestamp=1700000000.0)
    span.log_kv({"attempt": 2}, timestamp=1700000000.5)
    span.finish()
    out = to_zipkin(span)
    zipkin_span_schema.validate(out)  # the schema asks for unique items
    assert [a["value"] for a in out["annotations"]] == ["retry", "attempt=2"]


def test_endpoint_keeps_only_ip_literals():
    assert endpoint("postgres", "db.internal", 5432) == {"serviceName": "postgres", "port": 5432}
    assert endpoint(None, "0.0.0.0", None) == {}


def test_the_schema_refuses_what_zipkin_would(zipkin_span_schema):
    """The check has teeth: broken spans fail it."""
    good = {"traceId": "a" * 32, "id": "b" * 16}
    zipkin_span_schema.validate(good)
    for bad in ({**good, "id": "B" * 17}, {**good, "kind": "LOCAL"}, {**good, "duration": 0},
                {**good, "tags": {"n": 1}}, {"id": "b" * 16}):
        assert not zipkin_span_schema.is_valid(bad), bad
