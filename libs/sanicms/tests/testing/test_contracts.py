"""Mocks checked against a neighbour's published spec (a tiny town service's, below)."""

import json
import sys

import pytest
from aioresponses import aioresponses

from sanicms.__main__ import main
from sanicms.testing import ServiceMocks
from sanicms.testing.contracts import (
    ContractError,
    MockContracts,
    neighbour_shape_problems,
    published_spec_problem,
    served_spec,
    to_json_schema,
)


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _reply(data):
    return {"content": {"application/json": {"schema": {
        "type": "object", "required": ["code", "data"],
        "properties": {"code": {"type": "integer", "enum": [0]}, "data": data}}}}}


ERROR = {"content": {"application/json": {"schema": _ref("Error")}}}

#: The town service's spec, cut down to what the check reads.
TOWN_SPEC = {
    "openapi": "3.0.3",
    "paths": {
        "/towns": {
            "get": {"responses": {"200": _reply({"type": "array", "items": _ref("Town")}), "400": ERROR}},
            "post": {"responses": {"201": _reply(_ref("Town")), "400": ERROR, "409": ERROR}},
        },
        "/towns/{id}": {"get": {"responses": {"200": _reply(_ref("Town")), "404": ERROR}}},
    },
    "components": {"schemas": {
        "Error": {"type": "object", "required": ["code", "message", "error"]},
        "Mayor": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
        "Town": {
            "type": "object",
            "required": ["id", "name", "mayor", "founded"],
            "properties": {
                "id": {"type": "integer", "format": "int32", "minimum": 1},
                "name": {"type": "string", "maxLength": 8},
                "mayor": {"allOf": [_ref("Mayor")], "nullable": True},
                "founded": {"type": "string", "format": "date", "nullable": True},
            },
        },
    }},
}
TOWN = {"id": 1, "name": "Ely", "mayor": {"name": "Ann"}, "founded": "1109-01-01"}


@pytest.fixture
def contracts():
    return MockContracts({"town": TOWN_SPEC})


def test_an_answer_the_neighbour_could_send_passes(contracts):
    contracts.check("GET", "/towns/1", 200, TOWN)
    contracts.check("GET", "/towns/1", 200, {**TOWN, "mayor": None, "founded": None})  # nullable, also around allOf
    contracts.check("GET", "/towns?ids=1,2", 200, [TOWN, TOWN])  # the query is not part of the path
    contracts.check("POST", "http://downstream.mock/towns/", 201, TOWN)


def test_a_wrong_field_is_named_with_the_neighbour_and_the_route(contracts):
    with pytest.raises(ContractError) as caught:
        contracts.check("GET", "/towns/1", 200, {**TOWN, "name": 7})
    assert str(caught.value) == "town GET /towns/{id} 200: data.name: 7 is not of type 'string'"
    with pytest.raises(ContractError, match=r"town GET /towns 200: data\.1\.mayor\.name: missing"):
        contracts.check("GET", "/towns", 200, [TOWN, {**TOWN, "mayor": {}}])
    with pytest.raises(ContractError, match=r"data\.founded: missing \(the neighbour always sends it\)"):
        contracts.check("GET", "/towns/1", 200, {k: v for k, v in TOWN.items() if k != "founded"})
    with pytest.raises(ContractError, match=r"data\.founded: 'yesterday' is not a 'date'"):
        contracts.check("GET", "/towns/1", 200, {**TOWN, "founded": "yesterday"})
    with pytest.raises(ContractError, match=r"data\.name: 'Cambridge' is too long"):
        contracts.check("GET", "/towns/1", 200, {**TOWN, "name": "Cambridge"})
    with pytest.raises(ContractError, match=r"town GET /towns/\{id\} 200: data: None is not of type 'object'"):
        contracts.check("GET", "/towns/1", 200, None)


