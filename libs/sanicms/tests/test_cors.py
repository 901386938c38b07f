"""CORS as a browser on another origin sees it: what it may call, and which response headers
its code may read (``Access-Control-Expose-Headers``: the trace id, to quote in a bug report)."""

import pytest
from sanic import Blueprint

import sanicms

ALLOWED = "https://app.example"
DEAD_DB = "postgresql://nobody@127.0.0.1:1/none"  # the routes below never touch the database


def ping_blueprint():
    bp = Blueprint("ping", url_prefix="/ping")

    @bp.get("/")
    async def ping(request):
        return {"pong": True}

    return bp


@pytest.fixture(scope="module")
def live(probe_servers):
    with probe_servers("cors_probe", ping_blueprint(), CORS_ORIGINS=[ALLOWED]) as server:
        yield server


def cors_headers(response):
    return {name: value for name, value in response.headers.items() if name.lower().startswith("access-control-")}


def exposed(response):
    header = response.headers.get("access-control-expose-headers", "")
    return {h.strip().lower() for h in header.split(",") if h.strip()}


def test_the_trace_id_is_exposed_to_allowed_origins_by_default():
    settings = sanicms.load_settings(environ={}, overrides={"SERVICE_NAME": "x", "DATABASE_URL": DEAD_DB})
    assert "x-trace-id" in [h.lower() for h in settings["CORS_EXPOSE_HEADERS"]]


def test_an_allowed_origin_may_read_the_trace_id(live):
    res = live.request("GET", "/ping", headers={"Origin": ALLOWED})
    assert res.status_code == 200
    assert res.headers["access-control-allow-origin"] == ALLOWED
    assert "x-trace-id" in exposed(res)
    assert res.headers["x-trace-id"]  # and there is one to read


def test_an_error_answer_exposes_the_trace_id_too(live):
    res = live.request("GET", "/ping/nothing-here", headers={"Origin": ALLOWED})
    assert res.status_code == 404
    assert res.headers["access-control-allow-origin"] == ALLOWED
    assert "x-trace-id" in exposed(res)


def test_a_disallowed_origin_gets_no_cors_headers(live):
    res = live.request("GET", "/ping", headers={"Origin": "https://evil.example"})
    assert res.status_code == 200  # CORS is the browser's check; the server just says nothing
    assert cors_headers(res) == {}


def test_a_request_without_origin_gets_no_cors_headers(live):
    res = live.request("GET", "/ping")
    assert res.status_code == 200
    assert cors_headers(res) == {}


def test_a_preflight_from_a_disallowed_origin_gets_no_cors_headers(live):
    asked = {"Access-Control-Request-Method": "GET"}
    res = live.request("OPTIONS", "/ping", headers={"Origin": "https://evil.example", **asked})
    assert cors_headers(res) == {}


def test_exposed_headers_come_from_the_environment_as_a_list():
    settings = sanicms.load_settings(
        environ={"CORS_EXPOSE_HEADERS": "x-trace-id, x-request-id"},
        overrides={"SERVICE_NAME": "x", "DATABASE_URL": DEAD_DB})
    assert settings["CORS_EXPOSE_HEADERS"] == ("x-trace-id", "x-request-id")
