"""The files of a new service, as templates: what ``python -m sanicms new-service`` writes.

Written the way the city (no neighbours) and user (with neighbours) services are: CRUD views
on a ``Table``, migrations, settings, the published spec's shapes of the neighbours it calls,
and tests that build their bodies from the service's own spec, so fields added to
``models.py`` need no change to the tests.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Neighbour:
    """A service the new one refers to: ``user_id`` names a record of ``/users``."""

    name: str  # user
    shape: str  # User: the schema of its replies, in its published spec
    port: int
    resource: str  # /users
    published: str = ""  # its published spec (openapi.json), which the new service keeps a copy of

    @property
    def field(self) -> str:
        return f"{self.name}_id"

    @property
    def alias(self) -> str:
        return f"{self.shape}Api"

    @property
    def constant(self) -> str:
        return self.name.upper()


@dataclasses.dataclass(frozen=True)
class NewService:
    name: str  # order
    port: int
    resource: str  # orders
    calls: tuple[Neighbour, ...] = ()

    @property
    def package(self) -> str:
        return f"{self.name}_service"

    @property
    def model(self) -> str:
        return self.name.capitalize()

    @property
    def title(self) -> str:
        return self.name.capitalize()


def files(s: NewService) -> dict[str, str]:
    """Path (relative to ``services/<name>``) -> content."""
    package = s.package
    out = {
        "pyproject.toml": pyproject(s),
        f"{package}/__init__.py": f'"""The {s.name} service: {s.resource}{_with(s)}."""\n',
        f"{package}/__main__.py": main_module(s),
        f"{package}/settings.py": settings(s),
        f"{package}/models.py": models(s),
        f"{package}/migrations.py": migrations(s),
        f"{package}/server.py": server(s),
        f"{package}/views.py": views(s),
        "tests/__init__.py": f'"""The {s.name} service\'s tests (a package: `python -m unittest` finds them)."""\n',
        f"tests/test_{s.resource}.py": api_tests(s),
        "tests/test_openapi.py": spec_tests(s),
    }
    # The contracts it is built against: each neighbour's published spec, kept in its own
    # package (sanicms.contract.neighbours), so it installs without them.
    out.update({f"{package}/neighbours/{n.name}.json": n.published for n in s.calls})
    return out


def _with(s: NewService) -> str:
    return f", each shown with the {' and '.join(n.name for n in s.calls)} it refers to" if s.calls else ""


def pyproject(s: NewService) -> str:
    plural = "s" if len(s.calls) > 1 else ""
    why = (f"# Only the library: the published spec{plural} of {' and '.join(n.name for n in s.calls)}, which shape "
           f"its replies, are copies in its own package\n# ({s.package}/neighbours/, refreshed by "
           f"`python -m sanicms neighbours {s.name} --write`).\n") if s.calls else ""
    # neighbours/ is a package of its own: a data folder setuptools is not told about makes every
    # install print a "Package would be ignored" banner
    packages = f'"{s.package}", "{s.package}.neighbours"' if s.calls else f'"{s.package}"'
    copies = f'\n"{s.package}.neighbours" = ["*.json"]' if s.calls else ""
    kept = ",\n# and its copies of the specs its neighbours publish, the contracts it was built against" * bool(s.calls)
    return f"""[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "sanicms-{s.name}"
version = "0.1.0"
description = "{s.title} service: {s.resource}{_with(s)}."
requires-python = ">=3.11"
{why}dependencies = ["sanicms"]

[project.scripts]
{s.name}-service = "{s.package}.__main__:run"

[tool.setuptools]
packages = [{packages}]

[tool.setuptools.package-data]
# the OpenAPI spec it serves, published for callers and tests (python -m sanicms spec {s.name} --write){kept}
{s.package} = ["openapi.json"]{copies}
"""


def main_module(s: NewService) -> str:
    return f'''"""``python -m {s.package} [serve|migrate|check]``."""

import sanicms

from .migrations import migrate
from .server import create_app


def run() -> None:
    sanicms.main(service="{s.name}", settings_module="{s.package}.settings", factory=create_app, migrate=migrate)


if __name__ == "__main__":
    run()
'''


