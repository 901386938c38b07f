"""The role service's app factory."""

from typing import Any

from sanic import Sanic

import sanicms

from .views import bp


def create_app(**overrides: Any) -> Sanic:
    settings = sanicms.load_settings("role_service.settings", overrides=overrides)
    return sanicms.create_app(settings, [bp])
