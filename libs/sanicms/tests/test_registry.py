"""sanicms.registry: services read from services/*/ without importing them, in dependency order."""

from __future__ import annotations

from pathlib import Path

import pytest

from sanicms import registry

ROOT = Path(__file__).resolve().parents[3]


def make_service(root: Path, name: str, port: int, calls: list[str] | None = None, *, package: str | None = None,
                 extra: str = "") -> None:
    package = package or f"{name}_service"
    directory = root / "services" / name
    (directory / package).mkdir(parents=True)
    (directory / "pyproject.toml").write_text(f'[project]\nname = "sanicms-{name}"\nversion = "1.2.0"\n'
                                              f'[tool.setuptools]\npackages = ["{package}"]\n')
    settings = f'SERVICE_NAME = "{name}"\nPORT = {port}\n{extra}'
    if calls is not None:
        settings += f"DOWNSTREAM_SERVICES = {calls!r}\n"
    (directory / package / "settings.py").write_text(settings)


def test_the_repositorys_services_in_dependency_order():
    found = registry.services(ROOT)
    names = [s.name for s in found]
    assert {"city", "role", "user"} <= set(names)
    user = registry.by_name(ROOT)["user"]
    assert (user.package, user.port, user.downstreams, user.url_setting) == (
        "user_service", 8030, ("city", "role"), "USER_SERVICE_URL")
    assert names.index("user") > max(names.index("city"), names.index("role"))


def test_each_service_comes_after_the_ones_it_calls_ties_by_name(tmp_path):
    make_service(tmp_path, "shop", 9001, ["stock", "billing"])
    make_service(tmp_path, "stock", 9002, ["billing"])
    make_service(tmp_path, "billing", 9003)
    make_service(tmp_path, "audit", 9004)
    assert [s.name for s in registry.services(tmp_path)] == ["audit", "billing", "stock", "shop"]
    assert registry.by_name(tmp_path)["shop"].version == "1.2.0"


def test_settings_are_read_not_run(tmp_path):
    make_service(tmp_path, "shop", 9001, extra='import os\nTOKEN = os.environ["NEVER_SET_ANYWHERE"]\n')
    [shop] = registry.services(tmp_path)
    assert (shop.name, shop.port, shop.downstreams) == ("shop", 9001, ())


def test_a_folder_without_settings_is_not_a_service(tmp_path):
    make_service(tmp_path, "shop", 9001)
    (tmp_path / "services" / "notes").mkdir()
    (tmp_path / "services" / "notes" / "pyproject.toml").write_text("[project]\nname = 'notes'\n")
    assert [s.name for s in registry.services(tmp_path)] == ["shop"]


@pytest.mark.parametrize(("services", "problem"), [
    ([("shop", 9001, ["stock"])], "shop: calls unknown service 'stock'"),
    ([("shop", 9001, None), ("stock", 9001, None)], "stock: port 9001 is already shop's"),
    ([("shop", 9001, ["stock"]), ("stock", 9002, ["shop"])], "cycle: shop, stock"),
])
def test_services_that_cannot_run_together_are_an_error_naming_them(tmp_path, services, problem):
    for name, port, calls in services:
        make_service(tmp_path, name, port, calls)
    with pytest.raises(registry.RegistryError, match=problem):
        registry.services(tmp_path)
