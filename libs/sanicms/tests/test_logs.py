"""Logging from logging.yml: JSON lines naming the service and the current trace."""

import io
import json
import logging

import pytest

from sanicms import configure_logging, load_settings
from sanicms.logs import JsonFormatter, TraceContextFilter
from sanicms.tracing import Tracer


class Collect:
    def report(self, span):
        pass


def line(logger_name="app", message="hello %s", *args, **extra):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(TraceContextFilter("city"))
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger(logger_name)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info(message, *args, extra=extra)
    finally:
        log.removeHandler(handler)
    return json.loads(stream.getvalue())


def test_a_json_line_outside_a_request():
    out = line("app", "hello %s", "world")
    assert out["message"] == "hello world" and out["level"] == "INFO" and out["logger"] == "app"
    assert out["service"] == "city"
    assert out["time"].endswith("Z") and len(out["time"]) == 24  # 2026-11-25T03:00:00.123Z
    assert "traceId" not in out


def test_a_json_line_inside_a_span_names_the_trace_and_keeps_extra_fields():
    tracer = Tracer("city", Collect())
    with tracer.start_active_span("GET /cities") as scope:
        out = line("app", "found", city_id=7)
    assert out["traceId"] == scope.span.context.trace_id
    assert out["spanId"] == scope.span.context.span_id
    assert out["city_id"] == 7


def test_exceptions_are_one_json_line_too():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("boom")
    log.addHandler(handler)
    try:
        raise ValueError("bad")
    except ValueError:
        log.exception("failed")
    finally:
        log.removeHandler(handler)
    assert stream.getvalue().count("\n") == 1
    assert "ValueError: bad" in json.loads(stream.getvalue())["exception"]


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    spans = logging.getLogger("sanicms.spans")
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    spans.handlers.clear()
    spans.propagate = True


def settings(**overrides):
    return load_settings(environ={}, overrides={"SERVICE_NAME": "city", "DATABASE_URL": "postgresql://x@h/db",
                                                **overrides})


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_configure_logging_from_the_library_logging_yml(fmt, capsys, restore_logging):
    configure_logging(settings(LOG_FORMAT=fmt, LOG_LEVEL="debug").logging, service="city")
    logging.getLogger("probe").debug("visible at debug")
    logging.getLogger("sanicms.spans").info('{"traceId": "x"}')
    out = capsys.readouterr().out.splitlines()
    assert logging.getLogger().level == logging.DEBUG
    if fmt == "json":
        assert json.loads(out[0])["message"] == "visible at debug"
    else:
        assert out[0].endswith("visible at debug") and " city probe " in out[0]
    assert out[1] == '{"traceId": "x"}'  # span lines are bare: a log shipper forwards them as they are


def test_a_request_for_a_missing_static_file_is_a_warning_without_a_traceback(capsys, restore_logging):
    configure_logging(settings(LOG_FORMAT="json").logging, service="city")
    sanic_error = logging.getLogger("sanic.error")
    try:
        sanic_error.exception("File not found: path=/srv/assets, relative_url=../../etc/passwd")  # as Sanic does
        sanic_error.error("something else broke")
    finally:
        sanic_error.filters.clear()
    missing, other = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert (missing["level"], "exception" in missing) == ("WARNING", False)
    assert other["level"] == "ERROR"


def test_log_config_points_at_your_own_file(tmp_path, capsys, restore_logging):
    own = tmp_path / "logging.yml"
    own.write_text("version: 1\nformatters: {short: {format: 'SHORT %(message)s'}}\n"
                   "handlers: {console: {class: logging.StreamHandler, stream: ext://sys.stdout, formatter: short}}\n"
                   "root: {level: INFO, handlers: [console]}\n")
    configure_logging(settings(LOG_CONFIG=str(own), LOG_FORMAT="short").logging, service="city")
    logging.getLogger("probe").info("mine")
    assert capsys.readouterr().out.strip() == "SHORT mine"


def test_extra_fields_never_replace_the_line_s_own_keys():
    """The log pipeline parses ``time`` as the event's time: an extra of that name must not
    take its place."""
    import json
    import logging

    from sanicms.logs import JsonFormatter

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    record.time, record.level, record.order = "yesterday", "LOUD", 7
    line = json.loads(JsonFormatter().format(record))
    assert line["time"].endswith("Z") and line["time"] != "yesterday"
    assert line["level"] == "INFO" and line["order"] == 7
