"""Paying an invoice and listing the unpaid ones (hand-written; tests/invoice/pay_tests.py)."""

from invoice_service.migrations import MIGRATIONS
from invoice_service.server import create_app
from sanicms.contract.published import published_spec, schema_of
from sanicms.examples import example
from sanicms.testing import APITestCase

CALLER = "invoice_service"
USER = {**example(schema_of("user", "User", caller=CALLER), published_spec("user", caller=CALLER)), "id": 1}


class PayTest(APITestCase):
    app_factory = staticmethod(create_app)
    migrations = MIGRATIONS
    _blueprint = "invoices"

    def setUp(self):
        super().setUp()
        self._mock.get("/users/1", payload=USER)

    def invoice(self, number="A-1", amount="12.50", **fields):
        res = self.client.create_invoice(data={"number": number, "amount": amount, "user_id": 1, **fields})
        self.assertEqual(res.status_code, 201, res.text)
        return res.json()["data"]

    def test_money_round_trips_exactly(self):
        row = self.invoice(amount="0.10")
        self.assertEqual((row["amount"], row["currency"], row["paid"]), ("0.10", "EUR", False))
        self.assertEqual(self.db_execute("SELECT amount::text AS a FROM invoices"), [{"a": "0.10"}])
        res = self.client.create_invoice(data={"number": "A-2", "amount": 0.1, "user_id": 1})
        self.assertEqual(res.status_code, 400, res.text)
        self.assertEqual(res.json()["error"][0]["field"], "amount")

    def test_paying_twice_is_a_409(self):
        row = self.invoice()
        res = self.client.pay_invoice(id=row["id"])
        self.assertEqual(res.status_code, 200, res.text)
        self.assertEqual((res.json()["data"]["paid"], res.json()["data"]["user"]), (True, USER))
        res = self.client.pay_invoice(id=row["id"])
        self.assertEqual(res.json(), {"code": 409, "message": "the invoice is already paid", "error": None})
        self.assertEqual(self.client.pay_invoice(id=row["id"] + 1000).status_code, 404)

    def test_a_number_taken_is_a_409(self):
        self.invoice()
        res = self.client.create_invoice(data={"number": "A-1", "amount": "1", "user_id": 1})
        self.assertEqual(res.status_code, 409, res.text)

    def test_the_unpaid_ones_of_a_user(self):
        first, second = self.invoice("A-1"), self.invoice("A-2")
        self._mock.get("/users?ids=1", payload=[USER])
        self.client.pay_invoice(id=first["id"])
        res = self.client.unpaid_invoices(params={"user_id": 1})
        self.assertEqual(res.status_code, 200, res.text)
        self.assertEqual([row["id"] for row in res.json()["data"]], [second["id"]])
        self.assertEqual(self.client.unpaid_invoices(params={"user_id": 2}).json()["data"], [])

    def test_a_bad_user_id_is_a_400_naming_it(self):
        for params, message in (({}, "is required"), ({"user_id": 0}, "must be > 0"),
                                ({"user_id": "x"}, "must be an integer, got 'x'")):
            res = self.client.unpaid_invoices(params=params)
            self.assertEqual(res.status_code, 400, res.text)
            self.assertEqual(res.json()["error"], [{"field": "user_id", "message": message}])
