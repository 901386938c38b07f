"""What a route declares beyond its body: its parameters (``doc.query``, ``doc.path``,
``doc.header``) and its business errors (``doc.errors``); the spec, the check and the value."""

import datetime
import uuid
from decimal import Decimal

import pytest
from openapi_spec_validator import validate
from peewee import AutoField, CharField, IntegerField, Model
from sanic import Blueprint, Sanic

from sanicms import Conflict, create_app, doc, load_settings, respond
from sanicms.contract.doc import meta_of
from sanicms.contract.openapi import unique_columns
from sanicms.testing import LiveServer


class AlreadyPaid(Conflict):
    message = "the invoice is already paid"


class Invoice(Model):
    id = AutoField()
    number = CharField(max_length=20, unique=True)
    total = IntegerField()


class Pair(Model):
    id = AutoField()
    name = CharField(max_length=20)
    province = CharField(max_length=20)

    class Meta:
        indexes = ((("name", "province"), True),)


bp = Blueprint("invoices", url_prefix="/invoices")


@bp.get("/unpaid")
@doc.query("user_id", int, gt=0, description="whose invoices")
@doc.query("status", str, choices=["new", "late"], default="new", description="which ones")
@doc.query("since", datetime.date, required=False)
@doc.query("ref", uuid.UUID, required=False)
@doc.query("over", Decimal, ge=0, required=False)
@doc.query("urgent", bool, default=False)
@doc.header("X-Tenant", str, max_length=8, required=False, description="the tenant")
async def unpaid(request):
    p = request.ctx.params
    return {"user_id": p.user_id, "status": p["status"], "since": p.since, "ref": p.ref,
            "over": None if p.over is None else str(p.over), "urgent": p.urgent, "tenant": p.x_tenant}


@bp.post("/<id:int>/pay")
@doc.path("id", int, gt=0, description="the invoice")
@doc.errors(AlreadyPaid, 404)
async def pay(request, id: int):
    if id == 2:
        raise AlreadyPaid()
    return {"id": id, "seen": request.ctx.params.id}


@bp.post("/")
@doc.consumes(Invoice)
@doc.query("dry_run", bool, default=False)
@doc.produces(Invoice, status=201)
async def create(request):
    return respond({**request.ctx.data, "dry_run": request.ctx.params.dry_run}, status=201)


@bp.get("/plain")
async def plain(request):
    return {"params": getattr(request.ctx, "params", "none")}


# --------------------------------------------------------------------------- declarations


def test_errors_take_a_status_and_why_a_pair_or_an_error_class():
    async def handler(request): ...
    doc.errors(409, "already paid", 404, (422, "no"), AlreadyPaid, 503)(handler)
    assert meta_of(handler)["errors"] == {409: "the invoice is already paid", 404: None, 422: "no", 503: None}
    with pytest.raises(TypeError, match=r"doc\.errors takes"):
        doc.errors("already paid")


def test_the_columns_a_body_writes_that_must_be_unique():
    assert unique_columns(Invoice) == ["number"]
    assert unique_columns([Pair]) == ["(name, province)"]
    assert unique_columns({"name": str}) == []


def test_a_parameter_declaration_that_cannot_hold_fails_at_import():
    with pytest.raises(TypeError, match="bounds"):
        doc.query("name", str, gt=0)
    with pytest.raises(TypeError, match="default"):
        doc.query("n", int, ge=1, default=0)
    with pytest.raises(TypeError, match="no parameter type"):
        doc.query("n", list)
    with pytest.raises(TypeError, match="Authorization"):
        doc.header("Authorization")

    async def handler(request): ...
    with pytest.raises(TypeError, match="declared twice"):
        doc.query("n", int)(doc.query("n", int)(handler))


# --------------------------------------------------------------------------- a live app