def settings(s: NewService) -> str:
    lines = [f'"""Settings of the {s.name} service; every name can be overridden from the environment."""', "",
             f'SERVICE_NAME = "{s.name}"', f'API_TITLE = "{s.title} service"', 'API_VERSION = "0.1.0"',
             f'API_DESCRIPTION = "{s.resource.capitalize()}{_with(s)}."', 'HOST = "127.0.0.1"', f"PORT = {s.port}",
             f'DATABASE_URL = ""  # e.g. postgresql://postgres@127.0.0.1:5432/{s.name}']
    if s.calls:
        lines.append(f"DOWNSTREAM_SERVICES = {[n.name for n in s.calls]!r}".replace("'", '"'))
        lines += [f'{n.name.upper()}_SERVICE_URL = "http://127.0.0.1:{n.port}"' for n in s.calls]
    return "\n".join(lines) + "\n"


def models(s: NewService) -> str:
    types = sorted({"AutoField", "CharField", "DateTimeField", "Model", *(["IntegerField"] if s.calls else [])})
    shapes = "".join(f'{n.alias} = published_shape("{n.name}", "{n.shape}")\n' for n in s.calls)
    if shapes:
        shapes = ("\nfrom sanicms import published_shape\n\n"
                  f"#: As the neighbours reply, read from their published specs (the copies in neighbours/).\n{shapes}")
    refs = "".join(f'    {n.field} = IntegerField(verbose_name="the {n.name} this {s.name} refers to", '
                   f"help_text={n.alias})\n" for n in s.calls)
    return f'''"""The {s.name} table: defined once, used for migrations, validation and API docs.

Edit the fields (peewee fields: CharField, IntegerField, TextField, BooleanField, ...; bounds with
Check("qty >= 1") or Check("qty BETWEEN 1 AND 9"), allowed values with choices=[...]: docs/guide.md),
then publish the changed spec: python -m sanicms spec {s.name} --write
"""

import datetime

from peewee import {", ".join(types)}
{shapes}

class {s.model}(Model):
    id = AutoField(verbose_name="{s.name} id")
    name = CharField(max_length=128, verbose_name="{s.name} name")
{refs}    create_time = DateTimeField(default=datetime.datetime.utcnow, verbose_name="creation time (UTC)")

    class Meta:
        table_name = "{s.resource}"
        read_only = ("create_time",)
'''


def migrations(s: NewService) -> str:
    return f'''"""Migrations of the {s.name} database: ``python -m {s.package} migrate``."""

from sanicms import Settings
from sanicms.migrations import MigrationModel, run_migrations

from .models import {s.model}


class {s.model}Migration(MigrationModel):
    _model = {s.model}


MIGRATIONS = [{s.model}Migration]


def migrate(settings: Settings) -> dict[str, list[str]]:
    return run_migrations(settings.database.url, MIGRATIONS)
'''


def server(s: NewService) -> str:
    return f'''"""The {s.name} service's app factory."""

from typing import Any

from sanic import Sanic

import sanicms

from .views import bp


def create_app(**overrides: Any) -> Sanic:
    settings = sanicms.load_settings("{s.package}.settings", overrides=overrides)
    return sanicms.create_app(settings, [bp])
'''


