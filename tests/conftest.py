"""End-to-end fixtures: every service (services/*/, in dependency order) as a real process on a free
loopback port; a real PostgreSQL; the real Zipkin server where `make zipkin-deps` has put it."""


import pytest
from localstack import SERVICES, LocalStack  # deploy/ and tests/ are on pytest.ini's pythonpath
from required import require
from zipkin import ZipkinServer
from zipkin import missing as zipkin_missing

from sanicms.testing.localdb import throwaway_server
from sanicms.testing.processes import free_port

#: Seconds an open circuit waits before probing: short, so recovery tests stay quick.
BREAKER_RESET = 1.0


@pytest.fixture(scope="session")
def pg_server():
    with throwaway_server() as url:
        yield url


@pytest.fixture(scope="module")
def stack(pg_server, tmp_path_factory):
    ports = {name: free_port() for name, _, _ in SERVICES}
    stack = LocalStack(pg_server, ports=ports, log_dir=tmp_path_factory.mktemp("logs"),
                       db_prefix="e2e_", fresh=True,
                       env={"CLIENT_BREAKER_RESET": str(BREAKER_RESET)}).start()
    yield stack
    stack.stop()


def require_zipkin() -> None:
    """Skip, saying why and how to fix it; or fail where ZIPKIN_TEST_REQUIRED is set (CI's
    machines have Java and reach Maven Central, so there the real-Zipkin tests must run)."""
    require("real-Zipkin", zipkin_missing(), "ZIPKIN_TEST_REQUIRED")


@pytest.fixture(scope="module")
def zipkin(tmp_path_factory):
    """A real Zipkin server of this module's own (in-memory storage, so counts start at zero)."""
    require_zipkin()
    server = ZipkinServer(free_port(), log_path=tmp_path_factory.mktemp("zipkin") / "zipkin.log").start()
    yield server
    server.stop()
