"""Schema migrations with peewee: models describe tables, asyncpg does the serving.

A service declares one :class:`MigrationModel` per model::

    class CityMigration(MigrationModel):
        _model = City

        @info(version="v2", author="ops")
        def migrate_v2(self):
            self.migrate(self.add_column("province"))

``auto_migrate()`` creates the table when it is missing (and records every declared version
as applied, since a fresh table already has the model's current shape), otherwise runs the
``migrate_*`` methods whose version is not yet in ``migrate_record``. Running twice is a no-op.
Migrations run outside the event loop, before the service serves (``python -m <svc> migrate``).
"""

from __future__ import annotations

import datetime
import functools
import logging
import zlib
from collections.abc import Callable, Iterable
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import peewee

log = logging.getLogger("sanicms.data.migrations")


class MigrateRecord(peewee.Model):
    """One row per applied migration version of one table."""

    id = peewee.AutoField()
    table_name = peewee.CharField(max_length=128)
    version = peewee.CharField(max_length=64)
    author = peewee.CharField(max_length=128, null=True)
    description = peewee.TextField(null=True)
    applied_at = peewee.DateTimeField(default=datetime.datetime.utcnow)

    class Meta:
        table_name = "migrate_record"
        indexes = ((("table_name", "version"), True),)


MIGRATION_INFO = "migration_info"  # attribute set on a migrate_* method by @info


class Migration(Protocol):
    """A bound ``migrate_*`` method marked by :func:`info`."""

    migration_info: dict[str, Any]

    def __call__(self) -> Any: ...


def info(version: str, author: str | None = None,
         description: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a ``migrate_*`` method with the version it brings the table to."""

    def mark(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(self: MigrationModel, *args: Any, **kwargs: Any) -> Any:
            return method(self, *args, **kwargs)

        setattr(wrapper, MIGRATION_INFO, {
            "version": str(version),
            "author": author,
            "description": description or (method.__doc__ or "").strip() or None,
        })
        return wrapper

    return mark


class MigrationModel:
    """Migrations of one model; subclass with ``_model`` and ``@info`` ``migrate_*`` methods."""

    _model: type[peewee.Model]

    def __init__(self, database: peewee.Database) -> None:
        # Imported here: playhouse.migrate imports psycopg2, which a serving process (that
        # imports this module with its service's package) never needs (sanicms/imports.py).
        from playhouse.migrate import PostgresqlMigrator

        self.db = database
        self.migrator = PostgresqlMigrator(database)

    @property
    def table(self) -> str:
        name: str = self._model._meta.table_name
        return name

    def auto_migrate(self) -> list[str]:
        """Bring the table up to date; returns the versions applied now."""
        with self.db.bind_ctx([self._model, MigrateRecord]):
            MigrateRecord.create_table(safe=True)
            done = {r.version for r in MigrateRecord.select().where(MigrateRecord.table_name == self.table)}
            if not self._model.table_exists():  # type: ignore[no-untyped-call]  # unannotated in peewee's stubs
                self._model.create_table(safe=True)
                log.info("created table %s", self.table)
                return self._record(m for m in self.pending(done))
            applied = []
            for method in self.pending(done):
                method()
                applied += self._record([method])
                log.info("applied %s %s", self.table, method.migration_info["version"])
            return applied

    def pending(self, done: set[str]) -> list[Migration]:
        """``migrate_*`` methods not yet applied, in the order the class defines them."""
        methods = []
        for name in _definition_order(type(self)):
            method = getattr(self, name)
            meta = getattr(method, MIGRATION_INFO, None)
            if name.startswith("migrate_") and meta and meta["version"] not in done:
                methods.append(method)
        return methods

    def _record(self, methods: Iterable[Migration]) -> list[str]:
        versions = []
        for method in methods:
            meta = method.migration_info
            MigrateRecord.create(table_name=self.table, version=meta["version"],
                                 author=meta["author"], description=meta["description"])
            versions.append(meta["version"])
        return versions

    # Helpers for migrate_* methods; each returns an operation for ``self.migrate``.
    def add_column(self, field_name: str) -> Any:
        field = self._model._meta.fields[field_name]
        return self.migrator.add_column(self.table, field.column_name, field)

    def drop_column(self, column_name: str) -> Any:
        return self.migrator.drop_column(self.table, column_name)

    def rename_column(self, old: str, new: str) -> Any:
        return self.migrator.rename_column(self.table, old, new)

    def add_index(self, columns: Iterable[str], unique: bool = False) -> Any:
        return self.migrator.add_index(self.table, list(columns), unique)

    def migrate(self, *operations: Any) -> None:
        from playhouse.migrate import migrate

        migrate(*operations)


def _definition_order(cls: type) -> list[str]:
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        names += [n for n in vars(klass) if n not in names]
    return names


class _Psycopg2OnConnect(peewee.Psycopg2Adapter):
    """peewee's psycopg2 adapter, with psycopg2 imported here: sanicms imports peewee without
    its drivers, which a serving process never uses (sanicms/imports.py)."""

    def __init__(self) -> None:
        import psycopg2.extensions
        import psycopg2.extras

        status = psycopg2.extensions
        self.txn_idle = status.TRANSACTION_STATUS_IDLE
        self.txn_inerror = status.TRANSACTION_STATUS_INERROR
        self.txn_unknown = status.TRANSACTION_STATUS_UNKNOWN
        super().__init__()
        self.json_type = self.jsonb_type = psycopg2.extras.Json
        self._driver = psycopg2

    def check_driver(self) -> None:
        return None  # imported above

    def get_binary_type(self) -> Any:
        return self._driver.Binary

    def connect(self, db: peewee.PostgresqlDatabase, **params: Any) -> Any:
        params.setdefault("dbname", db.database)
        return self._driver.connect(**params)


class _Postgres(peewee.PostgresqlDatabase):
    psycopg2_adapter = _Psycopg2OnConnect


def connect(database_url: str) -> peewee.PostgresqlDatabase:
    """A peewee database from the same URL asyncpg uses (psycopg2 is imported on first use)."""
    name = unquote(urlsplit(database_url).path.lstrip("/")) or "postgres"
    return _Postgres(name, dsn=database_url)


def run_migrations(database_url: str, migrations: Iterable[type[MigrationModel]]) -> dict[str, list[str]]:
    """Apply every migration in one transaction, serialised by an advisory lock so that
    several replicas starting at once do not race."""
    db = connect(database_url)
    applied: dict[str, list[str]] = {}
    with db.connection_context(), db.atomic():
        db.execute_sql(  # type: ignore[no-untyped-call]  # unannotated in peewee's stubs
            "SELECT pg_advisory_xact_lock(%s)", (_lock_key(database_url),))
        for migration in migrations:
            runner = migration(db)
            applied[runner.table] = runner.auto_migrate()
    return applied


def _lock_key(database_url: str) -> int:
    return zlib.crc32(("sanicms-migrate:" + urlsplit(database_url).path).encode())
