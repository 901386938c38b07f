"""Published specs: a neighbour's shape read from the spec its package ships, not copied."""

import datetime
import json
import sys

import pytest
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

from sanicms import ServiceClient
from sanicms.contract import published
from sanicms.contract.openapi import FLAT, READ, Schemas
from sanicms.contract.published import (
    PublishedSpecError,
    collection_path,
    dumps_spec,
    published_shape,
    resource_path,
    shape_differences,
)


class Province:
    """A province."""

    id = IntegerField(verbose_name="province id")
    name = CharField(max_length=64)


class Town(Model):
    """A town, as the town service returns it."""

    id = AutoField(verbose_name="town id")
    name = CharField(max_length=128, verbose_name="town name")
    rank = SmallIntegerField(constraints=[Check("rank > 0"), Check("rank <= 10")], null=True)
    area = FloatField(constraints=[Check("area >= 0.5")])
    people = BigIntegerField(default=0)
    capital = BooleanField(default=False)
    founded = DateField(null=True)
    token = UUIDField(null=True)
    notes = TextField(null=True)
    extra = IntegerField(constraints=[Check("extra >= 3")])
    province_id = IntegerField(help_text=Province, verbose_name="the province it is in")
    created = DateTimeField(default=datetime.datetime.utcnow)


def town_spec():
    """A tiny spec of a neighbour as sanicms would serve it: ``/towns`` and ``/towns/{id}``."""
    schemas = Schemas()
    schemas.of(Town)
    paths = {"/healthz": {"get": {}}, "/towns": {"get": {}, "post": {}}, "/towns/{id}": {"get": {}}}
    return {"openapi": "3.0.3", "info": {"title": "Town service"}, "paths": paths,
            "components": {"schemas": schemas.components}}


@pytest.fixture
def town_package(tmp_path, monkeypatch):
    """An installed ``town_service`` package that publishes ``town_spec()``."""
    package = tmp_path / "town_service"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "openapi.json").write_text(dumps_spec(town_spec()))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "town_service", raising=False)  # this test's package, not another's
    yield package
    sys.modules.pop("town_service", None)
    for cached in (published.published_spec, published.published_shape, published.resource_path):
        cached.cache_clear()


def test_a_published_shape_renders_as_the_neighbour_publishes_it(town_package):
    town = published_shape("town", "Town")
    schemas = Schemas()
    assert schemas.of(town) == {"$ref": "#/components/schemas/Town"}
    assert schemas.components["Town"] == town_spec()["components"]["schemas"]["Town"]
    assert schemas.components["Province"] == town_spec()["components"]["schemas"]["Province"]
    assert town.__doc__ == "A town, as the town service returns it."
    assert published_shape("town", "Town") is town  # one class: one schema in the caller's spec


def test_a_published_shape_is_what_help_text_takes(town_package):
    class Visit(Model):
        town_id = IntegerField(help_text=published_shape("town", "Town"), verbose_name="where")

    schemas = Schemas()
    visit = schemas.components[schemas.of(Visit)["$ref"].rsplit("/", 1)[1]]
    assert visit["properties"]["town"] == {"allOf": [{"$ref": "#/components/schemas/Town"}],
                                           "nullable": True, "description": "where"}
    assert schemas.components["Town"]["properties"]["name"]["maxLength"] == 128


def test_a_hand_written_shape_that_differs_is_reported_field_by_field(town_package):
    class TownApi:
        id = IntegerField(verbose_name="town id")
        name = CharField(max_length=64)
        rank = IntegerField()
        mayor = CharField()

    problems = shape_differences(TownApi, "town", "Town")
    assert "town Town.name: maxLength is 128 in the published spec, 64 in the caller's shape" in problems
    assert "town Town.rank: nullable is True in the published spec, None in the caller's shape" in problems
    assert "town Town.mayor: the caller expects it, but it is not published" in problems
    assert "town Town.area: published, but missing from the caller's shape" in problems
    assert shape_differences(published_shape("town", "Town"), "town", "Town") == []


def test_the_resource_path_comes_from_the_spec(town_package):
    assert resource_path("town") == "/towns"
    assert ServiceClient("town", "http://town.invalid").resource == "/towns"  # what callers write
    with pytest.raises(PublishedSpecError, match="serves 2 collections"):
        collection_path({"paths": {"/a": {}, "/a/{id}": {}, "/b": {}, "/b/{id}": {}}})


def test_a_missing_neighbour_or_schema_says_what_to_do(town_package):
    with pytest.raises(PublishedSpecError, match="package nowhere_service is not installed"):
        published.published_spec("nowhere")
    with pytest.raises(PublishedSpecError, match="publishes no schema 'Village'; it has"):
        published_shape("town", "Village")
    (town_package / "openapi.json").unlink()
    published.published_spec.cache_clear()
    with pytest.raises(PublishedSpecError, match=r"run `python -m sanicms spec town --write`"):
        published.published_spec("town")


def test_the_published_file_is_the_same_whatever_order_the_server_listed_things_in():
    spec = {"paths": {"/b": {"post": {}, "get": {}}, "/a": {"delete": {}, "put": {}}},
            "components": {"schemas": {"Z": {}, "A": {}}}}
    text = dumps_spec(spec)
    assert list(json.loads(text)["paths"]) == ["/a", "/b"]
    assert list(json.loads(text)["paths"]["/b"]) == ["get", "post"]
    assert list(json.loads(text)["paths"]["/a"]) == ["put", "delete"]
    assert list(json.loads(text)["components"]["schemas"]) == ["A", "Z"]


def test_a_flat_reply_has_the_ids_without_the_referenced_objects():
    schemas = Schemas()
    flat = schemas.components[schemas.of(Town, FLAT)["$ref"].rsplit("/", 1)[1]]
    full = schemas.components[schemas.of(Town, READ)["$ref"].rsplit("/", 1)[1]]
    assert "province" in full["required"] and "province" in full["properties"]
    assert "province" not in flat["properties"] and "province_id" in flat["required"]
    assert schemas.of(Town, FLAT) == {"$ref": "#/components/schemas/TownFlat"}


def test_a_route_documented_with_expand_false_replies_with_the_flat_shape():
    from types import SimpleNamespace

    from sanicms.contract.openapi import _responses

    route = SimpleNamespace(params={})
    schemas = Schemas()
    flat = _responses({"produces": [Town], "expand": False}, route, schemas)[200][1]
    full = _responses({"produces": [Town]}, route, schemas)[200][1]
    assert flat["properties"]["data"] == {"type": "array", "items": {"$ref": "#/components/schemas/TownFlat"}}
    assert full["properties"]["data"] == {"type": "array", "items": {"$ref": "#/components/schemas/Town"}}
