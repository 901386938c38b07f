"""The bare stack sanicms is built on, doing what the city service's GET /cities/<id> does:
Sanic + asyncpg, one pooled query, the same JSON. No envelope helper, tracing, validation
or error mapping: the floor the framework is measured against.

Truly bare: Sanic extends every app with sanic-ext when sanic-ext is installed (it is, in
the project's venv) unless ``AUTO_EXTEND`` is off, and sanic-ext's per-request machinery
costs about 80k instructions. So ``AUTO_EXTEND`` is off here, and the server refuses to
run if sanic-ext got loaded anyway; tests/test_bench_peers.py keeps it so.

``BARE_JSON=orjson`` encodes with orjson, as sanicms does, instead of ujson (what Sanic
itself uses): so the comparison can be made with the framework's JSON choice taken out."""

import datetime
import os
import sys

import asyncpg
import orjson
import ujson
from sanic import Sanic
from sanic.response import HTTPResponse

SQL = 'SELECT "id", "name", "province", "create_time" FROM "cities" WHERE "id" = $1'


def _default(value):
    if isinstance(value, datetime.datetime):
        return value.isoformat() + "Z"
    raise TypeError


def encode(value) -> str | bytes:
    if os.environ.get("BARE_JSON") == "orjson":
        return orjson.dumps(value, option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z)
    return ujson.dumps(value, default=_default, ensure_ascii=False)


def sanic_ext_loaded() -> bool:
    return "sanic_ext" in sys.modules


def create_app(name: str = "bare_city", *, auto_extend: bool = False) -> Sanic:
    app = Sanic(name, configure_logging=False)
    app.config.AUTO_EXTEND = auto_extend  # before the server starts: Sanic extends apps then

    @app.after_server_start
    async def say_what_is_loaded(app):
        # One line for tests/test_bench_peers.py; a bare peer with sanic-ext is not bare.
        print(f"{app.name}: sanic_ext loaded: {sanic_ext_loaded()}", file=sys.stderr, flush=True)
        if not auto_extend and sanic_ext_loaded():
            raise RuntimeError("sanic_ext was loaded into the bare peer")

    @app.before_server_start
    async def connect(app):
        app.ctx.pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=2, max_size=10)

    @app.after_server_stop
    async def close(app):
        await app.ctx.pool.close()
        print(f"{app.name}: sanic_ext loaded: {sanic_ext_loaded()}", file=sys.stderr, flush=True)  # still?

    @app.get("/cities/<id:int>")
    async def get_city(request, id: int):
        async with request.app.ctx.pool.acquire() as conn:
            row = await conn.fetchrow(SQL, id)
        if row is None:
            return HTTPResponse('{"code":404,"message":"not found","error":null}', status=404,
                               content_type="application/json")
        body = encode({"code": 0, "data": dict(row)})
        return HTTPResponse(body, content_type="application/json")

    return app


if __name__ == "__main__":
    from sanic.worker.loader import AppLoader

    app = AppLoader(factory=create_app).load()
    app.prepare(host="127.0.0.1", port=int(os.environ["PORT"]), single_process=True, access_log=False, motd=False)
    Sanic.serve_single(primary=app)
