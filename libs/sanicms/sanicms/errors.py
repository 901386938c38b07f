"""Exceptions with a stable error envelope, and the handler that renders every error.

Each error carries ``status_code`` (HTTP), ``code`` (a non-zero int clients can switch on:
the status, or a finer :class:`ErrorCode`), ``message`` (one human sentence) and ``error``
(optional, machine-readable detail such as a list of field problems).

    ApiError                  any status; ``retryable``: may the same call be tried again
    ├── BadRequest (400)
    │   └── ValidationError   ``error`` lists {field, message}
    ├── Unauthorized (401), Forbidden (403), NotFound (404), Conflict (409)
    ├── ServerError (500)
    ├── BadGateway (502)      a downstream answered badly
    ├── ServiceUnavailable (503)
    └── GatewayTimeout (504)
"""

from __future__ import annotations

import logging
import traceback
from enum import IntEnum
from typing import Any

from sanic import Request
from sanic.constants import HTTP_METHODS
from sanic.exceptions import MethodNotAllowed, RequestCancelled, RequestTimeout, SanicException
from sanic.exceptions import ServiceUnavailable as SanicUnavailable
from sanic.handlers import ErrorHandler as SanicErrorHandler
from sanic.response import HTTPResponse

from ._compat.sanic import reading_body, stop_reading_body
from .context import note_error
from .responses import error_body, json_response

log = logging.getLogger("sanicms.errors")


class ErrorCode(IntEnum):
    """Every code finer than an HTTP status, with its status, whether the same call may be
    tried again, and what it means. The one place they are defined."""

    def __new__(cls, code: int, status: int, retryable: bool, meaning: str) -> ErrorCode:
        member = int.__new__(cls, code)
        member._value_ = code
        member.status, member.retryable, member.meaning = status, retryable, meaning
        return member

    status: int
    retryable: bool
    meaning: str

    REQUEST_TIMEOUT_MALFORMED = 40001, 400, False, "the `X-Request-Timeout` header is not a budget like `250m` or `2S`"
    DOWNSTREAM_REFUSED = 50201, 502, False, "a downstream refused the call with a 4xx the caller did not handle"
    DOWNSTREAM_NOT_ENVELOPE = 50202, 502, False, "a downstream answered with something that is not the envelope"
    DOWNSTREAM_FAILED = 50203, 502, False, "a downstream failed (5xx); retried when it said 502, 503 or 504"
    DOWNSTREAM_BROKEN = 50204, 502, True, "a downstream's answer was cut off or malformed"
    NOT_READY = 50300, 503, True, "`/readyz`: a dependency of the service does not answer"
    DATABASE_UNAVAILABLE = 50301, 503, True, "the database is unreachable or lost the connection (the pool recovers)"
    DATABASE_NOT_OPEN = 50302, 503, True, "the service's database pool is not open (starting or stopping)"
    DOWNSTREAM_UNREACHABLE = 50303, 503, True, "a downstream is unreachable or dropped the connection"
    CIRCUIT_OPEN = 50304, 503, False, "a downstream's circuit is open: failing fast (`Retry-After`)"
    KEY_SERVER_DOWN = 50305, 503, True, "the token's key is not cached and the JWKS server is unreachable"
    CLIENT_NOT_OPEN = 50306, 503, True, "the service's client for a downstream is not open (starting or stopping)"
    RESPONSE_TIMEOUT = 50307, 503, False, "the service did not answer within `RESPONSE_TIMEOUT`; connection closed"
    OVERLOADED = 50308, 503, True, "the worker has `MAX_CONCURRENT_REQUESTS` in flight: refused at once (`Retry-After`)"
    DOWNSTREAM_TIMEOUT = 50401, 504, False, "a downstream did not answer within `CLIENT_TIMEOUT`"
    DEADLINE_EXCEEDED = 50402, 504, False, "the caller's budget (`X-Request-Timeout`) ran out: refused or cancelled"


class ApiError(SanicException):
    """Base of the library's errors; raise a subclass or pass ``status_code``. With an
    :class:`ErrorCode`, the status and ``retryable`` come from it."""

    status_code = 500
    message = "internal server error"
    #: Whether the same call may succeed if tried again (downstream clients retry those).
    retryable = False
    #: True when what caused the error is logged where it happened (a database outage is
    #: logged once when it begins and once when it ends): the handler then keeps its own
    #: line per request at DEBUG instead of repeating it at WARNING.
    logged = False

    def __init__(
        self,
        message: str | None = None,
        *,
        error: Any = None,
        code: int | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
        retryable: bool | None = None,
    ) -> None:
        if isinstance(code, ErrorCode):
            status_code = status_code or code.status
            retryable = code.retryable if retryable is None else retryable
        status = status_code or self.status_code
        super().__init__(message or self.message, status_code=status, headers=headers)
        self.status_code = status
        self.message = message or self.message
        self.error = error
        self.code = int(code) if code is not None else status
        if retryable is not None:
            self.retryable = retryable


class BadRequest(ApiError):
    status_code = 400
    message = "bad request"


class ValidationError(BadRequest):
    """Input that breaks the contract; ``error`` lists ``{"field", "message"}`` items."""

    message = "invalid input"


class Unauthorized(ApiError):
    status_code = 401
    message = "authentication required"


