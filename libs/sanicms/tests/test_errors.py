"""Every error, the library's, Sanic's and unexpected ones, in the unified format."""

import asyncio
import json

import pytest
from sanic import Blueprint

import sanicms
from sanicms import BadRequest, NotFound
from sanicms.testing import LiveServer

bp = Blueprint("probe", url_prefix="/probe")


@bp.get("/ok")
async def ok(request):
    return {"hello": "world"}


@bp.get("/page")
async def page(request):
    return [1, 2], {"page": 1, "page_size": 2, "total": 2, "pages": 1}


@bp.get("/missing")
async def missing(request):
    raise NotFound("no such thing", code=40401)


@bp.get("/custom")
async def custom(request):
    raise BadRequest("bad", error={"why": "because"}, code=40099)


@bp.get("/boom")
async def boom(request):
    raise RuntimeError("SELECT secret FROM passwords")


class Model:
    pass


@bp.post("/echo")
async def echo(request):
    return request.json


@bp.get("/slow")
async def slow(request):
    await asyncio.sleep(60)  # beyond RESPONSE_TIMEOUT: Sanic cancels it


def build(**overrides):
    settings = sanicms.load_settings(environ={}, overrides={
        "SERVICE_NAME": "probe", "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "REQUEST_MAX_SIZE": 1000, "DB_POOL_MIN_SIZE": 0, "DB_CONNECT_TIMEOUT": 0.5, **overrides})
    return sanicms.create_app(settings, [bp], name=f"probe_{len(overrides)}")


@pytest.fixture(scope="module")
def live():
    from sanic import Sanic
    Sanic.test_mode = True
    server = LiveServer(build())
    server.start()
    yield server
    server.stop()


def test_plain_data_and_pages_are_enveloped(live):
    assert live.request("GET", "/probe/ok").json() == {"code": 0, "data": {"hello": "world"}}
    body = live.request("GET", "/probe/page").json()
    assert body == {"code": 0, "data": [1, 2], "pagination": {"page": 1, "page_size": 2, "total": 2, "pages": 1}}


def test_library_errors_keep_status_code_message_and_detail(live):
    res = live.request("GET", "/probe/missing")
    assert (res.status_code, res.json()) == (404, {"code": 40401, "message": "no such thing", "error": None})
    res = live.request("GET", "/probe/custom")
    assert (res.status_code, res.json()) == (400, {"code": 40099, "message": "bad", "error": {"why": "because"}})


def test_unexpected_exception_is_a_500_without_internals(live, caplog):
    res = live.request("GET", "/probe/boom")
    assert res.status_code == 500
    assert res.json() == {"code": 500, "message": "internal server error", "error": None}
    assert "SELECT" not in res.text and "Traceback" not in res.text
    assert "unhandled error" in caplog.text  # logged instead


def test_sanic_errors_are_enveloped(live):
    res = live.request("GET", "/nowhere")
    assert res.status_code == 404 and res.json()["code"] == 404
    res = live.request("DELETE", "/probe/ok")
    assert res.status_code == 405 and res.json()["code"] == 405 and "GET" in res.headers["allow"]
    res = live.request("POST", "/probe/echo", content=b"x" * 5000, headers={"content-type": "application/json"})
    assert res.status_code == 413 and res.json()["code"] == 413
    res = live.request("POST", "/probe/echo", content=b"{nope", headers={"content-type": "application/json"})
    assert res.status_code == 400 and res.json()["code"] == 400
    assert res.headers["content-type"] == "application/json"


def test_debug_puts_the_traceback_in_error():
    debug = LiveServer(build(DEBUG=True))
    debug.start()
    try:
        body = debug.request("GET", "/probe/boom").json()
    finally:
        debug.stop()
    assert body["message"] == "internal server error"
    assert any("RuntimeError" in line for line in body["error"])


def test_a_client_hanging_up_is_no_server_error(caplog):
    from sanic.exceptions import RequestCancelled

    from sanicms.errors import ErrorHandler

    with caplog.at_level("DEBUG", logger="sanicms.errors"):
        response = ErrorHandler().default(None, RequestCancelled())
    assert response.status == 499
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]


def test_the_guide_lists_every_error_code_as_defined():
    import re
    from pathlib import Path

    from sanicms.errors import ErrorCode

    guide = (Path(__file__).resolve().parents[3] / "docs" / "guide.md").read_text()
    rows = re.findall(r"^\| (\d{5}) \| (\d{3}) \| (yes|no) \| (.+) \|$", guide, re.M)
    listed = {int(code): (int(status), retry == "yes", meaning) for code, status, retry, meaning in rows}
    assert listed == {int(c): (c.status, c.retryable, c.meaning) for c in ErrorCode}


def test_an_error_code_brings_its_status_and_retry_advice():
    from sanicms.errors import ApiError, ErrorCode, ServiceUnavailable

    error = ApiError("down", code=ErrorCode.DATABASE_UNAVAILABLE)
    assert (error.status_code, error.code, error.retryable) == (503, 50301, True)
    assert not ServiceUnavailable("open", code=ErrorCode.CIRCUIT_OPEN).retryable
    assert ApiError("x", code=ErrorCode.DOWNSTREAM_FAILED, retryable=True).retryable
    assert len({int(c) for c in ErrorCode}) == len(ErrorCode)  # no code means two things


def _exchange(server, raw: bytes) -> tuple[int, dict, bytes]:
    """The status, JSON body and head of the answer to ``raw`` (read until the server closes)."""
    head, _, body = server.raw(raw).partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body), head


@pytest.fixture(scope="module")
def impatient():
    from sanic import Sanic
    Sanic.test_mode = True
    server = LiveServer(build(RESPONSE_TIMEOUT=1, REQUEST_TIMEOUT=1))
    server.start()
    yield server
    server.stop()


def test_a_body_that_stops_arriving_is_a_408_and_the_connection_is_closed(impatient, caplog):
    # Content-Length 100, 7 bytes sent: Sanic would answer 503 and then wait for the rest forever.
    raw = (b"POST /probe/echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
           b"content-length: 100\r\n\r\n{\"a\":1}")
    with caplog.at_level("INFO"):
        status, body, head = _exchange(impatient, raw)
    assert (status, body) == (408, {"code": 408, "message": "the request body did not arrive in time", "error": None})
    assert b"connection: close" in head.lower()
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]  # the client's doing


@pytest.mark.parametrize("extra", [b"", b"content-length: 5\r\n\r\nhello"])
def test_a_handler_past_the_response_timeout_is_a_503_that_says_so(impatient, caplog, extra):
    # With a whole body on a GET (Sanic never reads it: the client is not the one late).
    request = b"GET /probe/slow HTTP/1.1\r\nhost: x\r\n" + (extra or b"\r\n")
    with caplog.at_level("INFO"):
        status, body, _ = _exchange(impatient, request)
    assert (status, body["code"], body["message"]) == (503, 50307, "the service did not answer in time")
    assert not [r for r in caplog.records if r.levelname == "ERROR"]  # expected, and no traceback
