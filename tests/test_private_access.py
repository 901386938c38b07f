"""tools/private_access.py, the check ``make lint`` runs: what it flags, what it lets through,
and that the repository passes it."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "private_access.py"
spec = importlib.util.spec_from_file_location("private_access", SCRIPT)
assert spec is not None and spec.loader is not None
private_access = importlib.util.module_from_spec(spec)
spec.loader.exec_module(private_access)


def flagged(source: str) -> list[str]:
    source = textwrap.dedent(source)
    checker = private_access.Checker("example.py", source)
    checker.visit(ast.parse(source))
    return [line.split(": ")[1] for line in checker.found]


@pytest.mark.parametrize("source, expected", [
    ("entry[0]._value += 1", ["entry[0]._value"]),  # a prometheus-client value, whatever holds it
    ("app._future_middleware.remove(f)", ["app._future_middleware"]),
    ("getattr(values.ValueClass, '_multiprocess', False)", ["getattr(values.ValueClass, '_multiprocess', False)"]),
    ("from pgserver._commands import pg_ctl", ["from pgserver._commands import ..."]),
    ("import asyncpg.exceptions._base", ["import asyncpg.exceptions._base"]),
    ("from sanic.app import _private_thing", ["from sanic.app import _private_thing"]),
    ("import asyncpg\nasyncpg.exceptions._base.X", ["asyncpg.exceptions._base"]),
    # rooted in an import of theirs: any private name, even one they do not define (yet)
    ("from sanic_ext.extensions.openapi.builders import SpecificationBuilder\nSpecificationBuilder()._made_up",
     ["SpecificationBuilder()._made_up"]),
    # self in a subclass of theirs, for what it inherits
    ("from sanic import Request\nclass R(Request):\n    def f(self):\n        return self._cookies",
     ["self._cookies"]),
])
def test_it_flags_private_names_of_theirs(source, expected):
    assert flagged(source) == expected


@pytest.mark.parametrize("source", [
    "self._value = 1",  # an own class's own attribute
    "from sanic import Request\nclass R(Request):\n    def __init__(self):\n        self._mine = 1\n"
    "    def f(self):\n        return self._mine",  # defined by the subclass itself
    "thing._not_a_name_of_theirs",
    "point._replace(x=1)",  # a namedtuple's API, not defined by them
    "client._send = stuck  # fence: ServiceClient's own",  # waived, saying whose it is
    "from sanic import Request\nRequest.__name__",  # dunders are not private
    "from .._compat.sanic import STARTED",  # the fence itself, imported
])
def test_it_lets_through_what_is_not_theirs(source):
    assert flagged(source) == []


def test_the_repository_keeps_to_the_fence():
    result = subprocess.run([sys.executable, str(SCRIPT)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

