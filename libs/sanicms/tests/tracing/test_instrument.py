"""Tracing inside a running app: SERVER spans, SQL spans, CLIENT spans of concurrent calls,
propagation in and out, and what is left untraced."""

import asyncio
import json

import pytest
from aiohttp import web
from sanic import Blueprint, Sanic

import sanicms
from sanicms import gather
from sanicms.testing import LiveServer
from sanicms.testing.processes import free_port

TRACE = "463ac35c9f6413ad48485a3953bb6124"
CALLER = "a2fb4a1d1a96d312"

bp = Blueprint("traced")


@bp.get("/things/<thing_id:int>")
async def thing(request, thing_id):
    async with request.app.ctx.db.acquire(request) as cur:
        return await cur.fetchrow("SELECT $1::int AS id, 'secret-value'::text AS note", thing_id)


@bp.get("/small/<n:int>")
async def small(request, n):
    async with request.app.ctx.db.acquire(request) as cur:
        return await cur.fetchval("SELECT $1::smallint", n)  # 424242 does not fit: a driver error


@bp.get("/fanout")
async def fanout(request):
    clients = request.app.ctx.clients
    city, role = await gather(clients.city.get(request, "/cities/1"), clients.role.get(request, "/roles/2"))
    return {"city": city, "role": role}


@bp.get("/boom")
async def boom(request):
    raise RuntimeError("internal detail")


class Memory:
    name = "memory"

    def __init__(self):
        self.spans = []

    async def open(self):
        pass

    async def send(self, spans):
        self.spans.extend(json.loads(span) for span in spans)

    async def close(self):
        pass


class Downstream:
    """Answers like a sanicms service after 50 ms and remembers the headers it got."""

    def __init__(self):
        self.port = free_port()
        self.headers = []

    async def start(self):
        async def answer(request):
            self.headers.append(dict(request.headers))
            await asyncio.sleep(0.05)
            return web.json_response({"code": 0, "data": {"path": request.path}})

        app = web.Application()
        app.router.add_get("/{tail:.*}", answer)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()


@pytest.fixture(scope="module")
def traced(database_url):
    Sanic.test_mode = True
    downstream = Downstream()
    url = f"http://127.0.0.1:{downstream.port}"
    settings = sanicms.load_settings(environ={}, overrides={
        "SERVICE_NAME": "probe", "DATABASE_URL": database_url, "TRACING_TRANSPORTS": ["log"],
        "DOWNSTREAM_SERVICES": ["city", "role"], "CITY_SERVICE_URL": url, "ROLE_SERVICE_URL": url,
        "CLIENT_RETRIES": 0})
    server = LiveServer(sanicms.create_app(settings, [bp], name="traced_probe"))
    server.start()
    server.run(downstream.start())
    memory = Memory()
    server.app.ctx.span_reporter.transports = [memory]
    yield server, memory, downstream
    server.run(downstream.runner.cleanup())
    server.stop()
    Sanic.unregister_app(server.app)


def spans_of(server, memory, **headers):
    """Calls, flushes the queue, returns (response, the spans of its trace)."""
    def call(path):
        memory.spans.clear()
        res = server.request("GET", path, headers=headers)
        server.run(server.app.ctx.span_reporter.flush())
        trace = res.headers.get("x-trace-id")
        return res, [s for s in memory.spans if s["traceId"] == trace]
    return call


def test_server_span_is_named_by_route_pattern_and_tagged(traced, zipkin_span_schema):
    server, memory, _ = traced
    res, spans = spans_of(server, memory)("/things/7")
    assert res.status_code == 200
    [srv] = [s for s in spans if s.get("kind") == "SERVER"]
    zipkin_span_schema.validate(srv)
    assert srv["name"] == "get /things/<thing_id:int>"
    assert srv["tags"]["http.method"] == "GET"
    assert srv["tags"]["http.path"] == "/things/7"
    assert srv["tags"]["http.route"] == "/things/<thing_id:int>"
    assert srv["tags"]["http.status_code"] == "200"
    assert "error" not in srv["tags"] and "parentId" not in srv
    assert srv["localEndpoint"]["serviceName"] == "probe"
    assert srv["remoteEndpoint"]["ipv4"] == "127.0.0.1"


def test_each_sql_statement_is_a_span_with_the_statement_but_never_its_values(traced, zipkin_span_schema):
    server, memory, _ = traced
    _, spans = spans_of(server, memory)("/things/424242")
    [srv] = [s for s in spans if s.get("kind") == "SERVER"]
    [sql] = [s for s in spans if s["name"].startswith("sql")]
    zipkin_span_schema.validate(sql)
    assert sql["name"] == "sql select" and sql["kind"] == "CLIENT"
    assert sql["parentId"] == srv["id"]
    assert sql["tags"]["db.statement"].startswith("SELECT $1::int")
    assert "424242" not in str(sql)
    assert sql["remoteEndpoint"]["serviceName"] == "postgres"


def test_a_failed_statement_span_names_the_error_but_never_the_values(traced, zipkin_span_schema):
    server, memory, _ = traced
    res, spans = spans_of(server, memory)("/small/424242")
    assert res.status_code == 400
    [sql] = [s for s in spans if s["name"].startswith("sql")]
    zipkin_span_schema.validate(sql)
    assert sql["tags"]["error"] == "DataError"
    assert sql["annotations"] and "424242" not in json.dumps(sql)


