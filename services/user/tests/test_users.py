"""The user service through HTTP, with the city and role services mocked."""

from typing import Any, ClassVar

import asyncpg

from sanicms.testing import APITestCase
from sanicms.testing.contracts import ContractError
from user_service.migrations import MIGRATIONS
from user_service.server import create_app

SHANGHAI = {"id": 1, "name": "Shanghai", "province": "Shanghai", "create_time": "2026-01-01T00:00:00Z"}
BEIJING = {"id": 2, "name": "Beijing", "province": "Beijing", "create_time": "2026-01-01T00:00:00Z"}
ADMIN = {"id": 1, "name": "admin", "description": None, "create_time": "2026-01-01T00:00:00Z"}
ALICE = {"name": "Alice", "age": 30, "sex": "female", "city_id": 1, "role_id": 1}


class UserApiTest(APITestCase):
    app_factory = staticmethod(create_app)
    migrations = MIGRATIONS
    _blueprint = "users"
    settings: ClassVar[dict[str, Any]] = {"CLIENT_TIMEOUT": 0.5}

    def setUp(self):
        super().setUp()
        self._mock.get("/cities/1", payload=SHANGHAI)
        self._mock.get("/cities/2", payload=BEIJING)
        self._mock.get("/roles/1", payload=ADMIN)
        self._mock.get("/cities/7", status=404, message="city 7 not found")
        self._mock.get("/roles/9", status=404, message="role 9 not found")

    def create(self, **fields):
        res = self.client.create_user(data={**ALICE, **fields})
        self.assertEqual(res.status_code, 201, res.text)
        return res.json()["data"]

    def test_create_checks_references_and_returns_them(self):
        user = self.create()
        self.assertEqual(user["city"], SHANGHAI)
        self.assertEqual(user["role"], ADMIN)
        self.assertEqual(self.db_execute("SELECT name, age FROM users"), [{"name": "Alice", "age": 30}])

    def test_get_fills_in_city_and_role(self):
        user = self.create()
        res = self.client.get_user(id=user["id"])
        self.assertEqual(res.status_code, 200)
        data = res.json()["data"]
        self.assertEqual((data["city"], data["role"], data["city_id"]), (SHANGHAI, ADMIN, 1))

    def test_unknown_city_or_role_is_a_400_and_nothing_is_written(self):
        res = self.client.create_user(data={**ALICE, "city_id": 7, "role_id": 9})
        self.assertEqual(res.status_code, 400)
        self.assertEqual(res.json()["error"], [
            {"field": "city_id", "message": "city 7 does not exist"},
            {"field": "role_id", "message": "role 9 does not exist"},
        ])
        self.assertEqual(self.db_execute("SELECT count(*) AS n FROM users"), [{"n": 0}])

    def test_invalid_body_names_each_field(self):
        res = self.client.create_user(data={"name": "x" * 129, "age": -1, "sex": 1, "city_id": "1"})
        self.assertEqual(res.status_code, 400)
        fields = {p["field"]: p["message"] for p in res.json()["error"]}
        self.assertEqual(set(fields), {"name", "age", "sex", "city_id", "role_id"})
        self.assertEqual(fields["age"], "must be >= 0")

    def test_list_makes_one_call_per_service_for_the_whole_page(self):
        self.create()
        self.create(name="Bob", city_id=2)
        self.create(name="Carol")
        self._mock.get("/cities?ids=1,2", payload=[SHANGHAI, BEIJING])
        self._mock.get("/roles?ids=1", payload=[ADMIN])
        res = self.client.list_users()
        body = res.json()
        self.assertEqual([u["city"]["name"] for u in body["data"]], ["Shanghai", "Beijing", "Shanghai"])
        self.assertEqual(body["pagination"]["total"], 3)
        self.assertEqual(len(self._mock.requests("GET", "/cities?ids=1,2")), 1)
        self.assertEqual(len(self._mock.requests("GET", "/roles?ids=1")), 1)

    def test_list_by_ids_is_one_lookup_with_relations(self):
        first, _, third = self.create(), self.create(name="Bob", city_id=2), self.create(name="Carol")
        self._mock.get("/cities?ids=1", payload=[SHANGHAI])
        self._mock.get("/roles?ids=1", payload=[ADMIN])
        res = self.client.list_users(params={"ids": f"{first['id']},{third['id']},999"})
        body = res.json()
        self.assertEqual(res.status_code, 200, res.text)
        self.assertEqual([u["name"] for u in body["data"]], ["Alice", "Carol"])
        self.assertEqual({u["city"]["name"] for u in body["data"]}, {"Shanghai"})
        self.assertEqual(body["pagination"], {"page": 1, "page_size": 3, "total": 2, "pages": 1})

    def test_patch_checks_a_new_city(self):
        user = self.create()
        res = self.client.update_user(id=user["id"], data={"city_id": 7}, method="PATCH")
        self.assertEqual(res.status_code, 400)
        res = self.client.update_user(id=user["id"], data={"city_id": 2, "age": 31}, method="PATCH")
        self.assertEqual((res.json()["data"]["city"], res.json()["data"]["age"]), (BEIJING, 31))

    def test_patch_of_a_missing_user_is_a_404_before_its_references_are_checked(self):
        res = self.client.update_user(id=999, data={"city_id": 7}, method="PATCH")
        self.assertEqual(res.status_code, 404, res.text)
        self.assertEqual(res.json()["message"], "user 999 not found")

    def test_patch_answers_with_the_records_it_checked_and_asks_no_more(self):
        user = self.create()
        before = len(self._mock.requests("GET", "/cities/1")), len(self._mock.requests("GET", "/roles/1"))
        res = self.client.update_user(id=user["id"], data={"age": 32}, method="PATCH")
        self.assertEqual(res.status_code, 200, res.text)
        data = res.json()["data"]
        self.assertEqual((data["age"], data["city"], data["role"]), (32, SHANGHAI, ADMIN))
        after = len(self._mock.requests("GET", "/cities/1")), len(self._mock.requests("GET", "/roles/1"))
        self.assertEqual((after[0] - before[0], after[1] - before[1]), (1, 1))

    def test_a_city_gone_since_does_not_block_a_change_of_other_fields(self):
        user = self.create()
        self.db_execute("UPDATE users SET city_id = 7 WHERE id = $1", user["id"])  # the city service: 404
        res = self.client.update_user(id=user["id"], data={"age": 40}, method="PATCH")
        self.assertEqual(res.status_code, 200, res.text)
        self.assertEqual((res.json()["data"]["age"], res.json()["data"]["city"]), (40, None))

    def test_a_mock_the_city_service_could_never_send_fails_naming_the_field(self):
        wrong = r"city GET /cities/\{id\} 200: data\.province: 7 is not of type 'string'"
        with self.assertRaisesRegex(ContractError, wrong):
            self._mock.get("/cities/3", payload={**SHANGHAI, "province": 7})
        with self.assertRaisesRegex(ContractError, r"data\.create_time: missing"):
            self._mock.get("/cities/3", payload={"id": 3, "name": "Wuhan", "province": "Hubei"})
        with self.assertRaisesRegex(ContractError, r"no neighbour \(city, role\) serves /towns/1"):
            self._mock.get("/towns/1", payload=SHANGHAI)
        with self.assertRaisesRegex(ContractError, r"city has no PATCH /cities"):
            self._mock.patch("/cities", payload=SHANGHAI)
        self._mock.get("/cities/3", payload={"broken": True}, unchecked=True)  # deliberate garbage: allowed

    def test_a_mistake_in_a_tests_own_sql_is_postgresql_s_error_not_a_400(self):
        with self.assertRaisesRegex(asyncpg.NotNullViolationError, 'column "create_time"'):
            self.db_execute("INSERT INTO users (name, age, sex, city_id, role_id) VALUES ('A', 1, 'f', 1, 1)")

    def test_delete(self):
        user = self.create()
        self.assertEqual(self.client.delete_user(id=user["id"]).json()["data"], {"id": user["id"]})
        self.assertEqual(self.client.get_user(id=user["id"]).status_code, 404)


