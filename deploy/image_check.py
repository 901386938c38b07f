"""make image-check: build each service's image, run it, talk to it, stop it.

For city, role and user, in that order (user calls the other two):

1. ``docker build -f deploy/Dockerfile --build-arg SERVICE=<name> --build-arg BASE_IMAGE=...``
   (BuildKit through buildx when the engine's CLI has it, else the classic builder).
2. ``docker run`` with the environment docker-compose.yml gives the service, except the URLs:
   PostgreSQL is the project's throwaway server (``sanicms.testing.localdb``) started on this
   machine. It listens on a Unix socket only, and that socket file is bind-mounted into each
   container, so no server listens on any network address, nothing depends on the bridge's
   IP or on host networking, and the containers reach it exactly as local clients do.
   The three containers share a user-defined bridge network of their own, where user finds
   city and role by name as in compose (``CITY_SERVICE_URL=http://city:8050``); each port is
   published on 127.0.0.1 only, at a free port, for this script's requests.
3. Wait (bounded) until ``docker inspect`` reports the image's own HEALTHCHECK ``healthy``.
4. Real requests: create a city and a role and read them back; create a user in them and
   read it back through user, which fetches its city and role from the other containers.
5. ``docker stop`` (user first) with compose's stop_grace_period: the container must exit
   with code 0 before the grace period ends (a SIGKILL would be 137), and its logs must
   show the graceful shutdown (the database pool closed) and no traceback.

Exit status: 0 when every service passed, 1 when one failed, 2 when there is no usable
Docker engine (said clearly: this target needs one). Containers, network and database are
removed at the end; the images are kept (sanicms/<name>:image-check) and so are the logs.

    .venv/bin/python deploy/image_check.py [--base-image IMAGE] [--services city,role]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
OFFICIAL_BASE = "python:3.11.14-slim-bookworm"
ORDER = ("city", "role", "user")
SOCKET_IN_CONTAINER = "/run/postgresql/.s.PGSQL.5432"

PULL_TIMEOUT = 600  # seconds to pull the base image when the engine does not have it
BUILD_TIMEOUT = 1200  # seconds per image (the first one downloads the locked wheels)
HEALTHY_TIMEOUT = 120  # seconds: the HEALTHCHECK's start period is 30 s, its interval 10 s
REQUEST_TIMEOUT = 10  # seconds per HTTP request
DOCKER_TIMEOUT = 60  # seconds per docker command that is not a build


class Failed(Exception):
    """A check of one service failed; the message says which and why."""


@dataclass
class Result:
    service: str
    image: str = ""
    size_mb: float | None = None
    build_s: float | None = None
    healthy_s: float | None = None
    requests: list[str] = field(default_factory=list)
    stop_s: float | None = None
    exit_code: int | None = None
    error: str = ""
    log: Path | None = None

    @property
    def passed(self) -> bool:
        return not self.error and self.exit_code == 0


# ---- docker ---------------------------------------------------------------------------------

def docker(*args: str, timeout: float = DOCKER_TIMEOUT, check: bool = True, env: dict | None = None,
           ) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=env,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise Failed(f"docker {' '.join(args[:2])} took more than {timeout:.0f} s") from exc
    if check and proc.returncode != 0:
        output = (proc.stderr or proc.stdout).strip()[-2000:]
        raise Failed(f"docker {' '.join(args[:2])} failed ({proc.returncode}): {output}")
    return proc


def engine_problem() -> str | None:
    """Why no Docker engine can be used here, or None."""
    if shutil.which("docker") is None:
        return "the docker command is not installed (Debian/Ubuntu: apt-get install docker.io)"
    try:
        proc = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                              capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return "the Docker engine did not answer `docker info` within 30 s"
    if proc.returncode != 0:
        said = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit code {proc.returncode}"
        return f"the Docker engine does not answer `docker info` ({said}); start dockerd, e.g. " \
               "`dockerd >/var/log/dockerd.log 2>&1 &`"
    return None


def builder_env() -> tuple[dict, list[str], str]:
    """BuildKit when the CLI has buildx; the classic builder otherwise (no buildx error),
    told to remove the container of a failed step too."""
    env = dict(os.environ)
    try:
        has_buildx = subprocess.run(["docker", "buildx", "version"], capture_output=True,
                                    timeout=20, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        has_buildx = False
    if has_buildx:
        env.pop("DOCKER_BUILDKIT", None)
        return env, [], "BuildKit (docker buildx)"
    env["DOCKER_BUILDKIT"] = "0"
    return env, ["--force-rm"], "classic builder (no buildx on this machine)"


def inspect_state(name: str) -> dict:
    return json.loads(docker("inspect", "--format", "{{json .State}}", name).stdout)


def logs_of(name: str) -> str:
    """stdout and stderr of the container, in the order they were written."""
    try:
        proc = subprocess.run(["docker", "logs", name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=DOCKER_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return f"(docker logs {name} took more than {DOCKER_TIMEOUT} s)"
    return proc.stdout


def shutdown_problems(logs: str) -> list[str]:
    """What the logs say against a graceful shutdown: every Sanic worker that was ready must
    have completed, each having closed its database pool, and nothing may have raised."""
    problems = []
    ready = set(re.findall(r"Worker ready \[(\d+)\]", logs))
    complete = set(re.findall(r"Worker complete \[(\d+)\]", logs))
    if not ready:
        problems.append("no 'Worker ready' line in its logs")
    elif ready - complete:
        problems.append(f"worker(s) {', '.join(sorted(ready - complete))} never logged 'Worker complete'")
    if logs.count("database pool closed") < len(ready):
        problems.append(f"{logs.count('database pool closed')} 'database pool closed' lines for {len(ready)} workers")
    if "Traceback (most recent call last)" in logs:
        problems.append("a traceback in its logs")
    return problems


# ---- PostgreSQL -----------------------------------------------------------------------------

class Database:
    """The throwaway PostgreSQL on this machine's Unix socket, one database per service."""

    def __init__(self, token: str) -> None:
        from sanicms.testing.localdb import LocalPostgres

        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")  # pgserver's platformdirs, as root
        self.token = token
        self.server = LocalPostgres()
        parts = urlsplit(self.server.url)
        query = parse_qs(parts.query)
        socket_dir = (query.get("host") or [""])[0]
        port = (query.get("port") or [str(parts.port or 5432)])[0]
        self.socket = Path(socket_dir) / f".s.PGSQL.{port}"
        if not self.socket.is_socket():
            self.server.close()
            raise Failed(f"the throwaway PostgreSQL has no socket at {self.socket} ({self.server.url})")
        self.user = parts.username or "postgres"

    def url_for_container(self, service: str) -> str:
        """The URL a container uses: same server, through the socket mounted into it."""
        from sanicms.testing.localdb import create_database

        name = f"image_check_{service}_{self.token}"
        create_database(self.server.url, name, fresh=True)
        return f"postgresql://{self.user}@/{name}?host={Path(SOCKET_IN_CONTAINER).parent}"

    def mount(self) -> list[str]:
        return ["--mount", f"type=bind,source={self.socket},target={SOCKET_IN_CONTAINER}"]

    def close(self) -> None:
        self.server.close()


