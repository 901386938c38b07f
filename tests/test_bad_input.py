"""Bad input against the running services: each refused with a clear 4xx in the unified
format, never a 5xx, and nothing written. The last test counts the rows."""

from __future__ import annotations

import httpx
import pytest

INJECTIONS = ["x'; DROP TABLE cities; --", "1 OR 1=1", "Robert'); DELETE FROM users;--", "$1", "\\x00'"]
JSON = {"content-type": "application/json"}


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# (service, method, path, request kwargs, expected status)
CASES = [
    ("city", "POST", "/cities", {"content": b'{"name": "a", ', "headers": JSON}, 400),
    ("city", "POST", "/cities", {"content": b"[1, 2]", "headers": JSON}, 400),
    ("city", "POST", "/cities", {"content": b'"a string"', "headers": JSON}, 400),
    ("city", "POST", "/cities", {"content": b"null", "headers": JSON}, 400),
    ("city", "POST", "/cities", {"content": b"", "headers": JSON}, 400),
    ("city", "POST", "/cities", {"json": {"name": 1, "province": ["x"]}}, 400),
    ("city", "POST", "/cities", {"json": {"name": "x" * 100_000, "province": "p"}}, 400),
    ("city", "POST", "/cities", {"content": b'{"name": "' + b"x" * 2_000_000 + b'"}', "headers": JSON}, 413),
    ("city", "POST", "/cities", {"content": nested(100_000), "headers": JSON}, 400),
    ("city", "POST", "/cities", {"content": b'{"name": "\xff\xfe", "province": "p"}', "headers": JSON}, 400),
    ("city", "POST", "/cities", {"json": {"name": "a\u0000b", "province": "p"}}, 400),
    ("city", "POST", "/cities", {"content": b'{"name": "a", "province": "p"}',
                                 "headers": {"content-type": "text/plain"}}, 415),
    ("city", "POST", "/cities", {"content": b"name=a&province=p",
                                 "headers": {"content-type": "application/x-www-form-urlencoded"}}, 415),
    ("role", "POST", "/roles", {"content": b'{"name": "r", "description": ' + b"9" * 500_000 + b"}", "headers": JSON},
     400),
    ("city", "GET", "/cities/99999999999999999999", {}, 400),
    ("city", "GET", "/cities/-1", {}, 404),
    ("city", "GET", "/cities/abc", {}, 404),
    ("city", "GET", "/cities", {"params": {"page": -1}}, 400),
    ("city", "GET", "/cities", {"params": {"page_size": 100_000}}, 400),
    ("city", "GET", "/cities", {"params": {"page": 10**30}}, 400),
    ("city", "GET", "/cities", {"params": {"page": "1 OR 1=1"}}, 400),
    ("city", "GET", "/cities", {"params": {"ids": "1;DROP TABLE cities"}}, 400),
    ("city", "GET", "/cities", {"params": {"ids": ",".join(map(str, range(500)))}}, 400),
    ("city", "DELETE", "/cities", {}, 405),
    ("city", "PATCH", "/cities/1", {"json": {}}, 400),
    ("city", "GET", "/../../etc/passwd", {}, 404),
    ("role", "POST", "/roles", {"json": {"name": None}}, 400),
    ("role", "POST", "/roles", {"json": {"name": "r", "description": {"a": 1}}}, 400),
    ("role", "PUT", "/roles/1", {"json": {"description": "only"}}, 400),
    ("user", "POST", "/users", {"json": {"name": "u", "age": 2**40, "sex": "f", "city_id": 1, "role_id": 1}}, 400),
    ("user", "POST", "/users", {"json": {"name": "u", "age": -5, "sex": "f", "city_id": 1, "role_id": 1}}, 400),
    ("user", "POST", "/users", {"json": {"name": "u", "age": True, "sex": "f", "city_id": 1, "role_id": 1}}, 400),
    ("user", "POST", "/users", {"json": {"name": "u", "age": 1, "sex": "f", "city_id": 2**31, "role_id": 1}}, 400),
    ("user", "POST", "/users", {"json": {"name": "u", "age": 1, "sex": "f", "city_id": 424242, "role_id": 1}}, 400),
    ("user", "GET", "/users/1", {"headers": {"X-B3-TraceId": "zz", "traceparent": "garbage"}}, 404),
    ("user", "GET", "/nowhere", {}, 404),
    ("user", "TRACE", "/users", {}, 405),
]
# Every service gets the body and query attacks, not only the first one.
LISTS = (("city", "/cities"), ("role", "/roles"), ("user", "/users"))
for _service, _path in LISTS:
    CASES += [
        (_service, "POST", _path, {"content": nested(100_000), "headers": JSON}, 400),
        (_service, "POST", _path, {"content": b'{"name": "' + b"x" * 2_000_000 + b'"}', "headers": JSON}, 413),
        (_service, "POST", _path, {"content": b'{"name": "\xff"}', "headers": JSON}, 400),
        (_service, "POST", _path, {"content": b"[]", "headers": JSON}, 400),
        (_service, "GET", _path + "/2147483648", {}, 400),
        (_service, "GET", _path, {"params": {"page_size": "1 OR 1=1"}}, 400),
        (_service, "GET", _path, {"params": {"page_size": -1}}, 400),
        (_service, "GET", _path, {"params": {"page": "'; DROP TABLE x; --"}}, 400),
    ]
