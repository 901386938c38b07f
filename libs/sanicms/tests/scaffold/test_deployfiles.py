"""sanicms.scaffold.deployfiles: generated regions replace only what lies between their markers."""

from __future__ import annotations

from pathlib import Path

import pytest

from sanicms.scaffold import deployfiles

MARKED = f"""services:
  postgres:
    image: postgres:16
  {deployfiles.BEGIN}
  old: {{}}
  {deployfiles.END}
  grafana:
    image: grafana/grafana
"""


def make_service(root: Path, name: str, port: int, calls: list[str] | None = None) -> None:
    package = root / "services" / name / f"{name}_service"
    package.mkdir(parents=True)
    (package.parent / "pyproject.toml").write_text(f'[tool.setuptools]\npackages = ["{name}_service"]\n')
    settings = f'SERVICE_NAME = "{name}"\nPORT = {port}\nDOWNSTREAM_SERVICES = {calls or []!r}\n'
    (package / "settings.py").write_text(settings)


def fake_repository(root: Path) -> Path:
    make_service(root, "shop", 9001, ["stock"])
    make_service(root, "stock", 9002)
    (root / "docker-compose.yml").write_text(MARKED)
    base = root / "deploy" / "k8s" / "base"
    base.mkdir(parents=True)
    (base / "kustomization.yaml").write_text(f"resources:\n  {deployfiles.BEGIN}\n  {deployfiles.END}\n"
                                             "  - zipkin.yaml\n")
    (base / "zipkin.yaml").write_text("# zipkin, by hand\nkind: Service\n")
    return root


def test_write_fills_the_regions_and_keeps_the_rest(tmp_path):
    root = fake_repository(tmp_path)
    assert deployfiles.stale(root)
    deployfiles.write(root)
    assert deployfiles.stale(root) == []
    compose = (root / "docker-compose.yml").read_text()
    assert compose.startswith("services:\n  postgres:\n")
    assert compose.endswith("  grafana:\n    image: grafana/grafana\n")
    assert "  old: {}" not in compose and "STOCK_SERVICE_URL: http://stock:9002" in compose
    assert compose.index("  stock:") < compose.index("  shop:")  # dependency order
    resources = (root / "deploy/k8s/base/kustomization.yaml").read_text()
    assert resources.endswith("  - stock.yaml\n  - shop.yaml\n  # <<< generated\n  - zipkin.yaml\n")
    assert 'CREATE DATABASE "shop";' in (root / "deploy/postgres/init.sql").read_text()


def test_a_removed_service_takes_its_generated_manifest_along_not_hand_written_ones(tmp_path):
    root = fake_repository(tmp_path)
    deployfiles.write(root)
    settings = root / "services/shop/shop_service/settings.py"
    settings.unlink()
    removed = deployfiles.write(root)
    base = root / "deploy/k8s/base"
    assert base / "shop.yaml" in removed and not (base / "shop.yaml").exists()
    assert (base / "zipkin.yaml").exists() and (base / "stock.yaml").exists()


def test_the_services_command_says_which_files_it_wrote_and_which_it_removed(tmp_path, capsys):
    from sanicms.__main__ import main

    root = fake_repository(tmp_path)
    deployfiles.write(root)
    (root / "services/shop/shop_service/settings.py").unlink()
    with pytest.raises(SystemExit) as done:
        main(["services", "--write", "--root", str(root)])
    lines = capsys.readouterr().out.splitlines()
    assert done.value.code == 0 and "removed deploy/k8s/base/shop.yaml" in lines, lines
    assert all(line.startswith(("wrote ", "removed ")) for line in lines) and len(lines) > 1


def test_a_file_without_its_markers_is_an_error_saying_so(tmp_path):
    root = fake_repository(tmp_path)
    (root / "docker-compose.yml").write_text("services: {}\n")
    with pytest.raises(ValueError, match="no region marked"):
        deployfiles.rendered(root)
