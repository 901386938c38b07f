"""Downstream calls and SQL statements, measured through the observer lists their modules
offer, given when the pool and the clients are made (:class:`MetricHooks`) and bound to the
worker's instruments when the server starts. Calls: one of ``ServiceClient.observers``, and a
retry listener; breaker changes through ``CircuitBreaker.on_change``. Statements: one of
``Database.timers``, a plain call after each one (cheaper than a context manager around it).
Those modules never import this one.
"""

from __future__ import annotations

from bisect import bisect_left
from time import perf_counter
from typing import Any

from sanic import Request

from .._compat.prometheus_client import histogram_cells
from ..calls.client import DownstreamError, ServiceClient
from ..errors import ApiError, ErrorCode
from .instruments import BUCKETS, DOWNSTREAM_OUTCOMES, Instruments

_OUTCOMES = {
    ErrorCode.DOWNSTREAM_TIMEOUT: "timeout",
    ErrorCode.DEADLINE_EXCEEDED: "timeout",  # the caller's budget ran out, or the neighbour's did
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


class MetricHooks:
    """The metrics' :class:`~sanicms.observers.Instrumentation`: a :class:`StatementMetrics`
    per pool, a :class:`CallMetrics` and a :class:`RetryCounter` per client, given when they
    are made and bound to the worker's instruments when the server starts (:meth:`bind`)."""

    def __init__(self) -> None:
        self.statements: list[StatementMetrics] = []
        self.calls: list[CallMetrics] = []
        self.retries: list[RetryCounter] = []

    def statement_observers(self, dsn: str, role: str) -> list[Any]:
        return []

    def statement_timers(self, dsn: str, role: str) -> list[StatementMetrics]:
        self.statements.append(timer := StatementMetrics(None))
        return [timer]

    def call_observers(self, name: str, base_url: str) -> list[CallMetrics]:
        self.calls.append(observer := CallMetrics(None, name))
        return [observer]

    def retry_listeners(self, name: str) -> list[RetryCounter]:
        self.retries.append(counter := RetryCounter(name))
        return [counter]

    def bind(self, instruments: Instruments, *, direct: bool) -> None:
        for timer in self.statements:
            timer.bind(instruments, direct=direct)
        for observer in self.calls:
            observer.bind(instruments)
        for counter in self.retries:
            counter.bind(instruments)


class RetryCounter:
    """One of ``ServiceClient.retry_listeners``: counts the neighbour's retries."""

    __slots__ = ("counter", "neighbour")

    def __init__(self, neighbour: str) -> None:
        self.neighbour = neighbour
        self.counter: Any = None

    def bind(self, instruments: Instruments) -> None:
        self.counter = instruments.retries.labels(self.neighbour)

    def __call__(self) -> None:
        self.counter.inc()


class CallMetrics:
    """One of ``ServiceClient.observers``: the call's outcome and duration. Made with the
    instruments, or bound to them later (:class:`MetricHooks`); a client given as the
    second argument (the form this had when it wrapped the client's single hook) gets it
    added to its observers, with the retry counter and breaker listener."""

    def __init__(self, instruments: Instruments | None, client: ServiceClient | str) -> None:
        neighbour = client if isinstance(client, str) else client.name
        self._neighbour = neighbour
        self._children: dict[tuple[str, str], Any] = {}
        if instruments is not None:
            self.bind(instruments)
        if isinstance(client, ServiceClient):
            assert instruments is not None, "bound at once when given a client"
            retries = RetryCounter(neighbour)
            retries.bind(instruments)
            client.observers += (self,)
            client.retry_listeners += (retries,)
            client.breaker.on_change = instruments.breaker_listener(neighbour)

    def bind(self, instruments: Instruments) -> None:
        self.duration = instruments.call_duration.labels(self._neighbour)
        self._calls = instruments.calls
        self._children.clear()

    def __call__(self, request: Request | None, service: str, method: str, url: str,
                 headers: dict[str, str]) -> _TimedCall:
        return _TimedCall(self, method)

    def count(self, method: str, outcome: str) -> None:
        key = (method, outcome)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._calls.labels(self._neighbour, method, outcome)
        child.inc()


class _TimedCall:
    __slots__ = ("method", "metrics", "started")

    def __init__(self, metrics: CallMetrics, method: str) -> None:
        self.metrics = metrics
        self.method = method
        self.started = 0.0

    def __enter__(self) -> _TimedCall:
        self.started = perf_counter()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        elapsed = perf_counter() - self.started
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
    """One of ``Database.timers``: each statement's duration by kind, its failures by SQLSTATE
    class. Made with the instruments, or bound to them later (:class:`MetricHooks`)."""

    def __init__(self, instruments: Instruments | None, *, direct: bool = False) -> None:
        self._kinds: dict[str, tuple[Any, list[Any]]] = {}  # SQL text -> histogram cells (bounded)
        self._errors: dict[str, Any] = {}
        if instruments is not None:
            self.bind(instruments, direct=direct)

    def bind(self, instruments: Instruments, *, direct: bool = False) -> None:
        self.instruments = instruments
        self.direct = direct  # see ServerMetrics.bind
        self._kinds.clear()
        self._errors.clear()

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
