"""The user service's OpenAPI spec, as served at /openapi/spec.json."""

import json
from importlib.resources import files

from sanicms.contract.published import published_shape, schema_of, shape_differences
from sanicms.testing import SpecTestCase
from user_service import models
from user_service.migrations import MIGRATIONS
from user_service.server import create_app


class UserSpecTest(SpecTestCase):
    app_factory = staticmethod(create_app)
    migrations = MIGRATIONS

    def test_user_shows_city_and_role_as_objects_with_descriptions(self):
        schemas = self.spec["components"]["schemas"]
        user = schemas["User"]["properties"]
        self.assertEqual(user["city"], {"allOf": [{"$ref": "#/components/schemas/City"}],
                                        "nullable": True, "description": "city the user lives in"})
        self.assertEqual(user["role"]["allOf"], [{"$ref": "#/components/schemas/Role"}])
        self.assertEqual(user["role"]["description"], "role the user holds")
        self.assertEqual(schemas["City"]["properties"]["name"],
                         {"type": "string", "maxLength": 128, "description": "city name"})
        self.assertNotIn("city", schemas["UserInput"]["properties"])

    def test_city_and_role_are_shaped_as_their_services_publish_them(self):
        """As user's copies of their specs say (user_service/neighbours/): the contracts it was built against."""
        for service, name in (("city", "City"), ("role", "Role")):
            with self.subTest(service):
                self.assertEqual(self.spec["components"]["schemas"][name],
                                 schema_of(service, name, caller="user_service"))
                shape = published_shape(service, name, caller="user_service")
                self.assertIs(shape, models.CityApi if service == "city" else models.RoleApi)
                self.assertEqual(shape_differences(shape, service, name, caller="user_service"), [])

    def test_mocks_are_checked_against_the_copies_user_keeps(self):
        """Its mocks of city and role are held to user_service/neighbours/, not to their packages."""
        for service in ("city", "role"):
            with self.subTest(service):
                kept = files(models.__package__) / "neighbours" / f"{service}.json"
                self.assertEqual(self.contracts.specs[service], json.loads(kept.read_text(encoding="utf-8")))

    def test_routes_that_call_other_services_document_their_failures(self):
        responses = self.spec["paths"]["/users/{id}"]["get"]["responses"]
        self.assertEqual(list(responses), ["200", "400", "404", "413", "502", "503", "504"])
        create = self.spec["paths"]["/users"]["post"]
        self.assertIn("does not exist", create["responses"]["400"]["description"])
        self.assertEqual(create["requestBody"]["content"]["application/json"]["schema"],
                         {"$ref": "#/components/schemas/UserInput"})
