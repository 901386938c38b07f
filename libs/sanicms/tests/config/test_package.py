"""``sanicms.config`` is a package now: every name importable from the module before still is."""

import sanicms
import sanicms.config

BEFORE_THE_SPLIT = {
    "ASYMMETRIC_ALGORITHMS", "CONFIG_MODULE_ENV", "LOG_FORMATS", "LOG_LEVELS", "SYMMETRIC_ALGORITHMS", "TRANSPORTS",
    "ApiSettings", "AuthSettings", "ClientSettings", "ConfigError", "DatabaseSettings", "HttpSettings",
    "LoggingSettings", "MetricsSettings", "S", "ServiceSettings", "Settings", "TracingSettings", "check_url",
    "coerce", "load_settings", "module_settings", "reference", "service_url_setting", "setting",
}


def test_every_name_of_the_old_module_is_importable_from_the_package():
    assert set(sanicms.config.__all__) == BEFORE_THE_SPLIT
    for name in BEFORE_THE_SPLIT:
        assert getattr(sanicms.config, name) is not None, name
    for name in ("ConfigError", "Settings", "load_settings", "service_url_setting"):
        assert getattr(sanicms, name) is getattr(sanicms.config, name)
