"""peewee migrations: create, record, run pending versions once, twice is a no-op."""

import subprocess
import sys

import peewee
import psycopg2

from sanicms.data.migrations import MigrationModel, info, run_migrations
from sanicms.testing import postgres
from sanicms.testing.localdb import create_database


class Pet(peewee.Model):
    id = peewee.AutoField()
    name = peewee.CharField(max_length=20)
    nickname = peewee.CharField(max_length=20, null=True)

    class Meta:
        table_name = "pets"


class PetMigration(MigrationModel):
    _model = Pet


class PetMigrationV2(MigrationModel):
    _model = Pet

    @info(version="v2", author="tests")
    def migrate_v2(self):
        """add nickname"""
        self.migrate(self.add_column("nickname"))


def columns(url):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'pets' ORDER BY 1")
        return [r[0] for r in cur.fetchall()]


def records(url):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT table_name, version, author, description FROM migrate_record ORDER BY id")
        return cur.fetchall()


def test_fresh_table_is_created_and_versions_recorded_as_applied():
    url = create_database(postgres.server_url(), "sanicms_mig_fresh", fresh=True)
    assert run_migrations(url, [PetMigrationV2]) == {"pets": ["v2"]}
    assert columns(url) == ["id", "name", "nickname"]
    assert records(url) == [("pets", "v2", "tests", "add nickname")]
    assert run_migrations(url, [PetMigrationV2]) == {"pets": []}  # twice: no-op
    assert len(records(url)) == 1


def test_pending_migration_runs_once_on_an_existing_table():
    url = create_database(postgres.server_url(), "sanicms_mig_old", fresh=True)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:  # the table as an older release left it
        cur.execute("CREATE TABLE pets (id serial PRIMARY KEY, name varchar(20) NOT NULL)")
    assert run_migrations(url, [PetMigration]) == {"pets": []}
    assert run_migrations(url, [PetMigrationV2]) == {"pets": ["v2"]}
    assert columns(url) == ["id", "name", "nickname"]
    assert run_migrations(url, [PetMigrationV2]) == {"pets": []}


MIGRATE_IN_A_SERVICE_PROCESS = """
import sys
import sanicms  # first, as in a service: peewee comes in without its drivers
import peewee
assert peewee.psycopg2 is None and "psycopg2" not in sys.modules
from sanicms.data.migrations import MigrationModel, run_migrations

class Pet(peewee.Model):
    id = peewee.AutoField()
    name = peewee.CharField(max_length=20)

    class Meta:
        table_name = "pets"

class PetMigration(MigrationModel):
    _model = Pet

print(run_migrations(sys.argv[1], [PetMigration]))
"""


def test_migrations_connect_where_peewee_was_imported_without_psycopg2():
    url = create_database(postgres.server_url(), "sanicms_mig_lean", fresh=True)
    run = subprocess.run([sys.executable, "-c", MIGRATE_IN_A_SERVICE_PROCESS, url], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "{'pets': []}"
    assert columns(url) == ["id", "name"]
