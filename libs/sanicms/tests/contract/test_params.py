"""Query parameters: pages and id lists read strictly, every refusal a 400 naming the field."""

from types import SimpleNamespace
from urllib.parse import parse_qs

import pytest
from sanic.request import RequestParameters

from sanicms import ValidationError, ids_from, page_from


def request_for(query: str):
    args = RequestParameters(parse_qs(query, keep_blank_values=True))
    api = SimpleNamespace(page_size_default=20, page_size_max=100)
    return SimpleNamespace(get_args=lambda keep_blank_values=False: args,
                           app=SimpleNamespace(ctx=SimpleNamespace(settings=SimpleNamespace(api=api))))


def refusal(read, query):
    with pytest.raises(ValidationError) as refused:
        read(request_for(query))
    return refused.value.error


def test_a_page_and_its_defaults():
    assert (page_from(request_for("page=3&page_size=5")).offset, page_from(request_for("")).limit) == (10, 20)


def test_ids_in_one_list_or_repeated_are_the_same_distinct_ids():
    assert ids_from(request_for("ids=3,1,3")) == [3, 1]
    assert ids_from(request_for("ids=3&ids=1,2")) == [3, 1, 2]
    assert ids_from(request_for("page=1")) is None


def test_a_page_knows_whether_it_was_asked_for():
    asked = [page_from(request_for(q)).given for q in ("", "ids=1", "page=1", "page_size=5")]
    assert asked == [False, False, True, True]


@pytest.mark.parametrize("query", ["page=1&page=2", "page_size=5&page_size=50"])
def test_a_paging_parameter_given_twice_is_refused(query):
    assert refusal(page_from, query) == [{"field": query.split("=")[0], "message": "must be given once"}]


@pytest.mark.parametrize("query,message", [
    ("ids=", "'' is not an integer"), ("ids=1,x", "'x' is not an integer"),
    ("ids=2147483648", "2147483648 is out of range"),
])
def test_bad_ids_are_named(query, message):
    assert refusal(ids_from, query) == [{"field": "ids", "message": message}]
