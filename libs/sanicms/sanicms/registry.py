"""The services of a repository, read from the packages themselves: one list for every tool.

Each ``services/<name>/`` with a ``pyproject.toml`` and a ``<package>/settings.py`` is a
service; its settings module says its name, port and the neighbours it calls. The Makefile,
the local stack, the demo, the contract and deploy tests and the generated deploy files
(``sanicms.scaffold.deployfiles``) all read this, so adding a service means adding its
package and nothing else. Settings are read with ``ast`` (literals only), not imported: a
service just generated and not yet installed is seen, and reading runs none of its code.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any

#: A service name: used as a Python package prefix, a database, a DNS label and a setting prefix.
NAME = re.compile(r"[a-z][a-z0-9]{0,30}")


class RegistryError(ValueError):
    """The services, as found, cannot all run together (unknown neighbour, shared port, a cycle)."""


@dataclasses.dataclass(frozen=True)
class Service:
    """One service as its package declares it."""

    name: str
    package: str  # the import name: city_service
    port: int
    downstreams: tuple[str, ...]
    directory: Path  # services/<name>
    version: str = "0.1.0"  # its pyproject's: the image tag

    @property
    def url_setting(self) -> str:
        """The setting its callers read its base URL from: ``CITY_SERVICE_URL``."""
        return f"{self.name.upper()}_SERVICE_URL"


def services(root: str | Path) -> list[Service]:
    """Every service under ``root/services``, each after the neighbours it calls (ties by name)."""
    found = {s.name: s for s in (read_service(d) for d in sorted(Path(root, "services").iterdir())
                                 if (d / "pyproject.toml").is_file()) if s is not None}
    problems = check(list(found.values()))
    if problems:
        raise RegistryError("; ".join(problems))
    return _dependency_order(found)


def by_name(root: str | Path) -> dict[str, Service]:
    """The same services, keyed by name (dependency order kept)."""
    return {s.name: s for s in services(root)}


def read_service(directory: Path) -> Service | None:
    """The service in ``directory`` (None when it has no settings module)."""
    project = tomllib.loads((directory / "pyproject.toml").read_text())
    package = _package(directory, project)
    settings = directory / package / "settings.py"
    if not settings.is_file():
        return None
    values = literals(settings)
    name = values.get("SERVICE_NAME", directory.name)
    downstreams = values.get("DOWNSTREAM_SERVICES") or ()
    return Service(name=str(name), package=package, port=int(str(values["PORT"])),
                   downstreams=tuple(str(d) for d in downstreams) if isinstance(downstreams, list | tuple) else (),
                   directory=directory, version=str(project.get("project", {}).get("version", "0.1.0")))


def literals(path: Path) -> dict[str, object]:
    """The module-level ``NAME = <literal>`` assignments of a Python file."""
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue  # computed: not something the registry reads
    return values


def check(found: list[Service]) -> list[str]:
    """Why these services cannot run side by side; empty when they can."""
    names = {s.name for s in found}
    problems = [f"{s.name}: calls unknown service {d!r}" for s in found for d in s.downstreams if d not in names]
    problems += [f"{s.name}: bad service name (lowercase letters and digits, starting with a letter)"
                 for s in found if not NAME.fullmatch(s.name)]
    ports: dict[int, str] = {}
    for s in found:
        if s.port in ports:
            problems.append(f"{s.name}: port {s.port} is already {ports[s.port]}'s")
        ports.setdefault(s.port, s.name)
    if not problems:
        try:
            _dependency_order({s.name: s for s in found})
        except RegistryError as exc:
            problems.append(str(exc))
    return problems


def _package(directory: Path, project: dict[str, Any]) -> str:
    """The import package a service's pyproject declares (``[tool.setuptools] packages``)."""
    packages = project.get("tool", {}).get("setuptools", {}).get("packages", [])
    if packages:
        return str(packages[0])
    return f"{directory.name}_service"


def _dependency_order(found: dict[str, Service]) -> list[Service]:
    ordered: list[Service] = []
    placed: set[str] = set()
    remaining = sorted(found)
    while remaining:
        ready = [n for n in remaining if all(d in placed or d not in found for d in found[n].downstreams)]
        if not ready:
            raise RegistryError(f"services call each other in a cycle: {', '.join(remaining)}")
        for name in ready:
            ordered.append(found[name])
            placed.add(name)
        remaining = [n for n in remaining if n not in placed]
    return ordered
