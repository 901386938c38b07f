"""What a settings class declares: kinds from ``typing.get_type_hints``, values checked."""

import dataclasses
from typing import Optional

import pytest

from sanicms.config import ConfigError, Settings, load_settings, setting
from sanicms.config.schema import declared, kind_of

DB = "postgresql://u@localhost/db"


def test_a_service_extends_the_settings_with_its_own_typed_part():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Shop:
        currency: str = setting("SHOP_CURRENCY", "EUR", "prices are in this currency")
        max_items: int = setting("SHOP_MAX_ITEMS", 50, "items per order", positive=True)

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class ShopSettings(Settings):
        shop: Shop = dataclasses.field(default_factory=Shop)

    settings = load_settings(environ={"SHOP_MAX_ITEMS": "7", "DATABASE_URL": DB}, cls=ShopSettings)
    assert settings.shop == Shop(currency="EUR", max_items=7) and settings["SHOP_MAX_ITEMS"] == 7
    with pytest.raises(ConfigError, match="SHOP_MAX_ITEMS: expected a positive number"):
        load_settings(environ={"SHOP_MAX_ITEMS": "0", "DATABASE_URL": DB}, cls=ShopSettings)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.shop.max_items = 8  # type: ignore[misc]


# A part whose annotations are text, as under ``from __future__ import annotations``. Read as
# text, "Names" and "Optional[int]" were guessed to be str (``PROBE_TAGS=a,b`` was held as
# the text "a,b"); resolved, they are a tuple and an int.
class Intent(str):
    """A str subclass: held as text."""


Names = tuple[str, ...]


def probe_settings():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Probe:
        intent: "Intent" = setting("PROBE_INTENT", "read", "held as text")  # noqa: RUF009 (text annotations)
        limit: "Optional[int]" = setting("PROBE_LIMIT", None, "optional")  # noqa: RUF009, UP045 (as written)
        tags: "Names" = setting("PROBE_TAGS", [], "a list, by an alias")  # noqa: RUF009 (text annotations)
        ratio: "float" = setting("PROBE_RATIO", 0.5, "a number", minimum=0, maximum=1)  # noqa: RUF009 (text annotations)

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class ProbeSettings(Settings):
        probe: Probe = dataclasses.field(default_factory=Probe)

    return Probe, ProbeSettings


def test_kinds_come_from_the_resolved_types_not_the_annotation_text():
    Probe, ProbeSettings = probe_settings()
    kinds = {name: found.kind for name, found in declared(ProbeSettings).items() if name.startswith("PROBE_")}
    assert kinds == {"PROBE_INTENT": str, "PROBE_LIMIT": int, "PROBE_TAGS": tuple, "PROBE_RATIO": float}
    env = {"DATABASE_URL": DB, "PROBE_INTENT": "integration", "PROBE_LIMIT": "5", "PROBE_TAGS": "a, b",
           "PROBE_RATIO": "1"}
    settings = load_settings(environ=env, cls=ProbeSettings)
    assert settings.probe == Probe(intent="integration", limit=5, tags=("a", "b"), ratio=1.0)
    with pytest.raises(ConfigError, match="PROBE_RATIO: expected at most 1"):
        load_settings(environ={"DATABASE_URL": DB, "PROBE_RATIO": "2"}, cls=ProbeSettings)


def test_the_librarys_settings_have_the_kinds_of_their_fields():
    found = declared(Settings)
    assert {name: found[name].kind for name in ("PORT", "DEBUG", "CORS_ORIGINS", "CLIENT_TIMEOUT", "SERVICE_NAME")} \
        == {"PORT": int, "DEBUG": bool, "CORS_ORIGINS": tuple, "CLIENT_TIMEOUT": float, "SERVICE_NAME": str}
    assert (found["PORT"].part, found["PORT"].attr) == ("service", "port")
    assert "urls" not in {d.attr for d in found.values()}  # derived, not a setting of its own


@pytest.mark.parametrize("hint,kind", [
    (bool, bool), (int, int), (float, float), (str, str), (tuple[str, ...], tuple), (dict[str, str], dict),
    (Names, tuple), (int | None, int), (list[str], str), (int | str, str), (Intent, str),
])
def test_kind_of_a_type(hint, kind):
    assert kind_of(hint) is kind


def test_replace_checks_the_changed_settings_like_loading_does():
    settings = load_settings(environ={"DATABASE_URL": DB})
    assert settings.replace(PORT=9001)["PORT"] == 9001 and settings["PORT"] == 8000
    with pytest.raises(ConfigError, match="setting PORT: expected at most 65535"):
        settings.replace(PORT=70000)
