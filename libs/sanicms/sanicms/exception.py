"""The original design's import path for the error classes: ``from sanicms.exception import
ServerError``. They live in :mod:`sanicms.errors` (and are exported by :mod:`sanicms`)."""

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

__all__ = [
    "ApiError",
    "BadGateway",
    "BadRequest",
    "Conflict",
    "ErrorCode",
    "Forbidden",
    "GatewayTimeout",
    "NotFound",
    "ServerError",
    "ServiceUnavailable",
    "Unauthorized",
    "ValidationError",
]
