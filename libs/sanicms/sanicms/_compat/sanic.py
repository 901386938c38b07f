"""Sanic's private and undocumented internals that sanicms uses, each with its reason.

Pinned by ``libs/sanicms/tests/_compat/test_sanic.py``. ``request.stream`` is Sanic's
``Http`` object for the request (HTTP/1.1 served by Sanic's own server); under ASGI it is
another object, without these attributes, so each is read with a default. What the request
path reads on every request is a name here, read there with ``getattr`` (no call added).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Set
from time import monotonic
from typing import Any, cast

from sanic import Request, Sanic
from sanic.http.constants import Stage
from sanic.response import BaseHTTPResponse
from sanic.server.protocols.http_protocol import HttpProtocol
from sanic.server.protocols.websocket_protocol import WebSocketProtocol

#: ``request.stream.perft0``: when Sanic began the request (``perf_counter()``); Sanic keeps no public start time.
STARTED = "perft0"

#: ``request.stream.expecting_continue``: the client awaits "100 Continue"; no public flag says so.
EXPECTING_CONTINUE = "expecting_continue"

_BUSY = (Stage.HANDLER, Stage.RESPONSE)

ResponseMiddleware = Callable[[Request, BaseHTTPResponse], Awaitable[None]]


def take_response_middleware(app: Sanic[Any, Any], name: str) -> ResponseMiddleware | None:
    """Remove the response middleware whose function is called ``name`` from ``app``, before it
    starts; return that function (None: there was none)."""
    found: ResponseMiddleware | None = None
    # app._future_middleware: what Sanic registers again at each start; it has no public removal
    for future in list(app._future_middleware):
        func = getattr(future.middleware, "func", future.middleware)
        if future.attach_to == "response" and getattr(func, "__name__", None) == name:
            app._future_middleware.remove(future)
            found = cast(ResponseMiddleware, func)
    if found is not None:
        kept = [m for m in app.response_middleware if getattr(m, "func", m) is not found]
        app.response_middleware.clear()
        app.response_middleware.extend(kept)
    return found


def reading_body(request: Request | None) -> bool:
    """Whether Sanic still waits for (some of) ``request``'s body."""
    # request.stream.request_body: truthy until the body is read whole; no public flag says so
    return bool(getattr(getattr(request, "stream", None), "request_body", None))


def stop_reading_body(request: Request | None) -> None:
    """Answer ``request`` without reading (the rest of) its body: no "100 Continue" goes out
    with the answer, Sanic does not wait for body bytes after it, and the connection closes
    (what is left of the body cannot be told from a next request). For refusals made before
    the body is wanted, and bodies that stopped arriving."""
    stream = getattr(request, "stream", None)
    if stream is not None and getattr(stream, "request_body", None):
        # Http's own flags: Sanic has no public way to refuse a request's body once it is announced
        stream.expecting_continue = False
        stream.request_body = None
        stream.keep_alive = False


def server_connections(request: Request) -> Set[Any] | None:
    """The open connections of the server that serves ``request`` (a live set), if Sanic's own."""
    # request.stream.protocol.connections: Sanic counts no requests in flight; its server's set does
    return cast("Set[Any] | None", getattr(getattr(request.stream, "protocol", None), "connections", None))


def requests_in_flight(connections: Iterable[Any]) -> int:
    """How many of ``connections`` (:func:`server_connections`) are handling a request now."""
    busy = 0
    for protocol in list(connections):
        # protocol.http.stage: where a connection's current request is; not public either
        http = getattr(protocol, "http", None)
        if http is not None and http.stage in _BUSY:
            busy += 1
    return busy


# ---- the worker manager (main process) and the workers' shared state --------------------------
# Sanic documents app.manager (main process) and app.multiplexer (workers) but not what the shared
# worker state holds nor the messages its monitor pipe understands; sanicms.lifecycle reads both.

#: Key of the main process's entry in the shared worker state (``WorkerManager.MAIN_NAME``).
MAIN_PROCESS = "Sanic-Main"

#: The monitor message a worker sends when it failed to start: the manager kills them all and exits 1.
TERMINATE_EARLY = "__TERMINATE_EARLY__"


def serving_workers(states: Mapping[str, Any]) -> int:
    """How many server workers the shared worker state says are serving: started up (``ACKED``),
    their ``after_server_start`` listeners done (``serving``), not yet stopping."""
    # entries: {"server": bool, "state": ProcessState name, "serving": bool, "pid": int, ...}
    return sum(1 for entry in states.values()
               if entry.get("server") and entry.get("serving") and entry.get("state") == "ACKED")


def server_pids(states: Mapping[str, Any]) -> list[int]:
    """The pids of the server workers in the shared worker state."""
    return [int(entry["pid"]) for entry in states.values() if entry.get("server") and entry.get("pid")]


# ---- the HTTP/1.1 protocol: a first look at a request's bytes before Sanic parses them ---------
# Sanic documents ``protocol=`` (a subclass of its HttpProtocol) but not the connection's state:
# ``protocol._http.stage`` (where its request is), ``recv_buffer`` (bytes not yet parsed) and
# ``_time`` (when it last heard from the client, for the keep-alive timeout).

#: ``answer(data, connections)``: the whole response to write for ``data``, the bytes that start
#: a request on an idle connection; None hands them to Sanic as usual. Called once per request.
EarlyAnswer = Callable[[bytes, "Set[Any]"], "bytes | None"]


class _EarlyAnswers:
    """What the protocols below add to Sanic's: ``app.ctx.early_answer`` (an :data:`EarlyAnswer`)
    sees each chunk that starts a request on an idle keep-alive connection, and may answer it
    without Sanic parsing it, making a request object or running a task. The connection stays
    open and idle, as after any answered request."""

    __slots__ = ()

    def data_received(self: Any, data: bytes) -> None:
        http = getattr(self, "_http", None)  # set by the connection's task, which may not have run yet
        if http is not None and http.stage is Stage.IDLE and not self.recv_buffer:
            answer = self.app.ctx.early_answer(data, self.connections)
            if answer is not None:
                self._time = monotonic()
                self.transport.write(answer)
                return
        super().data_received(data)  # type: ignore[misc]


class EarlyAnswerHttpProtocol(_EarlyAnswers, HttpProtocol):
    __slots__ = ()


class EarlyAnswerWebSocketProtocol(_EarlyAnswers, WebSocketProtocol):
    __slots__ = ()


def early_answer_protocol(app: Sanic[Any, Any]) -> type[HttpProtocol]:
    """The protocol class for ``app``: the one Sanic would choose, with early answers."""
    return EarlyAnswerWebSocketProtocol if app.websocket_enabled else EarlyAnswerHttpProtocol
