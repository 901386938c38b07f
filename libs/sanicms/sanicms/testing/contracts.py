"""Mocks held to the neighbour's contract, and a service's published spec held to its code.

:class:`MockContracts` checks each mock a test registers against the published OpenAPI
specs of the service's neighbours: the path is one of theirs, with that method, and the
answer is one they could send (the ``data`` of a success against the route's reply schema,
an error envelope for an error status). A mock the real neighbour could never send fails
where it is registered::

    ContractError: city GET /cities/{id} 200: data.province: 1 is not of type 'string'
"""

from __future__ import annotations

import difflib
import importlib
import itertools
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from sanic import Sanic

from ..contract import neighbours
from ..contract.openapi import BASE_SCHEMAS
from ..contract.published import SPEC_FILE, compare_schemas, dumps_spec, package_of, refresh_command, spec_file

#: Error statuses any neighbour may answer whatever its spec says: 401/403 depend on how it
#: is deployed (AUTH_ENABLED), and any server can fail with a 5xx.
ALWAYS_POSSIBLE = frozenset({401, 403})


class ContractError(AssertionError):
    """A mock that the neighbour's published spec says it could never send."""


class MockContracts:
    """The published specs of a service's neighbours, by name, to check mocks against."""

    def __init__(self, specs: Mapping[str, dict[str, Any] | None]) -> None:
        #: None for a neighbour whose spec could not be found (its mocks cannot be checked).
        self.specs = dict(specs)
        self._routes = [(service, template, _path_pattern(template), spec)
                        for service, spec in self.specs.items() if spec is not None
                        for template in spec.get("paths", {})]

    def check(self, method: str, url: str, status: int | None = None, payload: Any = None) -> None:
        """Raise :class:`ContractError` unless some neighbour serves ``method url`` and could
        answer ``status`` with ``payload`` (the ``data`` of a success); ``status`` None checks
        the route alone (a mock that raises instead of answering)."""
        path = urlsplit(url).path.rstrip("/") or "/"
        method = method.lower()
        matches = [(service, template, spec, found) for service, template, pattern, spec in self._routes
                   if (found := pattern.fullmatch(path))]
        if not matches:
            unknown = [name for name, spec in self.specs.items() if spec is None]
            hint = (f"; {', '.join(unknown)} publish no spec to check against (unchecked=True skips the check)"
                    if unknown else "")
            raise ContractError(f"no neighbour ({', '.join(self.specs) or 'none'}) serves {path}{hint}")
        problems = []
        for service, template, spec, found in matches:
            operation = spec["paths"][template].get(method)
            if operation is None:
                served = ", ".join(m.upper() for m in spec["paths"][template])
                problems.append(f"{service} has no {method.upper()} {template} (it serves {served})")
                continue
            where = f"{service} {method.upper()} {template}"
            problem = None if status is not None and status >= 400 else _path_problem(spec, operation, found)
            if problem is None and status is not None:
                where += f" {status}"
                problem = _answer_problem(spec, operation, status, payload)
            if problem is None:
                return
            problems.append(f"{where}: {problem}")
        raise ContractError("; ".join(problems))


def _path_pattern(template: str) -> re.Pattern[str]:
    """``/cities/{id}`` -> a pattern matching ``/cities/7``, the value in group ``id``."""
    parts = re.split(r"(\{\w+\})", template.rstrip("/") or "/")
    return re.compile("".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts))


def _path_problem(spec: dict[str, Any], operation: dict[str, Any], found: re.Match[str]) -> str | None:
    """Why the path's values are not ones the route accepts (``/cities/abc`` for an integer
    id: the neighbour answers that with a 400 or 404, never a success), or None."""
    for parameter in operation.get("parameters", ()):
        name = parameter.get("name")
        if parameter.get("in") != "path" or name not in found.groupdict():
            continue
        schema = parameter.get("schema", {})
        raw = found.group(name)
        value: Any = raw
        if schema.get("type") in ("integer", "number") and re.fullmatch(r"-?\d+(\.\d+)?", raw):
            value = float(raw) if "." in raw else int(raw)
        problem = _problems(spec, schema, value, f"path parameter {name}")
        if problem is not None:
            return problem
    return None


def _answer_problem(spec: dict[str, Any], operation: dict[str, Any], status: int, payload: Any) -> str | None:
    """Why ``status`` with ``payload`` is not an answer this operation can give, or None."""
    responses: dict[str, Any] = operation.get("responses", {})
    documented = responses.get(str(status))
    if status < 400:
        if documented is None:
            successes = ", ".join(s for s in responses if s.startswith(("1", "2", "3")))
            return f"not a status it answers with (it answers {successes})"
        schema = _json_schema(documented)
        data_schema = schema.get("properties", {}).get("data", {})
        return _problems(spec, data_schema, payload, "data")
    if documented is None and status < 500 and status not in ALWAYS_POSSIBLE:
        errors = ", ".join(s for s in responses if s >= "4")
        return f"not a status it answers with (its errors: {errors})"
    if documented is None:
        return None  # an undocumented 401/403/5xx: any sanicms service sends the unified envelope
    # the error envelope ServiceMocks writes, against the one the route documents
    return _problems(spec, _json_schema(documented), {"code": status, "message": "error", "error": None}, "body")


