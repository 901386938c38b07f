"""Sanic + OpenTelemetry: the bare peer's ``GET /cities/<id>`` (bare_sanic.py, same query,
same JSON, sanic-ext not loaded) traced the way a team would trace a Sanic service:
opentelemetry-instrumentation-sanic (a SERVER span per request, context made current,
``traceparent`` and ``X-Trace-Id`` on the answer), opentelemetry-instrumentation-asyncpg (a
CLIENT span per statement) and the Zipkin JSON exporter behind a BatchSpanProcessor, every
trace sampled (peers/otel.py).

opentelemetry-python-contrib has no Sanic instrumentation; opentelemetry-instrumentation-sanic
on PyPI is a third-party package (one release, 1.0.0), configured as its README says:
``SanicInstrumentor().instrument()`` before the app is constructed. It also records the HTTP
server metrics through the global meter provider, which nothing sets here, so those are the
API's no-op instruments."""

import os

from otel import setup_tracing

provider = setup_tracing("sanic-otel-city")

# Imported once tracing is set up, and the app's modules once instrumented (the
# instrumentation's README order): hence the E402 exceptions.
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor  # noqa: E402
from opentelemetry.instrumentation.sanic import SanicInstrumentor  # noqa: E402

SanicInstrumentor().instrument(tracer_provider=provider)
AsyncPGInstrumentor().instrument(tracer_provider=provider)

from bare_sanic import create_app  # noqa: E402
from sanic import Sanic  # noqa: E402


def create_traced_app() -> Sanic:
    return create_app("sanic_otel_city")


if __name__ == "__main__":
    from sanic.worker.loader import AppLoader

    app = AppLoader(factory=create_traced_app).load()
    app.prepare(host="127.0.0.1", port=int(os.environ["PORT"]), single_process=True, access_log=False, motd=False)
    Sanic.serve_single(primary=app)
