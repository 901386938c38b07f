"""What a serving process keeps out of memory: packages only some features need are imported
where those features start, not with the library."""

import http.server
import importlib
import json
import subprocess
import sys
import threading

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


FETCH_KEYS = """
import asyncio, sys
from sanicms.auth import JwksKeys

async def main():
    keys = JwksKeys(sys.argv[1], ttl=60.0, min_refresh=1.0, timeout=5.0)
    await keys.open()
    await keys.close()
    return keys.fetches

print(asyncio.run(main()), "aiohttp" in sys.modules)
"""


def test_fetching_keys_from_a_jwks_url_does_not_load_aiohttp():
    class Jwks(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"keys": []}'
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
        out = subprocess.run([sys.executable, "-c", FETCH_KEYS, url], capture_output=True, text=True, timeout=120,
                             check=True).stdout
    finally:
        server.shutdown()
        server.server_close()
    assert out.split() == ["1", "False"]  # fetched, without aiohttp (9 MiB)
