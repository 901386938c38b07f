"""The OpenAPI description of a service, built from the models that also check its input.

sanic-ext assembles and serves the spec (``GET /openapi/spec.json``, Swagger UI at
``/openapi/``) and finds the routes, their methods and their path parameters by itself.
This module gives it what it cannot know: the JSON schemas of the shapes named in
``doc.consumes`` / ``doc.produces`` (each once, under ``components/schemas``), the response
envelopes, every error status a route can answer, and the query parameters. Every
constraint comes from the rules :mod:`sanicms.contract.validation` and :mod:`sanicms.contract.params`
enforce, so the spec and the input check cannot disagree.

sanic-ext keeps one specification per process, so it is rebuilt each time an app starts:
a test run that starts many apps one after another serves each its own spec.

The Swagger UI page works without internet: its HTML (``swagger-ui.html`` beside this
module), JavaScript and CSS all come from the service itself, the dist files of the pinned
``swagger-ui-py`` package served under ``<OAS_URL_PREFIX>/assets/<swagger-ui version>/``
(sanic-ext's own page loads them from a CDN, and is blank offline).
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any

import peewee
from sanic import Sanic
from sanic_ext.config import PRIORITY as SANIC_EXT_PRIORITY
from sanic_ext.extensions.openapi.builders import OperationBuilder, OperationStore, SpecificationBuilder
from sanic_ext.extensions.openapi.definitions import Parameter
from sanic_routing.route import Route

from .._compat import sanic_ext as sanic_ext_internals
from ..auth import Authenticator
from ..config import ApiSettings
from .doc import meta_of
from .params import MAX_IDS, MAX_PAGE, PATH_INT, Param
from .shapes import as_model, is_field_class, is_model, is_record, is_scalar, reference_name, referenced_shape
from .validation import INT32, TIME_PATTERN, Rule, decimal_pattern, read_only_fields, rule_for

READ, WRITE, PATCH = "read", "write", "patch"
#: A reply without the objects ``help_text`` references name (``doc.produces(..., expand=False)``).
FLAT = "flat"
_NAME_SUFFIX = {READ: "", WRITE: "Input", PATCH: "Patch", FLAT: "Flat"}

#: PostgreSQL text cannot hold NUL, so the input check refuses it; the spec says so.
NO_NUL = "^[^\\u0000]*$"

ERROR_DESCRIPTIONS = {
    400: "invalid input; `error` lists every problem by field",
    401: "no valid bearer token (`WWW-Authenticate` says why, as RFC 6750 allows)",
    403: "the token lacks a scope this operation needs",
    404: "not found",
    409: "conflict: a unique value is taken, or a referenced record does not exist",
    413: "the request is too large: its body, or its URL and headers",
    415: "the body is not JSON: its `content-type` names another media type",
    502: "a downstream service answered with an error or something unreadable",
    503: "the database or a downstream service is unavailable; retry shortly",
    504: "a downstream service did not answer in time",
}

_KINDS: dict[str, dict[str, str]] = {
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    # exact numbers as text: see decimal_pattern, and docs/guide.md ("Money and exact numbers")
    "decimal": {"type": "string", "format": "decimal"},
    "string": {"type": "string"},
    "boolean": {"type": "boolean"},
    "date-time": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    # RFC 3339's name for a time without an offset: JSON Schema's "time" requires one, and a
    # PostgreSQL time column has none
    "time": {"type": "string", "format": "partial-time", "pattern": TIME_PATTERN},
    "uuid": {"type": "string", "format": "uuid"},
    "json": {},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


#: Schemas every spec has: the error envelope and the pagination block.
BASE_SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "description": "The unified error format.",
        "required": ["code", "message", "error"],
        "properties": {
            "code": {"type": "integer", "minimum": 1,
                     "description": "non-zero: the HTTP status, or a finer code such as 50301"},
            "message": {"type": "string", "description": "what went wrong, in one sentence"},
            "error": {"nullable": True, "description": "machine-readable detail, or null"},
        },
    },
    "FieldProblem": {
        "type": "object",
        "required": ["field", "message"],
        "properties": {
            "field": {"type": "string", "description": "the field or parameter at fault; empty for the whole body"},
            "message": {"type": "string"},
        },
    },
    "ValidationError": {
        "description": "The error format of a 400: one item per problem.",
        "allOf": [
            _ref("Error"),
            {"type": "object", "properties": {"error": {"type": "array", "nullable": True,
                                                         "items": _ref("FieldProblem")}}},
        ],
    },
    "Pagination": {
        "type": "object",
        "required": ["page", "page_size", "total", "pages"],
        "properties": {
            "page": {"type": "integer", "minimum": 1, "description": "this page, from 1"},
            "page_size": {"type": "integer", "minimum": 1, "description": "items per page"},
            "total": {"type": "integer", "minimum": 0, "description": "items in all pages"},
            "pages": {"type": "integer", "minimum": 0, "description": "number of pages"},
        },
    },
}


class Schemas:
    """The named schemas of one spec: each shape once, referenced by ``$ref``."""

    def __init__(self) -> None:
        self.components: dict[str, dict[str, Any]] = copy.deepcopy(BASE_SCHEMAS)
        self._names: dict[tuple[type[peewee.Model], str], str] = {}

    def of(self, shape: Any, mode: str = READ) -> dict[str, Any]:
        """The schema of anything ``consumes`` / ``produces`` accept; ``mode`` is ``READ``
        (a reply), ``FLAT`` (a reply without referenced objects), ``WRITE`` (a body for
        POST/PUT) or ``PATCH`` (a body, every field optional)."""
        if isinstance(shape, (list, tuple)):
            if len(shape) != 1:
                raise TypeError(f"a list shape holds one item shape, like [City]; got {shape!r}")
            return {"type": "array", "items": self.of(shape[0], mode)}
        if is_model(shape) or is_field_class(shape):
            return self.ref(shape, mode)
        if isinstance(shape, dict):
            if is_record(shape):
                return self.record(as_model(shape), mode)
            if mode not in (READ, FLAT):
                raise TypeError("a request body dict holds fields or Python types only")
            return {"type": "object", "required": list(shape),
                    "properties": {key: self.of(value) for key, value in shape.items()}}
        if is_scalar(shape):
            value: dict[str, Any] = self.record(as_model({"value": shape}), mode)["properties"]["value"]
            return value
        raise TypeError(f"cannot describe {shape!r}")

    def ref(self, shape: Any, mode: str = READ) -> dict[str, str]:
        """A reference to the named schema of a model or class of fields, added on first use."""
        model = as_model(shape)
        key = (model, mode)
        if key not in self._names:
            name = self._free_name(model.__name__ + _NAME_SUFFIX[mode])
            self._names[key] = name
            self.components[name] = {}  # taken, in case the model refers back to itself
            self.components[name] = self.record(model, mode)
        return _ref(self._names[key])

    def _free_name(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self.components:
            n += 1
            candidate = f"{name}{n}"
        return candidate

    def record(self, model: type[peewee.Model], mode: str) -> dict[str, Any]:
        """An object schema with one property per field. Bodies leave out read-only fields
        and refuse unknown ones; replies add the object each ``help_text`` reference names."""
        writing = mode in (WRITE, PATCH)
        skip = read_only_fields(model) if writing else set()
        properties: dict[str, Any] = {}
        required: list[str] = []
        for field in model._meta.sorted_fields:
            if field.name in skip:
                continue
            rule = rule_for(field)
            properties[field.name] = field_schema(field, rule, writing=writing)
            if not writing or (mode == WRITE and rule.required):
                required.append(field.name)
            target = referenced_shape(field) if mode == READ else None
            if target is not None:
                name = reference_name(field)
                properties[name] = {"allOf": [self.ref(target)], "nullable": True,
                                    "description": field.verbose_name or name}
                required.append(name)
        schema: dict[str, Any] = {"type": "object"}
        if model.__doc__:
            schema["description"] = model.__doc__
        schema["properties"] = properties
        if required:
            schema["required"] = required
        if writing:
            schema["additionalProperties"] = False
        if mode == PATCH:
            schema["minProperties"] = 1
        return schema


def field_schema(field: peewee.Field, rule: Rule, *, writing: bool) -> dict[str, Any]:
    """One field: type and format, bounds, ``maxLength``, ``nullable``, ``verbose_name``."""
    schema: dict[str, Any] = dict(_KINDS[rule.kind])
    if rule.kind == "integer":
        schema["format"] = "int32" if _within(rule, INT32) else "int64"
    if rule.kind == "decimal":  # its bounds are in its pattern, as far as a pattern can say them
        schema["pattern"] = decimal_pattern(rule)
    elif rule.minimum is not None:
        schema["minimum"] = rule.minimum
        if rule.exclusive_minimum:
            schema["exclusiveMinimum"] = True
    if rule.maximum is not None and rule.kind != "decimal":
        schema["maximum"] = rule.maximum
        if rule.exclusive_maximum:
            schema["exclusiveMaximum"] = True
    if rule.kind == "string":
        # Replies state only a declared max_length, not the input check's cap on text.
        if rule.max_length is not None and (writing or getattr(field, "max_length", None)):
            schema["maxLength"] = rule.max_length
        if rule.min_length is not None:
            schema["minLength"] = rule.min_length
        if writing:
            schema["pattern"] = NO_NUL
    if rule.choices is not None:
        schema["enum"] = [*rule.choices, *([None] if rule.nullable else [])]
    if rule.nullable:
        schema["nullable"] = True
    if field.verbose_name:
        schema["description"] = field.verbose_name
    if writing and field.default is not None and not callable(field.default):
        schema["default"] = str(field.default) if rule.kind == "decimal" else field.default
    if isinstance(field, peewee.ForeignKeyField):  # a record of this service (examples leave a nullable one null)
        schema["x-references"] = field.rel_model._meta.table_name
    return schema


def _within(rule: Rule, bounds: tuple[int, int]) -> bool:
    low, high = bounds
    return rule.minimum is not None and rule.maximum is not None and low <= rule.minimum and rule.maximum <= high


def success_envelope(data: dict[str, Any], *, paginated: bool = False) -> dict[str, Any]:
    """``{"code": 0, "data": ...}``, with ``pagination`` for pages."""
    properties = {"code": {"type": "integer", "enum": [0], "description": "0: success"}, "data": data}
    required = ["code", "data"]
    if paginated:
        properties["pagination"] = _ref("Pagination")
        required.append("pagination")
    return {"type": "object", "required": required, "properties": properties}


# --------------------------------------------------------------------------- parameters
# sanic-ext annotates Parameter's schema as ``type | Schema``, yet takes a plain dict (and
# writes it into the spec as it is): the ``type: ignore[arg-type]`` below are for that.


class QueryParameter(Parameter):
    """sanic-ext's Parameter keeps only the keys it declares; ``?ids=1,2`` also needs these."""

    style: str
    explode: bool


