"""``python -m sanicms new-service``, run into a copy of the repository: the service it writes
passes its own tests and lint with no hand edits, and everything that lists the services sees
it (the registry's order, compose, Prometheus targets, init.sql, Kubernetes).

What is generated here has names nobody would give a service (``zqorder``, ``zqtag``) and free
ports no service is registered on, so a service of the repository's own (``order`` on 8060, as
the README shows) never collides with it: tests/test_readme_services.py runs this file on such
a tree."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest
import scaffolding
import yaml
from scaffolding import BIN, ROOT, python_path, run, unused_port

from sanicms import registry
from sanicms.scaffold import ScaffoldError, deployfiles, new_service

#: What the tests below generate: a service that calls another, and one that calls none.
ORDER, TAG = "zqorder", "zqtag"
GENERATED = (ORDER, TAG)
#: The name the refusals below try: nobody's service either.
SHOP = "zqshop"


def copy_of_the_repository(target: Path) -> Path:
    """What the command reads and writes (services, deploy/, compose, lint settings), without
    any service already named as those generated here."""
    return scaffolding.copy_of_the_repository(target, leave_out=(*GENERATED, SHOP))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A copy with ``zqorder`` (calls user) and ``zqtag`` (calls nothing) added by the command,
    each on a free port; ``outputs`` has what it printed, and the ports under ``"ports"``."""
    root = copy_of_the_repository(tmp_path_factory.mktemp("repo"))
    ports = {ORDER: unused_port(root)}
    while (tag_port := unused_port(root)) == ports[ORDER]:
        pass
    ports[TAG] = tag_port
    outputs: dict = {"ports": ports}
    for args in ([ORDER, "--port", str(ports[ORDER]), "--resource", f"{ORDER}s", "--calls", "user"],
                 [TAG, "--port", str(ports[TAG]), "--resource", f"{TAG}s"]):
        outputs[args[0]] = scaffolding.new_service(root, *args)
    return root, outputs


def test_the_generated_services_pass_their_own_tests(repo):
    root, _ = repo
    result = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
                 f"services/{ORDER}/tests", f"services/{TAG}/tests", cwd=root,
                 env={"PYTHONPATH": python_path(root, *GENERATED)})
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout and "skipped" not in result.stdout


@pytest.mark.parametrize("name", GENERATED)
def test_the_generated_services_pass_their_own_tests_under_unittest(repo, name, pg_server):
    """As the original design runs them: ``python -m unittest`` in the service's folder."""
    root, _ = repo
    for args in (["-m", "unittest"], ["-m", "sanicms", "tests"]):
        result = run(sys.executable, *args, cwd=root / "services" / name,
                     env={"PYTHONPATH": python_path(root, *GENERATED), "DATABASE_URL": pg_server})
        assert result.returncode == 0 and "\nOK" in result.stderr, result.stderr[-6000:]
        assert "Ran 0 tests" not in result.stderr


def test_the_generated_services_pass_lint(repo):
    root, _ = repo
    result = run(str(BIN / "ruff"), "check", f"services/{ORDER}", f"services/{TAG}", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    # make lint's type check of the services (services/mypy.ini), from the repository root
    result = run(str(BIN / "mypy"), "--config-file", str(root / "services/mypy.ini"), "--no-incremental",
                 *(str(root / "services" / name / f"{name}_service") for name in GENERATED), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_command_says_which_two_files_to_edit(repo):
    _, outputs = repo
    out = outputs[ORDER]
    hand = out[out.index("Edit by hand:"):].splitlines()[1:3]
    assert [line.split()[0] for line in hand] == [f"services/{ORDER}/{ORDER}_service/models.py",
                                                   f"services/{ORDER}/{ORDER}_service/views.py"]
    assert f"created services/{ORDER}/ (13 files)" in out  # 12 from templates (user's spec kept), the published spec


def test_a_caller_keeps_its_neighbours_spec_and_depends_on_no_other_service(repo):
    """zqorder calls user: its package holds user's published spec (package data), its
    pyproject lists the library only, and everything reading user's spec reads that copy."""
    import tomllib

    from sanicms.contract import neighbours

    root, _ = repo
    package = f"{ORDER}_service"
    project = tomllib.loads((root / f"services/{ORDER}/pyproject.toml").read_text())
    assert project["project"]["dependencies"] == ["sanicms"]
    assert project["tool"]["setuptools"]["packages"] == [package, f"{package}.neighbours"]
    assert project["tool"]["setuptools"]["package-data"] == {package: ["openapi.json"],
                                                             f"{package}.neighbours": ["*.json"]}
    copy = root / f"services/{ORDER}/{package}/neighbours/user.json"
    assert copy.read_bytes() == (ROOT / "services/user/user_service/openapi.json").read_bytes()
    assert [c.problem() for c in neighbours.copies(root, [ORDER])] == [None]
    assert not (root / f"services/{TAG}/{TAG}_service/neighbours").exists()  # zqtag calls nobody
    tests = (root / f"services/{ORDER}/tests/test_{ORDER}s.py").read_text()
    assert 'published_spec("user", caller=CALLER)' in tests and f'CALLER = "{package}"' in tests
    # the copy is in its wheel, what a deployment installs
    wheels = root / "wheels"
    built = run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels),
                str(root / f"services/{ORDER}"), cwd=root)
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = wheels.glob(f"sanicms_{ORDER}-*.whl")
    assert f"{package}/neighbours/user.json" in zipfile.ZipFile(wheel).namelist()


