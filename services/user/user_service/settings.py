"""Settings of the user service; every name can be overridden from the environment."""

SERVICE_NAME = "user"
API_TITLE = "User service"
API_VERSION = "0.1.0"
API_DESCRIPTION = "Users, each shown with the city and role it refers to."
HOST = "127.0.0.1"
PORT = 8030
DATABASE_URL = ""  # e.g. postgresql://postgres@127.0.0.1:5432/user
DOWNSTREAM_SERVICES = ["city", "role"]
CITY_SERVICE_URL = "http://127.0.0.1:8050"
ROLE_SERVICE_URL = "http://127.0.0.1:8020"
