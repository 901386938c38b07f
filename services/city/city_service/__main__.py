"""``python -m city_service [serve|migrate|check]``."""

import sanicms

from .migrations import migrate
from .server import create_app


def run() -> None:
    sanicms.main(service="city", settings_module="city_service.settings", factory=create_app, migrate=migrate)


if __name__ == "__main__":
    run()
