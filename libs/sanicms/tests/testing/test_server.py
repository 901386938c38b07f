"""LiveServer and RouteClient on a small app; the throwaway PostgreSQL's databases, made once."""

import pytest
from sanic import Blueprint

from sanicms.testing import RouteClient, postgres

bp = Blueprint("things", url_prefix="/things")


@bp.get("/<ident:int>")
async def get_thing(request, ident):
    return {"id": ident, "authorization": request.headers.get("authorization")}


@bp.post("/")
async def create_thing(request):
    return {"got": request.json, "q": dict(request.args)}


@pytest.fixture(scope="module")
def live(probe_servers):
    with probe_servers("probe_testing_server", bp) as server:
        yield server


def test_routes_are_called_by_handler_name_with_path_params_body_and_query(live):
    client = RouteClient(live, "things")
    assert client.get_thing(ident=3).json()["data"] == {"id": 3, "authorization": None}
    created = client.create_thing(data={"name": "x"}, params={"dry": "1"})
    assert created.json()["data"] == {"got": {"name": "x"}, "q": {"dry": ["1"]}}


def test_calls_carry_the_clients_token_another_or_none(live):
    client = RouteClient(live, "things", token="mine")
    assert client.get_thing(ident=1).json()["data"]["authorization"] == "Bearer mine"
    assert client.get_thing(ident=1, token="other").json()["data"]["authorization"] == "Bearer other"
    assert client.get_thing(ident=1, token=None).json()["data"]["authorization"] is None


def test_raw_sends_bytes_as_they_are_and_reads_until_the_server_closes(live):
    answer = live.raw(b"GET /things/4 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b'"id":4' in answer


def test_a_test_database_is_made_once_per_name():
    first = postgres.database("sanicms_lib_testing_server", [])
    assert postgres.database("sanicms_lib_testing_server", []) == first
    assert first.startswith("postgresql://")
