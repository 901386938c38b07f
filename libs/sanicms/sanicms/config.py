"""Settings: Django-like modules of UPPER_CASE names, overridable from the environment.

Resolution order, later wins:
  1. the library defaults below (``DEFAULTS``),
  2. the service's settings module (``SANIC_CONFIG_MODULE`` or the service's default),
  3. environment variables with the same name as a setting.

Environment values are coerced to the type of the value they replace, so
``PORT=abc`` is refused with one line naming ``PORT`` instead of a traceback at bind time.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

CONFIG_MODULE_ENV = "SANIC_CONFIG_MODULE"

#: Every setting the library reads, with its default. Services add their own names.
DEFAULTS: dict[str, Any] = {
    "SERVICE_NAME": "service",
    "HOST": "127.0.0.1",
    "PORT": 8000,
    "WORKERS": 1,
    "DEBUG": False,
    # PostgreSQL, one database per service.
    "DATABASE_URL": "",
    "DB_POOL_MIN_SIZE": 2,
    "DB_POOL_MAX_SIZE": 10,
    "DB_CONNECT_TIMEOUT": 5.0,  # seconds to open a connection or wait for a free one
    "DB_COMMAND_TIMEOUT": 10.0,  # seconds one statement may run
    # Downstream services: each name in DOWNSTREAM_SERVICES needs <NAME>_SERVICE_URL.
    "DOWNSTREAM_SERVICES": [],
    "CLIENT_TIMEOUT": 5.0,  # seconds for a whole downstream call
    "CLIENT_CONNECT_TIMEOUT": 1.0,
    "CLIENT_POOL_SIZE": 100,  # open connections per downstream
    "CLIENT_RETRIES": 2,  # extra attempts for GET on connection errors and 502/503/504
    "CLIENT_RETRY_BACKOFF": 0.05,  # seconds, doubled per attempt, full jitter
    "CLIENT_RETRY_BACKOFF_MAX": 1.0,
    "CLIENT_BREAKER_THRESHOLD": 5,  # consecutive failures that open the circuit (0: never)
    "CLIENT_BREAKER_RESET": 5.0,  # seconds open before one probe call is let through
    # HTTP limits (Sanic's own names).
    "REQUEST_MAX_SIZE": 1_000_000,
    "REQUEST_TIMEOUT": 30,
    "RESPONSE_TIMEOUT": 30,
    "KEEP_ALIVE_TIMEOUT": 5,
    "GRACEFUL_SHUTDOWN_TIMEOUT": 15.0,
    # CORS, applied by sanic-ext (same names). No "*" by default: list the origins
    # of the front ends that may call the API.
    "CORS_ORIGINS": [],
    "CORS_ALLOW_HEADERS": ["content-type", "authorization", "x-request-id"],
    "CORS_EXPOSE_HEADERS": ["x-trace-id"],  # response headers the allowed origins' code may read
    "CORS_METHODS": ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    "CORS_SUPPORTS_CREDENTIALS": False,
    "CORS_MAX_AGE": 600,
    # Pagination.
    "PAGE_SIZE_DEFAULT": 20,
    "PAGE_SIZE_MAX": 100,
    # Tracing (Zipkin v2 spans). Transports: "http" (POST to ZIPKIN_URL) and/or "log"
    # (one span per line on the sanicms.spans logger); empty: "http" if ZIPKIN_URL is set.
    "TRACING_ENABLED": True,
    "TRACING_SAMPLE_RATE": 1.0,  # share of new traces kept; a caller's decision is followed
    "TRACING_TRANSPORTS": [],
    "ZIPKIN_URL": "",  # e.g. http://127.0.0.1:9411
    "TRACING_QUEUE_SIZE": 10_000,  # finished spans held at most; more are dropped and counted
    "TRACING_BATCH_SIZE": 500,
    "TRACING_FLUSH_INTERVAL": 1.0,  # seconds between sends while fewer than a batch wait
    "TRACING_SEND_TIMEOUT": 2.0,  # seconds per POST to the collector
    "TRACING_SEND_RETRIES": 1,
    "TRACING_FLUSH_TIMEOUT": 5.0,  # seconds spent sending what is left at shutdown
    "TRACING_DROP_LOG_INTERVAL": 10.0,  # seconds between warnings that spans were dropped
    "TRACING_UNTRACED_PATHS": ["/healthz", "/readyz", "/openapi"],  # path prefixes
    # Access control (sanicms.auth): JWT bearer tokens, a shared secret (HS256) or a JWKS URL.
    "AUTH_ENABLED": False,
    "AUTH_SECRET": "",  # HS256 key, at least 32 bytes; or:
    "AUTH_JWKS_URL": "",  # the identity provider's public keys (RS256 / ES256)
    "AUTH_ALGORITHMS": [],  # allowed "alg"s; empty: HS256 with a secret, RS256 and ES256 with JWKS
    "AUTH_ISSUER": "",  # required "iss" when set
    "AUTH_AUDIENCE": "",  # required "aud" when set
    "AUTH_LEEWAY": 30.0,  # seconds of clock skew allowed on exp / nbf
    "AUTH_DEFAULT_POLICY": "scopes",  # scopes: <service>:read / <service>:write; or authenticated
    "AUTH_PUBLIC_PATHS": ["/healthz", "/readyz", "/metrics", "/openapi"],  # path prefixes
    "AUTH_JWKS_TTL": 300.0,  # seconds keys are trusted before a refetch
    "AUTH_JWKS_MIN_REFRESH": 30.0,  # seconds between refetches for unknown kids
    "AUTH_JWKS_TIMEOUT": 2.0,  # seconds per JWKS fetch
    "AUTH_MAX_TOKEN_BYTES": 8192,  # longer tokens are refused unread
    "AUTH_FORWARD_TOKEN": True,  # pass the caller's token on to downstream services
    "AUTH_SERVICE_TOKEN": "",  # or call them with this token of the service's own
    # Logging, from logging.yml (LOG_CONFIG: your own file instead of the library's).
    "LOG_CONFIGURE": True,  # configure Python logging when the server starts
    "LOG_CONFIG": "",
    "LOG_FORMAT": "json",  # json or text
    "LOG_LEVEL": "INFO",
    "ACCESS_LOG": False,  # a line per request from sanic.access (health checks included)
}

#: Settings that must hold a non-empty value before the service may start.
REQUIRED = ("SERVICE_NAME", "DATABASE_URL")


class ConfigError(Exception):
    """A setting is missing or invalid; the message is one line naming it."""


def load_settings(
    default_module: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the settings of one service and check them.

    ``default_module`` is used when ``SANIC_CONFIG_MODULE`` is unset; ``overrides`` win
    over everything (tests use them instead of mutating ``os.environ``).
    """
    environ = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    module_name = environ.get(CONFIG_MODULE_ENV) or default_module
    if module_name:
        settings.update(module_settings(_import(module_name)))
    settings.update(env_overrides(settings, environ))
    settings.update(overrides or {})
    validate(settings)
    return settings


