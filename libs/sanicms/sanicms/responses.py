"""The unified response format.

Success: ``{"code": 0, "data": ...}`` plus ``"pagination"`` for pages.
Error:   ``{"code": <non-zero>, "message": "...", "error": <detail or null>}``.

Handlers return plain data; :class:`EnvelopeRequest` wraps it on the way out, so a
handler never builds a response by hand unless it wants a status other than 200.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

import ujson
from sanic import Request
from sanic.response import BaseHTTPResponse, HTTPResponse


def _default(value: Any) -> Any:
    """JSON for what asyncpg records hold besides str, int, float, bool and None."""
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        # Timestamps are stored in UTC (``datetime.utcnow`` defaults) in columns without a
        # zone; say so, as RFC 3339 (the spec's ``date-time``) requires an offset.
        return value.isoformat() + "Z"
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any, **kwargs: Any) -> str:
    """Fast JSON (ujson) that also understands datetimes, UUIDs and decimals."""
    return ujson.dumps(value, ensure_ascii=False, escape_forward_slashes=False, default=_default, **kwargs)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
    return HTTPResponse(dumps(body), status=status, headers=headers, content_type="application/json")


def success_body(data: Any, pagination: dict | None = None) -> dict:
    body = {"code": 0, "data": data}
    if pagination is not None:
        body["pagination"] = pagination
    return body


def error_body(code: int, message: str, error: Any = None) -> dict:
    return {"code": code, "message": message, "error": error}


def respond(data: Any = None, *, status: int = 200, pagination: dict | None = None,
            headers: dict[str, str] | None = None) -> HTTPResponse:
    """Build the envelope explicitly, for a status other than 200 (e.g. 201 Created)."""
    return json_response(success_body(data, pagination), status=status, headers=headers)


def to_response(result: Any) -> BaseHTTPResponse:
    """What a handler returned -> an HTTP response in the unified format."""
    if isinstance(result, BaseHTTPResponse):
        return result
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict):
        data, pagination = result
        return json_response(success_body(data, pagination))
    return json_response(success_body(result))


class EnvelopeRequest(Request):
    """A request whose ``respond`` accepts plain data, which is how handlers return it."""

    async def respond(self, response: Any = None, **kwargs: Any):  # type: ignore[override]
        if response is not None and not isinstance(response, BaseHTTPResponse):
            response = to_response(response)
        return await super().respond(response, **kwargs)
