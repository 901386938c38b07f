"""Per-request work without middleware: route and respond hooks, and CORS only when asked for."""

import pytest
from sanic import Blueprint

from sanicms.request_hooks import RequestHooks, hooked
from sanicms.responses import EnvelopeRequest

DEAD_DB = "postgresql://nobody@127.0.0.1:1/none"  # the routes below never touch the database


def probe_blueprint():
    bp = Blueprint("probe", url_prefix="/probe")

    @bp.get("/<n:int>")
    async def probe(request, n):
        return {"n": n, "route": request.route.name}

    return bp


@pytest.fixture(scope="module")
def live(probe_servers):
    with probe_servers("routed_probe", probe_blueprint(), CORS_ORIGINS=["https://app.example"]) as server:
        yield server


def test_a_service_app_has_no_middleware_and_no_per_request_signal(live):
    # Sanic runs each middleware inside two signal dispatches: what the hooks replace.
    app = live.app
    assert list(app.request_middleware) == [] and list(app.response_middleware) == []
    assert not [r for r in app.signal_router.routes if r.path.startswith("http.")]


def test_the_hooks_see_the_route_and_the_handler_sees_it_too(live):
    res = live.request("GET", "/probe/7")
    assert res.status_code == 200 and res.json()["data"] == {"n": 7, "route": "routed_probe.probe.probe"}
    assert res.headers["x-trace-id"]
    res = live.request("GET", "/probe/4294967296")
    assert res.status_code == 400
    assert res.json()["error"] == [{"field": "n", "message": "must be between -2147483648 and 2147483647"}]


def test_cors_headers_only_for_a_request_with_an_origin(live):
    assert not [h for h in live.request("GET", "/probe/1").headers if h.lower().startswith("access-control-")]
    res = live.request("GET", "/probe/1", headers={"Origin": "https://app.example"})
    assert res.headers["access-control-allow-origin"] == "https://app.example"


def test_hooks_run_in_order_once_a_route_is_set_and_none_leaves_the_class_alone():
    from sanic import Request

    seen = []
    hooks = RequestHooks()
    hooks.on_route += [lambda request, route: seen.append(("a", route)),
                       lambda request, route: seen.append(("b", route))]
    cls = hooked(Request, hooks)
    request = cls(b"/", {}, "1.1", "GET", None, None)
    assert request.route is None and seen == []
    request.route = "R"
    assert request.route == "R" and seen == [("a", "R"), ("b", "R")]
    assert hooked(Request, RequestHooks()) is Request


def test_respond_hooks_need_a_request_class_that_calls_them():
    from sanic import Request

    hooks = RequestHooks()
    hooks.on_respond.append(lambda request, response: None)
    with pytest.raises(TypeError, match="calls no respond hooks"):
        hooked(Request, hooks)
    assert hooked(EnvelopeRequest, hooks).respond_hooks == tuple(hooks.on_respond)


def test_respond_hooks_run_in_order_on_the_final_response_and_awaitables_are_awaited(live):
    # The live app's own: CORS (a coroutine, only with an Origin), the span's end, the metrics.
    names = [getattr(hook, "__name__", type(hook).__name__) for hook in live.app.request_class.respond_hooks]
    assert names == ["add_cors_headers", "_end_server_span", "leave", "responded"]  # leave: sanicms.admission
    res = live.request("GET", "/probe/2", headers={"Origin": "https://app.example"})
    assert res.headers["access-control-allow-origin"] == "https://app.example"  # the awaited hook
    assert res.headers["x-trace-id"]  # the span's end
    scrape = live.request("GET", "/metrics").text
    assert 'route="/probe/{n}",status="200"' in scrape
