"""Each service's tests as the original design runs them: ``python -m unittest`` in the
service's folder (plain, and ``discover -s tests``), and ``python -m sanicms tests``, which
``coverage run --source . -m sanicms tests`` measures. pytest hides what unittest would
trip on (a base TestCase imported into a test module is collected by unittest, not by pytest),
so every service, a generated one too, is run here the unittest way."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from localstack import REGISTRY, ROOT

RUNS = {
    "unittest": ["-m", "unittest"],
    "unittest-discover": ["-m", "unittest", "discover", "-s", "tests"],
    "sanicms-tests": ["-m", "sanicms", "tests"],
}


def run(folder: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=600)


def pytest_count(folder: Path) -> int:
    """How many tests pytest finds in the service's tests/."""
    found = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", str(folder / "tests")],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    return sum(1 for line in found.stdout.splitlines() if "::" in line)


@pytest.mark.parametrize("service", [s.name for s in REGISTRY])
def test_every_test_of_the_service_runs_and_passes_under_unittest(service, pg_server):
    folder = ROOT / "services" / service
    env = {**os.environ, "DATABASE_URL": pg_server}  # the session's PostgreSQL, not one per run
    expected = pytest_count(folder)
    assert expected > 0
    for name, args in RUNS.items():
        result = run(folder, args, env)
        ran = re.search(r"^Ran (\d+) tests? in", result.stderr, re.M)
        assert result.returncode == 0 and ran, f"{name} in services/{service}:\n{result.stderr[-3000:]}"
        assert int(ran[1]) == expected, f"{name} ran {ran[1]} tests, pytest finds {expected}"
        assert re.search(r"^OK\b", result.stderr, re.M), result.stderr[-2000:]
