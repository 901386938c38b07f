"""A caller's copies of its neighbours' published specs: read in place of the neighbour's
package, checked against what the neighbour publishes, refreshed by a command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sanicms.__main__ import main
from sanicms.contract import neighbours, published
from sanicms.contract.neighbours import spec_differences
from sanicms.contract.published import (
    PublishedSpecError,
    caller_package,
    dumps_spec,
    published_shape,
    published_spec,
    resource_path,
    schema_of,
)

TOWN = {"type": "object", "required": ["id", "name"], "properties": {
    "id": {"type": "integer", "format": "int32"},
    "name": {"type": "string", "maxLength": 128, "description": "town name"}}}
#: What the town service publishes: /towns and /towns/{id}, a Town.
TOWN_SPEC = {"openapi": "3.0.3", "info": {"title": "Town service"},
             "paths": {"/towns": {"get": {}}, "/towns/{id}": {"get": {}}},
             "components": {"schemas": {"Town": TOWN}}}

FARM_MODELS = '''
from sanicms import published_shape

TownApi = published_shape("town", "Town")
'''
FARM_SERVER = '''
import sanicms


def create_app(**overrides):
    settings = sanicms.load_settings("farm_service.settings", environ={}, overrides=overrides)
    return sanicms.create_app(settings, name="farm_copies")
'''


def make_service(root: Path, name: str, port: int, calls: tuple[str, ...] = (), files: dict[str, str] | None = None,
                 ) -> Path:
    """``root/services/<name>/``, as the registry reads one; returns its package folder."""
    package = root / "services" / name / f"{name}_service"
    package.mkdir(parents=True)
    (package.parent / "pyproject.toml").write_text(f'[project]\nname = "sanicms-{name}"\nversion = "0.1.0"\n'
                                                   f'[tool.setuptools]\npackages = ["{name}_service"]\n')
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(f'SERVICE_NAME = "{name}"\nPORT = {port}\nDATABASE_URL = ""\n'
                                         f"DOWNSTREAM_SERVICES = {list(calls)!r}\n"
                                         + "".join(f'{c.upper()}_SERVICE_URL = "http://{c}.invalid"\n' for c in calls))
    for relative, text in (files or {}).items():
        (package / relative).write_text(text)
    return package


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository where farm calls town and keeps a copy of town's spec that has drifted
    (town's names are now 128 long, farm's copy says 64). Only farm is importable: town is
    not installed, as in a deployment of farm alone."""
    town = make_service(tmp_path, "town", 9101)
    (town / "openapi.json").write_text(dumps_spec(TOWN_SPEC))
    farm = make_service(tmp_path, "farm", 9102, ("town",), {"models.py": FARM_MODELS, "server.py": FARM_SERVER})
    (farm / "neighbours").mkdir()
    old = json.loads(json.dumps(TOWN_SPEC))
    old["components"]["schemas"]["Town"]["properties"]["name"]["maxLength"] = 64
    (farm / "neighbours" / "town.json").write_text(dumps_spec(old))
    monkeypatch.syspath_prepend(str(farm.parent))
    modules = ("farm_service", "farm_service.models", "farm_service.server", "farm_service.settings")
    for name in modules:
        monkeypatch.delitem(sys.modules, name, raising=False)
    published.clear_caches()
    yield tmp_path
    for name in modules:
        sys.modules.pop(name, None)
    published.clear_caches()


def test_a_caller_reads_its_own_copy_not_the_neighbours_package(repo):
    from farm_service import models

    assert models.TownApi.name.max_length == 64  # the copy's, not town's 128
    assert published_shape("town", "Town", caller="farm_service") is models.TownApi
    assert published_shape("town", "Town", caller="farm_service.models") is models.TownApi  # __name__ will do
    assert schema_of("town", "Town", caller="farm_service")["properties"]["name"]["maxLength"] == 64
    assert published_spec("town", caller="farm_service")["info"]["title"] == "Town service"
    assert resource_path("town", caller="farm_service") == "/towns"
    with pytest.raises(PublishedSpecError, match="package town_service is not installed"):
        published_spec("town")  # no caller: the neighbour's own package, which is not here


def test_the_clients_of_a_services_app_read_its_copies(repo):
    from farm_service.server import create_app

    app = create_app(DATABASE_URL="postgresql://127.0.0.1:1/none")
    try:
        assert app.ctx.clients.town.caller == "farm_service"  # the package that called create_app
        assert app.ctx.clients.town.resource == "/towns"
    finally:
        type(app).unregister_app(app)


def test_a_missing_copy_says_which_file_and_the_command(repo):
    (repo / "services/farm/farm_service/neighbours/town.json").unlink()
    with pytest.raises(PublishedSpecError, match=r"farm_service keeps no copy of its published spec "
                                                 r"\(farm_service/neighbours/town.json\); run "
                                                 r"`python -m sanicms neighbours farm --write`"):
        published_shape("town", "Town", caller="farm_service")


