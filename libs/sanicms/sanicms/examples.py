"""Plain, valid examples of the shapes in a service's OpenAPI spec.

Why: seed data for ``make demo``, records the contract and end-to-end tests create, and the
bodies a generated service's tests send all need a valid object of a shape someone may change
later (a field added to ``models.py``). Building it from the spec keeps them valid without a
second copy of the fields. Deterministic: the n-th example of a shape is always the same, and
different n give different strings, so unique columns do not collide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: A timestamp every date-time example uses.
TIMESTAMP = "2026-01-01T00:00:00Z"


def example(schema: Mapping[str, Any], spec: Mapping[str, Any], n: int = 1, *, name: str = "value") -> Any:
    """The ``n``-th (from 1) example of ``schema``; ``$ref`` resolved against ``spec``'s components."""
    schema = resolve(schema, spec)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(resolve(part, spec))
        merged.update({k: v for k, v in schema.items() if k != "allOf"})
        return example(merged, spec, n, name=name)
    if "enum" in schema:
        return schema["enum"][(n - 1) % len(schema["enum"])]
    if schema.get("nullable") and "x-references" in schema:
        return None  # a record of the service's own that may not exist yet: none named
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {field: example(sub, spec, n, name=field) for field, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [example(schema.get("items", {}), spec, n, name=name)]
    if kind == "integer" or kind == "number":
        return _number(schema, n)
    if kind == "boolean":
        return n % 2 == 1
    if kind == "string":
        return _string(schema, n, name)
    return None


def schema_named(spec: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A schema from the spec's components."""
    return dict(spec["components"]["schemas"][name])


def create_route(spec: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The collection path a record is created on (``/cities``) and the schema of its body."""
    for path, operations in spec["paths"].items():
        body = operations.get("post", {}).get("requestBody", {})
        schema = body.get("content", {}).get("application/json", {}).get("schema")
        if schema is not None and "{" not in path:
            return path, resolve(schema, spec)
    raise LookupError("the spec has no route that creates a record from a JSON body")


def resolve(schema: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` itself, or what its ``$ref`` names."""
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return dict(schema)


def _number(schema: Mapping[str, Any], n: int) -> int | float:
    value = n
    if schema.get("minimum") is not None:
        value = max(value, schema["minimum"])
    if schema.get("maximum") is not None:
        value = min(value, schema["maximum"])
    return value if schema.get("type") == "integer" else float(value)


def _decimal(pattern: str, n: int) -> str:
    """``n`` written as the pattern sanicms gives a decimal wants it (``"1.00"``), the way a
    reply gives it back: every decimal place."""
    places = re.search(r"\\\.\[0-9\]\{1,(\d+)\}", pattern)
    whole = re.search(r"\[0-9\]\{1,(\d+)\}", pattern)
    value = (n - 1) % (10 ** int(whole.group(1)) - 1) + 1 if whole else 0
    return f"{value}.{'0' * int(places.group(1))}" if places else str(value)


def _string(schema: Mapping[str, Any], n: int, name: str) -> str:
    if schema.get("format") == "date-time":
        return TIMESTAMP
    if schema.get("format") == "date":
        return TIMESTAMP[:10]
    if schema.get("format") == "partial-time":
        return f"{n % 24:02d}:30:00"
    if schema.get("format") == "uuid":
        return f"00000000-0000-4000-8000-{n:012x}"
    if schema.get("format") == "decimal":
        return _decimal(schema.get("pattern", ""), n)
    text = f"{name} {n}"
    longest: int | None = schema.get("maxLength")
    shortest: int = schema.get("minLength", 0)
    if longest is not None and len(text) > longest:
        text = (name[: max(longest - len(str(n)), 0)] + str(n))[-longest:]
    return text + "x" * max(shortest - len(text), 0)
