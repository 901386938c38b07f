"""A real PostgreSQL database for the library's own tests."""

from contextlib import contextmanager
from pathlib import Path

import pytest
from sanic import Sanic

import sanicms
from sanicms.testing import LiveServer, postgres, zipkin_span_validator
from sanicms.testing.localdb import create_database


@pytest.fixture(scope="session")
def database_url():
    return create_database(postgres.server_url(), "sanicms_lib_test", fresh=True)


#: Zipkin's own API spec, beside the repository (``../shared/specs``), read-only.
ZIPKIN_SPEC = Path(__file__).resolve().parents[4] / "shared" / "specs" / "zipkin2-api.yaml"


@pytest.fixture(scope="session")
def zipkin_span_schema():
    return zipkin_span_validator(ZIPKIN_SPEC)


#: For apps whose routes never touch the database: a pool that cannot connect, quickly.
DEAD_DB = "postgresql://nobody@127.0.0.1:1/none"


@contextmanager
def probe_server(name, blueprint, **overrides):
    """A live service app with one probe blueprint and no database, unregistered afterwards."""
    Sanic.test_mode = True
    settings = sanicms.load_settings(environ={}, overrides={
        "SERVICE_NAME": name, "DATABASE_URL": DEAD_DB, "DB_CONNECT_TIMEOUT": 0.2,
        "TRACING_TRANSPORTS": ["log"], **overrides})
    server = LiveServer(sanicms.create_app(settings, [blueprint], name=name))
    server.start()
    try:
        yield server
    finally:
        server.stop()
        Sanic.unregister_app(server.app)


@pytest.fixture(scope="session")
def probe_servers():
    """:func:`probe_server`, for a module's own ``live`` fixture."""
    return probe_server