def test_concurrent_calls_are_sibling_client_spans_that_overlap_and_carry_their_context(traced, zipkin_span_schema):
    server, memory, downstream = traced
    downstream.headers.clear()
    res, spans = spans_of(server, memory)("/fanout")
    assert res.status_code == 200, res.text
    [srv] = [s for s in spans if s.get("kind") == "SERVER"]
    clients = sorted((s for s in spans if s.get("kind") == "CLIENT"), key=lambda s: s["name"])
    assert [c["name"] for c in clients] == ["get city", "get role"]
    for client in clients:
        zipkin_span_schema.validate(client)
        assert client["parentId"] == srv["id"] and client["kind"] == "CLIENT"
    a, b = clients
    assert a["timestamp"] < b["timestamp"] + b["duration"] and b["timestamp"] < a["timestamp"] + a["duration"]
    sent_ids = sorted(h["X-B3-SpanId"] for h in downstream.headers)
    assert sent_ids == sorted(c["id"] for c in clients)
    for headers in downstream.headers:
        assert headers["X-B3-TraceId"] == srv["traceId"] and headers["X-B3-ParentSpanId"] == srv["id"]
        assert headers["b3"].startswith(f"{srv['traceId']}-{headers['X-B3-SpanId']}-1")
        assert headers["traceparent"] == f"00-{srv['traceId']}-{headers['X-B3-SpanId']}-01"


@pytest.mark.parametrize("headers", [
    {"b3": f"{TRACE}-{CALLER}-1"},
    {"X-B3-TraceId": TRACE, "X-B3-SpanId": CALLER, "X-B3-Sampled": "1"},
    {"traceparent": f"00-{TRACE}-{CALLER}-01"},
], ids=["b3", "x-b3", "traceparent"])
def test_an_incoming_trace_is_continued(traced, headers):
    server, memory, _ = traced
    res, spans = spans_of(server, memory, **headers)("/things/1")
    assert res.headers["x-trace-id"] == TRACE
    [srv] = [s for s in spans if s.get("kind") == "SERVER"]
    assert srv["parentId"] == CALLER


def test_an_unsampled_caller_means_no_spans_here_either(traced):
    server, memory, _ = traced
    res, spans = spans_of(server, memory, b3=f"{TRACE}-{CALLER}-0")("/things/1")
    assert res.status_code == 200 and res.headers["x-trace-id"] == TRACE and spans == []


def test_statements_of_an_unsampled_request_make_no_span_objects_at_all():
    from sanicms.tracing.instrument import SqlSpans

    class Kept:
        def report(self, span):
            assert span.context.sampled

    for rate, expect_span in ((0.0, False), (1.0, True)):
        tracer = sanicms.tracing.Tracer("things", Kept(), sample_rate=rate)
        sql = SqlSpans(tracer, "postgresql://db.example:5432/things")
        with tracer.start_active_span("GET /things"):
            observed = sql(None, "SELECT 1")
        assert (observed is not None) == expect_span


@pytest.mark.parametrize("headers", [{"b3": "garbage"}, {"traceparent": "00-zz-zz-01"},
                                     {"X-B3-TraceId": "1", "X-B3-SpanId": "2"}])
def test_malformed_trace_headers_start_a_new_trace_and_never_fail_the_request(traced, headers):
    server, memory, _ = traced
    res, spans = spans_of(server, memory, **headers)("/things/1")
    assert res.status_code == 200
    [srv] = [s for s in spans if s.get("kind") == "SERVER"]
    assert "parentId" not in srv and len(srv["traceId"]) == 32


def test_a_failure_is_an_error_span_without_internals(traced, zipkin_span_schema):
    server, memory, _ = traced
    res, spans = spans_of(server, memory)("/boom")
    assert res.status_code == 500
    [srv] = spans
    zipkin_span_schema.validate(srv)
    assert srv["tags"]["error"] == "500" and srv["tags"]["http.status_code"] == "500"
    assert [a["value"] for a in srv["annotations"]] == ["error: RuntimeError: RuntimeError"]
    assert "internal detail" not in str(srv)


def test_health_and_docs_are_not_traced(traced):
    server, memory, _ = traced
    for path in ("/healthz", "/readyz", "/openapi/spec.json"):
        res, _ = spans_of(server, memory)(path)
        assert res.status_code == 200
        assert memory.spans == [] and "x-trace-id" not in res.headers


def test_an_unmatched_path_and_a_refused_path_value_are_server_spans_with_the_error(traced):
    # Neither reaches a handler: the 404 is never routed, the 400 is refused by the route hook.
    server, memory, _ = traced
    res, spans = spans_of(server, memory)("/nowhere/7")
    assert res.status_code == 404
    [srv] = spans
    assert srv["kind"] == "SERVER" and srv["name"] == "get /nowhere/7"
    assert srv["tags"]["http.status_code"] == "404" and srv["duration"] >= 1
    assert [a["value"].split(":")[0] for a in srv["annotations"]] == ["error"]
    res, spans = spans_of(server, memory)("/things/99999999999")
    assert res.status_code == 400
    [srv] = spans
    assert srv["name"] == "get /things/<thing_id:int>" and srv["tags"]["http.status_code"] == "400"
    assert [a["value"] for a in srv["annotations"]] == ["error: ValidationError: invalid path parameters"]


def test_with_replicas_each_statement_span_names_its_server():
    from sanicms.tracing.instrument import SqlSpans

    reported = []

    class Kept:
        def report(self, span):
            reported.append(span)

    tracer = sanicms.tracing.Tracer("things", Kept(), sample_rate=1.0)
    alone = SqlSpans(tracer, "postgresql://db.example:5432/things")
    replica = SqlSpans(tracer, "postgresql://u:secret@ro.example:5433/things", "replica")
    with tracer.start_active_span("GET /things"):
        for spans in (alone, replica):
            with spans(None, "SELECT 1"):
                pass
    plain, named = [s.tags for s in reported if s.tags.get("db.type") == "postgresql"]
    assert "peer.address" not in plain  # no replicas: nothing to tell apart
    assert named["peer.address"] == "ro.example:5433"
    assert "secret" not in str(named)
