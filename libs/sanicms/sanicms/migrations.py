"""The original design's import path for migrations: ``from sanicms.migrations import
MigrationModel, info``. They live in :mod:`sanicms.data.migrations`."""

from .data.migrations import MigrationModel, info, run_migrations

__all__ = ["MigrationModel", "info", "run_migrations"]
