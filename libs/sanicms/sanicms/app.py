"""The app factory: one call gives a service its Sanic app with everything wired in.

Everything an app owns lives on ``app.ctx`` (settings, database, downstream clients), so
two apps in one process never share state; the test suite builds dozens.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from typing import Any

from sanic import Blueprint, Sanic
from sanic_ext import Extend
from sanic_ext.extensions.http.extension import HTTPExtension
from sanic_ext.extensions.openapi.extension import OpenAPIExtension

from . import admission, auth, cors, metrics, tracing
from .calls.client import Clients
from .config import Settings
from .contract import openapi
from .contract.params import check_path_params
from .contract.published import calling_package
from .data.db import Database
from .errors import ErrorHandler
from .health import health_blueprint
from .lifecycle import Lifecycle, ServiceApp
from .logs import configure_logging
from .request_hooks import RequestHooks, hooked
from .responses import EnvelopeRequest, dumps


def create_app(settings: Settings, blueprints: Iterable[Blueprint] = (), *,
               name: str | None = None) -> Sanic[Any, Any]:
    """Build a service app from checked settings (see :func:`sanicms.load_settings`)."""
    app = ServiceApp(
        name or _app_name(settings.service.name),
        request_class=EnvelopeRequest,
        error_handler=ErrorHandler(),
        dumps=dumps,
        env_prefix=None,  # settings come from sanicms.config only, one place to look
        strict_slashes=False,
        configure_logging=False,  # logging.yml is applied when the server starts (LOG_CONFIGURE)
    )
    app.config.update(_sanic_config(settings))
    app.ctx.settings = settings
    # Tracing's and the metrics' observers go to the pool and the clients as they are made,
    # and are bound to the worker's tracer and instruments when the server starts.
    observed = [i for i in (tracing.instrumentation(app), metrics.instrumentation(app)) if i is not None]
    app.ctx.db = Database.from_settings(settings.database, instrumentation=observed,
                                        application_name=settings.service.name)
    # The package calling: a service's, whose copies of its neighbours' specs the clients read.
    app.ctx.clients = Clients.from_settings(settings.clients, caller=calling_package(), instrumentation=observed)
    app.ctx.untraced_paths = settings.tracing.untraced_paths
    app.ctx.lifecycle = Lifecycle.from_settings(settings)  # /readyz: every worker serving, not draining
    # OpenAPI and HTTP (auto OPTIONS/HEAD, CORS) only: the injection extension, unused,
    # handles a signal on every request; CORS headers only for requests with an Origin.
    Extend(app, extensions=[OpenAPIExtension, HTTPExtension], built_in_extensions=False)
    # Per-request work without middleware (sanicms.request_hooks), in the order it runs.
    hooks = RequestHooks()
    cors.install(app, hooks)
    app.blueprint(health_blueprint())
    for bp in blueprints:
        app.blueprint(bp)
    # The API contract: the spec from the doc decorators, path parameters checked like bodies.
    openapi.install(app)
    tracing.install(app, hooks)  # first: the server span is open before anything can refuse
    admission.install(app, hooks)  # then the cheapest refusals: too many in flight, a spent budget
    hooks.on_route.append(check_path_params)
    auth.install(app, hooks)
    metrics.install(app, hooks)
    app.request_class = hooked(app.request_class, hooks)
    app.before_server_start(_open_resources)
    app.after_server_stop(_close_resources)
    return app


def _app_name(service: str) -> str:
    # Sanic app names allow letters, digits, '_' and '-' only.
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in service)


def _sanic_config(settings: Settings) -> dict[str, Any]:
    """What Sanic and sanic-ext read from ``app.config``: their own names, written once."""
    http, api = settings.http, settings.api
    config: dict[str, Any] = {
        "REQUEST_MAX_SIZE": http.request_max_size, "REQUEST_TIMEOUT": http.request_timeout,
        "RESPONSE_TIMEOUT": http.response_timeout, "KEEP_ALIVE_TIMEOUT": http.keep_alive_timeout,
        "GRACEFUL_SHUTDOWN_TIMEOUT": http.graceful_shutdown_timeout,
        "API_TITLE": api.title, "API_VERSION": api.version, "API_DESCRIPTION": api.description,
        "CORS_ORIGINS": list(http.cors_origins), "CORS_ALLOW_HEADERS": list(http.cors_allow_headers),
        "CORS_EXPOSE_HEADERS": list(http.cors_expose_headers), "CORS_METHODS": list(http.cors_methods),
        "CORS_SUPPORTS_CREDENTIALS": http.cors_supports_credentials, "CORS_MAX_AGE": http.cors_max_age,
    }
    config.update({
        # sanic-ext: spec at /openapi/spec.json, Swagger UI at /openapi/.
        "OAS_URL_PREFIX": "/openapi",
        "OAS_URI_TO_JSON": "/spec.json",
        "OAS_UI_DEFAULT": "swagger",
        "OAS_UI_REDOC": False,
        # CORS via sanic-ext, from the CORS_* settings; preflights answered automatically.
        "CORS_AUTOMATIC_OPTIONS": True,
        "CORS_ALWAYS_SEND": False,
        "HTTP_AUTO_TRACE": False,
    })
    config.update(openapi.swagger_ui_config(config["OAS_URL_PREFIX"]))  # every file served here
    return config


async def _open_resources(app: Sanic[Any, Any]) -> None:
    if app.ctx.settings.logging.configure:
        configure_logging(app.ctx.settings.logging, service=app.ctx.settings.service.name)
    await tracing.start(app)
    await metrics.start(app)
    await app.ctx.db.connect()
    await app.ctx.clients.open()
    await app.ctx.auth.open()
    # Everything loaded so far lives as long as the process: keep it out of the garbage
    # collector's full passes, which otherwise walk it again and again under load.
    gc.freeze()


async def _close_resources(app: Sanic[Any, Any]) -> None:
    """After in-flight requests finished (Sanic drains them before this event); spans go
    last so that those of the final requests are sent too."""
    await app.ctx.clients.close()
    await app.ctx.auth.close()
    await app.ctx.db.close()
    await metrics.stop(app)
    await tracing.stop(app)
