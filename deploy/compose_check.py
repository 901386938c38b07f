"""make compose-check: the shipped docker-compose.yml, run for real with docker-compose.

What a new user does, on this machine's Docker engine, with the ``docker-compose`` users type
(Debian's 1.29; v2's ``docker compose`` takes the same file), then checked step by step:

1. ``config``: docker-compose accepts the file; nothing of a ``sanicms`` project is there yet
   (this check would otherwise stop and delete someone's stack and data).
2. ``images``: each image the file names without a build is used as it is when the engine has
   it, else pulled; where it cannot be pulled (no registry reachable), a local stand-in is
   built under the same name and tag from ``deploy/standins/<service>/``, on the stand-in base
   (``deploy/standin-base.sh``, made if missing) with Debian's packages: PostgreSQL,
   Prometheus, Zipkin (Java and the jar ``make zipkin-deps`` fetched), fluentd (from its
   sources at the image's tag, ``git archive`` into a build context outside the repository)
   and Swagger UI (nginx and Swagger UI's WebJar from Maven Central). The services' own
   images are built by compose from ``deploy/Dockerfile`` with ``BASE_IMAGE``: the official
   one when it is there or can be pulled, else the stand-in base.
3. ``up``: ``docker-compose up -d --build`` of every service but Grafana (no package to stand
   in for it), which waits for the file's own ``depends_on`` conditions.
4. ``healthy``: every container of the project reports ``healthy`` (bounded).
5. ``request``: a city, a role and a user created with a write token, then a read token's
   ``GET /users/<id>`` on user's published port answers with the city and the role.
6. ``trace``: the trace of that request (its ``X-Trace-Id``) is in the Zipkin container with
   spans of user, city and role. The services print their spans (``TRACING_TRANSPORTS=log``,
   Docker's fluentd logging driver), so they can only have come through Docker's driver and
   fluentd, whose own output shows the request's records.
7. ``prometheus``: every target of the Prometheus container is up.
8. ``swagger-ui``: Swagger UI lists every service's spec, and each spec answers the page's
   origin as a browser would ask for it (CORS).
9. ``down``: ``docker-compose down -v`` leaves no container, volume or network of the project.
   It runs whatever happened before (also on Ctrl-C or SIGTERM).

Each step prints PASS or FAIL with its time. Exit status: 0 when every step passed, 1 when one
failed, 2 when there is no usable Docker engine or no docker-compose (nothing was checked).
Build and container logs stay in the temporary folder the first line names; the images stay.

    .venv/bin/python deploy/compose_check.py [--base-image IMAGE] [--no-pull]
        [--fluentd-git DIR_OR_URL] [--serverengine-git DIR_OR_URL]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from image_check import OFFICIAL_BASE, Failed, builder_env, engine_problem  # deploy/ is this script's folder

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
STANDINS = ROOT / "deploy" / "standins"
STANDIN_BASE = "sanicms/base:bookworm-python3.11"
#: The label every stand-in image carries: an image without it is the real one.
STANDIN_LABEL = "org.sanicms.standin"
#: compose service -> the image its recipe in deploy/standins/<service>/ stands in for.
STANDIN_FOR = {"postgres": "postgres:16", "zipkin": "openzipkin/zipkin:3.4",
               "fluentd": "fluent/fluentd:v1.17-1", "prometheus": "prom/prometheus:v2.42.0",
               "swagger-ui": "swaggerapi/swagger-ui:v5.17.14"}
#: Services not started, and why.
LEFT_OUT = {"grafana": "Grafana is in no Debian package, and grafana/grafana cannot be pulled"}
#: Swagger UI's files for its stand-in: its WebJar on Maven Central, pinned (sha256 of the jar
#: Maven Central served on 2026-12-07).
SWAGGER_UI_VERSION = "5.17.14"
SWAGGER_UI_SHA256 = "3d16fe99be7ef7fc6fd6b9a0b6d12e3a5444735d8a2c0c6246fbc804da5103bb"
#: fluentd's stand-in is built from these tags (the official image's release, and the
#: serverengine it needs: Debian's 2.2.2 is too old for fluentd 1.17).
FLUENTD_SOURCES = {"fluentd": ("v1.17.1", "FLUENTD_GIT", "https://github.com/fluent/fluentd.git",
                               Path("/opt/fluentd-src")),
                   "serverengine": ("v2.3.2", "SERVERENGINE_GIT", "https://github.com/treasure-data/serverengine.git",
                                    Path("/opt/serverengine-src"))}
PROJECT = "sanicms"

DOCKER_TIMEOUT = 60  # seconds for a docker command that builds or starts nothing
PULL_TIMEOUT = 300
BUILD_TIMEOUT = 1200  # one stand-in image
BASE_TIMEOUT = 1800  # deploy/standin-base.sh
UP_TIMEOUT = 1800  # docker-compose up --build: three service images, the first downloads the locked wheels
HEALTHY_TIMEOUT = 300
TRACE_TIMEOUT = 120  # fluentd sends spans every 2 s; Docker's driver is asynchronous
TARGETS_TIMEOUT = 120  # Prometheus scrapes every 5 s
DOWN_TIMEOUT = 300  # stop_grace_period is 20 s a service
HTTP_TIMEOUT = 10


# ---- commands -------------------------------------------------------------------------------

def run(args: list[str], *, timeout: float, env: dict[str, str] | None = None, log: Path | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    """A command with a time limit; its output to ``log`` when given (and its tail in the error).
    In a session of its own: a Ctrl-C at the terminal reaches this script only, which stops the
    command it waits for (subprocess.run kills it) and then takes the stack down undisturbed."""
    try:
        if log is None:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, check=False,
                                  start_new_session=True)
        else:
            with log.open("a") as out:
                proc = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                                      env=env, check=False, start_new_session=True)
    except subprocess.TimeoutExpired as exc:
        raise Failed(f"`{' '.join(args[:3])} ...` took more than {timeout:.0f} s" + (f" (log: {log})" if log else "")
                     ) from exc
    if check and proc.returncode != 0:
        said = log.read_text()[-3000:] if log else (proc.stderr or proc.stdout)[-3000:]
        raise Failed(f"`{' '.join(args[:4])} ...` exited {proc.returncode}" + (f" (log: {log})" if log else "")
                     + ":\n" + indent(said.strip()))
    return proc


def docker(*args: str, timeout: float = DOCKER_TIMEOUT, check: bool = True) -> subprocess.CompletedProcess:
    return run(["docker", *args], timeout=timeout, check=check)


def compose_env(base_image: str | None = None) -> dict[str, str]:
    """This environment for docker-compose, without a project name or file of its own: the
    check is of what the shipped files say (.env names the project)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COMPOSE_PROJECT_NAME", "COMPOSE_FILE")}
    if base_image:
        env["BASE_IMAGE"] = base_image
    return env


