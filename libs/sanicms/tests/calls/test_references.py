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
    assert found == {"city": {"id": 1, "name": "Suzhou"}, "role": None}  # a reply shows every reference
    assert request_.app.ctx.clients["role"].calls == []


def test_a_change_is_checked_with_the_records_the_row_goes_on_naming(request_):
    current = {"id": 3, "note": "x", "city_id": 2, "role_id": 5}
    found = asyncio.run(References.of(Visit).check(request_, {"note": "y"}, current))
    assert found == {"city": {"id": 2, "name": "Xi'an"}, "role": {"id": 5, "name": "admin"}}
    assert found.ids == {"city_id": 2, "role_id": 5}


def test_a_change_is_refused_for_what_it_names_not_for_what_the_row_named_before(request_):
    current = {"id": 3, "city_id": 9, "role_id": 5}  # city 9 is gone since: shown as None
    found = asyncio.run(References.of(Visit).check(request_, {"role_id": 5}, current))
    assert found == {"city": None, "role": {"id": 5, "name": "admin"}}
    with pytest.raises(ValidationError) as refused:
        asyncio.run(References.of(Visit).check(request_, {"city_id": 8}, current))
    assert refused.value.error == [{"field": "city_id", "message": "city 8 does not exist"}]


def test_the_written_row_gets_the_records_checked_for_it_without_asking_again(request_):
    references, current = References.of(Visit), {"id": 3, "city_id": 2, "role_id": None}
    found = asyncio.run(references.check(request_, {"count": 4}, current))
    written = {**current, "count": 4}
    assert asyncio.run(references.attach(request_, written, found)) == {
        **written, "city": {"id": 2, "name": "Xi'an"}, "role": None}
    assert request_.app.ctx.clients["city"].calls == ["/cities/2"]
    assert request_.app.ctx.clients["role"].calls == []


def test_a_row_changed_meanwhile_by_another_request_gets_its_own_records(request_):
    references = References.of(Visit)
    found = asyncio.run(references.check(request_, {"count": 4}, {"id": 3, "city_id": 2, "role_id": 5}))
    written = {"id": 3, "city_id": 1, "role_id": 5, "count": 4}  # another request moved it to city 1
    shown = asyncio.run(references.attach(request_, written, found))
    assert (shown["city"], shown["role"]) == ({"id": 1, "name": "Suzhou"}, {"id": 5, "name": "admin"})


def test_a_null_reference_is_shown_as_none_without_a_call(request_):
    references = References.of(Visit)
    row = {"id": 9, "city_id": 1, "role_id": None}
    assert asyncio.run(references.expand(request_, row))["role"] is None
    assert [r["role"] for r in asyncio.run(references.expand_many(request_, [row]))] == [None]
    assert request_.app.ctx.clients["role"].calls == []
