"""Bodies checked against peewee models: every problem listed by field."""

import datetime

import peewee
import pytest

from sanicms import ValidationError
from sanicms.contract.validation import rules_for, validate


class Person(peewee.Model):
    id = peewee.AutoField()
    name = peewee.CharField(max_length=5)
    age = peewee.IntegerField(constraints=[peewee.Check("age >= 0")])
    score = peewee.FloatField(null=True)
    active = peewee.BooleanField(default=True)
    born = peewee.DateTimeField(null=True)
    created = peewee.DateTimeField(default=datetime.datetime.utcnow)

    class Meta:
        read_only = ("created",)


def problems(data, **kwargs):
    with pytest.raises(ValidationError) as info:
        validate(data, Person, **kwargs)
    return {p["field"]: p["message"] for p in info.value.error}


def test_rules_come_from_the_model():
    rules = rules_for(Person)
    assert set(rules) == {"name", "age", "score", "active", "born"}  # no pk, no read-only
    assert rules["name"].max_length == 5 and rules["name"].required
    assert rules["age"].minimum == 0 and rules["age"].maximum == 2**31 - 1
    assert not rules["score"].required and rules["score"].nullable
    assert not rules["active"].required


def test_clean_values_are_typed():
    clean = validate({"name": "Ann", "age": 3, "born": "2020-01-02T03:04:05Z", "score": None}, Person)
    assert clean["born"] == datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    assert clean == {"name": "Ann", "age": 3, "born": clean["born"], "score": None}


def test_every_problem_is_listed():
    found = problems({"name": "toolong", "age": -1, "active": "yes", "born": "yesterday", "extra": 1, "score": True})
    assert found == {"name": "must be at most 5 characters", "age": "must be >= 0",
                     "active": "must be true or false, got string", "born": "must be an ISO 8601 date-time",
                     "extra": "unknown field", "score": "must be a number, got boolean"}


def test_missing_and_null_and_wrong_shapes():
    assert problems({}) == {"name": "is required", "age": "is required"}
    assert problems({"name": None, "age": 1}) == {"name": "must not be null"}
    assert problems([1]) == {"": "expected an object, got array"}
    assert problems({"name": "a", "age": 2**31}) == {"age": "must be <= 2147483647"}


def test_partial_makes_fields_optional_but_not_empty():
    assert validate({"age": 4}, Person, partial=True) == {"age": 4}
    assert problems({}, partial=True) == {"": "give at least one field to change"}
