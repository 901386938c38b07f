"""The invoice table (hand-edited after ``new-service invoice --calls user``; tests/test_invoice.py).

Money is a DecimalField: exact text in JSON ("12.50"), its pattern in the spec."""

import datetime

from peewee import AutoField, BooleanField, CharField, Check, DateTimeField, DecimalField, IntegerField, Model

from sanicms import published_shape

#: As the neighbours reply, read from their published specs (the copies in neighbours/).
UserApi = published_shape("user", "User")


class Invoice(Model):
    id = AutoField(verbose_name="invoice id")
    number = CharField(max_length=32, unique=True, verbose_name="invoice number, unique")
    amount = DecimalField(max_digits=12, decimal_places=2, constraints=[Check("amount > 0")],
                          verbose_name="amount due, in the currency")
    currency = CharField(max_length=3, choices=["EUR", "USD", "CNY"], default="EUR", verbose_name="ISO 4217 code")
    user_id = IntegerField(verbose_name="the user this invoice is for", help_text=UserApi)
    paid = BooleanField(default=False, verbose_name="whether it is paid (POST /invoices/<id>/pay)")
    create_time = DateTimeField(default=datetime.datetime.utcnow, verbose_name="creation time (UTC)")

    class Meta:
        table_name = "invoices"
        read_only = ("create_time", "paid")
