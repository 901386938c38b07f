"""Each service installed alone, as a user deploying only that one would, in a new virtual environment.

The development venv holds every service and every test tool, and their dependencies can hide
a package the runtime imports but nobody declares (sanic-ext imports pydantic without
declaring it), or a neighbour's package a caller reads (its published spec: a caller keeps
its own copy, ``<package>/neighbours/``). Here each service gets a venv of its own and
``pip install -c requirements/runtime.txt ./libs/sanicms ./services/<name>``: the library
and that service, with their declared dependencies at the locked versions, and nothing else
(``deploy/Dockerfile`` installs the same two into each image). Then ``pip check`` passes, no
other service's package is there, its app builds, and it passes ``check``, ``migrate`` and
``serve`` until ``/readyz`` answers 200 against the throwaway PostgreSQL.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import venv
from pathlib import Path

import httpx
import pytest

from sanicms import registry
from sanicms.contract.published import collection_path
from sanicms.testing.localdb import create_database
from sanicms.testing.processes import ServiceProcess, free_port, migrate

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "runtime.txt"
SERVICES = [s.name for s in registry.services(ROOT)]  # services/*/, in start order
# Nothing from the development environment may leak into the clean one.
CLEAN_ENV = {"PYTHONPATH": "", "VIRTUAL_ENV": "", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def run(*args: str | Path, env: dict[str, str] = CLEAN_ENV, timeout: float = 600,
        cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **env}, cwd=cwd)
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    return result


#: What a build or a test run leaves in a source folder, and a fresh checkout does not have:
#: pip builds a local folder in place, and setuptools packs whatever its build/ holds, a
#: module deleted since the last build included.
LEFTOVERS = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache")


def install_alone(target: Path, service: str) -> Path:
    """A new venv with the library and ``service`` only, installed as its user would from a
    fresh checkout (pip's cache may serve the downloads); returns its python."""
    venv.EnvBuilder(with_pip=True, clear=True).create(target)
    python = target / "bin" / "python"
    sources = target / "checkout"
    for folder in ("libs/sanicms", f"services/{service}"):
        shutil.copytree(ROOT / folder, sources / folder, ignore=LEFTOVERS)
    run(python, "-m", "pip", "install", "-q", "-c", LOCK, "./libs/sanicms", f"./services/{service}", cwd=sources)
    run(python, "-m", "pip", "check")
    return python


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """One clean venv per service, made on first use."""
    made: dict[str, Path] = {}

    def python_of(service: str) -> Path:
        if service not in made:
            made[service] = install_alone(tmp_path_factory.mktemp(f"venv-{service}"), service)
        return made[service]
    return python_of


def neighbours_paths(service: str) -> list[str]:
    """``["city /cities", ...]``: each neighbour ``service`` calls and its resource, as the
    neighbours publish them in this repository."""
    found = registry.by_name(ROOT)
    published = {n: json.loads((found[n].directory / found[n].package / "openapi.json").read_text())
                 for n in found[service].downstreams}
    return sorted(f"{n} {collection_path(spec)}" for n, spec in published.items())


def importable(python: Path, modules: list[str]) -> list[str]:
    """Which of ``modules`` the venv of ``python`` can import."""
    found = run(python, "-c", f"import importlib.util as u; print([m for m in {modules!r} if u.find_spec(m)])")
    return list(ast.literal_eval(found.stdout.strip()))


@pytest.mark.parametrize("service", SERVICES)
def test_a_clean_install_checks_migrates_and_serves(service, installed, pg_server, tmp_path):
    python = installed(service)
    package = f"{service}_service"
    leaked = importable(python, ["pytest", "aioresponses", "sanic_testing", "pgserver"])
    assert leaked == [], f"test-only packages in a runtime install: {leaked}"
    # nothing of the other services: not their distributions, not their packages
    distributions = {canonical(d["name"]) for d in json.loads(run(python, "-m", "pip", "list", "--format=json").stdout)}
    assert distributions & {f"sanicms-{s}" for s in SERVICES} == {f"sanicms-{service}"}, sorted(distributions)
    others = importable(python, [f"{s}_service" for s in SERVICES if s != service])
    assert others == [], f"other services' packages in {service}'s install: {others}"
    # its app builds, its clients finding their neighbours' paths in its own copies of their specs
    built = run(python, "-c", f"from {package}.server import create_app; app = create_app(DATABASE_URL="
                              "'postgresql://x@127.0.0.1/db'); print(sorted(f'{c.name} {c.resource}' "
                              "for c in app.ctx.clients))")
    assert ast.literal_eval(built.stdout.strip()) == neighbours_paths(service), built.stdout

    env = {**CLEAN_ENV, "DATABASE_URL": create_database(pg_server, f"clean_{service}", fresh=True),
           **{s.url_setting: "http://127.0.0.1:9" for s in registry.services(ROOT)}}
    assert "settings OK" in run(python, "-m", package, "check", env=env).stdout
    migrate(package, env, python=str(python))
    server = ServiceProcess(package, free_port(), env, log_path=tmp_path / "serve.log", python=str(python))
    try:
        server.start(timeout=60)
        assert httpx.get(server.url + "/readyz", timeout=10).status_code == 200
        spec = httpx.get(server.url + "/openapi/spec.json", timeout=10)
        assert spec.status_code == 200 and spec.json()["paths"]
    finally:
        assert server.stop() == 0, (tmp_path / "serve.log").read_text()[-3000:]


def test_pip_check_sees_a_missing_runtime_dependency(installed):
    """The check above has teeth: without opentracing, the library's install is incomplete
    and the service cannot start (the tracer is built on its API). Runs last: it breaks the
    city venv."""
    python = installed("city")
    run(python, "-m", "pip", "uninstall", "-q", "-y", "opentracing")
    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert check.returncode != 0 and "opentracing" in check.stdout
    started = subprocess.run([python, "-c", "from city_service.server import create_app; create_app("
                              "DATABASE_URL='postgresql://x@127.0.0.1/db')"],
                             capture_output=True, text=True, timeout=120, env={**os.environ, **CLEAN_ENV})
    assert started.returncode != 0 and "No module named 'opentracing'" in started.stderr, started.stderr[-2000:]


def pinned(lock: Path) -> set[str]:
    from packaging.requirements import Requirement

    lines = (line.split(";")[0] for line in lock.read_text().splitlines() if "==" in line and line[0] != "#")
    return {canonical(Requirement(line).name) for line in lines}


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def test_the_locks_pin_every_declared_dependency():
    """``make lock`` was run after the last change of a dependency range."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "libs" / "sanicms" / "pyproject.toml").read_text())["project"]
    dev_tools = [line.split("#")[0].strip() for line in (ROOT / "requirements-dev.txt").read_text().splitlines()]
    wanted = {
        LOCK: project["dependencies"],
        ROOT / "requirements" / "dev.txt": project["dependencies"] + project["optional-dependencies"]["testing"]
        + [tool for tool in dev_tools if tool],
    }
    for lock, requirements in wanted.items():
        missing = {canonical(Requirement(r).name) for r in requirements} - pinned(lock)
        assert not missing, f"not pinned in {lock.name}: {sorted(missing)}; run `make lock`"
