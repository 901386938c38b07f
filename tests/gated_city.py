"""The city service with a start-up that waits on demand: the worker named by ``GATE_WORKER``
(Sanic's identifier, ``Srv 1``) stays inside its app factory, as one still loading the app,
until the file ``GATE_FILE`` exists. tests/test_drain.py starts it as
``python -c 'import gated_city; gated_city.run()'`` with tests/ on ``PYTHONPATH``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import sanicms
from city_service.migrations import migrate
from city_service.server import create_app as city_app


def create_app() -> Any:
    gate = os.environ.get("GATE_FILE")
    if gate and os.environ.get("SANIC_WORKER_IDENTIFIER") == os.environ.get("GATE_WORKER", "Srv 1"):
        while not Path(gate).exists():
            time.sleep(0.02)
    return city_app()


def run() -> None:
    sanicms.main(service="city", settings_module="city_service.settings", factory=create_app, migrate=migrate)
