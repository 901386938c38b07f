"""``python -m sanicms new-service``, run into a copy of the repository: the service it writes
passes its own tests and lint with no hand edits, and everything that lists the services sees
it (the registry's order, compose, Prometheus targets, init.sql, Kubernetes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from sanicms import registry
from sanicms.scaffold import ScaffoldError, deployfiles, new_service

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


#: What the tests below generate: a service that calls another, and one that calls none.
GENERATED = ("order", "tag")


def copy_of_the_repository(target: Path) -> Path:
    """What the command reads and writes: the services (without any already named as those
    generated here: this repository's own ``order``, written by following the README), deploy/,
    compose and the lint settings."""
    ignore = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".demo")
    def ignored(path: str, names: list[str]) -> list[str]:
        return [*ignore(path, names), *(GENERATED if Path(path) == ROOT / "services" else ())]

    shutil.copytree(ROOT / "services", target / "services", ignore=ignored)
    shutil.copytree(ROOT / "deploy", target / "deploy", ignore=ignore)
    for name in ("docker-compose.yml", "pyproject.toml"):
        shutil.copy(ROOT / name, target / name)
    deployfiles.write(target)  # the deploy files as they are without those left out
    return target


def run(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A copy with ``order`` (calls user) and ``tag`` (calls nothing) added by the command."""
    root = copy_of_the_repository(tmp_path_factory.mktemp("repo"))
    outputs = {}
    for args in (["order", "--port", "8060", "--resource", "orders", "--calls", "user"],
                 ["tag", "--port", "8070", "--resource", "tags"]):
        result = run(sys.executable, "-m", "sanicms", "new-service", *args, "--root", str(root), cwd=root)
        assert result.returncode == 0, result.stdout + result.stderr
        outputs[args[0]] = result.stdout
    return root, outputs


def test_the_generated_services_pass_their_own_tests(repo):
    root, _ = repo
    paths = os.pathsep.join(str(root / "services" / name) for name in ("order", "tag"))
    result = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
                 "services/order/tests", "services/tag/tests", cwd=root, env={"PYTHONPATH": paths})
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout and "skipped" not in result.stdout


@pytest.mark.parametrize("name", GENERATED)
def test_the_generated_services_pass_their_own_tests_under_unittest(repo, name, pg_server):
    """As the original design runs them: ``python -m unittest`` in the service's folder."""
    root, _ = repo
    paths = os.pathsep.join(str(root / "services" / name) for name in GENERATED)
    for args in (["-m", "unittest"], ["-m", "sanicms", "tests"]):
        result = run(sys.executable, *args, cwd=root / "services" / name,
                     env={"PYTHONPATH": paths, "DATABASE_URL": pg_server})
        assert result.returncode == 0 and "\nOK" in result.stderr, result.stderr[-6000:]
        assert "Ran 0 tests" not in result.stderr


def test_the_generated_services_pass_lint(repo):
    root, _ = repo
    result = run(str(BIN / "ruff"), "check", "services/order", "services/tag", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_command_says_which_two_files_to_edit(repo):
    _, outputs = repo
    out = outputs["order"]
    hand = out[out.index("Edit by hand:"):].splitlines()[1:3]
    assert [line.split()[0] for line in hand] == ["services/order/order_service/models.py",
                                                   "services/order/order_service/views.py"]
    assert "created services/order/ (13 files)" in out  # 12 from templates (user's spec kept), the published spec


def test_a_caller_keeps_its_neighbours_spec_and_depends_on_no_other_service(repo):
    """order calls user: its package holds user's published spec (package data), its
    pyproject lists the library only, and everything reading user's spec reads that copy."""
    import tomllib

    from sanicms.contract import neighbours

    root, _ = repo
    project = tomllib.loads((root / "services/order/pyproject.toml").read_text())
    assert project["project"]["dependencies"] == ["sanicms"]
    assert project["tool"]["setuptools"]["package-data"]["order_service"] == ["openapi.json", "neighbours/*.json"]
    copy = root / "services/order/order_service/neighbours/user.json"
    assert copy.read_bytes() == (ROOT / "services/user/user_service/openapi.json").read_bytes()
    assert [c.problem() for c in neighbours.copies(root, ["order"])] == [None]
    assert not (root / "services/tag/tag_service/neighbours").exists()  # tag calls nobody
    tests = (root / "services/order/tests/test_orders.py").read_text()
    assert 'published_spec("user", caller=CALLER)' in tests and 'CALLER = "order_service"' in tests
    # the copy is in its wheel, what a deployment installs
    wheels = root / "wheels"
    built = run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels),
                str(root / "services/order"), cwd=root)
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = wheels.glob("sanicms_order-*.whl")
    assert "order_service/neighbours/user.json" in zipfile.ZipFile(wheel).namelist()


