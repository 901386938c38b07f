"""Observers as lists: those given to a :class:`~sanicms.Database` (``observers``, ``timers``)
or a :class:`~sanicms.calls.client.ServiceClient` (``observers``, ``retry_listeners``), called
as one.

Whatever their number, the request path makes one call per statement or downstream call: to
nothing (no observer), to the observer itself (one: no layer in between), or to a fan-out
(several: the only case that pays for a loop).

Tracing and metrics give theirs through :class:`Instrumentation` when the app factory makes
the pool and the clients, and bind them to the worker's tracer and instruments when the
server starts: nothing is added to a pool or a client after it was made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

#: A hook around something: called with its arguments, returns a context manager or None.
Around = Callable[..., Any]
#: A hook told of something: called with its arguments, returns nothing.
Listener = Callable[..., None]


class Instrumentation(Protocol):
    """What one concern (tracing, metrics) observes the pool and the clients with, asked
    once per pool and per client as the app factory makes them."""

    def statement_observers(self, dsn: str, role: str) -> Iterable[Around]:
        """Around each statement on the server at ``dsn`` (``role``: primary or replica, or
        empty for a pool without replicas: nothing to tell apart)."""
        ...

    def statement_timers(self, dsn: str, role: str) -> Iterable[Listener]:
        """Told of each statement on that server once it ended."""
        ...

    def call_observers(self, name: str, base_url: str) -> Iterable[Around]:
        """Around each call to the neighbour ``name``."""
        ...

    def retry_listeners(self, name: str) -> Iterable[Listener]:
        """Told before each retry of a call to ``name``."""
        ...


def around(observers: Sequence[Around]) -> Around | None:
    """Hooks that each return a context manager (or None), as one hook: None without any,
    the hook itself when alone, else one whose context managers open in the given order and
    close in reverse."""
    if not observers:
        return None
    if len(observers) == 1:
        return observers[0]
    return _Around(tuple(observers))


def each(listeners: Sequence[Listener]) -> Listener | None:
    """Plain callbacks as one: None without any, the callback itself when alone, else one
    that calls each in the given order."""
    if not listeners:
        return None
    if len(listeners) == 1:
        return listeners[0]
    return _Each(tuple(listeners))


class _Around:
    __slots__ = ("observers",)

    def __init__(self, observers: tuple[Around, ...]) -> None:
        self.observers = observers

    def __call__(self, *args: Any) -> Any:
        scope = None
        for observe in reversed(self.observers):  # built inside out: the first ends outermost
            opened = observe(*args)
            if opened is not None:
                scope = opened if scope is None else _Nested(opened, scope)
        return scope

    def __repr__(self) -> str:
        return f"around({list(self.observers)!r})"


class _Nested:
    """``with outer: with inner:`` as one context manager: each told of a failure inside
    (and the outer one of a failure of the inner one). Two plain calls each way, cheaper
    than an ExitStack per statement (tracing and metrics make two on every one)."""

    __slots__ = ("inner", "outer")

    def __init__(self, outer: Any, inner: Any) -> None:
        self.outer = outer
        self.inner = inner

    def __enter__(self) -> _Nested:
        self.outer.__enter__()
        try:
            self.inner.__enter__()
        except BaseException as exc:  # the outer one closes, as a with statement would
            self.outer.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        try:
            suppressed = bool(self.inner.__exit__(exc_type, exc, tb))
        except BaseException as error:
            if self.outer.__exit__(type(error), error, error.__traceback__):
                return True
            raise
        if suppressed:
            exc_type = exc = tb = None
        return bool(self.outer.__exit__(exc_type, exc, tb)) or suppressed


class _Each:
    __slots__ = ("listeners",)

    def __init__(self, listeners: tuple[Listener, ...]) -> None:
        self.listeners = listeners

    def __call__(self, *args: Any) -> None:
        for listener in self.listeners:
            listener(*args)

    def __repr__(self) -> str:
        return f"each({list(self.listeners)!r})"
