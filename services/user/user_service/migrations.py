"""Migrations of the user database: ``python -m user_service migrate``."""

from sanicms import Settings
from sanicms.migrations import MigrationModel, run_migrations

from .models import User


class UserMigration(MigrationModel):
    _model = User


MIGRATIONS = [UserMigration]


def migrate(settings: Settings) -> dict[str, list[str]]:
    return run_migrations(settings.database.url, MIGRATIONS)
