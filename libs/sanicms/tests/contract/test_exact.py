"""Money and the other kinds whose JSON form is text: the spec, the input check, the examples
and the reply agree (decimals as exact text with a pattern; times of day; UUIDs; fixed text)."""

import datetime
import re
import uuid
from decimal import Decimal

import pytest
from peewee import BlobField, Check, DecimalField, FixedCharField, ForeignKeyField, Model, TimeField, UUIDField

from sanicms.contract.openapi import WRITE, Schemas
from sanicms.contract.validation import rule_for, validate
from sanicms.errors import ValidationError
from sanicms.examples import example
from sanicms.responses import dumps


class Bill(Model):
    amount = DecimalField(max_digits=10, decimal_places=2, constraints=[Check("amount > 0")])
    fee = DecimalField(max_digits=4, decimal_places=0, null=True)
    due_at = TimeField(null=True)
    ref = UUIDField()
    code = FixedCharField(max_length=3, null=True)
    parent_id = ForeignKeyField("self", null=True)


def schema():
    schemas = Schemas()
    name = schemas.of(Bill, WRITE)["$ref"].rsplit("/", 1)[1]
    return schemas.components[name]


def test_a_decimal_is_text_whose_pattern_is_the_column():
    props = schema()["properties"]
    assert props["amount"] == {"type": "string", "format": "decimal",
                               "pattern": "^(?!0*(\\.0*)?$)[0-9]{1,8}(\\.[0-9]{1,2})?$"}
    assert props["fee"]["pattern"] == "^-?[0-9]{1,4}$"
    pattern = re.compile(props["amount"]["pattern"])
    assert [bool(pattern.fullmatch(t)) for t in ("12.50", "1", "0.01", "0.00", "-1", "1.005", "1e3", "١")] == \
           [True, True, True, False, False, False, False, False]


def test_a_decimal_is_read_exactly_and_replied_as_the_same_text():
    clean = validate({"amount": "12.50", "ref": str(uuid.UUID(int=1))}, Bill)
    assert clean["amount"] == Decimal("12.50")
    assert dumps({"amount": Decimal("12.50")}) == b'{"amount":"12.50"}'


@pytest.mark.parametrize(("value", "message"), [
    (12.5, 'must be a decimal number written as a string ("12.50"), got number'),
    ("12.505", "must be a decimal number with at most 8 digits before the point and 2 after it, got '12.505'"),
    ("0.00", "must be > 0"),
])
def test_a_decimal_the_column_cannot_hold_exactly_is_refused(value, message):
    with pytest.raises(ValidationError) as info:
        validate({"amount": value, "ref": str(uuid.UUID(int=1))}, Bill)
    assert info.value.error == [{"field": "amount", "message": message}]


def test_times_uuids_and_fixed_text():
    clean = validate({"amount": "1", "ref": str(uuid.UUID(int=1)), "due_at": "09:30:00", "code": "abc"}, Bill)
    assert clean["due_at"] == datetime.time(9, 30) and clean["ref"] == uuid.UUID(int=1)
    with pytest.raises(ValidationError) as info:
        validate({"amount": "1", "ref": "x", "due_at": "9:30", "code": "ab"}, Bill)
    assert {p["field"] for p in info.value.error} == {"ref", "due_at", "code"}
    assert schema()["properties"]["code"]["minLength"] == 3


def test_examples_are_valid_for_each_kind_and_leave_a_reference_of_its_own_null():
    body = example(schema(), {"components": {"schemas": {}}}, 2)
    assert body["amount"] == "2.00" and body["fee"] == "2" and body["due_at"] == "02:30:00"
    assert body["parent_id"] is None and uuid.UUID(body["ref"]) and len(body["code"]) == 3
    assert validate(body, Bill)


def test_a_field_with_no_json_form_fails_when_the_model_is_read():
    class Photo(Model):
        data = BlobField()
    with pytest.raises(TypeError, match="BlobField has no JSON form"):
        rule_for(Photo.data)
