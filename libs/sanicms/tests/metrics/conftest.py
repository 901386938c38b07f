"""A live app measured for real: routes on PostgreSQL, and a neighbour over loopback HTTP."""

from __future__ import annotations

import asyncio
import threading

import psycopg2
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from sanic import Blueprint, Sanic

import sanicms
from sanicms.testing import LiveServer
from sanicms.testing.processes import free_port


async def neighbour(request: web.Request) -> web.Response:
    path = request.path
    if path == "/slow":
        await asyncio.sleep(1)
    if path == "/missing":
        return web.json_response({"code": 404, "message": "nope", "error": None}, status=404)
    if path == "/broken":
        return web.json_response({"code": 500, "message": "boom", "error": None}, status=500)
    if path == "/unavailable":
        return web.json_response({"code": 503, "message": "busy", "error": None}, status=503)
    if path == "/garbage":
        return web.Response(text="<html>", content_type="text/html")
    return web.json_response({"code": 0, "data": {"path": path}})


@pytest.fixture(scope="session")
def neighbour_url():
    """The fake neighbour, served from a thread of its own (the app's loop runs only in calls)."""
    loop = asyncio.new_event_loop()
    port = free_port()
    ready = threading.Event()

    async def serve() -> web.AppRunner:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", neighbour)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    def run() -> None:
        asyncio.set_event_loop(loop)
        runner = loop.run_until_complete(serve())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def things_blueprint() -> Blueprint:
    bp = Blueprint("metric_things", url_prefix="/things")

    @bp.get("/<id:int>")
    async def get_thing(request, id):
        async with request.app.ctx.db.acquire(request) as cur:
            return {"id": await cur.fetchval("SELECT id FROM metric_things WHERE id = $1", id)}

    @bp.post("/")
    async def add_thing(request):
        async with request.app.ctx.db.transaction(request) as cur:
            await cur.execute("INSERT INTO metric_things (name) VALUES ($1)", request.json["name"])
        return sanicms.respond({"ok": True}, status=201)

    @bp.get("/call/<service:str>/<what:str>")
    async def call(request, service, what):
        return {"got": await request.app.ctx.clients[service].get(request, "/" + what)}
    return bp


@pytest.fixture(scope="module")
def things_db(database_url):
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS metric_things; CREATE TABLE metric_things "
                    "(id serial PRIMARY KEY, name text UNIQUE); INSERT INTO metric_things (name) VALUES ('one')")
    return database_url


def build(name: str, **overrides) -> Sanic:
    Sanic.test_mode = True
    settings = sanicms.load_settings(environ={}, overrides={"SERVICE_NAME": name, "TRACING_TRANSPORTS": ["log"],
                                                            **overrides})
    return sanicms.create_app(settings, [things_blueprint()])


@pytest.fixture(scope="module")
def live(things_db, neighbour_url):
    server = LiveServer(build(
        "measured", DATABASE_URL=things_db, DOWNSTREAM_SERVICES=["city", "dead"], CITY_SERVICE_URL=neighbour_url,
        DEAD_SERVICE_URL=f"http://127.0.0.1:{free_port()}", CLIENT_TIMEOUT=0.3, CLIENT_RETRIES=1,
        CLIENT_RETRY_BACKOFF=0.0, CLIENT_BREAKER_THRESHOLD=2, CLIENT_BREAKER_RESET=60.0))
    server.start()
    yield server
    server.stop()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(server: LiveServer, path: str = "/metrics") -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = server.request("GET", path)
    assert response.status_code == 200, response.text
    return samples(response.text)


def value(found: dict, name: str, **labels: str) -> float:
    """A sample's value; 0 when the series does not exist (yet)."""
    return found.get((name, tuple(sorted(labels.items()))), 0.0)
