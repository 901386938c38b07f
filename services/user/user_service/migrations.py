"""Migrations of the user database: ``python -m user_service migrate``."""

from sanicms.data.migrations import MigrationModel, run_migrations

from .models import User


class UserMigration(MigrationModel):
    _model = User


MIGRATIONS = [UserMigration]


def migrate(settings: dict) -> dict:
    return run_migrations(settings["DATABASE_URL"], MIGRATIONS)
