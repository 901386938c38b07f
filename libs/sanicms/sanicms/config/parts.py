"""The settings parts: one frozen dataclass per concern, and :class:`Settings`, made of them.

Each field is declared with :func:`~sanicms.config.schema.setting`: its one UPPER_CASE name,
its default, bounds and a line of documentation (``python -m sanicms settings`` prints them).
A part's ``check()`` holds what one field alone cannot say (a URL's scheme, a minimum below
its maximum); :func:`~sanicms.config.schema.build` calls it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from typing import Any

from .schema import ConfigError, S, build, check_url, declared, service_url_setting, setting


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    name: str = setting("SERVICE_NAME", "service", "name in logs, traces and the app")
    host: str = setting("HOST", "127.0.0.1", "address Sanic listens on")
    port: int = setting("PORT", 8000, "port Sanic listens on", minimum=0, maximum=65535)
    workers: int = setting("WORKERS", 1, "worker processes", positive=True)
    shutdown_drain_seconds: float = setting("SHUTDOWN_DRAIN_SECONDS", 0.0, "seconds the service keeps serving "
                                            "after SIGTERM while `/readyz` answers 503, so load balancers stop "
                                            "sending (docs/operations.md)", minimum=0)
    debug: bool = setting("DEBUG", False, "500s carry the traceback in `error`")

    def check(self) -> None:
        if not self.name:
            raise ConfigError("setting SERVICE_NAME is required but empty (set it in the environment)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    url: str = setting("DATABASE_URL", "", "`postgresql://user:pass@host:5432/db` (or `?host=/socket/dir`)")
    pool_min_size: int = setting("DB_POOL_MIN_SIZE", 2, "connections kept open per worker", minimum=0)
    pool_max_size: int = setting("DB_POOL_MAX_SIZE", 10, "connections at most per worker", positive=True)
    connect_timeout: float = setting("DB_CONNECT_TIMEOUT", 5.0, "seconds to open a connection or wait for a free one",
                                     positive=True)
    command_timeout: float = setting("DB_COMMAND_TIMEOUT", 10.0, "seconds one statement may run", positive=True)
    reset_always: bool = setting("DB_RESET_ALWAYS", False, "reset the session after every checkout, not only after "
                                 "SQL other than `Table`'s (a trigger that changes session state needs it)")
    replica_urls: tuple[str, ...] = setting("DATABASE_REPLICA_URLS", [], "read replicas (comma-separated URLs): "
                                            "`acquire()` reads from a healthy one, each with its own pool")
    replica_max_lag: float = setting("DATABASE_REPLICA_MAX_LAG", 5.0, "seconds of replay lag past which a "
                                     "replica is not read from", positive=True)
    replica_check_interval: float = setting("DATABASE_REPLICA_CHECK_INTERVAL", 1.0, "seconds between checks of "
                                            "each replica's health and lag (in the background)", positive=True)

    def check(self) -> None:
        if not self.url:
            raise ConfigError("setting DATABASE_URL is required but empty (set it in the environment)")
        check_url("DATABASE_URL", self.url, ("postgres", "postgresql"))
        for url in self.replica_urls:
            check_url("DATABASE_REPLICA_URLS", url, ("postgres", "postgresql"))
        if self.pool_min_size > self.pool_max_size:
            raise ConfigError("setting DB_POOL_MIN_SIZE: must not exceed DB_POOL_MAX_SIZE")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClientSettings:
    downstream: tuple[str, ...] = setting("DOWNSTREAM_SERVICES", [], "services this one calls; each needs "
                                          "`<NAME>_SERVICE_URL`")
    urls: dict[str, str] = dataclasses.field(default_factory=dict, metadata={"derived": True})
    timeout: float = setting("CLIENT_TIMEOUT", 5.0, "seconds for a whole downstream call", positive=True)
    connect_timeout: float = setting("CLIENT_CONNECT_TIMEOUT", 1.0, "seconds to connect to a downstream",
                                     positive=True)
    pool_size: int = setting("CLIENT_POOL_SIZE", 100, "keep-alive connections per downstream", positive=True)
    retries: int = setting("CLIENT_RETRIES", 2, "extra attempts of a GET on connection errors and 502/503/504",
                           minimum=0)
    retry_backoff: float = setting("CLIENT_RETRY_BACKOFF", 0.05, "seconds before the first retry, doubled "
                                   "per attempt, full jitter", minimum=0)
    retry_backoff_max: float = setting("CLIENT_RETRY_BACKOFF_MAX", 1.0, "longest wait between retries", minimum=0)
    breaker_threshold: int = setting("CLIENT_BREAKER_THRESHOLD", 5, "failed calls in a row that open the circuit "
                                     "(0: never)", minimum=0)
    breaker_reset: float = setting("CLIENT_BREAKER_RESET", 5.0, "seconds open before one probe call",
                                   positive=True)
    deadline_margin: float = setting("CLIENT_DEADLINE_MARGIN", 0.02, "seconds of the caller's remaining budget a "
                                     "call leaves for the answer's way back (docs/operations.md, deadlines)", minimum=0)
    forward_token: bool = setting("AUTH_FORWARD_TOKEN", True, "calls carry the caller's bearer token")
    service_token: str = setting("AUTH_SERVICE_TOKEN", "", "or this token of the service's own, when set")

    def check(self) -> None:
        for service in self.downstream:
            name = service_url_setting(service)
            if not self.urls.get(service):
                raise ConfigError(f"setting {name} is required: base URL of the {service} service")
            check_url(name, self.urls[service], ("http", "https"))


@dataclasses.dataclass(frozen=True, kw_only=True)
class HttpSettings:
    request_max_size: int = setting("REQUEST_MAX_SIZE", 1_000_000, "bytes; larger bodies get a 413", positive=True)
    request_timeout: float = setting("REQUEST_TIMEOUT", 30, "seconds to receive a request (Sanic's)", positive=True)
    response_timeout: float = setting("RESPONSE_TIMEOUT", 30, "seconds to answer (Sanic's)", positive=True)
    keep_alive_timeout: float = setting("KEEP_ALIVE_TIMEOUT", 5, "seconds an idle connection stays open",
                                        positive=True)
    graceful_shutdown_timeout: float = setting("GRACEFUL_SHUTDOWN_TIMEOUT", 15.0, "seconds in-flight requests may "
                                               "finish after SIGTERM", minimum=0)
    max_concurrent_requests: int = setting("MAX_CONCURRENT_REQUESTS", 100, "requests in flight per worker; more "
                                           "are refused at once with a 503 (0: no limit)", minimum=0)
    adaptive_concurrency: bool = setting("ADAPTIVE_CONCURRENCY", False, "move each worker's limit under "
                                         "MAX_CONCURRENT_REQUESTS by the latency it sees (docs/operations.md)")
    shed_retry_after: int = setting("SHED_RETRY_AFTER", 1, "seconds a refused caller is told to wait "
                                    "(`Retry-After`)", positive=True)
    listen_backlog: int = setting("LISTEN_BACKLOG", 1024, "connections the kernel holds until a worker accepts "
                                  "them (capped by net.core.somaxconn); past it, new ones wait a second or more to "
                                  "connect", positive=True)
    access_log: bool = setting("ACCESS_LOG", False, "a line per request from sanic.access")
    cors_origins: tuple[str, ...] = setting("CORS_ORIGINS", [], "origins allowed to call the API from a browser")
    cors_allow_headers: tuple[str, ...] = setting("CORS_ALLOW_HEADERS", ["content-type", "authorization",
                                                                       "x-request-id", "x-request-timeout"],
                                                  "request headers allowed")
    cors_expose_headers: tuple[str, ...] = setting("CORS_EXPOSE_HEADERS", ["x-trace-id"],
                                                   "response headers the allowed origins' code may read")
    cors_methods: tuple[str, ...] = setting("CORS_METHODS", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                                            "methods allowed")
    cors_supports_credentials: bool = setting("CORS_SUPPORTS_CREDENTIALS", False, "cookies and auth across origins")
    cors_max_age: int = setting("CORS_MAX_AGE", 600, "seconds a preflight answer is cached", minimum=0)

    def check(self) -> None:
        if "*" in self.cors_origins and self.cors_supports_credentials:
            raise ConfigError("setting CORS_ORIGINS: '*' is not allowed with CORS_SUPPORTS_CREDENTIALS")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ApiSettings:
    title: str = setting("API_TITLE", "API", "the OpenAPI document's title")
    version: str = setting("API_VERSION", "1.0.0", "the OpenAPI document's version")
    description: str = setting("API_DESCRIPTION", "", "the OpenAPI document's description")
    page_size_default: int = setting("PAGE_SIZE_DEFAULT", 20, "items per page when none is asked for",
                                     positive=True)
    page_size_max: int = setting("PAGE_SIZE_MAX", 100, "most items per page", positive=True)


TRANSPORTS = ("http", "log")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TracingSettings:
    enabled: bool = setting("TRACING_ENABLED", True, "server, client, SQL and `@logger` spans")
    sample_rate: float = setting("TRACING_SAMPLE_RATE", 1.0, "share of new traces kept; a caller's decision is "
                                 "followed", minimum=0, maximum=1)
    transports: tuple[str, ...] = setting("TRACING_TRANSPORTS", [], "`http` (POST to ZIPKIN_URL) and/or `log` "
                                          "(a span per line); empty: `http` if ZIPKIN_URL is set", choices=TRANSPORTS)
    zipkin_url: str = setting("ZIPKIN_URL", "", "e.g. `http://zipkin:9411`")
    queue_size: int = setting("TRACING_QUEUE_SIZE", 10_000, "spans held at most; more are dropped and counted",
                              positive=True)
    batch_size: int = setting("TRACING_BATCH_SIZE", 100, "spans per send (held in memory while "
                                 "it is on its way)", positive=True)
    flush_interval: float = setting("TRACING_FLUSH_INTERVAL", 1.0, "longest wait before a partial batch is sent",
                                    positive=True)
    send_timeout: float = setting("TRACING_SEND_TIMEOUT", 2.0, "seconds per attempt to POST a batch to the "
                                  "collector, connecting included", positive=True)
    send_retries: int = setting("TRACING_SEND_RETRIES", 1, "retries of a failed POST", minimum=0)
    flush_timeout: float = setting("TRACING_FLUSH_TIMEOUT", 5.0, "seconds spent sending what is left at shutdown",
                                   positive=True)
    drop_log_interval: float = setting("TRACING_DROP_LOG_INTERVAL", 10.0, "seconds between warnings that spans "
                                       "were dropped", positive=True)
    untraced_paths: tuple[str, ...] = setting("TRACING_UNTRACED_PATHS", ["/healthz", "/readyz", "/metrics", "/openapi"],
                                              "path prefixes without spans")

    def check(self) -> None:
        if self.zipkin_url or "http" in self.transports:
            check_url("ZIPKIN_URL", self.zipkin_url, ("http", "https"))


@dataclasses.dataclass(frozen=True, kw_only=True)
class MetricsSettings:
    enabled: bool = setting("METRICS_ENABLED", True, "Prometheus metrics on `METRICS_PATH` (see docs/metrics.md)")
    path: str = setting("METRICS_PATH", "/metrics", "where the metrics are served (open and untraced: keep it "
                        "under `AUTH_PUBLIC_PATHS`)")
    port: int = setting("METRICS_PORT", 0, "serve them on this port instead, off the service's listener (0: on "
                        "the service's own port)", minimum=0, maximum=65535)
    multiproc_dir: str = setting("METRICS_MULTIPROC_DIR", "", "with WORKERS > 1: the directory the workers "
                                 "share their metrics through; its metric files are removed at start (empty: one under "
                                 "the system's temporary directory, named after the service and its port)")
    refresh_interval: float = setting("METRICS_REFRESH_INTERVAL", 5.0, "with WORKERS > 1: seconds between "
                                      "updates of each worker's pool, tracing and process figures and exemplars",
                                      positive=True)
    exemplars: bool = setting("METRICS_EXEMPLARS", True, "duration buckets carry the trace id of a sampled "
                              "request (OpenMetrics only)")

    def check(self) -> None:
        if not self.path.startswith("/") or self.path == "/":
            raise ConfigError(f"setting METRICS_PATH: expected a path like /metrics, got {self.path!r}")


LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclasses.dataclass(frozen=True, kw_only=True)
class LoggingSettings:
    configure: bool = setting("LOG_CONFIGURE", True, "configure logging when the server starts (test helpers turn "
                              "it off)")
    config: str = setting("LOG_CONFIG", "", "your own logging.yml (dictConfig schema)")
    format: str = setting("LOG_FORMAT", "json", "console format: json or text (or a formatter of LOG_CONFIG)")
    level: str = setting("LOG_LEVEL", "INFO", "root level", choices=LOG_LEVELS)

    def check(self) -> None:
        if not self.config and self.format not in LOG_FORMATS:
            raise ConfigError(f"setting LOG_FORMAT: expected json or text, got {self.format!r}")
        if self.config and not os.path.isfile(self.config):
            raise ConfigError(f"setting LOG_CONFIG: no such file {self.config!r}")


SYMMETRIC_ALGORITHMS = ("HS256", "HS384", "HS512")
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512")


@dataclasses.dataclass(frozen=True, kw_only=True)
class AuthSettings:
    enabled: bool = setting("AUTH_ENABLED", False, "check `Authorization: Bearer <JWT>` on every route but the "
                            "public ones")
    secret: str = setting("AUTH_SECRET", "", "HS256 key, 32 bytes or more; or:")
    jwks_url: str = setting("AUTH_JWKS_URL", "", "the identity provider's public keys (RS256 / ES256); "
                            "the final URL: a redirect is not followed")
    algorithms: tuple[str, ...] = setting("AUTH_ALGORITHMS", [], "allowed `alg`s; empty: HS256 with a secret, "
                                          "RS256 and ES256 with a JWKS URL")
    issuer: str = setting("AUTH_ISSUER", "", "required `iss` when set")
    audience: str = setting("AUTH_AUDIENCE", "", "required `aud` when set")
    leeway: float = setting("AUTH_LEEWAY", 30.0, "seconds of clock skew allowed on `exp` / `nbf`", minimum=0)
    default_policy: str = setting("AUTH_DEFAULT_POLICY", "scopes", "`scopes`: reads need `<service>:read`, writes "
                                  "`<service>:write`; `authenticated`: any valid token",
                                  choices=("scopes", "authenticated"))
    public_paths: tuple[str, ...] = setting("AUTH_PUBLIC_PATHS", ["/healthz", "/readyz", "/metrics", "/openapi"],
                                            "path prefixes open to anyone")
    jwks_ttl: float = setting("AUTH_JWKS_TTL", 300.0, "seconds keys are trusted before a refetch", positive=True)
    jwks_min_refresh: float = setting("AUTH_JWKS_MIN_REFRESH", 30.0, "seconds between refetches for unknown kids",
                                      minimum=0)
    jwks_timeout: float = setting("AUTH_JWKS_TIMEOUT", 2.0, "seconds per JWKS fetch", positive=True)
    max_token_bytes: int = setting("AUTH_MAX_TOKEN_BYTES", 8192, "longer tokens are refused unread", positive=True)

    @property
    def allowed_algorithms(self) -> tuple[str, ...]:
        return self.algorithms or (("HS256",) if self.secret else ("RS256", "ES256"))

    def check(self) -> None:
        if not self.enabled:
            return
        if bool(self.secret) == bool(self.jwks_url):
            raise ConfigError("setting AUTH_SECRET / AUTH_JWKS_URL: set exactly one of them when AUTH_ENABLED")
        if self.jwks_url:
            check_url("AUTH_JWKS_URL", self.jwks_url, ("http", "https"))
        elif len(self.secret.encode()) < 32:
            raise ConfigError("setting AUTH_SECRET: use at least 32 bytes")
        allowed = SYMMETRIC_ALGORITHMS if self.secret else ASYMMETRIC_ALGORITHMS
        wrong = [a for a in self.allowed_algorithms if a not in allowed]
        if wrong:  # never "none", and never an HMAC key where public keys are meant (or back)
            kind = "a shared secret" if self.secret else "a JWKS URL"
            raise ConfigError(f"setting AUTH_ALGORITHMS: {', '.join(wrong)} cannot be used with {kind}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """A service's settings. ``settings.database.pool_max_size``; ``settings["DB_POOL_MAX_SIZE"]``
    reads the same value by its one name (and ``settings.extra`` a service's own names)."""

    service: ServiceSettings = dataclasses.field(default_factory=ServiceSettings)
    database: DatabaseSettings = dataclasses.field(default_factory=DatabaseSettings)
    clients: ClientSettings = dataclasses.field(default_factory=ClientSettings)
    http: HttpSettings = dataclasses.field(default_factory=HttpSettings)
    api: ApiSettings = dataclasses.field(default_factory=ApiSettings)
    tracing: TracingSettings = dataclasses.field(default_factory=TracingSettings)
    metrics: MetricsSettings = dataclasses.field(default_factory=MetricsSettings)
    logging: LoggingSettings = dataclasses.field(default_factory=LoggingSettings)
    auth: AuthSettings = dataclasses.field(default_factory=AuthSettings)
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        found = declared(type(self)).get(name)
        if found is not None:
            return getattr(getattr(self, found.part), found.attr)
        if name in self.extra:
            return self.extra[name]
        downstream = {service_url_setting(s): s for s in self.clients.downstream}
        if name in downstream:
            return self.clients.urls[downstream[name]]
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return self.names()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in set(self.names())

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def names(self) -> Iterator[str]:
        """Every setting's name (the library's, the service's own, the downstream URLs)."""
        yield from declared(type(self))
        yield from self.extra
        yield from (service_url_setting(s) for s in self.clients.downstream)

    def replace(self: S, **changes: Any) -> S:
        """A copy with settings changed by name: ``settings.replace(LOG_CONFIGURE=False)``."""
        return build(type(self), {**self.flat(), **changes})

    def flat(self) -> dict[str, Any]:
        """Every setting by name."""
        return {name: self[name] for name in self.names()}
