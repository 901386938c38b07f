"""The user service: users, shown with their city and role fetched from those services."""