def test_the_registry_sees_them_in_dependency_order(repo):
    root, _ = repo
    found = registry.services(root)
    names = [s.name for s in found]
    assert names.index("order") > names.index("user") > names.index("city")
    order = registry.by_name(root)["order"]
    assert (order.package, order.port, order.downstreams) == ("order_service", 8060, ("user",))
    assert registry.by_name(root)["tag"].downstreams == ()


def test_the_deploy_files_list_them(repo):
    root, _ = repo
    assert deployfiles.stale(root) == []
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    order = compose["services"]["order"]
    assert order["environment"]["USER_SERVICE_URL"] == "http://user:8030"
    assert order["depends_on"]["user"] == {"condition": "service_healthy"}
    assert order["ports"] == ["8060:8060"] and "8070:8070" in compose["services"]["tag"]["ports"]
    assert {"prometheus", "grafana", "city", "user"} <= set(compose["services"])  # the rest kept
    assert '"name": "order"' in compose["services"]["swagger-ui"]["environment"]["URLS"]
    targets = yaml.safe_load((root / "deploy/prometheus/targets/sanicms.yml").read_text())
    assert {"targets": ["order:8060"], "labels": {"service": "order"}} in targets
    assert 'CREATE DATABASE "order";' in (root / "deploy/postgres/init.sql").read_text()
    base = root / "deploy/k8s/base"
    assert "order.yaml" in yaml.safe_load((base / "kustomization.yaml").read_text())["resources"]
    manifests = list(yaml.safe_load_all((base / "order.yaml").read_text()))
    config = next(d for d in manifests if d["kind"] == "ConfigMap")
    assert config["data"]["USER_SERVICE_URL"] == "http://user:8030" and config["data"]["PORT"] == "8060"
    assert "order=" in (root / "deploy/k8s/overlays/managed-postgres/database.env.example").read_text()


@pytest.mark.parametrize(("name", "options", "reason"), [
    ("city", {"port": 8099, "resource": "towns"}, "services/city already exists"),
    ("shop", {"port": 8030, "resource": "shops"}, "already the user service's"),
    ("shop", {"port": 8099, "resource": "shops", "calls": ["nope"]}, "--calls nope: no such service"),
    ("Shop", {"port": 8099, "resource": "shops"}, "lowercase letters and digits"),
    ("my-shop", {"port": 8099, "resource": "shops"}, "lowercase letters and digits"),
    ("shop", {"port": 80, "resource": "shops"}, "from 1024 to 65535"),
    ("shop", {"port": 8099, "resource": "Shops!"}, "--resource"),
])
def test_it_refuses_clearly_and_writes_nothing(tmp_path, name, options, reason):
    root = copy_of_the_repository(tmp_path)
    before = sorted(p.name for p in (root / "services").iterdir())
    with pytest.raises(ScaffoldError, match=reason.replace("(", r"\(")):
        new_service(root, name, publish=False, **options)
    assert sorted(p.name for p in (root / "services").iterdir()) == before
    assert deployfiles.stale(root) == []


def test_a_refusal_is_exit_status_2_with_the_reason(tmp_path):
    root = copy_of_the_repository(tmp_path)
    result = run(sys.executable, "-m", "sanicms", "new-service", "user", "--port", "8099", "--resource", "users",
                 "--root", str(root), cwd=root)
    assert result.returncode == 2
    assert "services/user already exists" in result.stderr


def test_the_leftovers_of_a_service_deleted_by_hand_do_not_block_its_name(tmp_path):
    root = copy_of_the_repository(tmp_path)
    for leftover in ("build/lib", "shop_service.egg-info", "__pycache__"):
        (root / "services" / "shop" / leftover).mkdir(parents=True)
    new_service(root, "shop", port=8099, resource="shops", publish=False)
    assert (root / "services/shop/shop_service/models.py").is_file()
    with pytest.raises(ScaffoldError, match="services/shop already exists"):
        new_service(root, "shop", port=8098, resource="shops", publish=False)
