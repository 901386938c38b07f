"""Data: the asyncpg pool and cursors (``db``), CRUD statements from peewee models (``sql``),
and the schema migrations (``migrations``)."""
