"""The user service with its city and role fetched one after the other instead of together:
what ``make bench`` compares the concurrent fan-out with. Run as ``python -m peers.sequential_user``
from bench/; everything else is the real user service (tests/test_bench_peers.py checks
that it still starts and answers like it)."""

from __future__ import annotations

from typing import Any

from sanic import Request

from sanicms.calls.references import References, fetch_one
from user_service import views
from user_service.__main__ import run


class SequentialReferences(References):
    async def expand(self, request: Request, row: dict[str, Any]) -> dict[str, Any]:
        found = {}
        for field, service in self.fields.items():  # one at a time: what gather() saves
            found[field.removesuffix("_id")] = await fetch_one(request, service, row[field])
        return {**row, **found}


views.references = SequentialReferences(views.references.fields, noun=views.references.noun)

if __name__ == "__main__":
    run()
