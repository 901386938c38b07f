"""sanicms.examples: valid, deterministic examples of a spec's shapes."""

from __future__ import annotations

import jsonschema

from sanicms.examples import TIMESTAMP, create_route, example

SPEC = {
    "paths": {
        "/healthz": {"get": {}},
        "/things": {"post": {"requestBody": {"content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/ThingInput"}}}}}},
        "/things/{id}": {"get": {}},
    },
    "components": {"schemas": {
        "ThingInput": {"type": "object", "required": ["name", "size"], "additionalProperties": False,
                       "properties": {
                           "name": {"type": "string", "maxLength": 6},
                           "code": {"type": "string", "minLength": 12},
                           "size": {"type": "integer", "minimum": 10, "maximum": 20},
                           "ratio": {"type": "number", "maximum": 0.5},
                           "kind": {"type": "string", "enum": ["a", "b"]},
                           "active": {"type": "boolean"},
                           "due": {"type": "string", "format": "date-time"},
                           "owner": {"allOf": [{"$ref": "#/components/schemas/Owner"}], "nullable": True},
                           "tags": {"type": "array", "items": {"type": "string"}},
                       }},
        "Owner": {"type": "object", "properties": {"id": {"type": "integer"}}},
    }},
}


def test_an_example_is_valid_against_its_schema():
    schema = SPEC["components"]["schemas"]["ThingInput"]
    for n in (1, 2, 30):
        value = example(schema, SPEC, n)
        resolver_schema = {**schema, "components": SPEC["components"]}
        jsonschema.validate(value, resolver_schema)
        assert value["due"] == TIMESTAMP and value["owner"] == {"id": n}


def test_examples_are_deterministic_and_differ_by_n():
    schema = {"$ref": "#/components/schemas/ThingInput"}
    assert example(schema, SPEC, 1) == example(schema, SPEC, 1)
    first, second = example(schema, SPEC, 1), example(schema, SPEC, 2)
    assert first["name"] != second["name"] and len(first["name"]) <= 6
    assert (first["size"], first["kind"], second["kind"]) == (10, "a", "b")


def test_the_create_route_is_the_collection_with_a_json_body():
    path, schema = create_route(SPEC)
    assert path == "/things" and "name" in schema["properties"]