CASES += [(service, "GET", path, {"params": {"ids": "1) OR (1=1"}}, 400) for service, path in LISTS[:2]]


@pytest.mark.parametrize("service,method,path,kwargs,expected", CASES,
                         ids=[f"{c[1]} {c[2][:40]} -> {c[4]}" for c in CASES])
def test_bad_input_is_refused_cleanly(stack, service, method, path, kwargs, expected):
    res = httpx.request(method, stack.url(service) + path, timeout=10, **kwargs)
    assert res.status_code == expected, res.text[:300]
    body = res.json()
    assert set(body) == {"code", "message", "error"} and body["code"] != 0
    assert "Traceback" not in res.text and "asyncpg" not in res.text and "SELECT" not in res.text


@pytest.mark.parametrize("text", INJECTIONS)
def test_sql_in_text_fields_is_stored_verbatim(stack, text):
    res = httpx.post(stack.url("city") + "/cities", json={"name": text, "province": text}, timeout=10)
    assert res.status_code == 201, res.text
    city = res.json()["data"]
    again = httpx.get(f"{stack.url('city')}/cities/{city['id']}", timeout=10).json()["data"]
    assert (again["name"], again["province"]) == (text, text)


@pytest.mark.parametrize("text", INJECTIONS)
def test_sql_in_role_and_user_text_is_stored_verbatim(stack, text):
    role = httpx.post(stack.url("role") + "/roles", json={"name": text, "description": text}, timeout=10)
    assert role.status_code == 201, role.text
    city_id = httpx.get(stack.url("city") + "/cities", timeout=10).json()["data"][0]["id"]
    body = {"name": text, "age": 30, "sex": text, "city_id": city_id, "role_id": role.json()["data"]["id"]}
    user = httpx.post(stack.url("user") + "/users", json=body, timeout=10)
    assert user.status_code == 201, user.text
    again = httpx.get(f"{stack.url('user')}/users/{user.json()['data']['id']}", timeout=10).json()["data"]
    assert (again["name"], again["sex"], again["role"]["name"], again["role"]["description"]) == (text,) * 4


@pytest.mark.parametrize("service,path", LISTS)
def test_sql_in_a_search_for_ids_finds_nothing_and_breaks_nothing(stack, service, path):
    res = httpx.get(stack.url(service) + path, params={"ids": "1,2", "page": "1"}, timeout=10)
    assert res.status_code == 200 and res.json()["code"] == 0


def test_only_the_valid_requests_wrote_rows(stack):
    for service, path in LISTS:
        body = httpx.get(stack.url(service) + path, params={"page_size": 100}, timeout=10).json()
        assert body["pagination"]["total"] == len(INJECTIONS), (service, body)
        names = sorted(row["name"] for row in body["data"])
        assert names == sorted(INJECTIONS), (service, names)