def module_settings(module: ModuleType) -> dict[str, Any]:
    """The UPPER_CASE names of a settings module."""
    return {k: getattr(module, k) for k in dir(module) if k.isupper() and not k.startswith("_")}


def env_overrides(settings: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Environment values for known settings, coerced to the type of the current value."""
    found = {}
    for name in _known_names(settings):
        if name in environ:
            found[name] = coerce(name, environ[name], settings.get(name, ""))
    return found


def _known_names(settings: Mapping[str, Any]) -> list[str]:
    names = list(settings)
    for service in settings.get("DOWNSTREAM_SERVICES") or []:
        names.append(service_url_setting(service))
    return names


def service_url_setting(service: str) -> str:
    """The setting holding a downstream's base URL: ``city`` -> ``CITY_SERVICE_URL``."""
    return f"{service.upper().replace('-', '_')}_SERVICE_URL"


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def coerce(name: str, raw: str, current: Any) -> Any:
    """Turn an environment string into the type of ``current``."""
    raw = raw.strip()
    try:
        if isinstance(current, bool):
            if raw.lower() in _TRUE | _FALSE:
                return raw.lower() in _TRUE
            raise ValueError
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, float):
            return float(raw)
        if isinstance(current, (list, tuple)):
            if raw.startswith("["):
                value = json.loads(raw)
                if not isinstance(value, list):
                    raise ValueError
                return value
            return [part.strip() for part in raw.split(",") if part.strip()]
        if isinstance(current, dict):
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError
            return value
    except ValueError:
        kind = type(current).__name__
        raise ConfigError(f"setting {name}: expected {kind}, got {raw!r} from the environment") from None
    return raw


def validate(settings: Mapping[str, Any]) -> None:
    """Refuse settings the service cannot run with, naming the first bad one."""
    for name in REQUIRED:
        if not settings.get(name):
            raise ConfigError(f"setting {name} is required but empty (set it in the environment)")
    _check_url("DATABASE_URL", settings["DATABASE_URL"], ("postgres", "postgresql"))
    _check_port("PORT", settings["PORT"])
    for name in ("WORKERS", "DB_POOL_MIN_SIZE", "DB_POOL_MAX_SIZE", "CLIENT_POOL_SIZE", "REQUEST_MAX_SIZE"):
        _check_positive(name, settings[name], allow_zero=name == "DB_POOL_MIN_SIZE")
    for name in ("CLIENT_TIMEOUT", "CLIENT_CONNECT_TIMEOUT", "DB_CONNECT_TIMEOUT", "DB_COMMAND_TIMEOUT"):
        _check_positive(name, settings[name])
    if settings["DB_POOL_MIN_SIZE"] > settings["DB_POOL_MAX_SIZE"]:
        raise ConfigError("setting DB_POOL_MIN_SIZE: must not exceed DB_POOL_MAX_SIZE")
    if "*" in settings["CORS_ORIGINS"] and settings["CORS_SUPPORTS_CREDENTIALS"]:
        raise ConfigError("setting CORS_ORIGINS: '*' is not allowed with CORS_SUPPORTS_CREDENTIALS")
    _check_tracing(settings)
    _check_logging(settings)
    _check_auth(settings)
    for service in settings["DOWNSTREAM_SERVICES"]:
        name = service_url_setting(service)
        if not settings.get(name):
            raise ConfigError(f"setting {name} is required: base URL of the {service} service")
        _check_url(name, settings[name], ("http", "https"))


