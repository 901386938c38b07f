"""HTTP routes of the user service, under ``/users``."""

from sanic import Blueprint, Request

from sanicms import NotFound, References, Table, doc, ids_from, page_from, respond

from .models import User

bp = Blueprint("users", url_prefix="/users")
users = Table(User)
references = References.of(User)  # city_id and role_id: records of the city and role services


#: Statuses of routes that call the city and role services (see sanicms.calls.client).
DOWNSTREAM = (502, 503, 504)
MISSING = (400, "invalid body, or the city or role it names does not exist; `error` names each field")


@bp.post("/")
@doc.tag("users")
@doc.summary("create a user")
@doc.description("The city and role must exist; the reply includes both.")
@doc.consumes(User)
@doc.produces(User, status=201)
@doc.errors(MISSING, *DOWNSTREAM)
async def create_user(request: Request):
    found = await references.check(request, request.ctx.data)
    async with request.app.ctx.db.transaction(request) as cur:
        user = await users.insert(cur, request.ctx.data)
    return respond({**user, **found}, status=201)


@bp.get("/<id:int>")
@doc.tag("users")
@doc.summary("get a user with its city and role")
@doc.description("City and role are fetched from their services concurrently.")
@doc.produces(User)
@doc.errors(404, *DOWNSTREAM)
async def get_user(request: Request, id: int):
    async with request.app.ctx.db.acquire(request) as cur:
        user = await users.get(cur, id)
    if user is None:
        raise NotFound(f"user {id} not found")
    return await references.expand(request, user)


@bp.get("/")
@doc.tag("users")
@doc.summary("list users, a page at a time or those with the given ids, with their cities and roles")
@doc.produces([User], paginated=True)
@doc.ids_param()
@doc.errors(*DOWNSTREAM)
async def list_users(request: Request):
    async with request.app.ctx.db.acquire(request) as cur:
        rows, pagination = await users.listing(cur, page_from(request), ids_from(request))
    return await references.expand_many(request, rows), pagination


@bp.put("/<id:int>")
@doc.tag("users")
@doc.summary("replace a user: every writable field")
@doc.description("A new city or role must exist.")
@doc.consumes(User)
@doc.produces(User)
@doc.errors(404, MISSING, *DOWNSTREAM)
async def replace_user(request: Request, id: int):
    return await _update(request, id)


@bp.patch("/<id:int>")
@doc.tag("users")
@doc.summary("change some fields of a user")
@doc.description("A new city or role must exist.")
@doc.consumes(User, partial=True)
@doc.produces(User)
@doc.errors(404, MISSING, *DOWNSTREAM)
async def update_user(request: Request, id: int):
    return await _update(request, id)


async def _update(request: Request, id: int) -> dict:
    # primary=True: the row this change starts from must be the latest, not a replica's copy.
    async with request.app.ctx.db.acquire(request, primary=True) as cur:
        user = await users.get(cur, id)
    if user is None:
        raise NotFound(f"user {id} not found")
    # Every record of the reply is fetched before the write: if city or role fails, nothing is
    # written, and the 5xx is safe to retry.
    found = await references.check(request, request.ctx.data, user)
    async with request.app.ctx.db.transaction(request) as cur:
        user = await users.update(cur, id, request.ctx.data)
    if user is None:
        raise NotFound(f"user {id} not found")
    return await references.attach(request, user, found)


@bp.delete("/<id:int>")
@doc.tag("users")
@doc.summary("delete a user")
@doc.produces({"id": int})
@doc.errors(404, 503)
async def delete_user(request: Request, id: int):
    async with request.app.ctx.db.transaction(request) as cur:
        deleted = await users.delete(cur, id)
    if not deleted:
        raise NotFound(f"user {id} not found")
    return {"id": id}
