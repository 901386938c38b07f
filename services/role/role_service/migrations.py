"""Migrations of the role database: ``python -m role_service migrate``."""

from sanicms import Settings
from sanicms.migrations import MigrationModel, run_migrations

from .models import Role


class RoleMigration(MigrationModel):
    _model = Role


MIGRATIONS = [RoleMigration]


def migrate(settings: Settings) -> dict[str, list[str]]:
    return run_migrations(settings.database.url, MIGRATIONS)
