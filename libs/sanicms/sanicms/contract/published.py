"""Published specs: each service ships its OpenAPI document, and its callers read shapes from it.

A service's package holds ``openapi.json``, the spec it serves, written by
``python -m sanicms spec <service> --write`` and checked against the served one by the
service's ``SpecTestCase``. A caller names a neighbour's reply shape instead of copying it::

    CityApi = published_shape("city", "City")          # a class of peewee fields
    city_id = IntegerField(help_text=CityApi)          # as the original design wrote it

so a field the neighbour changes changes here too. The caller reads the neighbour's spec
from its own package: ``user_service/neighbours/city.json`` is city's ``openapi.json`` as
user was built against it (package data, so a service installs and runs with only itself
and the library; :mod:`sanicms.contract.neighbours` refreshes and checks these copies).
Which package is the caller: ``caller=`` (a package or module name, ``__name__`` will do),
else the package of the module calling, when it is a service's (``<name>_service``, see
:func:`package_of`). Without a caller (a library's own code or tests), the neighbour's own
published file is read, from its installed package.
"""

from __future__ import annotations

import functools
import importlib.resources
import inspect
import json
from collections.abc import Callable
from importlib.resources.abc import Traversable
from typing import Any

import peewee

from .validation import INT32, INT64

#: On a class ``published_shape`` made: the service that publishes it (see calls/references.py).
SERVICE_ATTRIBUTE = "__sanicms_service__"

#: The file a service's package publishes its spec in.
SPEC_FILE = "openapi.json"
#: The folder of a caller's package that holds its copies of its neighbours' specs (``<service>.json``).
NEIGHBOURS_DIR = "neighbours"
#: Paths every service serves that are not one of its resources.
SERVICE_PATHS = ("/healthz", "/readyz", "/metrics")


class PublishedSpecError(LookupError):
    """A neighbour's published spec, or a shape in it, cannot be found."""


def package_of(service: str) -> str:
    """The import package of a service: ``city`` -> ``city_service``."""
    return f"{service}_service"


def spec_file(package: str) -> Traversable:
    """Where ``package`` publishes its spec (the file may not exist yet)."""
    return importlib.resources.files(package) / SPEC_FILE


def copy_file(caller: str, service: str) -> Traversable:
    """Where the package ``caller`` keeps its copy of ``service``'s published spec."""
    return importlib.resources.files(caller) / NEIGHBOURS_DIR / f"{service}.json"


def refresh_command(service: str) -> str:
    """The command that rewrites ``service``'s published spec from the code."""
    return f"python -m sanicms spec {service} --write"


def refresh_copies_command(caller_service: str) -> str:
    """The command that rewrites a caller's copies of its neighbours' published specs."""
    return f"python -m sanicms neighbours {caller_service} --write"


def caller_package(module: str | None) -> str | None:
    """The service package a module belongs to (``user_service.models`` -> ``user_service``),
    or None when it is not a service's (its name does not end in ``_service``)."""
    top = (module or "").partition(".")[0]
    return top if top.endswith("_service") else None


def calling_package(depth: int = 1) -> str | None:
    """The service package of the code ``depth`` frames above the caller of this function."""
    frame = inspect.currentframe()
    for _ in range(depth + 1):
        frame = frame.f_back if frame is not None else None
    return caller_package(frame.f_globals.get("__name__") if frame is not None else None)


def _caller(caller: str | None, depth: int) -> str | None:
    """``caller`` as a package name, else the calling module's service package (``depth``
    frames above the public function that asks)."""
    return caller.partition(".")[0] if caller else calling_package(depth + 1)


#: The order of operations in a path item, as the OpenAPI specification lists them.
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def dumps_spec(spec: dict[str, Any]) -> str:
    """A spec as its published file holds it: indented; paths and components sorted by name,
    each path's methods in OpenAPI's order (the server's order changes between processes)."""
    paths = {path: dict(sorted(item.items(), key=lambda kv: METHODS.index(kv[0]) if kv[0] in METHODS else 99))
             for path, item in sorted(spec.get("paths", {}).items())}
    components = {kind: dict(sorted(named.items())) for kind, named in spec.get("components", {}).items()}
    return json.dumps({**spec, "paths": paths, "components": components}, indent=2, ensure_ascii=False) + "\n"


def published_spec(service: str, *, caller: str | None = None) -> dict[str, Any]:
    """The OpenAPI document ``service`` publishes, as ``caller`` keeps it (see the module's
    docstring; read once per process)."""
    return _published_spec(service, _caller(caller, 1))


