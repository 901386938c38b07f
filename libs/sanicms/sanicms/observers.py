"""Observers as lists: those given to a :class:`~sanicms.Database` (``observers``, ``timers``)
or a :class:`~sanicms.calls.client.ServiceClient` (``observers``, ``retry_listeners``), called
as one.

Whatever their number, the request path makes one call per statement or downstream call: to
nothing (no observer), to the observer itself (one: no layer in between), or to a fan-out
(several: the only case that pays for a loop).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

#: A hook around something: called with its arguments, returns a context manager or None.
Around = Callable[..., Any]
#: A hook told of something: called with its arguments, returns nothing.
Listener = Callable[..., None]


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
        scopes = [scope for observe in self.observers if (scope := observe(*args)) is not None]
        if not scopes:
            return None
        return scopes[0] if len(scopes) == 1 else _Scopes(scopes)

    def __repr__(self) -> str:
        return f"around({list(self.observers)!r})"


class _Scopes:
    """Several context managers as one: opened in order, closed in reverse, each told of a
    failure inside (and of one from those opened after it)."""

    __slots__ = ("scopes", "stack")

    def __init__(self, scopes: list[Any]) -> None:
        self.scopes = scopes
        self.stack: ExitStack | None = None

    def __enter__(self) -> _Scopes:
        with ExitStack() as stack:  # one that fails to open closes those opened before it
            for scope in self.scopes:
                stack.enter_context(scope)
            self.stack = stack.pop_all()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool | None:
        assert self.stack is not None, "entered first"
        return self.stack.__exit__(exc_type, exc, tb)


class _Each:
    __slots__ = ("listeners",)

    def __init__(self, listeners: tuple[Listener, ...]) -> None:
        self.listeners = listeners

    def __call__(self, *args: Any) -> None:
        for listener in self.listeners:
            listener(*args)

    def __repr__(self) -> str:
        return f"each({list(self.listeners)!r})"