def path_parameter(name: str, cast: Any) -> Parameter:
    """A path parameter; integers are 32-bit, as :func:`sanicms.contract.params.check_path_params` enforces."""
    if cast is int:
        schema = {"type": "integer", "format": "int32", "minimum": PATH_INT[0], "maximum": PATH_INT[1]}
    elif cast is float:
        schema = {"type": "number"}
    else:
        schema = {"type": "string"}
    return Parameter(name, schema, "path", required=True)  # type: ignore[arg-type]


def declared_parameter(param: Param) -> Parameter:
    """A parameter declared with ``doc.query`` / ``doc.path`` / ``doc.header``: its schema
    from the rule that checks it, as a body field's (type, format, bounds, enum, default)."""
    schema = field_schema(param.field, param.rule, writing=True)
    schema.pop("description", None)  # the parameter's own, below
    kwargs: dict[str, Any] = {"required": param.rule.required}
    if param.description:
        kwargs["description"] = param.description
    return Parameter(param.name, schema, param.location, **kwargs)  # type: ignore[arg-type]


def page_parameters(api: ApiSettings) -> list[Parameter]:
    """``page`` and ``page_size``, with the bounds :func:`sanicms.page_from` enforces."""
    return [
        Parameter("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},  # type: ignore[arg-type]
                  "query", description="page number, from 1"),
        Parameter("page_size", {"type": "integer", "minimum": 1, "maximum": api.page_size_max,  # type: ignore[arg-type]
                                "default": api.page_size_default},
                  "query", description="items per page"),
    ]