class Forbidden(ApiError):
    status_code = 403
    message = "forbidden"


class NotFound(ApiError):
    status_code = 404
    message = "not found"


class Conflict(ApiError):
    status_code = 409
    message = "conflict"


class ServerError(ApiError):
    status_code = 500


class BadGateway(ApiError):
    status_code = 502
    message = "a downstream service answered badly"


class ServiceUnavailable(ApiError):
    status_code = 503
    message = "service unavailable"


class GatewayTimeout(ApiError):
    status_code = 504
    message = "a downstream service timed out"


# Sanic's own errors say what happened in words safe to show; anything 5xx that is
# not ours is an internal detail and gets a generic message.
_SAFE_SANIC_MESSAGES = range(400, 500)


class ErrorHandler(SanicErrorHandler):
    """Renders every exception, Sanic's and unexpected ones included, as the envelope."""

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        if isinstance(exception, SanicUnavailable) and str(exception) == "Response Timeout":  # Sanic's timer
            exception = _timed_out(request)
        status, code, message, error, headers = describe(exception, debug=_debug(request))
        if status == CLIENT_CLOSED:  # the client hung up: nobody to answer, nothing broke
            log.debug("client closed the connection during %s %s", _method(request), _path(request))
            return json_response(error_body(code, message, error), status=status)
        note_error(exception)
        if isinstance(exception, MethodNotAllowed) and not any(k.lower() == "allow" for k in headers):
            headers["Allow"] = ", ".join(_allowed_methods(request))
        if status >= 500 and not isinstance(exception, ApiError):
            log.error("unhandled error on %s %s", _method(request), _path(request), exc_info=exception)
        elif status >= 500 and isinstance(exception, ApiError) and exception.logged:
            log.debug("%s on %s %s: %s", status, _method(request), _path(request), message)
        elif status >= 500:
            log.warning("%s on %s %s: %s", status, _method(request), _path(request), message)
        return json_response(error_body(code, message, error), status=status, headers=headers)


def _timed_out(request: Request | None) -> ApiError | RequestTimeout:
    """What Sanic's response timeout (its only ServiceUnavailable) means for this request.

    Sanic times the body's arrival as part of the response, so a client that sends less body
    than its Content-Length gets the 503 meant for a slow handler, and then Sanic waits for
    the rest of that body with no timeout at all: the connection stays open for good. Such a
    request is the client's fault (408), and the connection is closed without reading on."""
    if _reading_body(request):
        stop_reading_body(request)
        return RequestTimeout("the request body did not arrive in time")
    # Sanic has cancelled the handler and turned keep-alive off: the connection closes after this.
    return ApiError("the service did not answer in time", code=ErrorCode.RESPONSE_TIMEOUT)


def _reading_body(request: Request | None) -> bool:
    """Whether Sanic was still waiting for body bytes: the route reads bodies (GET's ignore
    them, which leaves a sent body "unread" for good) and some have not come."""
    route = getattr(request, "route", None)
    if route is None or route.extra.ignore_body:
        return False
    return reading_body(request)


#: nginx's status for a request whose client went away before the answer.
CLIENT_CLOSED = 499


def describe(exception: BaseException, *, debug: bool = False) -> tuple[int, int, str, Any, dict[str, str]]:
    """Map any exception to (status, code, message, error, headers)."""
    if isinstance(exception, RequestCancelled):
        return CLIENT_CLOSED, CLIENT_CLOSED, "client closed the request", None, {}
    if isinstance(exception, ApiError):
        return exception.status_code, exception.code, exception.message, exception.error, _headers(exception)
    if isinstance(exception, SanicException):
        status = int(getattr(exception, "status_code", 500) or 500)
        if status in _SAFE_SANIC_MESSAGES:
            return status, status, _sanic_message(exception), None, _headers(exception)
        return status, status, "internal server error", _debug_detail(exception, debug), {}
    return 500, 500, "internal server error", _debug_detail(exception, debug), {}


def _sanic_message(exception: SanicException) -> str:
    message = str(exception.args[0] if exception.args else exception.message or "").strip()
    return message or "request refused"


def _debug_detail(exception: BaseException, debug: bool) -> Any:
    if not debug:
        return None
    return "".join(traceback.format_exception(exception)).splitlines()


def _headers(exception: BaseException) -> dict[str, str]:
    headers = getattr(exception, "headers", None) or {}
    return {k: v for k, v in dict(headers).items() if k.lower() != "content-type"}


def _allowed_methods(request: Request) -> list[str]:
    """The methods the request's path answers. A 405 must say (RFC 9110), and sanic-routing
    drops them for paths with parameters, so ask the router method by method."""
    allowed: list[str] = []
    for method in HTTP_METHODS:
        try:
            request.app.router.get(request.path, method, request.headers.getone("host", None))
        except SanicException:
            continue
        allowed.append(method)
    return allowed


def _debug(request: Request | None) -> bool:
    if request is None:
        return False
    try:
        return bool(request.app.ctx.settings.service.debug)
    except Exception:  # no app bound yet (errors while parsing the request line)
        return False


def _method(request: Request | None) -> str:
    return getattr(request, "method", "-")


def _path(request: Request | None) -> str:
    return getattr(request, "path", "-")
