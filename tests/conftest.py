"""End-to-end fixtures: every service (services/*/, in dependency order) as a real process on a free loopback port."""

import pytest
from localstack import SERVICES, LocalStack  # deploy/ and tests/ are on pytest.ini's pythonpath

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