def ids_parameter(name: str) -> Parameter:
    """``?ids=1,2,3``, with the bounds :func:`sanicms.ids_from` enforces."""
    items = {"type": "integer", "format": "int32", "minimum": INT32[0], "maximum": INT32[1]}
    return QueryParameter(
        name, {"type": "array", "items": items, "minItems": 1, "maxItems": MAX_IDS}, "query",  # type: ignore[arg-type]
        description=f"only the records with these ids, comma-separated (at most {MAX_IDS}); "
                    "ids that do not exist are left out; one page holds them all unless `page` "
                    "or `page_size` asks for a page of them",
        style="form", explode=False,
    )


# --------------------------------------------------------------------------- operations


#: The swagger-ui release inside the pinned swagger-ui-py package (a test checks the files).
SWAGGER_UI_VERSION = "5.24.2"
#: The page template, in sanic-ext's placeholders (``__CDN_URL__``, ``__URI_TO_JSON__``, ...).
SWAGGER_UI_PAGE = Path(__file__).with_name("swagger-ui.html")
#: Where the assets are served, under ``OAS_URL_PREFIX``; untraced with the rest of it.
ASSETS_PATH = "/assets"


def swagger_ui_config(url_prefix: str) -> dict[str, Any]:
    """sanic-ext's settings for a Swagger UI page whose every file this service serves."""
    return {
        "OAS_UI_SWAGGER": True,
        "OAS_PATH_TO_SWAGGER_HTML": str(SWAGGER_UI_PAGE),
        "OAS_UI_SWAGGER_CDN_URL": url_prefix.rstrip("/") + ASSETS_PATH,
        "OAS_UI_SWAGGER_VERSION": SWAGGER_UI_VERSION,
    }