def test_every_problem_of_a_mock_is_named_at_once(contracts):
    with pytest.raises(ContractError) as caught:
        contracts.check("GET", "/towns/1", 200, {"id": 0, "name": 7})
    assert str(caught.value) == (
        "town GET /towns/{id} 200: data.mayor: missing (the neighbour always sends it); "
        "data.founded: missing (the neighbour always sends it); data.id: 0 is less than the minimum of 1; "
        "data.name: 7 is not of type 'string'")


def test_an_unknown_route_or_method_fails(contracts):
    with pytest.raises(ContractError, match=r"^no neighbour \(town\) serves /villages/1$"):
        contracts.check("GET", "/villages/1", 200, TOWN)
    with pytest.raises(ContractError, match=r"^town has no DELETE /towns/\{id\} \(it serves GET\)$"):
        contracts.check("DELETE", "/towns/1", 200, {"id": 1})
    with pytest.raises(ContractError, match="no neighbour"):
        contracts.check("GET", "/towns/1/mayor", None)  # a route only, as for exception=


def test_statuses_follow_the_spec_but_any_server_may_fail(contracts):
    contracts.check("GET", "/towns/1", 404)
    contracts.check("POST", "/towns", 409)
    for status in (401, 403, 500, 502, 503):  # deployment-dependent, or any server's failure
        contracts.check("GET", "/towns/1", status)
    odd = {**TOWN_SPEC, "components": {"schemas": {"Error": {"type": "object", "required": ["reason"]}}}}
    with pytest.raises(ContractError, match=r"town GET /towns/\{id\} 404: body\.reason: missing"):
        MockContracts({"town": odd}).check("GET", "/towns/1", 404)  # the envelope against the documented one
    with pytest.raises(ContractError, match=r"town GET /towns 404: not a status it answers with \(its errors: 400\)"):
        contracts.check("GET", "/towns", 404)
    with pytest.raises(ContractError, match=r"town POST /towns 200: not a status it answers with \(it answers 201\)"):
        contracts.check("POST", "/towns", 200, TOWN)


def test_a_neighbour_without_a_published_spec_is_named():
    contracts = MockContracts({"town": TOWN_SPEC, "farm": None})
    contracts.check("GET", "/towns/1", 200, TOWN)
    with pytest.raises(ContractError, match=r"farm publish no spec to check against \(unchecked=True skips"):
        contracts.check("GET", "/farms/1", 200, {})


def test_service_mocks_check_at_registration_unless_told_not_to(contracts):
    with aioresponses() as mocker:
        mocks = ServiceMocks(mocker, contracts=contracts)
        mocks.get("/towns/1", payload=TOWN)
        mocks.get("/towns/2", status=404, message="town 2 not found")
        mocks.get("/towns/3", exception=TimeoutError())
        with pytest.raises(ContractError, match=r"data\.id: 0 is less than the minimum of 1"):
            mocks.get("/towns/4", payload={**TOWN, "id": 0})
        with pytest.raises(ContractError, match="no neighbour"):
            mocks.get("/village/5", exception=TimeoutError())  # the route is checked even so
        mocks.get("/towns/6", body=b"<html>proxy error</html>")  # raw bytes: never checked
        mocks.get("/towns/7", payload={"garbage": True}, unchecked=True)
        mocks.get("/anything", payload=1, unchecked=True)
        assert len(mocker._matches) == 6  # fence: aioresponses'
    with aioresponses() as mocker:
        ServiceMocks(mocker).get("/villages/1", payload=None)  # no contracts: nothing is checked (as before)


def test_nullable_becomes_a_null_type_in_json_schema():
    assert to_json_schema({"type": "string", "nullable": True}) == {"type": ["string", "null"]}
    assert to_json_schema({"allOf": [_ref("X")], "nullable": True, "description": "d"}) == {
        "anyOf": [{"allOf": [_ref("X")], "description": "d"}, {"type": "null"}]}
    # a property called "nullable" is a name, not the keyword
    assert to_json_schema({"type": "object", "properties": {"nullable": {"type": "boolean"}}}) == {
        "type": "object", "properties": {"nullable": {"type": "boolean"}}}


