"""The city service with two routes that say where their reads ran, for tests/test_replicas.py:
``GET /probe/where`` reads through ``acquire``; ``POST /probe/write-then-read`` writes a city in
a transaction, then reads it back through ``acquire`` in the same request. Started as
``python -m replica_city serve`` with tests/ on ``PYTHONPATH``."""

from __future__ import annotations

import itertools
import os
from typing import Any

from sanic import Blueprint, Request

import sanicms
from city_service.migrations import migrate
from city_service.views import bp as cities

probe = Blueprint("probe", url_prefix="/probe")
_names = itertools.count()

WHERE = "SELECT CASE WHEN pg_is_in_recovery() THEN 'replica' ELSE 'primary' END"


@probe.get("/where")
async def where(request: Request) -> dict[str, Any]:
    async with request.app.ctx.db.acquire(request) as cur:
        return {"read_on": await cur.fetchval(WHERE)}


@probe.post("/write-then-read")
async def write_then_read(request: Request) -> dict[str, Any]:
    name = f"probe-{os.getpid()}-{next(_names)}"
    async with request.app.ctx.db.transaction(request) as cur:
        new = await cur.fetchval("INSERT INTO cities (name, province, create_time) VALUES ($1, 'probe', now()) "
                                 "RETURNING id", name)
    async with request.app.ctx.db.acquire(request) as cur:
        seen = await cur.fetchval("SELECT name FROM cities WHERE id = $1", new)
        read_on = await cur.fetchval(WHERE)
    return {"id": new, "seen": seen == name, "read_on": read_on}


def create_app() -> Any:
    settings = sanicms.load_settings("city_service.settings")
    return sanicms.create_app(settings, [cities, probe])


def run() -> None:
    sanicms.main(service="city", settings_module="city_service.settings", factory=create_app, migrate=migrate)