@pytest.fixture(scope="module")
def live():
    Sanic.test_mode = True
    settings = load_settings(environ={}, overrides={
        "SERVICE_NAME": "invoices", "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "DB_CONNECT_TIMEOUT": 0.2})
    app = create_app(settings, [bp], name="declared_test")
    server = LiveServer(app)
    server.start()
    yield server
    server.stop()
    Sanic.unregister_app(app)


@pytest.fixture(scope="module")
def spec(live):
    res = live.request("GET", "/openapi/spec.json")
    assert res.status_code == 200
    validate(res.json())
    return res.json()


def test_the_spec_lists_each_declared_parameter_with_its_rule(spec):
    op = spec["paths"]["/invoices/unpaid"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["user_id"] == {"name": "user_id", "in": "query", "required": True, "description": "whose invoices",
                                 "schema": {"type": "integer", "format": "int32", "minimum": 0,
                                            "exclusiveMinimum": True, "maximum": 2**31 - 1}}
    assert params["status"]["required"] is False
    assert params["status"]["schema"] == {"type": "string", "pattern": "^[^\\u0000]*$", "enum": ["new", "late"],
                                          "default": "new"}
    assert params["since"]["schema"] == {"type": "string", "format": "date"}
    assert params["ref"]["schema"] == {"type": "string", "format": "uuid"}
    assert params["urgent"]["schema"] == {"type": "boolean", "default": False}
    assert params["X-Tenant"]["in"] == "header" and params["X-Tenant"]["schema"]["maxLength"] == 8
    assert "400" in op["responses"]
    pay = spec["paths"]["/invoices/{id}/pay"]["post"]
    assert pay["parameters"] == [{"name": "id", "in": "path", "required": True, "description": "the invoice",
                                  "schema": {"type": "integer", "format": "int32", "minimum": 0,
                                             "exclusiveMinimum": True, "maximum": 2**31 - 1}}]


def test_the_spec_lists_the_declared_errors_and_the_unique_409(spec):
    pay = spec["paths"]["/invoices/{id}/pay"]["post"]["responses"]
    assert pay["409"]["description"] == "the invoice is already paid"
    assert "404" in pay
    create = spec["paths"]["/invoices"]["post"]["responses"]
    assert create["409"]["description"] == "conflict: a record with the same number exists"
    assert "409" not in spec["paths"]["/invoices/plain"]["get"]["responses"]


def test_the_parsed_values_are_on_request_ctx_params(live):
    res = live.request("GET", "/invoices/unpaid", params={
        "user_id": "7", "since": "2026-01-02", "ref": "12345678-1234-5678-1234-567812345678", "over": "10.50",
        "urgent": "true", "unknown": "left alone"}, headers={"X-Tenant": "acme"})
    assert res.status_code == 200, res.text
    assert res.json()["data"] == {"user_id": 7, "status": "new", "since": "2026-01-02",
                                  "ref": "12345678-1234-5678-1234-567812345678", "over": "10.50",
                                  "urgent": True, "tenant": "acme"}


@pytest.mark.parametrize(("query", "problems"), [
    ("", [{"field": "user_id", "message": "is required"}]),
    ("user_id=0", [{"field": "user_id", "message": "must be > 0"}]),
    ("user_id=x", [{"field": "user_id", "message": "must be an integer, got 'x'"}]),
    ("user_id=", [{"field": "user_id", "message": "must be an integer, got ''"}]),
    ("user_id=1&user_id=2", [{"field": "user_id", "message": "must be given once"}]),
    ("user_id=1&status=paid", [{"field": "status", "message": "must be one of new, late"}]),
    ("user_id=1&since=yesterday", [{"field": "since", "message": "must be an ISO 8601 date (YYYY-MM-DD)"}]),
    ("user_id=1&ref=nope", [{"field": "ref", "message": "must be a UUID"}]),
    ("user_id=1&over=-1", [{"field": "over", "message": "must be >= 0"}]),
    ("user_id=1&over=1e3", [{"field": "over", "message": "must be a decimal number with at most 5 digits before the "
                                                       "point and 5 after it, got '1e3'"}]),
    ("user_id=1&urgent=yes", [{"field": "urgent", "message": "must be true or false, got 'yes'"}]),
    ("user_id=-1&urgent=1", [{"field": "user_id", "message": "must be > 0"},
                             {"field": "urgent", "message": "must be true or false, got '1'"}]),
])
def test_a_bad_parameter_is_a_400_naming_it(live, query, problems):
    res = live.request("GET", "/invoices/unpaid?" + query)
    assert res.status_code == 400, res.text
    assert res.json() == {"code": 400, "message": "invalid query parameters", "error": problems}


def test_a_bad_header_is_named_too(live):
    res = live.request("GET", "/invoices/unpaid?user_id=1", headers={"X-Tenant": "much too long"})
    assert res.json() == {"code": 400, "message": "invalid header parameters",
                          "error": [{"field": "X-Tenant", "message": "must be at most 8 characters"}]}


def test_a_path_parameter_gets_its_bounds_and_the_handler_its_value(live):
    assert live.request("POST", "/invoices/5/pay").json() == {"code": 0, "data": {"id": 5, "seen": 5}}
    res = live.request("POST", "/invoices/0/pay")
    assert res.status_code == 400
    assert res.json()["error"] == [{"field": "id", "message": "must be > 0"}]


def test_a_declared_error_class_is_answered_in_the_envelope(live):
    res = live.request("POST", "/invoices/2/pay")
    assert res.status_code == 409
    assert res.json() == {"code": 409, "message": "the invoice is already paid", "error": None}


def test_parameters_and_a_body_together(live):
    res = live.request("POST", "/invoices?dry_run=true", json={"number": "A1", "total": 3})
    assert res.status_code == 201, res.text
    assert res.json()["data"] == {"number": "A1", "total": 3, "dry_run": True}


def test_a_route_that_declares_none_is_left_as_it_was(live):
    assert live.request("GET", "/invoices/plain?user_id=x").json()["data"] == {"params": "none"}