def test_the_registry_sees_them_in_dependency_order(repo):
    root, outputs = repo
    found = registry.services(root)
    names = [s.name for s in found]
    assert names.index(ORDER) > names.index("user") > names.index("city")
    order = registry.by_name(root)[ORDER]
    assert (order.package, order.port, order.downstreams) == (f"{ORDER}_service", outputs["ports"][ORDER], ("user",))
    assert registry.by_name(root)[TAG].downstreams == ()


def test_the_deploy_files_list_them(repo):
    root, outputs = repo
    port, tag_port = outputs["ports"][ORDER], outputs["ports"][TAG]
    assert deployfiles.stale(root) == []
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    order = compose["services"][ORDER]
    assert order["environment"]["USER_SERVICE_URL"] == "http://user:8030"
    assert order["depends_on"]["user"] == {"condition": "service_healthy"}
    assert order["ports"] == [f"{port}:{port}"] and f"{tag_port}:{tag_port}" in compose["services"][TAG]["ports"]
    assert {"prometheus", "grafana", "city", "user"} <= set(compose["services"])  # the rest kept
    assert f'"name": "{ORDER}"' in compose["services"]["swagger-ui"]["environment"]["URLS"]
    targets = yaml.safe_load((root / "deploy/prometheus/targets/sanicms.yml").read_text())
    assert {"targets": [f"{ORDER}:{port}"], "labels": {"service": ORDER}} in targets
    assert f'CREATE DATABASE "{ORDER}";' in (root / "deploy/postgres/init.sql").read_text()
    base = root / "deploy/k8s/base"
    assert f"{ORDER}.yaml" in yaml.safe_load((base / "kustomization.yaml").read_text())["resources"]
    manifests = list(yaml.safe_load_all((base / f"{ORDER}.yaml").read_text()))
    config = next(d for d in manifests if d["kind"] == "ConfigMap")
    assert config["data"]["USER_SERVICE_URL"] == "http://user:8030" and config["data"]["PORT"] == str(port)
    assert f"{ORDER}=" in (root / "deploy/k8s/overlays/managed-postgres/database.env.example").read_text()


FREE = "free"  # stands for a port no service is registered on, picked when the test runs


@pytest.mark.parametrize(("name", "options", "reason"), [
    ("city", {"port": FREE, "resource": "towns"}, "services/city already exists"),
    (SHOP, {"port": 8030, "resource": f"{SHOP}s"}, "already the user service's"),
    (SHOP, {"port": FREE, "resource": f"{SHOP}s", "calls": ["nope"]}, "--calls nope: no such service"),
    ("Zqshop", {"port": FREE, "resource": f"{SHOP}s"}, "lowercase letters and digits"),
    ("zq-shop", {"port": FREE, "resource": f"{SHOP}s"}, "lowercase letters and digits"),
    (SHOP, {"port": 80, "resource": f"{SHOP}s"}, "from 1024 to 65535"),
    (SHOP, {"port": FREE, "resource": "Shops!"}, "--resource"),
])
def test_it_refuses_clearly_and_writes_nothing(tmp_path, name, options, reason):
    root = copy_of_the_repository(tmp_path)
    options = {**options, "port": unused_port(root) if options["port"] == FREE else options["port"]}
    before = sorted(p.name for p in (root / "services").iterdir())
    with pytest.raises(ScaffoldError, match=reason.replace("(", r"\(")):
        new_service(root, name, publish=False, **options)
    assert sorted(p.name for p in (root / "services").iterdir()) == before
    assert deployfiles.stale(root) == []


def test_a_refusal_is_exit_status_2_with_the_reason(tmp_path):
    root = copy_of_the_repository(tmp_path)
    result = run(sys.executable, "-m", "sanicms", "new-service", "user", "--port", str(unused_port(root)),
                 "--resource", "users", "--root", str(root), cwd=root)
    assert result.returncode == 2
    assert "services/user already exists" in result.stderr


def test_the_leftovers_of_a_service_deleted_by_hand_do_not_block_its_name(tmp_path):
    root = copy_of_the_repository(tmp_path)
    for leftover in ("build/lib", f"{SHOP}_service.egg-info", "__pycache__"):
        (root / "services" / SHOP / leftover).mkdir(parents=True)
    new_service(root, SHOP, port=unused_port(root), resource=f"{SHOP}s", publish=False)
    assert (root / f"services/{SHOP}/{SHOP}_service/models.py").is_file()
    with pytest.raises(ScaffoldError, match=f"services/{SHOP} already exists"):
        new_service(root, SHOP, port=unused_port(root), resource=f"{SHOP}s", publish=False)
