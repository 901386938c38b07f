"""The session reset, skipped when nothing could need it.

A connection goes back to the pool without asyncpg's session reset (a round trip per checkout:
``RESET ALL``, ``UNLISTEN *``, advisory locks released, cursors closed) when its checkout ran
only :class:`Stateless` statements, which :class:`sanicms.Table` writes: they read and write rows
and leave the session as they found it. Any other statement, or the raw connection handed
out, and the reset runs as usual. ``DB_RESET_ALWAYS`` runs it after every checkout.
"""

from __future__ import annotations

from typing import Any

import asyncpg


class Stateless:
    """SQL known to leave no session state behind (no ``SET``, advisory lock, ``LISTEN``,
    cursor ``WITH HOLD``): a checkout that ran only these skips the reset. Table's statements
    are; wrap a service's own only when that holds for it and any trigger it fires. (Not a
    ``str`` subclass: asyncpg takes exact strings only.)"""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Stateless({self.text!r})"


class PooledConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg ships partial types
    """A pool's connection that can be told its session needs no reset on this release."""

    __slots__ = ("_session_clean",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session_clean = False

    def mark_session_clean(self) -> None:
        """Only :class:`Stateless` statements ran since this connection was taken."""
        self._session_clean = True

    def take_session_clean(self) -> bool:
        clean, self._session_clean = self._session_clean, False
        return clean


async def reset_session(conn: PooledConnection) -> None:
    """The pool's ``reset``, after asyncpg's own part (an open transaction rolled back,
    listeners dropped): the session reset, unless the checkout marked the session clean."""
    if conn.take_session_clean():
        return
    query = conn.get_reset_query()
    if query:
        await conn.execute(query)
