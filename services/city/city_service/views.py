"""HTTP routes of the city service, under ``/cities``."""

from sanic import Blueprint, Request

from sanicms import NotFound, Table, doc, ids_from, page_from, respond

from .models import City

bp = Blueprint("cities", url_prefix="/cities")
cities = Table(City)
TAKEN = (409, "a city with the same name and province exists")


@bp.post("/")
@doc.tag("cities")
@doc.summary("create a city")
@doc.consumes(City)
@doc.produces(City, status=201)
@doc.errors(TAKEN, 503)
async def create_city(request: Request):
    async with request.app.ctx.db.transaction(request) as cur:
        city = await cities.insert(cur, request.ctx.data)
    return respond(city, status=201)


@bp.get("/<id:int>")
@doc.tag("cities")
@doc.summary("get a city by id")
@doc.produces(City)
@doc.errors(404, 503)
async def get_city(request: Request, id: int):
    async with request.app.ctx.db.acquire(request) as cur:
        city = await cities.get(cur, id)
    if city is None:
        raise NotFound(f"city {id} not found")
    return city


@bp.get("/")
@doc.tag("cities")
@doc.summary("list cities, a page at a time, or those with the given ids")
@doc.produces([City], paginated=True)
@doc.ids_param()
@doc.errors(503)
async def list_cities(request: Request):
    async with request.app.ctx.db.acquire(request) as cur:
        return await cities.listing(cur, page_from(request), ids_from(request))


@bp.put("/<id:int>")
@doc.tag("cities")
@doc.summary("replace a city: every writable field")
@doc.consumes(City)
@doc.produces(City)
@doc.errors(404, TAKEN, 503)
async def replace_city(request: Request, id: int):
    return await _update(request, id)


@bp.patch("/<id:int>")
@doc.tag("cities")
@doc.summary("change some fields of a city")
@doc.consumes(City, partial=True)
@doc.produces(City)
@doc.errors(404, TAKEN, 503)
async def update_city(request: Request, id: int):
    return await _update(request, id)


async def _update(request: Request, id: int) -> dict:
    async with request.app.ctx.db.transaction(request) as cur:
        city = await cities.update(cur, id, request.ctx.data)
    if city is None:
        raise NotFound(f"city {id} not found")
    return city


@bp.delete("/<id:int>")
@doc.tag("cities")
@doc.summary("delete a city")
@doc.produces({"id": int})
@doc.errors(404, 503)
async def delete_city(request: Request, id: int):
    async with request.app.ctx.db.transaction(request) as cur:
        deleted = await cities.delete(cur, id)
    if not deleted:
        raise NotFound(f"city {id} not found")
    return {"id": id}
