"""The role service: roles, looked up by id or in batches by the user service."""
