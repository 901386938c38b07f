"""Test helpers: a real server on loopback, a real PostgreSQL, and mocked neighbours.

::

    class CityTest(APITestCase):
        app_factory = staticmethod(create_app)      # the service's factory
        migrations = [CityMigration]
        _blueprint = "cities"

        def test_get(self):
            self._mock.get("/roles/1", payload={"id": 1, "name": "admin"})
            res = self.client.get_city(id=1)        # route by handler name
            self.assertEqual(res.status_code, 404)

The app runs once per test class on a free loopback port, against its own database on a
throwaway PostgreSQL (or the server in ``DATABASE_URL``); tables are emptied before each
test. Calls to other services go through ``aioresponses``: nothing real is called, and a
call with no registered answer fails as if the service were down. ``self.mock`` and
``blueprint`` are the same as the original design's ``self._mock`` and ``_blueprint``.

Modules: ``cases`` (:class:`APITestCase`, :class:`SpecTestCase`), ``server`` (:class:`LiveServer`,
:class:`RouteClient`, the throwaway PostgreSQL), ``mocks`` (:class:`ServiceMocks`),
``contracts`` (mocks checked against the neighbours' specs), ``peer`` (a raw HTTP peer that
misbehaves on purpose), ``zipkin``, ``localdb`` and ``processes`` (services as processes).
"""

from .cases import TEST_SECRET, APITestCase, SpecTestCase
from .contracts import ContractError
from .mocks import MOCK_BASE_URL, ServiceMocks
from .server import LiveServer, RouteClient, postgres
from .zipkin import zipkin_span_validator

__all__ = [
    "MOCK_BASE_URL",
    "TEST_SECRET",
    "APITestCase",
    "ContractError",
    "LiveServer",
    "RouteClient",
    "ServiceMocks",
    "SpecTestCase",
    "postgres",
    "zipkin_span_validator",
]
