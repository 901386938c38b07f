"""Settings of the city service; every name can be overridden from the environment."""

SERVICE_NAME = "city"
API_TITLE = "City service"
API_VERSION = "0.1.0"
API_DESCRIPTION = "Cities and their provinces."
HOST = "127.0.0.1"
PORT = 8050
DATABASE_URL = ""  # e.g. postgresql://postgres@127.0.0.1:5432/city