def swagger_ui_dist() -> Path:
    """The directory of swagger-ui's dist files (``swagger-ui-bundle.js`` & co) inside the
    swagger-ui-py package; found without importing it (only its files are used)."""
    found = importlib.util.find_spec("swagger_ui")
    if found is None or found.origin is None:
        raise RuntimeError("swagger-ui-py is not installed: it is a dependency of sanicms")
    return Path(found.origin).parent / "static"


def install(app: Sanic[Any, Any]) -> None:
    """Serve the Swagger UI's assets, and document ``app`` when it starts: just before
    sanic-ext assembles the spec, and a fix-up just after."""
    if app.config.OAS and app.config.OAS_UI_SWAGGER:
        app.static(f"{app.config.OAS_UI_SWAGGER_CDN_URL}/{app.config.OAS_UI_SWAGGER_VERSION}",
                   swagger_ui_dist(), name="swagger_ui_assets")
    app.before_server_start(document, priority=SANIC_EXT_PRIORITY + 1)
    app.before_server_start(split_shared_operations, priority=SANIC_EXT_PRIORITY - 1)


def document(app: Sanic[Any, Any]) -> None:
    """Hand sanic-ext this app's operations and schemas (it builds the spec right after)."""
    # one spec per process: start from this app's alone (sanic-ext leaves reset() unannotated)
    SpecificationBuilder.reset()  # type: ignore[no-untyped-call]
    spec = SpecificationBuilder()
    schemas = Schemas()
    docs_prefix = str(app.config.OAS_URL_PREFIX).strip("/")
    auth: Authenticator = app.ctx.auth
    for route in app.router.routes:
        if docs_prefix and route.path.startswith(docs_prefix):
            continue  # the spec, the Swagger UI and its assets themselves
        operation = OperationStore()[route.handler]  # type: ignore[no-untyped-call]  # unannotated in sanic-ext
        describe_operation(operation, route, meta_of(route.handler), schemas, app.ctx.settings.api)
        secure_operation(operation, route, auth, declared=meta_of(route.handler).get("errors", {}))
    for name, schema in schemas.components.items():
        spec.add_component("schemas", name, schema)
    if auth.settings.enabled:  # Swagger UI's Authorize button takes the token
        spec.add_component("securitySchemes", BEARER, {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "A JWT; each operation's 403 response names the scopes it needs."})


