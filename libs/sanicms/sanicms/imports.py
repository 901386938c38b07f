"""peewee and sanic-ext, imported without the optional packages no service process uses.

peewee imports every database driver it supports as it is imported (psycopg2, psycopg,
sqlite3), and sanic-ext imports jinja2 (templates), attrs and pydantic (attrs and pydantic
classes as request bodies). A service serves through asyncpg and describes its bodies with
peewee fields, so in each serving process those packages were resident and unused: 7.5 MiB
with what playhouse.migrate imported, and pydantic and sqlite3 6.5 more (docs/benchmarks.md,
"Memory"). Migrations import psycopg2 themselves when they connect
(:func:`sanicms.data.migrations.connect`), and playhouse.migrate when they run.

sanic-ext's validation imports pydantic in one module without a fallback (``clean.py``,
which reads ``pydantic.BaseModel`` when it validates a body). There pydantic is *deferred*
rather than hidden: ``import pydantic`` gets a :class:`Deferred` stand-in, without
attributes while sanic-ext is imported, so that its optional uses take their "not
installed" path; the first read afterwards imports the real pydantic.

An optional package something imported before sanicms is left visible: hiding it would save
nothing, and peewee or sanic-ext keep their use of it.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

#: Each package, and the optional packages it is imported without.
WITHOUT: dict[str, tuple[str, ...]] = {
    "peewee": ("psycopg2", "psycopg", "sqlite3"),
    "sanic_ext": ("jinja2", "attrs", "attr"),
}
#: Each package, and the packages it imports unconditionally but is imported without.
DEFERRED: dict[str, tuple[str, ...]] = {
    "sanic_ext": ("pydantic",),
}


class Deferred(ModuleType):
    """Stands in for a package: without attributes while hidden, the real one's afterwards
    (imported on the first read)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__hidden = True

    def reveal(self) -> None:
        self.__hidden = False

    def __getattr__(self, attr: str) -> Any:
        if self.__hidden:  # so `from name import x` raises ImportError, as if not installed
            raise AttributeError(f"{self.__name__} is not imported here ({attr})")
        return getattr(importlib.import_module(self.__name__), attr)


def import_without(module: str, optional: tuple[str, ...], deferred: tuple[str, ...] = ()) -> ModuleType:
    """Import ``module`` as if ``optional`` and ``deferred`` were not installed, unless it is
    imported already.

    A ``None`` in ``sys.modules`` makes ``import name`` raise ImportError, the case each of
    these packages handles as "not installed"; a :class:`Deferred` lets ``import name``
    through and fails ``from name import x`` with ImportError. The names are visible again
    afterwards."""
    if module in sys.modules:
        return sys.modules[module]
    hidden: dict[str, ModuleType | None] = {name: None for name in optional if name not in sys.modules}
    hidden.update({name: Deferred(name) for name in deferred if name not in sys.modules})
    sys.modules.update(hidden)  # type: ignore[arg-type]  # None: the documented "not importable"
    try:
        return importlib.import_module(module)
    finally:
        for name, stand_in in hidden.items():
            if sys.modules.get(name, ...) is stand_in:
                del sys.modules[name]
            if isinstance(stand_in, Deferred):
                stand_in.reveal()


for _module, _optional in WITHOUT.items():  # this module's purpose: sanicms imports it first
    import_without(_module, _optional, DEFERRED.get(_module, ()))
