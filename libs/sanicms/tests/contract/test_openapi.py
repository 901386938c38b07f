"""The OpenAPI spec: peewee models to JSON schemas, and the spec a live app serves."""

import datetime
import json

import pytest
from openapi_spec_validator import validate
from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    Check,
    DateField,
    DateTimeField,
    FloatField,
    IntegerField,
    Model,
    SmallIntegerField,
    TextField,
    UUIDField,
)
from sanic import Blueprint, Sanic

from sanicms import create_app, doc, ids_from, load_settings, page_from, respond
from sanicms.contract.openapi import NO_NUL, PATCH, READ, WRITE, Schemas
from sanicms.testing import LiveServer


class Owner:
    """An owner, as the owner service returns it."""

    id = IntegerField(verbose_name="owner id")
    name = CharField(max_length=20, verbose_name="owner name")


class Thing(Model):
    id = AutoField(verbose_name="thing id")
    name = CharField(max_length=10, verbose_name="thing name")
    size = SmallIntegerField(constraints=[Check("size > 0")], null=True)
    weight = FloatField(default=1.5)
    big = BigIntegerField(default=0)
    ok = BooleanField(default=True)
    day = DateField(null=True)
    token = UUIDField(null=True)
    notes = TextField(null=True)
    owner_id = IntegerField(help_text=Owner, verbose_name="who owns it")
    created = DateTimeField(default=datetime.datetime.utcnow)

    class Meta:
        read_only = ("created",)


def component(schemas, shape, mode=READ):
    ref = schemas.of(shape, mode)["$ref"]
    return schemas.components[ref.rsplit("/", 1)[1]]


# --------------------------------------------------------------------------- model -> schema


def test_each_field_type_gets_its_type_format_and_bounds():
    props = component(Schemas(), Thing)["properties"]
    assert props["id"] == {"type": "integer", "format": "int32", "minimum": -2**31, "maximum": 2**31 - 1,
                           "description": "thing id"}
    assert props["name"] == {"type": "string", "maxLength": 10, "description": "thing name"}
    assert props["size"] == {"type": "integer", "format": "int32", "minimum": 0, "exclusiveMinimum": True,
                             "maximum": 2**15 - 1, "nullable": True}
    assert props["weight"] == {"type": "number"}
    assert props["big"]["format"] == "int64"
    assert props["ok"] == {"type": "boolean"}
    assert props["day"] == {"type": "string", "format": "date", "nullable": True}
    assert props["token"] == {"type": "string", "format": "uuid", "nullable": True}
    assert props["notes"] == {"type": "string", "nullable": True}
    assert props["created"] == {"type": "string", "format": "date-time"}


def test_a_reply_has_every_field_and_the_referenced_object():
    schemas = Schemas()
    thing = component(schemas, Thing)
    assert thing["required"] == ["id", "name", "size", "weight", "big", "ok", "day", "token", "notes",
                                 "owner_id", "owner", "created"]
    assert thing["properties"]["owner"] == {"allOf": [{"$ref": "#/components/schemas/Owner"}],
                                            "nullable": True, "description": "who owns it"}
    assert schemas.components["Owner"] == {
        "type": "object",
        "description": "An owner, as the owner service returns it.",
        "properties": {
            "id": {"type": "integer", "format": "int32", "minimum": -2**31, "maximum": 2**31 - 1,
                   "description": "owner id"},
            "name": {"type": "string", "maxLength": 20, "description": "owner name"},
        },
        "required": ["id", "name"],
    }


def test_a_body_leaves_out_read_only_fields_and_refuses_unknown_ones():
    body = component(Schemas(), Thing, WRITE)
    assert list(body["properties"]) == ["name", "size", "weight", "big", "ok", "day", "token", "notes", "owner_id"]
    assert body["required"] == ["name", "owner_id"]  # null or a default makes a field optional
    assert body["additionalProperties"] is False
    assert body["properties"]["name"]["pattern"] == NO_NUL
    assert body["properties"]["notes"]["maxLength"] == 65_536  # what the input check allows
    assert body["properties"]["weight"]["default"] == 1.5
    assert "owner" not in body["properties"]


