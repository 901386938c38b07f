"""Each service's command line: ``python -m <service> [serve|migrate|check|healthcheck]``.

Settings are loaded and checked here first, so a bad setting ends start-up with one line
naming it (exit status 2) instead of a traceback from inside a worker.
"""

from __future__ import annotations

import argparse
import logging
import sys
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from sanic import Sanic
from sanic.worker.loader import AppLoader

from .config import ConfigError, Settings, load_settings
from .lifecycle import EarlySignals


def main(*, service: str, settings_module: str, factory: Callable[[], Sanic[Any, Any]],
         migrate: Callable[[Settings], Any] | None = None, argv: Sequence[str] | None = None) -> None:
    """Entry point shared by the services; ``factory`` must be a module-level function."""
    parser = argparse.ArgumentParser(prog=service, description=f"the {service} service")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate", "check", "healthcheck"],
                        help="serve (default), migrate the database, check the settings, or ask the "
                             "running server's /healthz (exit 0 when it answers 200: container health checks)")
    args = parser.parse_args(argv)
    settings: Settings  # load_settings() is generic in its cls=, which mypy cannot infer from the default
    try:
        settings = load_settings(settings_module)
    except ConfigError as exc:
        print(f"{service}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.command == "check":
        print(f"{service}: settings OK")
    elif args.command == "healthcheck":
        raise SystemExit(0 if healthy(settings.service.port) else 1)
    elif args.command == "migrate":
        if migrate is None:
            print(f"{service}: no migrations", file=sys.stderr)
            return
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        migrate(settings)
    else:
        serve(factory, settings)


def healthy(port: int, timeout: float = 2.0) -> bool:
    """Whether the server on this machine's ``port`` answers ``/healthz`` with 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as resp:
            status: int = resp.status
            return status == 200
    except (OSError, ValueError):
        return False


def serve(factory: Callable[[], Sanic[Any, Any]], settings: Settings) -> None:
    """Run with Sanic's own runner: one worker per ``WORKERS``. SIGTERM drains, then stops
    gracefully (:mod:`sanicms.lifecycle`); SIGINT stops gracefully without the drain."""
    early = EarlySignals.install()  # before the app is even loaded: a signal now waits for start-up
    loader = AppLoader(factory=factory)
    app = loader.load()
    service = settings.service
    workers = service.workers
    app.ctx.lifecycle.install(app, early)
    app.prepare(
        host=service.host,
        port=service.port,
        workers=workers,
        single_process=workers == 1,
        debug=service.debug,
        access_log=settings.http.access_log,
        motd=False,
    )
    if workers == 1:
        Sanic.serve_single(primary=app)
    else:
        Sanic.serve(primary=app, app_loader=loader)
