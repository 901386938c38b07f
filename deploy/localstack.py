"""The services on one machine, on a real PostgreSQL: used by ``make demo`` and the end-to-end
tests. Which services there are comes from the registry (``services/*/``, sanicms.registry):
a database per service, migrations first, each started after the neighbours it calls, with
their URLs (``<NAME>_SERVICE_URL``) pointing at the ports they were given here."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from seed import spec_of

from sanicms import registry
from sanicms.examples import create_route
from sanicms.testing.localdb import create_database
from sanicms.testing.processes import ServiceProcess, migrate

ROOT = Path(__file__).resolve().parents[1]

#: Every service, in dependency order.
REGISTRY = registry.services(ROOT)
BY_NAME = {s.name: s for s in REGISTRY}
#: (name, package, default port) of each, in the order they start.
SERVICES = tuple((s.name, s.package, s.port) for s in REGISTRY)


def depends_on(name: str) -> set[str]:
    """The service and every service it calls, directly or through another: the services a
    trace of one of its reads passes through."""
    found = {name}
    for neighbour in BY_NAME[name].downstreams:
        found |= depends_on(neighbour)
    return found


class LocalStack:
    def __init__(self, server_url: str, *, ports: Mapping[str, int] | None = None, log_dir: Path,
                 env: Mapping[str, str] | None = None, db_prefix: str = "", fresh: bool = False) -> None:
        self.server_url = server_url
        self.ports = dict(ports or {name: port for name, _, port in SERVICES})
        self.log_dir = Path(log_dir)
        self.env = dict(env or {})
        self.db_prefix = db_prefix
        self.fresh = fresh
        self.processes: dict[str, ServiceProcess] = {}

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def collection(self, name: str) -> str:
        """The path of a running service's records (``/cities``), read from the spec it serves."""
        return create_route(spec_of(self.url(name)))[0]

    def service_env(self, name: str) -> dict[str, str]:
        """A service's environment: its own database, and where each neighbour it calls listens."""
        env = {**self.env, "DATABASE_URL": create_database(self.server_url, self.db_prefix + name, fresh=self.fresh)}
        env.update({BY_NAME[d].url_setting: self.url(d) for d in BY_NAME[name].downstreams})
        return env

    def start(self) -> LocalStack:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            for name, package, _ in SERVICES:
                env = self.service_env(name)
                migrate(package, env)
                proc = ServiceProcess(package, self.ports[name], env, log_path=self.log_dir / f"{name}.log")
                self.processes[name] = proc.start()
        except BaseException:
            self.stop()
            raise
        return self

    def ended(self) -> dict[str, int]:
        """The services whose process has exited (crashed, or killed), with its exit code."""
        return {name: code for name, proc in self.processes.items()
                if proc.proc is not None and (code := proc.proc.poll()) is not None}

    def stop(self) -> dict[str, int | None]:
        codes = {name: proc.stop() for name, proc in reversed(list(self.processes.items()))}
        self.processes.clear()
        return codes

