"""Tracing's and the metrics' observers are given to the pool and the clients when the app
factory makes them, and bound to the worker's tracer and instruments when the server starts:
nothing is added to a pool or a client afterwards."""

from __future__ import annotations

import itertools

from sanicms import create_app, load_settings
from sanicms.metrics import MetricHooks
from sanicms.metrics.hooks import CallMetrics, RetryCounter, StatementMetrics
from sanicms.tracing import ClientSpans, SpanHooks, SqlSpans


def _settings(**env: str):
    return load_settings(environ={"SERVICE_NAME": "things", "DATABASE_URL": "postgresql://db.example/things",
                                  "CITY_SERVICE_URL": "http://city.example:8010", "DOWNSTREAM_SERVICES": "city",
                                  **env})


_names = itertools.count()


def _app(**env: str):
    return create_app(_settings(**env), name=f"instrumented{next(_names)}")


def test_the_factory_gives_the_pool_and_each_client_their_observers_when_it_makes_them():
    app = _app(TRACING_ENABLED="true", METRICS_ENABLED="true")
    db, city = app.ctx.db, app.ctx.clients.city
    assert [type(o) for o in db.observers] == [SqlSpans]
    assert [type(t) for t in db.timers] == [StatementMetrics]
    assert [type(o) for o in city.observers] == [ClientSpans, CallMetrics]  # spans outermost
    assert [type(r) for r in city.retry_listeners] == [RetryCounter]
    assert isinstance(app.ctx.span_hooks, SpanHooks) and isinstance(app.ctx.metrics.hooks, MetricHooks)
    assert app.ctx.span_hooks.made == [db.observers[0], city.observers[0]]


def test_with_tracing_and_metrics_off_nothing_observes():
    app = _app(TRACING_ENABLED="false", METRICS_ENABLED="false")
    db, city = app.ctx.db, app.ctx.clients.city
    assert db.observers == () and db.timers == () and db.statement_observer is None
    assert city.observers == () and city.retry_listeners == () and city.observe is None


def test_binding_hands_every_hook_made_the_same_tracer():
    hooks = SpanHooks(_settings(TRACING_ENABLED="true").tracing)
    made = [*hooks.statement_observers("postgresql://a/b", "primary"), *hooks.call_observers("city", "http://c")]
    tracer = object()
    hooks.bind(tracer)  # type: ignore[arg-type]
    assert [m.tracer for m in made] == [tracer, tracer]
    assert hooks.statement_timers("postgresql://a/b", "primary") == [] and hooks.retry_listeners("city") == []
