"""Requests by route template and status, durations with exemplars, the endpoint itself."""

from __future__ import annotations

import httpx
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from sanicms.testing import LiveServer
from sanicms.testing.processes import free_port

from .conftest import build, samples, scrape, value

REQUESTS = "sanicms_http_requests_total"
DURATION = "sanicms_http_request_duration_seconds"


def test_requests_are_counted_by_route_template_method_and_status(live):
    before = scrape(live)
    for id in (1, 2, 3):
        live.request("GET", f"/things/{id}")
    live.request("GET", "/no/such/path")
    live.request("GET", "/another/missing/one")
    after = scrape(live)
    route = {"method": "GET", "route": "/things/{id}"}
    assert value(after, REQUESTS, **route, status="200") - value(before, REQUESTS, **route, status="200") == 3
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, REQUESTS, **unmatched) - value(before, REQUESTS, **unmatched) == 2
    assert value(after, DURATION + "_count", **route) - value(before, DURATION + "_count", **route) == 3
    assert not any("/things/1" in dict(labels).get("route", "") for _, labels in after), "a raw path as a label"
    assert value(after, "sanicms_http_requests_in_flight") == 1  # the scrape itself


def test_the_status_is_the_one_sent_refusals_included(live):
    before = scrape(live)
    live.request("POST", "/things", json={"name": "dup"})
    live.request("POST", "/things", json={"name": "dup"})
    after = scrape(live)
    route = {"method": "POST", "route": "/things"}
    assert value(after, REQUESTS, **route, status="201") - value(before, REQUESTS, **route, status="201") == 1
    assert value(after, REQUESTS, **route, status="409") - value(before, REQUESTS, **route, status="409") == 1


def test_openmetrics_buckets_carry_the_trace_id_of_a_sampled_request(live):
    response = live.request("GET", "/things/1")
    trace_id = response.headers["x-trace-id"]
    scraped = live.request("GET", "/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
    assert scraped.headers["content-type"].startswith("application/openmetrics-text")
    assert scraped.text.rstrip().endswith("# EOF")
    exemplars = [s.exemplar for f in text_string_to_metric_families(scraped.text) if f.name == DURATION
                 for s in f.samples if s.exemplar is not None and s.labels.get("route") == "/things/{id}"]
    assert trace_id in {e.labels["trace_id"] for e in exemplars}
    plain = live.request("GET", "/metrics")
    assert plain.headers["content-type"].startswith("text/plain") and "trace_id" not in plain.text


def test_the_endpoint_is_not_traced_and_needs_no_token(things_db):
    server = LiveServer(build("guarded", DATABASE_URL=things_db, AUTH_ENABLED=True, AUTH_SECRET="s" * 32))
    server.start()
    try:
        assert server.request("GET", "/things/1").status_code == 401
        response = server.request("GET", "/metrics")
        assert response.status_code == 200 and "x-trace-id" not in response.headers
        assert value(samples(response.text), REQUESTS, method="GET", route="/things/{id}", status="401") == 1
        reporter = server.app.ctx.span_reporter
        reported = reporter.reported
        server.request("GET", "/metrics")
        assert reporter.reported == reported  # no span for a scrape
    finally:
        server.stop()


def test_metrics_port_serves_them_off_the_service_listener(things_db):
    port = free_port()
    server = LiveServer(build("ported", DATABASE_URL=things_db, METRICS_PORT=port))
    server.start()
    try:
        server.request("GET", "/things/1")
        assert server.request("GET", "/metrics").status_code == 404
        response = server.run(httpx.AsyncClient().get(f"http://127.0.0.1:{port}/metrics"))
        assert response.status_code == 200
        assert value(samples(response.text), REQUESTS, method="GET", route="/things/{id}", status="200") == 1
    finally:
        server.stop()


def test_disabled_means_no_endpoint_and_no_middleware(things_db):
    server = LiveServer(build("unmeasured", DATABASE_URL=things_db, METRICS_ENABLED=False))
    server.start()
    try:
        assert server.request("GET", "/metrics").status_code == 404
        assert not hasattr(server.app.ctx, "metrics")
        assert not any(r.path == "metrics" for r in server.app.router.routes)
    finally:
        server.stop()


def test_process_and_gc_figures_are_there(live):
    found = scrape(live)
    names = {name for name, _ in found}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "python_gc_collections_total"} <= names
