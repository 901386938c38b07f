"""docker-compose.yml as the real `docker-compose` (1.29, Debian's package) resolves it.

tests/test_deploy.py reads the file with a YAML parser and the Compose schema; this module asks
the binary users type, because what matters is what Compose makes of the file: anchors merged,
`${AUTH_SECRET:-...}` filled in, short port syntax expanded, relative paths made absolute, and
the project name taken from .env (1.29 rejects a top-level `name:`, which once made the very
first `docker-compose up` fail). None of it needs a Docker engine: `config` reads files only,
and the project name is read off the requests docker-compose sends to a fake engine on a Unix
socket. Only a missing `docker-compose` binary skips these tests (`make compose-deps`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from sanicms import registry

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = registry.by_name(ROOT)
DEFAULT_SECRET = "sanicms-development-key-public-never-use-in-production"
#: What compose runs beside the services, and the ports it publishes for them (host: container).
INFRASTRUCTURE_PORTS = {"postgres": set(), "zipkin": {"9411:9411/tcp"},
                        "fluentd": {"24224:24224/tcp", "24224:24224/udp"},
                        "swagger-ui": {"8080:8080/tcp"}, "prometheus": {"9090:9090/tcp"},
                        "grafana": {"3000:3000/tcp"}}
#: Variables that would change what the file resolves to, left out so the defaults show.
RESOLVING = ("AUTH_SECRET", "BASE_IMAGE", "COMPOSE_PROJECT_NAME", "COMPOSE_FILE", "DOCKER_HOST")
TIMEOUT = 60  # seconds for one docker-compose or make run


def docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        pytest.skip("docker-compose is not installed: `make compose-deps` installs Debian's (1.29); "
                    "the compose file was only checked against the schema (tests/test_deploy.py)")
    return found


def run_compose(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """docker-compose with this environment minus the variables the file reads, plus ``env``."""
    environ = {k: v for k, v in os.environ.items() if k not in RESOLVING} | (env or {})
    return subprocess.run([docker_compose(), *args], cwd=cwd, env=environ, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)


def resolved_config(env: dict[str, str] | None = None) -> dict:
    proc = run_compose("-f", "docker-compose.yml", "config", env=env)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


@pytest.fixture(scope="module")
def config() -> dict:
    return resolved_config()


def published(service: dict) -> set[str]:
    """``host:container/protocol`` of each port, from the long form config prints."""
    return {f"{p['published']}:{p['target']}/{p.get('protocol', 'tcp')}" for p in service.get("ports", [])}


def test_the_shipped_file_is_accepted_with_the_whole_stack(config):
    services = run_compose("-f", "docker-compose.yml", "config", "--services")
    assert services.returncode == 0, services.stderr
    expected = set(INFRASTRUCTURE_PORTS) | set(REGISTRY)
    assert set(services.stdout.split()) == expected == set(config["services"])
    assert set(config["volumes"]) == {"pgdata", "fluentd-logs", "prometheus-data"}


def test_no_top_level_name_which_compose_1_29_rejects():
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "name" not in raw  # 'name' does not match any of the regexes: '^x-' (the project name is in .env)


def test_every_published_port(config):
    for name, ports in INFRASTRUCTURE_PORTS.items():
        assert published(config["services"][name]) == ports, name
    for name, service in REGISTRY.items():
        assert published(config["services"][name]) == {f"{service.port}:{service.port}/tcp"}, name
        assert config["services"][name]["environment"]["PORT"] == str(service.port)


def test_healthchecks_of_what_others_wait_for(config):
    services = config["services"]
    assert services["postgres"]["healthcheck"]["test"] == ["CMD-SHELL", "pg_isready -U sanicms -d postgres"]
    probes = {"zipkin": "http://127.0.0.1:9411/health", "prometheus": "http://127.0.0.1:9090/-/ready",
              "swagger-ui": "http://127.0.0.1:8080/"}
    for name, url in probes.items():
        assert services[name]["healthcheck"]["test"] == ["CMD", "wget", "-q", "-O", "/dev/null", url]
    assert "24224" in " ".join(services["fluentd"]["healthcheck"]["test"])
    # The services' probe is their image's HEALTHCHECK (it asks their /healthz), given more time
    # than its 3 s: the engine takes every field compose leaves out from the image.
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^HEALTHCHECK .*\n?.*entrypoint\.sh\", \"healthcheck\"", dockerfile, re.M)
    for name in REGISTRY:
        assert services[name]["healthcheck"] == {"timeout": "10s"}
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
    for check in (services[n]["healthcheck"] for n in ("postgres", *probes, "fluentd")):
        assert {"interval", "timeout", "retries"} <= set(check)


def test_depends_on_conditions(config):
    services = config["services"]
    for name, service in REGISTRY.items():
        wanted = {"postgres": "service_healthy", "fluentd": "service_started"}
        wanted |= {neighbour: "service_healthy" for neighbour in service.downstreams}
        got = {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}
        assert got == wanted, name
    assert {"city", "role"} <= set(services["user"]["depends_on"])  # the check above checks something
    # The short form elsewhere resolves to "started".
    assert services["fluentd"]["depends_on"] == {"zipkin": {"condition": "service_started"}}
    assert services["grafana"]["depends_on"] == {"prometheus": {"condition": "service_started"}}


def test_every_service_logs_through_fluentd(config):
    fluentd_tcp = {p.split(":")[0] for p in published(config["services"]["fluentd"]) if p.endswith("/tcp")}
    for name in REGISTRY:
        logging = config["services"][name]["logging"]
        assert logging["driver"] == "fluentd", name
        options = logging["options"]
        host, port = options["fluentd-address"].rsplit(":", 1)
        # Docker's daemon, not a container, connects: to fluentd's port published on this host.
        assert host == "localhost" and port in fluentd_tcp, options
        assert options["tag"] == "sanicms.{{.Name}}"
        assert options["fluentd-async"] == "true"
        assert config["services"][name]["environment"]["TRACING_TRANSPORTS"] == "log"
    mounts = config["services"]["fluentd"]["volumes"]
    assert f"{ROOT}/deploy/fluentd/fluent.conf:/fluentd/etc/fluent.conf:ro" in mounts


def test_environment_defaults_and_overrides():
    default = resolved_config()["services"]
    dockerfile_base = re.search(r"^ARG BASE_IMAGE=(\S+)", (ROOT / "deploy" / "Dockerfile").read_text(), re.M)[1]
    for name in REGISTRY:
        assert default[name]["environment"]["AUTH_SECRET"] == DEFAULT_SECRET
        assert default[name]["environment"]["AUTH_ENABLED"] == "true"
        assert default[name]["build"]["args"]["BASE_IMAGE"] == dockerfile_base
    standin = "sanicms/base:bookworm-python3.11"
    chosen = resolved_config({"AUTH_SECRET": "another-secret", "BASE_IMAGE": standin})["services"]
    for name in REGISTRY:
        assert chosen[name]["environment"]["AUTH_SECRET"] == "another-secret"
        assert chosen[name]["build"]["args"]["BASE_IMAGE"] == standin


def test_mounted_files_and_build_contexts_exist(config):
    for name, service in config["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("/"):
                assert Path(source).exists(), (name, source)
        if "build" in service:
            assert Path(service["build"]["context"]) == ROOT


# ---- the project name ------------------------------------------------------------------------

class _FakeEngine(BaseHTTPRequestHandler):
    """Answers Docker's API as an engine with nothing in it, and notes every path asked for."""

    paths: list[str]

    def do_GET(self) -> None:
        self.paths.append(self.path)
        body = {"ApiVersion": "1.41", "Version": "20.10.24"} if self.path == "/version" else []
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_engine(tmp_path) -> Iterator[tuple[str, list[str]]]:
    """DOCKER_HOST of a fake engine on a Unix socket (no network address), and what it was asked."""
    paths: list[str] = []
    handler = type("Handler", (_FakeEngine,), {"paths": paths})
    server = socketserver.ThreadingUnixStreamServer(str(tmp_path / "docker.sock"), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"unix://{tmp_path / 'docker.sock'}", paths
    server.shutdown()
    server.server_close()


def projects_asked_for(paths: list[str]) -> set[str]:
    """The com.docker.compose.project labels docker-compose filtered containers by."""
    labels = set()
    for path in paths:
        for filters in parse_qs(urlsplit(path).query).get("filters", []):
            labels |= {label for label in json.loads(filters).get("label", [])
                       if label.startswith("com.docker.compose.project=")}
    return {label.split("=", 1)[1] for label in labels}


@pytest.mark.parametrize("where", ["the repository root", "another directory, with -f"])
def test_the_project_is_called_sanicms(fake_engine, tmp_path, where):
    host, paths = fake_engine
    args, cwd = (("ps",), ROOT) if where == "the repository root" else (("-f", str(ROOT / "docker-compose.yml"), "ps"),
                                                                         tmp_path)
    proc = run_compose(*args, env={"DOCKER_HOST": host}, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert projects_asked_for(paths) == {"sanicms"}
    assert "/v1.41/volumes/sanicms_pgdata" in paths  # volumes and network are named after it too


def test_the_fake_engine_check_has_teeth(fake_engine):
    host, paths = fake_engine
    proc = run_compose("ps", env={"DOCKER_HOST": host, "COMPOSE_PROJECT_NAME": "other"})
    assert proc.returncode == 0, proc.stderr
    assert projects_asked_for(paths) == {"other"}  # the shell's environment wins over .env


# ---- make up / make down ---------------------------------------------------------------------

def make(*args: str, path: str | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "COMPOSE"} | ({"PATH": path} if path else {})
    return subprocess.run([shutil.which("make") or "make", "--no-print-directory", *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)


def test_make_up_and_down_use_the_installed_compose():
    docker_compose()
    v2 = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=TIMEOUT,
                        check=False).returncode == 0 if shutil.which("docker") else False
    command = "docker compose" if v2 else "docker-compose"
    for target, line in (("up", f"{command} up --build"), ("down", f"{command} down")):
        proc = make("-n", target)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[-1] == line


def fake_bin(directory: Path, name: str, script: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(f"#!/bin/sh\n{script}\n")
    (directory / name).chmod(0o755)


def test_make_up_prefers_compose_v2_then_1_29_then_says_what_to_install(tmp_path):
    both, only_v1, none = tmp_path / "both", tmp_path / "v1", tmp_path / "none"
    fake_bin(both, "docker", '[ "$1 $2" = "compose version" ]')
    fake_bin(both, "docker-compose", "exit 0")
    fake_bin(only_v1, "docker", "exit 1")  # a docker CLI without the compose plugin, as Debian's
    fake_bin(only_v1, "docker-compose", "exit 0")
    none.mkdir()
    assert make("-n", "up", path=str(both)).stdout.splitlines()[-1] == "docker compose up --build"
    assert make("-n", "up", path=str(only_v1)).stdout.splitlines()[-1] == "docker-compose up --build"
    refused = make("up", path=str(none))
    assert refused.returncode != 0
    assert "make up needs Docker Compose: make compose-deps" in refused.stdout + refused.stderr


# ---- make compose-check's stand-ins (deploy/standins), without an engine -----------------------

def test_every_image_compose_pulls_has_a_stand_in_or_is_left_out_of_compose_check(config):
    """compose-check builds a stand-in under the file's own name and tag: one for exactly the
    image the file names, so bumping a tag in the file without its recipe fails here."""
    import compose_check

    pulled = {name: spec["image"] for name, spec in config["services"].items() if "build" not in spec}
    assert set(pulled) == set(compose_check.STANDIN_FOR) | set(compose_check.LEFT_OUT)
    for name, recipe_for in compose_check.STANDIN_FOR.items():
        assert pulled[name] == recipe_for
        assert (compose_check.STANDINS / name / "Dockerfile").is_file()
    assert compose_check.LEFT_OUT.keys() == {"grafana"}


def test_the_stand_in_recipes_pass_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    for dockerfile in sorted((ROOT / "deploy" / "standins").glob("*/Dockerfile")):
        result = subprocess.run([hadolint, "--no-color", "--failure-threshold", "info", str(dockerfile)],
                                capture_output=True, text=True, timeout=TIMEOUT, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def swagger_ui_configure():
    import importlib.util

    spec = importlib.util.spec_from_file_location("configure", ROOT / "deploy/standins/swagger-ui/configure.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.configured


#: The shape of Swagger UI's own swagger-initializer.js (5.17.14).
INITIALIZER = """window.onload = function() {
  window.ui = SwaggerUIBundle({
    url: "https://petstore.swagger.io/v2/swagger.json",
    dom_id: '#swagger-ui',
  });
};
"""


def test_the_swagger_ui_stand_in_lists_the_specs_compose_gives_it(config):
    configured = swagger_ui_configure()
    urls = config["services"]["swagger-ui"]["environment"]["URLS"]
    out = configured(INITIALIZER, {"URLS": urls})
    assert "petstore" not in out and "dom_id: '#swagger-ui'," in out
    listed = json.loads(re.search(r"^\s*urls: (\[.*\]),$", out, re.M)[1])
    assert listed == json.loads(urls) and {u["name"] for u in listed} == set(REGISTRY)
    assert 'url: "http://x/spec.json",' in configured(INITIALIZER, {"URL": "http://x/spec.json"})
    assert configured(INITIALIZER, {}) == INITIALIZER
    with pytest.raises(SystemExit):
        configured(INITIALIZER, {"URLS": '{"url": "not a list"}'})


def test_compose_check_without_docker_says_so(monkeypatch, capsys):
    import compose_check
    import image_check

    monkeypatch.setattr(image_check.shutil, "which", lambda name: None)
    assert compose_check.main([]) == 2
    assert "NOT RUN" in capsys.readouterr().err


def test_compose_check_reads_how_long_a_health_probe_ran():
    import compose_check

    probe = {"Start": "2026-12-07T14:46:20.284842077Z", "End": "2026-12-07T14:46:23.285797241Z"}
    assert compose_check.probe_seconds(probe) == pytest.approx(3.000955)
    assert compose_check.probe_seconds({"Start": "2026-12-07T14:46:20.5+00:00", "End": "2026-12-07T14:46:23Z"}) == 2.5
    assert compose_check.probe_seconds({}) != compose_check.probe_seconds({})  # nan: unknown
