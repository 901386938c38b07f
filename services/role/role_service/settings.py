"""Settings of the role service; every name can be overridden from the environment."""

SERVICE_NAME = "role"
API_TITLE = "Role service"
API_VERSION = "0.1.0"
API_DESCRIPTION = "Roles users can hold."
HOST = "127.0.0.1"
PORT = 8020
DATABASE_URL = ""  # e.g. postgresql://postgres@127.0.0.1:5432/role
