"""The role service's OpenAPI spec, as served at /openapi/spec.json."""

from openapi_spec_validator import validate

from role_service.migrations import MIGRATIONS
from role_service.server import create_app
from sanicms.testing import APITestCase


class RoleSpecTest(APITestCase):
    app_factory = staticmethod(create_app)
    migrations = MIGRATIONS

    def test_spec_is_valid_and_has_every_route(self):
        res = self.request("GET", "/openapi/spec.json")
        self.assertEqual(res.status_code, 200)
        spec = res.json()
        validate(spec)
        self.assertEqual(spec["info"]["title"], self.app.config.API_TITLE)
        documented = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
        served = {(m, "/" + r.path.replace("<id:int>", "{id}").rstrip("/"))
                  for r in self.app.router.routes for m in r.methods
                  if m not in ("HEAD", "OPTIONS") and not r.path.startswith("openapi")}
        self.assertEqual(documented, served)
