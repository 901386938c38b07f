"""The doc decorators: what they record, and the body check ``consumes`` adds."""

from types import SimpleNamespace

import pytest
import ujson
from peewee import CharField, IntegerField
from sanic_ext import openapi
from sanic_ext.extensions.openapi.builders import OperationStore

from sanicms import ValidationError, doc
from sanicms.contract.doc import meta_of


class Point:
    x = IntegerField()
    label = CharField(max_length=3, null=True)


def request_with(body: bytes):
    return SimpleNamespace(body=body, json=ujson.loads(body) if body else None, ctx=SimpleNamespace(),
                           headers={"content-type": "application/json"})


async def call(handler, body: bytes):
    request = request_with(body)
    return await handler(request), request


def test_decorators_record_on_the_handler_in_any_order():
    @doc.tag("a")
    @doc.summary("s")
    @doc.consumes(Point, partial=True)
    @doc.description("d")
    @doc.tag("b")
    @doc.produces({"id": int}, status=201, paginated=True)
    @doc.errors(404, (409, "taken"))
    @doc.ids_param("keys")
    async def handler(request):
        return request.ctx.data

    assert meta_of(handler) == {
        "ids": "keys", "errors": {404: None, 409: "taken"}, "produces": {"id": int}, "status": 201,
        "paginated": True, "expand": True, "tags": ["b", "a"], "description": "d", "consumes": Point, "partial": True,
        "summary": "s",
    }


@pytest.mark.asyncio
async def test_consumes_gives_the_handler_clean_data_from_a_class_of_fields():
    @doc.consumes(Point)
    async def handler(request):
        return request.ctx.data

    assert (await call(handler, b'{"x": 1}'))[0] == {"x": 1}
    with pytest.raises(ValidationError) as refused:
        await call(handler, b'{"x": "1", "label": "long", "y": 0}')
    assert [p["field"] for p in refused.value.error] == ["y", "x", "label"]


@pytest.mark.asyncio
async def test_consumes_a_dict_of_python_types():
    @doc.consumes({"name": str, "age": int | None})
    async def handler(request):
        return request.ctx.data

    assert (await call(handler, b'{"name": "a"}'))[0] == {"name": "a"}
    assert (await call(handler, b'{"name": "a", "age": null}'))[0] == {"name": "a", "age": None}
    with pytest.raises(ValidationError):
        await call(handler, b'{"age": 1}')


@pytest.mark.asyncio
async def test_a_list_body_must_be_an_array():
    @doc.consumes([Point])
    async def handler(request):
        return request.ctx.data

    assert (await call(handler, b'[{"x": 1}, {"x": 2}]'))[0] == [{"x": 1}, {"x": 2}]
    with pytest.raises(ValidationError) as refused:
        await call(handler, b'{"x": 1}')
    assert refused.value.message == "the body must be a JSON array"


def test_unsupported_shapes_fail_at_import_time():
    with pytest.raises(TypeError):
        doc.consumes(int)
    with pytest.raises(TypeError):
        doc.consumes({"nested": [Point]})


def test_sanic_ext_decorators_below_consumes_are_kept():
    @doc.consumes(Point)
    @openapi.deprecated()
    async def handler(request):
        return None

    assert OperationStore()[handler].deprecated is True
