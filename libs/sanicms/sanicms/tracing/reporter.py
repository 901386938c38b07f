"""The span queue and its transports, by their first import path: the batch processor
(:class:`SpanReporter`) lives in :mod:`sanicms.tracing.processor`, the transports in
:mod:`sanicms.tracing.exporter`."""

from .exporter import SPAN_LOGGER, HttpTransport, LogTransport, Transport, TransportError
from .processor import SpanReporter

__all__ = ["SPAN_LOGGER", "HttpTransport", "LogTransport", "SpanReporter", "Transport", "TransportError"]