BEARER = "bearer"


def secure_operation(operation: OperationBuilder, route: Route, auth: Authenticator, *,
                     declared: dict[int, Any]) -> None:
    """The token an operation needs: ``security``, and its 401 / 403 answers (sanic-ext's
    store outlives the app, so another app's answers are taken off first)."""
    # sanic-ext declares ``responses`` keyed by str; response() keys it by the status given, int here
    operation.responses = {k: v for k, v in operation.responses.items()
                           if k not in (401, 403) or k in declared}  # type: ignore[comparison-overlap]
    method = next((m for m in sorted(route.methods) if m not in ("HEAD", "OPTIONS")), "GET")
    public = not auth.settings.enabled or ("/" + route.path).startswith(auth.settings.public_paths)
    needed = None if public else auth.scopes_for(route.handler, method)
    operation.security = [] if needed is None else [{BEARER: []}]
    if needed is None:
        return
    errors = {401: ERROR_DESCRIPTIONS[401]}
    if needed:
        errors[403] = f"the token lacks the scope {' and '.join(sorted(needed))}"
    for status, description in errors.items():
        operation.response(status, {"application/json": {"schema": _ref("Error")}}, description)


def describe_operation(operation: OperationBuilder, route: Route, meta: dict[str, Any],
                       schemas: Schemas, api: ApiSettings) -> None:
    """Set what the doc decorators recorded on sanic-ext's operation. Values are replaced,
    not appended, because sanic-ext's store outlives the app (it is keyed by handler)."""
    if "summary" in meta or "description" in meta:
        # sanic-ext: ``summary: str = None``, an optional str (each is set only when given)
        operation.describe(meta.get("summary"), meta.get("description"))  # type: ignore[arg-type]
    if meta.get("tags"):
        operation.tags = list(meta["tags"])

    declared = {(p.location, p.name): p for p in meta.get("params", ())}
    in_path = {p.name for p in route.params.values()}
    for key in declared:
        if key[0] == "path" and key[1] not in in_path:
            raise ValueError(f"{route.path}: doc.path({key[1]!r}) names no parameter of the route")
    parameters = [path_parameter(p.name, p.cast) for p in route.params.values() if ("path", p.name) not in declared]
    parameters += [declared_parameter(p) for p in declared.values()]
    if meta.get("paginated"):
        parameters += page_parameters(api)
    if meta.get("ids"):
        parameters.append(ids_parameter(meta["ids"]))
    ours = {p.fields["name"] for p in parameters}
    operation.parameters = [p for p in operation.parameters if p.fields["name"] not in ours] + parameters

    body = meta.get("consumes")
    if body is not None:
        mode = PATCH if meta.get("partial") else WRITE
        operation.body({"application/json": {"schema": schemas.of(body, mode)}}, required=True)

    responses = _responses(meta, route, schemas)
    operation.responses = {k: v for k, v in operation.responses.items()
                           if k not in responses}  # type: ignore[comparison-overlap]  # int keys, as above
    success = meta.get("status", 200)
    for status, (description, schema) in responses.items():
        if status == success and meta.get("media"):  # a body of its own (text), not the envelope
            operation.response(status, {t: {"schema": {"type": "string"}} for t in meta["media"]}, description)
        else:
            operation.response(status, {"application/json": {"schema": schema}}, description)


