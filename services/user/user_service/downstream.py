"""Calls to the city and role services, at the paths their published specs give."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sanic import Request

from sanicms import ValidationError, gather, logger


# A span and a DEBUG log line per fetch: visible in the trace, quiet in INFO logs under load.
@logger(type="method", detail="fetch one by id", level=logging.DEBUG)
async def get_one(request: Request, service: str, id: int) -> dict | None:
    """One city or role by id; None when that service says it does not exist."""
    client = request.app.ctx.clients[service]
    return await client.get_or_none(request, f"{client.resource}/{id}")


@logger(type="method", detail="fetch a page's worth by ids", level=logging.DEBUG)
async def get_many(request: Request, service: str, ids: Iterable[int]) -> dict[int, dict]:
    """Cities or roles by id, in one call; those that do not exist are absent."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    client = request.app.ctx.clients[service]
    rows = await client.get(request, client.resource, params={"ids": ids})
    return {row["id"]: row for row in rows}


async def with_relations(request: Request, user: dict) -> dict:
    """The user with its ``city`` and ``role`` objects, fetched concurrently."""
    city, role = await gather(
        get_one(request, "city", user["city_id"]),
        get_one(request, "role", user["role_id"]),
    )
    return {**user, "city": city, "role": role}


async def with_relations_many(request: Request, users: list[dict]) -> list[dict]:
    """A page of users with their cities and roles: two calls in all, not two per user."""
    cities, roles = await gather(
        get_many(request, "city", (u["city_id"] for u in users)),
        get_many(request, "role", (u["role_id"] for u in users)),
    )
    return [{**u, "city": cities.get(u["city_id"]), "role": roles.get(u["role_id"])} for u in users]


async def check_references(request: Request, data: dict[str, Any]) -> dict[str, dict]:
    """Make sure the city and role a body names exist; a 400 naming the field if not.

    Returns the objects found, so the reply can include them without asking again."""
    wanted = [(field, service) for field, service in (("city_id", "city"), ("role_id", "role")) if field in data]
    found = await gather(*(get_one(request, service, data[field]) for field, service in wanted))
    problems = [
        {"field": field, "message": f"{service} {data[field]} does not exist"}
        for (field, service), obj in zip(wanted, found, strict=True) if obj is None
    ]
    if problems:
        raise ValidationError("the user refers to records that do not exist", error=problems)
    return {service: obj for (_, service), obj in zip(wanted, found, strict=True)}
