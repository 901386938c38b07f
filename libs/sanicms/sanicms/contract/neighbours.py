"""A caller's copies of its neighbours' published specs: the contracts it was built against.

A service that calls others keeps, in its own package, each neighbour's ``openapi.json`` as
it last took it: ``services/user/user_service/neighbours/city.json`` is
``services/city/city_service/openapi.json``. They are package data, so the caller installs,
builds its app, checks its mocks and shapes its replies with nothing but itself and the
library installed (:func:`sanicms.contract.published.published_spec` reads them).

In the repository, a copy must be what the neighbour publishes now:
:func:`stale` lists the copies that are not, naming each differing path and field
(``components.schemas.City.properties.name.maxLength: 128 published, 64 in the copy``);
:func:`refresh` rewrites them. ``python -m sanicms neighbours [CALLER...] [--write]`` does
either, and ``python -m sanicms spec city --write`` refreshes every caller's copy of city's
spec right after writing it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..registry import Service, services
from .published import NEIGHBOURS_DIR, SPEC_FILE, refresh_command, refresh_copies_command

#: At most this many differences are named per copy (the rest are counted).
SHOWN = 20


@dataclasses.dataclass(frozen=True)
class Copy:
    """``caller``'s copy of ``neighbour``'s published spec, both as the registry finds them."""

    caller: Service
    neighbour: Service

    @property
    def path(self) -> Path:
        """The copy: ``services/user/user_service/neighbours/city.json``."""
        return self.caller.directory / self.caller.package / NEIGHBOURS_DIR / f"{self.neighbour.name}.json"

    @property
    def source(self) -> Path:
        """What the neighbour publishes: ``services/city/city_service/openapi.json``."""
        return self.neighbour.directory / self.neighbour.package / SPEC_FILE

    def differences(self) -> list[str]:
        """How the copy differs from what the neighbour publishes, one line per path and field
        (empty when it is the same document)."""
        if not self.source.is_file():
            return [f"{self.neighbour.package}/{SPEC_FILE} is missing: `{refresh_command(self.neighbour.name)}`"]
        published = json.loads(self.source.read_text(encoding="utf-8"))
        if not self.path.is_file():
            return [f"{self.caller.package}/{NEIGHBOURS_DIR}/{self.neighbour.name}.json is missing"]
        return spec_differences(json.loads(self.path.read_text(encoding="utf-8")), published)

    def problem(self) -> str | None:
        """Why the copy is not the published spec: which file, each difference and the command
        that refreshes it; None when it is."""
        found = self.differences()
        if not found:
            return None
        shown = found[:SHOWN] + ([f"... and {len(found) - SHOWN} more"] if len(found) > SHOWN else [])
        return (f"{self.caller.name}'s copy of {self.neighbour.name}'s published spec "
                f"({self.caller.package}/{NEIGHBOURS_DIR}/{self.neighbour.name}.json) is not what "
                f"{self.neighbour.name} publishes ({self.neighbour.package}/{SPEC_FILE}):\n  "
                + "\n  ".join(shown) + f"\nrefresh it: `{refresh_copies_command(self.caller.name)}`")


def copies(root: str | Path, callers: Iterable[str] | None = None) -> list[Copy]:
    """Every copy the services under ``root`` should keep (of ``callers`` only, when given):
    one per neighbour each calls."""
    found = {s.name: s for s in services(root)}
    wanted = list(found) if callers is None else list(callers)
    unknown = [name for name in wanted if name not in found]
    if unknown:
        raise LookupError(f"no such service: {', '.join(unknown)} (there are: {', '.join(found)})")
    return [Copy(found[name], found[neighbour]) for name in wanted for neighbour in found[name].downstreams]


def stale(root: str | Path, callers: Iterable[str] | None = None) -> list[Copy]:
    """The copies (of ``callers``, or of every service) that are not what their neighbour publishes."""
    return [copy for copy in copies(root, callers) if copy.differences()]


def refresh(root: str | Path, *, callers: Iterable[str] | None = None,
            neighbours: Iterable[str] | None = None) -> list[Path]:
    """Rewrite the stale copies (of ``callers``' neighbours, of copies of ``neighbours``, or
    all) from what the neighbours publish; the files written."""
    only = None if neighbours is None else set(neighbours)
    written = []
    for copy in copies(root, callers):
        if (only is not None and copy.neighbour.name not in only) or not copy.source.is_file():
            continue
        if not copy.differences():
            continue
        copy.path.parent.mkdir(parents=True, exist_ok=True)
        copy.path.write_bytes(copy.source.read_bytes())
        written.append(copy.path)
    return written


def repository_of(published: Path) -> Path | None:
    """The repository root of a service's published file
    (``<root>/services/<name>/<package>/openapi.json``), or None outside one (a wheel)."""
    parents = published.resolve().parents
    if len(parents) > 3 and parents[2].name == "services" and (parents[1] / "pyproject.toml").is_file():
        return parents[3]
    return None


def spec_differences(kept: Any, published: Any, where: str = "") -> list[str]:
    """Where two JSON documents differ, one line per path:
    ``paths["/cities/{id}"].get: published, missing from the copy``,
    ``components.schemas.City.properties.name.maxLength: 128 published, 64 in the copy``."""
    if isinstance(kept, dict) and isinstance(published, dict):
        problems = []
        for key in dict.fromkeys([*published, *kept]):
            at = _path(where, str(key))
            if key not in kept:
                problems.append(f"{at}: published, missing from the copy")
            elif key not in published:
                problems.append(f"{at}: in the copy, no longer published")
            else:
                problems += spec_differences(kept[key], published[key], at)
        return problems
    if isinstance(kept, list) and isinstance(published, list) and len(kept) == len(published):
        return [line for n, (a, b) in enumerate(zip(kept, published, strict=True))
                for line in spec_differences(a, b, f"{where}[{n}]")]
    if kept == published and type(kept) is type(published):
        return []
    return [f"{where or 'the document'}: {_short(published)} published, {_short(kept)} in the copy"]


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")


def _path(where: str, key: str) -> str:
    step = key if _NAME.fullmatch(key) else json.dumps(key)
    if not _NAME.fullmatch(key):
        return f"{where}[{step}]"
    return f"{where}.{step}" if where else step


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."
