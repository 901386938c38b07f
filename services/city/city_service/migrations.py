"""Migrations of the city database: ``python -m city_service migrate``."""

from sanicms.data.migrations import MigrationModel, run_migrations

from .models import City


class CityMigration(MigrationModel):
    _model = City


MIGRATIONS = [CityMigration]


def migrate(settings: dict) -> dict:
    return run_migrations(settings["DATABASE_URL"], MIGRATIONS)