class UserDownstreamFailureTest(APITestCase):
    """What callers see when city or role misbehave: a unified 5xx, promptly."""

    app_factory = staticmethod(create_app)
    migrations = MIGRATIONS
    _blueprint = "users"
    settings: ClassVar[dict[str, Any]] = {"CLIENT_TIMEOUT": 0.5}

    def setUp(self):
        super().setUp()
        self.db_execute("INSERT INTO users (name, age, sex, city_id, role_id, create_time) "
                        "VALUES ('A', 1, 'f', 1, 1, now())")
        self._mock.get("/roles/1", payload=ADMIN)

    def test_a_change_while_a_neighbour_is_down_writes_nothing(self):
        for change in ({"age": 40}, {"role_id": 1, "name": "B"}):
            res = self.client.update_user(id=1, data=change, method="PATCH")  # /cities/1: refused
            self.assertEqual((res.status_code, res.json()["code"]), (503, 50303), res.text)
            self.assertEqual(self.db_execute("SELECT name, age, role_id FROM users"),
                             [{"name": "A", "age": 1, "role_id": 1}])
        res = self.client.replace_user(id=1, data={**ALICE, "city_id": 2})  # a new city that is down too
        self.assertEqual(res.status_code, 503, res.text)
        self.assertEqual(self.db_execute("SELECT name, city_id FROM users"), [{"name": "A", "city_id": 1}])

    def test_downstream_down_is_a_503(self):
        with self.assertLogs("sanicms.calls", "WARNING") as logs:
            res = self.client.get_user(id=1)  # no answer registered for /cities/1: connection refused
        self.assertEqual(res.status_code, 503)
        self.assertEqual((res.json()["code"], res.json()["message"]), (50303, "city service is unreachable"))
        self.assertEqual(res.json()["error"], {"service": "city"})
        self.assertIn("no mock registered for GET http://downstream.mock/cities/1", logs.output[0])

    def test_downstream_timeout_is_a_504(self):
        self._mock.get("/cities/1", exception=TimeoutError())
        res = self.client.get_user(id=1)
        self.assertEqual(res.status_code, 504)
        self.assertEqual(res.json()["message"], "city service did not answer in time")

    def test_downstream_error_is_a_502_without_its_internals(self):
        self._mock.get("/cities/1", status=500, message="boom")
        res = self.client.get_user(id=1)
        self.assertEqual(res.status_code, 502)
        self.assertEqual(res.json()["code"], 50203)

    def test_downstream_garbage_is_a_502(self):
        self._mock.get("/cities/1", body="<html>proxy error</html>")
        res = self.client.get_user(id=1)
        self.assertEqual(res.status_code, 502)
        self.assertEqual(res.json()["code"], 50202)