def _responses(meta: dict[str, Any], route: Route, schemas: Schemas) -> dict[int, tuple[str, dict[str, Any]]]:
    """The success envelope, then every error status: those declared, and those that follow
    from the route's inputs."""
    produced = meta.get("produces")
    mode = READ if meta.get("expand", True) else FLAT
    data = schemas.of(produced, mode) if produced is not None else {"description": "undocumented"}
    out = {meta.get("status", 200): ("success", success_envelope(data, paginated=meta.get("paginated", False)))}
    checked = ("consumes" in meta or meta.get("paginated") or meta.get("ids") or meta.get("params")
               or any(p.cast is int for p in route.params.values()))
    errors: dict[int, str | None] = {413: None}  # any request: Sanic's size limits
    if checked:
        errors[400] = None
    if "consumes" in meta:
        errors[415] = None  # a body sent as another media type
        taken = unique_columns(meta["consumes"])
        if taken:  # the database's unique violation, which sanicms.data answers with a 409
            errors[409] = f"conflict: a record with the same {' and the same '.join(taken)} exists"
        named = foreign_keys(meta["consumes"])
        if named:  # the database's foreign-key violation, which sanicms.data answers with a 400
            errors[400] = (f"invalid input, or the record its {' or its '.join(named)} names does not exist; "
                           "`error` lists every problem by field")
    if route.params:
        errors[404] = None  # a value the router cannot match, or no such record
    errors.update(meta.get("errors", {}))
    for status in sorted(errors):
        description = errors[status] or ERROR_DESCRIPTIONS.get(status, "error")
        out[status] = (description, _ref("ValidationError" if status == 400 else "Error"))
    return out


def unique_columns(shape: Any) -> list[str]:
    """What a body of ``shape`` writes that must be unique: each ``unique=True`` field and each
    unique index (``Meta.indexes``) with a writable field, as ``name`` or ``(name, province)``."""
    if isinstance(shape, (list, tuple)):
        shape = shape[0]
    if not is_model(shape):
        return []  # a class of fields or a dict has no table, hence no index
    writable = {f.name for f in shape._meta.sorted_fields} - read_only_fields(shape)
    found = [f.name for f in shape._meta.sorted_fields if f.unique and f.name in writable]
    for index in shape._meta.indexes or ():
        if isinstance(index, (list, tuple)) and len(index) == 2 and index[1]:
            names = [n for n in index[0] if isinstance(n, str)]
            if writable & set(names):
                found.append(names[0] if len(names) == 1 else f"({', '.join(names)})")
    return found


def foreign_keys(shape: Any) -> list[str]:
    """The ``ForeignKeyField`` a body of ``shape`` writes: a valid value may name no record."""
    if isinstance(shape, (list, tuple)):
        shape = shape[0]
    if not is_model(shape):
        return []
    writable = {f.name for f in shape._meta.sorted_fields} - read_only_fields(shape)
    return [f.name for f in shape._meta.sorted_fields
            if isinstance(f, peewee.ForeignKeyField) and f.name in writable]


def split_shared_operations(app: Sanic[Any, Any]) -> None:
    """One handler serving several methods shares one sanic-ext operation, which then
    carries the last method's operationId for all of them: an invalid spec. Give each
    method its own copy and id."""
    # sanic-ext has no public API for an operation per method of one handler: its internals
    # are used through sanicms._compat.sanic_ext, like every other library's.
    for operations in sanic_ext_internals.operations().values():
        shared = [method for method, operation in operations.items()
                  if isinstance(operation, OperationBuilder)
                  and sum(other is operation for other in operations.values()) > 1]
        for method in shared:
            operation = operations[method]
            route_name = sanic_ext_internals.operation_id(operation).partition("~")[2]
            operations[method] = sanic_ext_internals.with_operation_id(operation, f"{method.lower()}~{route_name}")
