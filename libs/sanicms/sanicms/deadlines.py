"""Deadlines that travel: a request may say how long its caller will wait, and every call it
makes downstream says how long is left.

The header is ``X-Request-Timeout``, its value written as gRPC writes ``grpc-timeout``: at
most eight digits and a unit, ``H`` hours, ``M`` minutes, ``S`` seconds, ``m`` milliseconds,
``u`` microseconds, ``n`` nanoseconds (``250m``, ``2S``). A remaining time rather than a
moment, as in gRPC: the hosts' clocks need not agree, and what the request spent on the way
counts against the caller, who set it. Not ``grpc-timeout`` itself: proxies that know gRPC
read that one on gRPC requests only, and a reader would take these for gRPC calls.

- A request whose budget is already spent (``0m``) is refused at once, before any work:
  504 with :attr:`~sanicms.errors.ErrorCode.DEADLINE_EXCEEDED`.
- A request that is still being handled when its budget runs out is cancelled (the database
  statement it waits on too) and answered the same way; the line logged says so.
- A downstream call waits ``min(CLIENT_TIMEOUT, remaining - CLIENT_DEADLINE_MARGIN)`` and
  tells the neighbour one margin less, so that the neighbour's answer (its 504 too) comes back
  while the caller still waits. No call and no retry starts once that is not positive. A
  request without the header has ``RESPONSE_TIMEOUT`` from its arrival as its budget: Sanic
  answers 503 then, so nobody waits for a call made later.

The header is read by :mod:`sanicms.admission`'s route hook, which refuses the requests a
worker does not take on: requests without it pay for one header lookup there, and only those
with it get a timer.
"""

from __future__ import annotations

import asyncio
import logging
from time import perf_counter
from typing import Any

from sanic import Request

from ._compat.sanic import STARTED
from .errors import ApiError, BadRequest, ErrorCode, GatewayTimeout

log = logging.getLogger("sanicms.deadlines")

#: The request header that carries the caller's remaining budget (lower case, as read).
HEADER = "x-request-timeout"
#: ``request.__dict__`` key: the request's deadline (a ``perf_counter()`` time).
DEADLINE = "sanicms_deadline"

_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
_MAX_DIGITS = 8


class DeadlineExceeded(GatewayTimeout):
    """The caller's budget ran out: here, or at a neighbour that said so. Never retried."""

    message = "the caller's deadline passed"
    logged = True  # where it happened: refused or cancelled here, or told by the neighbour

    def __init__(self, message: str | None = None, *, error: Any = None) -> None:
        super().__init__(message, error=error, code=ErrorCode.DEADLINE_EXCEEDED)


def parse(value: str) -> float:
    """Seconds from a header value (``250m`` -> 0.25); ValueError if it is not one."""
    digits, unit = value[:-1], value[-1:]
    scale = _UNITS.get(unit)
    if scale is None or not digits or len(digits) > _MAX_DIGITS or not digits.isdigit() or not digits.isascii():
        raise ValueError(f"not a timeout like 250m or 2S: {value!r}")
    return int(digits) * scale


def format_timeout(seconds: float) -> str:
    """A header value for ``seconds`` (> 0), in whole milliseconds (rounded down, at least 1),
    or whole seconds when milliseconds take more than eight digits."""
    millis = int(seconds * 1000)
    if millis < 100_000_000:
        return f"{max(millis, 1)}m"
    return f"{min(int(seconds), 99_999_999)}S"


def deadline_of(request: Request | None) -> float | None:
    """When ``request``'s budget runs out (a ``perf_counter()`` time): from its header, else
    ``RESPONSE_TIMEOUT`` after its arrival. None outside a request (or one with no start time)."""
    attrs: dict[str, Any] | None = getattr(request, "__dict__", None)
    if attrs is None:  # None, or a request class without the hooks
        return None
    found: float | None = attrs.get(DEADLINE)
    if found is None:
        started = getattr(getattr(request, "stream", None), STARTED, None)
        if started is not None:
            budget = request.app.ctx.settings.http.response_timeout  # type: ignore[union-attr]
            found = attrs[DEADLINE] = started + budget
    return found


def arrive(request: Request, value: str) -> asyncio.TimerHandle | None:
    """Take on ``request`` whose header said ``value``: refuse it if the value is no budget
    (400) or a spent one (504), else note its deadline and return the timer that cancels its
    work when the budget ends; the caller cancels that once the request is answered.
    :class:`sanicms.admission.Admission` calls it from its route hook."""
    try:
        budget = parse(value)
    except ValueError:
        raise BadRequest(f"the {HEADER} header is not a budget like 250m or 2S: {value[:40]!r}",
                         code=ErrorCode.REQUEST_TIMEOUT_MALFORMED) from None
    if budget <= 0:
        log.info("%s %s refused: the caller's budget was spent on arrival (%s: %s)", request.method, request.path,
                 HEADER, value, extra={"deadline": "refused"})
        raise DeadlineExceeded("the caller's deadline passed before the request arrived",
                               error={"budget": value})
    now = perf_counter()
    request.__dict__[DEADLINE] = now + budget
    task = asyncio.current_task()  # the connection's task, which runs the handler
    if task is None:
        return None
    return asyncio.get_running_loop().call_later(budget, _expire, request, task, value, now)


def _expire(request: Request, task: asyncio.Task[Any], value: str, arrived: float) -> None:
    """The budget ran out while the request was being handled: cancel its work, and have
    Sanic answer the 504 (as it answers its own response timeout)."""
    stream = getattr(request, "stream", None)
    if stream is None or getattr(stream, "request", None) is not request or request.responded:
        return  # answered meanwhile
    log.warning("%s %s cancelled: the caller's budget of %s ran out after %.0f ms of work", request.method,
                request.path, value, (perf_counter() - arrived) * 1000, extra={"deadline": "cancelled"})
    error: ApiError = DeadlineExceeded("the caller's deadline passed while the request was being handled",
                                       error={"budget": value})
    # Http.exception: what Sanic answers when its task is cancelled (its response timeout does the same)
    stream.exception = error
    task.cancel()
