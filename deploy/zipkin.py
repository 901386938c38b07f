"""The real Zipkin server (UI included), from its exec jar on Maven Central, on this machine.

    python deploy/zipkin.py install   # make zipkin-deps: the pinned jar, checksum checked; a JRE if missing
    python deploy/zipkin.py run       # Zipkin on 127.0.0.1:9411 until Ctrl-C (PORT=... for another)

``ZipkinServer`` starts it for the tests and ``make demo``: in-memory storage, a port of its
own, ``/health`` waited for, stopped with SIGTERM. Standard library only, so ``make zipkin-deps``
runs before any venv exists.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

VERSION = "3.4.2"
#: sha256 of io.zipkin:zipkin-server:3.4.2:jar:exec as Maven Central serves it.
SHA256 = "c9c07923d5a96fc71c0d0f548280097d77c4ceea515033bc6961b171934dd737"
ARTIFACT = f"io.zipkin:zipkin-server:{VERSION}:jar:exec"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sanicms"
#: Where ``make zipkin-deps`` puts the jar; ``ZIPKIN_JAR=`` names another.
DEFAULT_JAR = CACHE / f"zipkin-server-{VERSION}-exec.jar"
#: Small and single-threaded collection: the tests and the demo share two cores with the services.
JVM_OPTIONS = ("-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto")
START_TIMEOUT = 180.0
HTTP_TIMEOUT = 10.0


def jar_path() -> Path:
    return Path(os.environ.get("ZIPKIN_JAR") or DEFAULT_JAR)


def missing() -> str:
    """Why Zipkin cannot run here, in one line with the fix; "" when it can."""
    if shutil.which("java") is None:
        return "no `java` on PATH: `make zipkin-deps` installs Debian's JRE and the Zipkin jar"
    if not jar_path().is_file():
        return f"no Zipkin jar at {jar_path()}: `make zipkin-deps` fetches it from Maven Central"
    return ""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def apt_install(*packages: str) -> None:
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
                   check=True, env=env)


def install() -> Path:
    """Java if missing, then the pinned jar into the cache, its checksum checked."""
    if shutil.which("java") is None:
        apt_install("default-jre-headless")
    jar = jar_path()
    if jar.is_file() and sha256(jar) == SHA256:
        print(f"zipkin-deps: {jar} is there (Zipkin {VERSION}, checksum ok)")
        return jar
    if shutil.which("mvn") is None:
        apt_install("maven")
    jar.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mvn", "-q", "-B", "dependency:copy", f"-Dartifact={ARTIFACT}",
                    f"-DoutputDirectory={jar.parent}", "-Dmdep.overWriteReleases=true"], check=True)
    fetched = jar.parent / f"zipkin-server-{VERSION}-exec.jar"
    if fetched != jar:
        fetched.replace(jar)
    found = sha256(jar)
    if found != SHA256:
        jar.unlink()
        raise SystemExit(f"zipkin-deps: {ARTIFACT} has sha256 {found}, expected {SHA256}: removed")
    print(f"zipkin-deps: Zipkin {VERSION} at {jar} (checksum ok)")
    return jar


def loopback_only(port: int) -> list[str]:
    """Armeria's listen settings for 127.0.0.1:``port`` (``--server.port`` alone binds every address)."""
    return [f"--server.port={port}", f"--armeria.ports[0].port={port}", "--armeria.ports[0].ip=127.0.0.1",
            "--armeria.ports[0].protocols[0]=http"]


class ZipkinServer:
    """One Zipkin server process: in-memory storage, on 127.0.0.1:``port``.

    ``api(path, **query)`` reads its HTTP API (``/api/v2/...``) as JSON; ``counter(name)`` reads
    one of its own Prometheus counters (``zipkin_collector_spans_total`` ...)."""

    def __init__(self, port: int, *, log_path: Path | None = None, jar: Path | None = None) -> None:
        self.port = port
        self.jar = jar or jar_path()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"{self.url}/zipkin/"

    def trace_url(self, trace_id: str) -> str:
        return f"{self.ui_url}traces/{trace_id}"

    def start(self, timeout: float = START_TIMEOUT) -> ZipkinServer:
        why = missing() if self.jar == jar_path() else ("" if self.jar.is_file() else f"no jar at {self.jar}")
        if why:
            raise RuntimeError(why)
        env = {**os.environ, "STORAGE_TYPE": "mem",
               "JAVA_OPTS": "", "COLLECTOR_SAMPLE_RATE": "1.0"}
        command = ["java", *JVM_OPTIONS, "-jar", str(self.jar), *loopback_only(self.port)]
        if self.log_path:
            with self.log_path.open("ab") as out:  # the child holds its own copy of the descriptor
                self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        else:
            self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Zipkin did not become healthy on {self.url} (log: {self.log_path})")
            time.sleep(0.25)
        return self

    def healthy(self) -> bool:
        try:
            return self.api("/health").get("status") == "UP"
        except (OSError, ValueError):
            return False

    def api(self, path: str, **query: Any) -> Any:
        """GET ``path`` as JSON; None for a 404 (Zipkin's answer for a trace it does not hold)."""
        url = self.url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as res:
                return json.loads(res.read())
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        return self.api(f"/api/v2/trace/{trace_id}") or []

    def dependencies(self, lookback_ms: int = 3_600_000) -> dict[tuple[str, str], dict[str, Any]]:
        """Zipkin's dependency links of the last ``lookback_ms``, by (parent, child)."""
        links = self.api("/api/v2/dependencies", endTs=int(time.time() * 1000) + 60_000, lookback=lookback_ms)
        return {(link["parent"], link["child"]): link for link in links}

    def counter(self, name: str, transport: str = "http") -> float:
        """One of Zipkin's collector counters (its ``/prometheus`` page), for one transport."""
        with urllib.request.urlopen(self.url + "/prometheus", timeout=HTTP_TIMEOUT) as res:
            text = res.read().decode()
        for line in text.splitlines():
            if line.startswith(f'{name}{{transport="{transport}",}}'):
                return float(line.rsplit(" ", 1)[1])
        raise KeyError(f"{name} for {transport} is not on Zipkin's /prometheus page")

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def __enter__(self) -> ZipkinServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "help"
    if command == "install":
        install()
        return 0
    if command == "run":
        why = missing()
        if why:
            print(why, file=sys.stderr)
            return 1
        with ZipkinServer(int(os.environ.get("PORT", "9411"))) as zipkin:
            print(f"Zipkin {VERSION}: UI {zipkin.ui_url}, spans to {zipkin.url}/api/v2/spans (Ctrl-C stops)")
            with contextlib.suppress(KeyboardInterrupt):
                zipkin.proc.wait()
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