def test_a_patch_body_wants_at_least_one_field_and_requires_none():
    body = component(Schemas(), Thing, PATCH)
    assert "required" not in body and body["minProperties"] == 1


def test_each_shape_is_named_once_and_referenced():
    schemas = Schemas()
    first, second = schemas.of(Thing), schemas.of([Thing])
    assert first == {"$ref": "#/components/schemas/Thing"}
    assert second == {"type": "array", "items": first}
    assert schemas.of(Thing, WRITE) == {"$ref": "#/components/schemas/ThingInput"}
    assert schemas.of(Thing, PATCH) == {"$ref": "#/components/schemas/ThingPatch"}
    assert [n for n in schemas.components if n.startswith(("Thing", "Owner"))] == \
        ["Thing", "Owner", "ThingInput", "ThingPatch"]


def test_dicts_and_python_types():
    schemas = Schemas()
    assert schemas.of({"id": int}) == {"type": "object", "properties": {
        "id": {"type": "integer", "format": "int32", "minimum": -2**31, "maximum": 2**31 - 1}}, "required": ["id"]}
    assert schemas.of(str) == {"type": "string"}
    assert schemas.of(bool | None) == {"type": "boolean", "nullable": True}
    nested = schemas.of({"things": [Thing], "count": int})
    assert nested["properties"]["things"] == {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}
    assert nested["required"] == ["things", "count"]


def test_shapes_it_cannot_describe_are_refused():
    with pytest.raises(TypeError):
        Schemas().of([Thing, Owner])
    with pytest.raises(TypeError):
        Schemas().of(object())
    with pytest.raises(TypeError):
        Schemas().of({"things": [Thing]}, WRITE)


# --------------------------------------------------------------------------- a live app

bp = Blueprint("things", url_prefix="/things")


@bp.post("/")
@doc.tag("things")
@doc.summary("make a thing")
@doc.description("Owners must exist.")
@doc.consumes(Thing)
@doc.produces(Thing, status=201)
@doc.errors((409, "the name is taken"))
async def create_thing(request):
    return respond({"name": request.ctx.data["name"]}, status=201)


@bp.get("/")
@doc.produces([Thing], paginated=True)
@doc.ids_param()
async def list_things(request):
    page, ids = page_from(request), ids_from(request)
    return {"ids": ids}, page.info(0)


@bp.route("/<id:int>", methods=["PUT", "PATCH"])
@doc.consumes(Thing, partial=True)
@doc.produces(Thing)
async def change_thing(request, id: int):
    return {"id": id, **request.ctx.data}


@bp.post("/batch")
@doc.consumes([{"name": str, "count": int}])
@doc.produces({"created": int})
async def batch(request):
    return {"created": len(request.ctx.data)}


@pytest.fixture(scope="module")
def live():
    Sanic.test_mode = True
    settings = load_settings(environ={}, overrides={
        "SERVICE_NAME": "things", "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "DB_CONNECT_TIMEOUT": 0.2, "API_TITLE": "Things", "API_VERSION": "9.9", "API_DESCRIPTION": "All things.",
    })
    app = create_app(settings, [bp], name="openapi_test")
    server = LiveServer(app)
    server.start()
    yield server
    server.stop()
    Sanic.unregister_app(app)


@pytest.fixture(scope="module")
def spec(live):
    res = live.request("GET", "/openapi/spec.json")
    assert res.status_code == 200
    return res.json()


