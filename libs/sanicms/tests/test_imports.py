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
KEPT_OUT = ("jwt", "cryptography", "swagger_ui", "psycopg2", "psycopg", "jinja2", "attrs", "attr")

BUILD = """
import json, sys
import sanicms
settings = sanicms.load_settings(environ={{}}, overrides={{
    "SERVICE_NAME": "imports_probe", "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", {extra}}})
sanicms.create_app(settings)
print(json.dumps({{name: name in sys.modules for name in {kept_out!r}}}))
"""


def loaded(extra: str = "") -> dict[str, bool]:
    code = BUILD.format(extra=extra, kept_out=KEPT_OUT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_an_app_keeps_out_what_it_never_uses():
    assert loaded() == dict.fromkeys(KEPT_OUT, False)


def test_an_app_with_auth_on_imports_pyjwt_when_it_is_built():
    # Loaded with the app, not on the first request (no latency spike on it).
    assert loaded('"AUTH_ENABLED": True, "AUTH_SECRET": "x" * 32')["jwt"] is True


@pytest.fixture
def probe_packages(tmp_path, monkeypatch):
    """``probe_main`` records whether its optional ``probe_extra`` was importable."""
    (tmp_path / "probe_extra.py").write_text("")
    (tmp_path / "probe_main.py").write_text(
        "try:\n    import probe_extra\n    HAS_EXTRA = True\nexcept ImportError:\n    HAS_EXTRA = False\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("probe_main", "probe_extra"):
        sys.modules.pop(name, None)


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

