"""FastAPI + OpenTelemetry, the way a team would build the three services: ``python
fastapi_otel.py city|role|user``.

Each is FastAPI on uvicorn (uvloop, httptools) with an asyncpg pool and response models,
traced with opentelemetry-instrumentation-fastapi (``FastAPIInstrumentor.instrument_app``:
a SERVER span per request plus its ASGI ``http send`` spans), -asyncpg (a CLIENT span per
statement) and, in the user service, -httpx (a CLIENT span per call, ``traceparent`` sent
on), exporting through a BatchSpanProcessor to the Zipkin JSON exporter (peers/otel.py).

- city: fastapi_city.py's ``GET /cities/{id}``, traced.
- role: ``GET /roles/{id}``, the role service's query and JSON.
- user: ``GET /users/{id}``: the user's row, then its city and role fetched from the city
  and role services concurrently (``asyncio.gather`` over one shared client), answered as
  sanicms's user service answers: the user with ``city`` and ``role`` objects. The client is
  ``PEER_HTTP_CLIENT``: ``aiohttp`` (the default: what sanicms itself uses, so the comparison
  is not about the client library; traced by -aiohttp-client) or ``httpx`` (an
  ``httpx.AsyncClient``, traced by -httpx; on this machine its throughput collapses at 64
  concurrent requests, see docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import datetime
import os
import sys
from contextlib import asynccontextmanager

from otel import setup_tracing

SERVICE = sys.argv[1] if len(sys.argv) > 1 else "city"
if SERVICE not in ("city", "role", "user"):
    raise SystemExit(f"usage: {sys.argv[0]} city|role|user")
CLIENT = os.environ.get("PEER_HTTP_CLIENT", "aiohttp")
if CLIENT not in ("aiohttp", "httpx"):
    raise SystemExit("PEER_HTTP_CLIENT: aiohttp or httpx")
provider = setup_tracing(f"fastapi-otel-{SERVICE}")

# Imported once tracing is set up, on purpose: hence the E402 exceptions.
import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import httpx  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI, HTTPException  # noqa: E402
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor  # noqa: E402
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor  # noqa: E402
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor  # noqa: E402
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor  # noqa: E402
from pydantic import BaseModel  # noqa: E402

AsyncPGInstrumentor().instrument(tracer_provider=provider)

ROLE_SQL = 'SELECT "id", "name", "description", "create_time" FROM "roles" WHERE "id" = $1'
USER_SQL = ('SELECT "id", "name", "age", "sex", "city_id", "role_id", "create_time" '
            'FROM "users" WHERE "id" = $1')


class Role(BaseModel):
    id: int
    name: str
    description: str | None
    create_time: datetime.datetime


class RoleEnvelope(BaseModel):
    code: int = 0
    data: Role


def role_app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=2, max_size=10)
        yield
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/roles/{role_id}", response_model=RoleEnvelope)
    async def get_role(role_id: int):
        async with app.state.pool.acquire() as conn:
            row = await conn.fetchrow(ROLE_SQL, role_id)
        if row is None:
            raise HTTPException(404, "not found")
        return {"code": 0, "data": dict(row)}

    return app


def user_app() -> FastAPI:
    from fastapi_city import City

    class User(BaseModel):
        id: int
        name: str
        age: int
        sex: str
        city_id: int
        role_id: int
        create_time: datetime.datetime
        city: City | None
        role: Role | None

    class UserEnvelope(BaseModel):
        code: int = 0
        data: User

    city_url = os.environ["CITY_SERVICE_URL"].rstrip("/")
    role_url = os.environ["ROLE_SERVICE_URL"].rstrip("/")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=2, max_size=10)
        # As many connections as sanicms's client keeps (CLIENT_POOL_SIZE 100 per neighbour).
        # Timeouts as sanicms's (CLIENT_TIMEOUT 5 s, connect 1 s); PEER_CLIENT_TIMEOUT for callgrind.
        timeout = float(os.environ.get("PEER_CLIENT_TIMEOUT", "5"))
        connect = timeout if timeout > 5 else 1.0
        if CLIENT == "httpx":
            app.state.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=connect), limits=httpx.Limits(
                max_connections=200, max_keepalive_connections=200))
        else:
            app.state.client = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout, connect=connect),
                connector=aiohttp.TCPConnector(limit=200, limit_per_host=100))
        yield
        await (app.state.client.aclose() if CLIENT == "httpx" else app.state.client.close())
        await app.state.pool.close()

    async def fetch(url: str) -> dict | None:
        if CLIENT == "httpx":
            resp = await app.state.client.get(url)
            status, body = resp.status_code, (resp.json() if resp.status_code == 200 else None)
        else:
            async with app.state.client.get(url) as resp:
                status, body = resp.status, (await resp.json() if resp.status == 200 else None)
        if status == 404:
            return None
        if status != 200:
            raise HTTPException(502, f"{url} answered {status}")
        return body["data"]

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/users/{user_id}", response_model=UserEnvelope)
    async def get_user(user_id: int):
        async with app.state.pool.acquire() as conn:
            row = await conn.fetchrow(USER_SQL, user_id)
        if row is None:
            raise HTTPException(404, "not found")
        city, role = await asyncio.gather(fetch(f"{city_url}/cities/{row['city_id']}"),
                                          fetch(f"{role_url}/roles/{row['role_id']}"))
        return {"code": 0, "data": {**dict(row), "city": city, "role": role}}

    return app


if SERVICE == "city":
    from fastapi_city import app
elif SERVICE == "role":
    app = role_app()
else:
    if CLIENT == "httpx":
        HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    else:
        AioHttpClientInstrumentor().instrument(tracer_provider=provider)
    app = user_app()
FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), loop="uvloop", http="httptools",
                log_level="warning", access_log=False)
