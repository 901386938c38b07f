"""What a serving process keeps out of memory: packages only some features need are imported
where those features start, not with the library."""

import importlib
import json
import subprocess
import sys

import pytest

from sanicms.imports import import_without

#: What an app never needs in its process: auth's packages when auth is off, Swagger UI's
#: package (only its files are served), peewee's drivers and sanic-ext's optional packages.
KEPT_OUT = ("jwt", "cryptography", "swagger_ui", "psycopg2", "psycopg", "sqlite3", "jinja2", "attrs", "attr",
            "pydantic")

BUILD = """
import json, sys
import sanicms
settings = sanicms.load_settings(environ={{}}, overrides={{
    "SERVICE_NAME": "imports_probe", "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", {extra}}})
sanicms.create_app(settings)
print(json.dumps({{name: name in sys.modules for name in {kept_out!r}}}))
"""


def run_fresh(code: str) -> str:
    """The last line ``code`` prints, run in a fresh interpreter."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=True).stdout.strip().splitlines()[-1]


def loaded(extra: str = "") -> dict[str, bool]:
    return json.loads(run_fresh(BUILD.format(extra=extra, kept_out=KEPT_OUT)))


def test_an_app_keeps_out_what_it_never_uses():
    assert loaded() == dict.fromkeys(KEPT_OUT, False)


def test_an_app_with_auth_on_imports_pyjwt_when_it_is_built():
    # Loaded with the app, not on the first request (no latency spike on it).
    assert loaded('"AUTH_ENABLED": True, "AUTH_SECRET": "x" * 32')["jwt"] is True


@pytest.fixture
def modules(tmp_path, monkeypatch):
    """Write modules (name -> source) where they can be imported; forgotten after the test."""
    written: list[str] = []

    def write(**sources: str) -> None:
        for name, source in sources.items():
            (tmp_path / f"{name}.py").write_text(source)
            written.append(name)

    monkeypatch.syspath_prepend(str(tmp_path))
    yield write
    for name in written:
        sys.modules.pop(name, None)


@pytest.fixture
def probe_packages(modules):
    """``probe_main`` records whether its optional ``probe_extra`` was importable."""
    modules(probe_extra="", probe_main=(
        "try:\n    import probe_extra\n    HAS_EXTRA = True\nexcept ImportError:\n    HAS_EXTRA = False\n"))


def test_import_without_hides_the_optional_package_only_while_importing(probe_packages):
    assert import_without("probe_main", ("probe_extra",)).HAS_EXTRA is False
    assert "probe_extra" not in sys.modules
    assert importlib.import_module("probe_extra").__name__ == "probe_extra"  # importable again


def test_import_without_leaves_an_optional_package_imported_before_it(probe_packages):
    importlib.import_module("probe_extra")
    assert import_without("probe_main", ("probe_extra",)).HAS_EXTRA is True


def test_import_without_returns_a_module_imported_before_it_as_it_is(probe_packages):
    first = importlib.import_module("probe_main")
    assert import_without("probe_main", ("probe_extra",)) is first
    assert first.HAS_EXTRA is True



@pytest.fixture
def probe_deferred(modules):
    """``probe_user`` imports ``probe_heavy`` unconditionally, and one name from it optionally."""
    modules(probe_heavy="class Thing:\n    pass\n", probe_user=(
        "import probe_heavy\n"
        "try:\n    from probe_heavy import Thing\n    HAS_THING = True\nexcept ImportError:\n    HAS_THING = False\n"
        "def thing():\n    return probe_heavy.Thing\n"))


def test_a_deferred_package_is_missing_while_importing_and_imported_on_first_use(probe_deferred):
    user = import_without("probe_user", (), ("probe_heavy",))
    assert user.HAS_THING is False  # the optional path saw "not installed"
    assert "probe_heavy" not in sys.modules
    thing = user.thing()  # the unconditional import's first use
    assert "probe_heavy" in sys.modules
    assert thing is sys.modules["probe_heavy"].Thing
    assert importlib.import_module("probe_heavy").Thing is thing


def test_a_deferred_package_imported_before_is_used_as_it_is(probe_deferred):
    heavy = importlib.import_module("probe_heavy")
    user = import_without("probe_user", (), ("probe_heavy",))
    assert user.HAS_THING is True
    assert user.probe_heavy is heavy


def test_sanic_ext_validation_still_works_and_imports_pydantic_only_then():
    code = """
import dataclasses, sys
import sanicms
from sanic_ext.extras.validation.clean import clean_data
@dataclasses.dataclass
class Query:
    tags: list[str]
    name: str
before = "pydantic" in sys.modules
print(before, clean_data(Query, {"tags": ["a"], "name": ["x"]}), "pydantic" in sys.modules)
"""
    assert run_fresh(code) == "False {'tags': ['a'], 'name': 'x'} True"


def test_packages_imported_before_sanicms_keep_their_use_in_sanic_ext_and_peewee():
    code = """
import pydantic, sqlite3
import sanicms, peewee
from sanic_ext.utils.typing import is_pydantic
class Body(pydantic.BaseModel):
    name: str
db = peewee.SqliteDatabase(":memory:")
print(is_pydantic(Body), db.execute_sql("select 1").fetchone()[0])
"""
    assert run_fresh(code) == "True 1"


def test_without_them_sanic_ext_sees_no_pydantic_and_peewee_no_sqlite():
    code = """
import sanicms, peewee, pydantic
from sanic_ext.utils.typing import is_pydantic
class Body(pydantic.BaseModel):
    name: str
try:
    peewee.SqliteDatabase(":memory:").connect()
    sqlite = "connected"
except peewee.ImproperlyConfigured:
    sqlite = "not configured"
print(is_pydantic(Body), sqlite)
"""
    assert run_fresh(code) == "False not configured"
