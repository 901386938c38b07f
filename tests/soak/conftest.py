"""The soak test runs against the same three-process stack as the end-to-end tests."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("e2e_conftest", Path(__file__).resolve().parents[1] / "conftest.py")
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)

pg_server = _e2e.pg_server
stack = _e2e.stack
