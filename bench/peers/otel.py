"""OpenTelemetry tracing for the traced peers, set up the way the OpenTelemetry Python docs
show it: an SDK ``TracerProvider`` with the service's name as its resource, every trace
sampled (``ParentBased(ALWAYS_ON)``: a new trace is kept, a caller's decision followed),
spans batched by a ``BatchSpanProcessor`` (its defaults: 5 s schedule, 512 a batch, 2048
queued at most) into the Zipkin JSON exporter, POSTing v2 JSON to ``ZIPKIN_URL``.

That is the fake collector of ``make bench`` (bench/collector.py), the same one sanicms
reports to.
"""

from __future__ import annotations

import atexit
import os

from opentelemetry import trace
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased


def setup_tracing(default_name: str) -> TracerProvider:
    """The global tracer provider, exporting to ``$ZIPKIN_URL/api/v2/spans``.

    ``OTEL_SERVICE_NAME`` names the service (the bench gives every peer a name of its own,
    so that spans can be counted per variant)."""
    name = os.environ.get("OTEL_SERVICE_NAME") or default_name
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}), sampler=ParentBased(ALWAYS_ON))
    endpoint = os.environ["ZIPKIN_URL"].rstrip("/") + "/api/v2/spans"
    provider.add_span_processor(BatchSpanProcessor(ZipkinExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    atexit.register(provider.shutdown)  # the last batch, on a clean exit
    return provider
