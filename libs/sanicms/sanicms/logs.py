"""Logging from ``logging.yml``: JSON lines that name the service and the current trace.

A JSON line carries ``traceId`` and ``spanId`` while a request is being handled, so a log
search leads straight to the trace in Zipkin. ``LOG_FORMAT=text`` gives readable lines for
local development. The formatter is a few lines of our own rather than a dependency: the
keys are fixed by what the log pipeline expects, and orjson keeps it cheap.
"""

from __future__ import annotations

import logging
import logging.config
import time
from pathlib import Path
from typing import Any

import orjson
import yaml

from .auth import current_principal
from .config import ConfigError, LoggingSettings
from .context import trace_ids

DEFAULT_CONFIG = Path(__file__).with_name("logging.yml")

# Attributes every LogRecord has; anything else was passed in ``extra`` and is kept.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_OWN = {"service", "traceId", "spanId", "subject"}


def configure_logging(settings: LoggingSettings, *, service: str = "") -> None:
    """Apply ``LOG_CONFIG`` (default: the library's ``logging.yml``) with the settings'
    format and level, naming ``service`` in every line."""
    path = Path(settings.config or DEFAULT_CONFIG)
    config = yaml.safe_load(path.read_text())
    # dictConfig's default would silence every logger created before this call (the library's).
    config.setdefault("disable_existing_loggers", False)
    handlers = config.get("handlers", {})
    if "console" in handlers and settings.format:
        if settings.format not in config.get("formatters", {}):
            raise ConfigError(f"setting LOG_FORMAT: {path} has no formatter {settings.format!r}")
        handlers["console"]["formatter"] = settings.format
    if settings.level:
        config.setdefault("root", {})["level"] = settings.level.upper()
    trace_filter = config.get("filters", {}).get("trace_context")
    if trace_filter is not None:
        trace_filter.setdefault("service", service)
    logging.config.dictConfig(config)


class MissingFileFilter(logging.Filter):
    """Sanic logs a request for a static file that is not there (a path traversal attempt
    among them) as an ERROR with an empty traceback ("NoneType: None"). It is the client's
    doing and answered 404: a WARNING, still there for whoever watches for probes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and str(record.msg).startswith("File not found:"):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        return True


class TraceContextFilter(logging.Filter):
    """Adds ``service``, ``traceId`` and ``spanId`` (empty outside a traced request)."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service or ""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = trace_ids()
        record.traceId, record.spanId = ids if ids is not None else ("", "")
        record.service = self.service
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ms), level, logger, message, service, traceId,
    spanId, the caller's subject when a token was checked, any ``extra`` fields, and
    ``exception`` text when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": getattr(record, "service", ""),
        }
        trace_id = getattr(record, "traceId", "")  # set by TraceContextFilter, with spanId
        if trace_id:
            out["traceId"] = trace_id
            out["spanId"] = getattr(record, "spanId", "")
        principal = current_principal.get()
        if principal is not None:
            out["subject"] = principal.subject
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in _OWN:
                out.setdefault(key, value)  # an extra named "time" or "level" never replaces ours
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(out, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def _utc(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"