TOWN_SERVER = '''
import sanicms
from sanic import Blueprint
from sanicms import doc

bp = Blueprint("towns", url_prefix="/towns")


@bp.get("/<id:int>")
@doc.produces({"id": int, "name": str})
async def get_town(request, id: int):
    return {"id": id, "name": "Ely"}


def create_app(**overrides):
    settings = sanicms.load_settings(environ={}, overrides={"SERVICE_NAME": "town", **overrides})
    return sanicms.create_app(settings, [bp], name="town_spec_command")
'''


@pytest.fixture
def town_service(tmp_path, monkeypatch):
    """An installed ``town_service`` package with a server, as the spec command expects."""
    package = tmp_path / "town_service"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "server.py").write_text(TOWN_SERVER)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("town_service", "town_service.server"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield package
    for name in ("town_service", "town_service.server"):
        sys.modules.pop(name, None)


def test_the_spec_command_publishes_the_served_spec_and_the_check_catches_drift(town_service, capsys):
    from town_service.server import create_app

    main(["spec", "town", "--write"])
    assert capsys.readouterr().out == "town: published spec written\n"
    published = (town_service / "openapi.json").read_text()
    assert json.loads(published)["paths"]["/towns/{id}"]["get"]["responses"]["200"]
    served = served_spec(create_app)
    assert published_spec_problem(served, "town_service", "town") is None

    (town_service / "openapi.json").write_text(published.replace('"name"', '"title"'))
    problem = published_spec_problem(served, "town_service", "town")
    assert problem.startswith("town_service/openapi.json is not the spec the service serves; "
                              "refresh it: `python -m sanicms spec town --write`")
    assert '-      "title": "towns"' in problem and '+      "name": "towns"' in problem  # the first lines that differ

    (town_service / "openapi.json").unlink()
    assert published_spec_problem(served, "town_service", "town") == (
        "town_service/openapi.json is missing: write it with `python -m sanicms spec town --write`")
    main(["spec", "town"])  # without --write: printed, not written
    assert json.loads(capsys.readouterr().out)["info"]["title"]
    assert not (town_service / "openapi.json").exists()


def test_the_spec_command_says_so_when_the_service_is_not_installed():
    with pytest.raises(SystemExit) as stopped:
        main(["spec", "nosuch", "--write"])
    assert str(stopped.value) == ("nosuch: its package nosuch_service is not installed here; `make install` "
                                  "installs every service in services/, then run this again")


def test_a_path_value_the_route_refuses_cannot_have_a_success():
    spec = {**TOWN_SPEC, "paths": {"/towns/{id}": {"get": {
        **TOWN_SPEC["paths"]["/towns/{id}"]["get"],
        "parameters": [{"name": "id", "in": "path", "required": True,
                        "schema": {"type": "integer", "format": "int32", "minimum": -2**31, "maximum": 2**31 - 1}}],
    }}}}
    contracts = MockContracts({"town": spec})
    contracts.check("GET", "/towns/7", 200, TOWN)
    with pytest.raises(ContractError, match=r"GET /towns/\{id\}: path parameter id: 'abc' is not of type 'integer'"):
        contracts.check("GET", "/towns/abc", 200, TOWN)
    with pytest.raises(ContractError, match=r"path parameter id: 4294967296 is greater than the maximum"):
        contracts.check("GET", "/towns/4294967296", None)  # an exception= mock: the route alone, values too
    contracts.check("GET", "/towns/abc", 404)  # what the neighbour does answer


def test_a_neighbours_shape_copied_by_hand_and_drifted_is_named():
    town = TOWN_SPEC["components"]["schemas"]["Town"]
    drifted = {**town, "properties": {**town["properties"], "name": {"type": "string", "maxLength": 80}}}
    ours = {"components": {"schemas": {"Town": drifted, "Error": {}, "Visit": {}}}}
    assert neighbour_shape_problems(ours, {"town": TOWN_SPEC, "farm": None}) == [
        "town Town.name: maxLength is 8 in the published spec, 80 in the caller's shape"]
    same = {"components": {"schemas": {"Town": town}}}
    assert neighbour_shape_problems(same, {"town": TOWN_SPEC}) == []
