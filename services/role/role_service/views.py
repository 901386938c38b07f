"""HTTP routes of the role service, under ``/roles``."""

from sanic import Blueprint, Request

from sanicms import NotFound, Table, doc, ids_from, page_from, respond

from .models import Role

bp = Blueprint("roles", url_prefix="/roles")
roles = Table(Role)
TAKEN = (409, "a role with the same name exists")


@bp.post("/")
@doc.tag("roles")
@doc.summary("create a role")
@doc.consumes(Role)
@doc.produces(Role, status=201)
@doc.errors(TAKEN, 503)
async def create_role(request: Request):
    async with request.app.ctx.db.transaction(request) as cur:
        role = await roles.insert(cur, request.ctx.data)
    return respond(role, status=201)


@bp.get("/<id:int>")
@doc.tag("roles")
@doc.summary("get a role by id")
@doc.produces(Role)
@doc.errors(404, 503)
async def get_role(request: Request, id: int):
    async with request.app.ctx.db.acquire(request) as cur:
        role = await roles.get(cur, id)
    if role is None:
        raise NotFound(f"role {id} not found")
    return role


@bp.get("/")
@doc.tag("roles")
@doc.summary("list roles, a page at a time, or those with the given ids")
@doc.produces([Role], paginated=True)
@doc.ids_param()
@doc.errors(503)
async def list_roles(request: Request):
    async with request.app.ctx.db.acquire(request) as cur:
        return await roles.listing(cur, page_from(request), ids_from(request))


@bp.put("/<id:int>")
@doc.tag("roles")
@doc.summary("replace a role: every writable field")
@doc.consumes(Role)
@doc.produces(Role)
@doc.errors(404, TAKEN, 503)
async def replace_role(request: Request, id: int):
    return await _update(request, id)


@bp.patch("/<id:int>")
@doc.tag("roles")
@doc.summary("change some fields of a role")
@doc.consumes(Role, partial=True)
@doc.produces(Role)
@doc.errors(404, TAKEN, 503)
async def update_role(request: Request, id: int):
    return await _update(request, id)


async def _update(request: Request, id: int) -> dict:
    async with request.app.ctx.db.transaction(request) as cur:
        role = await roles.update(cur, id, request.ctx.data)
    if role is None:
        raise NotFound(f"role {id} not found")
    return role


@bp.delete("/<id:int>")
@doc.tag("roles")
@doc.summary("delete a role")
@doc.produces({"id": int})
@doc.errors(404, 503)
async def delete_role(request: Request, id: int):
    async with request.app.ctx.db.transaction(request) as cur:
        deleted = await roles.delete(cur, id)
    if not deleted:
        raise NotFound(f"role {id} not found")
    return {"id": id}
