"""What sanicms relies on in Sanic's internals (sanicms/_compat/sanic.py), on a bare Sanic app
served over a real socket (``request.stream`` is Sanic's own HTTP/1.1 ``Http`` only there).

A failure here after an upgrade names the internal that changed; fix the fence, not the callers.
"""

import asyncio
from time import perf_counter

from sanic import Sanic, response

from sanicms._compat.sanic import (
    EXPECTING_CONTINUE,
    STARTED,
    EarlyAnswerHttpProtocol,
    EarlyAnswerWebSocketProtocol,
    early_answer_protocol,
    reading_body,
    requests_in_flight,
    server_connections,
    stop_reading_body,
    take_response_middleware,
)


def test_the_stream_says_when_the_request_began_and_which_server_holds_it(serve, raw):
    app = Sanic("compat_sanic_stream")
    seen = {}

    @app.get("/")
    async def handler(request):
        connections = server_connections(request)
        seen.update(started=getattr(request.stream, STARTED, None), now=perf_counter(),
                    held=connections is not None and request.stream.protocol in connections,
                    busy=requests_in_flight(connections or ()),
                    continue_=getattr(request.stream, EXPECTING_CONTINUE, None))
        return response.text("ok")

    reply = serve(app, lambda port: raw(port, b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"))
    assert reply.startswith(b"HTTP/1.1 200"), reply
    assert isinstance(seen["started"], float) and seen["started"] <= seen["now"], \
        f"request.stream.{STARTED} is not the perf_counter() of the request's start: {seen['started']!r}"
    assert seen["held"], "request.stream.protocol.connections does not hold the request's connection"
    assert seen["busy"] == 1, "protocol.http.stage is not HANDLER while the handler runs"
    assert seen["continue_"] is False, f"request.stream.{EXPECTING_CONTINUE} is gone"


def test_a_body_announced_with_expect_continue_is_refused_unread(serve, raw):
    app = Sanic("compat_sanic_body")
    seen = {}

    @app.post("/", stream=True)  # the handler runs before the body is read
    async def handler(request):
        seen.update(expecting=getattr(request.stream, EXPECTING_CONTINUE, None), reading=reading_body(request))
        stop_reading_body(request)
        seen["after"] = reading_body(request)
        return response.text("refused", status=401)

    asked = (b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\nexpect: 100-continue\r\n\r\n")
    reply = serve(app, lambda port: raw(port, asked))  # returns only once the server closes
    assert seen == {"expecting": True, "reading": True, "after": False}, seen
    assert reply.startswith(b"HTTP/1.1 401"), f"a '100 Continue' or no refusal: {reply!r}"
    assert b"100 Continue" not in reply
    assert b"connection: close" in reply.lower()


def test_a_response_middleware_is_taken_off_before_the_start(serve, raw):
    app = Sanic("compat_sanic_middleware")

    @app.get("/")
    async def handler(request):
        return response.text("ok")

    async def taken(request, resp):
        resp.headers["x-taken"] = "1"

    async def kept(request, resp):
        resp.headers["x-kept"] = "1"

    app.on_response(taken)  # registered as sanic-ext registers its CORS middleware
    app.on_response(kept)
    assert take_response_middleware(app, "taken") is taken
    assert take_response_middleware(app, "taken") is None  # gone: nothing more to take
    reply = serve(app, lambda port: raw(port, b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"))
    assert b"x-kept: 1" in reply.lower()
    assert b"x-taken" not in reply.lower(), "app._future_middleware no longer holds what Sanic registers at start"


def test_the_protocol_shows_each_request_start_on_an_idle_connection_and_may_answer_it(serve):
    """``_http.stage``, ``recv_buffer`` and ``_time``: an early answer leaves the connection
    idle and usable; body bytes of a request being read are never shown."""
    app = Sanic("compat_sanic_early")
    seen = []
    canned = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 5\r\nconnection: keep-alive\r\n\r\nearly"

    def early_answer(data, connections):
        seen.append((data.split(b" ", 2)[1], isinstance(connections, set)))
        return canned if data.startswith(b"GET /early") else None

    app.ctx.early_answer = early_answer

    @app.route("/late", methods=["GET", "POST"])
    async def late(request):
        return response.text(f"late {len(request.body)}")

    async def exchange(port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        replies = []
        for data in (b"GET /early HTTP/1.1\r\nhost: x\r\n\r\n", b"GET /late HTTP/1.1\r\nhost: x\r\n\r\n",
                     b"POST /late HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\nab",
                     b"cd", b"GET /early HTTP/1.1\r\nhost: x\r\n\r\n"):
            writer.write(data)
            await writer.drain()
            if data == b"POST /late HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\nab":
                await asyncio.sleep(0.05)  # the rest of the body comes on its own
                continue
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            replies.append(head.split(b" ", 2)[1] + b" " + await reader.readexactly(length))
        writer.close()
        return replies

    app.config.KEEP_ALIVE_TIMEOUT = 30
    replies = serve(app, exchange, protocol=EarlyAnswerHttpProtocol)
    assert replies == [b"503 early", b"200 late 0", b"200 late 4", b"503 early"]
    assert seen == [(b"/early", True), (b"/late", True), (b"/late", True), (b"/early", True)], \
        "the protocol's stage or buffer no longer tell an idle connection from a request being read"


def test_the_early_answer_protocol_is_the_one_sanic_would_choose():
    plain, sockets = Sanic("compat_sanic_plain"), Sanic("compat_sanic_ws")
    sockets.enable_websocket()
    try:
        assert early_answer_protocol(plain) is EarlyAnswerHttpProtocol
        assert early_answer_protocol(sockets) is EarlyAnswerWebSocketProtocol
    finally:
        Sanic.unregister_app(plain)
        Sanic.unregister_app(sockets)
