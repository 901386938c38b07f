"""What a serving process keeps out of memory: packages only some features need are imported
where those features start, not with the library."""

import json
import subprocess
import sys

BUILD = """
import json, sys
import sanicms
settings = sanicms.load_settings(environ={{}}, overrides={{
    "SERVICE_NAME": "imports_probe", "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", {extra}}})
sanicms.create_app(settings)
print(json.dumps({{name: name in sys.modules for name in ("jwt", "cryptography", "swagger_ui")}}))
"""


def loaded(extra: str = "") -> dict[str, bool]:
    out = subprocess.run([sys.executable, "-c", BUILD.format(extra=extra)], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_an_app_with_auth_off_never_imports_pyjwt_or_cryptography():
    assert loaded() == {"jwt": False, "cryptography": False, "swagger_ui": False}


def test_an_app_with_auth_on_imports_pyjwt_when_it_is_built():
    # Loaded with the app, not on the first request (no latency spike on it).
    assert loaded('"AUTH_ENABLED": True, "AUTH_SECRET": "x" * 32')["jwt"] is True
