"""What sanicms relies on in sanic-ext's internals (sanicms/_compat/sanic_ext.py), on a bare
Sanic app with sanic-ext's OpenAPI extension, started for real (the spec is built at start).

A failure here after an upgrade names the internal that changed; fix the fence, not the callers.
"""

from sanic import Sanic, response
from sanic_ext import Extend
from sanic_ext.extensions.openapi.builders import OperationBuilder

from sanicms._compat.sanic_ext import operation_id, operations, with_operation_id


def test_one_handler_for_two_methods_shares_one_operation_named_for_the_last(serve):
    app = Sanic("compat_sanic_ext")
    Extend(app)
    found = {}

    @app.route("/things", methods=["GET", "POST"], name="things")
    async def things(request):
        return response.json({})

    @app.after_server_start
    async def look(app):
        found.update(operations())

    async def nothing(port):
        return None

    serve(app, nothing)
    assert "/things" in found, f"SpecificationBuilder._paths has no /things: {sorted(found)}"
    get, post = found["/things"]["get"], found["/things"]["post"]
    assert isinstance(get, OperationBuilder) and get is post, "the two methods no longer share one operation"
    assert operation_id(get) in ("get~things", "post~things"), \
        f"sanic-ext no longer writes the id it makes into _default: {operation_id(get)!r}"

    clone = with_operation_id(get, "get~things")
    assert clone is not get and operation_id(clone) == "get~things"
    assert clone.build().serialize()["operationId"] == "get~things"  # what the spec shows
    renamed = with_operation_id(post, "post~things")
    assert operation_id(renamed) == "post~things"
    assert operation_id(clone) == "get~things"  # each copy has its own defaults


def test_an_id_the_handler_gave_itself_still_wins():
    operation = OperationBuilder()
    operation.name("chosen")
    assert with_operation_id(operation, "get~made").build().serialize()["operationId"] == "chosen"
