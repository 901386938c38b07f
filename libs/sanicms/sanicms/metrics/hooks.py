"""Downstream calls and SQL statements, measured through the hooks their modules offer.
Calls: ``ServiceClient.observe``, wrapped around the hook already there (tracing's spans), so
both see every call; retries and breaker changes through two small callbacks
(``ServiceClient.on_retry``, ``CircuitBreaker.on_change``). Statements: ``Database.timer``, a
plain call after each one (cheaper than a context manager around it). Those modules never
import this one.
"""

from __future__ import annotations

from bisect import bisect_left
from time import perf_counter
from typing import Any

from sanic import Request

from .._compat.prometheus_client import histogram_cells
from ..calls.client import CallObserver, DownstreamError, ServiceClient
from ..errors import ApiError, ErrorCode
from .instruments import BUCKETS, DOWNSTREAM_OUTCOMES, Instruments

_OUTCOMES = {
    ErrorCode.DOWNSTREAM_TIMEOUT: "timeout",
    ErrorCode.DOWNSTREAM_UNREACHABLE: "connection_error",
    ErrorCode.CLIENT_NOT_OPEN: "connection_error",
    ErrorCode.CIRCUIT_OPEN: "circuit_open",
    ErrorCode.DOWNSTREAM_BROKEN: "bad_response",
    ErrorCode.DOWNSTREAM_NOT_ENVELOPE: "bad_response",
}


def outcome_of(exc: BaseException | None) -> str | None:
    """The ``outcome`` label of a call that ended with ``exc`` (None: cancelled, not counted)."""
    if exc is None:
        return "2xx"
    if isinstance(exc, DownstreamError):
        return "4xx"
    if isinstance(exc, ApiError):
        found: str | None = _OUTCOMES.get(exc.code)  # type: ignore[call-overload]
        if found is not None:
            return found
        if exc.code == ErrorCode.DOWNSTREAM_FAILED:
            status = (exc.error or {}).get("status") if isinstance(exc.error, dict) else None
            if isinstance(status, int) and 300 <= status < 600:
                return f"{status // 100}xx"
        return "bad_response"
    if isinstance(exc, Exception):
        return "bad_response"
    return None


class CallMetrics:
    """``ServiceClient.observe``: the call's outcome and duration, around the inner hook."""

    def __init__(self, instruments: Instruments, client: ServiceClient) -> None:
        self.inner: CallObserver | None = client.observe
        neighbour = client.name
        self.duration = instruments.call_duration.labels(neighbour)
        self._calls = instruments.calls
        self._neighbour = neighbour
        self._children: dict[tuple[str, str], Any] = {}
        retries = instruments.retries.labels(neighbour)
        client.on_retry = lambda: retries.inc()
        client.breaker.on_change = instruments.breaker_listener(neighbour)
        client.observe = self

    def __call__(self, request: Request | None, service: str, method: str, url: str,
                 headers: dict[str, str]) -> _TimedCall:
        inner = self.inner(request, service, method, url, headers) if self.inner is not None else None
        return _TimedCall(self, method, inner)

    def count(self, method: str, outcome: str) -> None:
        key = (method, outcome)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._calls.labels(self._neighbour, method, outcome)
        child.inc()


class _TimedCall:
    __slots__ = ("inner", "method", "metrics", "started")

    def __init__(self, metrics: CallMetrics, method: str, inner: Any) -> None:
        self.metrics = metrics
        self.method = method
        self.inner = inner
        self.started = 0.0

    def __enter__(self) -> Any:
        self.started = perf_counter()
        return self.inner.__enter__() if self.inner is not None else None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        elapsed = perf_counter() - self.started
        if self.inner is not None:
            self.inner.__exit__(exc_type, exc, tb)
        outcome = outcome_of(exc)
        if outcome is None:
            return
        assert outcome in DOWNSTREAM_OUTCOMES, outcome
        self.metrics.count(self.method.upper(), outcome)
        if outcome != "circuit_open":  # refused here, in no time: not a call's duration
            self.metrics.duration.observe(elapsed)


def statement_kind(sql: str) -> str:
    """select / insert / update / delete from the first keyword; anything else is other."""
    word = sql.lstrip()[:6].lower()
    return word if word in ("select", "insert", "update", "delete") else "other"


class StatementMetrics:
    """``Database.timer``: each statement's duration by kind, its failures by SQLSTATE class."""

    def __init__(self, instruments: Instruments, *, direct: bool = False) -> None:
        self.instruments = instruments
        self.direct = direct  # see ServerMetrics.bind
        self._kinds: dict[str, tuple[Any, list[Any]]] = {}  # SQL text -> histogram cells (bounded)
        self._errors: dict[str, Any] = {}

    def __call__(self, sql: str, seconds: float, failure: BaseException | None) -> None:
        total, buckets = self._kinds.get(sql) or self._kind(sql)
        if self.direct:  # see ServerMetrics.responded
            total.value += seconds
            buckets[bisect_left(BUCKETS, seconds)].value += 1
        else:
            total.inc(seconds)
            buckets[bisect_left(BUCKETS, seconds)].inc(1)
        if failure is not None:
            self.failed(failure)

    def _kind(self, sql: str) -> tuple[Any, list[Any]]:
        values = histogram_cells(self.instruments.statement_duration.labels(statement_kind(sql)))
        if len(self._kinds) < 1024:  # services with generated SQL must not grow this without end
            self._kinds[sql] = values
        return values

    def failed(self, exc: BaseException) -> None:
        sqlstate = getattr(exc, "sqlstate", None)
        label = str(sqlstate)[:2] if sqlstate else "unknown"
        child = self._errors.get(label)
        if child is None:
            child = self._errors[label] = self.instruments.db_errors.labels(label)
        child.inc()
