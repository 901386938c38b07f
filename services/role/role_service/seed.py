"""Roles ``make demo`` starts with (deploy/seed.py; without this module it makes up examples)."""

ROWS = [{"name": "admin", "description": "manages everything"}, {"name": "editor", "description": "edits content"},
        {"name": "viewer", "description": None}]
