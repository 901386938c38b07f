"""References: the records of neighbours a row names, found on the model, checked and shown."""

import asyncio
from types import SimpleNamespace

import pytest
from peewee import AutoField, CharField, IntegerField, Model

from sanicms import References, ValidationError, published_shape


class Visit(Model):
    id = AutoField()
    note = CharField(max_length=20)
    city_id = IntegerField(help_text=published_shape("city", "City"))
    role_id = IntegerField(help_text=published_shape("role", "Role"), null=True)
    count = IntegerField()


class FakeClient:
    """A neighbour holding ``records``; counts the calls made to it."""

    def __init__(self, resource, records):
        self.resource, self.records, self.calls = resource, records, []

    async def get_or_none(self, request, path):
        self.calls.append(path)
        return self.records.get(int(path.rsplit("/", 1)[1]))

    async def get(self, request, path, params):
        self.calls.append((path, tuple(params["ids"])))
        return [self.records[i] for i in params["ids"] if i in self.records]


@pytest.fixture
def request_():
    clients = {"city": FakeClient("/cities", {1: {"id": 1, "name": "Suzhou"}, 2: {"id": 2, "name": "Xi'an"}}),
               "role": FakeClient("/roles", {5: {"id": 5, "name": "admin"}})}
    return SimpleNamespace(app=SimpleNamespace(ctx=SimpleNamespace(clients=clients)))


def test_the_model_says_which_fields_name_whose_records():
    references = References.of(Visit)
    assert references.fields == {"city_id": "city", "role_id": "role"}
    assert references.noun == "visit"


def test_a_row_is_shown_with_what_it_names_and_none_for_a_record_gone(request_):
    row = {"id": 9, "city_id": 2, "role_id": 4}
    shown = asyncio.run(References.of(Visit).expand(request_, row))
    assert shown == {**row, "city": {"id": 2, "name": "Xi'an"}, "role": None}


def test_a_page_costs_one_call_per_neighbour_each_id_asked_once(request_):
    rows = [{"id": 1, "city_id": 1, "role_id": 5}, {"id": 2, "city_id": 2, "role_id": 5},
            {"id": 3, "city_id": 1, "role_id": 5}]
    shown = asyncio.run(References.of(Visit).expand_many(request_, rows))
    assert [r["city"]["name"] for r in shown] == ["Suzhou", "Xi'an", "Suzhou"]
    assert [r["role"]["name"] for r in shown] == ["admin"] * 3
    assert request_.app.ctx.clients["city"].calls == [("/cities", (1, 2))]
    assert request_.app.ctx.clients["role"].calls == [("/roles", (5,))]


def test_an_empty_page_calls_nobody(request_):
    assert asyncio.run(References.of(Visit).expand_many(request_, [])) == []
    assert request_.app.ctx.clients["city"].calls == []


def test_a_body_naming_records_that_do_not_exist_is_refused_field_by_field(request_):
    with pytest.raises(ValidationError) as refused:
        asyncio.run(References.of(Visit).check(request_, {"city_id": 7, "role_id": 8}))
    assert refused.value.error == [{"field": "city_id", "message": "city 7 does not exist"},
                                   {"field": "role_id", "message": "role 8 does not exist"}]
    assert "the visit refers to records that do not exist" in str(refused.value)


def test_a_good_body_gets_the_records_for_the_reply_and_a_null_reference_is_not_asked(request_):
    found = asyncio.run(References.of(Visit).check(request_, {"city_id": 1, "role_id": None}))
    assert found == {"city": {"id": 1, "name": "Suzhou"}}
    assert request_.app.ctx.clients["role"].calls == []
