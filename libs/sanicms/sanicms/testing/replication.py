"""A real PostgreSQL primary with a real streaming replica, for tests of read replicas.

Built from the same binaries as :class:`~sanicms.testing.localdb.LocalPostgres` (pgserver's):
a primary with ``wal_level=replica``, a base backup of it taken with ``pg_basebackup -R``,
and that copy started as a hot standby in recovery. Both listen on 127.0.0.1 only, on ports
given here, so URLs are plain ``postgresql://postgres@127.0.0.1:PORT/DB``. The replica can
be killed (SIGKILL, no chance to clean up), started again (it recovers and catches up), and
have its replay paused and resumed.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2

from .._compat.pgserver import bin_dir, system_user
from .localdb import kill_server
from .processes import free_port

START_TIMEOUT = 60  # seconds pg_ctl waits for a server to accept connections


class Server:
    """One PostgreSQL server this process runs: its data directory, port, log."""

    def __init__(self, root: Path, name: str, user: str | None) -> None:
        self.pgdata = root / name
        self.port = free_port()
        self.log = root / f"{name}.log"
        self.sockets = root / f"{name}-sockets"
        self.user = user

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, program: str, *args: str, timeout: float = START_TIMEOUT) -> str:
        command = [str(bin_dir() / program), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, user=self.user)
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stdout}{result.stderr}")
        return result.stdout

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
        self.run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.log), "-o", options, "-w",
                 "-t", str(START_TIMEOUT), "start", timeout=START_TIMEOUT + 10)

    def stop(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.run("pg_ctl", "-D", str(self.pgdata), "-m", "immediate", "-w", "stop", timeout=30)

    def kill(self) -> None:
        """SIGKILL the server and every process it started (see :func:`kill_server`)."""
        kill_server(self.pgdata)

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[object, ...]]:
        """Run one statement (autocommit) and return its rows."""
        conn = psycopg2.connect(self.url(database), connect_timeout=10)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()


class ReplicatedPostgres:
    """A primary and one streaming replica: ``primary.url(db)``, ``replica.url(db)``."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sanicms-replication-"))
        self.user = system_user()
        if self.user:
            shutil.chown(self.root, self.user)
        self.primary = Server(self.root, "primary", self.user)
        self.replica = Server(self.root, "replica", self.user)

    def start(self) -> ReplicatedPostgres:
        primary, replica = self.primary, self.replica
        for server in (primary, replica):
            server.sockets.mkdir()
            if self.user:
                shutil.chown(server.sockets, self.user)
        primary.run("initdb", "-D", str(primary.pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with (primary.pgdata / "postgresql.conf").open("a") as conf:
            conf.write("wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\nfsync = off\n")
        primary.start()
        # -R writes the standby.signal file and primary_conninfo: the copy starts as a standby.
        replica.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                    "-D", str(replica.pgdata), "-R", "-X", "stream", "-c", "fast")
        replica.start()
        return self

    def wait_replayed(self, timeout: float = 30) -> None:
        """Until the replica has replayed everything the primary has written so far."""
        target = self.primary.execute("SELECT pg_current_wal_lsn()")[0][0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.replica.execute(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")[0][0]
            if done:
                return
            time.sleep(0.05)
        raise TimeoutError(f"the replica did not replay up to {target} within {timeout}s")

    def pause_replay(self) -> None:
        self.replica.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.replica.execute("SELECT pg_wal_replay_resume()")

    def close(self) -> None:
        self.replica.stop()
        self.primary.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ReplicatedPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

