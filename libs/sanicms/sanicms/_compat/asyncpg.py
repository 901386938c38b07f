"""asyncpg's private names that sanicms uses, each with its reason.

``tests/_compat/test_asyncpg.py`` pins what each one is relied on to do, so an asyncpg
upgrade that changes one fails there, by name. (``InternalClientError``, which sanicms
catches as well, is public: ``asyncpg.exceptions`` exports it.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import asyncpg.exceptions._base as _asyncpg_base

#: asyncpg's client-side DataError (an InterfaceError), which only the private module names
#: (``asyncpg.DataError`` is SQLSTATE 22000's): the client's fault, never a lost connection.
ClientDataError: type[Exception] = _asyncpg_base.DataError


def free_holders(pool: asyncpg.Pool) -> asyncio.Queue[Any]:
    """The pool's queue of free connection holders (``Pool._queue``, made once by
    ``create_pool``): not ``empty()`` means ``acquire()`` need not wait for a release, asked
    once per request, where ``get_idle_size()`` calls two methods on every holder."""
    queue: asyncio.Queue[Any] = pool._queue
    return queue
