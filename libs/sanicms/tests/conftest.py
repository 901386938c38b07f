"""A real PostgreSQL database for the library's own tests."""

import pytest

from sanicms.localdb import create_database
from sanicms.tests import postgres


@pytest.fixture(scope="session")
def database_url():
    return create_database(postgres.server_url(), "sanicms_lib_test", fresh=True)