@functools.cache
def _published_spec(service: str, caller: str | None) -> dict[str, Any]:
    package = package_of(service)
    if caller is not None and caller != package:
        return _copy(service, caller)
    try:
        path = spec_file(package)
        text = path.read_text(encoding="utf-8")
    except ModuleNotFoundError:
        raise PublishedSpecError(f"{service}: package {package} is not installed, so its published spec "
                                 f"cannot be read (a caller keeps a copy: {NEIGHBOURS_DIR}/{service}.json "
                                 "in its own package)") from None
    except FileNotFoundError:
        raise PublishedSpecError(f"{service}: {package} publishes no {SPEC_FILE}; "
                                 f"run `{refresh_command(service)}`") from None
    spec: dict[str, Any] = json.loads(text)
    return spec


def _copy(service: str, caller: str) -> dict[str, Any]:
    """``caller``'s copy of ``service``'s published spec."""
    where = f"{caller}/{NEIGHBOURS_DIR}/{service}.json"
    command = refresh_copies_command(caller.removesuffix("_service"))
    try:
        text = copy_file(caller, service).read_text(encoding="utf-8")
    except ModuleNotFoundError:
        raise PublishedSpecError(f"{service}: the caller {caller} is not installed, so its copy of "
                                 f"{service}'s published spec ({where}) cannot be read") from None
    except FileNotFoundError:
        raise PublishedSpecError(f"{service}: {caller} keeps no copy of its published spec ({where}); "
                                 f"run `{command}`") from None
    spec: dict[str, Any] = json.loads(text)
    return spec


def schema_of(service: str, name: str, *, caller: str | None = None) -> dict[str, Any]:
    """The schema ``components/schemas/<name>`` of ``service``'s published spec (as ``caller``
    keeps it, see :func:`published_spec`)."""
    return _schema_of(service, name, _caller(caller, 1))


def _schema_of(service: str, name: str, caller: str | None) -> dict[str, Any]:
    schemas = _published_spec(service, caller).get("components", {}).get("schemas", {})
    if name not in schemas:
        raise PublishedSpecError(f"{service} publishes no schema {name!r}; it has {', '.join(sorted(schemas))}")
    schema: dict[str, Any] = schemas[name]
    return schema


def published_shape(service: str, name: str, *, caller: str | None = None) -> type:
    """A neighbour's reply shape, ``components/schemas/<name>`` of its published spec (the
    copy the calling service keeps, see :func:`published_spec`), as a class of peewee fields:
    what ``help_text=`` and ``doc.produces`` take. Its schema in the caller's spec comes out as
    the neighbour's (types, formats, bounds, lengths, nullability, descriptions). A property
    holding another object becomes a ``help_text`` reference when a ``<name>_id`` field sits
    beside it (as sanicms writes them), else an untyped JSON field. One class per shape and
    caller, however often it is asked for."""
    return _published_shape(service, name, _caller(caller, 1))


@functools.cache
def _published_shape(service: str, name: str, caller: str | None) -> type:
    shape = _shape(service, name, caller)
    setattr(shape, SERVICE_ATTRIBUTE, service)  # whose records a field with this help_text names
    return shape


def _shape(service: str, name: str, caller: str | None) -> type:
    return shape_from_schema(name, _schema_of(service, name, caller), lambda ref: _shape(service, ref, caller))


def clear_caches() -> None:
    """Forget the specs, shapes and paths read so far (a test that rewrites a published file)."""
    for cached in (_published_spec, _published_shape, _resource_path):
        cached.cache_clear()


# These three were functools.cache'd functions: their cache_clear() keeps working.
published_spec.cache_clear = clear_caches  # type: ignore[attr-defined]
published_shape.cache_clear = clear_caches  # type: ignore[attr-defined]


def shape_from_schema(name: str, schema: dict[str, Any], resolve: Callable[[str], type]) -> type:
    """A class of peewee fields for an object schema; ``resolve(schema_name)`` gives the shape
    of a referenced schema."""
    properties: dict[str, Any] = schema.get("properties", {})
    fields: dict[str, Any] = {}
    for prop, prop_schema in properties.items():
        target = _referenced_name(prop_schema)
        if target is not None and f"{prop}_id" in properties:
            continue  # the object of a reference: made from its _id field below
        fields[prop] = field_from_schema(prop, prop_schema)
        referenced = properties.get(prop[:-3]) if prop.endswith("_id") else None
        ref_name = _referenced_name(referenced) if isinstance(referenced, dict) else None
        if ref_name is not None:
            fields[prop].help_text = resolve(ref_name)
    return type(name, (), {**fields, "__doc__": schema.get("description")})


def _referenced_name(schema: dict[str, Any]) -> str | None:
    """``{"allOf": [{"$ref": "#/components/schemas/City"}], ...}`` (or a bare $ref) -> ``City``."""
    ref = schema.get("$ref")
    if ref is None and len(schema.get("allOf", ())) == 1:
        ref = schema["allOf"][0].get("$ref")
    return str(ref).rpartition("/")[2] if ref else None


