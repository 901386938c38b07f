"""The role service through HTTP, against a real PostgreSQL."""

from role_service.migrations import MIGRATIONS
from role_service.server import create_app
from sanicms.testing import APITestCase


class RoleApiTest(APITestCase):
    app_factory = staticmethod(create_app)
    migrations = MIGRATIONS
    _blueprint = "roles"

    def create(self, **fields):
        res = self.client.create_role(data={"name": "admin", **fields})
        self.assertEqual(res.status_code, 201, res.text)
        return res.json()["data"]

    def test_description_is_optional_and_nullable(self):
        role = self.create()
        self.assertIsNone(role["description"])
        role = self.create(name="editor", description=None)
        self.assertIsNone(role["description"])

    def test_crud_round_trip(self):
        role = self.create(description="all rights")
        self.assertEqual(self.client.get_role(id=role["id"]).json()["data"], role)
        res = self.client.update_role(id=role["id"], data={"description": "most rights"}, method="PATCH")
        self.assertEqual(res.json()["data"]["description"], "most rights")
        self.assertEqual(self.client.delete_role(id=role["id"]).status_code, 200)
        self.assertEqual(self.client.get_role(id=role["id"]).status_code, 404)

    def test_names_are_unique(self):
        self.create()
        res = self.client.create_role(data={"name": "admin"})
        self.assertEqual(res.status_code, 409)
        self.assertEqual(self.db_execute("SELECT count(*) AS n FROM roles"), [{"n": 1}])

    def test_renaming_onto_an_existing_name_is_a_409_and_changes_nothing(self):
        self.create()
        other = self.create(name="viewer")
        res = self.client.update_role(id=other["id"], data={"name": "admin"}, method="PATCH")
        self.assertEqual(res.status_code, 409)
        self.assertEqual(self.client.get_role(id=other["id"]).json()["data"]["name"], "viewer")

    def test_bad_body(self):
        res = self.client.create_role(data={"name": "", "description": 3, "rights": []})
        self.assertEqual(res.status_code, 400)
        self.assertEqual({p["field"] for p in res.json()["error"]}, {"description", "rights"})
        res = self.client.create_role(data={"name": "x" * 65})
        self.assertEqual(res.json()["error"], [{"field": "name", "message": "must be at most 64 characters"}])

    def test_batch_lookup_and_pages(self):
        ids = [self.create(name=f"r{i}")["id"] for i in range(3)]
        res = self.client.list_roles(params={"ids": ",".join(map(str, ids[:2]))})
        self.assertEqual([r["name"] for r in res.json()["data"]], ["r0", "r1"])
        res = self.client.list_roles(params={"page_size": 2})
        self.assertEqual(res.json()["pagination"], {"page": 1, "page_size": 2, "total": 3, "pages": 2})
        res = self.client.list_roles(params={"ids": "1,abc"})
        self.assertEqual(res.status_code, 400)
