"""``python -m user_service [serve|migrate|check]``."""

import sanicms

from .migrations import migrate
from .server import create_app


def run() -> None:
    sanicms.main(service="user", settings_module="user_service.settings", factory=create_app, migrate=migrate)


if __name__ == "__main__":
    run()
