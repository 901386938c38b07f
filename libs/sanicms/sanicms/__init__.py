"""sanicms: Sanic microservices with one way to do config, data, calls, errors and tests.

The public API is what this module exports (``tests/test_public_api.py`` keeps it so). Beside
it: ``sanicms.testing`` (test helpers, with the ``[testing]`` extra: ``APITestCase``, the
throwaway PostgreSQL, services as processes) and ``sanicms.migrations`` (``MigrationModel``,
``info``). ``sanicms.tests`` is the original design's name for ``sanicms.testing``, and
``sanicms.exception`` its name for the error classes (``from sanicms.exception import ServerError``).

Parts: ``contract/`` (docs, validation, OpenAPI), ``data/`` (database, SQL, migrations),
``calls/`` (clients of other services, resilience), ``tracing/``, ``metrics/`` (Prometheus),
``testing/``; and at the top the app factory, settings, errors, responses, logs, health, auth
and the command line.
"""

# First, so that peewee and sanic-ext come in without what no service uses (sanicms/imports.py).
from . import imports  # noqa: F401

# isort: split
from . import auth
from .admission import Overloaded
from .app import create_app
from .calls.client import Clients, DownstreamError, ServiceClient, gather
from .calls.references import References
from .cli import main
from .config import ConfigError, Settings, load_settings, service_url_setting
from .contract import doc
from .contract.params import Page, ids_from, page_from
from .contract.published import published_shape
from .data.db import Cursor, Database, Stateless
from .data.sql import Table
from .deadlines import DeadlineExceeded
from .errors import (
    ApiError,
    BadGateway,
    BadRequest,
    Conflict,
    ErrorCode,
    Forbidden,
    GatewayTimeout,
    NotFound,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    ValidationError,
)
from .logs import configure_logging
from .responses import respond
from .tracing import logger

__all__ = [
    "ApiError",
    "BadGateway",
    "BadRequest",
    "Clients",
    "ConfigError",
    "Conflict",
    "Cursor",
    "Database",
    "DeadlineExceeded",
    "DownstreamError",
    "ErrorCode",
    "Forbidden",
    "GatewayTimeout",
    "NotFound",
    "Overloaded",
    "Page",
    "References",
    "ServerError",
    "ServiceClient",
    "ServiceUnavailable",
    "Settings",
    "Stateless",
    "Table",
    "Unauthorized",
    "ValidationError",
    "auth",
    "configure_logging",
    "create_app",
    "doc",
    "gather",
    "ids_from",
    "load_settings",
    "logger",
    "main",
    "page_from",
    "published_shape",
    "respond",
    "service_url_setting",
]
