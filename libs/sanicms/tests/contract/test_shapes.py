"""Shapes accepted by consumes/produces, read as peewee models."""

import uuid

import peewee
import pytest

from sanicms.contract.shapes import as_model, field_for, is_record, reference_name, referenced_shape
from sanicms.contract.validation import read_only_fields, rules_for


class CityApi:
    """A city."""

    id = peewee.IntegerField(verbose_name="city id")
    name = peewee.CharField(max_length=5)


class User(peewee.Model):
    id = peewee.AutoField()
    city_id = peewee.IntegerField(help_text=CityApi)
    role = peewee.IntegerField(help_text=CityApi)
    note = peewee.CharField(help_text="just a hint")


def test_a_model_is_itself():
    assert as_model(User) is User


def test_a_class_of_fields_becomes_a_model_without_touching_the_class():
    model = as_model(CityApi)
    assert model is as_model(CityApi)  # built once
    assert [f.name for f in model._meta.sorted_fields] == ["id", "name"]
    assert model.__doc__ == "A city."
    assert read_only_fields(model) == set()  # no primary key: "id" is a plain field here
    assert set(rules_for(model)) == {"id", "name"}
    assert not hasattr(CityApi.id, "model")


def test_a_dict_of_types_becomes_a_model():
    model = as_model({"n": int, "u": uuid.UUID, "t": str | None})
    rules = rules_for(model)
    assert (rules["n"].kind, rules["u"].kind, rules["t"].kind) == ("integer", "uuid", "string")
    assert rules["t"].nullable and not rules["t"].required


def test_what_is_not_a_record():
    assert not is_record({"a": [CityApi]})
    assert not is_record(object)
    with pytest.raises(TypeError):
        as_model({"a": object()})
    with pytest.raises(TypeError):
        field_for(bytes)


def test_help_text_naming_a_class_is_a_reference():
    fields = User._meta.fields
    assert referenced_shape(fields["city_id"]) is CityApi
    assert referenced_shape(fields["note"]) is None
    assert reference_name(fields["city_id"]) == "city"
    assert reference_name(fields["role"]) == "role_object"
