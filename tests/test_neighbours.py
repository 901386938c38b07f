"""Every caller's copies of its neighbours' published specs (``<package>/neighbours/``, see
``sanicms.contract.neighbours``) are what the neighbours publish in this repository, and no
service needs another's package to install: each runs with only itself and the library."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sanicms import registry
from sanicms.contract import neighbours

ROOT = Path(__file__).resolve().parents[1]
SERVICES = registry.services(ROOT)
COPIES = neighbours.copies(ROOT)


@pytest.mark.parametrize("copy", COPIES, ids=[f"{c.caller.name}-keeps-{c.neighbour.name}" for c in COPIES])
def test_each_callers_copy_is_what_the_neighbour_publishes(copy):
    assert copy.problem() is None, copy.problem()


def test_every_caller_in_the_registry_is_checked():
    callers = {(s.name, n) for s in SERVICES for n in s.downstreams}
    assert {(c.caller.name, c.neighbour.name) for c in COPIES} == callers
    assert ("user", "city") in callers and ("user", "role") in callers


@pytest.mark.parametrize("service", SERVICES, ids=[s.name for s in SERVICES])
def test_a_service_depends_on_no_other_service_and_ships_its_copies(service):
    project = tomllib.loads((service.directory / "pyproject.toml").read_text())
    others = {f"sanicms-{s.name}" for s in SERVICES}
    assert not [d for d in project["project"]["dependencies"] if d.split()[0].split("[")[0] in others]
    data = project["tool"]["setuptools"]["package-data"][service.package]
    assert "openapi.json" in data
    if service.downstreams:  # the copies are in its wheel, as a package of their own (no setuptools banner)
        copies = f"{service.package}.{neighbours.NEIGHBOURS_DIR}"
        assert copies in project["tool"]["setuptools"]["packages"]
        assert project["tool"]["setuptools"]["package-data"][copies] == ["*.json"]