def test_the_spec_is_valid_openapi_3_with_the_settings_info(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Things"
    assert spec["info"]["version"] == "9.9"
    assert spec["info"]["description"] == "All things."


def test_every_route_is_there_and_nothing_else(spec):
    operations = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert operations == {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("POST", "/things"),
                          ("GET", "/things"),
                          ("PUT", "/things/{id}"), ("PATCH", "/things/{id}"), ("POST", "/things/batch")}


def test_methods_of_one_handler_get_their_own_operation_ids(spec):
    item = spec["paths"]["/things/{id}"]
    assert item["put"]["operationId"] == "put~things.change_thing"
    assert item["patch"]["operationId"] == "patch~things.change_thing"


def test_an_operation_has_its_docs_body_and_every_status(spec):
    op = spec["paths"]["/things"]["post"]
    assert (op["summary"], op["description"], op["tags"]) == ("make a thing", "Owners must exist.", ["things"])
    assert op["requestBody"]["required"] is True
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ThingInput"}
    assert list(op["responses"]) == ["201", "400", "409", "413", "415"]
    assert op["responses"]["409"]["description"] == "the name is taken"
    ok = op["responses"]["201"]["content"]["application/json"]["schema"]
    assert ok["properties"]["code"] == {"type": "integer", "enum": [0], "description": "0: success"}
    assert ok["properties"]["data"] == {"$ref": "#/components/schemas/Thing"}
    bad = op["responses"]["400"]["content"]["application/json"]["schema"]
    assert bad == {"$ref": "#/components/schemas/ValidationError"}


def test_pages_ids_and_path_parameters_carry_the_bounds_that_are_enforced(spec):
    params = {p["name"]: p for p in spec["paths"]["/things"]["get"]["parameters"]}
    assert params["page"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 1}
    assert params["page_size"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
    assert (params["ids"]["style"], params["ids"]["explode"]) == ("form", False)
    assert params["ids"]["schema"]["maxItems"] == 100
    ok = spec["paths"]["/things"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["required"] == ["code", "data", "pagination"]
    (path_id,) = spec["paths"]["/things/{id}"]["put"]["parameters"]
    assert path_id == {"name": "id", "in": "path", "required": True,
                       "schema": {"type": "integer", "format": "int32", "minimum": -2**31, "maximum": 2**31 - 1}}
    assert "404" in spec["paths"]["/things/{id}"]["put"]["responses"]


def test_patch_bodies_are_partial(spec):
    assert spec["paths"]["/things/{id}"]["patch"]["requestBody"]["content"]["application/json"]["schema"] == \
        {"$ref": "#/components/schemas/ThingPatch"}


def test_health_endpoints_are_documented(spec):
    assert list(spec["paths"]["/readyz"]["get"]["responses"]) == ["200", "413", "503"]
    data = spec["paths"]["/healthz"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert data["properties"]["data"]["required"] == ["status", "database", "pools", "tracing"]
    pool = data["properties"]["data"]["properties"]["pools"]["items"]
    assert {"role", "server", "size", "idle", "in_use", "waiting"} <= set(pool["properties"])


def test_metrics_is_documented_as_the_text_it_answers_not_the_envelope(spec):
    responses = spec["paths"]["/metrics"]["get"]["responses"]
    assert set(responses["200"]["content"]) == {"text/plain", "application/openmetrics-text"}
    assert set(responses["413"]["content"]) == {"application/json"}  # errors keep the envelope


def test_swagger_ui_loads_the_spec(live):
    res = live.request("GET", "/openapi/")
    assert res.status_code == 200 and "swagger-ui" in res.text
    assert "/openapi/spec.json" in res.text


# --------------------------------------------------------------------------- the spec is enforced


def test_bodies_are_checked_against_the_same_model(live):
    res = live.request("POST", "/things", json={"name": "x" * 11, "owner_id": "1", "created": "now", "extra": 1})
    assert res.status_code == 400
    assert {p["field"] for p in res.json()["error"]} == {"name", "owner_id", "created", "extra"}
    assert live.request("POST", "/things", json={"name": "ok", "owner_id": 1}).status_code == 201


def test_a_list_body_names_problems_by_index(live):
    res = live.request("POST", "/things/batch", json=[{"name": "a", "count": 1}, {"name": 2}])
    assert res.status_code == 400
    assert res.json()["error"] == [{"field": "1.name", "message": "must be a string, got number"},
                                   {"field": "1.count", "message": "is required"}]
    assert live.request("POST", "/things/batch", json=[{"name": "a", "count": 1}]).json()["data"] == {"created": 1}


def test_patch_needs_a_field_and_put_every_required_one(live):
    assert live.request("PATCH", "/things/1", json={}).status_code == 400
    assert live.request("PATCH", "/things/1", json={"name": "b"}).json()["data"] == {"id": 1, "name": "b"}


@pytest.mark.parametrize("query", ["page=", "page=%2B1", "page=1_0", "page=%201", "page_size=0", "page=1.0",
                                   "ids=", "ids=1,,2", "ids=2147483648", "ids=" + ",".join(["1"] * 101)])
def test_query_parameters_outside_the_spec_are_a_400(live, query):
    res = live.request("GET", "/things?" + query)
    assert res.status_code == 400, res.text
    assert res.json()["error"][0]["field"] in ("page", "page_size", "ids")


def test_integer_path_parameters_are_32_bit(live):
    res = live.request("PATCH", "/things/2147483648", json={"name": "b"})
    assert res.status_code == 400
    assert res.json()["error"] == [{"field": "id", "message": "must be between -2147483648 and 2147483647"}]
    assert live.request("PATCH", "/things/abc", json={"name": "b"}).status_code == 404


def test_a_405_says_which_methods_are_allowed(live):
    res = live.request("DELETE", "/things/1")
    assert res.status_code == 405
    assert set(res.headers["allow"].split(", ")) == {"PUT", "PATCH", "OPTIONS"}
    assert res.json()["code"] == 405


def test_timestamps_are_sent_in_utc_with_an_offset():
    from sanicms.responses import dumps

    assert json.loads(dumps({"t": datetime.datetime(2026, 1, 2, 3, 4, 5)})) == {"t": "2026-01-02T03:04:05Z"}


def test_text_that_cannot_be_stored_is_refused_by_field(live):
    body = b'{"name": "\\ud800", "owner_id": 1}'  # a lone surrogate: valid JSON, not UTF-8
    res = live.request("POST", "/things", content=body, headers={"content-type": "application/json"})
    assert res.status_code == 400
    assert res.json()["error"] == [{"field": "name", "message": "must be valid Unicode text"}]


@pytest.mark.parametrize("media,status", [
    ("application/json", 201), ("application/json; charset=utf-8", 201), ("application/merge-patch+json", 201),
    (None, 201), ("text/plain", 415), ("application/x-www-form-urlencoded", 415), ("multipart/form-data", 415),
])
def test_a_json_body_sent_as_another_media_type_is_a_415(live, media, status):
    headers = {"content-type": media} if media else {}
    body = b'{"name": "media", "owner_id": 1}'
    res = live.request("POST", "/things", content=body, headers=headers)
    assert res.status_code == status, res.text
    if status == 415:
        assert res.json() == {"code": 415, "message": "the body must be JSON (content-type: application/json)",
                              "error": [{"field": "", "message": f"content-type {media} is not JSON"}]}


def test_a_number_too_long_to_read_is_named_as_such(live):
    body = b'{"name": "n", "owner_id": ' + b"1" * 5000 + b"}"
    res = live.request("POST", "/things", content=body, headers={"content-type": "application/json"})
    assert res.status_code == 400
    assert res.json()["error"] == [{"field": "", "message": "a number has too many digits"}]


def test_the_allowed_values_of_a_field_are_its_enum():
    import peewee

    from sanicms.contract.openapi import field_schema
    from sanicms.contract.validation import rule_for

    class Ticket(peewee.Model):
        state = peewee.CharField(max_length=9, choices=["open", "closed"])
        size = peewee.CharField(max_length=1, null=True, constraints=[peewee.Check("size IN ('S', 'L')")])

    assert field_schema(Ticket.state, rule_for(Ticket.state), writing=True)["enum"] == ["open", "closed"]
    size = field_schema(Ticket.size, rule_for(Ticket.size), writing=False)
    assert (size["enum"], size["nullable"]) == (["S", "L", None], True)
