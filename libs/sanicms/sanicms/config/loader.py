"""Loading a service's settings: its settings module, then the environment, then overrides.

Environment strings are converted to each setting's kind (:func:`coerce`); the values are
then checked and built into the frozen settings by :func:`~sanicms.config.schema.build`.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from .parts import Settings
from .schema import ConfigError, S, build, declared, service_url_setting

CONFIG_MODULE_ENV = "SANIC_CONFIG_MODULE"


def load_settings(default_module: str | None = None, *, environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None, cls: type[S] = Settings) -> S:  # type: ignore[assignment]
    """The settings of one service, checked (see :mod:`sanicms.config` for the order)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    module_name = environ.get(CONFIG_MODULE_ENV) or default_module
    if module_name:
        values.update(module_settings(_import(module_name)))
    kinds = {name: found.kind for name, found in declared(cls).items()}
    known = {**kinds, **{name: type(value) for name, value in values.items() if name not in kinds}}
    downstream = overrides.get("DOWNSTREAM_SERVICES") if overrides and "DOWNSTREAM_SERVICES" in overrides else None
    services = downstream if downstream is not None else values.get("DOWNSTREAM_SERVICES", [])
    if "DOWNSTREAM_SERVICES" in environ:
        services = coerce("DOWNSTREAM_SERVICES", environ["DOWNSTREAM_SERVICES"], tuple)
    for service in services:
        known.setdefault(service_url_setting(service), str)
    for name, kind in known.items():
        if name in environ:
            values[name] = coerce(name, environ[name], kind)
    values.update(overrides or {})
    return build(cls, values)


def module_settings(module: ModuleType) -> dict[str, Any]:
    """The UPPER_CASE names of a settings module."""
    return {k: getattr(module, k) for k in dir(module) if k.isupper() and not k.startswith("_")}


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def coerce(name: str, raw: str, kind: type) -> Any:
    """An environment string as a value of ``kind`` (lists: comma-separated or JSON)."""
    raw = raw.strip()
    try:
        if kind is bool:
            if raw.lower() in _TRUE | _FALSE:
                return raw.lower() in _TRUE
            raise ValueError
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind in (tuple, list):
            if raw.startswith("["):
                value = json.loads(raw)
                if not isinstance(value, list):
                    raise ValueError
                return value
            return [part.strip() for part in raw.split(",") if part.strip()]
        if kind is dict:
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError
            return value
    except ValueError:
        raise ConfigError(f"setting {name}: expected {kind.__name__}, got {raw!r} from the environment") from None
    return raw


def _import(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{CONFIG_MODULE_ENV}={module_name!r} cannot be imported: {exc}") from None
