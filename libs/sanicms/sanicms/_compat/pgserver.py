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


def bin_dir() -> Path:
    """The directory of pgserver's bundled PostgreSQL programs (initdb, pg_ctl, pg_basebackup)."""
    # only the private _commands names it; the public API runs one server, never a replica
    from pgserver._commands import POSTGRES_BIN_PATH

    path: Path = POSTGRES_BIN_PATH
    return path


def system_user() -> str | None:
    """The user PostgreSQL runs as: pgserver's own when this process is root (PostgreSQL
    refuses root), made if missing, as pgserver does; None otherwise."""
    import os

    if os.geteuid() != 0:
        return None
    from pgserver.utils import ensure_user_exists  # public module, helper not in any __all__

    ensure_user_exists("pgserver")
    return "pgserver"
