"""Data: the asyncpg pool (``db``: :class:`~sanicms.data.db.Database`), with its parts by role
(``errors``, ``outage``, ``checkout``, ``session``), CRUD statements from peewee models
(``sql``), and the schema migrations (``migrations``)."""
