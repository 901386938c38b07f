"""CORS: sanic-ext's, paid for by the requests that ask for it.

sanic-ext does CORS well (``CORS_*`` settings, preflights answered by its automatic OPTIONS
routes, ``@cors`` on a route), but adds its headers in a response middleware, and Sanic
wraps every middleware call in two signal dispatches, on each request, CORS or not. A
request that sends no ``Origin`` header gets no CORS header from it (``CORS_ALWAYS_SEND``
is off), so this module takes that middleware off the app and calls the same function from
a respond hook (:mod:`sanicms.request_hooks`), only when there is an ``Origin`` (or when
``CORS_ALWAYS_SEND`` asks for headers on every response).

What the middleware cost: docs/benchmarks.md, "Figures from the code".
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse

from ._compat.sanic import ResponseMiddleware, take_response_middleware
from .request_hooks import RequestHooks, RespondHook

#: The name of sanic-ext's response middleware (sanic_ext/extensions/http/cors.py).
SANIC_EXT_CORS = "_add_cors_headers"

AddHeaders = ResponseMiddleware


def install(app: Sanic[Any, Any], hooks: RequestHooks) -> None:
    """After ``Extend(app)``: sanic-ext's CORS headers from a respond hook instead of middleware."""
    add = take_response_middleware(app, SANIC_EXT_CORS)
    if add is not None:
        hooks.on_respond.append(_cors_hook(add, always=bool(app.config.CORS_ALWAYS_SEND)))


def _cors_hook(add: AddHeaders, *, always: bool) -> RespondHook:
    def add_cors_headers(request: Request, response: BaseHTTPResponse) -> Awaitable[None] | None:
        return add(request, response) if always or "origin" in request.headers else None

    return add_cors_headers
