"""The user service with its city and role fetched one after the other instead of together:
what ``make bench`` compares the concurrent fan-out with. Run as ``python -m peers.sequential_user``
from bench/; everything else is the real user service."""

from __future__ import annotations

from typing import Any

from sanic import Request

from user_service import downstream, views
from user_service.__main__ import run


async def with_relations(request: Request, user: dict[str, Any]) -> dict[str, Any]:
    city = await downstream.get_one(request, "city", user["city_id"])
    role = await downstream.get_one(request, "role", user["role_id"])
    return {**user, "city": city, "role": role}


views.with_relations = with_relations  # type: ignore[assignment]

if __name__ == "__main__":
    run()
