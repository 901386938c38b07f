"""A real PostgreSQL database for the library's own tests."""

from pathlib import Path

import pytest

from sanicms.testing import postgres, zipkin_span_validator
from sanicms.testing.localdb import create_database


@pytest.fixture(scope="session")
def database_url():
    return create_database(postgres.server_url(), "sanicms_lib_test", fresh=True)


#: Zipkin's own API spec, beside the repository (``../shared/specs``), read-only.
ZIPKIN_SPEC = Path(__file__).resolve().parents[4] / "shared" / "specs" / "zipkin2-api.yaml"


@pytest.fixture(scope="session")
def zipkin_span_schema():
    return zipkin_span_validator(ZIPKIN_SPEC)