def compose(*args: str, timeout: float, base_image: str | None = None, log: Path | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
    return run(["docker-compose", "-f", str(COMPOSE_FILE), *args], timeout=timeout, env=compose_env(base_image),
               log=log, check=check)


def indent(text: str, lines: int = 25) -> str:
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def image_labels(image: str) -> dict[str, str] | None:
    """The image's labels ({} for none), or None when the engine does not have it."""
    proc = docker("image", "inspect", "--format", "{{json .Config.Labels}}", image, check=False)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout) or {}


def project_leftovers() -> dict[str, list[str]]:
    """Containers, volumes and networks of the project: by compose's label, and by name."""
    label = f"label=com.docker.compose.project={PROJECT}"
    found = {"containers": docker("ps", "-a", "--filter", label, "--format", "{{.Names}}").stdout.split(),
             "volumes": docker("volume", "ls", "--filter", label, "--format", "{{.Name}}").stdout.split(),
             "networks": docker("network", "ls", "--filter", label, "--format", "{{.Name}}").stdout.split()}
    named = docker("volume", "ls", "--format", "{{.Name}}").stdout.split()
    found["volumes"] += [v for v in named if v.startswith((f"{PROJECT}_", f"{PROJECT}-")) and v not in found["volumes"]]
    return {kind: names for kind, names in found.items() if names}


# ---- HTTP -----------------------------------------------------------------------------------

def fetch(method: str, url: str, headers: dict[str, str], data: bytes | None = None
          ) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one request, whatever the status."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as resp:
            status, got, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        status, got, raw = exc.code, dict(exc.headers), exc.read()
    except OSError as exc:
        raise Failed(f"{method} {url}: {exc}") from exc
    return status, {k.lower(): v for k, v in got.items()}, raw