TRANSPORTS = ("http", "log")
LOG_FORMATS = ("json", "text")


def _check_tracing(settings: Mapping[str, Any]) -> None:
    rate = settings["TRACING_SAMPLE_RATE"]
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
        raise ConfigError(f"setting TRACING_SAMPLE_RATE: expected a number from 0 to 1, got {rate!r}")
    for name in ("TRACING_QUEUE_SIZE", "TRACING_BATCH_SIZE", "TRACING_FLUSH_INTERVAL",
                 "TRACING_SEND_TIMEOUT", "TRACING_FLUSH_TIMEOUT", "TRACING_DROP_LOG_INTERVAL"):
        _check_positive(name, settings[name])
    _check_positive("TRACING_SEND_RETRIES", settings["TRACING_SEND_RETRIES"], allow_zero=True)
    for transport in settings["TRACING_TRANSPORTS"]:
        if transport not in TRANSPORTS:
            raise ConfigError(f"setting TRACING_TRANSPORTS: unknown transport {transport!r} "
                              f"(choose from {', '.join(TRANSPORTS)})")
    if settings["ZIPKIN_URL"] or "http" in settings["TRACING_TRANSPORTS"]:
        _check_url("ZIPKIN_URL", settings["ZIPKIN_URL"], ("http", "https"))


SYMMETRIC_ALGORITHMS = ("HS256", "HS384", "HS512")
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512")


def auth_algorithms(settings: Mapping[str, Any]) -> tuple[str, ...]:
    """``AUTH_ALGORITHMS``, or HS256 with a shared secret, RS256 and ES256 with a JWKS URL."""
    return tuple(settings["AUTH_ALGORITHMS"]) or (("HS256",) if settings["AUTH_SECRET"] else ("RS256", "ES256"))


def _check_auth(settings: Mapping[str, Any]) -> None:
    if not settings["AUTH_ENABLED"]:
        return
    secret, jwks = settings["AUTH_SECRET"], settings["AUTH_JWKS_URL"]
    if bool(secret) == bool(jwks):
        raise ConfigError("setting AUTH_SECRET / AUTH_JWKS_URL: set exactly one of them when AUTH_ENABLED")
    if jwks:
        _check_url("AUTH_JWKS_URL", jwks, ("http", "https"))
    elif len(secret.encode()) < 32:
        raise ConfigError("setting AUTH_SECRET: use at least 32 bytes")
    allowed = SYMMETRIC_ALGORITHMS if secret else ASYMMETRIC_ALGORITHMS
    wrong = [a for a in auth_algorithms(settings) if a not in allowed]
    if wrong:  # never "none", and never an HMAC key where public keys are meant (or back)
        kind = "a shared secret" if secret else "a JWKS URL"
        raise ConfigError(f"setting AUTH_ALGORITHMS: {', '.join(wrong)} cannot be used with {kind}")
    if settings["AUTH_DEFAULT_POLICY"] not in ("scopes", "authenticated"):
        raise ConfigError(f"setting AUTH_DEFAULT_POLICY: expected scopes or authenticated, "
                          f"got {settings['AUTH_DEFAULT_POLICY']!r}")
    for name in ("AUTH_LEEWAY", "AUTH_JWKS_MIN_REFRESH"):
        _check_positive(name, settings[name], allow_zero=True)
    for name in ("AUTH_JWKS_TTL", "AUTH_JWKS_TIMEOUT", "AUTH_MAX_TOKEN_BYTES"):
        _check_positive(name, settings[name])


def _check_logging(settings: Mapping[str, Any]) -> None:
    if not settings["LOG_CONFIG"] and settings["LOG_FORMAT"] not in LOG_FORMATS:
        raise ConfigError(f"setting LOG_FORMAT: expected json or text, got {settings['LOG_FORMAT']!r}")
    if str(settings["LOG_LEVEL"]).upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"setting LOG_LEVEL: expected DEBUG, INFO, WARNING, ERROR or CRITICAL, "
                          f"got {settings['LOG_LEVEL']!r}")
    if settings["LOG_CONFIG"] and not os.path.isfile(settings["LOG_CONFIG"]):
        raise ConfigError(f"setting LOG_CONFIG: no such file {settings['LOG_CONFIG']!r}")


def _check_url(name: str, value: Any, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(str(value))
    if parts.scheme not in schemes:
        raise ConfigError(f"setting {name}: expected a {'/'.join(schemes)}:// URL, got scheme {parts.scheme!r}")
    if parts.scheme.startswith("http") and not parts.hostname:
        raise ConfigError(f"setting {name}: URL has no host")


def _check_port(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
        raise ConfigError(f"setting {name}: expected a port number 0-65535, got {value!r}")


def _check_positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"setting {name}: expected a positive number, got {value!r}")


def _import(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{CONFIG_MODULE_ENV}={module_name!r} cannot be imported: {exc}") from None
