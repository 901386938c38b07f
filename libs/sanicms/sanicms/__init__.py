"""sanicms: Sanic microservices with one way to do config, data, calls, errors and tests.

The public API is what this module exports; submodules are implementation detail unless
named here (``sanicms.tests`` holds the test helpers, ``sanicms.localdb`` the throwaway
PostgreSQL, ``sanicms.migrations`` the peewee migrations).
"""

from . import auth
from .contract import doc
from .app import create_app
from .cli import main
from .client import Clients, DownstreamError, ServiceClient, gather
from .config import ConfigError, load_settings, service_url_setting
from .db import Cursor, Database
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
from .contract.params import Page, ids_from, page_from
from .responses import respond
from .logs import configure_logging
from .sql import Table
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
    "DownstreamError",
    "ErrorCode",
    "Forbidden",
    "GatewayTimeout",
    "NotFound",
    "Page",
    "ServerError",
    "ServiceClient",
    "ServiceUnavailable",
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
    "respond",
    "service_url_setting",
]
