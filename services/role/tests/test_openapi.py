"""The role service's OpenAPI spec, as served at /openapi/spec.json."""

from role_service.migrations import MIGRATIONS
from role_service.server import create_app
from sanicms.testing import SpecTestCase


class RoleSpecTest(SpecTestCase):
    app_factory = staticmethod(create_app)
    migrations = MIGRATIONS
