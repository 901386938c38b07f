"""Prometheus metrics: requests by route, downstream calls, the database, tracing and the
process, on ``/metrics`` (docs/metrics.md lists every family).

``install``/``start``/``stop`` are called by the app factory. With several workers the
figures of all of them are summed in every scrape (``workers.py`` says how).
"""

from .hooks import MetricHooks
from .instruments import BUCKETS, Instruments
from .wiring import AppMetrics, install, instrumentation, start, stop

__all__ = ["BUCKETS", "AppMetrics", "Instruments", "MetricHooks", "install", "instrumentation", "start", "stop"]