# ---- HTTP -----------------------------------------------------------------------------------

def interpolate(value: str) -> str:
    """Compose's ``${NAME:-default}`` and ``${NAME}``, from this process's environment."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: os.environ.get(m[1]) or (m[2] or ""), value)


#: Headers of every call: a token with every scope when the services check tokens.
AUTH_HEADERS: dict[str, str] = {}


def call(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {**AUTH_HEADERS, **({"content-type": "application/json"} if data else {})}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except OSError as exc:
        raise Failed(f"{method} {url}: {exc}") from exc
    try:
        return status, json.loads(raw)
    except ValueError as exc:
        raise Failed(f"{method} {url}: {status}, not JSON: {raw[:300]!r}") from exc


def expect(method: str, url: str, status: int, body: dict | None = None) -> dict:
    got, answer = call(method, url, body)
    if got != status or answer.get("code") != 0:
        raise Failed(f"{method} {url}: expected {status} with code 0, got {got}: {json.dumps(answer)[:500]}")
    return answer["data"]


# ---- the check ------------------------------------------------------------------------------

class Check:
    def __init__(self, base_image: str, services: list[str], grace: float, logdir: Path) -> None:
        self.base_image = base_image
        self.services = services
        self.grace = grace
        self.logdir = logdir
        self.token = secrets.token_hex(3)
        self.network = f"sanicms-image-check-{self.token}"
        self.compose = yaml.safe_load(COMPOSE.read_text())
        self._authorize()
        self.results = {name: Result(name) for name in services}
        self.containers: dict[str, str] = {}  # service -> container name
        self.urls: dict[str, str] = {}  # service -> http://127.0.0.1:<published port>
        self.made: dict[str, dict] = {}  # what the requests created, for user's
        self.db: Database | None = None

    # -- steps --

    def build(self, service: str, env: dict, flags: list[str]) -> None:
        result = self.results[service]
        result.image = f"sanicms/{service}:image-check"
        log = self.logdir / f"build-{service}.log"
        started = time.monotonic()
        try:
            with open(log, "w") as out:
                proc = subprocess.run(
                    ["docker", "build", *flags, "-f", str(DOCKERFILE), "--build-arg", f"SERVICE={service}",
                     "--build-arg", f"BASE_IMAGE={self.base_image}", "-t", result.image, str(ROOT)],
                    stdout=out, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT, env=env, check=False)
        except subprocess.TimeoutExpired as exc:
            raise Failed(f"build took more than {BUILD_TIMEOUT} s (log: {log})") from exc
        result.build_s = time.monotonic() - started
        if proc.returncode != 0:
            tail = "\n".join(log.read_text().splitlines()[-15:])
            raise Failed(f"docker build failed (log: {log}):\n{tail}")
        size = int(docker("image", "inspect", "--format", "{{.Size}}", result.image).stdout)
        result.size_mb = size / 1e6

    def _authorize(self) -> None:
        """When compose turns access control on, sign the calls with its key."""
        from sanicms.auth import mint

        env = {k: interpolate(str(v)) for k, v in (self.compose.get("x-service-env") or {}).items()}
        if env.get("AUTH_ENABLED", "").lower() == "true" and env.get("AUTH_SECRET"):
            scopes = [f"{name}:{verb}" for name in ORDER for verb in ("read", "write")]
            AUTH_HEADERS["authorization"] = f"Bearer {mint(scopes, subject='image-check', secret=env['AUTH_SECRET'])}"

    def environment(self, service: str) -> dict[str, str]:
        spec = self.compose["services"][service]
        env = {key: interpolate(str(value)) for key, value in (spec.get("environment") or {}).items()}
        assert self.db is not None
        env["DATABASE_URL"] = self.db.url_for_container(service)
        for neighbour in ORDER:
            key = f"{neighbour.upper()}_SERVICE_URL"
            if key in env:  # compose's service names are the network aliases here too
                env[key] = f"http://{neighbour}:{self.port(neighbour)}"
        return env

    def port(self, service: str) -> int:
        env = self.compose["services"][service].get("environment") or {}
        return int(env["PORT"])

    def start(self, service: str) -> None:
        name = f"sanicms-image-check-{service}-{self.token}"
        args = ["run", "--detach", "--name", name, "--network", self.network, "--network-alias", service,
                "--publish", f"127.0.0.1::{self.port(service)}", *self.db.mount()]
        for key, value in self.environment(service).items():
            args += ["--env", f"{key}={value}"]
        docker(*args, self.results[service].image)
        self.containers[service] = name
        published = docker("port", name, f"{self.port(service)}/tcp").stdout.split()
        host_port = next(p.rsplit(":", 1)[1] for p in published if p.startswith("127.0.0.1:"))
        self.urls[service] = f"http://127.0.0.1:{host_port}"

    def wait_healthy(self, service: str) -> None:
        name = self.containers[service]
        started = time.monotonic()
        deadline = started + HEALTHY_TIMEOUT
        while True:
            state = inspect_state(name)
            health = (state.get("Health") or {}).get("Status")
            if health == "healthy":
                self.results[service].healthy_s = time.monotonic() - started
                return
            if state.get("Status") in ("exited", "dead") or health == "unhealthy":
                probes = (state.get("Health") or {}).get("Log") or []
                last = probes[-1].get("Output", "").strip() if probes else ""
                raise Failed(f"container {state.get('Status')}, health {health}, exit code "
                             f"{state.get('ExitCode')}; last probe: {last!r}; logs:\n{tail(logs_of(name))}")
            if time.monotonic() > deadline:
                raise Failed(f"not healthy after {HEALTHY_TIMEOUT} s (health {health}); logs:\n{tail(logs_of(name))}")
            time.sleep(1)

    def exercise(self, service: str) -> None:
        base = self.urls[service]
        done = self.results[service].requests
        if service == "city":
            body = {"name": f"Imagecheck {self.token}", "province": "Container"}
            city = expect("POST", f"{base}/cities", 201, body)
            got = expect("GET", f"{base}/cities/{city['id']}", 200)
            if (got["name"], got["province"]) != (body["name"], body["province"]):
                raise Failed(f"GET /cities/{city['id']} answered {got}")
            self.made["city"] = got
            done.append(f"POST /cities 201, GET /cities/{city['id']} 200")
        elif service == "role":
            body = {"name": f"imagecheck-{self.token}", "description": "made by make image-check"}
            role = expect("POST", f"{base}/roles", 201, body)
            got = expect("GET", f"{base}/roles/{role['id']}", 200)
            if got["name"] != body["name"]:
                raise Failed(f"GET /roles/{role['id']} answered {got}")
            self.made["role"] = got
            done.append(f"POST /roles 201, GET /roles/{role['id']} 200")
        elif service == "user":
            if {"city", "role"} - set(self.made):
                raise Failed("city and role must pass first: user's request reads a city and a role from them")
            city, role = self.made["city"], self.made["role"]
            body = {"name": "Image Check", "age": 33, "sex": "female", "city_id": city["id"], "role_id": role["id"]}
            user = expect("POST", f"{base}/users", 201, body)
            got = expect("GET", f"{base}/users/{user['id']}", 200)
            if ((got.get("city") or {}).get("name") != city["name"]
                    or (got.get("role") or {}).get("name") != role["name"]):
                raise Failed(f"GET /users/{user['id']} did not carry the city and role from their containers: {got}")
            done.append(f"POST /users 201, GET /users/{user['id']} 200 with its city and role "
                        f"fetched from the city and role containers")

    def stop(self, service: str) -> None:
        name = self.containers[service]
        result = self.results[service]
        started = time.monotonic()
        docker("stop", "--time", str(int(self.grace)), name, timeout=self.grace + 30)
        result.stop_s = time.monotonic() - started
        state = inspect_state(name)
        result.exit_code = state.get("ExitCode")
        logs = logs_of(name)
        result.log = self.logdir / f"run-{service}.log"
        result.log.write_text(logs)
        problems = []
        if result.exit_code != 0:
            problems.append(f"exit code {result.exit_code}" + (" (killed: it outlived the grace period)"
                                                              if result.exit_code == 137 else ""))
        if state.get("OOMKilled"):
            problems.append("OOM-killed")
        if result.stop_s >= self.grace:
            problems.append(f"took {result.stop_s:.1f} s, the grace period is {self.grace:.0f} s")
        problems += shutdown_problems(logs)
        if problems:
            raise Failed("docker stop: " + "; ".join(problems) + f" (logs: {result.log})\n{tail(logs)}")

    # -- the whole run --

    def run(self) -> bool:
        env, flags, builder = builder_env()
        print(f"image-check: base image {self.base_image}; {builder}; logs in {self.logdir}", flush=True)
        if docker("image", "inspect", self.base_image, check=False).returncode != 0:
            print(f"image-check: {self.base_image} is not in the engine: pulling it", flush=True)
            pulled = docker("pull", self.base_image, check=False, timeout=PULL_TIMEOUT)
            if pulled.returncode != 0:
                why = (pulled.stderr or pulled.stdout).strip().splitlines()[-1:] or ["?"]
                for result in self.results.values():
                    result.error = (f"base: {self.base_image} cannot be pulled here ({why[0]}); where no registry is "
                                    "reachable, make a local stand-in with `make standin-base` and pass "
                                    "BASE_IMAGE=sanicms/base:bookworm-python3.11 (deploy/README.md)")
                print(f"image-check: FAILED: {result.error}", flush=True)
                return False
        for service in self.services:
            self.step(service, "build", lambda s=service: self.build(s, env, flags))
        if not any(r.size_mb for r in self.results.values()):
            return False
        try:
            try:
                docker("network", "create", self.network)
                self.db = Database(self.token)
            except Failed as exc:
                for result in self.results.values():
                    result.error = result.error or f"setup: {exc}"
                print(f"image-check: FAILED to set up the network or PostgreSQL: {exc}", flush=True)
                return False
            for service in self.services:
                if not self.results[service].error:
                    self.step(service, "start", lambda s=service: (self.start(s), self.wait_healthy(s)))
                if not self.results[service].error:
                    self.step(service, "requests", lambda s=service: self.exercise(s))
            for service in reversed(self.services):  # user first: it depends on the others
                if service in self.containers and not self.results[service].error:
                    self.step(service, "stop", lambda s=service: self.stop(s))
        finally:
            self.cleanup()
        return all(r.passed for r in self.results.values())

    def step(self, service: str, what: str, action) -> None:
        result = self.results[service]
        if result.error:
            return
        print(f"image-check: {service}: {what} ...", flush=True)
        try:
            action()
        except Failed as exc:
            result.error = f"{what}: {exc}"
            print(f"image-check: {service}: FAILED at {what}: {exc}", flush=True)

    def cleanup(self) -> None:
        for service, name in self.containers.items():
            if self.results[service].log is None:  # failed before its stop: keep what it said
                path = self.logdir / f"run-{service}.log"
                path.write_text(logs_of(name))
                self.results[service].log = path
            docker("rm", "--force", name, check=False)
        docker("network", "rm", self.network, check=False)
        if self.db is not None:
            self.db.close()

    def summary(self) -> str:
        lines = [(f"image-check summary (base {self.base_image}, stop grace {self.grace:.0f} s; "
                  "image sizes count the base and dependency layers the three images share):")]
        for service in self.services:
            r = self.results[service]
            figures = []
            if r.size_mb is not None:
                figures.append(f"image {r.image} {r.size_mb:.0f} MB, built in {r.build_s:.0f} s")
            if r.healthy_s is not None:
                figures.append(f"healthy after {r.healthy_s:.0f} s")
            if r.stop_s is not None:
                figures.append(f"stopped in {r.stop_s:.1f} s, exit code {r.exit_code}")
            lines.append(f"  {'PASS' if r.passed else 'FAIL'}  {service:5} " + "; ".join(figures))
            lines += [f"              {request}" for request in r.requests]
            if r.error:
                lines.append("              " + r.error.splitlines()[0])
        passed = sum(r.passed for r in self.results.values())
        lines.append(f"image-check: {'PASS' if passed == len(self.services) else 'FAIL'}: "
                     f"{passed} of {len(self.services)} services")
        return "\n".join(lines)


def tail(text: str, lines: int = 20) -> str:
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def grace_period(compose: dict, services: list[str]) -> float:
    """compose's stop_grace_period ("20s"), the same for every service checked."""
    values = set()
    for service in services:
        raw = str(compose["services"][service].get("stop_grace_period", "10s"))
        match = re.fullmatch(r"(\d+)s", raw)
        if not match:
            raise SystemExit(f"image-check: cannot read stop_grace_period {raw!r} of {service}")
        values.add(float(match.group(1)))
    return max(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-image", default=os.environ.get("BASE_IMAGE") or OFFICIAL_BASE,
                        help=f"the Dockerfile's BASE_IMAGE (default: $BASE_IMAGE or {OFFICIAL_BASE})")
    parser.add_argument("--services", default=",".join(ORDER),
                        help="comma-separated, from city, role, user (user needs the other two)")
    args = parser.parse_args(argv)
    services = [s for s in ORDER if s in args.services.split(",")]
    if not services or set(args.services.split(",")) - set(ORDER):
        parser.error(f"--services takes names from {', '.join(ORDER)}")
    if "user" in services and not {"city", "role"} <= set(services):
        parser.error("user needs city and role: check them together")

    problem = engine_problem()
    if problem:
        print(f"image-check: NOT RUN: no usable Docker engine: {problem}.\n"
              "image-check needs one (it builds and runs the images); nothing was checked.", file=sys.stderr)
        return 2

    logdir = Path(tempfile.mkdtemp(prefix="sanicms-image-check-"))
    check = Check(args.base_image, services, grace_period(yaml.safe_load(COMPOSE.read_text()), services), logdir)
    started = time.monotonic()
    ok = check.run()  # removes its containers, network and database whatever happens
    print(check.summary())
    print(f"image-check: took {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
