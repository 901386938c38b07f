"""What a settings class declares, and a value checked against it.

``setting()`` declares a field: its one UPPER_CASE name, default, bounds and documentation.
:func:`declared` reads a :class:`~sanicms.config.Settings` class once: each setting's part,
attribute, metadata and kind, the kind taken from the type ``typing.get_type_hints`` resolves
for the field. :func:`build` makes the frozen settings from values by name, each checked
against its field and each part's ``check()`` called.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .parts import Settings

S = TypeVar("S", bound="Settings")


class ConfigError(Exception):
    """A setting is missing or invalid; the message is one line naming it."""


def setting(name: str, default: Any, doc: str, *, minimum: float | None = None, maximum: float | None = None,
            positive: bool = False, choices: tuple[str, ...] = ()) -> Any:
    """A field of a settings part: its environment name, default, bounds and documentation."""
    meta = {"name": name, "doc": doc, "minimum": minimum, "maximum": maximum, "positive": positive,
            "choices": choices}
    if isinstance(default, list):  # lists are held as tuples: frozen all the way down
        return dataclasses.field(default_factory=lambda: tuple(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def service_url_setting(service: str) -> str:
    """The setting holding a downstream's base URL: ``city`` -> ``CITY_SERVICE_URL``."""
    return f"{service.upper().replace('-', '_')}_SERVICE_URL"


def check_url(name: str, value: Any, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(str(value))
    if parts.scheme not in schemes:
        raise ConfigError(f"setting {name}: expected a {'/'.join(schemes)}:// URL, got scheme {parts.scheme!r}")
    if parts.scheme.startswith("http") and not parts.hostname:
        raise ConfigError(f"setting {name}: URL has no host")


# ---- what a settings class declares, worked out once per class ------------------------------------

class Declared(NamedTuple):
    """One setting of a settings class: where it is held, what it holds, its metadata."""

    part: str
    attr: str
    kind: type  # bool, int, float, str, tuple or dict
    meta: Mapping[str, Any]


#: The kinds a setting is checked and coerced as; a field of another type is held as text.
KINDS: tuple[type, ...] = (bool, int, float, str, tuple, dict)

_DECLARED: dict[type, dict[str, Declared]] = {}


def part_types(cls: type) -> dict[str, type]:
    """The parts of a settings class: attribute -> the part's dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if dataclasses.is_dataclass(hints[f.name])}


def declared(cls: type) -> dict[str, Declared]:
    """Setting name -> its :class:`Declared`, for a settings class (computed once per class)."""
    found = _DECLARED.get(cls)
    if found is None:
        found = _DECLARED[cls] = {}
        for part, part_cls in part_types(cls).items():
            hints = typing.get_type_hints(part_cls)
            for f in dataclasses.fields(part_cls):
                if "name" in f.metadata:
                    found[f.metadata["name"]] = Declared(part, f.name, kind_of(hints[f.name]), f.metadata)
    return found


def kind_of(hint: Any) -> type:
    """The kind of a field's resolved type: ``tuple[str, ...]`` -> tuple, ``int | None`` -> int."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        held = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        hint = held[0] if len(held) == 1 else str
    kind = typing.get_origin(hint) or hint
    return kind if kind in KINDS else str


# ---- building and checking -------------------------------------------------------------------

def build(cls: type[S], values: Mapping[str, Any]) -> S:
    """The settings of class ``cls`` from values by name, checked; other names go to ``extra``."""
    index = declared(cls)
    parts: dict[str, dict[str, Any]] = {name: {} for name in part_types(cls)}
    extra: dict[str, Any] = {}
    for name, value in values.items():
        if name in index:
            found = index[name]
            parts[found.part][found.attr] = checked(name, value, found.kind, found.meta)
        elif not name.endswith("_SERVICE_URL"):
            extra[name] = value
    services = tuple(parts["clients"].get("downstream", ()))
    parts["clients"]["urls"] = {s: str(values.get(service_url_setting(s), "")) for s in services}
    built = {name: part_cls(**parts[name]) for name, part_cls in part_types(cls).items()}
    for part in built.values():
        check = getattr(part, "check", None)
        if check is not None:
            check()
    return cls(**built, extra=extra)


def checked(name: str, value: Any, kind: type, meta: Mapping[str, Any]) -> Any:
    """``value`` if it fits a setting of this kind and metadata (lists as tuples), else a ConfigError."""
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"setting {name}: expected true or false, got {value!r}")
    elif kind in (int, float):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or (kind is int and not isinstance(value, int)):
            raise ConfigError(f"setting {name}: expected {'an integer' if kind is int else 'a number'}, got {value!r}")
        _bounds(name, value, meta)
    elif kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"setting {name}: expected text, got {value!r}")
        if meta.get("choices") and value.upper() not in {c.upper() for c in meta["choices"]}:
            raise ConfigError(f"setting {name}: expected one of {', '.join(meta['choices'])}, got {value!r}")
    elif kind is tuple:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"setting {name}: expected a list, got {value!r}")
        value = tuple(value)
        for item in value:
            if meta.get("choices") and item not in meta["choices"]:
                raise ConfigError(f"setting {name}: unknown value {item!r} (choose from {', '.join(meta['choices'])})")
    return value


def _bounds(name: str, value: float, meta: Mapping[str, Any]) -> None:
    if meta.get("positive") and value <= 0:
        raise ConfigError(f"setting {name}: expected a positive number, got {value!r}")
    if meta.get("minimum") is not None and value < meta["minimum"]:
        raise ConfigError(f"setting {name}: expected at least {meta['minimum']}, got {value!r}")
    if meta.get("maximum") is not None and value > meta["maximum"]:
        raise ConfigError(f"setting {name}: expected at most {meta['maximum']}, got {value!r}")
