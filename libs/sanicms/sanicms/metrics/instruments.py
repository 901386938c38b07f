"""The metric families of one app, with the names agreed in docs/metrics.md.

Each app gets its own :class:`Instruments` (and, with one worker, its own registry), so two
apps in one process never mix their figures. Label children are looked up once and kept:
``Counter.labels()`` validates and locks on every call, a dict lookup does not. The request
path adds to their values directly, with no call at all (:mod:`sanicms._compat.prometheus_client`,
and why: docs/benchmarks.md, "Figures from the code").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: Seconds; the same buckets for every duration histogram.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

DOWNSTREAM_OUTCOMES = ("2xx", "3xx", "4xx", "5xx", "timeout", "connection_error", "circuit_open", "bad_response")
BREAKER_STATES = ("closed", "half_open", "open")
STATEMENT_KINDS = ("select", "insert", "update", "delete", "other")

#: The request duration histogram's family: exemplars are kept by family name.
REQUEST_DURATION = "sanicms_http_request_duration_seconds"

#: Gauges are summed over the live workers (``livesum``): a dead worker's share disappears.
_SUM: Final[Literal["livesum"]] = "livesum"


class Instruments:
    """Every family, registered on ``registry`` (None with several workers: the values go to
    the shared files and a collector of those answers the scrape)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry
        self.requests = Counter("sanicms_http_requests", "HTTP requests answered, by route template and status",
                                ("method", "route", "status"), registry=r)
        self.request_duration = Histogram(REQUEST_DURATION,
                                          "Time from the request's arrival to its response, by route template",
                                          ("method", "route"), buckets=BUCKETS, registry=r)
        self.in_flight = Gauge("sanicms_http_requests_in_flight", "Requests being handled now",
                               registry=r, multiprocess_mode=_SUM)
        self.concurrency_limit = Gauge("sanicms_http_concurrency_limit", "Requests in flight admitted at once: "
                                       "MAX_CONCURRENT_REQUESTS, or the adaptive limit under it (0: no limit)",
                                       registry=r, multiprocess_mode=_SUM)
        self.requests_shed = Counter("sanicms_http_requests_shed", "Requests refused at once because "
                                     "MAX_CONCURRENT_REQUESTS were in flight (also counted as 503s)", registry=r)
        self.calls = Counter("sanicms_downstream_calls", "Calls to other services, by outcome",
                             ("neighbour", "method", "outcome"), registry=r)
        self.call_duration = Histogram("sanicms_downstream_call_duration_seconds",
                                       "Time a call to another service took, retries included (circuit-open "
                                       "refusals excluded)", ("neighbour",), buckets=BUCKETS, registry=r)
        self.retries = Counter("sanicms_downstream_retries", "Extra attempts of idempotent calls",
                               ("neighbour",), registry=r)
        self.breaker_state = Gauge("sanicms_circuit_breaker_state",
                                   "Worker processes whose circuit breaker for the neighbour is in this state",
                                   ("neighbour", "state"), registry=r, multiprocess_mode=_SUM)
        self.breaker_transitions = Counter("sanicms_circuit_breaker_transitions",
                                           "Circuit breaker state changes, by the state entered",
                                           ("neighbour", "to"), registry=r)
        pool = ("role", "server")  # primary or replica, host:port: one series per pool
        self.pool_size = Gauge("sanicms_db_pool_size", "Open database connections",
                               pool, registry=r, multiprocess_mode=_SUM)
        self.pool_in_use = Gauge("sanicms_db_pool_connections_in_use", "Database connections lent to requests",
                                 pool, registry=r, multiprocess_mode=_SUM)
        self.pool_idle = Gauge("sanicms_db_pool_connections_idle", "Open database connections not in use",
                               pool, registry=r, multiprocess_mode=_SUM)
        self.pool_waiters = Gauge("sanicms_db_pool_waiters", "Requests waiting for a free database connection",
                                  pool, registry=r, multiprocess_mode=_SUM)
        self.replica_usable = Gauge("sanicms_db_replica_usable", "Worker processes reading from this replica",
                                    ("server",), registry=r, multiprocess_mode=_SUM)
        self.statement_duration = Histogram("sanicms_db_statement_duration_seconds",
                                            "Time a SQL statement took, by its first keyword", ("kind",),
                                            buckets=BUCKETS, registry=r)
        self.db_errors = Counter("sanicms_db_errors", "Failed SQL statements, by SQLSTATE class",
                                 ("sqlstate_class",), registry=r)
        self.spans_reported = Counter("sanicms_tracing_spans_reported", "Spans accepted on the send queue",
                                      registry=r)
        self.spans_sent = Counter("sanicms_tracing_spans_sent", "Spans delivered to the collector", registry=r)
        self.spans_dropped = Counter("sanicms_tracing_spans_dropped", "Spans dropped because the queue was full",
                                     registry=r)
        self.send_failures = Counter("sanicms_tracing_send_failures",
                                     "Batches of spans a transport failed to deliver", registry=r)
        self.queue_length = Gauge("sanicms_tracing_queue_length", "Spans waiting to be sent",
                                  registry=r, multiprocess_mode=_SUM)
        # what the reporter had counted at the last refresh: counters move by the difference
        self._tracing_seen = (0, 0, 0, 0)

    # ---- circuit breakers ----------------------------------------------------------------

    def breaker_listener(self, neighbour: str) -> Callable[[str, str], None]:
        """``CircuitBreaker.on_change`` for ``neighbour``: this worker counts in the new state."""
        states = {state: self.breaker_state.labels(neighbour, state) for state in BREAKER_STATES}
        transitions = {state: self.breaker_transitions.labels(neighbour, state) for state in BREAKER_STATES}
        states["closed"].set(1)
        for state in ("half_open", "open"):
            states[state].set(0)

        def changed(old: str, new: str) -> None:
            old, new = old.replace("-", "_"), new.replace("-", "_")
            states[old].set(0)
            states[new].set(1)
            transitions[new].inc()
        return changed

    # ---- figures read now and then (each scrape; with several workers also on a timer) ---

    def refresh(self, pools: list[dict[str, Any]], tracing: tuple[int, int, int, int] | None,
                queued: int) -> None:
        """Pool gauges from ``Database.pools()``; tracing counters moved by what the reporter
        counted since the last refresh (``reported, sent, dropped, send failures``)."""
        for pool in pools:
            labels = (pool["role"], pool["server"])
            self.pool_size.labels(*labels).set(pool["size"])
            self.pool_in_use.labels(*labels).set(pool["in_use"])
            self.pool_idle.labels(*labels).set(pool["idle"])
            self.pool_waiters.labels(*labels).set(pool["waiting"])
            if pool["role"] == "replica":
                self.replica_usable.labels(pool["server"]).set(pool["state"] == "in")
        if tracing is None:
            return
        seen, self._tracing_seen = self._tracing_seen, tracing
        for counter, now, before in zip((self.spans_reported, self.spans_sent, self.spans_dropped,
                                         self.send_failures), tracing, seen, strict=True):
            if now > before:
                counter.inc(now - before)
        self.queue_length.set(queued)
