"""Bodies checked against peewee models: every problem listed by field."""

import datetime

import peewee
import pytest

from sanicms import ValidationError
from sanicms.contract.validation import rule_for, rules_for, validate


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
    # in UTC without a zone, as a timestamp column holds it (asyncpg refuses an aware value for one)
    assert clean["born"] == datetime.datetime(2020, 1, 2, 3, 4, 5)
    assert validate({"name": "Ann", "age": 3, "born": "2020-01-02T05:04:05+02:00"}, Person)["born"] == clean["born"]
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


class Order(peewee.Model):
    id = peewee.AutoField()
    status = peewee.CharField(max_length=10, choices=[("new", "New"), ("paid", "Paid"), ("shipped", "Shipped")])
    size = peewee.CharField(max_length=2, null=True, constraints=[peewee.Check("size IN ('S', 'M', 'it''s')")])
    qty = peewee.IntegerField(constraints=[peewee.Check("qty BETWEEN 1 AND 100")])
    rank = peewee.IntegerField(choices=[1, 2, 3], constraints=[peewee.Check("rank IN (2, 3, 4)")])
    note = peewee.CharField(max_length=9, null=True, constraints=[peewee.Check("note IN (SELECT x FROM y)")])


def test_choices_in_lists_and_between_become_rules():
    rules = rules_for(Order)
    assert rules["status"].choices == ("new", "paid", "shipped")  # Django-style pairs: their values
    assert rules["size"].choices == ("S", "M", "it's")
    assert (rules["qty"].minimum, rules["qty"].maximum) == (1, 100)
    assert rules["rank"].choices == (2, 3)  # both given: what both allow
    assert rules["note"].choices is None  # an expression is the database's to check


def test_a_value_outside_the_choices_is_refused_naming_them():
    with pytest.raises(ValidationError) as info:
        validate({"status": "lost", "size": "XL", "qty": 0, "rank": 1}, Order)
    assert {p["field"]: p["message"] for p in info.value.error} == {
        "status": "must be one of new, paid, shipped", "size": "must be one of S, M, it's",
        "qty": "must be >= 1", "rank": "must be one of 2, 3"}
    assert validate({"status": "paid", "size": None, "qty": 100, "rank": 3}, Order)["status"] == "paid"


def test_several_checks_on_one_column_all_hold():
    class Stock(peewee.Model):
        q = peewee.IntegerField(constraints=[peewee.Check("q > 0"), peewee.Check("q BETWEEN 1 AND 5")])
        r = peewee.IntegerField(constraints=[peewee.Check("r >= 10"), peewee.Check("r BETWEEN 1 AND 50")])
        s = peewee.CharField(max_length=1, constraints=[peewee.Check("s IN ('a', 'b')"),
                                                        peewee.Check("s IN ('b', 'c')")])

    rules = rules_for(Stock)
    assert (rules["q"].minimum, rules["q"].exclusive_minimum, rules["q"].maximum) == (1, False, 5)
    assert (rules["r"].minimum, rules["r"].maximum) == (10, 50)
    assert rules["s"].choices == ("b",)


def test_choices_that_allow_nothing_or_on_other_types_are_a_model_error():
    class Odd(peewee.Model):
        a = peewee.CharField(max_length=1, choices=["x"], constraints=[peewee.Check("a IN ('y')")])
        b = peewee.UUIDField(choices=["00000000-0000-0000-0000-000000000001"])

    with pytest.raises(TypeError, match="a: its choices and its CHECK"):
        rules_for(Odd)
    with pytest.raises(TypeError, match="b: choices are supported on text, number and boolean fields"):
        rule_for(Odd.b)


def test_a_body_check_names_a_model_mistake_where_it_is_declared():
    from sanicms import doc

    class Odd(peewee.Model):
        a = peewee.CharField(max_length=1, choices=["x"], constraints=[peewee.Check("a IN ('y')")])

    with pytest.raises(TypeError, match="a: its choices and its CHECK"):
        doc.consumes(Odd)  # at import of the views, not on the first request
