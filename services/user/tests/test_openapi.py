"""The user service's OpenAPI spec, as served at /openapi/spec.json."""

from sanicms.contract.published import published_shape, schema_of, shape_differences
from sanicms.testing import SpecTestCase
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
        for service, name in (("city", "City"), ("role", "Role")):
            with self.subTest(service):
                self.assertEqual(self.spec["components"]["schemas"][name], schema_of(service, name))
                self.assertEqual(shape_differences(published_shape(service, name), service, name), [])

    def test_routes_that_call_other_services_document_their_failures(self):
        responses = self.spec["paths"]["/users/{id}"]["get"]["responses"]
        self.assertEqual(list(responses), ["200", "400", "404", "413", "502", "503", "504"])
        create = self.spec["paths"]["/users"]["post"]
        self.assertIn("does not exist", create["responses"]["400"]["description"])
        self.assertEqual(create["requestBody"]["content"]["application/json"]["schema"],
                         {"$ref": "#/components/schemas/UserInput"})
