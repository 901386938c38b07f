"""The unified response format.

Success: ``{"code": 0, "data": ...}`` plus ``"pagination"`` for pages.
Error:   ``{"code": <non-zero>, "message": "...", "error": <detail or null>}``.

Handlers return plain data; :class:`EnvelopeRequest` wraps it on the way out, so a
handler never builds a response by hand unless it wants a status other than 200.
"""

from __future__ import annotations

import decimal
import uuid
from typing import Any

import orjson
from sanic import Request
from sanic.response import BaseHTTPResponse, HTTPResponse

from .request_hooks import RespondHook

# Timestamps are stored in UTC (``datetime.utcnow`` defaults) in columns without a zone:
# say so with a "Z", as RFC 3339 (the spec's ``date-time``) requires an offset.
_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
JSON = "application/json"


def _default(value: Any) -> Any:
    """JSON for what asyncpg records hold beyond what orjson knows (it does datetimes, UUIDs)."""
    if isinstance(value, decimal.Decimal):
        return str(value)  # exact: the spec says a string with a pattern (docs/guide.md, money)
    if isinstance(value, uuid.UUID):  # asyncpg's own UUID class, which orjson does not take for one
        return str(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    """JSON as UTF-8 bytes, ready to send. orjson: about eight times ujson's speed on our
    payloads (README, "Why each dependency"), and it knows datetimes and UUIDs."""
    return orjson.dumps(value, default=_default, option=_OPTIONS)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
    return HTTPResponse(dumps(body), status=status, headers=headers, content_type=JSON)


def success_body(data: Any, pagination: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"code": 0, "data": data}
    if pagination is not None:
        body["pagination"] = pagination
    return body


def error_body(code: int, message: str, error: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "error": error}


def respond(data: Any = None, *, status: int = 200, pagination: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> HTTPResponse:
    """Build the envelope explicitly, for a status other than 200 (e.g. 201 Created)."""
    return json_response(success_body(data, pagination), status=status, headers=headers)


def to_response(result: Any) -> BaseHTTPResponse:
    """What a handler returned -> an HTTP response in the unified format."""
    if isinstance(result, BaseHTTPResponse):
        return result
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict):
        body = {"code": 0, "data": result[0], "pagination": result[1]}
    else:
        body = {"code": 0, "data": result}
    # Built here rather than through json_response(success_body(...)): it runs per request.
    return HTTPResponse(orjson.dumps(body, default=_default, option=_OPTIONS), content_type=JSON)


class EnvelopeRequest(Request):
    """A request whose ``respond`` accepts plain data, which is how handlers return it, and
    calls the app's respond hooks (:mod:`sanicms.request_hooks`) on the final response."""

    #: set by :func:`sanicms.request_hooks.hooked` on the app's own subclass
    respond_hooks: tuple[RespondHook, ...] = ()

    async def respond(self, response: Any = None, **kwargs: Any) -> BaseHTTPResponse:
        if response is not None and not isinstance(response, BaseHTTPResponse):
            response = to_response(response)
        sent: BaseHTTPResponse = await super().respond(response, **kwargs)  # Sanic declares no return type
        for hook in self.respond_hooks:
            pending = hook(self, sent)
            if pending is not None:
                await pending
        return sent
