"""Work done on every request once Sanic has routed it, without middleware.

Sanic wraps each middleware call in two signal dispatches (about 13 µs per middleware on
the bench machine, 11 % of a traced request for a request/response pair; see
docs/benchmarks.md), and a signal handler on ``http.routing.after`` costs about as much.
But Sanic assigns ``request.route`` right after routing, before it reads the body, runs
middleware or calls the handler; the app's request class gets a ``route`` descriptor whose
``__set__`` stores the route and calls the hooks (tracing's server span, the path parameter
check): one plain call each. An exception a hook raises is handled like the handler's
(Sanic's error handler answers it, with the route already set).

The descriptor has no ``__get__``: reading ``request.route`` finds the value in the
instance's ``__dict__`` with no Python call at all (Sanic, sanic-ext and this library read
it many times per request).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sanic import Request
from sanic_routing.route import Route

#: ``hook(request, route)``: called for each routed request, in order; may raise.
RouteHook = Callable[[Request, Route], None]


class _RouteSlot:
    """Stores ``request.route`` in the instance's ``__dict__`` and calls the hooks on a route."""

    __slots__ = ("hooks",)

    def __init__(self, hooks: Sequence[RouteHook]) -> None:
        self.hooks = tuple(hooks)

    def __set__(self, request: Request, route: Route | None) -> None:
        request.__dict__["route"] = route
        if route is not None:
            for hook in self.hooks:
                hook(request, route)


def routed(request_class: type[Request], hooks: Sequence[RouteHook]) -> type[Request]:
    """``request_class`` calling ``hooks`` once each request is routed (itself when none)."""
    if not hooks:
        return request_class
    # A subclass without __slots__ has a __dict__, where the descriptor keeps the route.
    namespace: dict[str, Any] = {"route": _RouteSlot(hooks), "__module__": __name__}
    return type(f"Routed{request_class.__name__}", (request_class,), namespace)
