"""Loading settings: module + environment, coerced and checked, one clear line on failure."""

import sys
import types

import pytest

from sanicms.config import ConfigError, coerce, load_settings

DB = "postgresql://u@localhost/db"


@pytest.fixture
def settings_module(monkeypatch):
    module = types.ModuleType("fake_settings")
    module.SERVICE_NAME = "fake"
    module.PORT = 9000
    module.DOWNSTREAM_SERVICES = ["city"]
    module.CITY_SERVICE_URL = "http://city.local:8050"
    module.lowercase_is_ignored = 1
    monkeypatch.setitem(sys.modules, "fake_settings", module)
    return "fake_settings"


def test_module_then_environment_then_overrides(settings_module):
    env = {"PORT": "9100", "DEBUG": "true", "CORS_ORIGINS": "https://a.example, https://b.example",
           "DATABASE_URL": DB, "CITY_SERVICE_URL": "http://10.0.0.5:8050"}
    settings = load_settings(settings_module, environ=env, overrides={"WORKERS": 3})
    assert settings["SERVICE_NAME"] == "fake"
    assert settings["PORT"] == 9100 and settings["DEBUG"] is True and settings["WORKERS"] == 3
    assert settings["CORS_ORIGINS"] == ("https://a.example", "https://b.example")
    assert settings.http.cors_origins == settings["CORS_ORIGINS"]  # one value, two ways to read it
    assert settings["CITY_SERVICE_URL"] == "http://10.0.0.5:8050"
    assert "lowercase_is_ignored" not in settings


def test_sanic_config_module_env_var_picks_the_module(settings_module):
    settings = load_settings("no.such.default", environ={"SANIC_CONFIG_MODULE": settings_module, "DATABASE_URL": DB})
    assert settings["SERVICE_NAME"] == "fake"


@pytest.mark.parametrize("env,named", [
    ({"PORT": "abc"}, "PORT"),
    ({"PORT": "70000"}, "PORT"),
    ({"DEBUG": "maybe"}, "DEBUG"),
    ({"CLIENT_TIMEOUT": "0"}, "CLIENT_TIMEOUT"),
    ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
    ({"DATABASE_URL": ""}, "DATABASE_URL"),
    ({"CITY_SERVICE_URL": "city:8050"}, "CITY_SERVICE_URL"),
    ({"DB_POOL_MIN_SIZE": "20"}, "DB_POOL_MIN_SIZE"),
    ({"CORS_ORIGINS": "*", "CORS_SUPPORTS_CREDENTIALS": "1"}, "CORS_ORIGINS"),
])
def test_bad_settings_name_the_setting_in_one_line(settings_module, env, named):
    with pytest.raises(ConfigError) as info:
        load_settings(settings_module, environ={"DATABASE_URL": DB, **env})
    message = str(info.value)
    assert named in message and "\n" not in message


def test_missing_downstream_url_is_named(monkeypatch):
    module = types.ModuleType("fake_settings2")
    module.DOWNSTREAM_SERVICES = ["role"]
    monkeypatch.setitem(sys.modules, "fake_settings2", module)
    with pytest.raises(ConfigError, match="ROLE_SERVICE_URL"):
        load_settings("fake_settings2", environ={"DATABASE_URL": DB})


def test_unimportable_module_is_a_config_error():
    with pytest.raises(ConfigError, match="SANIC_CONFIG_MODULE"):
        load_settings(environ={"SANIC_CONFIG_MODULE": "no_such_module_here", "DATABASE_URL": DB})


def test_coerce_json_lists_and_dicts():
    assert coerce("X", '["a", "b"]', tuple) == ["a", "b"]
    assert coerce("X", '{"a": 1}', dict) == {"a": 1}
    assert coerce("X", " 2.5 ", float) == 2.5
    with pytest.raises(ConfigError):
        coerce("X", "[1", tuple)