def http(method: str, url: str, *, token: str | None = None, body: dict | None = None
         ) -> tuple[int, dict[str, str], Any]:
    """Status, headers (lower-case names) and JSON body of one request."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"} if data else {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    status, got, raw = fetch(method, url, headers, data)
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError as exc:
        raise Failed(f"{method} {url}: {status}, not JSON: {raw[:300]!r}") from exc
    return status, got, parsed


def expect(method: str, url: str, status: int, *, token: str, body: dict | None = None) -> tuple[dict, dict]:
    """The data of the services' envelope and the headers, when the status is ``status``."""
    got, headers, answer = http(method, url, token=token, body=body)
    if got != status or not isinstance(answer, dict) or answer.get("code") != 0:
        raise Failed(f"{method} {url}: expected {status} with code 0, got {got}: {json.dumps(answer)[:500]}")
    return answer["data"], headers


class Stop(Failed):
    """A failure that waiting longer cannot mend (a container exited, or is unhealthy)."""


def poll(what: str, timeout: float, attempt: Callable[[], tuple[bool, str]], every: float = 2.0) -> str:
    """Call ``attempt`` until it reports done (bounded); its last word. A ``Failed`` it raises
    counts as not yet (a server still starting), a ``Stop`` ends the wait at once."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, said = attempt()
        except Stop:
            raise
        except Failed as exc:
            done, said = False, str(exc)
        if done:
            return said
        if time.monotonic() > deadline:
            raise Failed(f"{what}: not after {timeout:.0f} s; last: {said}")
        time.sleep(every)


def probe_seconds(probe: dict) -> float:
    """How long one health probe of ``docker inspect`` ran (its Start and End, to the microsecond)."""
    def moment(stamp: str) -> datetime.datetime:  # RFC 3339 with nanoseconds; both stamps in one zone
        found = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?", stamp)
        if found is None:
            raise ValueError(stamp)
        return datetime.datetime.fromisoformat(f"{found[1]}.{(found[2] or '')[:6].ljust(6, '0')}")
    try:
        return (moment(probe["End"]) - moment(probe["Start"])).total_seconds()
    except (KeyError, ValueError):
        return float("nan")


# ---- stand-in images ------------------------------------------------------------------------

def source_tarball(name: str, repo: str | None, dest: Path, logdir: Path) -> str:
    """``git archive`` of the tag of ``name`` into ``dest``: from ``repo`` (a local git
    directory, bare or not, or a URL to clone), else from the checkout deploy/fluentd/README.md
    makes in /opt, else from GitHub. Returns where it came from."""
    tag, variable, url, checkout = FLUENTD_SOURCES[name]
    repo = repo or os.environ.get(variable)
    if not repo and (checkout / ".git").is_dir():
        repo = str(checkout)
    repo = repo or url
    local = Path(repo)
    if local.is_dir():
        git_dir = local / ".git" if (local / ".git").exists() else local
    else:
        git_dir = logdir / f"{name}.git"
        shutil.rmtree(git_dir, ignore_errors=True)
        run(["git", "clone", "--quiet", "--bare", "--depth", "1", "--branch", tag, repo, str(git_dir)], timeout=600)
    run(["git", f"--git-dir={git_dir}", "archive", "--format=tar", "-o", str(dest), tag], timeout=120)
    return f"{repo} at {tag}"


def standin_context(service: str, workdir: Path, args: argparse.Namespace) -> tuple[Path, list[str], str]:
    """A build context for the stand-in of ``service`` outside the repository: its recipe, plus
    the jar or the sources it needs. Returns it, extra build arguments and what went in."""
    context = workdir / f"standin-{service}"
    shutil.rmtree(context, ignore_errors=True)
    shutil.copytree(STANDINS / service, context)
    if service == "zipkin":
        import zipkin  # deploy/zipkin.py: the jar make zipkin-deps fetched, and its checksum

        jar = zipkin.jar_path()
        if not jar.is_file():
            raise Failed(f"no Zipkin jar at {jar}: `make zipkin-deps` fetches it from Maven Central")
        if zipkin.sha256(jar) != zipkin.SHA256:
            raise Failed(f"{jar} is not zipkin-server {zipkin.VERSION} (sha256 differs): `make zipkin-deps`")
        shutil.copy(jar, context / f"zipkin-server-{zipkin.VERSION}-exec.jar")
        return context, ["--build-arg", f"ZIPKIN_VERSION={zipkin.VERSION}",
                         "--build-arg", f"ZIPKIN_SHA256={zipkin.SHA256}"], f"{jar.name}, sha256 checked"
    if service == "swagger-ui":
        jar = swagger_ui_webjar(workdir)
        shutil.copy(jar, context / jar.name)
        return context, ["--build-arg", f"SWAGGER_UI_VERSION={SWAGGER_UI_VERSION}",
                         "--build-arg", f"SWAGGER_UI_SHA256={SWAGGER_UI_SHA256}"], f"{jar.name}, sha256 checked"
    if service == "fluentd":
        came = [source_tarball(name, getattr(args, f"{name}_git"), context / f"{name}.tar", workdir)
                for name in FLUENTD_SOURCES]
        return context, [], "sources: " + "; ".join(came)
    return context, [], "Debian packages"


def swagger_ui_webjar(workdir: Path) -> Path:
    """org.webjars:swagger-ui (Swagger UI's dist, the official image's release) in the cache
    `make zipkin-deps` uses, fetched with Maven when missing, checksum checked."""
    import zipkin

    jar = zipkin.CACHE / f"swagger-ui-{SWAGGER_UI_VERSION}.jar"
    if not (jar.is_file() and zipkin.sha256(jar) == SWAGGER_UI_SHA256):
        if shutil.which("mvn") is None:
            raise Failed("Swagger UI's stand-in needs its WebJar from Maven Central, fetched with Maven: "
                         "apt-get install maven")
        jar.parent.mkdir(parents=True, exist_ok=True)
        run(["mvn", "-q", "-B", "dependency:copy", f"-Dartifact=org.webjars:swagger-ui:{SWAGGER_UI_VERSION}",
             f"-DoutputDirectory={jar.parent}"], timeout=600, log=workdir / "mvn-swagger-ui.log")
    if zipkin.sha256(jar) != SWAGGER_UI_SHA256:
        raise Failed(f"{jar}: sha256 {zipkin.sha256(jar)}, expected {SWAGGER_UI_SHA256}")
    return jar


def ensure_standin_base(logdir: Path) -> str:
    if image_labels(STANDIN_BASE) is not None:
        return f"{STANDIN_BASE} is there"
    if os.geteuid() != 0:
        raise Failed(f"{STANDIN_BASE} is missing and making it needs root: `sudo make standin-base`")
    started = time.monotonic()
    run(["sh", str(ROOT / "deploy" / "standin-base.sh")], timeout=BASE_TIMEOUT, log=logdir / "standin-base.log")
    return f"{STANDIN_BASE} made by deploy/standin-base.sh in {time.monotonic() - started:.0f} s"


def ensure_image(service: str, image: str, args: argparse.Namespace, workdir: Path) -> tuple[str, bool]:
    """``image`` in the engine: the real one if it is there or can be pulled (a pull replaces
    an earlier stand-in), else a stand-in built under its name, again each time: Docker's cache
    makes that quick when nothing changed. Says which, and whether it is a stand-in."""
    labels = image_labels(image)
    if labels is not None and STANDIN_LABEL not in labels:
        return f"{image}: the real image, already in the engine", False
    pull_said = "not pulled (--no-pull)"
    if not args.no_pull:
        pulled = docker("pull", image, timeout=PULL_TIMEOUT, check=False)
        if pulled.returncode == 0 and STANDIN_LABEL not in (image_labels(image) or {STANDIN_LABEL: ""}):
            return f"{image}: pulled", False
        why = (pulled.stderr or pulled.stdout).strip().splitlines()[-1:] or ["?"]
        pull_said = f"`docker pull {image}`: {why[0][:200]}"
    if STANDIN_FOR.get(service) != image:
        raise Failed(f"{service}: the file names {image}, and deploy/standins has no recipe for it "
                     f"(it has {STANDIN_FOR.get(service, 'none')} for {service})")
    base = ensure_standin_base(workdir)
    context, build_args, inputs = standin_context(service, workdir, args)
    env, flags, _ = builder_env()
    started = time.monotonic()
    run(["docker", "build", *flags, "--build-arg", f"STANDIN_BASE={STANDIN_BASE}", *build_args, "-t", image,
         str(context)], timeout=BUILD_TIMEOUT, env=env, log=workdir / f"build-{service}.log")
    return (f"{image}: stand-in built in {time.monotonic() - started:.0f} s ({base}; {inputs})\n"
            f"      as {pull_said}"), True


def service_base_image(args: argparse.Namespace, workdir: Path) -> str:
    """BASE_IMAGE for the services' builds: as asked, else the official one if the engine has
    it or can pull it, else the stand-in base."""
    if args.base_image:
        return args.base_image
    if image_labels(OFFICIAL_BASE) is not None:
        return OFFICIAL_BASE
    if not args.no_pull and docker("pull", OFFICIAL_BASE, timeout=PULL_TIMEOUT, check=False).returncode == 0:
        return OFFICIAL_BASE
    ensure_standin_base(workdir)
    return STANDIN_BASE


# ---- the check ------------------------------------------------------------------------------

@dataclass
class Step:
    name: str
    passed: bool
    seconds: float
    detail: str


class ComposeCheck:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.steps: list[Step] = []
        self.config: dict = {}
        self.started: list[str] = []
        self.base_image = ""
        self.standins: list[str] = []
        self.trace_id = ""
        self.brought_up = False
        self.interrupted = False

    # -- bookkeeping --

    def step(self, name: str, action: Callable[[], str]) -> bool:
        """Run one step; print and keep its verdict and time."""
        print(f"compose-check: {name} ...", flush=True)
        started = time.monotonic()
        try:
            detail, passed = action(), True
        except Failed as exc:
            detail, passed = str(exc), False
        seconds = time.monotonic() - started
        self.steps.append(Step(name, passed, seconds, detail))
        first, _, rest = detail.partition("\n")
        print(f"compose-check: {'PASS' if passed else 'FAIL'} {name} ({seconds:.0f} s): {first}", flush=True)
        if rest:
            print(rest, flush=True)
        return passed

    # -- steps --

    def check_config(self) -> str:
        self.config = yaml.safe_load(compose("config", timeout=DOCKER_TIMEOUT).stdout)
        services = list(self.config["services"])
        unknown = [s for s in LEFT_OUT if s not in services]
        if unknown:
            raise Failed(f"left out but not in the file: {unknown}")
        self.started = [s for s in services if s not in LEFT_OUT]
        leftovers = project_leftovers()
        if leftovers:
            raise Failed(f"a {PROJECT} project is already in this engine ({leftovers}); this check would stop it "
                         "and delete its volumes: run `docker-compose down` (-v deletes the data) first")
        version = run(["docker-compose", "version", "--short"], timeout=DOCKER_TIMEOUT).stdout.strip()
        return (f"docker-compose {version} accepts {COMPOSE_FILE.name}; starting {', '.join(self.started)}; "
                + "; ".join(f"left out {name}: {why}" for name, why in LEFT_OUT.items()))

    def check_images(self) -> str:
        said = []
        for service in self.started:
            spec = self.config["services"][service]
            if "build" in spec:
                continue
            what, standin = ensure_image(service, spec["image"], self.args, self.workdir)
            said.append(what)
            if standin:
                self.standins.append(f"{service} ({spec['image']})")
        self.base_image = service_base_image(self.args, self.workdir)
        built = [s for s in self.started if "build" in self.config["services"][s]]
        said.append(f"{', '.join(built)}: built by compose on BASE_IMAGE={self.base_image}")
        return "\n".join(["images ready", *("  " + line for line in said)])

    def bring_up(self) -> str:
        self.brought_up = True
        log = self.workdir / "compose-up.log"
        compose("up", "-d", "--build", *self.started, timeout=UP_TIMEOUT, base_image=self.base_image, log=log)
        projects = set(docker("ps", "-a", "--filter", f"label=com.docker.compose.service={self.started[0]}",
                              "--format", '{{.Label "com.docker.compose.project"}}').stdout.split())
        if PROJECT not in projects:
            raise Failed(f"the containers are not of a project called {PROJECT} (found {projects}): .env not read?")
        return f"docker-compose up -d --build {' '.join(self.started)} (log: {log})"

    def containers(self) -> dict[str, dict]:
        """``docker inspect`` of each of the project's containers, by compose service."""
        ids = docker("ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}").stdout.split()
        found = json.loads(docker("inspect", *ids).stdout) if ids else []
        return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in found}

    def wait_healthy(self) -> str:
        """Every container ``healthy`` at once, within HEALTHY_TIMEOUT. ``unhealthy`` is waited
        out too (Docker turns it back on the next probe that passes: a probe can time out on a
        busy machine), and said; a container that exited, or has no healthcheck, fails at once."""
        started = time.monotonic()
        seen_unhealthy: set[str] = set()

        def attempt() -> tuple[bool, str]:
            found = self.containers()
            missing = [s for s in self.started if s not in found]
            if missing:
                raise Failed(f"no container for {missing}")
            states = {s: (c["State"].get("Health") or {}).get("Status", "no healthcheck") for s, c in found.items()}
            seen_unhealthy.update(s for s, st in states.items() if st == "unhealthy")
            broken = [s for s, st in states.items()
                      if st == "no healthcheck" or found[s]["State"]["Status"] in ("exited", "dead")]
            if broken:
                raise Stop(f"{ {s: states[s] for s in broken} }: " + self.why_not_healthy(found, broken))
            return all(st == "healthy" for st in states.values()), str(states)

        try:
            poll("every container healthy", HEALTHY_TIMEOUT, attempt)
        except Stop:
            raise
        except Failed as exc:
            found = self.containers()
            laggards = [s for s, c in found.items() if (c["State"].get("Health") or {}).get("Status") != "healthy"]
            raise Failed(f"{exc}\n{self.why_not_healthy(found, laggards)}") from exc
        waited = time.monotonic() - started
        names = sorted(c["Name"].lstrip("/") for c in self.containers().values())
        flapped = f"; unhealthy for a while on the way: {', '.join(sorted(seen_unhealthy))}" if seen_unhealthy else ""
        return f"{len(names)} containers healthy ({waited:.0f} s after up returned): {', '.join(names)}{flapped}"

    def why_not_healthy(self, found: dict[str, dict], services: list[str]) -> str:
        lines = []
        for service in services:
            state = found[service]["State"]
            probes = (state.get("Health") or {}).get("Log") or []
            last = probes[-1].get("Output", "").strip()[:300] if probes else ""
            took = ", ".join(f"{probe_seconds(p):.1f}" for p in probes)
            logs = docker("logs", "--tail", "15", found[service]["Id"], check=False)
            lines.append(f"{service}: status {state['Status']}, exit code {state.get('ExitCode')}, "
                         f"health {(state.get('Health') or {}).get('Status')}, last probe {last!r} "
                         f"(the last probes took {took} s)\n{indent(logs.stdout + logs.stderr, 15)}")
        return "\n".join(lines)

    def published(self, service: str) -> str:
        """http://127.0.0.1:<port> of the service's own PORT, as the file publishes it."""
        spec = self.config["services"][service]
        port = int(spec["environment"]["PORT"])
        host = next(p["published"] for p in spec["ports"] if int(p["target"]) == port)
        return f"http://127.0.0.1:{host}"

    def tokens(self) -> tuple[str, str]:
        """A read and a write token, signed with the key the file gives the services."""
        from sanicms.auth import mint

        secret = self.config["services"]["user"]["environment"]["AUTH_SECRET"]
        names = ("city", "role", "user")
        read = mint([f"{n}:read" for n in names], subject="compose-check", secret=secret)
        write = mint([f"{n}:{v}" for n in names for v in ("read", "write")], subject="compose-check", secret=secret)
        return read, write

    def request(self) -> str:
        read, write = self.tokens()
        city, _ = expect("POST", f"{self.published('city')}/cities", 201, token=write,
                         body={"name": "Shanghai", "province": "Shanghai"})
        role, _ = expect("POST", f"{self.published('role')}/roles", 201, token=write,
                         body={"name": "admin", "description": "manages everything"})
        user, _ = expect("POST", f"{self.published('user')}/users", 201, token=write,
                         body={"name": "Alice", "age": 31, "sex": "female", "city_id": city["id"],
                               "role_id": role["id"]})
        url = f"{self.published('user')}/users/{user['id']}"
        got, headers = expect("GET", url, 200, token=read)
        if (got.get("city") or {}).get("name") != "Shanghai" or (got.get("role") or {}).get("name") != "admin":
            raise Failed(f"GET {url} did not carry the city and the role: {got}")
        self.trace_id = headers.get("x-trace-id", "")
        if not self.trace_id:
            raise Failed(f"GET {url} answered without an X-Trace-Id header: {headers}")
        refused, _, _ = http("GET", url)
        if refused != 401:
            raise Failed(f"GET {url} without a token answered {refused}, not 401")
        return (f"GET {url} (read token) 200 with city {got['city']['name']!r} and role {got['role']['name']!r}, "
                f"X-Trace-Id {self.trace_id}; without a token 401")

    def trace(self) -> str:
        found = self.containers()
        for service in ("city", "role", "user"):
            config = found[service]
            env = dict(e.split("=", 1) for e in config["Config"]["Env"])
            driver = config["HostConfig"]["LogConfig"]["Type"]
            if driver != "fluentd" or env.get("TRACING_TRANSPORTS") != "log":
                raise Failed(f"{service} logs to {driver} with TRACING_TRANSPORTS={env.get('TRACING_TRANSPORTS')}: "
                             "its spans would not travel through fluentd")
        url = f"http://127.0.0.1:{self.port_of('zipkin', 9411)}/api/v2/trace/{self.trace_id}"
        wanted = {"user", "city", "role"}

        def attempt() -> tuple[bool, str]:
            status, _, spans = http("GET", url)
            if status != 200 or not isinstance(spans, list):
                return False, f"{status} {str(spans)[:200]}"
            services = {(s.get("localEndpoint") or {}).get("serviceName") for s in spans}
            return wanted <= services, f"{len(spans)} spans of {sorted(s for s in services if s)}"

        said = poll(f"the trace in Zipkin ({url})", TRACE_TIMEOUT, attempt)
        # fluentd prints every record it gets (its @LOGS stdout output): the request's lines are there.
        fluentd = docker("logs", found["fluentd"]["Id"], check=False)
        seen = sum(self.trace_id in line for line in (fluentd.stdout + fluentd.stderr).splitlines())
        if not seen:
            raise Failed(f"{said}, but fluentd's own output has no record of trace {self.trace_id}")
        return (f"{said} at {url}; the services print their spans (fluentd logging driver, "
                f"TRACING_TRANSPORTS=log), and fluentd printed {seen} records of this trace")

    def port_of(self, service: str, target: int) -> int:
        spec = self.config["services"][service]
        return int(next(p["published"] for p in spec["ports"] if int(p["target"]) == target))

    def targets(self) -> str:
        url = f"http://127.0.0.1:{self.port_of('prometheus', 9090)}/api/v1/targets"
        expected = {s for s in self.started if "build" in self.config["services"][s]}

        def attempt() -> tuple[bool, str]:
            _, _, answer = http("GET", url)
            active = (answer or {}).get("data", {}).get("activeTargets", [])
            health = {t["labels"].get("service", t["scrapeUrl"]): t["health"] for t in active}
            errors = {t["scrapeUrl"]: t.get("lastError") for t in active if t.get("lastError")}
            return (set(health) == expected and set(health.values()) == {"up"}), f"{health} {errors or ''}"

        said = poll(f"every Prometheus target up ({url})", TARGETS_TIMEOUT, attempt)
        return f"{len(expected)} targets up: {said.strip()}"

    def swagger_ui(self) -> str:
        """The page, configured with every service's spec, and each spec readable from the
        browser's origin (CORS), as Swagger UI reads them."""
        base = f"http://127.0.0.1:{self.port_of('swagger-ui', 8080)}"
        origin = f"http://localhost:{self.port_of('swagger-ui', 8080)}"
        status, _, page = fetch("GET", base + "/", {})
        if status != 200 or b"swagger-ui" not in page:
            raise Failed(f"GET {base}/ answered {status}: {page[:200]!r}")
        _, _, initializer = fetch("GET", base + "/swagger-initializer.js", {})
        specs = json.loads(self.config["services"]["swagger-ui"]["environment"]["URLS"])
        for spec in specs:
            if spec["url"].encode() not in initializer:
                raise Failed(f"{base}/swagger-initializer.js does not list {spec['url']}: {initializer[:600]!r}")
            status, headers, body = fetch("GET", spec["url"], {"origin": origin})
            if status != 200 or b'"openapi"' not in body or headers.get("access-control-allow-origin") != origin:
                raise Failed(f"GET {spec['url']} from origin {origin}: {status}, allow-origin "
                             f"{headers.get('access-control-allow-origin')!r}, {body[:200]!r}")
        return (f"{base}/ lists {', '.join(s['name'] for s in specs)}; each spec answers its origin {origin} "
                "(CORS)")

    def save_logs(self) -> None:
        """Every container's output (Docker keeps a copy beside the fluentd driver) for later."""
        for service, config in self.containers().items():
            logs = docker("logs", config["Id"], check=False)
            (self.workdir / f"container-{service}.log").write_text(logs.stdout + logs.stderr)

    def down(self) -> str:
        log = self.workdir / "compose-down.log"
        compose("down", "-v", "--remove-orphans", timeout=DOWN_TIMEOUT, log=log)
        leftovers = project_leftovers()
        if leftovers:
            raise Failed(f"docker-compose down -v left {leftovers}")
        return "no container, volume or network of the project is left"

    # -- the whole run --

    def run(self) -> bool:
        """The steps in order, up to the first that fails; then ``down`` whatever happened
        (also on Ctrl-C or SIGTERM), once anything may have been started."""
        plan = [("config", self.check_config), ("images", self.check_images), ("up", self.bring_up),
                ("healthy", self.wait_healthy), ("request", self.request), ("trace", self.trace),
                ("prometheus", self.targets), ("swagger-ui", self.swagger_ui)]
        try:
            for name, action in plan:
                if not self.step(name, action):
                    break
        except KeyboardInterrupt:
            self.interrupted = True
            raise
        finally:
            if self.brought_up:
                with signals_deferred():
                    self.save_logs_quietly()
                    self.step("down", self.down)
        return self.passed

    @property
    def passed(self) -> bool:
        return (not self.interrupted and not DEFERRED and [s.name for s in self.steps][-1:] == ["down"]
                and all(s.passed for s in self.steps))

    def save_logs_quietly(self) -> None:
        try:
            self.save_logs()
        except Failed as exc:
            print(f"compose-check: could not save the containers' logs: {exc}", flush=True)

    def summary(self, total: float) -> str:
        lines = [f"compose-check summary ({PROJECT}, {COMPOSE_FILE.name}; logs in {self.workdir}):"]
        lines += [f"  {'PASS' if s.passed else 'FAIL'}  {s.name:10} {s.seconds:6.0f} s" for s in self.steps]
        if self.standins:
            lines.append(f"  stand-ins (deploy/standins: could not be pulled): {', '.join(self.standins)}")
        if self.base_image:
            lines.append(f"  services built on {self.base_image}")
        if self.interrupted or DEFERRED:
            lines.append("  interrupted (Ctrl-C or SIGTERM): not every step ran")
        lines.append(f"compose-check: {'PASS' if self.passed else 'FAIL'} in {total:.0f} s")
        return "\n".join(lines)


