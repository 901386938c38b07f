"""Liveness and readiness endpoints every service gets.

``/healthz`` answers while the process serves; ``/readyz`` only while every worker serves, no
stop is under way (the drain after SIGTERM) and its dependencies answer too, so an orchestrator
or load balancer routes traffic only to an instance that can take it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sanic import Blueprint, HTTPResponse, Request

from .contract import doc
from .errors import ApiError, ErrorCode
from .responses import error_body, json_response, success_body

READY_CHECK_TIMEOUT = 2.0


def health_blueprint() -> Blueprint:
    bp = Blueprint("health")
    bp.add_route(healthz, "/healthz", methods=["GET"], name="healthz")
    bp.add_route(readyz, "/readyz", methods=["GET"], name="readyz")
    return bp


_SPAN_STATS = ("queued", "reported", "sent", "dropped", "lost")
_POOL_STATS = ("size", "idle", "in_use")


@doc.summary("liveness: the process is up and its event loop answers")
@doc.description("`database` is this process's connection pool: open connections and those "
                 "idle or lent out to requests; `pools` lists every pool, the primary's first, then "
                 "each read replica's with its state (`in`, `out`, `starting`), replay lag in seconds "
                 "and why it is out. `tracing` counts its spans: waiting in the queue, "
                 "accepted, sent, dropped because the queue was full, and lost because the "
                 "collector failed.")
@doc.produces({"status": str, "database": {name: int for name in _POOL_STATS},
               "pools": [{"role": str, "server": str, "waiting": int, **{name: int for name in _POOL_STATS}}],
               "tracing": {name: int for name in _SPAN_STATS}})
async def healthz(request: Request) -> dict[str, Any]:
    """The process is up and its event loop answers."""
    reporter = getattr(request.app.ctx, "span_reporter", None)
    stats = reporter.stats() if reporter is not None else dict.fromkeys(_SPAN_STATS, 0)
    db = request.app.ctx.db
    return {"status": "ok", "database": db.stats(), "pools": db.pools(), "tracing": stats}


@doc.summary("readiness: the database answers")
@doc.produces({"status": str, "checks": {"database": str}})
@doc.errors((503, "not ready; `error` holds the status and the result of each check"))
async def readyz(request: Request) -> HTTPResponse:
    """Ready when every worker serves, no stop is under way (:mod:`sanicms.lifecycle`), and the
    database answers ``SELECT 1`` within a short timeout."""
    lifecycle = getattr(request.app.ctx, "lifecycle", None)
    not_serving = lifecycle.not_ready(request.app) if lifecycle is not None else None
    if not_serving is not None:  # draining or starting: say so at once, without asking the database
        checks = {"serving": not_serving}
        body = error_body(ErrorCode.NOT_READY, "not ready", {"status": "not ready", "checks": checks})
        return json_response(body, status=503)
    checks = {"database": await _check(request.app.ctx.db.ping())}
    if all(result == "ok" for result in checks.values()):
        return json_response(success_body({"status": "ready", "checks": checks}))
    body = error_body(ErrorCode.NOT_READY, "not ready", {"status": "not ready", "checks": checks})
    return json_response(body, status=503)


async def _check(probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, READY_CHECK_TIMEOUT)
    except TimeoutError:
        return "timeout"
    except ApiError as exc:
        return f"failed: {exc.message}"
    except Exception as exc:  # report, never raise: this endpoint exists to say what is wrong
        return f"failed: {type(exc).__name__}"
    return "ok"
