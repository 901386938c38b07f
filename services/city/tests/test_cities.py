"""The city service through HTTP, against a real PostgreSQL."""

from city_service.migrations import MIGRATIONS
from city_service.server import create_app
from sanicms.testing import APITestCase


class CityApiTest(APITestCase):
    app_factory = staticmethod(create_app)
    migrations = MIGRATIONS
    _blueprint = "cities"

    def create(self, name="Shanghai", province="Shanghai"):
        res = self.client.create_city(data={"name": name, "province": province})
        self.assertEqual(res.status_code, 201, res.text)
        return res.json()["data"]

    def test_create_returns_the_stored_city(self):
        city = self.create()
        self.assertEqual(city["name"], "Shanghai")
        self.assertIsInstance(city["id"], int)
        self.assertIn("create_time", city)
        rows = self.db_execute("SELECT name, province FROM cities")
        self.assertEqual(rows, [{"name": "Shanghai", "province": "Shanghai"}])

    def test_get_by_id(self):
        city = self.create()
        res = self.client.get_city(id=city["id"])
        self.assertEqual(res.status_code, 200)
        self.assertEqual(res.json(), {"code": 0, "data": city})

    def test_get_missing_is_404_in_the_envelope(self):
        res = self.client.get_city(id=999)
        self.assertEqual(res.status_code, 404)
        self.assertEqual(res.json(), {"code": 404, "message": "city 999 not found", "error": None})

    def test_id_beyond_int32_is_a_400_not_a_500(self):
        res = self.request("GET", "/cities/99999999999")
        self.assertEqual(res.status_code, 400)
        self.assertEqual(res.json()["code"], 400)

    def test_list_is_paginated(self):
        for i in range(5):
            self.create(name=f"c{i}")
        res = self.client.list_cities(params={"page": 2, "page_size": 2})
        body = res.json()
        self.assertEqual([c["name"] for c in body["data"]], ["c2", "c3"])
        self.assertEqual(body["pagination"], {"page": 2, "page_size": 2, "total": 5, "pages": 3})

    def test_list_by_ids_for_batch_lookups(self):
        ids = [self.create(name=f"c{i}")["id"] for i in range(3)]
        res = self.client.list_cities(params={"ids": f"{ids[2]},{ids[0]},12345"})
        self.assertEqual([c["id"] for c in res.json()["data"]], [ids[0], ids[2]])

    def test_bad_pagination_is_a_400_naming_the_parameter(self):
        res = self.client.list_cities(params={"page": "x", "page_size": 0})
        self.assertEqual(res.status_code, 400)
        fields = {p["field"] for p in res.json()["error"]}
        self.assertEqual(fields, {"page", "page_size"})

    def test_invalid_body_lists_every_problem(self):
        res = self.client.create_city(data={"name": 5, "province": "x" * 200, "mayor": "y"})
        self.assertEqual(res.status_code, 400)
        body = res.json()
        self.assertEqual(body["code"], 400)
        self.assertEqual({p["field"] for p in body["error"]}, {"name", "province", "mayor"})
        self.assertEqual(self.db_execute("SELECT count(*) AS n FROM cities"), [{"n": 0}])

    def test_missing_fields_and_non_object_bodies(self):
        res = self.client.create_city(data={"name": "x"})
        self.assertEqual(res.json()["error"], [{"field": "province", "message": "is required"}])
        res = self.client.create_city(data=[1, 2])
        self.assertEqual(res.status_code, 400)
        res = self.client.create_city(content=b"{not json", headers={"content-type": "application/json"})
        self.assertEqual(res.status_code, 400)
        self.assertEqual(res.json()["message"], "the body is not valid JSON")

    def test_duplicate_is_a_409(self):
        self.create()
        res = self.client.create_city(data={"name": "Shanghai", "province": "Shanghai"})
        self.assertEqual(res.status_code, 409)
        self.assertEqual(res.json()["code"], 409)

    def test_put_replaces_and_patch_changes_some_fields(self):
        city = self.create()
        res = self.client.update_city(id=city["id"], data={"name": "Pudong"}, method="PUT")
        self.assertEqual(res.status_code, 400, "PUT needs every field")
        res = self.client.update_city(id=city["id"], data={"name": "Pudong"}, method="PATCH")
        self.assertEqual(res.json()["data"]["name"], "Pudong")
        self.assertEqual(res.json()["data"]["province"], "Shanghai")
        res = self.client.update_city(id=city["id"], data={"name": "A", "province": "B"}, method="PUT")
        self.assertEqual((res.json()["data"]["name"], res.json()["data"]["province"]), ("A", "B"))

    def test_update_missing_is_404(self):
        res = self.client.update_city(id=42, data={"name": "a"}, method="PATCH")
        self.assertEqual(res.status_code, 404)

    def test_delete(self):
        city = self.create()
        res = self.client.delete_city(id=city["id"])
        self.assertEqual(res.json(), {"code": 0, "data": {"id": city["id"]}})
        self.assertEqual(self.client.get_city(id=city["id"]).status_code, 404)
        self.assertEqual(self.client.delete_city(id=city["id"]).status_code, 404)
