"""The city service: cities, looked up by id or in batches by the user service."""
