"""Users ``make demo`` starts with (deploy/seed.py gives city_id and role_id the ids it created)."""

ROWS = [{"name": "Alice", "age": 31, "sex": "female", "city_id": 1, "role_id": 1},
        {"name": "Bob", "age": 45, "sex": "male", "city_id": 2, "role_id": 2},
        {"name": "Chen", "age": 27, "sex": "male", "city_id": 3, "role_id": 3}]
