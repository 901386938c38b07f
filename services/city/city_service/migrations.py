"""Migrations of the city database: ``python -m city_service migrate``."""

from sanicms import Settings
from sanicms.migrations import MigrationModel, run_migrations

from .models import City


class CityMigration(MigrationModel):
    _model = City


MIGRATIONS = [CityMigration]


def migrate(settings: Settings) -> dict[str, list[str]]:
    return run_migrations(settings.database.url, MIGRATIONS)
