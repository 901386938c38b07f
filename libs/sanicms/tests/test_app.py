"""The app factory: isolated apps, resources opened and closed, CORS, health checks."""

import peewee
import pytest
from sanic import Blueprint, Sanic

import sanicms
from sanicms import Table, page_from
from sanicms.testing import LiveServer

DEAD_DB = "postgresql://nobody@127.0.0.1:1/none"


class Note(peewee.Model):
    id = peewee.AutoField()
    text = peewee.CharField(max_length=50)

    class Meta:
        table_name = "notes"


def notes_blueprint():
    bp = Blueprint("notes", url_prefix="/notes")
    notes = Table(Note)

    @bp.get("/")
    async def list_notes(request):
        page = page_from(request)
        async with request.app.ctx.db.acquire(request) as cur:
            rows, total = await notes.page(cur, page)
        return rows, page.info(total)

    @bp.post("/")
    async def add_note(request):
        async with request.app.ctx.db.transaction(request) as cur:
            note = await notes.insert(cur, request.json)
        return sanicms.respond(note, status=201)
    return bp


def build(name, **overrides):
    Sanic.test_mode = True
    settings = sanicms.load_settings(environ={}, overrides={"SERVICE_NAME": name, **overrides})
    return sanicms.create_app(settings, [notes_blueprint()])


@pytest.fixture
def notes_db(database_url):
    import psycopg2
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS notes; CREATE TABLE notes (id serial PRIMARY KEY, text varchar(50))")
    return database_url


def test_two_apps_in_one_process_keep_their_own_settings_and_resources(notes_db):
    one = LiveServer(build("one", DATABASE_URL=notes_db, PAGE_SIZE_DEFAULT=1))
    two = LiveServer(build("two", DATABASE_URL=DEAD_DB, DB_CONNECT_TIMEOUT=0.5))
    one.start()
    two.start()
    try:
        assert one.request("POST", "/notes", json={"text": "a"}).status_code == 201
        one.request("POST", "/notes", json={"text": "b"})
        pool = one.request("GET", "/healthz").json()["data"]["database"]
        assert pool["in_use"] == 0 and pool["idle"] == pool["size"] >= 1  # every connection given back
        assert one.request("GET", "/notes").json()["pagination"]["page_size"] == 1
        assert one.app.ctx.db is not two.app.ctx.db and one.app.ctx.db.pool is not None
        assert two.request("GET", "/notes").status_code == 503  # its own, dead database
        assert one.request("GET", "/readyz").json()["data"]["checks"] == {"database": "ok"}
        ready = two.request("GET", "/readyz")
        assert ready.status_code == 503 and ready.json()["error"]["checks"]["database"] != "ok"
        assert two.request("GET", "/healthz").json()["data"]["status"] == "ok"
    finally:
        one.stop()
        two.stop()
    assert one.app.ctx.db.pool is None  # closed after the server stopped


def test_cors_preflight_for_allowed_origins_only(notes_db):
    live = LiveServer(build("cors", DATABASE_URL=notes_db, CORS_ORIGINS=["https://app.example"]))
    live.start()
    try:
        asked = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
        ok = live.request("OPTIONS", "/notes", headers={"Origin": "https://app.example", **asked})
        evil = live.request("OPTIONS", "/notes", headers={"Origin": "https://evil.example", **asked})
        simple = live.request("GET", "/notes", headers={"Origin": "https://app.example"})
    finally:
        live.stop()
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in ok.headers["access-control-allow-methods"]
    assert "access-control-allow-origin" not in evil.headers
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
