"""Access control across real service processes: tokens checked by every service, passed
on from user to city and role, attacks refused with nothing written."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from localstack import SERVICES, LocalStack

from sanicms.auth import mint
from sanicms.testing.processes import free_port

SECRET = "e2e-auth-secret-" + "k" * 32
EVERYTHING = [f"{name}:{verb}" for name, _, _ in SERVICES for verb in ("read", "write")]
PATHS = {"city": "/cities", "role": "/roles", "user": "/users"}


@pytest.fixture(scope="module")
def secured(pg_server, tmp_path_factory):
    ports = {name: free_port() for name, _, _ in SERVICES}
    stack = LocalStack(pg_server, ports=ports, log_dir=tmp_path_factory.mktemp("logs"), db_prefix="auth_",
                       fresh=True, env={"AUTH_ENABLED": "true", "AUTH_SECRET": SECRET}).start()
    yield stack
    stack.stop()


def token(*scopes: str, **claims) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(scopes, secret=SECRET, **claims)}"}


def call(method: str, url: str, headers: dict | None = None, **kwargs) -> httpx.Response:
    return httpx.request(method, url, headers=headers, timeout=10, **kwargs)


@pytest.fixture(scope="module")
def user(secured):
    admin = token(*EVERYTHING)
    city = call("POST", secured.url("city") + "/cities", admin, json={"name": "Lhasa", "province": "Tibet"})
    role = call("POST", secured.url("role") + "/roles", admin, json={"name": "auditor"})
    assert city.status_code == role.status_code == 201, (city.text, role.text)
    res = call("POST", secured.url("user") + "/users", admin, json={
        "name": "Ann", "age": 30, "sex": "f",
        "city_id": city.json()["data"]["id"], "role_id": role.json()["data"]["id"]})
    assert res.status_code == 201, res.text
    return res.json()["data"]


def test_the_callers_token_is_passed_on_to_city_and_role(secured, user):
    url = f"{secured.url('user')}/users/{user['id']}"
    res = call("GET", url, token("user:read", "city:read", "role:read"))
    assert res.status_code == 200, res.text
    assert res.json()["data"]["city"]["name"] == "Lhasa" and res.json()["data"]["role"]["name"] == "auditor"
    # the same call without city:read: city refuses the forwarded token, and the caller gets
    # its own 403 naming the scope city wants (not a 502: nothing is broken but the token)
    res = call("GET", url, token("user:read", "role:read"))
    assert res.status_code == 403, res.text
    assert res.json()["error"] == {"service": "city", "detail": {"required": ["city:read"]}}


def test_every_service_wants_a_token_but_health_and_docs_are_open(secured):
    for name, _, _ in SERVICES:
        base = secured.url(name)
        res = call("GET", base + secured.collection(name))
        assert res.status_code == 401 and res.headers["www-authenticate"] == f'Bearer realm="{name}"'
        assert call("GET", base + "/healthz").status_code == 200
        assert call("GET", base + "/openapi/spec.json").json()["components"]["securitySchemes"]["bearer"]


def forged(claims: dict, header: dict) -> str:
    def b64(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{b64(header)}.{b64(claims)}."


def attacks() -> dict[str, dict[str, str]]:
    good = mint(EVERYTHING, secret=SECRET)
    head, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return {
        "no token": {},
        "malformed header": {"Authorization": "Bearer"},
        "alg none": {"Authorization": "Bearer " + forged(claims, {"alg": "none", "typ": "JWT"})},
        "expired": token(*EVERYTHING, ttl=-600),
        "not yet valid": token(*EVERYTHING, nbf=claims["iat"] + 3600),
        "wrong key": {"Authorization": "Bearer " + mint(EVERYTHING, secret="another-" + "k" * 40)},
        "tampered payload": {"Authorization": "Bearer " + ".".join(
            [head, forged({**claims, "sub": "root"}, {}).split(".")[1], signature])},
        "read scope only": token("city:read", "role:read", "user:read"),
    }


@pytest.mark.parametrize("attack", list(attacks()))
def test_attacks_on_writes_are_refused_and_write_nothing(secured, user, attack):
    headers = attacks()[attack]
    before = {name: call("GET", secured.url(name) + path, token(*EVERYTHING)).json()["pagination"]["total"]
              for name, path in PATHS.items()}
    writes = [
        ("POST", secured.url("city") + "/cities", {"name": "Evil", "province": "X"}),
        ("POST", secured.url("user") + "/users", {"name": "Eve", "age": 1, "sex": "f", "city_id": user["city_id"],
                                                   "role_id": user["role_id"]}),
        ("PUT", f"{secured.url('user')}/users/{user['id']}", {"name": "Eve", "age": 1, "sex": "f",
                                                              "city_id": user["city_id"], "role_id": user["role_id"]}),
        ("DELETE", f"{secured.url('role')}/roles/{user['role_id']}", None),
    ]
    for method, url, body in writes:
        res = call(method, url, headers, json=body)
        expected = 403 if attack == "read scope only" else 401
        assert res.status_code == expected, (method, url, res.status_code, res.text)
        assert res.json()["code"] == expected and "Traceback" not in res.text
    after = {name: call("GET", secured.url(name) + path, token(*EVERYTHING)).json()["pagination"]["total"]
             for name, path in PATHS.items()}
    assert after == before
    still = call("GET", f"{secured.url('user')}/users/{user['id']}", token(*EVERYTHING)).json()["data"]
    assert still["name"] == "Ann"


def test_a_token_in_the_query_string_is_ignored(secured):
    res = call("GET", secured.url("city") + "/cities", params={"access_token": mint(EVERYTHING, secret=SECRET)})
    assert res.status_code == 401
