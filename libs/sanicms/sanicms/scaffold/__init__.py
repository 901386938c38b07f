"""``python -m sanicms new-service NAME --port P --resource PLURAL [--calls other,...]``.

Writes ``services/NAME/`` the way the existing services are written (``templates``), with a
copy of each ``--calls`` neighbour's published spec in its package (its ``neighbours/``), then
everything that lists the services and is not read from the packages directly: the deploy
files of ``deployfiles`` (compose, Prometheus targets, init.sql, Kubernetes), and the
service's published spec. The Makefile, pytest, the local stack, the demo and the tests read
the registry (``sanicms.registry``) and need nothing. What is left to a person: the fields in
``models.py`` and what the handlers in ``views.py`` do beyond CRUD.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..registry import NAME, RegistryError, Service, services
from . import deployfiles
from .templates import Neighbour, NewService, files

#: A plural resource: the URL path segment and table name.
RESOURCE = re.compile(r"[a-z][a-z0-9_]{0,40}")


class ScaffoldError(ValueError):
    """The service cannot be made as asked (name taken, port in use, unknown neighbour...)."""


@dataclasses.dataclass(frozen=True)
class Created:
    """What ``new_service`` did."""

    directory: Path
    files: list[Path]  # written in services/NAME
    registered: list[Path]  # deploy files rewritten to include it
    edit: list[Path]  # the files a person edits by hand


def new_service(root: str | Path, name: str, *, port: int, resource: str, calls: list[str] | tuple[str, ...] = (),
                publish: bool = True) -> Created:
    """Create the service ``name`` in the repository at ``root`` and register it.

    ``publish`` writes its ``openapi.json`` by starting it once (``python -m sanicms spec``)."""
    root = Path(root)
    found = _current(root)
    spec = NewService(name=name, port=port, resource=resource, calls=tuple(_neighbour(found, n) for n in calls))
    _refuse(root, spec, found)
    directory = root / "services" / name
    written = []
    for relative, text in files(spec).items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    registered = deployfiles.write(root)
    if publish:
        written.append(publish_spec(root, name))
    package = directory / spec.package
    return Created(directory=directory, files=written, registered=registered,
                   edit=[package / "models.py", package / "views.py"])


def _current(root: Path) -> dict[str, Service]:
    if not (root / "services").is_dir():
        raise ScaffoldError(f"{root}: no services/ folder here; run it at the repository's root (or pass --root)")
    try:
        return {s.name: s for s in services(root)}
    except RegistryError as exc:
        raise ScaffoldError(f"the services already there do not add up: {exc}") from None


def _neighbour(found: dict[str, Service], name: str) -> Neighbour:
    if name not in found:
        raise ScaffoldError(f"--calls {name}: no such service (there are: {', '.join(found)})")
    service = found[name]
    spec_path = service.directory / service.package / "openapi.json"
    if not spec_path.is_file():
        raise ScaffoldError(f"--calls {name}: {spec_path} is missing; run `python -m sanicms spec {name} --write`")
    published = spec_path.read_text(encoding="utf-8")
    resource, shape = _resource_and_shape(json.loads(published))
    return Neighbour(name=name, shape=shape, port=service.port, resource=resource, published=published)


def _resource_and_shape(spec: dict[str, Any]) -> tuple[str, str]:
    """A published spec's collection path and the schema its item route replies with."""
    from ..contract.published import collection_path

    resource = collection_path(spec)
    reply = spec["paths"][f"{resource}/{{id}}"]["get"]["responses"]["200"]
    data = reply["content"]["application/json"]["schema"]["properties"]["data"]
    return resource, str(data["$ref"]).rpartition("/")[2]


def _refuse(root: Path, new: NewService, found: dict[str, Service]) -> None:
    if not NAME.fullmatch(new.name):
        raise ScaffoldError(f"{new.name!r}: a service name is lowercase letters and digits, starting with a letter "
                            "(it becomes a package, a database, a DNS name and a setting prefix)")
    if new.name in found or _holds_sources(root / "services" / new.name):
        raise ScaffoldError(f"{new.name}: services/{new.name} already exists")
    if not 1024 <= new.port <= 65535:
        raise ScaffoldError(f"--port {new.port}: pick one from 1024 to 65535")
    taken = {s.port: s.name for s in found.values()}
    if new.port in taken:
        raise ScaffoldError(f"--port {new.port}: already the {taken[new.port]} service's")
    if not RESOURCE.fullmatch(new.resource) or new.resource == new.name:
        raise ScaffoldError(f"--resource {new.resource!r}: the plural, lowercase (e.g. orders for order)")
    if len({n.name for n in new.calls}) != len(new.calls):
        raise ScaffoldError("--calls: a service named twice")


#: What an install or a test run leaves in a service's directory: not the service.
LEFTOVERS = ("build", "__pycache__", ".pytest_cache")


def _holds_sources(directory: Path) -> bool:
    """Whether ``directory`` has anything but leftovers of a service deleted by hand."""
    return directory.exists() and any(
        p.name not in LEFTOVERS and not p.name.endswith(".egg-info") for p in directory.iterdir())


def publish_spec(root: Path, name: str) -> Path:
    """Write ``services/<name>/<name>_service/openapi.json`` from the code, as
    ``python -m sanicms spec <name> --write`` does, with the new package on the path."""
    directory = root / "services" / name
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(directory), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-m", "sanicms", "spec", name, "--write"], env=env,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise ScaffoldError(f"publishing the spec of {name} failed:\n{result.stdout}{result.stderr}")
    return directory / f"{name}_service" / "openapi.json"


def report(created: Created, root: Path) -> str:
    """What to tell the person who ran the command."""
    def rel(path: Path) -> str:
        return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    name = created.directory.name
    lines = [f"created {rel(created.directory)}/ ({len(created.files)} files):"]
    lines += [f"  {rel(p)}" for p in created.files]
    lines += ["registered in (generated from the registry):"] + [f"  {rel(p)}" for p in created.registered]
    lines += ["the Makefile (make test-" + name + "), pytest, make demo and the end-to-end and contract tests "
              "find it by themselves.", "", "Edit by hand:"]
    lines += [f"  {rel(created.edit[0])}   the fields of the table",
              f"  {rel(created.edit[1])}    what the handlers do beyond create/read/list/update/delete",
              "then:", "  make install                                        # installs the new package",
              f"  .venv/bin/python -m sanicms spec {name} --write   # publish the changed spec",
              f"  make test-{name}"]
    return "\n".join(lines)