def views(s: NewService) -> str:
    """CRUD on the table; with neighbours, their records checked on writes and shown in replies."""
    r, m, one, a = s.resource, s.model, s.name, _a(s.name)
    names = " or ".join(n.name for n in s.calls)
    if s.calls:
        head = (f"#: The model's fields that name records of the {names} service (help_text=published_shape(...)):\n"
                f"#: checked on writes, shown in replies (sanicms.References).\n"
                f"references = References.of({m})\n"
                f"\n#: Statuses of routes that call the {names} service (see sanicms.calls.client).\n"
                "DOWNSTREAM = (502, 503, 504)\n"
                f'MISSING = (400, "invalid body, or the {names} it names does not exist; `error` names each field")\n')
        create_errors, read_errors = "MISSING, *DOWNSTREAM", "404, *DOWNSTREAM"
        write_errors, list_errors = "404, MISSING, *DOWNSTREAM", "*DOWNSTREAM"
        check, related = "    found = await references.check(request, request.ctx.data)\n", "{**row, **found}"
        shown = "await references.expand(request, row)"
        listing = (f"        rows, pagination = await {r}.listing(cur, page_from(request), ids_from(request))\n"
                   "    return await references.expand_many(request, rows), pagination\n")
        update_check = ("    # primary=True: the row this change starts from must be the latest, not a replica's.\n"
                        f"    async with request.app.ctx.db.acquire(request, primary=True) as cur:\n"
                        f"        row = await {r}.get(cur, id)\n"
                        "    if row is None:\n"
                        f'        raise NotFound(f"{one} {{id}} not found")\n'
                        f"    # Every record of the reply is fetched before the write: if the {names} service fails,\n"
                        "    # nothing is written, and the 5xx is safe to retry.\n"
                        "    found = await references.check(request, request.ctx.data, row)\n")
        updated = "await references.attach(request, row, found)"
        imports = "NotFound, References, Table"
    else:
        head, check, related, shown, update_check, updated = "", "", "row", "row", "", "row"
        imports = "NotFound, Table"
        create_errors, read_errors, write_errors, list_errors = "503", "404, 503", "404, 503", "503"
        listing = f"        return await {r}.listing(cur, page_from(request), ids_from(request))\n"
    return f'''"""HTTP routes of the {s.name} service, under ``/{r}``: create, read, list, replace, change, delete."""

from sanic import Blueprint, Request

from sanicms import {imports}, doc, ids_from, page_from, respond

from .models import {m}

bp = Blueprint("{r}", url_prefix="/{r}")
{r} = Table({m})
{head}

@bp.post("/")
@doc.tag("{r}")
@doc.summary("create {a} {one}")
@doc.consumes({m})
@doc.produces({m}, status=201)
@doc.errors({create_errors})
async def create_{one}(request: Request):
{check}    async with request.app.ctx.db.transaction(request) as cur:
        row = await {r}.insert(cur, request.ctx.data)
    return respond({related}, status=201)


@bp.get("/<id:int>")
@doc.tag("{r}")
@doc.summary("get {a} {one} by id")
@doc.produces({m})
@doc.errors({read_errors})
async def get_{one}(request: Request, id: int):
    async with request.app.ctx.db.acquire(request) as cur:
        row = await {r}.get(cur, id)
    if row is None:
        raise NotFound(f"{one} {{id}} not found")
    return {shown}


@bp.get("/")
@doc.tag("{r}")
@doc.summary("list {r}, a page at a time, or those with the given ids")
@doc.produces([{m}], paginated=True)
@doc.ids_param()
@doc.errors({list_errors})
async def list_{r}(request: Request):
    async with request.app.ctx.db.acquire(request) as cur:
{listing}

@bp.put("/<id:int>")
@doc.tag("{r}")
@doc.summary("replace {a} {one}: every writable field")
@doc.consumes({m})
@doc.produces({m})
@doc.errors({write_errors})
async def replace_{one}(request: Request, id: int):
    return await _update(request, id)


@bp.patch("/<id:int>")
@doc.tag("{r}")
@doc.summary("change some fields of {a} {one}")
@doc.consumes({m}, partial=True)
@doc.produces({m})
@doc.errors({write_errors})
async def update_{one}(request: Request, id: int):
    return await _update(request, id)


async def _update(request: Request, id: int) -> dict:
{update_check}    async with request.app.ctx.db.transaction(request) as cur:
        row = await {r}.update(cur, id, request.ctx.data)
    if row is None:
        raise NotFound(f"{one} {{id}} not found")
    return {updated}


@bp.delete("/<id:int>")
@doc.tag("{r}")
@doc.summary("delete {a} {one}")
@doc.produces({{"id": int}})
@doc.errors(404, 503)
async def delete_{one}(request: Request, id: int):
    async with request.app.ctx.db.transaction(request) as cur:
        deleted = await {r}.delete(cur, id)
    if not deleted:
        raise NotFound(f"{one} {{id}} not found")
    return {{"id": id}}
'''