def interrupted(signum: int, frame: FrameType | None) -> None:
    """SIGTERM as Ctrl-C: the run unwinds through its finally, which takes the stack down."""
    raise KeyboardInterrupt(f"signal {signum}")


#: Signals that arrived while the stack was being taken down (and were held back).
DEFERRED: list[int] = []


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """While ``down`` runs, Ctrl-C and SIGTERM are noted, not obeyed: stopping it half-way
    would leave the stack running, which is what it is there to prevent."""
    previous = {sig: signal.signal(sig, lambda signum, frame: DEFERRED.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-image", default=os.environ.get("BASE_IMAGE"),
                        help=f"BASE_IMAGE for the services (default: {OFFICIAL_BASE} if there or pullable, "
                             f"else {STANDIN_BASE})")
    parser.add_argument("--no-pull", action="store_true", help="do not try to pull missing images")
    parser.add_argument("--fluentd-git", help="git directory or URL of fluentd (default: $FLUENTD_GIT, "
                                              "/opt/fluentd-src, GitHub)")
    parser.add_argument("--serverengine-git", help="git directory or URL of serverengine (default: "
                                                   "$SERVERENGINE_GIT, /opt/serverengine-src, GitHub)")
    args = parser.parse_args(argv)

    problem = engine_problem()
    if problem is None and shutil.which("docker-compose") is None:
        problem = "docker-compose is not installed (make compose-deps: Debian's docker-compose)"
    if problem:
        print(f"compose-check: NOT RUN: {problem}.\nNothing was checked.", file=sys.stderr)
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="sanicms-compose-check-"))
    print(f"compose-check: build contexts and logs in {workdir}", flush=True)
    signal.signal(signal.SIGTERM, interrupted)
    check = ComposeCheck(args, workdir)
    started = time.monotonic()
    try:
        ok = check.run()
    except KeyboardInterrupt:
        ok = False
        down = [s for s in check.steps if s.name == "down"]
        print("compose-check: interrupted; " + ("the stack was taken down" if down and down[0].passed else
              "nothing was started" if not check.brought_up else "taking the stack down FAILED"), flush=True)
    if DEFERRED:
        print("compose-check: interrupted while taking the stack down, which was let finish", flush=True)
    print(check.summary(time.monotonic() - started))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