def _json_schema(response: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = response.get("content", {}).get("application/json", {}).get("schema", {})
    return schema


def _problems(spec: dict[str, Any], schema: dict[str, Any], instance: Any, root: str) -> str | None:
    """Every problem of ``instance`` against an OpenAPI 3.0 ``schema`` of ``spec``, as
    ``data.<field>: <message>`` joined by "; " (a mock is fixed in one go, not field by
    field), or None."""
    validator = _validator(spec, schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    described = dict.fromkeys(_described(jsonschema.exceptions.best_match([e]), root) for e in errors)
    return "; ".join(described) or None


def _described(error: jsonschema.ValidationError, root: str) -> str:
    location = ".".join([root, *(str(p) for p in error.absolute_path)])
    if error.validator == "required":  # name the missing field itself
        missing = re.match(r"'([^']+)'", error.message)
        location = f"{location}.{missing.group(1)}" if missing else location
        return f"{location}: missing (the neighbour always sends it)"
    return f"{location}: {error.message}"


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A JSON Schema (draft 4) validator for an OpenAPI 3.0 schema, whose ``$ref`` point into
    ``spec``'s components; OpenAPI's ``nullable`` becomes JSON Schema's ``null`` type."""
    components = {"components": {"schemas": {name: to_json_schema(s) for name, s in
                                             spec.get("components", {}).get("schemas", {}).items()}}}
    root = {"allOf": [to_json_schema(schema)], **components}
    return jsonschema.Draft4Validator(root, format_checker=jsonschema.FormatChecker())


#: Keywords whose value is a schema, a list of schemas, or a dict of schemas by name.
_ONE, _MANY, _NAMED = ("items", "not", "additionalProperties"), ("allOf", "anyOf", "oneOf"), ("properties",)


def to_json_schema(schema: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema: ``nullable: true`` admits ``null`` (also around
    an ``allOf`` / ``$ref``, where OpenAPI validators disagree)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "nullable":
            continue
        if key in _ONE:
            out[key] = to_json_schema(value)
        elif key in _MANY:
            out[key] = [to_json_schema(v) for v in value]
        elif key in _NAMED:
            out[key] = {name: to_json_schema(v) for name, v in value.items()}
        else:
            out[key] = value
    if schema.get("nullable") is True:
        if isinstance(out.get("type"), str) and "allOf" not in out and "$ref" not in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def served_spec(factory: Callable[..., Sanic[Any, Any]], **settings: Any) -> dict[str, Any]:
    """The spec the app of ``factory`` serves at ``/openapi/spec.json``, read from a real server
    on loopback (no database needed: the pool opens lazily)."""
    from . import LiveServer

    Sanic.test_mode = True  # the service's own app may already exist in this process
    app = factory(**{"DATABASE_URL": "postgresql://127.0.0.1:1/none", "TRACING_ENABLED": False, **settings})
    live = LiveServer(app)
    live.start()
    try:
        response = live.request("GET", f"{app.config.OAS_URL_PREFIX}{app.config.OAS_URI_TO_JSON}")
        response.raise_for_status()
        spec: dict[str, Any] = response.json()
        return spec
    finally:
        live.stop()
        Sanic.unregister_app(app)


def published_spec_problem(served: dict[str, Any], package: str, service: str) -> str | None:
    """Why ``package``'s published ``openapi.json`` is not the ``served`` spec (with the
    command that refreshes it and the first differing lines), or None when it is."""
    command = refresh_command(service)
    try:
        published = spec_file(package).read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"{package}/{SPEC_FILE} is missing: write it with `{command}`"
    expected = dumps_spec(served)
    if published == expected:
        return None
    diff = difflib.unified_diff(published.splitlines(), expected.splitlines(),
                                f"{package}/{SPEC_FILE} (published)", "served", n=1, lineterm="")
    shown = list(itertools.islice(diff, 40))
    return f"{package}/{SPEC_FILE} is not the spec the service serves; refresh it: `{command}`\n" + "\n".join(shown)


def write_published_spec(service: str, *, write: bool) -> str:
    """The spec ``service`` serves, as its published file holds it; with ``write``, also
    written there (its package's source directory, in an editable install)."""
    package = package_of(service)
    factory = importlib.import_module(f"{package}.server").create_app
    logging.disable(logging.WARNING)  # "database not reachable": none is needed here
    try:
        text = dumps_spec(served_spec(factory))
    finally:
        logging.disable(logging.NOTSET)
    if write:
        Path(str(spec_file(package))).write_text(text, encoding="utf-8")
    return text


def refresh_callers_copies(service: str) -> list[Path]:
    """After ``service``'s published file was written: in the repository it belongs to (an
    editable install), every caller's copy of it that now differs is rewritten too
    (:mod:`sanicms.contract.neighbours`); the copies written."""
    published = Path(str(spec_file(package_of(service))))
    root = neighbours.repository_of(published)
    if root is None:
        return []
    return neighbours.refresh(root, neighbours=[service])


def neighbour_shape_problems(spec: dict[str, Any], neighbours: Mapping[str, dict[str, Any] | None]) -> list[str]:
    """Where a schema of ``spec`` named like one a neighbour publishes (``City`` in the user
    service's spec, ``City`` in the city service's) differs from it, field by field: a shape
    copied by hand that drifted. The envelope's own schemas (``Error`` & co) are skipped."""
    ours = spec.get("components", {}).get("schemas", {})
    problems = []
    for service, published in neighbours.items():
        for name, schema in (published or {}).get("components", {}).get("schemas", {}).items():
            if name in ours and name not in BASE_SCHEMAS:
                problems += compare_schemas(ours[name], schema, label=f"{service} {name}")
    return problems
