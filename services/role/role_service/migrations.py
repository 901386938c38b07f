"""Migrations of the role database: ``python -m role_service migrate``."""

from sanicms.data.migrations import MigrationModel, run_migrations

from .models import Role


class RoleMigration(MigrationModel):
    _model = Role


MIGRATIONS = [RoleMigration]


def migrate(settings: dict) -> dict:
    return run_migrations(settings["DATABASE_URL"], MIGRATIONS)
