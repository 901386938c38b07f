"""pgserver's private internals that the test helpers use, each with its reason.

Pinned by ``libs/sanicms/tests/_compat/test_pgserver.py``. pgserver is a testing extra: it is
imported when these are called, never with this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pg_ctl(args: list[str], *, pgdata: Path, user: str | None) -> str:
    """Run pgserver's own ``pg_ctl`` on the data directory ``pgdata``; its output."""
    # pg_ctl is made at import in the private _commands; the public API cannot stop a server it keeps
    from pgserver._commands import pg_ctl as run  # type: ignore[attr-defined]

    output: str = run(args, pgdata=pgdata, user=user)
    return output


def forget_postmaster(server: Any) -> None:
    """Make ``server`` (a ``PostgresServer``) forget the postmaster it started, once that has
    been killed from outside: its cleanup has nothing to stop, its next start starts one."""
    # PostgresServer remembers it in _postmaster_info, and has no public way to let go of it
    server._postmaster_info = None
