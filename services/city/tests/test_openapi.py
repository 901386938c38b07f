"""The city service's OpenAPI spec, as served at /openapi/spec.json."""

from city_service.migrations import MIGRATIONS
from city_service.server import create_app
from sanicms.testing import SpecTestCase


class CitySpecTest(SpecTestCase):
    app_factory = staticmethod(create_app)
    migrations = MIGRATIONS
