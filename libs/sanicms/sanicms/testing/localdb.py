"""A real PostgreSQL for tests and the demo, with nothing to install but Python packages.

With ``DATABASE_URL`` set, that server is used. Otherwise a throwaway server is started
from the binaries bundled in the ``pgserver`` package (a second or so) in a temporary
directory that is deleted when it stops. Each service gets its own database on it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

from .._compat.pgserver import forget_postmaster, pg_ctl

if TYPE_CHECKING:
    import psutil  # imported where used: only the crash tests need it


@contextlib.contextmanager
def throwaway_server(environ_var: str = "DATABASE_URL") -> Iterator[str]:
    """Yield the URL of a PostgreSQL server's maintenance database."""
    given = os.environ.get(environ_var)
    if given:
        yield database_url(given, "postgres")
        return
    with LocalPostgres() as server:
        yield server.url


class LocalPostgres:
    """A throwaway server this process controls: fault tests stop and start it."""

    def __init__(self) -> None:
        import pgserver  # only needed when no server is given

        self.data_dir = tempfile.mkdtemp(prefix="sanicms-pg-")
        # pgserver's __init__ re-exports get_server without saying so (no __all__, no "as")
        self._server = pgserver.get_server(self.data_dir, cleanup_mode="delete")  # type: ignore[attr-defined]
        self.url = self._server.get_uri("postgres")

    def stop(self) -> None:
        """Shut the server down fast, as a crash or failover would (clients are cut off)."""
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self._server.pgdata, user=self._server.system_user)

    def kill(self, timeout: float = 10) -> list[int]:
        """Crash the server the hard way: SIGKILL the postmaster and every process it
        started, with no chance to clean up (``start()`` then runs crash recovery). They are
        all stopped (SIGSTOP) first, so that none answers once another is gone: one instant,
        as when the machine dies. Returns the pids killed.

        Killed processes may stay zombies when nothing reaps them (a container whose
        init does not), and PostgreSQL refuses to start while the pid in a lock file is
        alive to ``kill(pid, 0)``; once every process is dead, those lock files are stale
        and are removed, as an operator would after a crash."""
        pids = kill_server(self._server.pgdata, timeout)
        forget_postmaster(self._server)  # nothing to stop when closed before a restart
        return pids

    def start(self) -> None:
        """Start it again on the same socket; the URL does not change."""
        self._server.ensure_postgres_running()

    def close(self) -> None:
        self._server.cleanup()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def kill_server(pgdata: Path, timeout: float = 10) -> list[int]:
    """SIGKILL the postmaster of the data directory ``pgdata`` and every process it started,
    all stopped (SIGSTOP) first so that none answers once another is gone; then remove the
    lock files they leave (see :meth:`LocalPostgres.kill`). Returns the pids killed."""
    import psutil

    pid_file = pgdata / "postmaster.pid"
    lines = pid_file.read_text().splitlines()
    postmaster = psutil.Process(int(lines[0]))
    postmaster.send_signal(signal.SIGSTOP)  # forks no more
    procs = [postmaster, *postmaster.children(recursive=True)]
    for proc in procs[1:]:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGSTOP)
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while any(_alive(proc) for proc in procs):
        if time.monotonic() > deadline:
            raise TimeoutError(f"postgres processes survived SIGKILL: {[p.pid for p in procs if _alive(p)]}")
        time.sleep(0.02)
    socket_dir = lines[4].strip() if len(lines) > 4 else ""
    if socket_dir:
        for lock in Path(socket_dir).glob(".s.PGSQL.*.lock"):
            lock.unlink(missing_ok=True)
    pid_file.unlink(missing_ok=True)
    return [proc.pid for proc in procs]


def _alive(proc: psutil.Process) -> bool:
    import psutil

    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def database_url(server_url: str, name: str) -> str:
    """The URL of database ``name`` on the same server."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path="/" + name))


def create_database(server_url: str, name: str, *, fresh: bool = False) -> str:
    """Create database ``name`` unless it exists (drop it first if ``fresh``); return its URL."""
    conn = psycopg2.connect(database_url(server_url, "postgres"), connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            if fresh:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()
    return database_url(server_url, name)
