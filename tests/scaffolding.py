"""Helpers of the tests that run ``python -m sanicms new-service`` into a copy of the repository
(tests/test_scaffold.py, test_scaffold_fields.py, test_readme_services.py, test_invoice.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from sanicms import registry
from sanicms.scaffold import deployfiles
from sanicms.testing.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
IGNORE = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".demo", ".pytest_cache")


def copy_of_the_repository(target: Path, *, leave_out: Iterable[str] = (), whole: bool = False) -> Path:
    """What ``new-service`` reads and writes: the services (without ``leave_out``), deploy/,
    compose and the lint settings; ``whole`` adds what the project's tests need to run on the
    copy (tests/, pytest.ini, the Makefile, docs/, README.md)."""
    left_out = set(leave_out)

    def ignored(path: str, names: list[str]) -> list[str]:
        return [*IGNORE(path, names), *(left_out & set(names) if Path(path) == ROOT / "services" else ())]

    shutil.copytree(ROOT / "services", target / "services", ignore=ignored)
    shutil.copytree(ROOT / "deploy", target / "deploy", ignore=IGNORE)
    for name in ("docker-compose.yml", "pyproject.toml", *(("pytest.ini", "Makefile", "README.md") if whole else ())):
        shutil.copy(ROOT / name, target / name)
    if (ROOT / ".env").is_file():
        shutil.copy(ROOT / ".env", target / ".env")
    if whole:
        for folder in ("tests", "docs", "bench", "requirements"):
            shutil.copytree(ROOT / folder, target / folder, ignore=IGNORE)
    if left_out:
        deployfiles.write(target)  # the deploy files as they are without those left out
    return target


#: What a copy of the whole tree leaves out: the environment, history, caches and reports.
NOT_COPIED = {".git", ".venv", "reports", ".mypy_cache", ".ruff_cache", ".hypothesis", ".coverage"}


def whole_copy(target: Path, *, leave_out: Iterable[str] = ()) -> Path:
    """The repository as a clone has it (into ``target``), without the services
    named in ``leave_out`` (this repository's own ``order``, if someone followed the README in it)."""
    named = set(leave_out)

    def ignored(path: str, names: list[str]) -> list[str]:
        return [*IGNORE(path, names), *(named & set(names) if path == str(ROOT / "services") else ())]

    target.mkdir(parents=True, exist_ok=True)
    shared = ROOT.parent / "shared"  # beside the repository: schemas tests/test_deploy.py reads
    if shared.is_dir() and not (target.parent / "shared").exists():
        (target.parent / "shared").symlink_to(shared)
    for entry in ROOT.iterdir():
        if entry.name in NOT_COPIED:
            continue
        if entry.is_dir():
            shutil.copytree(entry, target / entry.name, ignore=ignored, symlinks=True)
        else:
            shutil.copy(entry, target / entry.name)
    if named:
        deployfiles.write(target)  # the deploy files as they are without those left out
    return target


def track(root: Path) -> None:
    """Make ``root`` the git checkout it copies, with every file tracked (what a clone plus
    ``git add`` of the new services has): tests/test_deploy.py reads ``git ls-files``."""
    for args in (["git", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(args, cwd=root, check=True, capture_output=True, timeout=60)


def unused_port(root: Path) -> int:
    """A free port no service of ``root`` (or of this repository) is registered on."""
    taken = {s.port for s in [*registry.services(root), *registry.services(ROOT)]}
    while (port := free_port()) in taken:
        pass
    return port


def run(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)


def new_service(root: Path, *args: str) -> str:
    """``python -m sanicms new-service ARGS`` in ``root``; what it printed."""
    result = run(sys.executable, "-m", "sanicms", "new-service", *args, "--root", str(root), cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def python_path(root: Path, *names: str) -> str:
    """PYTHONPATH for services of the copy that are not installed in this environment."""
    return os.pathsep.join([*(str(root / "services" / name) for name in names), os.environ.get("PYTHONPATH", "")])
