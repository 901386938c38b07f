"""What the test helpers rely on in pgserver's internals (sanicms/_compat/pgserver.py), on a
throwaway server of pgserver's own.

A failure here after an upgrade names the internal that changed; fix the fence, not the callers.
"""

import os

import pgserver
import pytest

from sanicms._compat.pgserver import forget_postmaster, pg_ctl


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def pgdata(tmp_path_factory):
    """One data directory for the module's servers (initdb once; each test starts its own)."""
    return tmp_path_factory.mktemp("pgserver") / "pgdata"


@pytest.fixture
def server(pgdata):
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    yield server
    if (pgdata / "postmaster.pid").exists():
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=server.system_user)
    server.cleanup()  # nothing left to stop; a second call does nothing


def test_pg_ctl_stops_the_server_and_a_forgotten_postmaster_is_started_afresh(server):
    first = server.get_pid()
    assert server._postmaster_info is not None, "PostgresServer no longer keeps its postmaster in _postmaster_info"
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
    assert not (server.pgdata / "postmaster.pid").exists(), "pgserver's pg_ctl did not stop the server"
    forget_postmaster(server)
    server.ensure_postgres_running()
    assert server.get_pid() != first  # a new postmaster, on the same data


def test_cleanup_stops_only_the_postmaster_it_remembers(server):
    pid = server.get_pid()
    forget_postmaster(server)
    server.cleanup()  # pgserver's stop: with nothing remembered, nothing to stop (a killed one's zombie)
    assert alive(pid), "cleanup() stopped a postmaster that _postmaster_info no longer named"


def test_its_bundled_programs_include_those_a_streaming_replica_needs():
    from sanicms._compat.pgserver import bin_dir, system_user

    for program in ("initdb", "pg_ctl", "pg_basebackup", "postgres"):
        assert (bin_dir() / program).is_file(), program
    assert system_user() == ("pgserver" if os.geteuid() == 0 else None)
