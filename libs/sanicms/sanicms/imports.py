"""peewee and sanic-ext, imported without the optional packages no service process uses.

peewee imports every database driver it supports as it is imported (psycopg2, psycopg), and
sanic-ext imports jinja2 (templates) and attrs (attrs classes as request bodies). A service
serves through asyncpg and describes its bodies with peewee fields, so in each serving
process those packages were resident and unused: 7.5 MiB with what playhouse.migrate
imported (docs/benchmarks.md, "Memory"). Migrations import psycopg2 themselves when they
connect (:func:`sanicms.data.migrations.connect`), and playhouse.migrate when they run.

An optional package something imported before sanicms is left visible: hiding it would save
nothing, and peewee or sanic-ext keep their use of it.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

#: Each package, and the optional packages it is imported without.
WITHOUT: dict[str, tuple[str, ...]] = {
    "peewee": ("psycopg2", "psycopg"),
    "sanic_ext": ("jinja2", "attrs", "attr"),
}


def import_without(module: str, optional: tuple[str, ...]) -> ModuleType:
    """Import ``module`` as if ``optional`` were not installed, unless it is imported already.

    A ``None`` in ``sys.modules`` makes ``import name`` raise ImportError, the case each of
    these packages handles as "not installed"; the names are visible again afterwards."""
    if module in sys.modules:
        return sys.modules[module]
    hidden = [name for name in optional if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # the documented "not importable"
    try:
        return importlib.import_module(module)
    finally:
        for name in hidden:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


for _module, _optional in WITHOUT.items():  # this module's purpose: sanicms imports it first
    import_without(_module, _optional)