def test_only_a_services_package_is_a_caller():
    assert caller_package("user_service.models") == "user_service"
    assert caller_package("user_service") == "user_service"
    assert caller_package("tests.test_users") is None
    assert caller_package("sanicms.calls.client") is None
    assert caller_package(None) is None


def test_a_stale_copy_is_named_path_and_field(repo):
    [copy] = neighbours.stale(repo)
    assert (copy.caller.name, copy.neighbour.name) == ("farm", "town")
    assert copy.differences() == ["components.schemas.Town.properties.name.maxLength: 128 published, 64 in the copy"]
    assert copy.problem() == (
        "farm's copy of town's published spec (farm_service/neighbours/town.json) is not what town publishes "
        "(town_service/openapi.json):\n"
        "  components.schemas.Town.properties.name.maxLength: 128 published, 64 in the copy\n"
        "refresh it: `python -m sanicms neighbours farm --write`")
    assert neighbours.stale(repo, ["town"]) == []  # town calls nobody


def test_the_command_checks_then_refreshes(repo, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["neighbours", "--root", str(repo)])
    assert stopped.value.code == 1
    assert "name.maxLength: 128 published, 64 in the copy" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        main(["neighbours", "farm", "--write", "--root", str(repo)])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == "refreshed services/farm/farm_service/neighbours/town.json\n"
    copy = repo / "services/farm/farm_service/neighbours/town.json"
    assert copy.read_bytes() == (repo / "services/town/town_service/openapi.json").read_bytes()
    with pytest.raises(SystemExit) as stopped:
        main(["neighbours", "--root", str(repo)])
    assert stopped.value.code == 0 and capsys.readouterr().out == "1 copies, each what its neighbour publishes\n"
    copy.unlink()
    assert [c.differences() for c in neighbours.stale(repo)] == [["farm_service/neighbours/town.json is missing"]]
    assert neighbours.refresh(repo, neighbours=["other"]) == []  # only copies of the neighbours named
    assert neighbours.refresh(repo, neighbours=["town"]) == [copy]
    with pytest.raises(SystemExit) as stopped:
        main(["neighbours", "nope", "--root", str(repo)])
    assert stopped.value.code == 2 and "no such service: nope" in capsys.readouterr().err


def test_the_repository_of_a_published_file(repo):
    assert neighbours.repository_of(repo / "services/town/town_service/openapi.json") == repo.resolve()
    assert neighbours.repository_of(repo / "elsewhere/town_service/openapi.json") is None


def test_differences_name_each_path_and_field():
    before = {"paths": {"/towns/{id}": {"get": {"responses": {"200": {}, "404": {}}}}, "/old": {}},
              "required": ["id", "name"], "tags": ["a"]}
    after = {"paths": {"/towns/{id}": {"get": {"responses": {"200": {}}}, "put": {}}},
             "required": ["id", "title"], "tags": ["a", "b"]}
    assert spec_differences(before, after) == [
        'paths["/towns/{id}"].get.responses.404: in the copy, no longer published',
        'paths["/towns/{id}"].put: published, missing from the copy',
        'paths["/old"]: in the copy, no longer published',
        'required[1]: "title" published, "name" in the copy',
        'tags: ["a", "b"] published, ["a"] in the copy',
    ]
    assert spec_differences(TOWN_SPEC, json.loads(json.dumps(TOWN_SPEC))) == []
    assert spec_differences({"n": 1}, {"n": 1.0}) == ["n: 1.0 published, 1 in the copy"]  # a type is a change


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
    settings = sanicms.load_settings("town_service.settings", environ={}, overrides=overrides)
    return sanicms.create_app(settings, [bp], name="town_copies")
'''


def test_publishing_a_spec_refreshes_its_callers_copies(repo, monkeypatch, capsys):
    (repo / "services/town/town_service/server.py").write_text(TOWN_SERVER)
    monkeypatch.syspath_prepend(str(repo / "services/town"))
    modules = ("town_service", "town_service.server", "town_service.settings")
    for name in modules:
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.chdir(repo.resolve())
    try:
        main(["spec", "town", "--write"])
    finally:
        for name in modules:
            sys.modules.pop(name, None)
    copy = repo / "services/farm/farm_service/neighbours/town.json"
    assert capsys.readouterr().out == ("town: published spec written\n"
                                       "town: refreshed services/farm/farm_service/neighbours/town.json\n")
    published_file = repo / "services/town/town_service/openapi.json"
    assert "/towns/{id}" in json.loads(published_file.read_text())["paths"]
    assert copy.read_bytes() == published_file.read_bytes()
