"""Work done on every request without middleware: once Sanic has routed it, and once its
response is final.

Sanic wraps each middleware call in two signal dispatches, and a signal handler on
``http.routing.after`` costs about as much (figures: docs/benchmarks.md, "Figures from the code").
Two plain calls do the same work:

- **route hooks** (tracing's server span, the path parameter check): Sanic assigns
  ``request.route`` right after routing, before it reads the body, runs middleware or calls
  the handler; the app's request class gets a ``route`` descriptor whose ``__set__`` stores
  the route and calls them. An exception a hook raises is handled like the handler's
  (Sanic's error handler answers it, with the route already set). The descriptor has no
  ``__get__``: reading ``request.route`` finds the value in the instance's ``__dict__``
  with no Python call at all (Sanic, sanic-ext and this library read it many times).
- **respond hooks** (CORS headers, the server span's end, the request metrics):
  :class:`~sanicms.responses.EnvelopeRequest` calls them, in order, once Sanic's own
  ``respond`` (response middleware included) has made the response final, before it is
  sent. Every response goes through it: handled, refused, failed or unmatched. One
  ``respond`` for all of them, rather than a subclass and a coroutine frame per concern.

The modules that need them append to the app's :class:`RequestHooks` while the app is
built; the app factory makes the request class from it last (:func:`hooked`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sanic import Request
from sanic.response import BaseHTTPResponse
from sanic_routing.route import Route

#: ``hook(request, route)``: called for each routed request, in order; may raise.
RouteHook = Callable[[Request, Route], None]
#: ``hook(request, response)``: called for each final response, in order; an awaitable it
#: returns is awaited (most return None: no coroutine made when there is nothing to wait for).
RespondHook = Callable[[Request, BaseHTTPResponse], Awaitable[None] | None]


class RequestHooks:
    """One app's per-request hooks, in the order they run."""

    def __init__(self) -> None:
        self.on_route: list[RouteHook] = []
        self.on_respond: list[RespondHook] = []


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


def hooked(request_class: type[Request], hooks: RequestHooks) -> type[Request]:
    """``request_class`` calling ``hooks`` (itself when there are none). Respond hooks need a
    class whose ``respond`` calls its ``respond_hooks``, as EnvelopeRequest's does."""
    # A subclass without __slots__ has a __dict__, where the descriptor keeps the route.
    namespace: dict[str, Any] = {"__module__": __name__}
    if hooks.on_route:
        namespace["route"] = _RouteSlot(hooks.on_route)
    if hooks.on_respond:
        inherited = getattr(request_class, "respond_hooks", None)
        if inherited is None:
            raise TypeError(f"{request_class.__name__}.respond calls no respond hooks")
        namespace["respond_hooks"] = (*inherited, *hooks.on_respond)
    if len(namespace) == 1:
        return request_class
    return type(f"Hooked{request_class.__name__}", (request_class,), namespace)