def api_tests(s: NewService) -> str:
    r, one, m = s.resource, s.name, s.model
    mocked = " and ".join(n.name for n in s.calls)
    consts = "".join(f'{n.constant} = {{**example(schema_of("{n.name}", "{n.shape}", caller=CALLER), '
                     f'published_spec("{n.name}", caller=CALLER)), "id": 1}}\n' for n in s.calls)
    if consts:
        consts = (f"\n#: As the neighbours would answer, built from their published specs (the copies the service "
                  f'keeps).\nCALLER = "{s.package}"\n{consts}')
    mocks = "".join(f'        self._mock.get("{n.resource}/1", payload={n.constant})\n'
                    f'        self._mock.get("{n.resource}/999", status=404, message="{n.name} 999 not found")\n'
                    for n in s.calls)
    refs = "".join(f', "{n.field}": 1' for n in s.calls)
    shown = "".join(f'        self.assertEqual(row["{n.name}"], {n.constant})\n' for n in s.calls)
    batch = "".join(f'        self._mock.get("{n.resource}?ids=1", payload=[{n.constant}])\n' for n in s.calls)
    calls_tests = ""
    for n in s.calls:
        calls_tests += f'''
    def test_unknown_{n.name}_is_a_400_naming_the_field_and_nothing_is_written(self):
        res = self.client.create_{one}(data=self.body({n.field}=999))
        self.assertEqual(res.status_code, 400, res.text)
        self.assertIn({{"field": "{n.field}", "message": "{n.name} 999 does not exist"}}, res.json()["error"])
        self.assertEqual(self.db_execute("SELECT count(*) AS n FROM {r}"), [{{"n": 0}}])

    def test_{n.name}_service_not_answering_is_a_504(self):
        self._mock.get("{n.resource}/2", exception=TimeoutError())
        res = self.client.create_{one}(data=self.body({n.field}=2))
        self.assertEqual(res.status_code, 504, res.text)
        self.assertEqual(res.json()["message"], "{n.name} service did not answer in time")

    def test_a_change_while_the_{n.name}_service_is_down_writes_nothing(self):
        row = self.create()
        self.db_execute("UPDATE {r} SET {n.field} = 5 WHERE id = $1", row["id"])  # {n.resource}/5: not mocked, refused
        before = self.db_execute("SELECT * FROM {r}")
        field, value = next(item for item in self.body(3).items() if not item[0].endswith("_id"))
        res = self.client.update_{one}(id=row["id"], data={{field: value}})
        self.assertEqual(res.status_code, 503, res.text)
        self.assertEqual(self.db_execute("SELECT * FROM {r}"), before)
'''
    settings = '    settings: ClassVar[dict[str, Any]] = {"CLIENT_TIMEOUT": 0.5}\n' if s.calls else ""
    imports = "from typing import Any, ClassVar\n\n" if s.calls else ""
    published = ["from sanicms.contract.published import published_spec, schema_of"] if s.calls else []
    first_party = _sorted_imports([f"from {s.package}.migrations import MIGRATIONS",
                                   f"from {s.package}.server import create_app", *published,
                                   "from sanicms.examples import example", "from sanicms.testing import APITestCase"])
    setup = f"\n    def setUp(self):\n        super().setUp()\n{mocks}" if s.calls else ""
    against = f", the {mocked} service mocked" if s.calls else ""
    return f'''"""The {one} service through HTTP, against a real PostgreSQL{against}.

Bodies are examples built from the service's own spec (sanicms.examples), so the fields
written in models.py need no change here."""

{imports}{first_party}
{consts}

class {m}ApiTest(APITestCase):
    app_factory = staticmethod(create_app)
    migrations = MIGRATIONS
    _blueprint = "{r}"
{settings}
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.spec = cls.live.request("GET", "/openapi/spec.json").json()
        cls.input = cls.spec["components"]["schemas"]["{m}Input"]
{setup}
    def body(self, n=1, **fields):
        """The n-th example {one}: a value for every field, valid by the spec."""
        return {{**example(self.input, self.spec, n){refs}, **fields}}

    def stored(self, body):
        """The fields of ``body`` that come back exactly as sent (date-times are reformatted)."""
        formats = {{"int32", "int64", None}}
        return {{k: v for k, v in body.items() if self.input["properties"][k].get("format") in formats}}

    def create(self, n=1, **fields):
        res = self.client.create_{one}(data=self.body(n, **fields))
        self.assertEqual(res.status_code, 201, res.text)
        return res.json()["data"]

    def test_create_returns_the_stored_{one}(self):
        body = self.body()
        row = self.create()
        self.assertEqual({{k: row[k] for k in self.stored(body)}}, self.stored(body))
        self.assertIsInstance(row["id"], int)
{shown}        self.assertEqual(self.db_execute("SELECT count(*) AS n FROM {r}"), [{{"n": 1}}])

    def test_get_by_id_and_a_missing_one_is_a_404(self):
        row = self.create()
        res = self.client.get_{one}(id=row["id"])
        self.assertEqual(res.json(), {{"code": 0, "data": row}})
        res = self.client.get_{one}(id=row["id"] + 1000)
        self.assertEqual(res.status_code, 404)
        self.assertEqual(res.json()["message"], f"{one} {{row['id'] + 1000}} not found")

    def test_list_is_paginated_and_takes_ids(self):
        ids = [self.create(n)["id"] for n in (1, 2, 3)]
{batch}        res = self.client.list_{r}(params={{"page": 2, "page_size": 2}})
        self.assertEqual(res.status_code, 200, res.text)
        self.assertEqual([row["id"] for row in res.json()["data"]], ids[2:])
        self.assertEqual(res.json()["pagination"], {{"page": 2, "page_size": 2, "total": 3, "pages": 2}})
        res = self.client.list_{r}(params={{"ids": f"{{ids[2]}},{{ids[0]}},12345"}})
        self.assertEqual([row["id"] for row in res.json()["data"]], [ids[0], ids[2]])

    def test_put_replaces_and_patch_changes_some_fields(self):
        row = self.create()
        replacement = self.body(2)
        res = self.client.replace_{one}(id=row["id"], data=replacement)
        self.assertEqual(res.status_code, 200, res.text)
        self.assertEqual({{k: res.json()["data"][k] for k in self.stored(replacement)}}, self.stored(replacement))
        field, value = next(iter(self.body(3).items()))  # PATCH one field: the first, from another example
        res = self.client.update_{one}(id=row["id"], data={{field: value}})
        self.assertEqual(res.status_code, 200, res.text)
        self.assertEqual(res.json()["data"][field], value)
        res = self.client.update_{one}(id=row["id"] + 1000, data={{field: value}})
        self.assertEqual(res.status_code, 404)

    def test_invalid_body_names_each_field(self):
        res = self.client.create_{one}(data={{"no_such_field": 1}})
        self.assertEqual(res.status_code, 400)
        self.assertIn("no_such_field", {{p["field"] for p in res.json()["error"]}})
        self.assertEqual(self.db_execute("SELECT count(*) AS n FROM {r}"), [{{"n": 0}}])

    def test_delete(self):
        row = self.create()
        self.assertEqual(self.client.delete_{one}(id=row["id"]).json(), {{"code": 0, "data": {{"id": row["id"]}}}})
        self.assertEqual(self.client.get_{one}(id=row["id"]).status_code, 404)
        self.assertEqual(self.client.delete_{one}(id=row["id"]).status_code, 404)
{calls_tests}'''


def spec_tests(s: NewService) -> str:
    return f'''"""The {s.name} service's OpenAPI spec, as served at /openapi/spec.json and as published."""

{_sorted_imports([f"from {s.package}.migrations import MIGRATIONS", f"from {s.package}.server import create_app",
                  "from sanicms.testing import SpecTestCase"])}


class {s.model}SpecTest(SpecTestCase):
    app_factory = staticmethod(create_app)
    migrations = MIGRATIONS
'''


def _sorted_imports(lines: list[str]) -> str:
    """First-party ``from`` imports in isort's order (by module), as ruff's I001 wants them."""
    return "\n".join(sorted(lines, key=lambda line: line.split()[1]))


def _a(word: str) -> str:
    """The article before ``word``: an order, a city."""
    return "an" if word[0] in "aeiou" else "a"
