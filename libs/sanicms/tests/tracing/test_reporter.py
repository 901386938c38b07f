"""``sanicms.tracing.reporter``, the first import path of the span queue and its transports,
names the same objects as the processor and exporter modules they now live in."""

from sanicms.tracing import exporter, processor, reporter


def test_the_old_import_path_names_the_same_objects():
    assert reporter.SpanReporter is processor.SpanReporter
    for name in ("SPAN_LOGGER", "HttpTransport", "LogTransport", "Transport", "TransportError"):
        assert getattr(reporter, name) is getattr(exporter, name), name
    assert set(reporter.__all__) == {"SPAN_LOGGER", "HttpTransport", "LogTransport", "SpanReporter", "Transport",
                                     "TransportError"}