def field_from_schema(name: str, schema: dict[str, Any]) -> peewee.Field:
    """The peewee field whose reply schema (:func:`sanicms.contract.openapi.field_schema`) is ``schema``."""
    kind, fmt = schema.get("type"), schema.get("format")
    options: dict[str, Any] = {"null": bool(schema.get("nullable")), "verbose_name": schema.get("description")}
    field: peewee.Field
    if kind == "integer":
        wide = fmt == "int64"
        options["constraints"] = _bounds(name, schema, INT64 if wide else INT32)
        field = (peewee.BigIntegerField if wide else peewee.IntegerField)(**options)
    elif kind == "number":
        options["constraints"] = _bounds(name, schema, (None, None))
        field = peewee.FloatField(**options)
    elif kind == "boolean":
        field = peewee.BooleanField(**options)
    elif kind == "string":
        by_format = {"date-time": peewee.DateTimeField, "date": peewee.DateField, "uuid": peewee.UUIDField}
        if fmt in by_format:
            field = by_format[fmt](**options)
        elif "maxLength" in schema:
            field = peewee.CharField(max_length=schema["maxLength"], **options)
        else:
            field = peewee.TextField(**options)
    else:
        field = peewee.Field(**options)  # any JSON value
    return field


def _bounds(name: str, schema: dict[str, Any], natural: tuple[float | None, float | None]) -> list[Any]:
    """``minimum`` / ``maximum`` tighter than the type's own, as the Check constraints
    :mod:`sanicms.contract.validation` reads back."""
    checks = []
    if "minimum" in schema and schema["minimum"] != natural[0]:
        checks.append(peewee.Check(f"{name} {'>' if schema.get('exclusiveMinimum') else '>='} {schema['minimum']}"))
    if "maximum" in schema and schema["maximum"] != natural[1]:
        checks.append(peewee.Check(f"{name} {'<' if schema.get('exclusiveMaximum') else '<='} {schema['maximum']}"))
    return checks


def collection_path(spec: dict[str, Any]) -> str:
    """The one collection a spec serves: the path with an item path below it (``/cities``
    beside ``/cities/{id}``)."""
    paths = [p for p in spec.get("paths", {}) if p not in SERVICE_PATHS]
    found: list[str] = sorted({p for p in paths if "{" not in p and any(q.startswith(p.rstrip("/") + "/{")
                                                                        for q in paths)})
    if len(found) != 1:
        title = spec.get("info", {}).get("title", "the spec")
        raise PublishedSpecError(f"{title} serves {len(found)} collections ({', '.join(found) or 'none'}); "
                                 "name the path in the call instead")
    return found[0]


def resource_path(service: str, *, caller: str | None = None) -> str:
    """Where ``service`` serves its resource, from its published spec (as ``caller`` keeps it,
    see :func:`published_spec`): ``city`` -> ``/cities``."""
    return _resource_path(service, _caller(caller, 1))


@functools.cache
def _resource_path(service: str, caller: str | None) -> str:
    return collection_path(_published_spec(service, caller))


resource_path.cache_clear = clear_caches  # type: ignore[attr-defined]


def shape_differences(shape: Any, service: str, name: str, *, caller: str | None = None) -> list[str]:
    """How a caller's hand-written idea of a neighbour's shape differs from what the neighbour
    publishes (as ``caller`` keeps it, see :func:`published_spec`), one line per field (empty
    when they agree)."""
    from .openapi import Schemas  # openapi imports this module's neighbours; late to keep it light

    schemas = Schemas()
    ours = schemas.components[schemas.ref(shape)["$ref"].rpartition("/")[2]]
    theirs = _schema_of(service, name, _caller(caller, 1))
    return compare_schemas(ours, theirs, label=f"{service} {name}")


#: What a caller relies on in a field's schema (descriptions may differ).
COMPARED = ("type", "format", "nullable", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def compare_schemas(ours: dict[str, Any], theirs: dict[str, Any], *, label: str) -> list[str]:
    """Field-by-field differences between two object schemas (referenced objects compared by presence)."""
    mine, published = ours.get("properties", {}), theirs.get("properties", {})
    problems = [f"{label}.{f}: the caller expects it, but it is not published" for f in mine if f not in published]
    problems += [f"{label}.{f}: published, but missing from the caller's shape" for f in published if f not in mine]
    for field in (f for f in mine if f in published):
        for key in COMPARED:
            a, b = mine[field].get(key), published[field].get(key)
            if a != b:
                problems.append(f"{label}.{field}: {key} is {b!r} in the published spec, {a!r} in the caller's shape")
    for field in set(theirs.get("required", ())) - set(ours.get("required", ())):
        problems.append(f"{label}.{field}: always sent, but optional in the caller's shape")
    return problems
